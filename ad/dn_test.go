package ad

import (
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

const labOU = "OU=Lab,DC=example,DC=com"

func TestChildDNEscapes(t *testing.T) {
	cases := []struct {
		name  string
		value string
		want  string
	}{
		{"comma parens star", `Smith, John (Sales)*`, `CN=Smith\, John (Sales)*,` + labOU},
		{"backslash and plus", `Back\slash + Plus`, `CN=Back\\slash \+ Plus,` + labOU},
		{"leading hash", `#hash`, `CN=\#hash,` + labOU},
		{"inner hash", `a#b`, `CN=a#b,` + labOU},
		{"leading space", ` lead`, `CN=\ lead,` + labOU},
		{"trailing space", `trail `, `CN=trail\ ,` + labOU},
		{"leading and trailing spaces", `  both  `, `CN=\  both \ ,` + labOU},
		{"single space", ` `, `CN=\ ,` + labOU},
		{"quotes", `"quoted"`, `CN=\"quoted\",` + labOU},
		{"angle brackets semicolon equals", `<>;=`, `CN=\<\>\;=,` + labOU},
		{"non-ASCII", `Zoë`, `CN=Zoë,` + labOU},
		{"plain", `Jane Doe`, `CN=Jane Doe,` + labOU},
		{"trailing backslash", `a\`, `CN=a\\,` + labOU},
		{"backslash before trailing space", `a\ `, `CN=a\\\ ,` + labOU},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dn := ChildDN("CN", tc.value, labOU)
			if dn != tc.want {
				t.Errorf("ChildDN(%q) = %q, want %q", tc.value, dn, tc.want)
			}
			got, err := RDNValue(dn)
			if err != nil {
				t.Fatalf("RDNValue(%q): %v", dn, err)
			}
			if got != tc.value {
				t.Errorf("RDNValue(%q) = %q, want the raw value %q", dn, got, tc.value)
			}
			d, err := ParseDN(dn)
			if err != nil {
				t.Fatalf("ParseDN(%q): %v", dn, err)
			}
			if len(d.RDNs) != 4 {
				t.Errorf("ParseDN(%q) has %d RDNs, want 4", dn, len(d.RDNs))
			}
			parent, err := ParentDN(dn)
			if err != nil || parent != labOU {
				t.Errorf("ParentDN(%q) = %q, %v; want %q", dn, parent, err, labOU)
			}
		})
	}
}

func TestParseDN(t *testing.T) {
	for _, bad := range []string{"", "   ", "garbage", "CN=a,,DC=x", "CN=a,DC=x,", `CN=a\`, `CN="a",DC=x`} {
		if d, err := ParseDN(bad); err == nil {
			t.Errorf("ParseDN(%q) = %v, want an error", bad, d)
		}
	}
	d, err := ParseDN("CN=a+SN=b,DC=x")
	if err != nil || len(d.RDNs) != 2 || len(d.RDNs[0].Attributes) != 2 {
		t.Errorf("ParseDN multi-valued RDN = %v, %v", d, err)
	}
}

func TestRDNValue(t *testing.T) {
	cases := []struct {
		dn, want string
		wantErr  bool
	}{
		{dn: `CN=Smith\, John,OU=x,DC=y`, want: "Smith, John"},
		{dn: `CN=A\2cB,DC=x`, want: "A,B"},
		{dn: `cn=Zo\c3\ab,dc=x`, want: "Zoë"},
		{dn: `CN=Top`, want: "Top"},
		{dn: `CN=a+SN=b,DC=x`, wantErr: true},
		{dn: ``, wantErr: true},
		{dn: `nonsense`, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.dn, func(t *testing.T) {
			got, err := RDNValue(tc.dn)
			if tc.wantErr {
				if err == nil {
					t.Errorf("RDNValue(%q) = %q, want an error", tc.dn, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("RDNValue(%q) = %q, %v; want %q", tc.dn, got, err, tc.want)
			}
		})
	}
}

func TestParentDN(t *testing.T) {
	cases := []struct {
		name, dn, want string
	}{
		{"escaped comma preserved", `CN=a\,b,OU=R&D\, Europe,DC=x`, `OU=R&D\, Europe,DC=x`},
		{"case preserved", `cn=Jane,Ou=Sales,dC=Example,DC=COM`, `Ou=Sales,dC=Example,DC=COM`},
		{"hex escape in first RDN", `CN=a\2cb,OU=x,DC=y`, `OU=x,DC=y`},
		{"hex escapes in parent preserved", `CN=a,OU=Zo\c3\ab\2c x,DC=y`, `OU=Zo\c3\ab\2c x,DC=y`},
		{"escaped backslash before comma", `CN=a\\,OU=x,DC=y`, `OU=x,DC=y`},
		{"space after comma trimmed", `CN=a, OU=x, DC=y`, `OU=x, DC=y`},
		{"semicolon separator", `CN=a;OU=x;DC=y`, `OU=x;DC=y`},
		{"multi-valued RDN", `CN=a+SN=b,OU=x,DC=y`, `OU=x,DC=y`},
		{"escaped plus in first RDN", `CN=a\+b,DC=y`, `DC=y`},
		{"two RDNs", `OU=x,DC=y`, `DC=y`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParentDN(tc.dn)
			if err != nil {
				t.Fatalf("ParentDN(%q): %v", tc.dn, err)
			}
			if got != tc.want {
				t.Errorf("ParentDN(%q) = %q, want %q", tc.dn, got, tc.want)
			}
		})
	}
	for _, bad := range []string{`DC=com`, `CN=a\,b`, `garbage`, ``, `CN=a,,DC=x`, `,DC=x`} {
		t.Run("error "+bad, func(t *testing.T) {
			if got, err := ParentDN(bad); err == nil {
				t.Errorf("ParentDN(%q) = %q, want an error", bad, got)
			}
		})
	}
	t.Run("no parent message", func(t *testing.T) {
		_, err := ParentDN("DC=com")
		if err == nil || !strings.Contains(err.Error(), "no parent") {
			t.Errorf("ParentDN(DC=com) error = %v, want it to say no parent", err)
		}
	})
}

func TestEqualDN(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{`CN=A\2cB,DC=x`, `cn=a\,b,dc=X`, true},
		{`CN=Jane Doe,OU=Users,DC=example,DC=com`, `cn=jane doe,ou=users,dc=EXAMPLE,dc=com`, true},
		{`CN=a,DC=x`, `CN=a, DC=x`, true},
		{`CN=Zoë,DC=x`, `cn=ZO\c3\8b,dc=x`, true},
		{`CN=a,DC=x`, `CN=b,DC=x`, false},
		{`CN=a,DC=x`, `CN=a,DC=x,DC=y`, false},
		{`CN=a,DC=x`, `OU=a,DC=x`, false},
		{`CN=a\,b,DC=x`, `CN=a,CN=b,DC=x`, false},
		{`garbage`, `garbage`, false},
		{`CN=a,DC=x`, `garbage`, false},
	}
	for _, tc := range cases {
		t.Run(tc.a+" vs "+tc.b, func(t *testing.T) {
			if got := EqualDN(tc.a, tc.b); got != tc.want {
				t.Errorf("EqualDN(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
			if got := EqualDN(tc.b, tc.a); got != tc.want {
				t.Errorf("EqualDN(%q, %q) = %v, want %v (symmetry)", tc.b, tc.a, got, tc.want)
			}
		})
	}
}

func TestIsUnder(t *testing.T) {
	const base = "OU=Sync,DC=example,DC=com"
	cases := []struct {
		dn   string
		want bool
	}{
		{"OU=Sync,DC=example,DC=com", true},
		{"ou=sync,dc=EXAMPLE,dc=com", true},
		{"CN=Jane,OU=Sync,DC=example,DC=com", true},
		{"CN=Jane,OU=Deep,OU=Sync,DC=example,DC=com", true},
		{`CN=a\,b,ou=SYNC,DC=example,DC=com`, true},
		{"CN=Jane,OU=Other,DC=example,DC=com", false},
		{"DC=example,DC=com", false},
		{"CN=Jane,OU=Sync,DC=example,DC=org", false},
		{"CN=Jane,OU=NotSync,DC=example,DC=com", false},
		{"garbage", false},
	}
	for _, tc := range cases {
		t.Run(tc.dn, func(t *testing.T) {
			if got := IsUnder(tc.dn, base); got != tc.want {
				t.Errorf("IsUnder(%q, %q) = %v, want %v", tc.dn, base, got, tc.want)
			}
		})
	}
	if IsUnder("CN=a,DC=x", "garbage") {
		t.Error("IsUnder with unparseable base = true")
	}
}

func TestCanonicalDN(t *testing.T) {
	groups := []struct {
		want     string
		variants []string
	}{
		{"cn=jane doe,ou=users,dc=example,dc=com", []string{
			"CN=Jane Doe,OU=Users,DC=example,DC=com",
			"cn=JANE DOE,ou=users,dc=Example,dc=COM",
			"CN=Jane Doe, OU=Users, DC=example, DC=com",
			`CN=Jane\20Doe,OU=Users,DC=example,DC=com`,
		}},
		{`cn=a\,b,dc=x`, []string{`CN=a\,b,DC=x`, `cn=A\2CB,dc=X`, `CN=A\2cb,DC=x`}},
		{`cn=\#x\+y,dc=x`, []string{`CN=\#x\+y,DC=x`, `CN=\23X\2BY,DC=X`}},
	}
	for _, g := range groups {
		t.Run(g.want, func(t *testing.T) {
			for _, v := range g.variants {
				got := CanonicalDN(v)
				if got != g.want {
					t.Errorf("CanonicalDN(%q) = %q, want %q", v, got, g.want)
				}
				if again := CanonicalDN(got); again != got {
					t.Errorf("CanonicalDN not idempotent: %q -> %q", got, again)
				}
				if !EqualDN(got, v) {
					t.Errorf("CanonicalDN(%q) = %q is not EqualDN to the input", v, got)
				}
			}
		})
	}
	if got := CanonicalDN("garbage"); got != "garbage" {
		t.Errorf("CanonicalDN(garbage) = %q, want it unchanged", got)
	}
}

// The fast path of CanonicalDN must agree with the parsing path wherever
// it applies.
func TestCanonicalDNFastPathAgrees(t *testing.T) {
	for _, dn := range []string{
		"CN=Jane Doe,OU=Users,DC=contoso,DC=com",
		"cn=a,dc=x",
		"OU=Sync Tests,OU=HybridSync Lab,DC=lab,DC=hybridsync,DC=test",
		"CN=user0000001,OU=Sync,DC=contoso,DC=com",
		"CN=A-B_C.D (x),DC=y",
	} {
		fast, ok := canonicalPlain(dn)
		if !ok {
			t.Fatalf("%q: fast path not taken", dn)
		}
		d, err := ldap.ParseDN(dn)
		if err != nil {
			t.Fatal(err)
		}
		var slow []string
		for _, rdn := range d.RDNs {
			a := rdn.Attributes[0]
			slow = append(slow, strings.ToLower(a.Type)+"="+ldap.EscapeDN(strings.ToLower(a.Value)))
		}
		if want := strings.Join(slow, ","); fast != want {
			t.Errorf("%q: fast %q, parsed %q", dn, fast, want)
		}
	}
	for _, dn := range []string{`CN=a\,b,DC=x`, "CN=a+SN=b,DC=x", "CN= a,DC=x", "CN=#x,DC=x", "CN=Zoë,DC=x", "CN=a;DC=x", "garbage"} {
		if _, ok := canonicalPlain(dn); ok {
			t.Errorf("%q: fast path taken for a DN it cannot handle", dn)
		}
	}
}
