package proxycalc

import (
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
)

// randomString joins n pieces drawn from pieces.
func randomString(r *rand.Rand, pieces []string, n int) string {
	var b strings.Builder
	for ; n > 0; n-- {
		b.WriteString(pieces[r.Intn(len(pieces))])
	}
	return b.String()
}

// The one-pass check accepts exactly what the rule-by-rule one accepts.
func TestValidAddressAgreesWithTheRules(t *testing.T) {
	r := rand.New(rand.NewSource(5322))
	pieces := []string{"a", "Z", "0", "9", ".", "..", "@", "-", "_", "+", "\"", " ", "\t", "\x7f", "\x01", "é", "[", "]",
		"com", "contoso", "x", "!", "~", "`", "=", "/", "1", "123"}
	long := strings.Repeat("l", 63)
	for i := 0; i < 300_000; i++ {
		s := randomString(r, pieces, r.Intn(12))
		switch r.Intn(6) {
		case 0:
			s = "user" + s + "@contoso.com"
		case 1:
			s = long[:r.Intn(64)] + s + "@" + long[:r.Intn(64)] + "." + randomString(r, pieces, 2)
		case 2:
			s += strings.Repeat("a", r.Intn(260))
		}
		if fast, slow := validAddress(s), validateAddress(s) == nil; fast != slow {
			t.Fatalf("%q: validAddress %v, the rules say %v (%v)", s, fast, slow, validateAddress(s))
		}
	}
}

func TestReservedDomainASCIIAgreesWithLowerCasing(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	pieces := []string{"onmicrosoft.com", "OnMicrosoft.COM", "microsoftonline.com", ".", "x", "mail.", "-", "com", "onmicrosoft", "\u212a", "é"}
	for i := 0; i < 100_000; i++ {
		d := randomString(r, pieces, 1+r.Intn(4))
		if got, want := IsReservedDomain(d), isReservedLower(d); got != want {
			t.Fatalf("IsReservedDomain(%q) = %v, want %v", d, got, want)
		}
	}
}

func TestCompareFold(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	pieces := []string{"a", "A", "b", "B", "@", ".", "\u212a", "k", "K", "é", "É", "ſ", "s", "S", "İ", "i", "\xff"}
	sign := func(n int) int { return min(max(n, -1), 1) }
	for i := 0; i < 200_000; i++ {
		a, b := randomString(r, pieces, r.Intn(5)), randomString(r, pieces, r.Intn(5))
		if got, want := sign(compareFold(a, b)), sign(compareFoldSlow(a, b)); got != want {
			t.Fatalf("compareFold(%q, %q) = %d, want %d", a, b, got, want)
		}
	}
}

// A Calculator computes what Compute does, with the attribute parsed or
// not, and whatever it computed before.
func TestCalculatorAgreesWithCompute(t *testing.T) {
	g := gen{rand.New(rand.NewSource(3190357))}
	calcs := map[int]*Calculator{}
	var res Result
	for i := 0; i < 20_000; i++ {
		ti := g.r.Intn(len(tenants))
		ten := tenants[ti]
		opt := options(g.r.Uint32(), g.r.Int63(), g.r.Intn(12))
		in := g.input()
		prev := g.previous(ten, opt)
		if prev != nil && g.r.Intn(2) == 0 {
			prev = Compute(in, ten, nil, opt()).AsPrevious() // in sync
		}
		k := calcs[ti]
		if k == nil {
			k = NewCalculator(ten)
			calcs[ti] = k
		}
		want := Compute(in, ten, prev, opt())
		if got := k.Compute(in, prev, opt()); !reflect.DeepEqual(got, want) {
			t.Fatalf("case %d: Calculator.Compute\n got %+v\nwant %+v", i, got, want)
		}
		// Parsed: Compute of its Raw().
		ps := ad.ParseProxyAddresses(in.ProxyAddresses)
		if g.r.Intn(10) == 0 { // values no parse returns
			ps.Values = append(ps.Values, []ad.ProxyAddress{{Prefix: "a:b", Address: "x@contoso.com"},
				{Prefix: "", Address: "x@contoso.com"}, {Prefix: "smtp", Address: ""}, {Prefix: "sm tp", Address: "a@contoso.com"}}[g.r.Intn(4)])
		}
		raw := in
		raw.ProxyAddresses = ps.Raw()
		want = Compute(raw, ten, prev, opt())
		parsed := in
		parsed.ProxyAddresses, parsed.Parsed = []string{"ignored:x"}, &ps
		k.ComputeInto(&res, parsed, prev, opt())
		got := res
		if len(got.ProxyAddresses) == 0 {
			got.ProxyAddresses = nil
		}
		if len(got.Dropped) == 0 {
			got.Dropped = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("case %d: ComputeInto with Parsed\n got %+v\nwant %+v", i, got, want)
		}
	}
}

// Computing an object already in sync allocates nothing: every value is
// one the cloud holds.
func TestComputeIntoInSyncDoesNotAllocate(t *testing.T) {
	ten := Tenant{InitialDomain: "contoso.onmicrosoft.com", VerifiedDomains: []string{"contoso.com", "fabrikam.com"}}
	ps := ad.ParseProxyAddresses([]string{"SMTP:jane@contoso.com", "smtp:jane@fabrikam.com", "x500:/o=Contoso/cn=jane"})
	in := Input{Kind: KindUser, Mail: "jane@contoso.com", UPN: "jane@contoso.com", Parsed: &ps, ExchangeRecipient: true}
	prev := Compute(in, ten, nil, Options{}).AsPrevious()
	k := NewCalculator(ten)
	var res Result
	taken := func(string) bool { return false }
	if n := testing.AllocsPerRun(100, func() { k.ComputeInto(&res, in, prev, Options{TakenMOERA: taken}) }); n != 0 {
		t.Errorf("ComputeInto allocates %v times per object in sync", n)
	}
	if got, want := res.Values(), prev.ProxyAddresses; !reflect.DeepEqual(got, want) {
		t.Errorf("values %q, want %q", got, want)
	}
}
