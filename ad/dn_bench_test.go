package ad

import "testing"

// DNs as the planner meets them: most are plain (no escapes), some carry
// escaped commas, hex pairs or multi-valued RDNs and need parsing.
var benchDNs = []struct{ name, dn, base string }{
	{"plain", "CN=Jane Doe,OU=Users,OU=Sync,DC=contoso,DC=com", "ou=sync,dc=contoso,dc=com"},
	{"escaped", `CN=Doe\, Jane (Sales),OU=Users,OU=Sync,DC=contoso,DC=com`, "ou=sync,dc=contoso,dc=com"},
	{"hex", `CN=Zo\C3\AB M\C3\BCller,OU=R&D\2C Europe,OU=Sync,DC=contoso,DC=com`, `OU=Sync, DC=contoso, DC=com`},
	{"multivalued", `CN=Jane+SN=Doe,OU=Users,OU=Sync,DC=contoso,DC=com`, "OU=Sync,DC=contoso,DC=com"},
}

// sinkString and sinkBool keep the compiler from dropping the calls.
var (
	sinkString string
	sinkBool   bool
)

func BenchmarkParseDN(b *testing.B) {
	for _, c := range benchDNs {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d, err := ParseDN(c.dn)
				if err != nil || len(d.RDNs) < 4 {
					b.Fatalf("ParseDN(%q) = %v, %v", c.dn, d, err)
				}
			}
		})
	}
}

func BenchmarkCanonicalDN(b *testing.B) {
	for _, c := range benchDNs {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkString = CanonicalDN(c.dn)
			}
		})
	}
}

func BenchmarkEqualDN(b *testing.B) {
	for _, c := range benchDNs {
		other := CanonicalDN(c.dn)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if sinkBool = EqualDN(c.dn, other); !sinkBool {
					b.Fatalf("EqualDN(%q, %q) = false", c.dn, other)
				}
			}
		})
	}
}

func BenchmarkIsUnder(b *testing.B) {
	for _, c := range benchDNs {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if sinkBool = IsUnder(c.dn, c.base); !sinkBool {
					b.Fatalf("IsUnder(%q, %q) = false", c.dn, c.base)
				}
			}
		})
	}
}

func BenchmarkEscapeDN(b *testing.B) {
	for _, v := range []struct{ name, value string }{
		{"plain", "Jane Doe"},
		{"special", `Doe, Jane (Sales) #1 `},
		{"non-ASCII", "Zoë Müller"},
	} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkString = EscapeDN(v.value)
			}
		})
	}
}
