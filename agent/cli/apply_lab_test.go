package cli

import (
	"context"
	"encoding/json"
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
	"github.com/hybridsync/hybridsync/internal/failpoint/failpointtest"
	"github.com/hybridsync/hybridsync/reconcile/apply"
	"github.com/hybridsync/hybridsync/reconcile/journal"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// subprocessEnv makes the test binary run Main instead of the tests (see
// TestMain), so a test can kill a real hybridsync process.
const subprocessEnv = "HYBRIDSYNC_CLI_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(subprocessEnv) == "1" {
		os.Exit(Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, Options{Failpoint: failpointtest.FromEnv()}))
	}
	os.Exit(m.Run())
}

// runProcess runs hybridsync args in a child process with extra
// environment variables and returns its exit state and output.
func runProcess(t *testing.T, env []string, args ...string) (*os.ProcessState, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), subprocessEnv+"=1"), env...)
	out, _ := cmd.CombinedOutput()
	return cmd.ProcessState, string(out)
}

// scopedConfig is the lab's config with its own state directory and
// reconcile.scope narrowed to ou, so that objects other tests create in
// the lab at the same time do not appear in this test's plans.
func scopedConfig(t *testing.T, l *labtest.Lab, ou string) (path, stateDir string) {
	t.Helper()
	base, err := os.ReadFile(l.Env[lab.EnvConfig])
	if err != nil {
		t.Fatal(err)
	}
	stateDir = filepath.Join(t.TempDir(), "state")
	re := regexp.MustCompile(`(?m)^state_dir: .*$`)
	if !re.Match(base) {
		t.Fatal("the lab config has no state_dir line")
	}
	text := re.ReplaceAllLiteralString(string(base), "state_dir: "+strconvQuote(stateDir))
	text += "reconcile:\n  scope:\n    ous:\n      - " + strconvQuote(ou) + "\n"
	return labtest.WriteConfig(t, text), stateDir
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

func sortedProxyAddresses(t *testing.T, l *labtest.Lab, dn string) []string {
	t.Helper()
	r, err := l.Client(t).ReadRecipient(t.Context(), dn)
	if err != nil {
		t.Fatal(err)
	}
	v := r.ProxyAddresses.Raw()
	slices.Sort(v)
	return v
}

func journalEntries(t *testing.T, cfg string, args ...string) []journal.Entry {
	t.Helper()
	code, out, errOut := runCLI(t, append([]string{"journal", "list", "-c", cfg, "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("journal list: exit %d: %s", code, errOut)
	}
	var es []journal.Entry
	if err := json.Unmarshal([]byte(out), &es); err != nil {
		t.Fatalf("journal list --json: %v\n%s", err, out)
	}
	return es
}

// applyWhileSyncing runs apply and triggers sync cycles until it returns,
// so that its verification sees the next cycle without waiting for the
// lab's 30-second interval.
func applyWhileSyncing(t *testing.T, l *labtest.Lab, args ...string) (int, string, string) {
	t.Helper()
	type result struct {
		code     int
		out, err string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := runCLI(t, args...)
		done <- result{code, out, errOut}
	}()
	deadline := time.After(4 * time.Minute)
	for {
		select {
		case r := <-done:
			return r.code, r.out, r.err
		case <-deadline:
			t.Fatal("apply did not return within 4 minutes")
		case <-time.After(2 * time.Second):
			if _, err := lab.TriggerSync(t.Context(), l.State.Dir); err != nil {
				t.Logf("lab sync: %v", err)
			}
		}
	}
}

// The x500-only mail change end to end: plan shows the finding, apply
// refuses without approval and from a stale plan, applies the saved plan,
// the next sync cycle shows the new primary in the tenant, plan is clean,
// and undo restores the before-image exactly.
func TestLabApplyDualWriteEndToEnd(t *testing.T) {
	l := labtest.Get(t)
	ou := l.SyncedOU(t)
	user := l.X500OnlyMailChange(t, ou, "ap")
	cfg, _ := scopedConfig(t, l, ou)
	before := sortedProxyAddresses(t, l, user.DN)
	dir := t.TempDir()
	saved := filepath.Join(dir, "plan.json")

	code, out, errOut := runCLI(t, "plan", "-c", cfg, "--detailed-exitcode", "-o", saved)
	if code != 2 || !strings.Contains(out, " "+user.Name+" ") || !strings.Contains(out, "~ fix: add SMTP:"+user.Mail) ||
		!strings.Contains(out, string(plan.MailNotPrimary)) {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, errOut)
	}

	// Bad input: each a clear error, nothing written.
	garbage := filepath.Join(dir, "garbage.json")
	if err := os.WriteFile(garbage, []byte(`{"findings": "no"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no approval", []string{"apply", "-c", cfg}, "not approved, nothing written"},
		{"missing plan file", []string{"apply", "-c", cfg, filepath.Join(dir, "missing.json")}, "read the plan file"},
		{"not a plan", []string{"apply", "-c", cfg, garbage}, "is not a plan saved by `hybridsync plan -o`"},
	} {
		code, _, errOut := runCLI(t, tc.args...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, %q; want exit 1 and %q", tc.name, code, errOut, tc.want)
		}
	}
	if got := sortedProxyAddresses(t, l, user.DN); !slices.Equal(got, before) {
		t.Fatalf("a refused apply wrote %q (before %q)", got, before)
	}

	// A stale plan: the object changed after the plan was made.
	c := l.Client(t)
	extra := "smtp:extra-" + user.SAMAccountName + "@" + l.Manifest.MailDomain
	if err := c.Modify(t.Context(), user.DN, ad.Change{Op: ad.AddValues, Attr: "proxyAddresses", Values: []string{extra}}); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI(t, "apply", "-c", cfg, saved, "--verify-timeout", "0")
	if code != 1 || !strings.Contains(errOut, "made against a different state, nothing written") || !strings.Contains(errOut, user.DN) {
		t.Fatalf("stale apply: exit %d, %s", code, errOut)
	}
	before = append(before, extra)
	slices.Sort(before)
	if got := sortedProxyAddresses(t, l, user.DN); !slices.Equal(got, before) {
		t.Fatalf("a stale apply wrote %q (want %q)", got, before)
	}
	if es := journalEntries(t, cfg); len(es) != 0 {
		t.Fatalf("refused applies left %d journal entries", len(es))
	}

	// A fresh saved plan is applied and verified after a sync cycle.
	if code, out, errOut = runCLI(t, "plan", "-c", cfg, "-o", saved); code != 0 {
		t.Fatalf("plan: exit %d %s %s", code, out, errOut)
	}
	code, out, errOut = applyWhileSyncing(t, l, "apply", "-c", cfg, saved, "--verify-timeout", "3m", "--verify-interval", "1s")
	if code != 0 || !strings.Contains(out, "1 applied") || !strings.Contains(out, "verified") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	cu := findByImmutableID(t, labTenant(t, l), "user", user.GUID)
	if cu == nil || cu.Mail != user.Mail || !slices.Contains(cu.ProxyAddresses, "SMTP:"+user.Mail) {
		t.Fatalf("the tenant does not show SMTP:%s as primary: %+v", user.Mail, cu)
	}
	if code, out, errOut = runCLI(t, "plan", "-c", cfg, "--detailed-exitcode"); code != 0 {
		t.Fatalf("plan after apply: exit %d (want 0, nothing to do)\n%s\n%s", code, out, errOut)
	}

	es := journalEntries(t, cfg)
	if len(es) != 1 || es[0].State != journal.Done || !ad.EqualDN(es[0].Object, user.DN) {
		t.Fatalf("journal: %+v", es)
	}
	code, out, _ = runCLI(t, "journal", "show", "-c", cfg, es[0].ID)
	if code != 0 || !strings.Contains(out, "+ SMTP:"+user.Mail) || !strings.Contains(out, "Before (uSNChanged") {
		t.Fatalf("journal show: exit %d\n%s", code, out)
	}
	code, out, errOut = runCLI(t, "undo", "-c", cfg, es[0].ID)
	if code != 0 || !strings.Contains(out, "back to the before-image exactly") {
		t.Fatalf("undo: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := sortedProxyAddresses(t, l, user.DN); !slices.Equal(got, before) {
		t.Fatalf("after undo %q, want the before-image %q", got, before)
	}
	if es := journalEntries(t, cfg); len(es) != 2 || es[1].State != journal.Undone || es[0].UndoOf != es[1].ID {
		t.Fatalf("journal after undo: %+v", es)
	}
}

// Kill the process between intent and done: the next start finishes or
// rolls back the write, and undo restores the before-image exactly.
func TestLabApplyKilledBetweenIntentAndDone(t *testing.T) {
	l := labtest.Get(t)
	ou := l.SyncedOU(t)
	user := l.X500OnlyMailChange(t, ou, "kl")
	cfg, _ := scopedConfig(t, l, ou)
	before := sortedProxyAddresses(t, l, user.DN)
	args := []string{"apply", "-c", cfg, "--auto-approve", "--verify-timeout", "0"}

	// Killed after the intent, before the modify: nothing reached AD.
	st, out := runProcess(t, []string{failpointtest.Env + "=" + apply.AfterIntent}, args...)
	if st.Success() || st.ExitCode() != -1 {
		t.Fatalf("the process was not killed (exit %d):\n%s", st.ExitCode(), out)
	}
	pending := journalEntries(t, cfg, "--state", "pending")
	if len(pending) != 1 {
		t.Fatalf("%d pending entries after the kill, want 1", len(pending))
	}
	if got := sortedProxyAddresses(t, l, user.DN); !slices.Equal(got, before) {
		t.Fatalf("killed before the write, yet AD holds %q", got)
	}

	// Killed after the modify, before done. The next start first settles
	// the earlier entry (not applied: failed) ...
	st, out = runProcess(t, []string{failpointtest.Env + "=" + apply.AfterWrite}, args...)
	if st.ExitCode() != -1 || !strings.Contains(out, "entry "+pending[0].ID+" had not reached AD") {
		t.Fatalf("second run: exit %d:\n%s", st.ExitCode(), out)
	}
	if e := journalEntries(t, cfg, "--state", "failed"); len(e) != 1 || e[0].ID != pending[0].ID {
		t.Fatalf("the interrupted entry was not recorded as failed: %+v", e)
	}
	pending = journalEntries(t, cfg, "--state", "pending")
	if len(pending) != 1 {
		t.Fatalf("%d pending entries after the second kill, want 1", len(pending))
	}
	applied := sortedProxyAddresses(t, l, user.DN)
	if !slices.Contains(applied, "SMTP:"+user.Mail) {
		t.Fatalf("killed after the write, yet AD holds %q", applied)
	}

	// ... and this one is finished: recorded done, nothing left to apply.
	code, stdout, errOut := runCLI(t, args...)
	if code != 0 || !strings.Contains(errOut, "entry "+pending[0].ID+" had been applied") || !strings.Contains(stdout, "Nothing to apply") {
		t.Fatalf("third run: exit %d\n%s\n%s", code, stdout, errOut)
	}
	done := journalEntries(t, cfg, "--state", "done")
	if len(done) != 1 || done[0].ID != pending[0].ID {
		t.Fatalf("done entries %+v", done)
	}
	var img struct {
		ProxyAddresses []string `json:"proxyAddresses"`
	}
	if err := json.Unmarshal(done[0].Before, &img); err != nil || !slices.Equal(img.ProxyAddresses, before) {
		t.Fatalf("before-image %q (%v), want %q", img.ProxyAddresses, err, before)
	}

	// Undo, killed after its own write, then finished by the next start.
	st, out = runProcess(t, []string{failpointtest.Env + "=" + apply.AfterWrite}, "undo", "-c", cfg, done[0].ID)
	if st.ExitCode() != -1 {
		t.Fatalf("undo was not killed (exit %d):\n%s", st.ExitCode(), out)
	}
	if got := sortedProxyAddresses(t, l, user.DN); !slices.Equal(got, before) {
		t.Fatalf("after undo %q, want the before-image %q exactly", got, before)
	}
	code, stdout, errOut = runCLI(t, "undo", "-c", cfg, done[0].ID)
	if code != 1 || !strings.Contains(errOut, "had been applied") || !strings.Contains(errOut, "already undone") {
		t.Fatalf("undo after the killed undo: exit %d\n%s\n%s", code, stdout, errOut)
	}
	if e := journalEntries(t, cfg, "--state", "undone"); len(e) != 1 || e[0].ID != done[0].ID {
		t.Fatalf("the original entry is not undone: %+v", e)
	}
}

// A reconcile.scope that matches nothing is an error, not an empty plan.
func TestLabApplyRefusesAScopeThatMatchesNothing(t *testing.T) {
	l := labtest.Get(t)
	cfg, stateDir := scopedConfig(t, l, l.SyncedOU(t)) // a new, empty OU
	for _, args := range [][]string{
		{"apply", "-c", cfg, "--auto-approve"},
		{"plan", "-c", cfg},
	} {
		code, _, errOut := runCLI(t, args...)
		if code != 1 || !strings.Contains(errOut, "reconcile.scope") || !strings.Contains(errOut, "matches none of the") {
			t.Fatalf("%v: exit %d, %s", args, code, errOut)
		}
	}
	if es := journalEntries(t, cfg); len(es) != 0 {
		t.Fatalf("%d journal entries in %s", len(es), stateDir)
	}
}
