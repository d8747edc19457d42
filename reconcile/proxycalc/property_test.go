package proxycalc

import (
	"fmt"
	"hash/fnv"
	"math/rand"
	"reflect"
	"strings"
	"testing"
)

// gen draws random on-premises objects from small pools mixing valid,
// reserved, unverified, malformed and legacy values.
type gen struct{ r *rand.Rand }

func (g gen) pick(s []string) string { return s[g.r.Intn(len(s))] }

var (
	genLocals  = []string{"a", "b", "John.Doe", "jdoe", "JDOE", "x+tag", "o'brien", "j..x", "x y", "jöe", "", ".a", "user6mnn", strings.Repeat("l", 62)}
	genDomains = []string{"contoso.com", "Contoso.COM", "fabrikam.com", "unverified.org", "contoso.onmicrosoft.com",
		"Contoso.OnMicrosoft.com", "contoso.mail.onmicrosoft.com", "x.microsoftonline.com", "contoso", "bad_domain.com", ""}
	genPrefixes = []string{"SMTP", "smtp", "Smtp", "SMTP", "smtp", "smtp", "x500", "X500", "SIP", "sip", "EUM",
		"X400", "MSMAIL", "MS", "CCMAIL", "NOTES", "GWISE", "FAX", "custom", ""}
	genNicks = []string{"", "", "", "nick", "jdoe", "j doe", "x@y", "Team.A", strings.Repeat("n", 63), "user6mnn"}
	genKinds = []string{"user", "user", "user", "", "User", "group", "contact", "other"}
)

func (g gen) addr() string {
	switch g.r.Intn(10) {
	case 0:
		return g.pick([]string{"", "noat", "a@@b.com", " a@contoso.com", "a@contoso.com "})
	default:
		return g.pick(genLocals) + "@" + g.pick(genDomains)
	}
}

func (g gen) proxyValue() string {
	switch g.r.Intn(12) {
	case 0:
		return g.addr() // no prefix
	case 1:
		return ""
	}
	p := g.pick(genPrefixes)
	switch strings.ToUpper(p) {
	case "X500":
		return p + ":" + g.pick([]string{"/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=x", "/o=ExchangeLabs/cn=y", "o=bad"})
	case "EUM":
		return p + ":" + g.pick([]string{"1234;phone-context=dp.contoso.com", " "})
	}
	return p + ":" + g.addr()
}

func (g gen) input() Input {
	in := Input{Kind: g.pick(genKinds), MailNickname: g.pick(genNicks), ExchangeRecipient: g.r.Intn(2) == 0}
	if g.r.Intn(3) > 0 {
		in.Mail = g.addr()
	}
	if g.r.Intn(5) > 0 {
		in.UPN = g.addr()
	}
	for n := g.r.Intn(6); n > 0; n-- {
		in.ProxyAddresses = append(in.ProxyAddresses, g.proxyValue())
	}
	return in
}

func (g gen) previous(t Tenant, opt func() Options) *Previous {
	switch g.r.Intn(4) {
	case 0, 1:
		return nil
	case 2: // a state ProxyCalc itself produced
		return Compute(g.input(), t, nil, opt()).AsPrevious()
	default: // whatever the cloud happens to hold
		p := &Previous{Mail: g.addr(), MailNickname: g.pick(genNicks)}
		for n := g.r.Intn(4); n > 0; n-- {
			p.ProxyAddresses = append(p.ProxyAddresses, g.proxyValue())
		}
		return p
	}
}

// options returns an Options factory whose calls all behave identically:
// the MOERAs taken depend only on the address and takenSeed, and Digits
// replays the same sequence from digitSeed.
func options(takenSeed uint32, digitSeed int64, mode int) func() Options {
	return func() Options {
		var o Options
		if mode%3 != 0 {
			o.TakenMOERA = func(a string) bool {
				h := fnv.New32a()
				fmt.Fprintf(h, "%d:%s", takenSeed, strings.ToLower(a))
				return h.Sum32()%3 == 0 // a third of all MOERAs are taken
			}
		}
		switch mode % 4 {
		case 1:
			r := rand.New(rand.NewSource(digitSeed))
			o.Digits = func() string { return fmt.Sprintf("%04d", r.Intn(10000)) }
		case 2:
			o.Digits = func() string { return "12x" } // invalid: falls back to the hash
		}
		return o
	}
}

var tenants = []Tenant{
	{InitialDomain: "contoso.onmicrosoft.com", VerifiedDomains: []string{"contoso.com", "Fabrikam.com"}},
	{InitialDomain: "Contoso.onmicrosoft.com", VerifiedDomains: []string{"CONTOSO.com"}},
	{InitialDomain: "", VerifiedDomains: nil},
}

func TestPropertyGenerated(t *testing.T) {
	const cases = 5000
	g := gen{rand.New(rand.NewSource(3190357))}
	for i := 0; i < cases; i++ {
		ten := tenants[g.r.Intn(len(tenants))]
		opt := options(g.r.Uint32(), g.r.Int63(), g.r.Intn(12))
		in := g.input()
		prev := g.previous(ten, opt)
		var res Result
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("case %d panicked: %v\ninput %+v\nprev %+v", i, p, in, prev)
				}
			}()
			res = Compute(in, ten, prev, opt())
		}()
		if err := checkInvariants(in, ten, prev, opt, res); err != nil {
			t.Fatalf("case %d: %v\ninput  %+v\ntenant %+v\nprev   %+v\nresult %+v", i, err, in, ten, prev, res)
		}
	}
}

func checkInvariants(in Input, ten Tenant, prev *Previous, opt func() Options, r Result) error {
	// Deterministic.
	if again := Compute(in, ten, prev, opt()); !reflect.DeepEqual(again, r) {
		return fmt.Errorf("second run differs: %+v", again)
	}
	// At most one primary, first; exactly one whenever any SMTP value exists.
	primaries, smtp := 0, 0
	for i, a := range r.ProxyAddresses {
		if strings.HasPrefix(strings.ToLower(a.Value), "smtp:") {
			smtp++
		}
		if strings.HasPrefix(a.Value, "SMTP:") {
			primaries++
			if i != 0 {
				return fmt.Errorf("primary %q at index %d", a.Value, i)
			}
		}
	}
	if primaries > 1 || (smtp > 0 && primaries != 1) {
		return fmt.Errorf("%d primaries among %d SMTP values", primaries, smtp)
	}
	// A recipient user or group with a usable nickname always has a primary
	// (its MOERA at worst), unless every MOERA is taken.
	kind := normKind(in.Kind)
	collided := false
	for _, d := range r.Dropped {
		collided = collided || d.Rule == RuleDroppedMOERACollision
	}
	if r.Recipient && kind != KindContact && ten.InitialDomain != "" && !collided &&
		ValidateAddress(r.MailNickname+"@"+ten.InitialDomain) == nil && primaries != 1 {
		return fmt.Errorf("recipient without a primary")
	}
	if r.Recipient != in.ExchangeRecipient {
		return fmt.Errorf("Recipient = %v", r.Recipient)
	}
	// mail is the primary without its prefix.
	p, ok := r.Primary()
	if ok != (r.Mail != "") || (ok && "SMTP:"+r.Mail != p.Value) {
		return fmt.Errorf("mail %q does not match primary %+v", r.Mail, p)
	}
	if (r.MailRule == RuleNoPrimary) == ok || (ok && p.Rule != r.MailRule) {
		return fmt.Errorf("MailRule %s, primary %+v", r.MailRule, p)
	}
	// No duplicates; the rest sorted.
	seen := map[string]bool{}
	for i, a := range r.ProxyAddresses {
		k := strings.ToLower(a.Value)
		if seen[k] {
			return fmt.Errorf("duplicate %q", a.Value)
		}
		seen[k] = true
		if i > 1 && lessFold(a.Value, r.ProxyAddresses[i-1].Value) && !strings.HasPrefix(r.ProxyAddresses[i-1].Value, "SMTP:") {
			return fmt.Errorf("not sorted at %d: %q after %q", i, a.Value, r.ProxyAddresses[i-1].Value)
		}
	}
	// Addresses on-premises supplied are valid, not reserved, and verified
	// for recipient users and groups; only the cloud's own MOERA (or a
	// primary it already held) may be in a reserved domain.
	verified := map[string]bool{strings.ToLower(ten.InitialDomain): true}
	for _, d := range ten.VerifiedDomains {
		verified[strings.ToLower(d)] = true
	}
	for _, a := range r.ProxyAddresses {
		typ, addr, _ := strings.Cut(a.Value, ":")
		if !strings.EqualFold(typ, "smtp") && !strings.EqualFold(typ, "sip") {
			continue
		}
		d := domainOf(addr)
		if a.Source == SourceMOERA || a.Source == SourcePrevious {
			if a.Source == SourceMOERA && !strings.EqualFold(d, ten.InitialDomain) {
				return fmt.Errorf("MOERA %q outside the initial domain", a.Value)
			}
			continue
		}
		if IsReservedDomain(d) {
			return fmt.Errorf("reserved-domain address %+v", a)
		}
		if err := ValidateAddress(addr); err != nil {
			return fmt.Errorf("malformed address kept %+v: %v", a, err)
		}
		if in.ExchangeRecipient && kind != KindContact && !verified[strings.ToLower(d)] {
			return fmt.Errorf("unverified address kept for a recipient %+v", a)
		}
		if a.Source == SourceUPN && kind != KindUser {
			return fmt.Errorf("UPN address on a %s", kind)
		}
	}
	// Every rule used is defined and explained.
	rules := []Rule{r.MailRule, r.NicknameRule}
	for _, a := range r.ProxyAddresses {
		rules = append(rules, a.Rule)
	}
	for _, d := range r.Dropped {
		rules = append(rules, d.Rule)
		if d.Reason == "" {
			return fmt.Errorf("dropped %+v without a reason", d)
		}
	}
	for _, rl := range rules {
		if rl.Explain() == "" {
			return fmt.Errorf("rule %q has no explanation", rl)
		}
	}
	// Syncing again with nothing changed on-premises leaves the cloud as is.
	again := Compute(in, ten, r.AsPrevious(), opt())
	if !reflect.DeepEqual(again.Values(), r.Values()) || again.Mail != r.Mail || again.MailNickname != r.MailNickname {
		return fmt.Errorf("resync moved the cloud to %q %q %q", again.Mail, again.MailNickname, again.Values())
	}
	return nil
}
