package exo_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/cloud/emulator"
	"github.com/hybridsync/hybridsync/cloud/emulator/emutest"
	"github.com/hybridsync/hybridsync/cloud/graph"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// migrationTenant is what a distribution-list migration meets in the
// tenant: mailbox users, a synced distribution group (the twin of an
// on-premises group) and its synced members.
type migrationTenant struct {
	users  []*emulator.Object // u0..u4, licensed, synced
	synced *emulator.Object   // "Synced Sales", synced from on-premises
}

func seedMigrationTenant(t *testing.T, em *emulator.Emulator) migrationTenant {
	t.Helper()
	var mt migrationTenant
	err := em.Update(func(tx *emulator.Tx) error {
		for i := 0; i < 5; i++ {
			a := "u" + string(rune('0'+i))
			o, err := tx.Put(&emulator.Object{Kind: cloud.KindUser, DisplayName: "User " + a, UserPrincipalName: a + "@" + emutest.MailDomain,
				Mail: a + "@" + emutest.MailDomain, MailNickname: a, ProxyAddresses: []string{"SMTP:" + a + "@" + emutest.MailDomain},
				ExchangeLicensed: true, OnPremisesSyncEnabled: true, OnPremisesImmutableID: "dXNlcg" + a})
			if err != nil {
				return err
			}
			mt.users = append(mt.users, o)
		}
		g, err := tx.Put(&emulator.Object{Kind: cloud.KindGroup, DisplayName: "Synced Sales", Mail: "sales@" + emutest.MailDomain,
			MailNickname: "sales", ProxyAddresses: []string{"SMTP:sales@" + emutest.MailDomain, "smtp:vertrieb@" + emutest.MailDomain,
				"X500:/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=sales"},
			MailEnabled: true, OnPremisesSyncEnabled: true, OnPremisesImmutableID: "Z3JvdXA=",
			OnPremisesSecurityIdentifier: "S-1-5-21-1-2-3-1105", Members: []string{mt.users[0].ID, mt.users[1].ID}})
		if err != nil {
			return err
		}
		mt.synced = g
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return mt
}

func wantClass(t *testing.T, what string, err error, class error, text string) {
	t.Helper()
	if !errors.Is(err, class) {
		t.Errorf("%s: err = %v, want class %v", what, err, class)
		return
	}
	if !strings.Contains(err.Error(), text) {
		t.Errorf("%s: err = %v, want it to say %q", what, err, text)
	}
}

// Each refusal a migration can meet, through the real client, with the
// class cloud.Exchange documents for it; a refused call changes nothing.
func TestEmulatorMigrationRefusals(t *testing.T) {
	c, em, _, _ := newEmulatorClient(t, emulator.Faults{})
	mt := seedMigrationTenant(t, em)
	ctx := ctxT(t)
	const synced = "synchronized from your on-premises organization"

	// A synced group cannot be changed or removed in the cloud.
	hide := true
	wantClass(t, "Set-DistributionGroup on a synced group", c.SetDistributionGroup(ctx, "sales", cloud.GroupChanges{HiddenFromAddressLists: &hide}), retry.ErrTerminal, synced)
	wantClass(t, "Remove-DistributionGroup on a synced group", c.RemoveDistributionGroup(ctx, "sales"), retry.ErrTerminal, synced)
	wantClass(t, "Add-DistributionGroupMember on a synced group", c.AddGroupMember(ctx, "sales", "u2"), retry.ErrTerminal, synced)
	wantClass(t, "Remove-DistributionGroupMember on a synced group", c.RemoveGroupMember(ctx, "sales", "u0"), retry.ErrTerminal, synced)
	wantClass(t, "ReplaceGroupMembers on a synced group", c.ReplaceGroupMembers(ctx, "sales", []string{"u3"}), retry.ErrTerminal, synced)

	// A cloud list to change.
	if _, err := c.NewDistributionGroup(ctx, cloud.NewDistributionGroup{Name: "Temp 1", Alias: "temp1", Type: "Distribution"}); err != nil {
		t.Fatal(err)
	}
	inUse := "is already being used by the proxy addresses or LegacyExchangeDN"
	addrs := func(a ...string) cloud.GroupChanges { return cloud.GroupChanges{EmailAddresses: &a} }
	wantClass(t, "primary address held by the synced group",
		c.SetDistributionGroup(ctx, "temp1", addrs("SMTP:sales@"+emutest.MailDomain)), retry.ErrConflict, inUse)
	wantClass(t, "secondary address held by the synced group",
		c.SetDistributionGroup(ctx, "temp1", addrs("SMTP:temp1@"+emutest.MailDomain, "smtp:VERTRIEB@"+emutest.MailDomain)), retry.ErrConflict, inUse)
	wantClass(t, "X500 address held by the synced group",
		c.SetDistributionGroup(ctx, "temp1", addrs("SMTP:temp1@"+emutest.MailDomain, "x500:/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=SALES")),
		retry.ErrConflict, inUse)
	wantClass(t, "X500 address that is the synced group's LegacyExchangeDN",
		c.SetDistributionGroup(ctx, "temp1", addrs("SMTP:temp1@"+emutest.MailDomain, "X500:"+mt.synced.Exchange.LegacyExchangeDN)), retry.ErrConflict, inUse)
	wantClass(t, "address in a domain that is not accepted",
		c.SetDistributionGroup(ctx, "temp1", addrs("SMTP:temp1@"+emutest.MailDomain, "smtp:temp1@fabrikam.example")), retry.ErrTerminal,
		"You can't use the domain fabrikam.example because it's not an accepted domain for your organization.")
	wantClass(t, "malformed X500 address",
		c.SetDistributionGroup(ctx, "temp1", addrs("SMTP:temp1@"+emutest.MailDomain, "X500:not a dn")), retry.ErrTerminal, "isn't valid")
	wantClass(t, "new group with an address in use",
		func() error {
			_, err := c.NewDistributionGroup(ctx, cloud.NewDistributionGroup{Name: "Temp 2", Alias: "temp2", PrimarySMTPAddress: "u1@" + emutest.MailDomain})
			return err
		}(), retry.ErrConflict, inUse)
	wantClass(t, "new group with an address in a domain not accepted",
		func() error {
			_, err := c.NewDistributionGroup(ctx, cloud.NewDistributionGroup{Name: "Temp 2", Alias: "temp2", PrimarySMTPAddress: "temp2@fabrikam.example"})
			return err
		}(), retry.ErrTerminal, "not an accepted domain")

	// Name: unique among recipients, at most 64 characters; alias unique.
	name := func(n string) error {
		_, err := c.NewDistributionGroup(ctx, cloud.NewDistributionGroup{Name: n, Alias: "other"})
		return err
	}
	wantClass(t, "name of the synced group", name("Synced Sales"), retry.ErrConflict, `The name "Synced Sales" is already being used.`)
	wantClass(t, "name of a user, other case", name("USER U1"), retry.ErrConflict, "is already being used")
	wantClass(t, "name of 65 characters", name(strings.Repeat("n", 65)), retry.ErrTerminal, "The maximum length is 64 and the length of the value provided is 65.")
	if err := name(strings.Repeat("ü", 64)); err != nil {
		t.Errorf("a name of 64 characters (128 bytes) was refused: %v", err)
	}
	newName := "Synced Sales"
	wantClass(t, "renaming to a name in use", c.SetDistributionGroup(ctx, "temp1", cloud.GroupChanges{Name: &newName}), retry.ErrConflict, "is already being used")
	alias := "sales"
	wantClass(t, "alias in use", c.SetDistributionGroup(ctx, "temp1", cloud.GroupChanges{Alias: &alias}), retry.ErrConflict, `The alias "sales" is already being used`)
	wantClass(t, "new group with an alias in use",
		func() error {
			_, err := c.NewDistributionGroup(ctx, cloud.NewDistributionGroup{Name: "Temp 3", Alias: "SALES"})
			return err
		}(), retry.ErrConflict, "is already being used")

	// Nothing the refusals touched changed.
	g, err := c.GetDistributionGroup(ctx, "temp1")
	if err != nil {
		t.Fatal(err)
	}
	if g.Name != "Temp 1" || g.Alias != "temp1" || g.PrimarySMTPAddress != "temp1@"+emutest.MailDomain || g.HiddenFromAddressLists {
		t.Errorf("temp1 changed by refused calls: %+v", g)
	}
	s, err := c.GetDistributionGroup(ctx, "sales")
	if err != nil || !s.IsDirSynced || s.HiddenFromAddressLists || len(s.EmailAddresses) != 3 {
		t.Errorf("synced group changed by refused calls: %+v %v", s, err)
	}
	members, err := c.GroupMembers(ctx, "sales")
	if err != nil || len(members) != 2 {
		t.Errorf("synced group's members: %+v %v", members, err)
	}
}

// Everything a migration sets on a new cloud list, through the real
// client, read back; and Get-Recipient by every identifier a migration
// has for a recipient.
func TestEmulatorMigrationFields(t *testing.T) {
	c, em, _, _ := newEmulatorClient(t, emulator.Faults{})
	mt := seedMigrationTenant(t, em)
	ctx := ctxT(t)
	no, yes := false, true
	g, err := c.NewDistributionGroup(ctx, cloud.NewDistributionGroup{
		Name: "Migrated Sales (temp)", DisplayName: "Sales", Alias: "sales-tmp", PrimarySMTPAddress: "sales-tmp@" + emutest.MailDomain,
		Type: "Security", Members: []string{"u0", "u1@" + emutest.MailDomain, mt.users[2].ID}, ManagedBy: []string{"u3"},
		ModerationEnabled: true, ModeratedBy: []string{"u4"}, RequireSenderAuthentication: &no,
		Settings: cloud.GroupChanges{
			HiddenFromAddressLists: &yes, AcceptMessagesOnlyFrom: &[]string{"u0", "sales"}, RejectMessagesFrom: &[]string{"u1"},
			BypassModeration: &[]string{"u2"}, GrantSendOnBehalfTo: &[]string{"u3"},
			CustomAttributes: map[int]string{1: "migrated", 15: "fifteen"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The MOERA and routing addresses Exchange Online adds to new groups.
	moera, routing := "smtp:sales-tmp@"+emutest.InitialDomain, "smtp:sales-tmp@"+emulator.RoutingDomain(emutest.InitialDomain)
	if !slices.Contains(g.EmailAddresses, moera) || !slices.Contains(g.EmailAddresses, routing) {
		t.Errorf("new group's addresses %v, want %s and %s", g.EmailAddresses, moera, routing)
	}
	if !strings.HasPrefix(g.LegacyExchangeDN, "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=") ||
		!strings.HasSuffix(g.LegacyExchangeDN, "-sales-tmp") {
		t.Errorf("LegacyExchangeDN = %q", g.LegacyExchangeDN)
	}

	// The synced twin goes (the sync engine deleted it); the new list
	// takes its name, alias and addresses, and X500s for both
	// LegacyExchangeDNs.
	oldLegacy := mt.synced.Exchange.LegacyExchangeDN
	if err := em.Update(func(tx *emulator.Tx) error { return tx.HardDelete(mt.synced.ID) }); err != nil {
		t.Fatal(err)
	}
	name, display, alias := "Synced Sales", "Sales", "sales"
	addrs := []string{"SMTP:sales@" + emutest.MailDomain, "smtp:vertrieb@" + emutest.MailDomain,
		"X500:/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=sales", "X500:" + oldLegacy,
		"smtp:sales@" + emulator.RoutingDomain(emutest.InitialDomain)}
	if err := c.SetDistributionGroup(ctx, g.ExternalDirectoryObjectID, cloud.GroupChanges{Name: &name, DisplayName: &display, Alias: &alias,
		EmailAddresses: &addrs}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetDistributionGroup(ctx, "sales@"+emutest.MailDomain)
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]bool{
		"name":               got.Name == "Synced Sales" && got.DisplayName == "Sales" && got.Alias == "sales",
		"type":               got.GroupType == "Universal, SecurityEnabled" && got.RecipientTypeDetails == "MailUniversalSecurityGroup",
		"not synced":         !got.IsDirSynced,
		"primary":            got.PrimarySMTPAddress == "sales@"+emutest.MailDomain,
		"addresses":          slices.Equal(got.EmailAddresses, addrs),
		"legacyDN unchanged": got.LegacyExchangeDN == g.LegacyExchangeDN,
		"owners":             slices.Equal(got.ManagedBy, []string{"User u3"}),
		"moderation":         got.ModerationEnabled && slices.Equal(got.ModeratedBy, []string{"User u4"}),
		"bypass":             slices.Equal(got.BypassModeration, []string{"User u2"}),
		// The deleted twin dropped out of the list, as a deleted recipient does.
		"accept":            slices.Equal(got.AcceptMessagesOnlyFrom, []string{"User u0"}),
		"reject":            slices.Equal(got.RejectMessagesFrom, []string{"User u1"}),
		"send on behalf":    slices.Equal(got.GrantSendOnBehalfTo, []string{"User u3"}),
		"hidden":            got.HiddenFromAddressLists,
		"sender auth":       !got.RequireSenderAuthentication,
		"custom attributes": got.CustomAttributes["CustomAttribute1"] == "migrated" && got.CustomAttributes["CustomAttribute15"] == "fifteen" && len(got.CustomAttributes) == 2,
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("%s: %+v", what, got)
		}
	}
	members, err := c.GroupMembers(ctx, "sales")
	if err != nil || len(members) != 3 {
		t.Fatalf("members %+v %v", members, err)
	}

	// Get-Recipient by each identifier.
	for _, id := range []string{
		"sales", "SALES@" + emutest.MailDomain, "smtp:vertrieb@" + emutest.MailDomain, "SMTP:Vertrieb@" + emutest.MailDomain,
		"x500:/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=sales",
		"X500:" + oldLegacy, g.LegacyExchangeDN, "x500:" + g.LegacyExchangeDN, strings.ToUpper(g.LegacyExchangeDN),
		got.ExternalDirectoryObjectID, got.GUID, "Synced Sales",
	} {
		r, err := c.GetRecipient(ctx, id)
		if err != nil || r.ExternalDirectoryObjectID != g.ExternalDirectoryObjectID {
			t.Errorf("Get-Recipient %q: %+v %v", id, r, err)
		}
	}
	r, err := c.GetRecipient(ctx, "u0@"+emutest.MailDomain)
	if err != nil || r.LegacyExchangeDN == "" || !strings.HasSuffix(r.LegacyExchangeDN, "-u0") || r.RecipientTypeDetails != "UserMailbox" {
		t.Errorf("a user's recipient row: %+v %v", r, err)
	}
	if _, err := c.GetRecipient(ctx, "x500:/o=Nowhere/cn=nobody"); !errors.Is(err, retry.ErrNotFound) {
		t.Errorf("unknown X500: %v", err)
	}
}

// A Source of Authority conversion through Graph (the real Graph client)
// makes the synced group changeable in Exchange; handing it back makes it
// read-only again.
func TestEmulatorSourceOfAuthorityThroughGraphAndExchange(t *testing.T) {
	c, em, _, _ := newEmulatorClient(t, emulator.Faults{})
	mt := seedMigrationTenant(t, em)
	ctx := ctxT(t)
	gc := graphClientFor(t, em)

	twin, err := cloud.FindGroupBySID(ctx, gc, "S-1-5-21-1-2-3-1105")
	if err != nil || twin.ID != mt.synced.ID || !twin.OnPremisesSyncEnabled {
		t.Fatalf("find the twin by SID: %+v %v", twin, err)
	}
	if _, err := cloud.FindGroupBySID(ctx, gc, "S-1-5-21-1-2-3-9999"); !errors.Is(err, retry.ErrNotFound) {
		t.Errorf("unknown SID: %v", err)
	}
	if err := gc.SetGroupSyncBehavior(ctx, twin.ID, cloud.SyncBehavior{IsCloudManaged: true}); err != nil {
		t.Fatal(err)
	}
	after, err := cloud.FindGroupBySID(ctx, gc, "S-1-5-21-1-2-3-1105")
	if err != nil || after.OnPremisesSyncEnabled {
		t.Errorf("after conversion, Graph: %+v %v (want onPremisesSyncEnabled null)", after, err)
	}
	g, err := c.GetDistributionGroup(ctx, "sales")
	if err != nil || g.IsDirSynced {
		t.Fatalf("after conversion, Exchange: %+v %v (want IsDirSynced false)", g, err)
	}
	hide := true
	if err := c.SetDistributionGroup(ctx, "sales", cloud.GroupChanges{HiddenFromAddressLists: &hide}); err != nil {
		t.Errorf("Set-DistributionGroup after conversion: %v", err)
	}
	if err := c.AddGroupMember(ctx, "sales", "u4"); err != nil {
		t.Errorf("Add-DistributionGroupMember after conversion: %v", err)
	}
	if err := gc.SetGroupSyncBehavior(ctx, twin.ID, cloud.SyncBehavior{IsCloudManaged: false}); err != nil {
		t.Fatal(err)
	}
	g, err = c.GetDistributionGroup(ctx, "sales")
	if err != nil || !g.IsDirSynced {
		t.Fatalf("after rollback: %+v %v", g, err)
	}
	wantClass(t, "Set-DistributionGroup after rollback", c.SetDistributionGroup(ctx, "sales", cloud.GroupChanges{HiddenFromAddressLists: &hide}),
		retry.ErrTerminal, "synchronized from your on-premises organization")
}

// graphClientFor builds the real Graph client against em (served once
// more, on a server of its own).
func graphClientFor(t *testing.T, em *emulator.Emulator) *graph.Client {
	t.Helper()
	srv := emutest.Serve(t, em)
	pol := retry.DefaultPolicy()
	pol.Clock, pol.Jitter = &instantClock{}, 0
	gc, err := graph.New(graph.Config{Session: srv.Session(t, emutest.SecretFunc, nil), Retry: &pol})
	if err != nil {
		t.Fatal(err)
	}
	return gc
}
