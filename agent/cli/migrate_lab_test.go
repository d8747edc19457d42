//go:build lab

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/lab"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/agent/lab/mailflow"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/clock"
	"github.com/hybridsync/hybridsync/internal/failpoint/failpointtest"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/migrate"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// dlFixture is a distribution list a migration test makes in its own
// synced OU, with the shapes the lab seeds (owners, moderation,
// restrictions, a name with special characters), so that tests running
// at the same time never migrate the same list.
type dlFixture struct {
	dn, primary, alias, name string
	members, owners          []*ad.Recipient
	moderators, accept       []*ad.Recipient
	proxies                  []string
	legacyDN                 string
}

// makeDL creates users and a universal distribution list with three
// members, owners, moderation and delivery restrictions under ou, and
// syncs them into the lab's tenant.
func makeDL(t testing.TB, l *labtest.Lab, ou, tag, name string) *dlFixture {
	t.Helper()
	return makeDLWith(t, l, ou, tag, name, 3, true)
}

// makeDLWith is makeDL with n members, syncing into the lab's tenant only
// when labSync is set.
func makeDLWith(t testing.TB, l *labtest.Lab, ou, tag, name string, n int, labSync bool) *dlFixture {
	t.Helper()
	c := l.Client(t)
	ctx := t.Context()
	dom := l.Manifest.MailDomain
	suffix := labtest.OUSuffix(t, ou)
	user := func(n string) *ad.Recipient { return l.AddMailUser(t, ou, tag+n+"-"+suffix) }
	// The suffix keeps the name unique in the shared no-sync OU.
	name += " " + suffix
	f := &dlFixture{name: name, alias: tag + "dl-" + suffix}
	for i := range n {
		f.members = append(f.members, user(fmt.Sprintf("m%d", i)))
	}
	f.owners = []*ad.Recipient{user("own")}
	f.moderators = []*ad.Recipient{user("mod")}
	f.accept = []*ad.Recipient{f.members[0], f.owners[0]}
	f.primary = f.alias + "@" + dom
	f.legacyDN = "/o=HybridSync Lab/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=" + f.alias
	f.proxies = []string{"SMTP:" + f.primary, "smtp:" + f.alias + "-old@" + dom}
	f.dn = ad.ChildDN("CN", name, ou)
	dns := func(rs []*ad.Recipient) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.DN)
		}
		return out
	}
	if err := c.Add(ctx, f.dn, []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "group"}},
		{Name: "sAMAccountName", Values: []string{f.alias}},
		{Name: "groupType", Values: []string{"8"}}, // universal distribution
		{Name: "displayName", Values: []string{name}},
		{Name: "mail", Values: []string{f.primary}},
		{Name: "mailNickname", Values: []string{f.alias}},
		{Name: "proxyAddresses", Values: f.proxies},
		{Name: "legacyExchangeDN", Values: []string{f.legacyDN}},
		{Name: "member", Values: dns(f.members)},
		{Name: "managedBy", Values: []string{f.owners[0].DN}},
		{Name: "msExchEnableModeration", Values: []string{"TRUE"}},
		{Name: "msExchModeratedByLink", Values: dns(f.moderators)},
		{Name: "authOrig", Values: dns(f.accept)},
	}); err != nil {
		t.Fatal(err)
	}
	if labSync {
		l.Sync(t)
	}
	return f
}

// migrateConfig is the lab's config with its own state directory and the
// groups to migrate, each with extra options ("method: recreate", ...).
func migrateConfig(t testing.TB, l *labtest.Lab, groups map[string]string) string {
	t.Helper()
	base, err := os.ReadFile(l.Env[lab.EnvConfig])
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`(?m)^state_dir: .*$`).ReplaceAllLiteralString(string(base), "state_dir: "+strconvQuote(filepath.Join(t.TempDir(), "state")))
	// A short AD timeout, so that a write cut short after it was sent is
	// settled (apply.SettleAfter) within seconds rather than a minute.
	adTimeout := regexp.MustCompile(`(?m)^  timeout: .*$`)
	if loc := adTimeout.FindStringIndex(text); loc != nil && loc[0] < strings.Index(text, "\ncloud:") {
		text = text[:loc[0]] + "  timeout: 5s" + text[loc[1]:]
	} else {
		t.Fatalf("the lab config has no ad.timeout:\n%s", text)
	}
	var b strings.Builder
	b.WriteString("migrations:\n  groups:\n")
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	slices.Sort(names)
	for _, g := range names {
		fmt.Fprintf(&b, "    - group: %s\n", strconvQuote(g))
		for _, opt := range strings.Split(groups[g], ";") {
			if opt = strings.TrimSpace(opt); opt != "" {
				fmt.Fprintf(&b, "      %s\n", opt)
			}
		}
	}
	if !strings.Contains(text, "\nmigrations:\n") {
		t.Fatalf("the lab config has no migrations section:\n%s", text)
	}
	text = strings.Replace(text, "\nmigrations:\n", "\n"+b.String(), 1)
	return labtest.WriteConfig(t, text)
}

// exchange is the lab tenant's Exchange Online, through the product's own
// clients.
func exchange(t testing.TB, l *labtest.Lab) cloud.Exchange {
	t.Helper()
	return labTenant(t, l).Exchange()
}

// exoIDs returns the ExternalDirectoryObjectIds of the recipients holding
// the primary addresses of rs.
func exoIDs(t testing.TB, ex cloud.Exchange, rs []*ad.Recipient) []string {
	t.Helper()
	return exoField(t, ex, rs, func(x *cloud.ExoRecipient) string { return x.ExternalDirectoryObjectID })
}

// exoNames returns the Exchange Online names of the recipients holding
// the primary addresses of rs (Get-DistributionGroup lists owners,
// moderators and senders by them).
func exoNames(t testing.TB, ex cloud.Exchange, rs []*ad.Recipient) []string {
	t.Helper()
	return exoField(t, ex, rs, func(x *cloud.ExoRecipient) string { return x.Name })
}

// exoField returns field of each recipient holding a primary address of rs.
func exoField(t testing.TB, ex cloud.Exchange, rs []*ad.Recipient, field func(*cloud.ExoRecipient) string) []string {
	t.Helper()
	var out []string
	for _, r := range rs {
		x, err := ex.GetRecipient(t.Context(), r.Mail)
		if err != nil {
			t.Fatalf("Get-Recipient %s: %v", r.Mail, err)
		}
		out = append(out, field(x))
	}
	return out
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	for i := range x {
		x[i] = strings.ToLower(x[i])
	}
	for i := range y {
		y[i] = strings.ToLower(y[i])
	}
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func hasFold(list []string, v string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, v) })
}

// checkCloudList checks the cloud list of f holds exactly what the group
// held.
func checkCloudList(t testing.TB, l *labtest.Lab, f *dlFixture, method migrate.Method) *cloud.DistributionGroup {
	t.Helper()
	return checkCloudListIn(t, l, exchange(t, l), f, method)
}

// checkCloudListIn is checkCloudList in the tenant of ex.
func checkCloudListIn(t testing.TB, l *labtest.Lab, ex cloud.Exchange, f *dlFixture, method migrate.Method) *cloud.DistributionGroup {
	t.Helper()
	ctx := t.Context()
	g, err := ex.GetDistributionGroup(ctx, f.primary)
	if err != nil {
		t.Fatalf("Get-DistributionGroup %s: %v", f.primary, err)
	}
	if g.IsDirSynced || !strings.EqualFold(g.PrimarySMTPAddress, f.primary) {
		t.Errorf("cloud list %s: IsDirSynced %v primary %s", g.ExternalDirectoryObjectID, g.IsDirSynced, g.PrimarySMTPAddress)
	}
	ms, err := ex.GroupMembers(ctx, g.ExternalDirectoryObjectID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.ExternalDirectoryObjectID)
	}
	if !sameSet(got, exoIDs(t, ex, f.members)) {
		t.Errorf("members %q, want those of %s", got, f.dn)
	}
	// Get-DistributionGroup names these recipients by Name.
	if !g.ModerationEnabled || !sameSet(g.ManagedBy, exoNames(t, ex, f.owners)) || !sameSet(g.ModeratedBy, exoNames(t, ex, f.moderators)) ||
		!sameSet(g.AcceptMessagesOnlyFrom, exoNames(t, ex, f.accept)) {
		t.Errorf("owners %q moderated %v by %q, accept from %q", g.ManagedBy, g.ModerationEnabled, g.ModeratedBy, g.AcceptMessagesOnlyFrom)
	}
	for _, want := range f.proxies {
		if !hasFold(g.EmailAddresses, want) {
			t.Errorf("the cloud list lacks %s: %q", want, g.EmailAddresses)
		}
	}
	if method == migrate.MethodRecreate && !hasFold(g.EmailAddresses, "X500:"+f.legacyDN) {
		t.Errorf("the cloud list lacks the on-premises legacyExchangeDN as X500: %q", g.EmailAddresses)
	}
	return g
}

// routingContact finds the routing contact targeting the list's routing
// address, and checks that the on-premises side reaches the cloud list
// through it.
func checkOnPremisesRouting(t testing.TB, l *labtest.Lab, f *dlFixture, method migrate.Method) {
	t.Helper()
	c := l.Client(t)
	res := &mailflow.Resolver{AD: c, BaseDN: l.State.BaseDN, Exchange: exchange(t, l)}
	r, err := res.OnPremises(t.Context(), f.primary)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Delivers() || !slices.ContainsFunc(r.Via, func(h mailflow.Hop) bool { return h.Type == string(ad.KindContact) }) {
		t.Errorf("on premises %s does not reach the cloud through the routing contact: %+v", f.primary, r)
	}
	// Recreate leaves the addresses on premises with a dynamic list
	// resolving to the routing contact alone; SOA with the group itself,
	// which the contact joined.
	wantHolder := string(ad.KindDynamicDL)
	if method == migrate.MethodSOA {
		wantHolder = string(ad.KindGroup)
	}
	if r.Holder == nil || r.Holder.Type != wantHolder {
		t.Errorf("on premises %s is held by %+v, want a %s", f.primary, r.Holder, wantHolder)
	}
	if n := len(slices.DeleteFunc(slices.Clone(r.Via), func(h mailflow.Hop) bool { return h.Type != string(ad.KindContact) })); n != 1 {
		t.Errorf("on premises %s goes through %d contacts, want the routing contact alone: %+v", f.primary, n, r.Via)
	}
	if method == migrate.MethodRecreate && slices.ContainsFunc(r.Deliverable, func(d mailflow.Recipient) bool { return d.Side == mailflow.OnPremises }) {
		t.Errorf("on premises %s still delivers to on-premises recipients: %+v", f.primary, r.Deliverable)
	}
	ex := exchange(t, l)
	want := exoIDs(t, ex, f.members)
	var got []string
	for _, d := range r.Deliverable {
		if d.Side == mailflow.Cloud {
			got = append(got, d.ID)
		}
	}
	if !sameSet(got, want) {
		t.Errorf("on premises %s reaches %+v in the cloud, want the members %q", f.primary, r.Deliverable, want)
	}
}

func sagaOf(t testing.TB, cfg, group string) *migrate.Saga {
	t.Helper()
	code, out, errOut := runCLI(t, "migrate", "status", "-c", cfg, "--json")
	if code != 0 {
		t.Fatalf("migrate status: exit %d %s", code, errOut)
	}
	var rows []groupStatus
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if strings.EqualFold(r.Group, group) {
			return r.Saga
		}
	}
	t.Fatalf("no status row for %s: %s", group, out)
	return nil
}

// Both paths end to end, with the mail-flow probe running: plan, run,
// status, the end state read from the directories, then rollback back to
// the before-images.
func TestLabMigrateEndToEnd(t *testing.T) {
	for _, method := range []migrate.Method{migrate.MethodRecreate, migrate.MethodSOA} {
		t.Run(string(method), func(t *testing.T) {
			l := labtest.Get(t)
			ou := l.SyncedOU(t)
			f := makeDL(t, l, ou, string(method)[:1], `Ventes & Marketing, "Zoë" (Nord+Sud) `+string(method))
			cfg := migrateConfig(t, l, map[string]string{f.primary: "method: " + string(method) + "; keep_on_premises_group: true"})
			cleanupMigration(t, l, cfg, f)
			before := l.Client(t)
			if method == migrate.MethodRecreate {
				// A custom attribute the retired group's markers overwrite,
				// and rollback gives back.
				if err := before.Modify(t.Context(), f.dn, ad.Change{Op: ad.ReplaceValues, Attr: "extensionAttribute2", Values: []string{"cost centre 4711"}}); err != nil {
					t.Fatal(err)
				}
				l.Sync(t)
			}
			orig, err := before.ReadRecipient(t.Context(), f.dn)
			if err != nil {
				t.Fatal(err)
			}
			origAttrs := groupAttributes(t, l, f.dn)

			code, out, errOut := runCLI(t, "migrate", "plan", "-c", cfg)
			if code != 0 || !strings.Contains(out, "method:   "+string(method)) || !strings.Contains(out, "nothing stops the migration") {
				t.Fatalf("migrate plan: exit %d\n%s\n%s", code, out, errOut)
			}

			res := &mailflow.Resolver{AD: l.Client(t), BaseDN: l.State.BaseDN, Exchange: exchange(t, l)}
			probe := mailflow.StartProbe(t.Context(), res.Resolve, []string{f.primary, f.alias + "-old@" + l.Manifest.MailDomain}, 200*time.Millisecond, clock.System{})
			code, out, errOut = runCLI(t, "migrate", "run", "-c", cfg, "--auto-approve")
			rep := probe.Stop()
			if code != 0 || !strings.Contains(out, "migrated by "+string(method)) {
				t.Fatalf("migrate run: exit %d\n%s\n%s", code, out, errOut)
			}
			t.Logf("migrate run:\n%s", out)
			for _, ar := range rep.Addresses {
				t.Logf("mail flow %s from %s: longest window with no deliverable recipient %s from %s (%d samples)", ar.Address, ar.Side, ar.LongestOutage, ar.OutageStart.Format("15:04:05.000"), ar.Samples)
			}
			s := sagaOf(t, cfg, f.primary)
			if s == nil || s.State != migrate.StateMigrated {
				t.Fatalf("saga %+v", s)
			}
			// plan, run again, says where the group is rather than
			// assessing what the migration changed.
			if code, out, errOut := runCLI(t, "migrate", "plan", "-c", cfg); code != 0 || !strings.Contains(out, "status:   migrated ("+string(method)) {
				t.Errorf("migrate plan after the migration: exit %d\n%s\n%s", code, out, errOut)
			}
			checkPlanSaysNothingOf(t, cfg, s, f)
			g := checkCloudList(t, l, f, method)
			if method == migrate.MethodRecreate {
				if s.Made.SyncCycles != 1 {
					t.Errorf("sync cycles waited for: %d, want 1", s.Made.SyncCycles)
				}
				if tw, err := cloud.FindGroupBySID(t.Context(), labTenant(t, l), orig.SID); err == nil {
					t.Errorf("the synced twin is still there: %+v", tw)
				}
			} else if g.ExternalDirectoryObjectID != s.Capture.TwinID {
				t.Errorf("SOA made another object: %s, twin %s", g.ExternalDirectoryObjectID, s.Capture.TwinID)
			}
			checkOnPremisesRouting(t, l, f, method)
			for _, ar := range rep.Addresses {
				if method == migrate.MethodSOA && ar.LongestOutage > 0 {
					t.Errorf("SOA left %s from %s without a deliverable recipient for %s", ar.Address, ar.Side, ar.LongestOutage)
				}
			}

			code, out, errOut = runCLI(t, "migrate", "rollback", "-c", cfg, f.primary)
			if code != 0 || !strings.Contains(out, "rolled back") {
				t.Fatalf("migrate rollback: exit %d\n%s\n%s", code, out, errOut)
			}
			now, err := l.Client(t).ReadRecipient(t.Context(), f.dn)
			if err != nil {
				t.Fatalf("the group is not back at %s: %v", f.dn, err)
			}
			if now.Mail != orig.Mail || !sameSet(now.ProxyAddresses.Raw(), orig.ProxyAddresses.Raw()) || !sameSet(now.Members, orig.Members) ||
				now.LegacyExchangeDN != orig.LegacyExchangeDN || !strings.EqualFold(now.ManagedBy, orig.ManagedBy) {
				t.Errorf("after rollback %+v\nbefore %+v", now, orig)
			}
			if after := groupAttributes(t, l, f.dn); !maps.EqualFunc(after, origAttrs, slices.Equal) {
				t.Errorf("after rollback the group's attributes are\n%q\nbefore\n%q", after, origAttrs)
			}
			x, err := exchange(t, l).GetRecipient(t.Context(), f.primary)
			if err != nil || !x.IsDirSynced {
				t.Errorf("after rollback the address is held by %+v (%v), want the synced twin", x, err)
			}
		})
	}
}

// checkPlanSaysNothingOf runs hybridsync plan (the drift between AD and
// the tenant) after a migration and checks it has nothing to say of what
// the migration made or changed: the group, its routing contact, the
// on-premises dynamic list, the cloud list, their addresses.
func checkPlanSaysNothingOf(t *testing.T, cfg string, s *migrate.Saga, f *dlFixture) {
	t.Helper()
	saved := filepath.Join(t.TempDir(), "plan.json")
	if code, out, errOut := runCLI(t, "plan", "-c", cfg, "-o", saved); code != 0 {
		t.Fatalf("plan after the migration: exit %d\n%s\n%s", code, out, errOut)
	}
	b, err := os.ReadFile(saved)
	if err != nil {
		t.Fatal(err)
	}
	var p plan.Plan
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if !p.ADComplete || !p.CloudComplete {
		t.Fatalf("plan read incompletely: AD %v cloud %v", p.ADComplete, p.CloudComplete)
	}
	dns := []string{f.dn, s.Made.MovedDN, s.Made.ContactDN, s.Made.DynamicListDN}
	for _, fd := range p.Findings {
		about := slices.ContainsFunc(dns, func(dn string) bool { return dn != "" && ad.EqualDN(dn, fd.ObjectDN) }) ||
			strings.EqualFold(fd.ObjectGUID, s.ID) || (fd.CloudID != "" && fd.CloudID == s.Made.CloudListID) ||
			strings.Contains(strings.ToLower(fd.Evidence+fd.Explanation), strings.ToLower(f.alias))
		if about {
			t.Errorf("plan after the migration: %s on %s: %s", fd.Kind, cmpOr(fd.ObjectDN, fd.CloudID), fd.Explanation)
		}
	}
}

// groupAttributes reads what a migration may touch on a group, and what
// must outlive it: its mail attributes, its lists and links, its custom
// attributes and its identity; values sorted, DNs folded.
func groupAttributes(t *testing.T, l *labtest.Lab, dn string) map[string][]string {
	t.Helper()
	attrs := []string{"name", "displayName", "sAMAccountName", "groupType", "objectGUID", "objectSid", "mail", "mailNickname",
		"proxyAddresses", "legacyExchangeDN", "member", "managedBy", "msExchEnableModeration", "msExchModeratedByLink",
		"authOrig", "unauthOrig", "msExchHideFromAddressLists", "msExchRequireAuthToSendTo"}
	for i := 1; i <= 15; i++ {
		attrs = append(attrs, fmt.Sprintf("extensionAttribute%d", i))
	}
	got, err := l.Client(t).ReadAttributes(t.Context(), dn, attrs...)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"member", "managedBy", "msExchModeratedByLink", "authOrig", "unauthOrig"} {
		for i, v := range got[a] {
			got[a][i] = strings.ToLower(v)
		}
	}
	for _, v := range got {
		slices.Sort(v)
	}
	return got
}

// Bad input: each a clear problem from migrate plan, exit 2, nothing
// written; the seeded groups of each kind are only read.
func TestLabMigratePlanReportsProblems(t *testing.T) {
	l := labtest.Get(t)
	m := l.Manifest
	c := l.Client(t)
	primary := func(dn string) string {
		r, err := c.ReadRecipient(t.Context(), dn)
		if err != nil {
			t.Fatal(err)
		}
		if r.Mail != "" {
			return r.Mail
		}
		return "{" + r.GUID + "}"
	}
	cases := map[string]string{
		"nobody-here@" + m.MailDomain:  "not-found",
		primary(m.DomainLocalDL):       "not-universal",
		primary(m.ProtectedDL):         "protected",
		primary(m.OrphanMemberDL):      "unresolved",
		primary(m.ForeignDomainDL):     "domain-not-accepted",
		primary(m.NestedDL):            migrate.BlockedOutside, // its child is not in the batch
		primary(m.NotMailEnabledGroup): "not-mail-enabled",
	}
	groups := map[string]string{}
	for g := range cases {
		groups[g] = ""
	}
	cfg := migrateConfig(t, l, groups)
	code, out, errOut := runCLI(t, "migrate", "plan", "-c", cfg, "--json")
	if code != 2 {
		t.Fatalf("migrate plan: exit %d (want 2)\n%s\n%s", code, out, errOut)
	}
	var as []migrate.Assessment
	if err := json.Unmarshal([]byte(out), &as); err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		want := cases[a.Group]
		if !slices.ContainsFunc(a.Problems, func(p migrate.Problem) bool { return p.Code == want }) {
			t.Errorf("%s: problems %+v, want %s", a.Group, a.Problems, want)
		}
	}
	// A no-sync OU inside the sync scope is a config error, naming the
	// line.
	cfg2 := migrateConfig(t, l, map[string]string{primary(m.ManagedDL): "nosync_ou: " + strconvQuote(m.SyncOU)})
	code, out, errOut = runCLI(t, "migrate", "plan", "-c", cfg2)
	if code != 1 || !regexp.MustCompile(`hybridsync\.yaml:\d+: migrations\.groups\[0\]\.nosync_ou: is inside the sync scope`).MatchString(errOut) {
		t.Fatalf("a no-sync OU inside the scope: exit %d\n%s\n%s", code, out, errOut)
	}
	// run refuses the same groups, writing nothing.
	code, _, _ = runCLI(t, "migrate", "run", "-c", cfg, "--auto-approve")
	if code != 2 {
		t.Fatalf("migrate run of groups with problems: exit %d", code)
	}
	if es := journalEntries(t, cfg); len(es) != 0 {
		t.Fatalf("%d journal entries written", len(es))
	}
}

// The lab's seeded lists a migration can move (owners, moderation,
// delivery restrictions, a name with LDAP-special characters) are ready,
// each by a method it explains; only read here, since other tests read
// them at the same time (the end-to-end tests migrate lists of the same
// shapes made for them, and the lab demo migrates the moderated one).
func TestLabMigratePlanSeededListsReady(t *testing.T) {
	l := labtest.Get(t)
	m := l.Manifest
	c := l.Client(t)
	groups := map[string]string{}
	for _, dn := range []string{m.ManagedDL, m.ModeratedDL, m.RestrictedDL, m.SpecialDL} {
		r, err := c.ReadRecipient(t.Context(), dn)
		if err != nil {
			t.Fatal(err)
		}
		groups["{"+r.GUID+"}"] = ""
	}
	cfg := migrateConfig(t, l, groups)
	code, out, errOut := runCLI(t, "migrate", "plan", "-c", cfg, "--json")
	if code != 0 {
		t.Fatalf("migrate plan of the seeded lists: exit %d\n%s\n%s", code, out, errOut)
	}
	var as []migrate.Assessment
	if err := json.Unmarshal([]byte(out), &as); err != nil {
		t.Fatal(err)
	}
	if len(as) != 4 {
		t.Fatalf("%d assessments, want 4", len(as))
	}
	for _, a := range as {
		if !a.Ready() || a.Method == "" || a.Reason == "" || len(a.Steps) == 0 {
			t.Errorf("%s (%s): %+v", a.Group, a.DN, a)
		}
	}
}

// learnPoints runs a migration of a new list in a child process that logs
// every failpoint it reaches, and returns them.
func learnPoints(t *testing.T, l *labtest.Lab, method migrate.Method) []string {
	t.Helper()
	f := makeDL(t, l, l.SyncedOU(t), "p"+string(method)[:1], "Points "+string(method))
	cfg := migrateConfig(t, l, map[string]string{f.primary: "method: " + string(method) + "; keep_on_premises_group: true"})
	cleanupMigration(t, l, cfg, f)
	log := filepath.Join(t.TempDir(), "points")
	st, out := runProcess(t, []string{failpointtest.LogEnv + "=" + log}, "migrate", "run", "-c", cfg, "--auto-approve")
	if !st.Success() {
		t.Fatalf("learning run: %s", out)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// A real process killed (SIGKILL) at every failpoint of each path, one
// after the other on the same list: each run resumes what the killed one
// left and is killed at the next point (every step boundary, and every
// write between its journalled intent and sending it, between sending it
// and its outcome, and after its outcome). The last run finishes, and the
// list ends migrated with the members, owners, restrictions and addresses
// of the group.
func TestLabMigrateKilledAtEveryPoint(t *testing.T) {
	l := labtest.Get(t)
	for _, method := range []migrate.Method{migrate.MethodRecreate, migrate.MethodSOA} {
		t.Run(string(method), func(t *testing.T) {
			points := learnPoints(t, l, method)
			if len(points) < 10 {
				t.Fatalf("only %d failpoints learnt: %q", len(points), points)
			}
			t.Logf("%d failpoints: %q", len(points), points)
			f := makeDL(t, l, l.SyncedOU(t), "k"+string(method)[:1], "Killed "+string(method))
			cfg := migrateConfig(t, l, map[string]string{f.primary: "method: " + string(method) + "; keep_on_premises_group: true"})
			cleanupMigration(t, l, cfg, f)
			for _, point := range points {
				killAt(t, cfg, point)
			}
			code, out, errOut := resumeUntilDone(t, cfg)
			if code != 0 {
				t.Fatalf("the run after the last kill: exit %d\n%s\n%s", code, out, errOut)
			}
			s := sagaOf(t, cfg, f.primary)
			if s == nil || s.State != migrate.StateMigrated {
				t.Fatalf("saga %+v", s)
			}
			checkCloudList(t, l, f, method)
			checkOnPremisesRouting(t, l, f, method)
		})
	}
}

// A process killed in the middle of each path, between a write sent and
// its outcome, then rolled back: the group is as it was and the twin holds
// its addresses again.
func TestLabMigrateKilledThenRolledBack(t *testing.T) {
	l := labtest.Get(t)
	for method, point := range map[migrate.Method]string{
		migrate.MethodRecreate: "migrate.retire.ad.Modify.after-sent",
		migrate.MethodSOA:      "migrate.routing-contact.ad.Add.after-sent",
	} {
		t.Run(string(method), func(t *testing.T) {
			f := makeDL(t, l, l.SyncedOU(t), "r"+string(method)[:1], "Rolled "+string(method))
			cfg := migrateConfig(t, l, map[string]string{f.primary: "method: " + string(method) + "; keep_on_premises_group: true"})
			cleanupMigration(t, l, cfg, f)
			orig, err := l.Client(t).ReadRecipient(t.Context(), f.dn)
			if err != nil {
				t.Fatal(err)
			}
			killAt(t, cfg, point)
			code, out, errOut := rollbackUntilDone(t, cfg, f.primary)
			if code != 0 || !strings.Contains(out, "rolled back") {
				t.Fatalf("rollback after the kill at %s: exit %d\n%s\n%s", point, code, out, errOut)
			}
			now, err := l.Client(t).ReadRecipient(t.Context(), f.dn)
			if err != nil {
				t.Fatalf("the group is not back at %s: %v", f.dn, err)
			}
			if now.Mail != orig.Mail || !sameSet(now.Members, orig.Members) || !sameSet(now.ProxyAddresses.Raw(), orig.ProxyAddresses.Raw()) ||
				now.LegacyExchangeDN != orig.LegacyExchangeDN {
				t.Errorf("after rollback %+v\nbefore %+v", now, orig)
			}
			l.Sync(t)
			x, err := exchange(t, l).GetRecipient(t.Context(), f.primary)
			if err != nil || !x.IsDirSynced {
				t.Errorf("after rollback the address is held by %+v (%v), want the synced twin", x, err)
			}
		})
	}
}

// killAt runs migrate run in a child process that is killed (SIGKILL)
// when it reaches point; a run that first finds a write of the killed one
// not settled yet ends without reaching it, and is run again.
func killAt(t *testing.T, cfg, point string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		st, out := runProcess(t, []string{failpointtest.Env + "=" + point}, "migrate", "run", "-c", cfg, "--auto-approve")
		if st.ExitCode() == -1 {
			return
		}
		if !unsettled(out) || time.Now().After(deadline) {
			t.Fatalf("not killed at %s (exit %d):\n%s", point, st.ExitCode(), out)
		}
		sleep(t, 2*time.Second)
	}
}

// unsettled reports whether a run's output says a write of an earlier
// run is not settled yet.
func unsettled(out string) bool {
	return strings.Contains(out, "not known yet") || strings.Contains(out, "without an answer")
}

func sleep(t *testing.T, d time.Duration) {
	select {
	case <-t.Context().Done():
	case <-time.After(d):
	}
}

// cleanupMigration removes, when the test ends, what a migration left
// outside the test's OU (the group moved to the no-sync OU, the routing
// contact) if the test did not roll it back.
func cleanupMigration(t testing.TB, l *labtest.Lab, cfg string, f *dlFixture) {
	t.Helper()
	c := l.Client(t)
	t.Cleanup(func() {
		code, out, _ := runCLI(t, "migrate", "status", "-c", cfg, "--json")
		if code != 0 {
			return
		}
		var rows []groupStatus
		if json.Unmarshal([]byte(out), &rows) != nil {
			return
		}
		ctx := context.Background()
		for _, r := range rows {
			if r.Saga == nil {
				continue
			}
			for _, dn := range []string{r.Saga.Made.ContactDN, r.Saga.Made.MovedDN} {
				if dn != "" && ad.IsUnder(dn, l.Manifest.NoSyncOU) {
					if err := c.Delete(ctx, dn); err != nil && retry.ClassOf(err) != retry.NotFound {
						t.Logf("clean up %s: %v", dn, err)
					}
				}
			}
		}
	})
}

// resumeUntilDone runs migrate run until it ends (a run may find a write
// whose outcome is not settled yet, and say so).
func resumeUntilDone(t *testing.T, cfg string) (int, string, string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		code, out, errOut := runCLI(t, "migrate", "run", "-c", cfg, "--auto-approve")
		if code == 0 || time.Now().After(deadline) || !unsettled(out+errOut) {
			return code, out, errOut
		}
		sleep(t, 2*time.Second)
	}
}

// rollbackUntilDone runs migrate rollback until it ends (it may find a
// write of a killed run whose outcome is not settled yet, and say so).
func rollbackUntilDone(t *testing.T, cfg, group string) (int, string, string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		code, out, errOut := runCLI(t, "migrate", "rollback", "-c", cfg, group)
		if code == 0 || time.Now().After(deadline) || !unsettled(out+errOut) {
			return code, out, errOut
		}
		sleep(t, 2*time.Second)
	}
}
