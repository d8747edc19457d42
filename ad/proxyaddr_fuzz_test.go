package ad

import (
	"errors"
	"strings"
	"testing"
)

func FuzzParseProxyAddress(f *testing.F) {
	for _, s := range []string{
		"SMTP:jane@contoso.com",
		"smtp:jane.doe@contoso.mail.onmicrosoft.com",
		"x500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=abc-user",
		"X500:/o=Contoso/ou=First Administrative Group/cn=Recipients/cn=jane",
		"X400:c=US;a= ;p=Org;o=Exchange;s=Doe;g=Jane;",
		"sip:jane@contoso.com",
		"SIP:jane@contoso.com:5061",
		"EUM:1234;phone-context=DialPlan.contoso.com",
		"smtp:zoë@exämple.com",
		"jane@contoso.com",
		":jane@contoso.com",
		"smtp:",
		"X-MS:x",
		"ABCDEFGHIJ:x",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseProxyAddress(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedProxyAddress) {
				t.Fatalf("ParseProxyAddress(%q) error %v does not wrap ErrMalformedProxyAddress", s, err)
			}
			if p != (ProxyAddress{}) {
				t.Fatalf("ParseProxyAddress(%q) returned %+v with an error", s, p)
			}
			return
		}
		if got := p.String(); got != s {
			t.Fatalf("String() = %q, want the input %q", got, s)
		}
		if got, want := p.Type(), strings.ToUpper(p.Prefix); got != want {
			t.Fatalf("Type() = %q, want %q", got, want)
		}
		if p.Prefix == "" || p.Address == "" {
			t.Fatalf("accepted %q with empty prefix or address: %+v", s, p)
		}
		again, err := ParseProxyAddress(p.String())
		if err != nil {
			t.Fatalf("re-parsing %q: %v", p.String(), err)
		}
		if again != p {
			t.Fatalf("re-parse = %+v, want %+v", again, p)
		}
		if p.IsPrimary() && strings.ToLower(p.Prefix) == p.Prefix {
			t.Fatalf("%q: IsPrimary but prefix %q has no upper-case letter", s, p.Prefix)
		}
		if p.IsPrimary() && p.Prefix != strings.ToUpper(p.Prefix) {
			t.Fatalf("%q: IsPrimary but prefix %q has a lower-case letter", s, p.Prefix)
		}
		if d := p.SMTPDomain(); d != "" {
			if !p.IsSMTP() || strings.Contains(d, "@") || d != strings.ToLower(d) {
				t.Fatalf("%q: SMTPDomain = %q", s, d)
			}
		}
		// Round trip through the set type keeps the value.
		ps := ParseProxyAddresses([]string{s})
		if len(ps.Values) != 1 || len(ps.Malformed) != 0 || ps.Raw()[0] != s {
			t.Fatalf("ParseProxyAddresses([%q]) = %+v", s, ps)
		}
	})
}
