//go:build lab && labkill

// This test kills the lab's domain controller and starts it again, so it
// is built only with -tags 'lab labkill' and run by the README's test
// command after the other tests, alone.

package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/agent/lab"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/reconcile/migrate"
)

// The domain controller dies (SIGKILL, as in a power cut) just before the
// routing contact is written, and comes back a few seconds later: the run
// rides it out (the AD client's retries, or the blocked group tried
// again), and the migration ends as
// if nothing had happened, with nothing left pending in the journal.
func TestLabMigrateDCRestarted(t *testing.T) {
	l := labtest.Get(t)
	dir := l.Env[lab.EnvDir]
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := lab.StartDC(ctx, dir); err != nil {
			t.Errorf("start the DC again: %v", err)
		}
	})
	m := newMigrationTenant(t, l, nil)
	f := makeDLWith(t, l, m.ou, "dr", "DC restarted", 3, false)
	m.sync(t)
	cfg := m.config(t, 2*time.Minute, map[string]string{f.primary: "method: recreate; keep_on_premises_group: true"})
	cleanupMigration(t, l, cfg, f)
	var restarted chan error
	kill := at("migrate.before."+string(migrate.StepRoutingContact), func() {
		if err := lab.KillDC(dir); err != nil {
			t.Errorf("kill the DC: %v", err)
			return
		}
		t.Log("DC killed")
		restarted = make(chan error, 1)
		time.AfterFunc(3*time.Second, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			restarted <- lab.StartDC(ctx, dir)
		})
	})
	code, out, errOut := runCLIWith(t, Options{Failpoint: kill}, "migrate", "run", "-c", cfg, "--auto-approve", "--retry-blocked", "3m")
	t.Logf("migrate run: exit %d\n%s\n%s", code, out, errOut)
	if restarted == nil {
		t.Fatal("the run never reached the routing contact's step")
	}
	if err := <-restarted; err != nil {
		t.Fatalf("start the DC again: %v", err)
	}
	if code != 0 {
		t.Fatalf("migrate run across a DC restart: exit %d", code)
	}
	// The AD client's own retries may ride out the restart, or the group
	// may be blocked for a while and tried again: either way, one run.
	if strings.Contains(out, "blocked for now; trying again") {
		t.Log("the group was blocked while the DC was down, and tried again")
	}
	s := sagaOf(t, cfg, f.primary)
	if s == nil || s.State != migrate.StateMigrated {
		t.Fatalf("saga after the run: %+v", s)
	}
	checkCloudListIn(t, l, m.exchange(t), f, migrate.MethodRecreate)
	if pending := journalEntries(t, cfg, "--state", "pending"); len(pending) != 0 {
		t.Errorf("%d journal entries left pending: %+v", len(pending), pending)
	}
}
