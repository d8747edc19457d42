//go:build lab

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/lab"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/failpoint/failpointtest"
	"github.com/hybridsync/hybridsync/reconcile/journal"
	"github.com/hybridsync/hybridsync/reconcile/migrate"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// denyWrites makes the lab's DC refuse every attribute write to dn by the
// agent's bind account (a deny ACE for the domain's Administrator, which
// the lab binds as, written with samba-tool into the DC's own database),
// and returns a function that puts the object's security descriptor back.
func denyWrites(t *testing.T, l *labtest.Lab, dn string) func() {
	t.Helper()
	dir := l.Env[lab.EnvDir]
	sam, conf := filepath.Join(dir, "samba", "private", "sam.ldb"), filepath.Join(dir, "samba", "etc", "smb.conf")
	out, err := exec.CommandContext(t.Context(), "samba-tool", "dsacl", "get", "--objectdn="+dn, "-H", sam, "-s", conf).Output()
	if err != nil {
		t.Fatalf("samba-tool dsacl get %s: %v", dn, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	orig := lines[len(lines)-1]
	if !strings.HasPrefix(orig, "O:") {
		t.Fatalf("samba-tool dsacl get %s: no SDDL in %q", dn, out)
	}
	setSD := func(sddl string) {
		t.Helper()
		ldif := fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: nTSecurityDescriptor\nnTSecurityDescriptor: %s\n", dn, sddl)
		cmd := exec.CommandContext(context.Background(), "ldbmodify", "-H", sam)
		cmd.Stdin = strings.NewReader(ldif)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ldbmodify %s (security descriptor): %v\n%s", dn, err, out)
		}
	}
	// The deny ACE first in the DACL, after its flags.
	setSD(regexp.MustCompile(`D:([A-Z]*)`).ReplaceAllString(orig, "D:${1}(D;;WP;;;LA)"))
	return func() { setSD(orig) }
}

// planConfig is cfg (the same journal and state) with a longer AD timeout
// than migrateConfig's 5 seconds, for plan and apply, which read the whole
// seeded sync scope (a page of 1,000 objects takes longer than that on a
// busy machine), and with extra appended.
func planConfig(t *testing.T, cfg, extra string) string {
	t.Helper()
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Replace(string(text), "\n  timeout: 5s\n", "\n  timeout: 60s\n", 1)
	if out == string(text) {
		t.Fatalf("%s has no ad timeout of 5s", cfg)
	}
	return labtest.WriteConfig(t, out+extra)
}

// listAttrs reads what an address change touches on premises, raw from
// the DC.
func listAttrs(t *testing.T, l *labtest.Lab, dn string) map[string][]string {
	t.Helper()
	got, err := l.Client(t).ReadAttributes(t.Context(), dn, "mail", "mailNickname", "proxyAddresses", "targetAddress")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range got {
		slices.Sort(v)
	}
	return got
}

// cloudList reads the cloud list by id through the product's Exchange
// client.
func cloudList(t *testing.T, l *labtest.Lab, id string) *cloud.DistributionGroup {
	t.Helper()
	g, err := exchange(t, l).GetDistributionGroup(t.Context(), id)
	if err != nil {
		t.Fatalf("Get-DistributionGroup %s: %v", id, err)
	}
	slices.Sort(g.EmailAddresses)
	return g
}

// migrate address end to end on a list migrated by recreate: bad input
// refused with nothing written, the on-premises write refused by the DC
// after the cloud write (the cloud compensated), the change itself
// checked from both directories and by the mail-flow resolver, then a
// rollback over it.
func TestLabMigrateAddress(t *testing.T) {
	l := labtest.Get(t)
	ou := l.SyncedOU(t)
	f := makeDL(t, l, ou, "addr", "Address Change")
	cfg := migrateConfig(t, l, map[string]string{f.primary: "method: recreate; keep_on_premises_group: true"})
	cleanupMigration(t, l, cfg, f)
	if code, out, errOut := runCLI(t, "migrate", "run", "-c", cfg, "--auto-approve"); code != 0 {
		t.Fatalf("migrate run: exit %d\n%s\n%s", code, out, errOut)
	}
	s := sagaOf(t, cfg, f.primary)
	if s == nil || s.State != migrate.StateMigrated || s.Made.DynamicListDN == "" {
		t.Fatalf("saga %+v", s)
	}
	dom := l.Manifest.MailDomain
	dlBefore, cloudBefore := listAttrs(t, l, s.Made.DynamicListDN), cloudList(t, l, s.Made.CloudListID)
	unchanged := func(t *testing.T, what string) {
		t.Helper()
		if now := listAttrs(t, l, s.Made.DynamicListDN); !maps.EqualFunc(now, dlBefore, slices.Equal) {
			t.Errorf("%s: the dynamic list is now\n%q\nwas\n%q", what, now, dlBefore)
		}
		now := cloudList(t, l, s.Made.CloudListID)
		if now.PrimarySMTPAddress != cloudBefore.PrimarySMTPAddress || now.Alias != cloudBefore.Alias || !slices.Equal(now.EmailAddresses, cloudBefore.EmailAddresses) {
			t.Errorf("%s: the cloud list is now %s %s %q, was %s %s %q", what, now.PrimarySMTPAddress, now.Alias, now.EmailAddresses,
				cloudBefore.PrimarySMTPAddress, cloudBefore.Alias, cloudBefore.EmailAddresses)
		}
	}

	t.Run("bad input", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			args  []string
			wants string
		}{
			{"malformed", []string{f.primary, "--primary", "new@@" + dom}, "is not an email address"},
			{"domain not accepted", []string{f.primary, "--primary", "new-" + f.alias + "@fabrikam.example"}, "not an accepted domain"},
			{"held by a member", []string{f.primary, "--primary", f.members[0].Mail}, "is already used by"},
			{"held on premises only", []string{f.primary, "--primary", "x-" + f.alias + "@" + dom}, "is already used on premises by"},
			{"never migrated", []string{"nobody-" + f.alias + "@" + dom, "--primary", "new-" + f.alias + "@" + dom}, "was never migrated by hybridsync"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if tc.name == "held on premises only" {
					// A contact in the no-sync OU holds the address: AD
					// only, the tenant never sees it.
					u := l.AddMailUser(t, l.Manifest.NoSyncOU, "x-"+f.alias)
					t.Cleanup(func() { _ = l.Client(t).Delete(context.Background(), u.DN) })
					tc.args[2] = u.Mail
				}
				code, out, errOut := runCLI(t, append([]string{"migrate", "address", "-c", cfg}, tc.args...)...)
				if code == 0 || !strings.Contains(errOut, tc.wants) || !strings.Contains(errOut, "nothing written") {
					t.Errorf("exit %d, want a refusal saying %q and nothing written\n%s\n%s", code, tc.wants, out, errOut)
				}
				unchanged(t, tc.name)
			})
		}
	})

	newPrimary, newAlias := "renamed-"+f.alias+"@"+dom, "renamed-"+f.alias
	t.Run("on-premises write refused", func(t *testing.T) {
		restore := denyWrites(t, l, s.Made.DynamicListDN)
		code, out, errOut := runCLI(t, "migrate", "address", "-c", cfg, f.primary, "--primary", newPrimary, "--alias", newAlias)
		restore()
		if code == 0 || !strings.Contains(errOut, "the cloud list was set back to "+f.primary) || !strings.Contains(errOut, "nothing changed") {
			t.Fatalf("exit %d, want the cloud compensated\n%s\n%s", code, out, errOut)
		}
		t.Logf("refused: %s", errOut)
		unchanged(t, "after the compensation")
		st := sagaOf(t, cfg, f.primary)
		if n := len(st.Made.AddressChanges); n != 1 || st.Made.AddressChanges[0].State != migrate.AddressCompensated {
			t.Errorf("address changes in the saga: %+v", st.Made.AddressChanges)
		}
	})

	t.Run("changed", func(t *testing.T) {
		code, out, errOut := runCLI(t, "migrate", "address", "-c", cfg, f.primary, "--primary", newPrimary, "--alias", newAlias)
		if code != 0 {
			t.Fatalf("migrate address: exit %d\n%s\n%s", code, out, errOut)
		}
		t.Logf("migrate address: %s", out)
		got := listAttrs(t, l, s.Made.DynamicListDN)
		if !slices.Equal(got["mail"], []string{newPrimary}) || !slices.Equal(got["mailNickname"], []string{newAlias}) ||
			!slices.Contains(got["proxyAddresses"], "SMTP:"+newPrimary) || !slices.Contains(got["proxyAddresses"], "smtp:"+f.primary) ||
			slices.Contains(got["proxyAddresses"], "SMTP:"+f.primary) {
			t.Errorf("the dynamic list on the DC: %q", got)
		}
		g := cloudList(t, l, s.Made.CloudListID)
		if !strings.EqualFold(g.PrimarySMTPAddress, newPrimary) || g.Alias != newAlias || !hasFold(g.EmailAddresses, "smtp:"+f.primary) {
			t.Errorf("the cloud list: %s %s %q", g.PrimarySMTPAddress, g.Alias, g.EmailAddresses)
		}
		for _, v := range cloudBefore.EmailAddresses {
			if !hasFold(g.EmailAddresses, v) {
				t.Errorf("the cloud list lost %s: %q", v, g.EmailAddresses)
			}
		}
		// On-premises senders reach the cloud members by the new address
		// through the routing contact, and still by the old one.
		renamed := *f
		renamed.primary = newPrimary
		checkOnPremisesRouting(t, l, &renamed, migrate.MethodRecreate)
		checkOnPremisesRouting(t, l, f, migrate.MethodRecreate)
		if code, out, _ := runCLI(t, "migrate", "status", "-c", cfg); code != 0 || !regexp.MustCompile(`address changed to `+regexp.QuoteMeta(newPrimary)).MatchString(out) {
			t.Errorf("migrate status: exit %d\n%s", code, out)
		}
		checkPlanSaysNothingOf(t, planConfig(t, cfg, ""), sagaOf(t, cfg, f.primary), f)
	})

	t.Run("rollback", func(t *testing.T) {
		code, out, errOut := runCLI(t, "migrate", "rollback", "-c", cfg, newPrimary)
		if code == 0 || !strings.Contains(errOut, "changed by migrate address") {
			t.Fatalf("rollback without --force: exit %d, want it to name the address change\n%s\n%s", code, out, errOut)
		}
		code, out, errOut = runCLI(t, "migrate", "rollback", "-c", cfg, newPrimary, "--force")
		if code != 0 || !strings.Contains(out, "rolled back") {
			t.Fatalf("migrate rollback --force: exit %d\n%s\n%s", code, out, errOut)
		}
		r, err := l.Client(t).ReadRecipient(t.Context(), f.dn)
		if err != nil || !strings.EqualFold(r.Mail, f.primary) || r.Kind != ad.KindGroup {
			t.Errorf("after rollback %s: %+v %v", f.dn, r, err)
		}
		if x, err := exchange(t, l).GetRecipient(t.Context(), newPrimary); err == nil {
			t.Errorf("after rollback %s is still held by %s", newPrimary, x.Name)
		}
	})
}

// The drift migrate address prevents: a migrated list's primary address
// changed directly in Exchange Online (Set-DistributionGroup, as an admin
// would in the Exchange admin center), its on-premises dynamic list left
// with the old one. plan reports it with the fix; apply writes it,
// journalled; on-premises senders then reach the list by its new address.
func TestLabMigratedListAddressDrift(t *testing.T) {
	l := labtest.Get(t)
	ou := l.SyncedOU(t)
	f := makeDL(t, l, ou, "drift", "Drifted List")
	cfg := migrateConfig(t, l, map[string]string{f.primary: "method: recreate; keep_on_premises_group: true"})
	cleanupMigration(t, l, cfg, f)
	if code, out, errOut := runCLI(t, "migrate", "run", "-c", cfg, "--auto-approve"); code != 0 {
		t.Fatalf("migrate run: exit %d\n%s\n%s", code, out, errOut)
	}
	s := sagaOf(t, cfg, f.primary)
	if s == nil || s.State != migrate.StateMigrated || s.Made.DynamicListDN == "" {
		t.Fatalf("saga %+v", s)
	}
	// plan and apply look at this test's OU alone.
	cfg = planConfig(t, cfg, "reconcile:\n  scope:\n    ous:\n      - "+strconvQuote(ou)+"\n")

	newPrimary := "moved-" + f.alias + "@" + l.Manifest.MailDomain
	if err := exchange(t, l).SetDistributionGroup(t.Context(), s.Made.CloudListID, cloud.GroupChanges{PrimarySMTPAddress: &newPrimary}); err != nil {
		t.Fatalf("Set-DistributionGroup -PrimarySmtpAddress: %v", err)
	}
	findings := func() []plan.Finding {
		t.Helper()
		saved := filepath.Join(t.TempDir(), "plan.json")
		code, out, errOut := runCLI(t, "plan", "-c", cfg, "-o", saved)
		if code != 0 && code != 2 {
			t.Fatalf("plan: exit %d\n%s\n%s", code, out, errOut)
		}
		t.Logf("plan:\n%s", out)
		b, err := os.ReadFile(saved)
		if err != nil {
			t.Fatal(err)
		}
		var p plan.Plan
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		var out2 []plan.Finding
		for _, fd := range p.Findings {
			if fd.Kind == plan.MigratedListAddress {
				out2 = append(out2, fd)
			}
		}
		return out2
	}
	fs := findings()
	if len(fs) != 1 || !ad.EqualDN(fs[0].ObjectDN, s.Made.DynamicListDN) || fs[0].CloudID != s.Made.CloudListID || fs[0].Action == nil ||
		fs[0].Action.NewMail != newPrimary {
		t.Fatalf("plan after the cloud-side change: %+v", fs)
	}
	code, out, errOut := runCLI(t, "apply", "-c", cfg, "--auto-approve")
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("apply:\n%s", out)
	got := listAttrs(t, l, s.Made.DynamicListDN)
	if !slices.Equal(got["mail"], []string{newPrimary}) || !slices.Contains(got["proxyAddresses"], "SMTP:"+newPrimary) ||
		!slices.Contains(got["proxyAddresses"], "smtp:"+f.primary) || slices.Contains(got["proxyAddresses"], "SMTP:"+f.primary) {
		t.Errorf("the dynamic list on the DC after apply: %q", got)
	}
	es := journalEntries(t, cfg)
	if !slices.ContainsFunc(es, func(e journal.Entry) bool {
		return ad.EqualDN(e.Object, s.Made.DynamicListDN) && e.State == journal.Done && len(e.Before) > 0
	}) {
		t.Errorf("no journal entry done for %s: %+v", s.Made.DynamicListDN, es)
	}
	renamed := *f
	renamed.primary = newPrimary
	checkOnPremisesRouting(t, l, &renamed, migrate.MethodRecreate)
	if fs := findings(); len(fs) != 0 {
		t.Errorf("plan after apply still reports %+v", fs)
	}
}

// migrate address on a list migrated by soa: the cloud list changes, the
// on-premises group keeps its addresses (said on stdout); a forced
// rollback gives the cloud list back the group's own addresses before
// handing it back to the sync engine.
func TestLabMigrateAddressSOA(t *testing.T) {
	l := labtest.Get(t)
	ou := l.SyncedOU(t)
	f := makeDL(t, l, ou, "soaa", "Address SOA")
	cfg := migrateConfig(t, l, map[string]string{f.primary: "method: soa"})
	cleanupMigration(t, l, cfg, f)
	if code, out, errOut := runCLI(t, "migrate", "run", "-c", cfg, "--auto-approve"); code != 0 {
		t.Fatalf("migrate run: exit %d\n%s\n%s", code, out, errOut)
	}
	s := sagaOf(t, cfg, f.primary)
	groupBefore := listAttrs(t, l, f.dn)
	newPrimary := "soa-renamed-" + f.alias + "@" + l.Manifest.MailDomain
	code, out, errOut := runCLI(t, "migrate", "address", "-c", cfg, f.primary, "--primary", newPrimary)
	if code != 0 || !strings.Contains(out, "has no on-premises dynamic list") {
		t.Fatalf("migrate address: exit %d\n%s\n%s", code, out, errOut)
	}
	g := cloudList(t, l, s.Made.CloudListID)
	if !strings.EqualFold(g.PrimarySMTPAddress, newPrimary) || !hasFold(g.EmailAddresses, "smtp:"+f.primary) {
		t.Errorf("the cloud list: %s %q", g.PrimarySMTPAddress, g.EmailAddresses)
	}
	if now := listAttrs(t, l, f.dn); !maps.EqualFunc(now, groupBefore, slices.Equal) {
		t.Errorf("the on-premises group changed:\n%q\nwas\n%q", now, groupBefore)
	}
	code, out, errOut = runCLI(t, "migrate", "rollback", "-c", cfg, f.primary, "--force")
	if code != 0 || !strings.Contains(out, "rolled back") {
		t.Fatalf("migrate rollback --force: exit %d\n%s\n%s", code, out, errOut)
	}
	x, err := exchange(t, l).GetRecipient(t.Context(), f.primary)
	if err != nil || !x.IsDirSynced || !strings.EqualFold(x.PrimarySMTPAddress, f.primary) {
		t.Errorf("after rollback %s is held by %+v (%v), want the synced group with it as primary", f.primary, x, err)
	}
	if x, err := exchange(t, l).GetRecipient(t.Context(), newPrimary); err == nil {
		t.Errorf("after rollback %s is still held by %s", newPrimary, x.Name)
	}
}

// migrate address killed (SIGKILL, a real child process) at every
// failpoint of its writes in turn, each run resuming the change the one
// before left: the last run finishes it, both directories carry the new
// address, and no journal entry is left pending.
func TestLabMigrateAddressKilledAtEveryPoint(t *testing.T) {
	l := labtest.Get(t)
	ou := l.SyncedOU(t)
	f := makeDL(t, l, ou, "kill", "Address Kill")
	cfg := migrateConfig(t, l, map[string]string{f.primary: "method: recreate; keep_on_premises_group: true"})
	cleanupMigration(t, l, cfg, f)
	if code, out, errOut := runCLI(t, "migrate", "run", "-c", cfg, "--auto-approve"); code != 0 {
		t.Fatalf("migrate run: exit %d\n%s\n%s", code, out, errOut)
	}
	s := sagaOf(t, cfg, f.primary)
	newPrimary, newAlias := "killed-"+f.alias+"@"+l.Manifest.MailDomain, "killed-"+f.alias
	args := []string{"migrate", "address", "-c", cfg, f.primary, "--primary", newPrimary, "--alias", newAlias}
	for _, op := range []string{"exo.Set-DistributionGroup", "ad.Modify"} {
		for _, at := range []string{"after-intent", "after-sent", "after-write"} {
			point := "migrate.address." + op + "." + at
			st, out := runProcess(t, []string{failpointtest.Env + "=" + point}, args...)
			if st.ExitCode() != -1 {
				t.Fatalf("not killed at %s (exit %d):\n%s", point, st.ExitCode(), out)
			}
			if d := migrate.Describe(sagaOf(t, cfg, f.primary), time.Now()); !strings.Contains(d, "NOT FINISHED") {
				t.Errorf("after the kill at %s, status says %q", point, d)
			}
		}
	}
	code, out, errOut := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("the run after the kills: exit %d\n%s\n%s", code, out, errOut)
	}
	got := listAttrs(t, l, s.Made.DynamicListDN)
	if !slices.Equal(got["mail"], []string{newPrimary}) || !slices.Equal(got["mailNickname"], []string{newAlias}) ||
		!slices.Contains(got["proxyAddresses"], "SMTP:"+newPrimary) || !slices.Contains(got["proxyAddresses"], "smtp:"+f.primary) {
		t.Errorf("the dynamic list on the DC: %q", got)
	}
	g := cloudList(t, l, s.Made.CloudListID)
	if !strings.EqualFold(g.PrimarySMTPAddress, newPrimary) || g.Alias != newAlias || !hasFold(g.EmailAddresses, "smtp:"+f.primary) {
		t.Errorf("the cloud list: %s %s %q", g.PrimarySMTPAddress, g.Alias, g.EmailAddresses)
	}
	if pending := journalEntries(t, cfg, "--state", "pending"); len(pending) != 0 {
		t.Errorf("%d journal entries left pending: %+v", len(pending), pending)
	}
	if st := sagaOf(t, cfg, f.primary); st.Primary() != newPrimary || len(st.Made.AddressChanges) != 1 {
		t.Errorf("the saga's address changes: %+v", st.Made.AddressChanges)
	}
}
