package ad

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// ParseDN parses a distinguished name (RFC 4514), rejecting the empty DN.
func ParseDN(dn string) (*ldap.DN, error) {
	d, err := ldap.ParseDN(dn)
	if err != nil {
		return nil, fmt.Errorf("parse DN %q: %w", dn, err)
	}
	if len(d.RDNs) == 0 {
		return nil, fmt.Errorf("parse DN %q: empty DN", dn)
	}
	return d, nil
}

// ChildDN builds the DN of an entry named attr=value directly under parent,
// escaping value (RFC 4514 §2.4). value is the raw name, e.g. `Smith, John`.
func ChildDN(attr, value, parent string) string {
	return attr + "=" + ldap.EscapeDN(value) + "," + parent
}

// ParentDN returns the DN of dn's parent as written in dn (case and
// escaping preserved).
func ParentDN(dn string) (string, error) {
	d, err := ParseDN(dn)
	if err != nil {
		return "", err
	}
	if len(d.RDNs) == 1 {
		return "", fmt.Errorf("DN %q has no parent", dn)
	}
	i := firstRDNEnd(dn)
	if i < 0 {
		return (&ldap.DN{RDNs: d.RDNs[1:]}).String(), nil
	}
	return strings.TrimLeft(dn[i+1:], " "), nil
}

// firstRDNEnd returns the index of the comma ending dn's first RDN,
// skipping backslash escapes and quoted strings, or -1.
func firstRDNEnd(dn string) int {
	quoted := false
	for i := 0; i < len(dn); i++ {
		switch c := dn[i]; {
		case c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case (c == ',' || c == ';') && !quoted:
			return i
		}
	}
	return -1
}

// RDNValue returns the unescaped value of dn's first RDN (its name).
func RDNValue(dn string) (string, error) {
	d, err := ParseDN(dn)
	if err != nil {
		return "", err
	}
	rdn := d.RDNs[0]
	if len(rdn.Attributes) != 1 {
		return "", errors.New("multi-valued RDN")
	}
	return rdn.Attributes[0].Value, nil
}

// EqualDN compares two DNs the way AD does: attribute types and values
// case-insensitively, after unescaping. Unparseable DNs are never equal.
func EqualDN(a, b string) bool {
	da, err := ldap.ParseDN(a)
	if err != nil {
		return false
	}
	db, err := ldap.ParseDN(b)
	if err != nil {
		return false
	}
	return da.EqualFold(db)
}

// IsUnder reports whether dn is base or a descendant of base.
func IsUnder(dn, base string) bool {
	if IsPlainDN(dn) && IsPlainDN(base) {
		// Neither needs unescaping: the RDNs are the comma-separated parts,
		// compared ignoring ASCII case, as the parsed comparison does.
		switch n, m := len(dn), len(base); {
		case n == m:
			return equalFoldASCII(dn, base)
		case n > m:
			return dn[n-m-1] == ',' && equalFoldASCII(dn[n-m:], base)
		}
		return false
	}
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

// CanonicalDN returns dn re-serialised with lower-cased attribute types, a
// stable key for maps. It returns dn unchanged when it does not parse.
func CanonicalDN(dn string) string {
	if c, ok := canonicalPlain(dn); ok {
		return c
	}
	d, err := ldap.ParseDN(dn)
	if err != nil {
		return dn
	}
	var b strings.Builder
	for i, rdn := range d.RDNs {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, a := range rdn.Attributes {
			if j > 0 {
				b.WriteByte('+')
			}
			b.WriteString(strings.ToLower(a.Type))
			b.WriteByte('=')
			b.WriteString(ldap.EscapeDN(strings.ToLower(a.Value)))
		}
	}
	return b.String()
}

// canonicalPlain is CanonicalDN's fast path for the common DN with no
// escapes, quotes, multi-valued RDNs, non-ASCII or stray spaces, where the
// canonical form is the lower-cased DN itself. Parsing every DN is the
// dominant cost of joining large directories.
func canonicalPlain(dn string) (string, bool) {
	if !IsPlainDN(dn) {
		return "", false
	}
	return strings.ToLower(dn), true
}

// IsPlainDN reports whether dn is a DN with no escapes, quotes,
// multi-valued RDNs, non-ASCII or stray spaces, whose CanonicalDN is dn
// itself with its ASCII letters lower-cased. Callers comparing many DNs
// can then compare dn ignoring ASCII case instead of building the key.
func IsPlainDN(dn string) bool {
	if dn == "" {
		return false
	}
	// Each comma-separated part must be type=value: exactly one '=', both
	// sides non-empty and without leading or trailing spaces.
	start, eq := 0, -1
	for i := 0; i <= len(dn); i++ {
		var c byte = ','
		if i < len(dn) {
			if c = dn[i]; dnByte[c] == dnPlain {
				continue
			}
		}
		switch {
		case c == ',':
			if eq < 0 {
				return false
			}
			k, v := dn[start:eq], dn[eq+1:i]
			if k == "" || v == "" || k[0] == ' ' || k[len(k)-1] == ' ' || v[0] == ' ' || v[len(v)-1] == ' ' {
				return false
			}
			start, eq = i+1, -1
		case c == '=':
			if eq >= 0 {
				return false
			}
			eq = i
		default:
			return false // a character that needs parsing
		}
	}
	return true
}

// dnByte classes the bytes of a DN for IsPlainDN.
const (
	dnPlain   = iota // needs nothing
	dnSpecial        // ',' or '='
	dnParse          // escapes, quotes, multi-valued RDNs, non-ASCII, control
)

var dnByte = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch b := byte(c); {
		case b == ',' || b == '=':
			t[c] = dnSpecial
		case b == '\\' || b == '"' || b == '+' || b == ';' || b == '<' || b == '>' || b == '#' || b >= 0x80 || b < 0x20:
			t[c] = dnParse
		}
	}
	return t
}()

// equalFoldASCII reports whether a and b, both ASCII, are equal ignoring
// case.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
