package cli

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/agent/lab"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/cloud/emulator"
	"github.com/hybridsync/hybridsync/cloud/emulator/emutest"
	"github.com/hybridsync/hybridsync/cloud/emulator/syncsim"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// consistencyTenant is a tenant emulator of the test's own, synced from
// the lab's AD by a simulated Entra Connect installed with
// mS-DS-ConsistencyGuid as its source anchor, and an agent config for it
// (reconcile.source_anchor mS-DS-ConsistencyGuid).
type consistencyTenant struct {
	srv    *emutest.Server
	src    *adldap.Client
	sync   syncsim.Config
	config string
}

func newConsistencyTenant(t *testing.T, l *labtest.Lab, ou, licenceGroup string) *consistencyTenant {
	t.Helper()
	srv := emutest.Start(t, func(c *emulator.Config) { c.AcceptedDomains = []string{l.Manifest.MailDomain} })
	base, err := os.ReadFile(l.Env[lab.EnvConfig])
	if err != nil {
		t.Fatal(err)
	}
	// The lab config's AD section with ou as the only sync OU, and a cloud
	// section for the test's tenant.
	text := string(base)
	i, j, k := strings.Index(text, "  sync_ous:\n"), strings.Index(text, "  nosync_ou:"), strings.Index(text, "cloud:\n")
	if i < 0 || j < i || k < j {
		t.Fatalf("unexpected lab config:\n%s", text)
	}
	dir := t.TempDir()
	secret := filepath.Join(dir, "client.secret")
	if err := os.WriteFile(secret, []byte(emutest.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := text[:i] + "  sync_ous:\n    - " + strconvQuote(ou) + "\n" + text[j:k] +
		"cloud:\n  tenant_id: " + emutest.TenantID + "\n  client_id: " + emutest.ClientID + "\n  national_cloud: global\n" +
		"  initial_domain: " + emutest.InitialDomain + "\n  credential:\n    client_secret: " + strconvQuote("file:"+secret) + "\n" +
		"  endpoints:\n    authority: " + srv.URL + "/\n    graph: " + srv.URL + "\n    exchange: " + srv.URL + "\n" +
		"  ca_file: " + strconvQuote(srv.CAFile) + "\n  timeout: 60s\n" +
		"reconcile:\n  source_anchor: mS-DS-ConsistencyGuid\n" +
		"state_dir: " + strconvQuote(filepath.Join(dir, "state")) + "\n"
	return &consistencyTenant{
		srv: srv, src: l.Client(t), config: labtest.WriteConfig(t, cfg),
		sync: syncsim.Config{Scope: []string{ou}, LicenseGroupDN: licenceGroup, SourceAnchor: plan.AnchorConsistencyGUID},
	}
}

// run runs one sync cycle into the test's tenant.
func (c *consistencyTenant) run(ctx context.Context) (syncsim.Report, error) {
	return syncsim.Run(ctx, c.src, c.srv.Emulator, c.sync)
}

// twin returns the tenant's user anchored on iid.
func (c *consistencyTenant) twin(iid string) *emulator.Object {
	var o *emulator.Object
	_ = c.srv.Emulator.View(func(tx *emulator.Tx) error { o = tx.FindByImmutableID(cloud.KindUser, iid); return nil })
	return o
}

// A licensed user whose mS-DS-ConsistencyGuid differs from its objectGUID
// (as after a move between forests), with mS-DS-ConsistencyGuid as the
// source anchor: plan knows it is a mailbox, so it predicts the mailbox's
// addresses (no drift), and apply's verification finds its twin by that
// anchor and accepts it once the sync shows the fix. A user whose
// mS-DS-ConsistencyGuid is empty gets its objectGUID written back into it
// by the first cycle.
func TestLabConsistencyGuidAnchorLicensedUser(t *testing.T) {
	l := labtest.Get(t)
	ou := l.OU(t) // not the lab's sync scope: only this test's tenant syncs it
	c := l.Client(t)
	ctx := t.Context()
	dom := l.Manifest.MailDomain
	ouName, err := ad.RDNValue(ou)
	if err != nil {
		t.Fatal(err)
	}
	alias := "cg-" + strings.ToLower(ouName[len(ouName)-8:])
	var migrated [16]byte
	if _, err := rand.Read(migrated[:]); err != nil {
		t.Fatal(err)
	}
	// A mail-only user whose proxyAddresses holds only an x500 value (as
	// KB 3190357, "How the proxyAddresses attribute is populated in
	// Microsoft Entra ID", describes), carrying the consistency GUID it had
	// in its former forest.
	userDN := ad.ChildDN("CN", "Migrated "+alias, ou)
	err = c.Add(ctx, userDN, []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "user"}},
		{Name: "sAMAccountName", Values: []string{alias}},
		{Name: "userPrincipalName", Values: []string{alias + "@" + dom}},
		{Name: "mail", Values: []string{alias + "@" + dom}},
		{Name: "proxyAddresses", Values: []string{"x500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=" + alias}},
		{Name: "mS-DS-ConsistencyGuid", Values: []string{string(migrated[:])}},
	})
	if err != nil {
		t.Fatal(err)
	}
	licence := ad.ChildDN("CN", "Licensed "+alias, ou)
	err = c.Add(ctx, licence, []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "group"}},
		{Name: "sAMAccountName", Values: []string{"lic-" + alias}},
		{Name: "groupType", Values: []string{"-2147483646"}}, // global security
		{Name: "member", Values: []string{userDN}},
	})
	if err != nil {
		t.Fatal(err)
	}
	user, err := c.ReadRecipient(ctx, userDN)
	if err != nil {
		t.Fatal(err)
	}
	if user.ConsistencyGUID == "" || strings.EqualFold(user.ConsistencyGUID, user.GUID) {
		t.Fatalf("mS-DS-ConsistencyGuid %q should differ from objectGUID %s", user.ConsistencyGUID, user.GUID)
	}
	iid, _ := plan.ImmutableID(user.ConsistencyGUID)

	// A user never synced before, whose mS-DS-ConsistencyGuid is empty:
	// the first cycle writes its objectGUID back into it.
	fresh := ad.ChildDN("CN", "Fresh "+alias, ou)
	err = c.Add(ctx, fresh, []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "user"}},
		{Name: "sAMAccountName", Values: []string{"f" + alias}},
		{Name: "userPrincipalName", Values: []string{"f" + alias + "@" + dom}},
	})
	if err != nil {
		t.Fatal(err)
	}

	tn := newConsistencyTenant(t, l, ou, licence)
	if rep, err := tn.run(ctx); err != nil || rep.Created != 3 || rep.WrittenBack != 1 {
		t.Fatalf("first sync: %v %+v", err, rep)
	}
	r, err := c.ReadRecipient(ctx, fresh)
	if err != nil {
		t.Fatal(err)
	}
	if r.ConsistencyGUID != r.GUID {
		t.Fatalf("%s: mS-DS-ConsistencyGuid %q after the first sync, want its objectGUID %s written back", fresh, r.ConsistencyGUID, r.GUID)
	}
	if r, err := c.ReadRecipient(ctx, userDN); err != nil || r.ConsistencyGUID != user.ConsistencyGUID {
		t.Fatalf("%s: mS-DS-ConsistencyGuid changed by the sync (%v)", userDN, err)
	}
	oldMail, newMail := alias+"@"+dom, "renamed-"+alias+"@"+dom
	if err := c.Modify(ctx, userDN, ad.Change{Op: ad.ReplaceValues, Attr: "mail", Values: []string{newMail}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.run(ctx); err != nil {
		t.Fatal(err)
	}
	cu := tn.twin(iid)
	if cu == nil || !cu.ExchangeLicensed || cu.Mail != oldMail || !slices.Contains(cu.ProxyAddresses, "smtp:"+alias+"@"+emutest.InitialDomain) {
		t.Fatalf("the tenant should hold a mailbox anchored on mS-DS-ConsistencyGuid, still at %s: %+v", oldMail, cu)
	}

	saved := filepath.Join(t.TempDir(), "plan.json")
	code, out, errOut := runCLI(t, "plan", "-c", tn.config, "--detailed-exitcode", "-o", saved)
	if code != 2 {
		t.Fatalf("plan: exit %d, want 2 (a fix pending)\n%s\n%s", code, out, errOut)
	}
	var p plan.Plan
	data, err := os.ReadFile(saved)
	if err == nil {
		err = json.Unmarshal(data, &p)
	}
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[plan.FindingKind]int{}
	for _, f := range p.Findings {
		if ad.EqualDN(f.ObjectDN, userDN) {
			kinds[f.Kind]++
			if f.Kind == plan.AddressDrift {
				t.Errorf("plan does not predict the mailbox's addresses (it took the user for unlicensed): %s", f.Evidence)
			}
		}
	}
	if kinds[plan.MailNotPrimary] != 1 || len(p.Actions) != 1 || p.Summary.Deletes != 0 || p.Summary.Adds != 0 || len(p.Findings) != 1 {
		t.Fatalf("plan: findings %v of the user (%d in all), %d actions, summary %+v", kinds, len(p.Findings), len(p.Actions), p.Summary)
	}

	// Apply, with a sync cycle every two seconds until it returns: the
	// verification must find the twin by its mS-DS-ConsistencyGuid.
	type result struct {
		code     int
		out, err string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := runCLI(t, "apply", "-c", tn.config, saved, "--verify-timeout", "2m", "--verify-interval", "1s")
		done <- result{code, out, errOut}
	}()
	deadline := time.After(4 * time.Minute)
	var res result
wait:
	for {
		select {
		case res = <-done:
			break wait
		case <-deadline:
			t.Fatal("apply did not return within 4 minutes")
		case <-time.After(2 * time.Second):
			if _, err := tn.run(ctx); err != nil {
				t.Logf("sync: %v", err)
			}
		}
	}
	if res.code != 0 || !strings.Contains(res.out, "1 applied") || !regexp.MustCompile(`(?m)^\s+verified\s`).MatchString(res.out) {
		t.Fatalf("apply: exit %d\n%s\n%s", res.code, res.out, res.err)
	}
	if cu := tn.twin(iid); cu == nil || cu.Mail != newMail || !slices.Contains(cu.ProxyAddresses, "SMTP:"+newMail) {
		t.Fatalf("the tenant does not show SMTP:%s on the twin: %+v", newMail, cu)
	}
}
