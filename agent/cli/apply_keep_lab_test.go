package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/reconcile/journal"
)

// A mail user whose proxyAddresses hold only an x500 value (Exchange
// hybrid's write-back) and whose mail changed keeps its old address as
// its cloud primary (KB 3190357: without an SMTP value in proxyAddresses
// the cloud keeps the previous primary). The dual write must keep that
// address as a secondary in the same modify: otherwise the next sync
// drops it from the cloud and mail to it bounces. Here the UPN differs
// from the old address, so nothing else keeps it.
func TestLabApplyKeepsTheCloudPrimaryAsASecondary(t *testing.T) {
	for _, tc := range []struct {
		name     string
		licensed bool
		// upnIsOld makes the UPN the old address: the cloud would keep it
		// through its UPN rule alone, until the UPN changes.
		upnIsOld bool
	}{
		{"mail user", false, false},
		{"licensed mailbox", true, false},
		{"mail user whose UPN is the old address", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) { testKeepCloudPrimary(t, tc.licensed, tc.upnIsOld) })
	}
}

func testKeepCloudPrimary(t *testing.T, licensed, upnIsOld bool) {
	l := labtest.Get(t)
	ou := l.SyncedOU(t)
	c := l.Client(t)
	ctx := t.Context()
	dom := l.Manifest.MailDomain
	name, err := ad.RDNValue(ou)
	if err != nil {
		t.Fatal(err)
	}
	alias := "keep-" + strings.ToLower(name[len(name)-8:])
	old, renamed := alias+"@"+dom, "renamed-"+alias+"@"+dom
	x500 := "x500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=" + alias
	dn := ad.ChildDN("CN", "Keep "+alias, ou)
	upn := "upn." + alias + "@" + dom
	if upnIsOld {
		upn = old
	}
	if err := c.Add(ctx, dn, []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "user"}},
		{Name: "sAMAccountName", Values: []string{alias}},
		{Name: "userPrincipalName", Values: []string{upn}},
		{Name: "mail", Values: []string{old}},
		{Name: "proxyAddresses", Values: []string{x500}},
	}); err != nil {
		t.Fatal(err)
	}
	if licensed {
		lic := ad.Change{Op: ad.AddValues, Attr: "member", Values: []string{dn}}
		if err := c.Modify(ctx, l.Manifest.LicenseGroup, lic); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			lic.Op = ad.DeleteValues
			_ = c.Modify(ctx, l.Manifest.LicenseGroup, lic)
		})
	}
	l.Sync(t)
	if err := c.Modify(ctx, dn, ad.Change{Op: ad.ReplaceValues, Attr: "mail", Values: []string{renamed}}); err != nil {
		t.Fatal(err)
	}
	l.Sync(t)
	user, err := c.ReadRecipient(ctx, dn)
	if err != nil {
		t.Fatal(err)
	}
	tenant := labTenant(t, l)
	if twin := findByImmutableID(t, tenant, cloud.KindUser, user.GUID); twin == nil || !strings.EqualFold(twin.Mail, old) {
		t.Fatalf("setup: the cloud twin should keep %s as its primary: %+v", old, twin)
	}

	cfg, _ := scopedConfig(t, l, ou)
	code, out, errOut := applyWhileSyncing(t, l, "apply", "-c", cfg, "--auto-approve", "--verify-timeout", "3m", "--verify-interval", "1s")
	if code != 0 || !strings.Contains(out, "1 applied") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	want := []string{"SMTP:" + renamed, "smtp:" + old, x500}
	slices.Sort(want)
	if got := sortedProxyAddresses(t, l, dn); !slices.Equal(got, want) {
		t.Fatalf("AD after apply %q, want %q (the cloud's primary kept as a secondary in the same modify)", got, want)
	}
	// After the next sync cycle the tenant still holds the old address.
	l.Sync(t)
	twin := findByImmutableID(t, tenant, cloud.KindUser, user.GUID)
	if twin == nil || !strings.EqualFold(twin.Mail, renamed) ||
		!slices.ContainsFunc(twin.ProxyAddresses, func(v string) bool { return v == "smtp:"+old }) {
		t.Fatalf("tenant after the sync: %+v, want primary %s and smtp:%s kept", twin, renamed, old)
	}

	// undo takes both values away again.
	es := journalEntries(t, cfg, "--state", "done")
	if len(es) != 1 {
		t.Fatalf("journal: %+v", es)
	}
	if code, out, errOut := runCLI(t, "undo", "-c", cfg, es[0].ID); code != 0 {
		t.Fatalf("undo: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := sortedProxyAddresses(t, l, dn); !slices.Equal(got, []string{x500}) {
		t.Fatalf("AD after undo %q, want only %s", got, x500)
	}
	if e := journalEntries(t, cfg, "--state", string(journal.Undone)); len(e) != 1 {
		t.Fatalf("undone entries %+v", e)
	}
}
