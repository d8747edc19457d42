package ad

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
)

func FuzzChildDN(f *testing.F) {
	for _, s := range []string{
		"Jane Doe",
		`Smith, John (Sales)*`,
		`Back\slash + Plus`,
		"#hash",
		" lead",
		"trail ",
		"   ",
		`"quoted"`,
		`<>;=`,
		"Zoë",
		`a\ `,
		"\\",
		"=a=b",
		"tab\tand\nnewline",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		// The property is stated for names AD can hold: non-empty valid
		// UTF-8 without NUL.
		if value == "" || !utf8.ValidString(value) || strings.ContainsRune(value, 0) {
			return
		}
		dn := ChildDN("CN", value, labOU)
		got, err := RDNValue(dn)
		if err != nil {
			t.Fatalf("RDNValue(ChildDN(%q)) = %q: %v", value, dn, err)
		}
		if got != value {
			t.Fatalf("RDNValue(%q) = %q, want the raw value %q", dn, got, value)
		}
		parent, err := ParentDN(dn)
		if err != nil {
			t.Fatalf("ParentDN(%q): %v", dn, err)
		}
		if parent != labOU {
			t.Fatalf("ParentDN(%q) = %q, want %q", dn, parent, labOU)
		}
		if !EqualDN(dn, dn) {
			t.Fatalf("EqualDN(%q, itself) = false", dn)
		}
		if !IsUnder(dn, labOU) {
			t.Fatalf("IsUnder(%q, %q) = false", dn, labOU)
		}
	})
}

func FuzzParentDN(f *testing.F) {
	for _, s := range []string{
		"CN=Jane Doe,OU=Users,DC=example,DC=com",
		`CN=a\,b,OU=R&D\, Europe,DC=x`,
		`CN=A\2cB,DC=x`,
		`cn=Zo\c3\ab;dc=x`,
		`CN=a+SN=b,OU=x,DC=y`,
		`CN=\#x\ ,DC=y`,
		`CN=#04024869,DC=x`,
		"DC=com",
		"garbage",
		`CN=a\\,DC=b`,
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dn string) {
		parent, perr := ParentDN(dn) // must not panic
		_ = EqualDN(dn, dn)
		_ = CanonicalDN(dn)
		_, _ = RDNValue(dn)

		d, err := ldap.ParseDN(dn)
		if err != nil || len(d.RDNs) < 2 {
			return
		}
		if perr != nil {
			t.Fatalf("ParseDN(%q) has %d RDNs but ParentDN failed: %v", dn, len(d.RDNs), perr)
		}
		want := (&ldap.DN{RDNs: d.RDNs[1:]}).String()
		if !EqualDN(parent, want) {
			t.Fatalf("ParentDN(%q) = %q, not EqualDN to the parsed parent %q", dn, parent, want)
		}
		if !EqualDN(dn, dn) {
			t.Fatalf("EqualDN(%q, itself) = false", dn)
		}
	})
}
