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
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return errors.New("domain " + domain + " is not fully qualified")
	}
	for _, l := range labels {
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
	if tld := labels[len(labels)-1]; strings.Trim(tld, "0123456789") == "" {
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
	d := strings.ToLower(domain)
	for _, s := range reservedSuffixes {
		if d == s || strings.HasSuffix(d, "."+s) {
			return true
		}
	}
	return false
}
