package labtest

import (
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/lab"
)

// X500OnlyMailChange creates a mail-only user under ou whose proxyAddresses
// holds only an x500 value (as Exchange hybrid writes back), syncs it,
// changes its mail in AD and syncs again: ProxyCalc reads proxyAddresses,
// not mail, so the cloud keeps the old address (KB 3190357). It returns the
// user as read now.
func (l *Lab) X500OnlyMailChange(t testing.TB, ou, tag string) *ad.Recipient {
	t.Helper()
	c := l.Client(t)
	ctx := t.Context()
	dom := l.Manifest.MailDomain
	ouName, err := ad.RDNValue(ou)
	if err != nil {
		t.Fatal(err)
	}
	alias := tag + "-" + strings.ToLower(ouName[len(ouName)-8:])
	userDN := ad.ChildDN("CN", "X500 Only "+alias, ou)
	err = c.Add(ctx, userDN, []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "user"}},
		{Name: "sAMAccountName", Values: []string{alias}},
		{Name: "userPrincipalName", Values: []string{alias + "@" + dom}},
		{Name: "mail", Values: []string{alias + "@" + dom}},
		{Name: "proxyAddresses", Values: []string{"x500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=" + alias}},
	})
	if err != nil {
		t.Fatal(err)
	}
	l.Sync(t)
	if err := c.Modify(ctx, userDN, ad.Change{Op: ad.ReplaceValues, Attr: "mail", Values: []string{"renamed-" + alias + "@" + dom}}); err != nil {
		t.Fatal(err)
	}
	l.Sync(t)
	u, err := c.ReadRecipient(ctx, userDN)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Sync runs one cycle of the lab's simulated Entra Connect and waits for it.
func (l *Lab) Sync(t testing.TB) {
	t.Helper()
	if _, err := lab.TriggerSync(t.Context(), l.State.Dir); err != nil {
		t.Fatalf("lab sync: %v", err)
	}
}
