package lab_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/agent/config"
	"github.com/hybridsync/hybridsync/agent/lab"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/cloud/emulator/syncsim"
)

// The sync trigger the lab's config gives migrations runs a cycle and
// exits 0; with a sync delay the cycle, and so the command, comes that
// much later. (Pausing the sync is tested without the shared lab, whose
// other tests need their cycles.)
func TestLabMigrationSyncTrigger(t *testing.T) {
	l := labtest.Get(t)
	cfg, err := config.Load(l.Env[lab.EnvConfig])
	if err != nil {
		t.Fatal(err)
	}
	argv := cfg.Migrations.Sync.Command
	if cfg.Migrations.Sync.Trigger != config.SyncTriggerCommand || len(argv) == 0 {
		t.Fatalf("lab config migrations.sync = %+v", cfg.Migrations.Sync)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := func() (syncsim.Report, time.Duration) {
		t.Helper()
		start := time.Now()
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).Output()
		if err != nil {
			t.Fatalf("%v: %v", argv, err)
		}
		var rep syncsim.Report
		if err := json.Unmarshal(out, &rep); err != nil || !rep.Complete {
			t.Fatalf("%v printed %s (%v)", argv, out, err)
		}
		return rep, time.Since(start)
	}
	run()

	const delay = 3 * time.Second
	if _, err := lab.SetFaults(ctx, l.State.Dir, lab.Faults{SyncDelay: delay}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := lab.SetFaults(context.Background(), l.State.Dir, lab.Faults{}); err != nil {
			t.Errorf("clear the faults: %v", err)
		}
	})
	if _, took := run(); took < delay {
		t.Errorf("with a %s sync delay the trigger returned after %s", delay, took)
	}
}
