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

// Seed 001 end to end: a mail-only user whose proxyAddresses holds only an
// x500 value is synced; its mail then changes in AD. The cloud keeps the
// old address (ProxyCalc reads proxyAddresses), and plan says so, with the
// dual-write fix as a pending action.
func TestLabPlanFindsMailThatWillNotFlow(t *testing.T) {
	l := labtest.Get(t)
	user := l.Seed001(t, l.SyncedOU(t), "x5")
	userDN, newMail := user.DN, user.Mail
	oldMail := strings.TrimPrefix(newMail, "renamed-")
	if cu := findByImmutableID(t, labTenant(t, l), "user", user.GUID); cu == nil || cu.Mail != oldMail {
		t.Fatalf("the cloud should still hold the old address %s (seed 001), got %+v", oldMail, cu)
	}

	saved := filepath.Join(t.TempDir(), "plan.json")
	code, out, errOut := runCLI(t, "plan", "-c", l.Env[lab.EnvConfig], "--detailed-exitcode", "-o", saved)
	if code != 2 {
		t.Fatalf("plan exited %d, want 2 (actions pending): %s", code, errOut)
	}
	if !strings.Contains(out, userDN) || !strings.Contains(out, "Plan: ") {
		t.Fatalf("plan output does not name %s or lacks its summary:\n%s", userDN, out)
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
