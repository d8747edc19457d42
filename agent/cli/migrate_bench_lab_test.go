//go:build lab

package cli

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/agent/lab/mailflow"
	"github.com/hybridsync/hybridsync/internal/clock"
	"github.com/hybridsync/hybridsync/reconcile/migrate"
)

// dlConversionSleeps is the least DLConversionV2 sleeps per list, by its
// own fixed waits (see docs/benchmarks.md).
const dlConversionSleeps = 315 * time.Second

// BenchmarkLabMigrate100Members migrates lists of 100 members (with an
// owner, a moderator and a delivery restriction) on the lab by each path,
// with hybrid mail flow, and reports per list: the agent's own time (wall
// time of migrate run, config and sign-in included, minus its waits for
// sync cycles and the directories), the time it waited, the sync cycles it
// waited for, the longest window in which the probe (every half second,
// both sides, both addresses) found an address delivering to nobody, and
// the own time as a fraction of DLConversionV2's fixed sleeps. Making the
// lists is not timed.
//
//	go test -tags lab ./agent/cli/ -run '^$' -bench LabMigrate100Members -benchtime 5x
func BenchmarkLabMigrate100Members(b *testing.B) {
	for _, method := range []migrate.Method{migrate.MethodRecreate, migrate.MethodSOA} {
		b.Run(string(method), func(b *testing.B) {
			l := labtest.Get(b)
			parent := l.SyncedOU(b)
			c := l.Client(b)
			var own, waited, window time.Duration
			cycles := 0
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				// Each list in an OU of its own, deleted and synced away
				// after it, so that no cycle deletes more objects than
				// Entra Connect's accidental-delete threshold (500).
				ou, err := c.CreateOU(b.Context(), parent, fmt.Sprintf("list %d-%s", i, labtest.OUSuffix(b, parent)))
				if err != nil {
					b.Fatal(err)
				}
				f := makeDLWith(b, l, ou, fmt.Sprintf("b%s%d", string(method)[:1], i), fmt.Sprintf("Bench %s %d", method, i), 100, true)
				cfg := migrateConfig(b, l, map[string]string{f.primary: "method: " + string(method) + "; keep_on_premises_group: true"})
				cleanupMigration(b, l, cfg, f)
				res := &mailflow.Resolver{AD: l.Client(b), BaseDN: l.State.BaseDN, Exchange: exchange(b, l)}
				probe := mailflow.StartProbe(b.Context(), res.Resolve, []string{f.primary, f.alias + "-old@" + l.Manifest.MailDomain}, 500*time.Millisecond, clock.System{})
				start := time.Now()
				b.StartTimer()
				code, out, errOut := runCLI(b, "migrate", "run", "-c", cfg, "--auto-approve")
				b.StopTimer()
				took := time.Since(start)
				rep := probe.Stop()
				if code != 0 || !strings.Contains(out, "migrated by "+string(method)) {
					b.Fatalf("migrate run: exit %d\n%s\n%s", code, out, errOut)
				}
				s := sagaOf(b, cfg, f.primary)
				if s == nil || s.State != migrate.StateMigrated {
					b.Fatalf("saga %+v", s)
				}
				own += took - s.Made.Waited
				waited += s.Made.Waited
				cycles += s.Made.SyncCycles
				for _, ar := range rep.Addresses {
					window = max(window, ar.LongestOutage)
				}
				if err := labtest.DeleteTree(b.Context(), c, ou); err != nil {
					b.Fatal(err)
				}
				l.Sync(b)
			}
			n := float64(b.N)
			b.ReportMetric(own.Seconds()/n, "own-s/DL")
			b.ReportMetric(waited.Seconds()/n, "wait-s/DL")
			b.ReportMetric(float64(cycles)/n, "sync-cycles/DL")
			b.ReportMetric(window.Seconds(), "max-window-s")
			b.ReportMetric(own.Seconds()/n/dlConversionSleeps.Seconds(), "own/DLConversionV2-sleeps")
		})
	}
}

// BenchmarkLabMigrateBatch50 migrates a batch of 50 lists nested two
// levels deep (36 lists of a user each, in 12 lists of three, in 2 lists
// of six: three waves) with hybrid mail flow, and reports the wall time of
// migrate run, the sync cycles it asked for (counted by the sync command
// itself) and those DLConversionV2 would wait for: at least one per list,
// since it migrates one list at a time (docs/benchmarks.md).
//
//	go test -tags lab ./agent/cli/ -run '^$' -bench LabMigrateBatch50 -benchtime 1x
func BenchmarkLabMigrateBatch50(b *testing.B) {
	l := labtest.Get(b)
	parent := l.SyncedOU(b)
	c := l.Client(b)
	var wall time.Duration
	cycles := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ou, err := c.CreateOU(b.Context(), parent, fmt.Sprintf("batch %d-%s", i, labtest.OUSuffix(b, parent)))
		if err != nil {
			b.Fatal(err)
		}
		sfx := labtest.OUSuffix(b, ou)
		groups := map[string]string{}
		var leaves, mids []nestedList
		for j := range 36 {
			u := l.AddMailUser(b, ou, fmt.Sprintf("bb%d-%s", j, sfx))
			leaves = append(leaves, addList(b, l, ou, fmt.Sprintf("bbl%d-%s", j, sfx), []string{u.DN}))
		}
		for j := range 12 {
			mids = append(mids, addList(b, l, ou, fmt.Sprintf("bbm%d-%s", j, sfx), []string{leaves[3*j].dn, leaves[3*j+1].dn, leaves[3*j+2].dn}))
		}
		tops := []nestedList{}
		for j := range 2 {
			var ms []string
			for _, m := range mids[6*j : 6*j+6] {
				ms = append(ms, m.dn)
			}
			tops = append(tops, addList(b, l, ou, fmt.Sprintf("bbt%d-%s", j, sfx), ms))
		}
		for _, g := range slices.Concat(leaves, mids, tops) {
			groups[g.primary] = "method: recreate"
		}
		l.Sync(b)
		cfg := migrateConfig(b, l, groups)
		cleanupMigration(b, l, cfg, nil)
		triggers := countSyncTriggers(b, cfg)
		start := time.Now()
		b.StartTimer()
		code, out, errOut := runCLI(b, "migrate", "run", "-c", cfg, "--auto-approve")
		b.StopTimer()
		wall += time.Since(start)
		if code != 0 || strings.Count(out, ": migrated by recreate") != 50 {
			b.Fatalf("migrate run: exit %d\n%s\n%s", code, out, errOut)
		}
		cycles += triggers()
		if err := labtest.DeleteTree(b.Context(), c, ou); err != nil {
			b.Fatal(err)
		}
		l.Sync(b)
	}
	n := float64(b.N)
	b.ReportMetric(wall.Seconds()/n, "wall-s/batch")
	b.ReportMetric(float64(cycles)/n, "sync-cycles/batch")
}
