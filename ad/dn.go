package ad

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// DN parsing, escaping and comparison (RFC 4514), without an LDAP library.
// The parser accepts and rejects exactly what go-ldap v3's ParseDN does and
// decodes to the same values, and String and EscapeDN write what go-ldap's
// DN.String and EscapeDN write; the package's tests compare the two on
// every input they try. Where that differs from RFC 4514 it is noted.

// DN is a parsed distinguished name: its RDNs from the entry's own (first)
// to the root's (last).
type DN struct {
	RDNs []RDN
}

// RDN is a relative distinguished name: one attribute, or several joined
// by '+' (a multi-valued RDN).
type RDN struct {
	Attributes []AttributeTypeAndValue
}

// AttributeTypeAndValue is one type=value pair of an RDN, unescaped.
type AttributeTypeAndValue struct {
	Type  string
	Value string
}

// ParseDN parses a distinguished name (RFC 4514), rejecting the empty DN.
func ParseDN(dn string) (*DN, error) {
	d, err := parseDN(dn)
	if err != nil {
		return nil, fmt.Errorf("parse DN %q: %w", dn, err)
	}
	if len(d.RDNs) == 0 {
		return nil, fmt.Errorf("parse DN %q: empty DN", dn)
	}
	return d, nil
}

// parseDN parses dn as go-ldap's ParseDN does: a DN of spaces only is the
// empty DN (no RDNs), not an error.
func parseDN(dn string) (*DN, error) {
	var avaBuf [16]AttributeTypeAndValue
	var endBuf [16]int
	avas, ends, err := splitDN(dn, avaBuf[:0], endBuf[:0])
	if err != nil {
		return nil, err
	}
	// One array of RDNs and one of attributes, each of the exact size.
	d := &DN{RDNs: make([]RDN, len(ends))}
	all := slices.Clone(avas)
	start := 0
	for i, end := range ends {
		d.RDNs[i].Attributes = all[start:end:end]
		start = end
	}
	return d, nil
}

// splitDN parses dn, appending its attributes, in order, to avas and the
// end of each RDN (one past the index of its last attribute in avas) to
// ends. It allocates nothing but the values that need unescaping, so
// callers comparing DNs can pass arrays on their stack.
//
// The grammar is go-ldap's: a backslash escapes the next byte; the first
// '=' of a pair ends its type (an '=' in a value is part of it); ',' or
// ';' ends an RDN and '+' a pair; quoted values (RFC 4514 §3's legacy
// form) are not supported, so their quotes are rejected as unescaped.
func splitDN(dn string, avas []AttributeTypeAndValue, ends []int) ([]AttributeTypeAndValue, []int, error) {
	if strings.TrimSpace(dn) == "" {
		return avas, ends, nil
	}
	var typ string // the current pair's type, once decoded and non-empty
	start := 0     // where the current type or value begins
	for i := 0; i < len(dn); i++ {
		switch c := dn[i]; c {
		case '\\':
			i++ // the escaped byte never separates
		case '=':
			if typ != "" {
				continue
			}
			// A type that decodes to nothing (spaces) leaves the pair
			// without one, so a later '=' ends the type instead.
			t, err := decodeDNString(dn[start:i])
			if err != nil {
				return nil, nil, err
			}
			typ, start = t, i+1
		case ',', ';', '+':
			if typ == "" {
				return nil, nil, errors.New("incomplete type, value pair")
			}
			v, err := decodeDNValue(dn[start:i])
			if err != nil {
				return nil, nil, err
			}
			avas = append(avas, AttributeTypeAndValue{Type: typ, Value: v})
			if c != '+' {
				ends = append(ends, len(avas))
			}
			typ, start = "", i+1
		}
	}
	if typ == "" {
		return nil, nil, errors.New("DN ended with incomplete type, value pair")
	}
	v, err := decodeDNValue(dn[start:])
	if err != nil {
		return nil, nil, err
	}
	avas = append(avas, AttributeTypeAndValue{Type: typ, Value: v})
	return avas, append(ends, len(avas)), nil
}

// decodeDNValue decodes an attribute value as written in a DN: '#' and
// the hex of a BER-encoded value (RFC 4514 §2.4), or a string.
func decodeDNValue(s string) (string, error) {
	if strings.HasPrefix(s, "#") {
		return decodeBERHex(s[1:])
	}
	return decodeDNString(s)
}

// dnEscapable is the set of characters a backslash may escape as
// themselves; any other escape is two hex digits.
const dnEscapable = ` "#+,;<=>\`

// decodeDNString trims s's insignificant spaces and unescapes it. It
// rejects the characters RFC 4514 requires escaped in a value ('"', ';',
// '<', '>' and NUL) and replaces invalid UTF-8 outside escapes with
// U+FFFD, as go-ldap does. Types are decoded the same way.
func decodeDNString(s string) (string, error) {
	s = trimDNSpaces(s)
	if !needsDecodeDN(s) {
		return s, nil
	}
	var buf [64]byte // on the stack, for the common short value
	b := buf[:0]
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 == len(s) {
				return "", fmt.Errorf("got corrupted escaped character: '%s'", s)
			}
			if next := s[i+1]; strings.IndexByte(dnEscapable, next) >= 0 {
				b = append(b, next)
				i += 2
				continue
			}
			hi, okHi := unhex(s[i+1])
			lo, okLo := byte(0), false
			if i+2 < len(s) {
				lo, okLo = unhex(s[i+2])
			}
			if !okHi || !okLo {
				return "", fmt.Errorf("failed to decode escaped character at %d in '%s'", i, s)
			}
			b = append(b, hi<<4|lo)
			i += 3
		case c == '"' || c == ';' || c == '<' || c == '>':
			return "", fmt.Errorf("got unescaped character: '%c'", c)
		case c == 0:
			return "", errors.New("got unescaped NULL character")
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			b = utf8.AppendRune(b, r) // U+FFFD for an invalid byte
			i += n
		}
	}
	return string(b), nil
}

// needsDecodeDN reports whether s holds an escape, a character
// decodeDNString rejects or invalid UTF-8.
func needsDecodeDN(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c == '\\' || c == '"' || c == ';' || c == '<' || c == '>' || c == 0 {
				return true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return true
		}
		i += n
	}
	return false
}

// trimDNSpaces removes s's leading and trailing spaces, except a trailing
// space escaped by a backslash (one preceded by an odd number of them).
func trimDNSpaces(s string) string {
	t := strings.TrimLeft(s, " ")
	u := strings.TrimRight(t, " ")
	if len(u) == len(t) {
		return u
	}
	backslashes := len(u) - len(strings.TrimRight(u, `\`))
	if backslashes%2 == 1 {
		return t[:len(u)+1]
	}
	return u
}

// unhex returns the value of the hex digit c.
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// EscapeDN escapes value for use as an attribute value in a DN (RFC 4514
// §2.4): a leading '#', leading and trailing spaces, the characters
// '"', '+', ',', ';', '<', '>' and '\' with a backslash, NUL as \00.
// Other characters, non-ASCII included, are written as they are (invalid
// UTF-8 as U+FFFD, as go-ldap's EscapeDN does).
func EscapeDN(value string) string {
	if !needsEscapeDN(value) {
		return value
	}
	var buf [64]byte
	return string(appendEscapeDN(buf[:0], value, false))
}

// needsEscapeDN reports whether EscapeDN(value) differs from value.
func needsEscapeDN(value string) bool {
	if value == "" {
		return false
	}
	if value[0] == ' ' || value[0] == '#' || value[len(value)-1] == ' ' {
		return true
	}
	for i := 0; i < len(value); {
		c := value[i]
		if c < utf8.RuneSelf {
			if c == '"' || c == '+' || c == ',' || c == ';' || c == '<' || c == '>' || c == '\\' || c == 0 {
				return true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(value[i:])
		if r == utf8.RuneError && n == 1 {
			return true // written as U+FFFD
		}
		i += n
	}
	return false
}

// appendEscapeDN appends EscapeDN(v), or EscapeDN(strings.ToLower(v)) if
// lower, to b.
func appendEscapeDN(b []byte, v string, lower bool) []byte {
	if lower && !isASCII(v) {
		v, lower = strings.ToLower(v), false
	}
	for i := 0; i < len(v); {
		c := v[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(v[i:])
			b = utf8.AppendRune(b, r) // U+FFFD for an invalid byte
			i += n
			continue
		}
		if lower && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		switch {
		case c == ' ' && (i == 0 || i == len(v)-1), c == '#' && i == 0,
			c == '"', c == '+', c == ',', c == ';', c == '<', c == '>', c == '\\':
			b = append(b, '\\', c)
		case c == 0:
			b = append(b, `\00`...)
		default:
			b = append(b, c)
		}
		i++
	}
	return b
}

// isASCII reports whether s is ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// String returns d in the normalised form go-ldap's DN.String writes:
// attribute types case-folded, the attributes of a multi-valued RDN
// sorted, every byte outside printable ASCII hex-escaped.
func (d *DN) String() string {
	var buf [256]byte
	b := buf[:0]
	for i, rdn := range d.RDNs {
		if i > 0 {
			b = append(b, ',')
		}
		b = rdn.appendString(b)
	}
	return string(b)
}

// String returns r as DN.String writes it.
func (r RDN) String() string {
	var buf [64]byte
	return string(r.appendString(buf[:0]))
}

func (r RDN) appendString(b []byte) []byte {
	if len(r.Attributes) == 1 {
		return r.Attributes[0].appendString(b)
	}
	attrs := make([]string, len(r.Attributes))
	for i, a := range r.Attributes {
		attrs[i] = a.String()
	}
	slices.Sort(attrs)
	for i, a := range attrs {
		if i > 0 {
			b = append(b, '+')
		}
		b = append(b, a...)
	}
	return b
}

// String returns a as DN.String writes it: the case-folded type, '=',
// the value.
func (a AttributeTypeAndValue) String() string {
	var buf [64]byte
	return string(a.appendString(buf[:0]))
}

func (a AttributeTypeAndValue) appendString(b []byte) []byte {
	b = appendEncodedDN(b, foldType(a.Type), false)
	b = append(b, '=')
	return appendEncodedDN(b, a.Value, true)
}

// foldType maps each letter of an attribute type to one member of its
// case-folding orbit (ASCII to lower case; other letters to the orbit's
// largest code point, as go-ldap's foldString does), and invalid UTF-8
// to U+FFFD.
func foldType(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r < utf8.RuneSelf {
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
		} else {
			// unicode.SimpleFold walks the orbit upwards and wraps
			// around at its largest member.
			for next := unicode.SimpleFold(r); next > r; next = unicode.SimpleFold(r) {
				r = next
			}
		}
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}

// appendEncodedDN appends s escaped for DN.String: the RFC 4514 specials
// with a backslash ('=' too in a type), a leading space or '#' and a
// trailing space likewise, and every byte outside printable ASCII as a
// lower-case hex pair.
func appendEncodedDN(b []byte, s string, isValue bool) []byte {
	const hexDigits = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case (c == ' ' || c == '#') && i == 0, c == ' ' && i == len(s)-1,
			c == '"', c == '+', c == ',', c == ';', c == '<', c == '>', c == '\\', c == '=' && !isValue:
			b = append(b, '\\', c)
		case c < ' ' || c > '~':
			b = append(b, '\\', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return b
}

// EqualFold reports whether d and o name the same entry, comparing
// attribute types and values ignoring case (strings.EqualFold) and the
// attributes of a multi-valued RDN in any order.
func (d *DN) EqualFold(o *DN) bool {
	return len(d.RDNs) == len(o.RDNs) && d.isSuffixOfFold(o)
}

// AncestorOfFold reports whether o is a descendant of d (not d itself),
// comparing as EqualFold does.
func (d *DN) AncestorOfFold(o *DN) bool {
	return len(d.RDNs) < len(o.RDNs) && d.isSuffixOfFold(o)
}

// isSuffixOfFold reports whether d's RDNs are the last of o's.
func (d *DN) isSuffixOfFold(o *DN) bool {
	if len(d.RDNs) > len(o.RDNs) {
		return false
	}
	tail := o.RDNs[len(o.RDNs)-len(d.RDNs):]
	for i, rdn := range d.RDNs {
		if !equalFoldRDN(rdn.Attributes, tail[i].Attributes) {
			return false
		}
	}
	return true
}

// equalFoldRDN reports whether two RDNs hold the same attributes ignoring
// case, in any order, each attribute of one matching a distinct one of
// the other.
func equalFoldRDN(a, b []AttributeTypeAndValue) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 1 {
		return a[0].equalFold(b[0])
	}
	var usedBuf [8]bool
	used := usedBuf[:0]
	if len(b) > len(usedBuf) {
		used = make([]bool, 0, len(b))
	}
	used = used[:len(b)]
	for _, x := range a {
		found := false
		for j, y := range b {
			if !used[j] && x.equalFold(y) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (a AttributeTypeAndValue) equalFold(o AttributeTypeAndValue) bool {
	return strings.EqualFold(a.Type, o.Type) && strings.EqualFold(a.Value, o.Value)
}

// ChildDN builds the DN of an entry named attr=value directly under parent,
// escaping value (RFC 4514 §2.4). value is the raw name, e.g. `Smith, John`.
func ChildDN(attr, value, parent string) string {
	return attr + "=" + EscapeDN(value) + "," + parent
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
		return (&DN{RDNs: d.RDNs[1:]}).String(), nil
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
	if IsPlainDN(a) && IsPlainDN(b) {
		// The RDNs are the comma-separated parts, compared ignoring
		// ASCII case, as the parsed comparison does.
		return equalFoldASCII(a, b)
	}
	return compareDNs(a, b, func(na, nb int) bool { return na == nb })
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
	return compareDNs(dn, base, func(n, m int) bool { return n >= m })
}

// compareDNs parses a and b and reports whether b's RDNs are the last of
// a's (compared as DN.EqualFold does) and counts(len(a's), len(b's)) holds.
// Both must parse; the empty DN (no RDNs) is a suffix of every DN.
func compareDNs(a, b string, counts func(na, nb int) bool) bool {
	var avaBufA, avaBufB [16]AttributeTypeAndValue
	var endBufA, endBufB [16]int
	avasA, endsA, err := splitDN(a, avaBufA[:0], endBufA[:0])
	if err != nil {
		return false
	}
	avasB, endsB, err := splitDN(b, avaBufB[:0], endBufB[:0])
	if err != nil || !counts(len(endsA), len(endsB)) || len(endsB) > len(endsA) {
		return false
	}
	skip := len(endsA) - len(endsB)
	startA := 0
	if skip > 0 {
		startA = endsA[skip-1]
	}
	startB := 0
	for i, endB := range endsB {
		endA := endsA[skip+i]
		if !equalFoldRDN(avasA[startA:endA], avasB[startB:endB]) {
			return false
		}
		startA, startB = endA, endB
	}
	return true
}

// CanonicalDN returns dn re-serialised with lower-cased attribute types, a
// stable key for maps. It returns dn unchanged when it does not parse.
func CanonicalDN(dn string) string {
	if c, ok := canonicalPlain(dn); ok {
		return c
	}
	var avaBuf [16]AttributeTypeAndValue
	var endBuf [16]int
	avas, ends, err := splitDN(dn, avaBuf[:0], endBuf[:0])
	if err != nil {
		return dn
	}
	// The key: for each attribute strings.ToLower(type) "="
	// EscapeDN(strings.ToLower(value)), RDNs joined by ',', the
	// attributes of a multi-valued RDN by '+' in their order in dn.
	var buf [256]byte // on the stack for the common DN: one allocation, the key
	b := buf[:0]
	rdn := 0
	for i, a := range avas {
		if i > 0 {
			if i == ends[rdn] {
				b = append(b, ',')
				rdn++
			} else {
				b = append(b, '+')
			}
		}
		b = appendLower(b, a.Type)
		b = append(b, '=')
		b = appendEscapeDN(b, a.Value, true)
	}
	return string(b)
}

// appendLower appends strings.ToLower(s) to b.
func appendLower(b []byte, s string) []byte {
	if !isASCII(s) {
		return append(b, strings.ToLower(s)...)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
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
	// Each comma-separated part must be type=value: exactly one '=', both
	// sides non-empty and without leading or trailing spaces.
	start, eq := 0, -1
	for i := 0; i < len(dn); i++ {
		c := dn[i]
		if dnByte[c] == dnPlain {
			continue
		}
		switch c {
		case '=':
			if eq >= 0 {
				return false
			}
			eq = i
		case ',':
			if !isPlainPart(dn, start, eq, i) {
				return false
			}
			start, eq = i+1, -1
		default:
			return false // a character that needs parsing
		}
	}
	return isPlainPart(dn, start, eq, len(dn))
}

// isPlainPart reports whether dn[start:end], with its only '=' at eq (-1
// if none), is type=value with both sides non-empty and without leading
// or trailing spaces.
func isPlainPart(dn string, start, eq, end int) bool {
	if eq < 0 || eq == start || eq+1 == end {
		return false
	}
	return dn[start] != ' ' && dn[eq-1] != ' ' && dn[eq+1] != ' ' && dn[end-1] != ' '
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

// A value written '#' and hex is the BER encoding of the value (RFC 4514
// §2.4). It decodes, as go-ldap decodes it, to the content octets of one
// BER element: the element's own content if primitive; if constructed,
// its children re-encoded (definite, minimal lengths; end-of-contents
// markers dropped). The element must be valid as go-asn1-ber reads it
// (including its checks of UTF8String, PrintableString, IA5String,
// GeneralizedTime and REAL contents) and fill the value exactly.

// BER limits, as go-asn1-ber's defaults.
const (
	berMaxDepth  = 1000
	berMaxLength = math.MaxInt32
)

// decodeBERHex decodes the hex after a value's '#'.
func decodeBERHex(s string) (string, error) {
	raw, err := hex.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("failed to decode BER encoding: %w", err)
	}
	e, n, err := readBER(raw, 0)
	if err != nil {
		return "", fmt.Errorf("failed to decode BER encoding: %w", err)
	}
	if n != len(raw) {
		return "", errors.New("failed to decode BER encoding: trailing bytes after value")
	}
	return string(e.content), nil
}

// berElement is one decoded BER element.
type berElement struct {
	identifier byte   // class and constructed bits of the first octet
	tag        uint64 // tag number
	content    []byte // primitive: the content; constructed: the children re-encoded
}

const (
	berConstructed  = 0x20
	berClassMask    = 0xc0
	berHighTag      = 0x1f
	berIndefinite   = -1
	berTagReal      = 0x09
	berTagUTF8      = 0x0c
	berTagPrintable = 0x13
	berTagIA5       = 0x16
	berTagGenTime   = 0x18
)

var errBERTruncated = errors.New("unexpected EOF")

// readBER reads one element at the start of b, depth elements deep, and
// returns it and the number of octets it took.
func readBER(b []byte, depth int) (berElement, int, error) {
	var e berElement
	if depth >= berMaxDepth {
		return e, 0, fmt.Errorf("nesting depth %d exceeds maximum %d", depth, berMaxDepth)
	}
	n, err := e.readIdentifier(b)
	if err != nil {
		return e, 0, err
	}
	length, m, err := readBERLength(b[n:])
	if err != nil {
		return e, 0, err
	}
	n += m
	constructed := e.identifier&berConstructed != 0
	switch {
	case length == berIndefinite && !constructed:
		return e, 0, errors.New("indefinite length used with primitive type")
	case length > berMaxLength:
		return e, 0, fmt.Errorf("length %d greater than maximum %d", length, berMaxLength)
	}
	if !constructed {
		if length > len(b)-n {
			return e, 0, errBERTruncated
		}
		e.content = b[n : n+length]
		if e.identifier&berClassMask == 0 {
			if err := checkUniversalContent(e.tag, e.content); err != nil {
				return e, 0, err
			}
		}
		return e, n + length, nil
	}
	read := 0 // content octets read
	for length == berIndefinite || read < length {
		child, m, err := readBER(b[n+read:], depth+1)
		if err != nil {
			return e, 0, err
		}
		read += m
		if read > berMaxLength {
			return e, 0, fmt.Errorf("length %d greater than maximum %d", read, berMaxLength)
		}
		if child.identifier == 0 && child.tag == 0 && len(child.content) == 0 { // end-of-contents
			if length != berIndefinite {
				return e, 0, errors.New("end-of-contents in an element of definite length")
			}
			break
		}
		e.content = child.appendEncoding(e.content)
	}
	if length != berIndefinite && read > length {
		return e, 0, fmt.Errorf("expected to read %d bytes, read %d", length, read)
	}
	return e, n + read, nil
}

// readIdentifier reads the identifier octets at the start of b into e.
func (e *berElement) readIdentifier(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, errBERTruncated
	}
	e.identifier = b[0] &^ berHighTag
	if e.tag = uint64(b[0] & berHighTag); e.tag != berHighTag {
		return 1, nil
	}
	e.tag = 0
	for n := 1; ; n++ {
		if n == len(b) {
			return 0, errBERTruncated
		}
		e.tag = e.tag<<7 | uint64(b[n]&0x7f)
		switch {
		case n == 1 && e.tag == 0:
			return 0, errors.New("invalid first high-tag-number tag byte")
		case n > 9:
			return 0, errors.New("high-tag-number tag overflow")
		case b[n]&0x80 == 0:
			return n + 1, nil
		}
	}
}

// readBERLength reads the length octets at the start of b: the length, or
// berIndefinite, and the number of octets.
func readBERLength(b []byte) (int, int, error) {
	if len(b) == 0 {
		return 0, 0, errBERTruncated
	}
	switch c := b[0]; {
	case c == 0x80:
		return berIndefinite, 1, nil
	case c < 0x80:
		return int(c), 1, nil
	default: // long form (0xff, reserved, is too long)
		n := int(c & 0x7f)
		if n > 8 {
			return 0, 0, errors.New("long-form length overflow")
		}
		if n >= len(b) {
			return 0, 0, errBERTruncated
		}
		var length uint64
		for _, d := range b[1 : 1+n] {
			length = length<<8 | uint64(d)
		}
		if length > math.MaxInt {
			return 0, 0, errors.New("long-form length overflow")
		}
		return int(length), 1 + n, nil
	}
}

// appendEncoding appends e's encoding with a minimal identifier and
// definite, minimal length.
func (e berElement) appendEncoding(b []byte) []byte {
	if e.tag < berHighTag {
		b = append(b, e.identifier|byte(e.tag))
	} else {
		b = append(b, e.identifier|berHighTag)
		n := 0
		for t := e.tag; t != 0; t >>= 7 {
			n++
		}
		for i := n - 1; i >= 0; i-- {
			octet := byte(e.tag>>(7*i)) & 0x7f
			if i > 0 {
				octet |= 0x80
			}
			b = append(b, octet)
		}
	}
	switch l := len(e.content); {
	case l < 0x80:
		b = append(b, byte(l))
	default:
		n := 0
		for x := l; x != 0; x >>= 8 {
			n++
		}
		b = append(b, 0x80|byte(n))
		for i := n - 1; i >= 0; i-- {
			b = append(b, byte(l>>(8*i)))
		}
	}
	return append(b, e.content...)
}

// checkUniversalContent rejects the contents of primitive universal
// elements go-asn1-ber rejects.
func checkUniversalContent(tag uint64, c []byte) error {
	switch tag {
	case berTagUTF8:
		if !utf8.Valid(c) {
			return errors.New("invalid UTF-8 string")
		}
	case berTagPrintable:
		for i, x := range c {
			if !('a' <= x && x <= 'z' || 'A' <= x && x <= 'Z' || '0' <= x && x <= '9' || strings.IndexByte(`'()+,-./:=? `, x) >= 0) {
				return fmt.Errorf("invalid character in PrintableString at %d", i)
			}
		}
	case berTagIA5:
		if i := slices.IndexFunc(c, func(x byte) bool { return x >= 0x7f }); i >= 0 {
			return fmt.Errorf("invalid character for IA5String at %d", i)
		}
	case berTagGenTime:
		return checkGeneralizedTime(c)
	case berTagReal:
		return checkReal(c)
	}
	return nil
}

// checkGeneralizedTime accepts what go-asn1-ber's ParseGeneralizedTime
// parses: YYYYMMDDHH[MM[SS]] with an optional fraction (of the hour,
// minute or second) and a zone: Z, ±HH or ±HHMM.
func checkGeneralizedTime(c []byte) error {
	s := slices.Clone(c)
	zone := bytes.IndexAny(s, "Z+-")
	if zone < 0 {
		return errors.New("invalid time format: no zone")
	}
	layouts := map[int]string{10: "2006010215Z", 12: "200601021504Z", 14: "20060102150405Z"}
	layout := ""
	switch dot := bytes.IndexAny(s, ".,"); {
	case dot < 0:
		layout = layouts[zone]
	case zone < dot:
	case dot == 10 || dot == 12:
		// A fraction of the hour or minute: it must be a number, and is
		// then left out of the parse.
		s[dot] = '.'
		if _, err := strconv.ParseFloat(string(s[dot:zone]), 64); err != nil {
			return fmt.Errorf("invalid time format: fraction: %w", err)
		}
		s = append(s[:dot], s[zone:]...)
		zone, layout = dot, layouts[dot]
	case dot == 14:
		s[dot] = '.' // time.Parse reads a fraction of the second itself
		layout = layouts[14]
	}
	if layout == "" {
		return errors.New("invalid time format")
	}
	switch len(s) - zone {
	case 1:
		if s[len(s)-1] != 'Z' {
			return errors.New("invalid time format: zone")
		}
	case 3:
		layout += "0700"
		s = append(s, "00"...)
	case 5:
		layout += "0700"
	default:
		return errors.New("invalid time format: zone")
	}
	if _, err := time.Parse(layout, string(s)); err != nil {
		return fmt.Errorf("invalid time format: %w", err)
	}
	return nil
}

// checkReal accepts the REAL contents go-asn1-ber's ParseReal accepts
// (X.690 §8.5): empty for +0; binary (mantissa, base 2, 8 or 16,
// exponent); decimal (ISO 6093 NR1, NR2 or NR3, not zero); the special
// values +∞, -∞, NaN and -0. Any other encoding of zero is rejected.
func checkReal(c []byte) error {
	if len(c) == 0 {
		return nil
	}
	switch info := c[0]; {
	case info&0x80 != 0: // binary
		rest := c[1:]
		var base float64
		switch info & 0x30 {
		case 0x00:
			base = 2
		case 0x10:
			base = 8
		case 0x20:
			base = 16
		default:
			return errors.New("REAL: reserved base")
		}
		expLen := int(info&0x03) + 1
		if expLen == 4 { // the exponent's length is the next octet
			if len(rest) < 2 {
				return errors.New("REAL: truncated exponent")
			}
			if expLen = int(rest[0]); expLen > 8 {
				return errors.New("REAL: exponent too long")
			}
			rest = rest[1:]
		}
		if expLen > len(rest) {
			return errors.New("REAL: truncated exponent")
		}
		exp, mant := signedBigEndian(rest[:expLen]), rest[expLen:]
		if len(mant) > 8 {
			return errors.New("REAL: mantissa too long")
		}
		m := signedBigEndian(mant) << ((info & 0x0c) >> 2)
		if info&0x40 != 0 {
			m = -m
		}
		if v := float64(m) * math.Pow(base, float64(exp)); v == 0 && !math.Signbit(v) {
			return errors.New("REAL: +0 must be encoded as empty contents")
		}
		return nil
	case info&0x40 != 0: // special value
		if len(c) != 1 || info > 0x43 {
			return errors.New("REAL: invalid special value")
		}
		return nil
	default: // decimal
		text := strings.TrimLeft(string(c[1:]), " ")
		var v float64
		var err error
		switch info & 0x3f {
		case 1:
			var i int64
			i, err = strconv.ParseInt(text, 10, 64)
			v = float64(i)
		case 2, 3:
			v, err = strconv.ParseFloat(strings.ReplaceAll(text, ",", "."), 64)
		default:
			return errors.New("REAL: invalid decimal form")
		}
		if err != nil {
			return fmt.Errorf("REAL: %w", err)
		}
		if v == 0 {
			return errors.New("REAL: a decimal zero must be encoded as empty contents or the special value -0")
		}
		return nil
	}
}

// signedBigEndian is the two's complement big-endian integer b (at most 8
// octets; 0 if empty).
func signedBigEndian(b []byte) int64 {
	if len(b) == 0 {
		return 0
	}
	v := int64(int8(b[0]))
	for _, x := range b[1:] {
		v = v<<8 | int64(x)
	}
	return v
}
