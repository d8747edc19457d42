package ad

import "strings"

// EscapeFilter escapes a value for an LDAP filter (RFC 4515 §3): the
// characters *, (, ), \ and NUL become \2a, \28, \29, \5c and \00. It is
// for filters that are stored as data (a dynamic distribution list's
// msExchDynamicDLFilter); the LDAP client builds its own search filters.
func EscapeFilter(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '*':
			b.WriteString(`\2a`)
		case '(':
			b.WriteString(`\28`)
		case ')':
			b.WriteString(`\29`)
		case '\\':
			b.WriteString(`\5c`)
		case 0:
			b.WriteString(`\00`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
