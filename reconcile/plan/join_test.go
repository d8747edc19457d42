package plan

import (
	"slices"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
)

func TestImmutableIDMatchesEntraConnect(t *testing.T) {
	// objectGUID f0bc7fcd-a31e-4f7a-9c71-be9d948c3f6d: the
	// first three groups are little-endian in the bytes Entra Connect
	// base64-encodes.
	got, err := ImmutableID("f0bc7fcd-a31e-4f7a-9c71-be9d948c3f6d")
	if err != nil {
		t.Fatal(err)
	}
	if want := "zX+88B6jek+ccb6dlIw/bQ=="; got != want {
		t.Errorf("ImmutableID = %s, want %s", got, want)
	}
	if _, err := ImmutableID("not-a-guid"); err == nil {
		t.Error("ImmutableID accepted a malformed GUID")
	}
}

func TestJoin(t *testing.T) {
	paired := user("Paired", 1, "paired@contoso.com", "paired@contoso.com")
	bySID := obj(ad.KindGroup, "Group By SID", 2, "sales@contoso.com")
	adOnly := user("New Hire", 3, "new@contoso.com", "new@contoso.com")
	contact := obj(ad.KindContact, "Partner", 4, "partner@example.org")
	excluded := user("Gone", 5, "gone@contoso.com", "gone@contoso.com")
	excluded.DN = "CN=Gone," + excludedOU
	outside := user("Outside", 6, "out@contoso.com", "out@contoso.com")
	outside.DN = "CN=Outside,OU=Other,DC=contoso,DC=com"
	dyn := obj(ad.KindDynamicDL, "All Staff", 7, "all@contoso.com")
	deleted := user("Deleted", 8, "del@contoso.com", "del@contoso.com")
	deleted.Deleted = true
	soa := obj(ad.KindGroup, "Converted", 9, "converted@contoso.com")
	// Converted too, its cloud group showing only the SID (as Graph shows
	// a group: groups have no onPremisesImmutableId).
	soaBySID := obj(ad.KindGroup, "Converted By SID", 14, "converted2@contoso.com")
	// Entra Connect syncs users and security groups without mail too, but
	// not distribution groups that are not mail-enabled.
	noMail := user("No Mail", 10, "nomail@contoso.com", "")
	security := obj(ad.KindGroup, "Server Admins", 12, "")
	security.GroupType = &ad.GroupType{Scope: ad.ScopeGlobal, Security: true}
	plainDL := obj(ad.KindGroup, "Plain DL", 13, "")
	badGUID := user("Bad Anchor", 11, "bad@contoso.com", "bad@contoso.com")
	badGUID.GUID = "nonsense"
	// Read twice through overlapping scopes.
	again := *paired

	cl := []*cloud.Object{
		{Kind: cloud.KindUser, ID: "c-paired", OnPremisesSyncEnabled: true, OnPremisesImmutableID: iid(t, paired.GUID)},
		{Kind: cloud.KindGroup, ID: "c-sid", OnPremisesSyncEnabled: true, OnPremisesImmutableID: "other-anchor", OnPremisesSID: strings.ToLower(bySID.SID)},
		{Kind: cloud.KindUser, ID: "c-contact-as-user", OnPremisesSyncEnabled: true, OnPremisesImmutableID: iid(t, contact.GUID)},
		{Kind: cloud.KindUser, ID: "c-excluded", OnPremisesSyncEnabled: true, OnPremisesImmutableID: iid(t, excluded.GUID), OnPremisesDN: excluded.DN},
		{Kind: cloud.KindUser, ID: "c-unknown", OnPremisesSyncEnabled: true, OnPremisesImmutableID: "dW5rbm93bg=="},
		{Kind: cloud.KindGroup, ID: "c-soa", OnPremisesSyncEnabled: false, OnPremisesImmutableID: iid(t, soa.GUID)},
		{Kind: cloud.KindGroup, ID: "c-soa-sid", OnPremisesSyncEnabled: false, OnPremisesSID: soaBySID.SID, Mail: "converted2@contoso.com"},
		// A cloud-managed copy sorting before the synced twin of the
		// same group: the synced twin wins the join.
		{Kind: cloud.KindGroup, ID: "c-a-stale-copy", OnPremisesSID: strings.ToLower(bySID.SID)},
		{Kind: cloud.KindGroup, ID: "c-cloudonly", Mail: "team@contoso.com"},
		{Kind: cloud.KindUser, ID: "c-removed", OnPremisesSyncEnabled: true, OnPremisesImmutableID: "cmVtb3ZlZA==", Removed: &cloud.Removal{Reason: "deleted"}},
		{Kind: cloud.KindUser, ID: "c-nomail", OnPremisesSyncEnabled: true, OnPremisesImmutableID: iid(t, noMail.GUID)},
		{Kind: cloud.KindGroup, ID: "c-security", OnPremisesSyncEnabled: true, OnPremisesSID: security.SID, SecurityEnabled: true},
		{Kind: cloud.KindGroup, ID: "c-plaindl", OnPremisesSyncEnabled: true, OnPremisesSID: plainDL.SID},
	}
	a := adSnap(paired, bySID, adOnly, contact, excluded, outside, dyn, deleted, soa, soaBySID, noMail, security, plainDL, badGUID, &again)
	a.Scope = ad.NewSyncScope(append(a.Scope.OUs(), "OU=Sync,DC=contoso,DC=com"), a.Scope.Exclude()) // overlapping scope
	j := JoinSnapshots(a, cloudSnap(cl...), Options{})

	pairs := func(ps []Pair) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.AD.Name+"="+p.Cloud.ID+" by "+p.By)
		}
		return out
	}
	if got, want := pairs(j.Pairs), []string{"Group By SID=c-sid by onPremisesSecurityIdentifier", "No Mail=c-nomail by onPremisesImmutableId",
		"Paired=c-paired by onPremisesImmutableId", "Server Admins=c-security by onPremisesSecurityIdentifier"}; !slices.Equal(got, want) {
		t.Errorf("Pairs = %q, want %q", got, want)
	}
	if got, want := pairs(j.TypeMismatches), []string{"Partner=c-contact-as-user by onPremisesImmutableId"}; !slices.Equal(got, want) {
		t.Errorf("TypeMismatches = %q, want %q", got, want)
	}
	if got, want := pairs(j.CloudManaged), []string{"Converted By SID=c-soa-sid by onPremisesSecurityIdentifier", "Converted=c-soa by onPremisesImmutableId"}; !slices.Equal(got, want) {
		t.Errorf("CloudManaged = %q, want %q", got, want)
	}
	if len(j.ADOnly) != 1 || j.ADOnly[0] != adOnly {
		t.Errorf("ADOnly = %v, want [New Hire]", j.ADOnly)
	}
	var orphans []string
	for _, o := range j.Orphans {
		s := o.Cloud.ID
		if o.Source != nil {
			s += " <- " + o.Source.Name + ": " + o.SourceReason
		}
		orphans = append(orphans, s)
	}
	if want := []string{"c-excluded <- Gone: it is under the excluded " + excludedOU, "c-plaindl <- Plain DL: it is a distribution group that is not mail-enabled", "c-unknown"}; !slices.Equal(orphans, want) {
		t.Errorf("Orphans = %q, want %q", orphans, want)
	}
	var cloudOnly []string
	for _, o := range j.CloudOnly {
		cloudOnly = append(cloudOnly, o.ID)
	}
	if want := []string{"c-a-stale-copy", "c-cloudonly"}; !slices.Equal(cloudOnly, want) {
		t.Errorf("CloudOnly = %q, want %q", cloudOnly, want)
	}
	if len(j.Unanchored) != 1 || j.Unanchored[0].AD != badGUID {
		t.Errorf("Unanchored = %v, want [Bad Anchor]", j.Unanchored)
	}
	// paired (once), bySID, adOnly, contact, soa, noMail, security, badGUID.
	if j.InScope != 9 {
		t.Errorf("InScope = %d, want 9", j.InScope)
	}
}

func TestJoinConsistencyGuidAnchor(t *testing.T) {
	u := user("Migrated", 1, "m@contoso.com", "m@contoso.com")
	// mS-DS-ConsistencyGuid differs from objectGUID (a user migrated from
	// another forest): the cloud twin carries its anchor.
	u.ConsistencyGUID = guid(42)
	c := cloudSnap(&cloud.Object{Kind: cloud.KindUser, ID: "c1", OnPremisesSyncEnabled: true, OnPremisesImmutableID: iid(t, guid(42))})
	if j := JoinSnapshots(adSnap(u), c, Options{Anchor: AnchorConsistencyGUID}); len(j.Pairs) != 1 {
		t.Errorf("with the consistency-guid anchor: %d pairs, want 1", len(j.Pairs))
	}
	if j := JoinSnapshots(adSnap(u), c, Options{}); len(j.Pairs) != 0 || len(j.ADOnly) != 1 || len(j.Orphans) != 1 {
		t.Errorf("with objectGUID: pairs %d, AD only %d, orphans %d; want 0, 1, 1", len(j.Pairs), len(j.ADOnly), len(j.Orphans))
	}
}

// Graph's orgContact has no onPremisesImmutableId: synced contacts join
// their AD source by a shared SMTP address instead of becoming orphans.
func TestJoinContactsByAddress(t *testing.T) {
	r := &ad.Recipient{DN: "CN=Partner,OU=Contacts,OU=Sync,DC=x", GUID: "99d23538-1a9f-4ff0-bb29-b518323cbacc", Kind: ad.KindContact,
		Mail: "partner@fabrikam.test", ProxyAddresses: ad.ParseProxyAddresses([]string{"SMTP:partner@fabrikam.test"})}
	o := &cloud.Object{Kind: cloud.KindContact, ID: "c1", Mail: "Partner@Fabrikam.test", ProxyAddresses: []string{"SMTP:partner@fabrikam.test"}, OnPremisesSyncEnabled: true}
	j := JoinSnapshots(ADSnapshot{Objects: []*ad.Recipient{r}, Complete: true, Scope: ad.NewSyncScope([]string{"OU=Sync,DC=x"}, nil)},
		CloudSnapshot{Objects: []*cloud.Object{o}, Complete: true}, Options{})
	if len(j.Pairs) != 1 || j.Pairs[0].By != ByAddress || len(j.ADOnly) != 0 || len(j.Orphans) != 0 {
		t.Fatalf("join %+v", j)
	}
}
