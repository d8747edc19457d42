//go:build lab

package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/lab"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/cloud/emulator"
	"github.com/hybridsync/hybridsync/reconcile/migrate"
)

// bigListMembers is the size of the list the large-list lab test
// migrates: above the 1,000 addresses from which members are resolved
// with one listing, and above the 500 one Update-DistributionGroupMember
// call carries, so that both bulk paths and the concurrent adds run.
const bigListMembers = 1100

// makeBigDL creates n mail users and a universal distribution list of
// them under ou (outside the lab's own sync scope) and returns the list's
// primary address and the members' DNs.
func makeBigDL(t *testing.T, l *labtest.Lab, ou string, n int) (primary string, members []string) {
	t.Helper()
	c := l.Client(t)
	suffix := labtest.OUSuffix(t, ou)
	dom := l.Manifest.MailDomain
	members = make([]string, n)
	for i := range n {
		members[i] = ad.ChildDN("CN", fmt.Sprintf("lg%04d-%s", i, suffix), ou)
	}
	// Four connections adding at once: one add at a time takes most of
	// a minute for a thousand users.
	const workers = 4
	errs := make(chan error, workers)
	for w := range workers {
		wc := l.Client(t)
		go func() {
			for i := w; i < n; i += workers {
				alias := fmt.Sprintf("lg%04d-%s", i, suffix)
				addr := alias + "@" + dom
				if err := wc.Add(t.Context(), members[i], []ad.Attribute{
					{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "user"}},
					{Name: "sAMAccountName", Values: []string{alias}},
					{Name: "userPrincipalName", Values: []string{addr}},
					{Name: "mail", Values: []string{addr}},
					{Name: "proxyAddresses", Values: []string{"SMTP:" + addr}},
				}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	alias := "lgdl-" + suffix
	primary = alias + "@" + dom
	if err := c.Add(t.Context(), ad.ChildDN("CN", "Large "+suffix, ou), []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "group"}},
		{Name: "sAMAccountName", Values: []string{alias}},
		{Name: "groupType", Values: []string{"8"}},
		{Name: "displayName", Values: []string{"Large " + suffix}},
		{Name: "mail", Values: []string{primary}},
		{Name: "mailNickname", Values: []string{alias}},
		{Name: "proxyAddresses", Values: []string{"SMTP:" + primary}},
		{Name: "member", Values: members},
	}); err != nil {
		t.Fatal(err)
	}
	return primary, members
}

// withMemberConcurrency adds migrations.member_concurrency to the config
// at path.
func withMemberConcurrency(t testing.TB, path string, n int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), "\nmigrations:\n", fmt.Sprintf("\nmigrations:\n  member_concurrency: %d\n", n), 1)
	if text == string(b) {
		t.Fatalf("no migrations section in %s", path)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A list of 1,100 members migrated by a real process that is killed
// (SIGKILL) while it adds the members one by one: the next run settles the
// interrupted write, adds only the members still missing (the emulator
// answers fewer Exchange requests than there were members to add again)
// and the cloud list ends with exactly the members, each once.
func TestLabMigrateLargeListKilledMidMembers(t *testing.T) {
	l := labtest.Get(t)
	m := newMigrationTenant(t, l, nil)
	start := time.Now()
	primary, members := makeBigDL(t, l, m.ou, bigListMembers)
	m.sync(t)
	t.Logf("%d users and the list made and synced in %s", len(members), time.Since(start).Round(time.Millisecond))
	cfg := m.config(t, 2*time.Minute, map[string]string{primary: "method: recreate; keep_on_premises_group: true"})
	withMemberConcurrency(t, cfg, 4)
	cleanupMigration(t, l, cfg, nil)
	em := m.srv.Emulator

	// Slow each request down so that the adds take some seconds, and
	// kill the process once the list holds more than the first call's
	// 500 members (so some single adds happened) and fewer than all.
	em.SetFaults(emulator.Faults{Latency: 20 * time.Millisecond})
	listMembers := func() (id string, n int) {
		_ = em.View(func(tx *emulator.Tx) error {
			for _, g := range tx.List(cloud.KindGroup) {
				if strings.HasPrefix(g.MailNickname, "hybridsync-") {
					id, n = g.ID, len(g.Members)
				}
			}
			return nil
		})
		return id, n
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "migrate", "run", "-c", cfg, "--auto-approve")
	cmd.Env = append(os.Environ(), subprocessEnv+"=1")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	killedAt := 0
	for killedAt == 0 {
		if _, n := listMembers(); n > 700 {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killedAt = n
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the cloud list never got past 700 members:\n%s", out.String())
		}
		sleep(t, 20*time.Millisecond)
	}
	st, _ := cmd.Process.Wait()
	if st.ExitCode() != -1 {
		t.Fatalf("migrate run ended (exit %d) before it was killed, at %d members:\n%s", st.ExitCode(), killedAt, out.String())
	}
	em.SetFaults(emulator.Faults{})
	listID, have := listMembers()
	if have >= len(members) {
		t.Fatalf("killed with %d of %d members already added: nothing left to resume", have, len(members))
	}
	em.ResetStats()
	t.Logf("killed %s after the start", time.Since(start).Round(time.Millisecond))

	code, runOut, errOut := resumeUntilDone(t, cfg)
	t.Logf("resumed to the end %s after the start", time.Since(start).Round(time.Millisecond))
	if code != 0 || !strings.Contains(runOut, "migrated by recreate") {
		t.Fatalf("migrate run after the kill: exit %d\n%s\n%s", code, runOut, errOut)
	}
	st2 := em.Stats()
	adds := st2.Cmdlets["Add-DistributionGroupMember"]
	t.Logf("killed at %d of %d members; the next runs made %d Add-DistributionGroupMember calls; Exchange requests by cmdlet %v",
		have, len(members), adds, st2.Cmdlets)
	if want := int64(len(members) - have); adds != want {
		t.Errorf("the runs after the kill added %d members, want the %d missing", adds, want)
	}
	if n := st2.Cmdlets["Update-DistributionGroupMember"]; n != 0 {
		t.Errorf("%d Update-DistributionGroupMember calls after the kill: the list was not empty, so none may replace it", n)
	}
	s := sagaOf(t, cfg, primary)
	if s == nil || s.State != migrate.StateMigrated {
		t.Fatalf("saga %+v", s)
	}
	var got []string
	_ = em.View(func(tx *emulator.Tx) error {
		got = slices.Clone(tx.Get(listID).Members)
		return nil
	})
	want := make([]string, 0, len(s.Capture.Members))
	for _, r := range s.Capture.Members {
		want = append(want, r.Cloud)
	}
	slices.Sort(got)
	slices.Sort(want)
	if len(want) != len(members) || !slices.Equal(got, want) {
		t.Errorf("the cloud list has %d members, want exactly the %d captured (of %d on premises)", len(got), len(want), len(members))
	}
}

// BenchmarkLabMigrateBigList migrates a list of every Bulk user of the
// lab (`lab up --size N` seeds N; the seeded All Staff holds them too, but
// also staff without a cloud recipient, which rightly stop its migration),
// made in a synced test OU and synced first (not timed), by the recreate
// path in a child process, with the lab's emulator adding
// HYBRIDSYNC_BENCH_LATENCY (default 500ms) to every request and
// migrations.member_concurrency HYBRIDSYNC_BENCH_CONCURRENCY (default 8).
// It reports the wall time, the agent's own time (minus its waits for the
// sync cycle), the child's peak RSS, and the Exchange and Graph requests
// by kind; then it rolls the list back (not timed), so that the lab can be
// measured again.
//
//	HYBRIDSYNC_BENCH_LATENCY=500ms go test -tags lab ./agent/cli/ -run '^$' -bench LabMigrateBigList -benchtime 1x -timeout 3h
func BenchmarkLabMigrateBigList(b *testing.B) {
	l := labtest.Get(b)
	latency := 500 * time.Millisecond
	if v := os.Getenv("HYBRIDSYNC_BENCH_LATENCY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("HYBRIDSYNC_BENCH_LATENCY=%q: %v", v, err)
		}
		latency = d
	}
	concurrency := 8
	if v := os.Getenv("HYBRIDSYNC_BENCH_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("HYBRIDSYNC_BENCH_CONCURRENCY=%q: %v", v, err)
		}
		concurrency = n
	}
	dir := l.Env[lab.EnvDir]
	c := l.Client(b)
	var bulk []string
	res, err := c.SearchRecipients(b.Context(), ad.ChildDN("OU", "Bulk", l.Manifest.SyncOU), "(objectClass=user)", func(r *ad.Recipient) error {
		bulk = append(bulk, r.DN)
		return nil
	})
	if err != nil || !res.Complete {
		b.Fatalf("reading the Bulk users: %v (complete %v)", err, res.Complete)
	}
	ou := l.SyncedOU(b)
	suffix := labtest.OUSuffix(b, ou)
	alias := "bigdl-" + suffix
	primary := alias + "@" + l.Manifest.MailDomain
	if err := c.Add(b.Context(), ad.ChildDN("CN", "Big List "+suffix, ou), []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "group"}},
		{Name: "sAMAccountName", Values: []string{alias}},
		{Name: "groupType", Values: []string{"8"}},
		{Name: "displayName", Values: []string{"Big List " + suffix}},
		{Name: "mail", Values: []string{primary}},
		{Name: "mailNickname", Values: []string{alias}},
		{Name: "proxyAddresses", Values: []string{"SMTP:" + primary}},
		{Name: "member", Values: bulk},
	}); err != nil {
		b.Fatal(err)
	}
	l.Sync(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		cfg := migrateConfig(b, l, map[string]string{primary: "method: recreate; keep_on_premises_group: true"})
		withMemberConcurrency(b, cfg, concurrency)
		cleanupMigration(b, l, cfg, nil)
		if _, err := lab.SetFaults(b.Context(), dir, lab.Faults{Faults: emulator.Faults{Latency: latency}}); err != nil {
			b.Fatal(err)
		}
		if _, err := lab.Stats(b.Context(), dir, true); err != nil {
			b.Fatal(err)
		}
		cmd := exec.CommandContext(b.Context(), os.Args[0], "migrate", "run", "-c", cfg, "--auto-approve")
		cmd.Env = append(os.Environ(), subprocessEnv+"=1")
		start := time.Now()
		b.StartTimer()
		out, err := cmd.CombinedOutput()
		b.StopTimer()
		took := time.Since(start)
		if _, ferr := lab.SetFaults(context.Background(), dir, lab.Faults{}); ferr != nil {
			b.Error(ferr)
		}
		if err != nil || !strings.Contains(string(out), "migrated by recreate") {
			b.Fatalf("migrate run: %v\n%s", err, out)
		}
		st, err := lab.Stats(b.Context(), dir, false)
		if err != nil {
			b.Fatal(err)
		}
		s := sagaOf(b, cfg, primary)
		if s == nil || s.State != migrate.StateMigrated {
			b.Fatalf("saga %+v", s)
		}
		rss := float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024 // KiB to MiB
		b.Logf("%d members, latency %s, member concurrency %d: wall %s, waited %s (%d sync cycles), peak RSS %.0f MiB\nExchange requests by cmdlet: %v\nrequests by class: %v",
			len(s.Capture.Members), latency, concurrency, took.Round(time.Second), s.Made.Waited.Round(time.Second), s.Made.SyncCycles, rss, st.Cmdlets, st.Requests)
		b.ReportMetric(float64(len(s.Capture.Members)), "members")
		b.ReportMetric(took.Seconds(), "wall-s")
		b.ReportMetric((took - s.Made.Waited).Seconds(), "own-s")
		b.ReportMetric(rss, "peak-RSS-MiB")
		b.ReportMetric(float64(st.Cmdlets["Add-DistributionGroupMember"]), "adds")
		b.ReportMetric(float64(emulator.Total(st.Requests)), "requests")
		// Roll back (not timed), so that the lab can be measured again.
		for tries := 0; ; tries++ {
			code, rout, rerr := runCLI(b, "migrate", "rollback", "-c", cfg, primary)
			if code == 0 {
				break
			}
			if tries > 60 || !unsettled(rout+rerr) {
				b.Fatalf("migrate rollback: exit %d\n%s\n%s", code, rout, rerr)
			}
			time.Sleep(2 * time.Second)
		}
	}
}
