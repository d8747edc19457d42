package proxycalc

import (
	"errors"
	"strings"
)

// Limits from RFC 5321 section 4.5.3.1 (RFC 5322 itself sets none).
const (
	maxAddressLen = 254
	maxLocalLen   = 64
	maxDomainLen  = 253
	maxLabelLen   = 63
)

// ValidateAddress reports whether addr (no type prefix) is an address
// ProxyCalc accepts: an RFC 5322 addr-spec restricted to what Exchange
// Online takes, namely
//
//   - a dot-atom local part: atext characters (letters, digits and
//     !#$%&'*+-/=?^_`{|}~) separated by single dots, no leading or trailing
//     dot; quoted strings and comments are rejected;
//   - exactly one '@';
//   - a domain of two or more host-name labels (letters, digits, inner
//     hyphens, 1-63 characters each), not all-numeric at the top level;
//     domain literals ([192.0.2.1]) are rejected;
//   - ASCII only, no spaces or control characters, within the RFC 5321
//     length limits.
//
// The error says what is wrong in words an admin understands.
func ValidateAddress(addr string) error {
	if validAddress(addr) {
		return nil
	}
	return validateAddress(addr)
}

// validateAddress is ValidateAddress checking rule by rule, to say what is
// wrong.
func validateAddress(addr string) error {
	if addr == "" {
		return errors.New("empty address")
	}
	for i := 0; i < len(addr); i++ {
		switch c := addr[i]; {
		case c == ' ' || c == '\t':
			return errors.New("contains a space")
		case c < 0x20 || c == 0x7f:
			return errors.New("contains a control character")
		case c >= 0x80:
			return errors.New("contains a non-ASCII character")
		}
	}
	if len(addr) > maxAddressLen {
		return errors.New("longer than 254 characters")
	}
	switch n := strings.Count(addr, "@"); {
	case n == 0:
		return errors.New("has no '@'")
	case n > 1:
		return errors.New("has more than one '@'")
	}
	at := strings.IndexByte(addr, '@')
	local, domain := addr[:at], addr[at+1:]
	if err := validateLocal(local); err != nil {
		return err
	}
	return validateDomain(domain)
}

// validAddress reports whether ValidateAddress accepts addr, in one pass
// and without allocating; ValidateAddress then explains a refusal.
func validAddress(addr string) bool {
	n := len(addr)
	if n == 0 || n > maxAddressLen {
		return false
	}
	// The local part: atext separated by single dots.
	at := 0
	for ; at < n && addr[at] != '@'; at++ {
		c := addr[at]
		if c == '.' {
			if at == 0 || addr[at-1] == '.' {
				return false
			}
			continue
		}
		if addrClass[c]&atextClass == 0 {
			return false
		}
	}
	if at == 0 || at == n || at > maxLocalLen || addr[at-1] == '.' {
		return false
	}
	// The domain: two or more labels of letters, digits and inner hyphens.
	domain := addr[at+1:]
	if len(domain) == 0 || len(domain) > maxDomainLen {
		return false
	}
	labels, start, digitsOnly := 0, 0, true
	for i := 0; i <= len(domain); i++ {
		if i == len(domain) || domain[i] == '.' {
			l := domain[start:i]
			if l == "" || len(l) > maxLabelLen || l[0] == '-' || l[len(l)-1] == '-' {
				return false
			}
			labels++
			if i == len(domain) {
				break
			}
			start, digitsOnly = i+1, true
			continue
		}
		c := domain[i]
		if addrClass[c]&labelClass == 0 {
			return false // '@' included: a second one
		}
		if c < '0' || c > '9' {
			digitsOnly = false
		}
	}
	return labels >= 2 && !digitsOnly
}

// Character classes of validAddress.
const (
	atextClass = 1 << iota
	labelClass
)

var addrClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		alnum := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
		if alnum || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", b) >= 0 {
			t[c] |= atextClass
		}
		if alnum || b == '-' {
			t[c] |= labelClass
		}
	}
	return t
}()

func validateLocal(local string) error {
	switch {
	case local == "":
		return errors.New("empty local part")
	case len(local) > maxLocalLen:
		return errors.New("local part longer than 64 characters")
	case strings.ContainsAny(local, `"`):
		return errors.New("quoted local parts are not accepted")
	case local[0] == '.' || local[len(local)-1] == '.':
		return errors.New("local part starts or ends with a dot")
	case strings.Contains(local, ".."):
		return errors.New("local part has two dots in a row")
	}
	for i := 0; i < len(local); i++ {
		if c := local[i]; c != '.' && !isAtext(c) {
			return errors.New("local part has the invalid character " + quoteByte(c))
		}
	}
	return nil
}

func isAtext(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func validateDomain(domain string) error {
	switch {
	case domain == "":
		return errors.New("empty domain")
	case domain[0] == '[':
		return errors.New("domain literals are not accepted")
	case len(domain) > maxDomainLen:
		return errors.New("domain longer than 253 characters")
	}
	if strings.IndexByte(domain, '.') < 0 {
		return errors.New("domain " + domain + " is not fully qualified")
	}
	var tld string
	for rest, more := domain, true; more; {
		var l string
		l, rest, more = strings.Cut(rest, ".")
		tld = l
		switch {
		case l == "":
			return errors.New("domain has an empty label")
		case len(l) > maxLabelLen:
			return errors.New("domain label longer than 63 characters")
		case l[0] == '-' || l[len(l)-1] == '-':
			return errors.New("domain label starts or ends with a hyphen")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return errors.New("domain has the invalid character " + quoteByte(c))
			}
		}
	}
	if strings.Trim(tld, "0123456789") == "" {
		return errors.New("top-level domain is numeric")
	}
	return nil
}

func quoteByte(c byte) string { return "'" + string(rune(c)) + "'" }

// domainOf returns the text after the last '@', or "".
func domainOf(addr string) string {
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		return addr[at+1:]
	}
	return ""
}

// localOf returns the text before the last '@' (all of addr if none).
func localOf(addr string) string {
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		return addr[:at]
	}
	return addr
}

// reservedSuffixes are the domains whose addresses ProxyCalc never accepts
// from on-premises (KB 3190357): the domains themselves and every subdomain.
var reservedSuffixes = []string{"onmicrosoft.com", "microsoftonline.com"}

// IsReservedDomain reports whether domain is onmicrosoft.com,
// microsoftonline.com or a subdomain of either, case-insensitively.
func IsReservedDomain(domain string) bool {
	if ascii, reserved := reservedASCII(domain); ascii {
		return reserved
	}
	return isReservedLower(domain)
}

// isReservedLower is IsReservedDomain on a lower-cased copy of domain.
func isReservedLower(domain string) bool {
	d := strings.ToLower(domain)
	for _, s := range reservedSuffixes {
		if d == s || strings.HasSuffix(d, "."+s) {
			return true
		}
	}
	return false
}

// reservedASCII is IsReservedDomain for an ASCII domain (ascii true),
// comparing without lower-casing a copy.
func reservedASCII(d string) (ascii, reserved bool) {
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			return false, false
		}
	}
	for _, s := range reservedSuffixes {
		if n := len(d) - len(s); n >= 0 && strings.EqualFold(d[n:], s) && (n == 0 || n > 0 && d[n-1] == '.') {
			return true, true
		}
	}
	return true, false
}
