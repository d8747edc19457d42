package plan

import (
	"slices"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
)

const migrationID = "0000abcd-0000-4000-8000-00000000abcd"

// migratedFixture is a list migrated by recreate: the synced user Jane
// (so that the AD read is not empty), the on-premises dynamic list "Sales"
// with its routing contact in the no-sync OU, and the cloud list holding
// the routing address, whose primary is cloudPrimary.
func migratedFixture(t *testing.T, cloudPrimary string) (ADSnapshot, CloudSnapshot) {
	t.Helper()
	jane := user("Jane Doe", 1, "jane@contoso.com", "jane@contoso.com", "SMTP:jane@contoso.com")
	a := license(adSnap(jane), jane)
	c := simulateSync(t, a, cloudSnap())
	marked := map[string]string{"extensionAttribute1": ad.RoutingMarker, "extensionAttribute2": migrationID}
	dl := obj(ad.KindDynamicDL, "Sales", 20, "sales@contoso.com", "SMTP:sales@contoso.com", "smtp:sales-old@contoso.com", "X500:/o=Contoso/cn=Recipients/cn=sales")
	dl.ObjectClass = []string{"top", "msExchDynamicDistributionList"}
	dl.DynamicFilter, dl.ExtensionAttributes = ad.RoutingFilter(migrationID), marked
	contact := obj(ad.KindContact, "hybridsync-routing-0000abcd", 21, "sales@contoso.mail.onmicrosoft.com", "SMTP:sales@contoso.mail.onmicrosoft.com")
	contact.DN = "CN=hybridsync-routing-0000abcd,OU=NoSync,DC=contoso,DC=com"
	contact.TargetAddress, contact.ExtensionAttributes = "SMTP:sales@contoso.mail.onmicrosoft.com", marked
	// A dynamic list an admin made, not a migration's: never a finding.
	other := obj(ad.KindDynamicDL, "All Staff", 22, "allstaff@contoso.com", "SMTP:allstaff@contoso.com")
	a.Routing = []*ad.Recipient{dl, contact, other}
	addrs := []string{"SMTP:" + cloudPrimary, "smtp:sales-old@contoso.com", "smtp:sales@contoso.mail.onmicrosoft.com"}
	if !strings.EqualFold(cloudPrimary, "sales@contoso.com") {
		addrs = append(addrs, "smtp:sales@contoso.com")
	}
	c.Objects = append(c.Objects, &cloud.Object{Kind: cloud.KindGroup, ID: "g-sales", DisplayName: "Sales", Mail: cloudPrimary,
		MailEnabled: true, ProxyAddresses: addrs})
	return a, c
}

func TestMigratedListAddressInAgreement(t *testing.T) {
	a, c := migratedFixture(t, "sales@contoso.com")
	if p := build(t, a, c, Options{}); len(findingsOf(p, MigratedListAddress)) != 0 || len(p.Actions) != 0 {
		t.Errorf("a migrated list in agreement: %q, %d actions", kinds(p), len(p.Actions))
	}
}

func TestMigratedListAddressChangedInTheCloud(t *testing.T) {
	a, c := migratedFixture(t, "team@contoso.com")
	p := build(t, a, c, Options{})
	fs := findingsOf(p, MigratedListAddress)
	if len(fs) != 1 || len(p.Actions) != 1 {
		t.Fatalf("findings %q, %d actions; want one MigratedListAddress with its action", kinds(p), len(p.Actions))
	}
	f, act := fs[0], p.Actions[0]
	if f.Severity != SeverityError || f.CloudID != "g-sales" || f.Action == nil || f.Action.ObjectGUID != act.ObjectGUID {
		t.Errorf("finding %+v", f)
	}
	if act.Kind != ActionMigratedListAddress || act.Mail != "sales@contoso.com" || act.NewMail != "team@contoso.com" ||
		!slices.Equal(act.Delete, []string{"SMTP:sales@contoso.com"}) || !slices.Equal(act.Add, []string{"smtp:sales@contoso.com", "SMTP:team@contoso.com"}) {
		t.Errorf("action %+v", act)
	}
	// The modify asserts the planned mail and replaces it.
	ch := act.Changes()
	if len(ch) != 4 || ch[0].Op != ad.DeleteValues || ch[0].Values[0] != "sales@contoso.com" || ch[1].Op != ad.AddValues || ch[1].Values[0] != "team@contoso.com" {
		t.Errorf("changes %+v", ch)
	}
	// Applied, the dynamic list carries the cloud's primary, and the plan
	// has nothing more to say.
	dl := a.Routing[0]
	fixed, err := act.Apply(dl)
	if err != nil {
		t.Fatal(err)
	}
	if fixed.Mail != "team@contoso.com" || !slices.Contains(fixed.ProxyAddresses.Raw(), "smtp:sales@contoso.com") {
		t.Errorf("applied: mail %s proxies %q", fixed.Mail, fixed.ProxyAddresses.Raw())
	}
	a.Routing[0] = fixed
	if p := build(t, a, c, Options{}); len(findingsOf(p, MigratedListAddress)) != 0 {
		t.Errorf("after the fix: %q", kinds(p))
	}
	golden(t, "render-migrated.golden", render(t, build(t, a2(t), c, Options{})))
	golden(t, "render-migrated-verbose.golden", renderVerbose(t, build(t, a2(t), c, Options{})))
}

// a2 is the fixture's AD snapshot, unfixed.
func a2(t *testing.T) ADSnapshot {
	a, _ := migratedFixture(t, "team@contoso.com")
	return a
}

// Without its routing contact (or with a filter naming another one), a
// dynamic list is not known as a migrated list's: nothing is proposed.
func TestMigratedListAddressNeedsTheRoutingContact(t *testing.T) {
	a, c := migratedFixture(t, "team@contoso.com")
	a.Routing = a.Routing[:1]
	if p := build(t, a, c, Options{}); len(findingsOf(p, MigratedListAddress)) != 0 {
		t.Errorf("no routing contact: %q", kinds(p))
	}
	a, c = migratedFixture(t, "team@contoso.com")
	a.Routing[0].DynamicFilter = ad.RoutingFilter("another")
	if p := build(t, a, c, Options{}); len(findingsOf(p, MigratedListAddress)) != 0 {
		t.Errorf("a filter naming another contact: %q", kinds(p))
	}
}
