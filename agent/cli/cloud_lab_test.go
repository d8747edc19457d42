package cli

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/config"
	"github.com/hybridsync/hybridsync/agent/lab"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/agent/setup"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/cloud/emulator/syncsim"
	"github.com/hybridsync/hybridsync/reconcile/plan"
	"github.com/hybridsync/hybridsync/reconcile/proxycalc"
)

// labTenant is the real Graph client against the lab's tenant emulator.
func labTenant(t testing.TB, l *labtest.Lab) cloud.Tenant {
	t.Helper()
	return tenantOf(t, l.Env[lab.EnvConfig])
}

// tenantOf returns the tenant of the config at path, through the
// product's clients.
func tenantOf(t testing.TB, path string) cloud.Tenant {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := setup.New(cfg, path, nil, setup.Observers{})
	if err != nil {
		t.Fatal(err)
	}
	tenant, err := st.Tenant()
	if err != nil {
		t.Fatal(err)
	}
	return tenant
}

// findByImmutableID lists kind and returns the synced twin of the AD object
// with objectGUID guid, or nil.
func findByImmutableID(t *testing.T, tenant cloud.Tenant, kind cloud.Kind, guid string) *cloud.Object {
	t.Helper()
	want, err := plan.ImmutableID(guid)
	if err != nil {
		t.Fatal(err)
	}
	var found *cloud.Object
	_, err = tenant.List(t.Context(), kind, cloud.ListOptions{Filter: "onPremisesImmutableId eq '" + want + "'"}, func(o *cloud.Object) error {
		found = o
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func syncNow(t *testing.T, l *labtest.Lab) syncsim.Report {
	t.Helper()
	rep, err := lab.TriggerSync(t.Context(), l.State.Dir)
	if err != nil {
		t.Fatalf("lab sync: %v", err)
	}
	return rep
}

// End to end through the lab: AD change, a sync cycle of the simulated
// Entra Connect, and the tenant as the real Graph client reads it.
func TestLabCloudFollowsADThroughSync(t *testing.T) {
	l := labtest.Get(t)
	synced := l.SyncedOU(t)
	outside := l.OU(t)
	c := l.Client(t)
	ctx := t.Context()
	dom := l.Manifest.MailDomain
	ouName, err := ad.RDNValue(synced)
	if err != nil {
		t.Fatal(err)
	}
	suffix := strings.ToLower(ouName[len(ouName)-8:]) // labtest's random tail
	alias := "e2e-" + suffix
	userDN := ad.ChildDN("CN", "E2E User "+suffix, synced)
	err = c.Add(ctx, userDN, []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "user"}},
		{Name: "sAMAccountName", Values: []string{alias}},
		{Name: "userPrincipalName", Values: []string{alias + "@" + dom}},
		{Name: "mail", Values: []string{alias + "@" + dom}},
		{Name: "mailNickname", Values: []string{alias}},
		{Name: "proxyAddresses", Values: []string{"SMTP:" + alias + "@" + dom}},
	})
	if err != nil {
		t.Fatal(err)
	}
	groupDN := ad.ChildDN("CN", "E2E Group "+suffix, synced)
	err = c.Add(ctx, groupDN, []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "group"}},
		{Name: "sAMAccountName", Values: []string{"g-" + alias}},
		{Name: "groupType", Values: []string{"8"}},
		{Name: "mail", Values: []string{"g-" + alias + "@" + dom}},
		{Name: "proxyAddresses", Values: []string{"SMTP:g-" + alias + "@" + dom}},
		{Name: "member", Values: []string{userDN}},
	})
	if err != nil {
		t.Fatal(err)
	}
	user, err := c.ReadRecipient(ctx, userDN)
	if err != nil {
		t.Fatal(err)
	}
	group, err := c.ReadRecipient(ctx, groupDN)
	if err != nil {
		t.Fatal(err)
	}
	tenant := labTenant(t, l)

	rep := syncNow(t, l)
	if !rep.Complete {
		t.Fatalf("sync report %+v", rep)
	}
	cu := findByImmutableID(t, tenant, cloud.KindUser, user.GUID)
	cg := findByImmutableID(t, tenant, cloud.KindGroup, group.GUID)
	if cu == nil || cg == nil {
		t.Fatalf("after sync: user %v group %v", cu, cg)
	}
	if !cu.OnPremisesSyncEnabled || cu.Mail != alias+"@"+dom || cg.GroupType != cloud.GroupDistribution {
		t.Fatalf("synced user %+v group %+v", cu, cg)
	}
	members, err := tenant.Members(ctx, cg.ID)
	if err != nil || len(members) != 1 || members[0].ID != cu.ID {
		t.Fatalf("group members %+v %v", members, err)
	}

	// A proxyAddresses change flows as ProxyCalc says.
	newPrimary := "renamed-" + alias + "@" + dom
	err = c.Modify(ctx, userDN,
		ad.Change{Op: ad.DeleteValues, Attr: "proxyAddresses", Values: []string{"SMTP:" + alias + "@" + dom}},
		ad.Change{Op: ad.AddValues, Attr: "proxyAddresses", Values: []string{"SMTP:" + newPrimary, "smtp:" + alias + "@" + dom}})
	if err != nil {
		t.Fatal(err)
	}
	syncNow(t, l)
	cu = findByImmutableID(t, tenant, cloud.KindUser, user.GUID)
	want := proxycalc.Compute(proxycalc.Input{Kind: "user", Mail: alias + "@" + dom, MailNickname: alias, UPN: alias + "@" + dom,
		ProxyAddresses: []string{"SMTP:" + newPrimary, "smtp:" + alias + "@" + dom}},
		proxycalc.Tenant{InitialDomain: l.Env[lab.EnvInitialDomain], VerifiedDomains: []string{dom}},
		&proxycalc.Previous{Mail: alias + "@" + dom, MailNickname: alias, ProxyAddresses: []string{"SMTP:" + alias + "@" + dom}}, proxycalc.Options{})
	got, exp := slices.Clone(cu.ProxyAddresses), want.Values()
	slices.Sort(got)
	slices.Sort(exp)
	if cu.Mail != newPrimary || !slices.Equal(got, exp) {
		t.Fatalf("after the change: mail %q addresses %v; ProxyCalc predicts mail %q addresses %v", cu.Mail, got, want.Mail, exp)
	}

	// The group leaves the sync scope: the next cycle removes it.
	if _, err := c.Move(ctx, groupDN, outside); err != nil {
		t.Fatal(err)
	}
	// The lab's own 30-second cycle (or another test's) may run the
	// deletion before this one does, so the end state is what counts.
	syncNow(t, l)
	if g := findByImmutableID(t, tenant, cloud.KindGroup, group.GUID); g != nil {
		t.Fatalf("group still in the tenant after leaving scope: %+v", g)
	}

	// cloud export shows the user with its new address, not the group.
	out := filepath.Join(t.TempDir(), "cloud.jsonl")
	code, _, errOut := runCLI(t, "cloud", "export", "-c", l.Env[lab.EnvConfig], "-o", out)
	if code != 0 {
		t.Fatalf("cloud export exited %d: %s", code, errOut)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var sawUser, sawGroup bool
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		var rec struct {
			ID   string `json:"id"`
			Type string `json:"type"`
			Mail string `json:"mail"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		sawUser = sawUser || (rec.ID == cu.ID && rec.Mail == newPrimary)
		sawGroup = sawGroup || rec.ID == cg.ID
	}
	if !sawUser || sawGroup {
		t.Fatalf("cloud export: user with new address %v, removed group present %v", sawUser, sawGroup)
	}
	if !strings.Contains(errOut, "requests_per_1000_objects") {
		t.Fatalf("summary missing: %s", errOut)
	}
}

// The seed's licensing reaches the tenant: licensed users get the MOERA and
// their UPN as secondaries, an unlicensed mail-only user keeps just its
// primary (KB 3190357).
func TestLabCloudLicensingFollowsProxyCalc(t *testing.T) {
	l := labtest.Get(t)
	if len(l.Manifest.Licensed) == 0 {
		t.Fatal("lab seeded without licensed users")
	}
	c := l.Client(t)
	tenant := labTenant(t, l)
	licensed, err := c.ReadRecipient(t.Context(), l.Manifest.Licensed[0])
	if err != nil {
		t.Fatal(err)
	}
	cu := findByImmutableID(t, tenant, cloud.KindUser, licensed.GUID)
	if cu == nil {
		t.Fatalf("licensed user %s not in the tenant", licensed.DN)
	}
	moera := "smtp:" + cu.MailNickname + "@" + l.Env[lab.EnvInitialDomain]
	if !slices.ContainsFunc(cu.ProxyAddresses, func(a string) bool { return strings.EqualFold(a, moera) }) {
		t.Fatalf("licensed user %v lacks its MOERA %s", cu.ProxyAddresses, moera)
	}
}
