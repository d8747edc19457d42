package adldap

import (
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// Filter helpers build RFC 4515 filters from raw values. Each escapes its
// value exactly once; compose their results with And/Or/Not, which do not
// escape again.

// Eq returns (attr=value) with value escaped.
func Eq(attr, value string) string { return "(" + attr + "=" + ldap.EscapeFilter(value) + ")" }

// Present returns (attr=*).
func Present(attr string) string { return "(" + attr + "=*)" }

// GE returns (attr>=value) with value escaped.
func GE(attr, value string) string { return "(" + attr + ">=" + ldap.EscapeFilter(value) + ")" }

// EqBinary returns (attr=\xx\xx...) for a binary value such as objectGUID.
func EqBinary(attr string, value []byte) string {
	return "(" + attr + "=" + binaryFilterValue(value) + ")"
}

// And joins already-built filters.
func And(filters ...string) string { return "(&" + strings.Join(filters, "") + ")" }

// Or joins already-built filters.
func Or(filters ...string) string { return "(|" + strings.Join(filters, "") + ")" }

// Not negates an already-built filter.
func Not(filter string) string { return "(!" + filter + ")" }

// binaryFilterValue escapes every byte of a binary value for an LDAP
// filter (RFC 4515 §3), the form AD expects for objectGUID and objectSid.
func binaryFilterValue(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		fmt.Fprintf(&sb, `\%02x`, c)
	}
	return sb.String()
}
