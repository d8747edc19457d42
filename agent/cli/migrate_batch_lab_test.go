//go:build lab

package cli

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/internal/failpoint/failpointtest"
	"github.com/hybridsync/hybridsync/reconcile/migrate"
)

// nestedList is a universal distribution list a batch test makes.
type nestedList struct {
	dn, primary string
}

// addList creates a universal distribution list under ou with members
// (DNs), unsynced until the caller syncs.
func addList(t testing.TB, l *labtest.Lab, ou, alias string, members []string) nestedList {
	t.Helper()
	addr := alias + "@" + l.Manifest.MailDomain
	dn := ad.ChildDN("CN", alias, ou)
	attrs := []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "group"}},
		{Name: "sAMAccountName", Values: []string{alias}},
		{Name: "groupType", Values: []string{"8"}}, // universal distribution
		{Name: "mail", Values: []string{addr}},
		{Name: "mailNickname", Values: []string{alias}},
		{Name: "proxyAddresses", Values: []string{"SMTP:" + addr}},
	}
	if len(members) > 0 {
		attrs = append(attrs, ad.Attribute{Name: "member", Values: members})
	}
	if err := l.Client(t).Add(t.Context(), dn, attrs); err != nil {
		t.Fatal(err)
	}
	return nestedList{dn: dn, primary: addr}
}

// countSyncTriggers rewrites cfg's sync command so that each run of it
// also appends a line to a file, and returns a function counting them: the
// sync cycles the migration asked for, counted outside hybridsync.
func countSyncTriggers(t testing.TB, cfg string) func() int {
	t.Helper()
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	count := filepath.Join(t.TempDir(), "sync-triggers")
	re := regexp.MustCompile(`(?m)^    command: \[(.*)\]$`)
	if !re.Match(text) {
		t.Fatalf("the config has no sync command:\n%s", text)
	}
	out := re.ReplaceAllString(string(text), fmt.Sprintf(`    command: [sh, -c, 'echo cycle >> %s && exec "$$0" "$$@"', $1]`, count))
	if err := os.WriteFile(cfg, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	return func() int {
		b, err := os.ReadFile(count)
		if os.IsNotExist(err) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), "cycle\n")
	}
}

// A batch of 32 lists: 20 leaves, 6 lists of leaves, 2 lists of those
// (three nesting levels), a three-list nesting cycle, and a list whose
// child list is not in the batch. migrate plan shows the three waves, the
// cycle with its path and the blocked parent; migrate run migrates the 28
// others in three waves, asking for one sync cycle per wave (counted by
// the sync command itself), and each parent's cloud list holds its
// children's new cloud lists (checked in Exchange Online).
func TestLabMigrateBatchInWaves(t *testing.T) {
	l := labtest.Get(t)
	ou := l.SyncedOU(t)
	sfx := labtest.OUSuffix(t, ou)
	var users []string
	for i := range 4 {
		users = append(users, l.AddMailUser(t, ou, fmt.Sprintf("bu%d-%s", i, sfx)).DN)
	}
	name := func(kind string, i int) string { return fmt.Sprintf("b%s%d-%s", kind, i, sfx) }
	var leaves, mids, tops []nestedList
	for i := range 20 {
		leaves = append(leaves, addList(t, l, ou, name("leaf", i), []string{users[i%len(users)]}))
	}
	for i := range 6 {
		members := []string{users[i%len(users)]}
		for j := i; j < len(leaves); j += 6 {
			members = append(members, leaves[j].dn)
		}
		mids = append(mids, addList(t, l, ou, name("mid", i), members))
	}
	for i := range 2 {
		members := []string{users[0]}
		for j := i; j < len(mids); j += 2 {
			members = append(members, mids[j].dn)
		}
		tops = append(tops, addList(t, l, ou, name("top", i), members))
	}
	c1 := addList(t, l, ou, name("cyc", 1), []string{users[1]})
	c2 := addList(t, l, ou, name("cyc", 2), []string{c1.dn})
	c3 := addList(t, l, ou, name("cyc", 3), []string{c2.dn})
	if err := l.Client(t).Modify(t.Context(), c1.dn, ad.Change{Op: ad.AddValues, Attr: "member", Values: []string{c3.dn}}); err != nil {
		t.Fatal(err)
	}
	outside := addList(t, l, ou, name("out", 0), []string{users[2]})
	holder := addList(t, l, ou, name("hold", 0), []string{outside.dn, users[3]})
	l.Sync(t)

	batch := slices.Concat(tops, mids, leaves, []nestedList{c1, c2, c3, holder}) // parents first: the waves reorder them
	groups := map[string]string{}
	for _, g := range batch {
		groups[g.primary] = "method: recreate"
	}
	cfg := migrateConfig(t, l, groups)
	cleanupMigration(t, l, cfg, nil)
	triggers := countSyncTriggers(t, cfg)

	code, out, errOut := runCLI(t, "migrate", "plan", "-c", cfg)
	if code != 2 {
		t.Fatalf("migrate plan: exit %d, want 2 (the cycle and the blocked parent)\n%s\n%s", code, out, errOut)
	}
	waveLine := regexp.MustCompile(`(?m)^  wave (\d):   (.*)$`)
	var waves [][]string
	for _, m := range waveLine.FindAllStringSubmatch(out, -1) {
		waves = append(waves, strings.Split(m[2], ", "))
	}
	addrs := func(ls []nestedList) []string {
		var out []string
		for _, x := range ls {
			out = append(out, x.primary)
		}
		slices.Sort(out)
		return out
	}
	for i, want := range [][]string{addrs(leaves), addrs(mids), addrs(tops)} {
		if i >= len(waves) {
			t.Fatalf("migrate plan shows %d waves, want 3:\n%s", len(waves), out)
		}
		got := slices.Clone(waves[i])
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("wave %d: %v, want %v", i+1, got, want)
		}
	}
	if len(waves) != 3 {
		t.Errorf("migrate plan shows %d waves, want 3:\n%s", len(waves), out)
	}
	cycle := regexp.MustCompile(`(?m)^  cycle:    (.*)$`).FindStringSubmatch(out)
	if cycle == nil {
		t.Fatalf("migrate plan shows no cycle:\n%s", out)
	}
	path := strings.Split(cycle[1], " -> ")
	if len(path) != 4 || path[0] != path[3] || !slices.Contains(path, c1.primary) || !slices.Contains(path, c2.primary) || !slices.Contains(path, c3.primary) {
		t.Errorf("cycle path %q, want the three lists and back", cycle[1])
	}
	if !regexp.MustCompile(`(?m)^  blocked:  ` + regexp.QuoteMeta(holder.primary) + `: its child group ` + regexp.QuoteMeta(outside.primary) + ` is not in the batch`).MatchString(out) {
		t.Errorf("migrate plan does not block %s for its child %s outside the batch:\n%s", holder.primary, outside.primary, out)
	}

	before := triggers()
	code, out, errOut = runCLI(t, "migrate", "run", "-c", cfg, "--auto-approve")
	t.Logf("migrate run:\n%s\n%s", out, errOut)
	if code != 2 {
		t.Fatalf("migrate run: exit %d, want 2 (4 lists cannot migrate)", code)
	}
	if got := triggers() - before; got != 3 {
		t.Errorf("migrate run asked for %d sync cycles for 3 waves", got)
	}
	if n := strings.Count(out, ": migrated by recreate"); n != 28 {
		t.Errorf("%d lists migrated, want 28", n)
	}

	// From Exchange Online: each list migrated is a cloud list, and each
	// parent holds its children's new lists and its user.
	ex := exchange(t, l)
	cloudID := func(addr string) string {
		t.Helper()
		x, err := ex.GetRecipient(t.Context(), addr)
		if err != nil {
			t.Fatalf("Get-Recipient %s: %v", addr, err)
		}
		return x.ExternalDirectoryObjectID
	}
	check := func(parent nestedList, children []nestedList, user string) {
		t.Helper()
		dg, err := ex.GetDistributionGroup(t.Context(), parent.primary)
		if err != nil {
			t.Fatalf("Get-DistributionGroup %s: %v", parent.primary, err)
		}
		if dg.IsDirSynced {
			t.Errorf("%s is still synced", parent.primary)
		}
		ms, err := ex.GroupMembers(t.Context(), parent.primary)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range ms {
			got = append(got, m.ExternalDirectoryObjectID)
		}
		userAddr := strings.TrimPrefix(strings.SplitN(user, ",", 2)[0], "CN=") + "@" + l.Manifest.MailDomain
		want := []string{cloudID(userAddr)}
		for _, c := range children {
			want = append(want, cloudID(c.primary))
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s members %v, want %v", parent.primary, got, want)
		}
	}
	for i, m := range mids {
		var kids []nestedList
		for j := i; j < len(leaves); j += 6 {
			kids = append(kids, leaves[j])
		}
		check(m, kids, users[i%len(users)])
	}
	for i, tp := range tops {
		var kids []nestedList
		for j := i; j < len(mids); j += 2 {
			kids = append(kids, mids[j])
		}
		check(tp, kids, users[0])
	}
	for i, lf := range leaves {
		check(lf, nil, users[i%len(users)])
	}
	// The lists that could not migrate are untouched: still synced.
	for _, g := range []nestedList{c1, c2, c3, holder} {
		dg, err := ex.GetDistributionGroup(t.Context(), g.primary)
		if err != nil || !dg.IsDirSynced {
			t.Errorf("%s: %+v %v, want the synced list as it was", g.primary, dg, err)
		}
	}

	// migrate status shows the waves' progress.
	code, out, _ = runCLI(t, "migrate", "status", "-c", cfg)
	if code != 0 {
		t.Fatalf("migrate status: exit %d\n%s", code, out)
	}
	for i, n := range []int{20, 6, 2} {
		if want := fmt.Sprintf("  wave %d: done, %d of %d migrated, 1 sync cycles asked for", i+1, n, n); !strings.Contains(out, want) {
			t.Errorf("migrate status lacks %q:\n%s", want, out)
		}
	}
}

// waveFixtures makes n sets of three lists in ou, each set to migrate
// in one wave with a config of its own, and syncs them all at once.
func waveFixtures(t *testing.T, l *labtest.Lab, ou, tag string, n int) ([][]*dlFixture, []string) {
	t.Helper()
	sets := make([][]*dlFixture, n)
	cfgs := make([]string, n)
	for k := range n {
		groups := map[string]string{}
		for i := range 3 {
			f := makeDLWith(t, l, ou, fmt.Sprintf("%s%d-%d", tag, k, i), fmt.Sprintf("Wave %s%d-%d", tag, k, i), 3, false)
			sets[k] = append(sets[k], f)
			groups[f.primary] = "method: recreate"
		}
		cfgs[k] = migrateConfig(t, l, groups)
		cleanupMigration(t, l, cfgs[k], nil)
	}
	l.Sync(t)
	return sets, cfgs
}

// checkWaveMigrated checks, from the directories, that each list of the
// wave is migrated once: the cloud list with its members, owners and
// restrictions (no member lost, none twice), the on-premises addresses on
// one dynamic list reaching the cloud through one routing contact.
func checkWaveMigrated(t *testing.T, l *labtest.Lab, cfg string, lists []*dlFixture) {
	t.Helper()
	ex := exchange(t, l)
	for _, f := range lists {
		if s := sagaOf(t, cfg, f.primary); s == nil || s.State != migrate.StateMigrated {
			t.Fatalf("%s: saga %+v", f.primary, s)
		}
		g := checkCloudList(t, l, f, migrate.MethodRecreate)
		ms, err := ex.GroupMembers(t.Context(), g.ExternalDirectoryObjectID)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, m := range ms {
			if seen[m.ExternalDirectoryObjectID] {
				t.Errorf("%s holds %s twice", f.primary, m.PrimarySMTPAddress)
			}
			seen[m.ExternalDirectoryObjectID] = true
		}
		checkOnPremisesRouting(t, l, f, migrate.MethodRecreate)
		// One on-premises object holds the address (FindByAddress fails
		// on two).
		if _, err := l.Client(t).FindByAddress(t.Context(), f.primary); err != nil {
			t.Errorf("on premises %s: %v", f.primary, err)
		}
	}
}

// A wave of three lists killed (SIGKILL, a real child process) at a
// random point of its interleaved steps, 20 times with different seeds,
// then run again: every list of the wave ends migrated, with no member lost
// or added twice, and one routing contact and one dynamic list each.
func TestLabMigrateWaveKilledAtRandomPoints(t *testing.T) {
	l := labtest.Get(t)
	const seeds = 20
	// Every wave's lists made and synced at once; the first wave learns
	// how many points a wave of three reaches.
	sets, cfgs := waveFixtures(t, l, l.SyncedOU(t), "w", seeds+1)
	log := filepath.Join(t.TempDir(), "points")
	st, out := runProcess(t, []string{failpointtest.LogEnv + "=" + log}, "migrate", "run", "-c", cfgs[0], "--auto-approve")
	if !st.Success() {
		t.Fatalf("learning run: %s", out)
	}
	checkWaveMigrated(t, l, cfgs[0], sets[0])
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	total := len(strings.Fields(string(b)))
	if total < 30 {
		t.Fatalf("a wave of three reached only %d points", total)
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) {
			t.Parallel()
			nth := 1 + rand.New(rand.NewPCG(seed, 12)).IntN(total)
			lists, cfg := sets[seed], cfgs[seed]
			st, out := runProcess(t, []string{fmt.Sprintf("%s=%d", failpointtest.NthEnv, nth)}, "migrate", "run", "-c", cfg, "--auto-approve")
			if st.ExitCode() != -1 {
				t.Fatalf("seed %d: not killed at point %d of %d (exit %d):\n%s", seed, nth, total, st.ExitCode(), out)
			}
			code, out, errOut := resumeUntilDone(t, cfg)
			if code != 0 {
				t.Fatalf("seed %d (killed at point %d of %d): the run after the kill: exit %d\n%s\n%s", seed, nth, total, code, out, errOut)
			}
			checkWaveMigrated(t, l, cfg, lists)
			t.Logf("seed %d: killed at point %d of %d, then migrated", seed, nth, total)
		})
	}
}
