package labtest

import (
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
)

// OUSuffix is the last eight characters of a test OU's name (lower case),
// unique per OU: tests append it to names and aliases that must be unique
// in the domain or the tenant.
func OUSuffix(t testing.TB, ou string) string {
	t.Helper()
	name, err := ad.RDNValue(ou)
	if err != nil || len(name) < 8 {
		t.Fatalf("test OU %q: %v", ou, err)
	}
	return strings.ToLower(name[len(name)-8:])
}

// AddMailUser creates a mail-enabled user alias under ou, with its
// UPN, mail and primary SMTP address alias@ the lab's mail domain, and
// returns it as read back.
func (l *Lab) AddMailUser(t testing.TB, ou, alias string) *ad.Recipient {
	t.Helper()
	c := l.Client(t)
	addr := alias + "@" + l.Manifest.MailDomain
	dn := ad.ChildDN("CN", alias, ou)
	if err := c.Add(t.Context(), dn, []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "user"}},
		{Name: "sAMAccountName", Values: []string{alias}},
		{Name: "userPrincipalName", Values: []string{addr}},
		{Name: "mail", Values: []string{addr}},
		{Name: "proxyAddresses", Values: []string{"SMTP:" + addr}},
	}); err != nil {
		t.Fatal(err)
	}
	r, err := c.ReadRecipient(t.Context(), dn)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
