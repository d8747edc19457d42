package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/lab"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// The x500-only mail change end to end: a mail-only user whose
// proxyAddresses holds only an x500 value is synced; its mail then changes
// in AD. The cloud keeps the old address (ProxyCalc reads proxyAddresses),
// and plan says so, with the dual-write fix as a pending action.
func TestLabPlanFindsMailThatWillNotFlow(t *testing.T) {
	l := labtest.Get(t)
	user := l.X500OnlyMailChange(t, l.SyncedOU(t), "x5")
	userDN, newMail := user.DN, user.Mail
	oldMail := strings.TrimPrefix(newMail, "renamed-")
	if cu := findByImmutableID(t, labTenant(t, l), "user", user.GUID); cu == nil || cu.Mail != oldMail {
		t.Fatalf("the cloud should still hold the old address %s (ProxyCalc ignores mail), got %+v", oldMail, cu)
	}

	saved := filepath.Join(t.TempDir(), "plan.json")
	code, out, errOut := runCLI(t, "plan", "-c", l.Env[lab.EnvConfig], "--detailed-exitcode", "-o", saved)
	if code != 2 {
		t.Fatalf("plan exited %d, want 2 (actions pending): %s", code, errOut)
	}
	// The compact output: the kind's explanation once, then one line per
	// object with its name, the values that matter and the fix.
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, " "+user.Name+" ") {
			line = l
		}
	}
	for _, want := range []string{"mail " + newMail, "no SMTP: value (x500 only)", "cloud primary " + oldMail, "~ fix: add SMTP:" + newMail} {
		if !strings.Contains(line, want) {
			t.Errorf("the line of %s lacks %q: %q\n%s", user.Name, want, line, out)
		}
	}
	if strings.Count(out, "# "+string(plan.MailNotPrimary)) != 1 || !strings.Contains(out, "Plan: ") || strings.Contains(out, userDN) {
		t.Fatalf("plan output: want MailNotPrimary once, the summary, no DN:\n%s", out)
	}
	// --verbose: every object's detail, and the same exit code.
	code, out, errOut = runCLI(t, "plan", "-c", l.Env[lab.EnvConfig], "--detailed-exitcode", "--verbose")
	if code != 2 || !strings.Contains(out, userDN) || !strings.Contains(out, "explanation:") || !strings.Contains(out, "+ SMTP:"+newMail) {
		t.Fatalf("plan --verbose: exit %d, want 2 and %s's detail:\n%s\n%s", code, userDN, out, errOut)
	}
	data, err := os.ReadFile(saved)
	if err != nil {
		t.Fatal(err)
	}
	var p plan.Plan
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	var action *plan.Action
	for i := range p.Actions {
		if ad.EqualDN(p.Actions[i].ObjectDN, userDN) {
			action = &p.Actions[i]
		}
	}
	if action == nil {
		t.Fatalf("no action for %s in %d actions", userDN, len(p.Actions))
	}
	found := false
	for _, a := range action.Add {
		found = found || a == "SMTP:"+newMail
	}
	if !found {
		t.Fatalf("action %+v does not add SMTP:%s", action, newMail)
	}
}

func TestLabPlanRefusesAnEmptyScope(t *testing.T) {
	l := labtest.Get(t)
	empty := l.OU(t)
	base, err := os.ReadFile(l.Env[lab.EnvConfig])
	if err != nil {
		t.Fatal(err)
	}
	// Replace the whole sync_ous list with the one empty OU.
	text := string(base)
	i, j := strings.Index(text, "  sync_ous:\n"), strings.Index(text, "  nosync_ou:")
	if i < 0 || j < i {
		t.Fatal("could not find sync_ous in the lab config")
	}
	cfg := text[:i] + "  sync_ous:\n    - \"" + empty + "\"\n" + text[j:]
	path := labtest.WriteConfig(t, cfg)
	code, _, errOut := runCLI(t, "plan", "-c", path)
	if code != 1 || !strings.Contains(errOut, "no user, group or contact") || !strings.Contains(errOut, empty) {
		t.Fatalf("plan with an empty scope: exit %d, %s", code, errOut)
	}
}
