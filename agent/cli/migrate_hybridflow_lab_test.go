//go:build lab

package cli

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/agent/lab/mailflow"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/reconcile/migrate"
)

// cloudOnlyList is a list living in Exchange Online only, as a migration
// by another tool leaves it: made with the product's Exchange client,
// with a synced member and a secondary address, removed at cleanup.
type cloudOnlyList struct {
	alias, primary, secondary, name string
	g                               *cloud.DistributionGroup
	member                          *ad.Recipient
}

func makeCloudOnlyList(t *testing.T, l *labtest.Lab, tag string) *cloudOnlyList {
	t.Helper()
	ctx := t.Context()
	ou := l.SyncedOU(t)
	suffix := labtest.OUSuffix(t, ou)
	dom := l.Manifest.MailDomain
	member := l.AddMailUser(t, ou, tag+"m-"+suffix)
	l.Sync(t)
	ex := exchange(t, l)
	mid := exoIDs(t, ex, []*ad.Recipient{member})
	f := &cloudOnlyList{alias: tag + "-" + suffix, name: "HMF " + tag + " " + suffix, member: member}
	f.primary, f.secondary = f.alias+"@"+dom, f.alias+"-old@"+dom
	g, err := ex.NewDistributionGroup(ctx, cloud.NewDistributionGroup{Name: f.name, DisplayName: f.name, Alias: f.alias,
		PrimarySMTPAddress: f.primary, Type: "Distribution", Members: mid})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ex.RemoveDistributionGroup(context.Background(), g.ExternalDirectoryObjectID); err != nil {
			t.Logf("clean up the cloud list %s: %v", f.primary, err)
		}
	})
	got, err := ex.GetDistributionGroup(ctx, g.ExternalDirectoryObjectID)
	if err != nil {
		t.Fatal(err)
	}
	addrs := append(slices.Clone(got.EmailAddresses), "smtp:"+f.secondary)
	if err := ex.SetDistributionGroup(ctx, g.ExternalDirectoryObjectID, cloud.GroupChanges{EmailAddresses: &addrs}); err != nil {
		t.Fatal(err)
	}
	if f.g, err = ex.GetDistributionGroup(ctx, g.ExternalDirectoryObjectID); err != nil {
		t.Fatal(err)
	}
	return f
}

// routingAddressOf is the list's address in the tenant's routing domain.
func (f *cloudOnlyList) routingAddress(t *testing.T) string {
	t.Helper()
	for _, v := range f.g.EmailAddresses {
		if a, ok := strings.CutPrefix(strings.ToLower(v), "smtp:"); ok && strings.Contains(a, ".mail.onmicrosoft.com") {
			return a
		}
	}
	t.Fatalf("the cloud list has no routing address: %q", f.g.EmailAddresses)
	return ""
}

func hybridFlow(t *testing.T, cfg, list string, args ...string) (int, hybridFlowReport, string) {
	t.Helper()
	code, out, errOut := runCLI(t, append([]string{"migrate", "hybrid-mail-flow", "-c", cfg, list, "--json"}, args...)...)
	var rep hybridFlowReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("hybrid-mail-flow: exit %d, output not JSON: %v\n%s\n%s", code, err, out, errOut)
	}
	return code, rep, errOut
}

func actionKinds(p *migrate.HybridFlowPlan) []string {
	var out []string
	for _, a := range p.Actions {
		out = append(out, a.Kind)
	}
	return out
}

// checkHybridFlowInPlace checks, from the DC's raw attributes, that the
// list's routing contact is the one contact contactDN targeting its
// routing address, and that the dynamic list holds the list's addresses
// with a filter resolving to that contact alone; then that an on-premises
// sender reaches the cloud member through them.
func checkHybridFlowInPlace(t *testing.T, l *labtest.Lab, f *cloudOnlyList, contactDN, ddlDN string) {
	t.Helper()
	ctx := t.Context()
	c := l.Client(t)
	routing := f.routingAddress(t)
	ct, err := c.ReadAttributes(ctx, contactDN, "objectClass", "targetAddress", "msExchHideFromAddressLists")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ct["objectClass"], "contact") || len(ct["targetAddress"]) != 1 || !strings.EqualFold(ct["targetAddress"][0], "SMTP:"+routing) ||
		!slices.Equal(ct["msExchHideFromAddressLists"], []string{"TRUE"}) {
		t.Errorf("routing contact %s: %q", contactDN, ct)
	}
	var targeting []string
	if _, err := c.SearchRecipients(ctx, l.State.BaseDN, "(&(objectClass=contact)(targetAddress=smtp:"+ad.EscapeFilter(routing)+"))", func(r *ad.Recipient) error {
		targeting = append(targeting, r.DN)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(targeting) != 1 || !ad.EqualDN(targeting[0], contactDN) {
		t.Errorf("contacts targeting %s: %q, want %s alone", routing, targeting, contactDN)
	}
	dl, err := c.ReadAttributes(ctx, ddlDN, "objectClass", "mail", "mailNickname", "proxyAddresses", "msExchDynamicDLFilter", "msExchDynamicDLBaseDN")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(dl["objectClass"], "msExchDynamicDistributionList") || !slices.Equal(dl["mail"], []string{f.primary}) ||
		!slices.Equal(dl["mailNickname"], []string{f.alias}) {
		t.Errorf("dynamic list %s: %q", ddlDN, dl)
	}
	for _, want := range []string{"SMTP:" + f.primary, "smtp:" + f.secondary} {
		if !hasFold(dl["proxyAddresses"], want) {
			t.Errorf("the dynamic list lacks %s: %q", want, dl["proxyAddresses"])
		}
	}
	if hasFold(dl["proxyAddresses"], "smtp:"+routing) {
		t.Errorf("the dynamic list holds the routing address %s", routing)
	}
	var reached []string
	if _, err := c.SearchRecipients(ctx, dl["msExchDynamicDLBaseDN"][0], dl["msExchDynamicDLFilter"][0], func(r *ad.Recipient) error {
		reached = append(reached, r.DN)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(reached) != 1 || !ad.EqualDN(reached[0], contactDN) {
		t.Errorf("the dynamic list's filter %s reaches %q, want %s alone", dl["msExchDynamicDLFilter"][0], reached, contactDN)
	}
	// An on-premises sender: the address is held by the dynamic list,
	// which reaches the cloud list's member through the contact alone.
	ex := exchange(t, l)
	res := &mailflow.Resolver{AD: c, BaseDN: l.State.BaseDN, Exchange: ex}
	for _, addr := range []string{f.primary, f.secondary} {
		r, err := res.OnPremises(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		if r.Holder == nil || r.Holder.Type != string(ad.KindDynamicDL) || !r.Delivers() {
			t.Errorf("on premises %s: %+v", addr, r)
		}
		var contacts, cloudIDs []string
		for _, h := range r.Via {
			if h.Type == string(ad.KindContact) {
				contacts = append(contacts, h.ID)
			}
		}
		for _, d := range r.Deliverable {
			if d.Side == mailflow.Cloud {
				cloudIDs = append(cloudIDs, d.ID)
			}
		}
		if len(contacts) != 1 || !ad.EqualDN(contacts[0], contactDN) || !sameSet(cloudIDs, exoIDs(t, ex, []*ad.Recipient{f.member})) {
			t.Errorf("on premises %s goes through %q and reaches %q, want %s and the member", addr, contacts, cloudIDs, contactDN)
		}
	}
}

// (a) A list living in the cloud only, nothing on premises: shown first
// (nothing written without --auto-approve), then made, then nothing to
// do.
func TestLabHybridFlowCloudOnlyList(t *testing.T) {
	l := labtest.Get(t)
	f := makeCloudOnlyList(t, l, "hmfa")
	nosync := l.OU(t)
	cfg := migrateConfig(t, l, map[string]string{f.primary: "nosync_ou: " + strconvQuote(nosync)})

	code, rep, errOut := hybridFlow(t, cfg, f.primary)
	if code != 1 || rep.Outcome != "not-approved" || !slices.Equal(actionKinds(rep.Plan), []string{"create-contact", "create-dynamic-list"}) {
		t.Fatalf("without --auto-approve: exit %d %+v\n%s", code, rep, errOut)
	}
	if es := journalEntries(t, cfg); len(es) != 0 {
		t.Fatalf("%d journal entries written without approval", len(es))
	}
	if _, err := l.Client(t).ReadRecipient(t.Context(), rep.Plan.ContactDN); err == nil {
		t.Fatal("the contact was made without approval")
	}
	// The text report says what will be done.
	code, out, _ := runCLI(t, "migrate", "hybrid-mail-flow", "-c", cfg, f.primary)
	if code != 1 || !strings.Contains(out, "[create-contact]") || !strings.Contains(out, "nothing written without --auto-approve") {
		t.Fatalf("text report: exit %d\n%s", code, out)
	}

	code, rep, errOut = hybridFlow(t, cfg, f.primary, "--auto-approve")
	if code != 0 || rep.Outcome != "done" || rep.Result == nil || len(rep.Result.Done) != 2 {
		t.Fatalf("hybrid-mail-flow --auto-approve: exit %d %+v\n%s", code, rep, errOut)
	}
	if !ad.IsUnder(rep.Plan.ContactDN, nosync) || !ad.IsUnder(rep.Plan.DynamicListDN, nosync) {
		t.Errorf("made %s and %s, want them in the no-sync OU %s", rep.Plan.ContactDN, rep.Plan.DynamicListDN, nosync)
	}
	checkHybridFlowInPlace(t, l, f, rep.Plan.ContactDN, rep.Plan.DynamicListDN)
	es := journalEntries(t, cfg)
	if len(es) != 2 {
		t.Errorf("%d journal entries, want 2 (contact, dynamic list)", len(es))
	}
	for _, e := range es {
		if e.State != "done" || len(e.Intent) == 0 || len(e.Before) == 0 {
			t.Errorf("journal entry %s %s: state %s, intent %d bytes, before %d bytes", e.ID, e.Operation, e.State, len(e.Intent), len(e.Before))
		}
	}

	code, rep, errOut = hybridFlow(t, cfg, f.primary, "--auto-approve")
	if code != 0 || rep.Outcome != "nothing-to-do" || len(rep.Plan.Actions) != 0 {
		t.Fatalf("second run: exit %d %+v\n%s", code, rep, errOut)
	}
	if n := len(journalEntries(t, cfg)); n != len(es) {
		t.Errorf("the second run wrote %d journal entries", n-len(es))
	}
	code, out, _ = runCLI(t, "migrate", "hybrid-mail-flow", "-c", cfg, f.primary)
	if code != 0 || !strings.Contains(out, "Nothing to do") {
		t.Errorf("second run, text: exit %d\n%s", code, out)
	}
}

// dlConversionLeftovers builds, in ou, what DLConversionV2 leaves after
// migrating the list f with its original group retained
// (Start-DistributionListMigration, https://github.com/timmcmic/DLConversionV2):
// the original group renamed with "!" appended to its name and
// sAMAccountName (Set-NewDLName.ps1), marked extensionAttribute1
// MigratedByScript and extensionAttribute2 its old mail
// (Disable-OriginalDL.ps1), and mail-disabled unless stillMailEnabled;
// and the routing contact of new-RoutingContact.ps1: CN and mailNickname
// "<name without spaces>-MigratedByScript", mail
// <local>-MigratedByScript@<domain>, sn MigratedByScript, hidden,
// extensionAttribute1 MigratedByScript, extensionAttribute2 the cloud
// list's ExternalDirectoryObjectId, targetAddress as given (the tool
// upper-cases it). DLConversionV2 puts both in the group's original OU;
// here that OU is outside the lab's sync scope, so that the lab's sync
// cycles leave the leftovers alone.
func dlConversionLeftovers(t *testing.T, l *labtest.Lab, ou string, f *cloudOnlyList, stillMailEnabled bool, target string) (groupDN, contactDN string) {
	t.Helper()
	c := l.Client(t)
	ctx := t.Context()
	local, dom, _ := strings.Cut(f.primary, "@")
	groupDN = ad.ChildDN("CN", f.name+"!", ou)
	attrs := []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "group"}},
		{Name: "sAMAccountName", Values: []string{f.alias + "!"}},
		{Name: "groupType", Values: []string{"8"}},
		{Name: "displayName", Values: []string{f.name}},
		{Name: "extensionAttribute1", Values: []string{"MigratedByScript"}},
		{Name: "extensionAttribute2", Values: []string{f.primary}},
	}
	if stillMailEnabled {
		attrs = append(attrs,
			ad.Attribute{Name: "mail", Values: []string{f.primary}},
			ad.Attribute{Name: "mailNickname", Values: []string{f.alias}},
			ad.Attribute{Name: "proxyAddresses", Values: []string{"SMTP:" + f.primary, "smtp:" + f.secondary}},
			ad.Attribute{Name: "legacyExchangeDN", Values: []string{"/o=HybridSync Lab/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=" + f.alias}})
	}
	if err := c.Add(ctx, groupDN, attrs); err != nil {
		t.Fatal(err)
	}
	name := strings.ReplaceAll(f.name, " ", "") + "-MigratedByScript"
	contactDN = ad.ChildDN("CN", name, ou)
	mail := local + "-MigratedByScript@" + dom
	if err := c.Add(ctx, contactDN, []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "contact"}},
		{Name: "displayName", Values: []string{name}},
		{Name: "givenName", Values: []string{f.name}},
		{Name: "sn", Values: []string{"MigratedByScript"}},
		{Name: "description", Values: []string{"This is the mail contact created post migration to allow non-migrated DLs to retain memberships and permissions settings.  DO NOT DELETE"}},
		{Name: "mail", Values: []string{mail}},
		{Name: "proxyAddresses", Values: []string{"SMTP:" + mail}},
		{Name: "mailNickname", Values: []string{strings.ReplaceAll(f.alias, " ", "") + "-MigratedByScript"}},
		{Name: "targetAddress", Values: []string{target}},
		{Name: "msExchHideFromAddressLists", Values: []string{"TRUE"}},
		{Name: "msExchRecipientDisplayType", Values: []string{"6"}},
		{Name: "extensionAttribute1", Values: []string{"MigratedByScript"}},
		{Name: "extensionAttribute2", Values: []string{f.g.ExternalDirectoryObjectID}},
	}); err != nil {
		t.Fatal(err)
	}
	return groupDN, contactDN
}

// (b) DLConversionV2's leftovers are adopted: its contact reused (its
// targetAddress repaired when wrong), never a second one; the "!" group
// that still holds the list's addresses gives them up.
func TestLabHybridFlowAdoptsDLConversionLeftovers(t *testing.T) {
	for _, tc := range []struct {
		name             string
		stillMailEnabled bool
		wrongTarget      bool
		want             []string
	}{
		{"wrong target, group still mail-enabled", true, true, []string{"release-addresses", "repair-contact", "create-dynamic-list"}},
		{"right target, group mail-disabled", false, false, []string{"create-dynamic-list"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := labtest.Get(t)
			tag := "hmfb"
			if tc.wrongTarget {
				tag = "hmfw"
			}
			f := makeCloudOnlyList(t, l, tag)
			leftovers, nosync := l.OU(t), l.OU(t)
			target := "SMTP:" + strings.ToUpper(f.routingAddress(t))
			if tc.wrongTarget {
				target = "SMTP:" + strings.ToUpper(f.alias) + "@OLDTENANT.MAIL.ONMICROSOFT.COM"
			}
			groupDN, contactDN := dlConversionLeftovers(t, l, leftovers, f, tc.stillMailEnabled, target)
			cfg := migrateConfig(t, l, map[string]string{f.primary: "nosync_ou: " + strconvQuote(nosync)})

			// Shown first, in text: what was found and what will be done.
			code, out, _ := runCLI(t, "migrate", "hybrid-mail-flow", "-c", cfg, f.primary)
			t.Logf("migrate hybrid-mail-flow, not approved:\n%s", out)
			if code != 1 || !strings.Contains(out, "[create-dynamic-list]") || !strings.Contains(out, "made by DLConversionV2") {
				t.Fatalf("text report: exit %d\n%s", code, out)
			}
			code, rep, errOut := hybridFlow(t, cfg, f.primary, "--auto-approve")
			if code != 0 || rep.Outcome != "done" || !slices.Equal(actionKinds(rep.Plan), tc.want) {
				t.Fatalf("hybrid-mail-flow: exit %d, actions %q (want %q) %+v\n%s", code, actionKinds(rep.Plan), tc.want, rep.Plan, errOut)
			}
			if !ad.EqualDN(rep.Plan.ContactDN, contactDN) {
				t.Errorf("contact %s, want DLConversionV2's %s adopted", rep.Plan.ContactDN, contactDN)
			}
			for _, dn := range []string{contactDN, groupDN} {
				if !slices.ContainsFunc(rep.Plan.Found, func(s string) bool { return strings.HasPrefix(s, dn+":") && strings.Contains(s, "DLConversionV2") }) {
					t.Errorf("the report does not name %s as DLConversionV2's: %q", dn, rep.Plan.Found)
				}
			}
			checkHybridFlowInPlace(t, l, f, contactDN, rep.Plan.DynamicListDN)
			// No second contact anywhere in the domain.
			var contacts []string
			if _, err := l.Client(t).SearchRecipients(t.Context(), l.State.BaseDN, "(&(objectClass=contact)(|(extensionAttribute2="+
				ad.EscapeFilter(f.g.ExternalDirectoryObjectID)+")(targetAddress=smtp:"+ad.EscapeFilter(f.routingAddress(t))+")))", func(r *ad.Recipient) error {
				contacts = append(contacts, r.DN)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(contacts) != 1 {
				t.Errorf("contacts for the list: %q, want DLConversionV2's alone", contacts)
			}
			g, err := l.Client(t).ReadAttributes(t.Context(), groupDN, "mail", "proxyAddresses", "mailNickname", "extensionAttribute1", "name")
			if err != nil {
				t.Fatal(err)
			}
			if len(g["mail"]) != 0 || len(g["proxyAddresses"]) != 0 || len(g["mailNickname"]) != 0 ||
				!slices.Equal(g["extensionAttribute1"], []string{"MigratedByScript"}) || !slices.Equal(g["name"], []string{f.name + "!"}) {
				t.Errorf("the retired group: %q", g)
			}
			code, rep, errOut = hybridFlow(t, cfg, f.primary, "--auto-approve")
			if code != 0 || rep.Outcome != "nothing-to-do" {
				t.Fatalf("second run: exit %d %+v\n%s", code, rep, errOut)
			}
		})
	}
}

// (c) Bad input: each a coded problem, exit 2, nothing written.
func TestLabHybridFlowBadInput(t *testing.T) {
	l := labtest.Get(t)
	c := l.Client(t)
	f := makeCloudOnlyList(t, l, "hmfc")
	// An on-premises group that is no leftover of a migration still holds
	// the list's secondary address.
	ou := l.OU(t)
	holder := ad.ChildDN("CN", "HMF holder "+labtest.OUSuffix(t, ou), ou)
	if err := c.Add(t.Context(), holder, []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "group"}},
		{Name: "sAMAccountName", Values: []string{"hmfholder-" + labtest.OUSuffix(t, ou)}},
		{Name: "groupType", Values: []string{"8"}},
		{Name: "mail", Values: []string{f.secondary}},
		{Name: "proxyAddresses", Values: []string{"SMTP:" + f.secondary}},
	}); err != nil {
		t.Fatal(err)
	}
	synced, err := c.ReadRecipient(t.Context(), l.Manifest.ManagedDL)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ list, code, names string }{
		{"nobody-here@" + l.Manifest.MailDomain, "not-in-cloud", "nobody-here@"},
		{synced.Mail, "still-synced", synced.Mail},
		{f.alias + "@fabrikam.example", "domain-not-accepted", "fabrikam.example"},
		{f.primary, "address-held", holder},
	}
	cfg := migrateConfig(t, l, map[string]string{f.primary: "nosync_ou: " + strconvQuote(l.OU(t))})
	for _, tc := range cases {
		code, rep, errOut := hybridFlow(t, cfg, tc.list, "--auto-approve")
		if code != 2 || rep.Outcome != "problems" || len(rep.Plan.Actions) != 0 ||
			!slices.ContainsFunc(rep.Plan.Problems, func(p migrate.Problem) bool { return p.Code == tc.code && strings.Contains(p.Message, tc.names) }) {
			t.Errorf("%s: exit %d, problems %+v, want %s naming %s\n%s", tc.list, code, rep.Plan.Problems, tc.code, tc.names, errOut)
		}
	}
	if es := journalEntries(t, cfg); len(es) != 0 {
		t.Errorf("%d journal entries written", len(es))
	}
	var contacts []string
	if _, err := c.SearchRecipients(t.Context(), l.State.BaseDN, "(&(objectClass=contact)(extensionAttribute2="+ad.EscapeFilter(f.g.ExternalDirectoryObjectID)+"))", func(r *ad.Recipient) error {
		contacts = append(contacts, r.DN)
		return nil
	}); err != nil || len(contacts) != 0 {
		t.Errorf("contacts made: %q %v", contacts, err)
	}
}

// A list hybridsync's own saga migrated (recreate, hybrid mail flow) has
// everything: hybrid-mail-flow finds the saga's contact and dynamic list
// and has nothing to do, so it can be run over every migrated list.
func TestLabHybridFlowAfterTheSaga(t *testing.T) {
	l := labtest.Get(t)
	ou := l.SyncedOU(t)
	f := makeDL(t, l, ou, "h", "HMF saga")
	cfg := migrateConfig(t, l, map[string]string{f.primary: "method: recreate; keep_on_premises_group: true"})
	cleanupMigration(t, l, cfg, f)
	if code, out, errOut := runCLI(t, "migrate", "run", "-c", cfg, "--auto-approve"); code != 0 {
		t.Fatalf("migrate run: exit %d\n%s\n%s", code, out, errOut)
	}
	s := sagaOf(t, cfg, f.primary)
	before := len(journalEntries(t, cfg))
	code, rep, errOut := hybridFlow(t, cfg, f.primary, "--auto-approve")
	if code != 0 || rep.Outcome != "nothing-to-do" || !ad.EqualDN(rep.Plan.ContactDN, s.Made.ContactDN) || !ad.EqualDN(rep.Plan.DynamicListDN, s.Made.DynamicListDN) {
		t.Fatalf("hybrid-mail-flow after the saga: exit %d %+v (saga made %s and %s)\n%s", code, rep.Plan, s.Made.ContactDN, s.Made.DynamicListDN, errOut)
	}
	if n := len(journalEntries(t, cfg)); n != before {
		t.Errorf("%d journal entries written", n-before)
	}
}
