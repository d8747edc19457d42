package ad

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func randomString(r *rand.Rand, pieces []string, n int) string {
	var b strings.Builder
	for ; n > 0; n-- {
		b.WriteString(pieces[r.Intn(len(pieces))])
	}
	return b.String()
}

// isPlainDNReference is IsPlainDN as first written.
func isPlainDNReference(dn string) bool {
	if dn == "" {
		return false
	}
	for i := 0; i < len(dn); i++ {
		switch c := dn[i]; {
		case c == '\\' || c == '"' || c == '+' || c == ';' || c == '<' || c == '>' || c == '#' || c >= 0x80 || c < 0x20:
			return false
		}
	}
	for part := range strings.SplitSeq(dn, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok || k == "" || v == "" || strings.Contains(v, "=") ||
			k != strings.TrimSpace(k) || v != strings.TrimSpace(v) {
			return false
		}
	}
	return true
}

// isUnderParsed is IsUnder without its fast path.
func isUnderParsed(dn, base string) bool {
	d, err := ldap.ParseDN(dn)
	if err != nil {
		return false
	}
	b, err := ldap.ParseDN(base)
	if err != nil {
		return false
	}
	return b.EqualFold(d) || b.AncestorOfFold(d)
}

var dnPieces = []string{"CN", "cn", "OU", "=", ",", " ", "a", "B", `\`, `\,`, `\2c`, "+", ";", "#", `"`, "é", "\x7f", "\x01", "\t",
	"Sync", "sync", "DC", "x", "=="}

func TestIsPlainDNAgreesWithReference(t *testing.T) {
	r := rand.New(rand.NewSource(4514))
	for i := 0; i < 300_000; i++ {
		dn := randomString(r, dnPieces, r.Intn(10))
		if got, want := IsPlainDN(dn), isPlainDNReference(dn); got != want {
			t.Fatalf("IsPlainDN(%q) = %v, want %v", dn, got, want)
		}
	}
}

func TestIsUnderFastPathAgrees(t *testing.T) {
	r := rand.New(rand.NewSource(4517))
	bases := []string{"OU=Sync,DC=x", "ou=sync,dc=X", "OU=Sync, DC=x", "DC=x", "garbage", "", `OU=a\,b,DC=x`}
	for i := 0; i < 300_000; i++ {
		dn := randomString(r, dnPieces, r.Intn(8))
		if r.Intn(2) == 0 {
			dn += "," + bases[r.Intn(len(bases))]
		}
		base := bases[r.Intn(len(bases))]
		if r.Intn(4) == 0 {
			base = dn
		}
		for _, c := range [][2]string{{dn, base}, {base, dn}} {
			if got, want := IsUnder(c[0], c[1]), isUnderParsed(c[0], c[1]); got != want {
				t.Fatalf("IsUnder(%q, %q) = %v, want %v", c[0], c[1], got, want)
			}
		}
	}
}

func TestEqualDNFastPathAgrees(t *testing.T) {
	r := rand.New(rand.NewSource(4519))
	dns := []string{"OU=Sync,DC=x", "ou=sync,dc=X", "OU=Sync, DC=x", "DC=x", "garbage", "", `OU=a\,b,DC=x`}
	for i := 0; i < 300_000; i++ {
		dn := randomString(r, dnPieces, r.Intn(8))
		if r.Intn(2) == 0 {
			dn += "," + dns[r.Intn(len(dns))]
		}
		other := dns[r.Intn(len(dns))]
		switch r.Intn(3) {
		case 0:
			other = dn
		case 1:
			other = strings.ToUpper(dn)
		}
		if got, want := EqualDN(dn, other), equalDNGoLDAP(dn, other); got != want {
			t.Fatalf("EqualDN(%q, %q) = %v, want %v", dn, other, got, want)
		}
	}
}

// Type, IsPrimary and IsSMTP answer as upper- and lower-casing the prefix
// does, for any prefix.
func TestProxyAddressCaseFastPaths(t *testing.T) {
	r := rand.New(rand.NewSource(3190357))
	pieces := []string{"s", "S", "m", "M", "t", "T", "p", "P", "x", "X", "5", "0", "ſ", "\u212a", "K", "k", "é", "É", "İ", "ı", "I", "i", "1", "e", "u"}
	for i := 0; i < 200_000; i++ {
		p := ProxyAddress{Prefix: randomString(r, pieces, r.Intn(6)), Address: "a@contoso.com"}
		if r.Intn(3) == 0 {
			p.Prefix = []string{"smtp", "SMTP", "Smtp", "x500", "X500", "sip", "SIP", "eum", "EUM", "x400", "X400", "MSMAIL"}[r.Intn(12)]
		}
		up, low := strings.ToUpper(p.Prefix), strings.ToLower(p.Prefix)
		if got := p.Type(); got != up {
			t.Fatalf("%q: Type() = %q, want %q", p.Prefix, got, up)
		}
		if got, want := p.IsPrimary(), p.Prefix == up && p.Prefix != low; got != want {
			t.Fatalf("%q: IsPrimary() = %v, want %v", p.Prefix, got, want)
		}
		if got, want := p.IsSMTP(), up == TypeSMTP; got != want {
			t.Fatalf("%q: IsSMTP() = %v, want %v", p.Prefix, got, want)
		}
	}
}
