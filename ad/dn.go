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
	if dn == "" {
		return "", false
	}
	for i := 0; i < len(dn); i++ {
		switch c := dn[i]; {
		case c == '\\' || c == '"' || c == '+' || c == ';' || c == '<' || c == '>' || c == '#' || c >= 0x80 || c < 0x20:
			return "", false
		}
	}
	for part := range strings.SplitSeq(dn, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok || k == "" || v == "" || strings.Contains(v, "=") ||
			k != strings.TrimSpace(k) || v != strings.TrimSpace(v) {
			return "", false
		}
	}
	return strings.ToLower(dn), true
}
