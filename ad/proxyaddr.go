package ad

import (
	"errors"
	"fmt"
	"strings"
)

// ProxyAddress is one value of the proxyAddresses attribute: a type prefix,
// a colon and an address, e.g. "SMTP:jane@contoso.com".
//
// Exchange's convention (and ProxyCalc's, KB 3190357): an upper-case prefix
// marks the primary address of that type ("SMTP:" is the reply address), a
// lower-case one a secondary ("smtp:"). Other types include X500 (legacy
// Exchange DNs, used for reply-to-old-address routing), SIP, X400, EUM.
type ProxyAddress struct {
	// Prefix is the type as written, case preserved ("SMTP", "smtp", "x500").
	Prefix string `json:"prefix"`
	// Address is everything after the first colon, verbatim.
	Address string `json:"address"`
}

// Well-known address types, upper-cased.
const (
	TypeSMTP = "SMTP"
	TypeX500 = "X500"
	TypeX400 = "X400"
	TypeSIP  = "SIP"
	TypeEUM  = "EUM"
)

// maxPrefixLen is the longest type prefix Exchange accepts.
const maxPrefixLen = 9

// ErrMalformedProxyAddress is wrapped by ParseProxyAddress failures.
var ErrMalformedProxyAddress = errors.New("malformed proxy address")

// ParseProxyAddress parses one proxyAddresses value. It accepts any value of
// the form PREFIX:ADDRESS where PREFIX is 1-9 ASCII letters or digits and
// ADDRESS is non-empty; whether an SMTP address is a valid RFC 5322 address
// is a separate question (see SMTPDomain and the reconcile package). For
// every value it accepts, String() returns the input unchanged.
func ParseProxyAddress(s string) (ProxyAddress, error) {
	i := strings.IndexByte(s, ':')
	if i < 0 {
		return ProxyAddress{}, fmt.Errorf("%w %q: no type prefix (want TYPE:address, e.g. smtp:user@example.com)", ErrMalformedProxyAddress, s)
	}
	prefix, addr := s[:i], s[i+1:]
	if prefix == "" || len(prefix) > maxPrefixLen {
		return ProxyAddress{}, fmt.Errorf("%w %q: type prefix must be 1-%d characters", ErrMalformedProxyAddress, s, maxPrefixLen)
	}
	for j := 0; j < len(prefix); j++ {
		c := prefix[j]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return ProxyAddress{}, fmt.Errorf("%w %q: type prefix %q has a character other than a letter or digit", ErrMalformedProxyAddress, s, prefix)
		}
	}
	if addr == "" {
		return ProxyAddress{}, fmt.Errorf("%w %q: empty address", ErrMalformedProxyAddress, s)
	}
	return ProxyAddress{Prefix: prefix, Address: addr}, nil
}

// String returns the value as stored in AD.
func (p ProxyAddress) String() string { return p.Prefix + ":" + p.Address }

// Type returns the upper-cased type ("SMTP", "X500", ...).
func (p ProxyAddress) Type() string {
	// The well-known types without allocating an upper-cased copy.
	for _, t := range [...]string{TypeSMTP, TypeX500, TypeSIP, TypeEUM, TypeX400} {
		if isTypeASCII(p.Prefix, t) {
			return t
		}
	}
	return strings.ToUpper(p.Prefix)
}

// isTypeASCII reports whether prefix is the upper-case ASCII type t in any
// case (ASCII letters and digits only), so that strings.ToUpper(prefix) is t.
func isTypeASCII(prefix, t string) bool {
	if len(prefix) != len(t) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := prefix[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != t[i] {
			return false
		}
	}
	return true
}

// IsPrimary reports whether the prefix is written in capitals: the primary
// address of its type.
func (p ProxyAddress) IsPrimary() bool {
	upper := false
	for i := 0; i < len(p.Prefix); i++ {
		switch c := p.Prefix[i]; {
		case c >= 0x80:
			return p.Prefix == strings.ToUpper(p.Prefix) && p.Prefix != strings.ToLower(p.Prefix)
		case 'a' <= c && c <= 'z':
			return false
		case 'A' <= c && c <= 'Z':
			upper = true
		}
	}
	// ASCII: no lower-case letter and at least one upper-case one.
	return upper
}

// IsSMTP reports whether this is an SMTP address, primary or secondary.
func (p ProxyAddress) IsSMTP() bool {
	if isTypeASCII(p.Prefix, TypeSMTP) {
		return true
	}
	for i := 0; i < len(p.Prefix); i++ {
		if p.Prefix[i] >= 0x80 {
			return p.Type() == TypeSMTP
		}
	}
	return false // ASCII: upper-cased, it is not "SMTP"
}

// SMTPDomain returns the lower-cased domain of an SMTP address, or "" when
// p is not SMTP or has no single '@' with text on both sides.
func (p ProxyAddress) SMTPDomain() string {
	if !p.IsSMTP() {
		return ""
	}
	at := strings.LastIndexByte(p.Address, '@')
	if at <= 0 || at == len(p.Address)-1 || strings.Count(p.Address, "@") != 1 {
		return ""
	}
	return strings.ToLower(p.Address[at+1:])
}

// ProxyAddresses is a parsed proxyAddresses attribute. Values that did not
// parse are kept in Malformed, verbatim, so that nothing read is dropped.
type ProxyAddresses struct {
	Values    []ProxyAddress `json:"values,omitempty"`
	Malformed []string       `json:"malformed,omitempty"`
}

// ParseProxyAddresses parses every value, keeping the order of the input.
func ParseProxyAddresses(values []string) ProxyAddresses {
	var out ProxyAddresses
	for _, v := range values {
		p, err := ParseProxyAddress(v)
		if err != nil {
			out.Malformed = append(out.Malformed, v)
			continue
		}
		out.Values = append(out.Values, p)
	}
	return out
}

// PrimarySMTP returns the "SMTP:" value. ok is false when there is none.
// When AD holds more than one (which Exchange forbids but LDAP allows), the
// first is returned and Validate reports the rest.
func (ps ProxyAddresses) PrimarySMTP() (ProxyAddress, bool) {
	for _, p := range ps.Values {
		if p.IsSMTP() && p.IsPrimary() {
			return p, true
		}
	}
	return ProxyAddress{}, false
}

// OfType returns the values of one type (case-insensitive), in order.
func (ps ProxyAddresses) OfType(t string) []ProxyAddress {
	var out []ProxyAddress
	for _, p := range ps.Values {
		if strings.EqualFold(p.Prefix, t) {
			out = append(out, p)
		}
	}
	return out
}

// Raw returns the values as stored in AD, malformed ones included, parsed
// ones first in input order.
func (ps ProxyAddresses) Raw() []string {
	out := make([]string, 0, len(ps.Values)+len(ps.Malformed))
	for _, p := range ps.Values {
		out = append(out, p.String())
	}
	return append(out, ps.Malformed...)
}
