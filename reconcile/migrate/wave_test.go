package migrate

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// runBatch plans the batch and runs it wave by wave as migrate run does:
// each wave's groups assessed in the batch's context and started, then
// carried together by RunWave.
func runBatch(t *testing.T, l *lab, e *Env, groups []string, o Options) (*Batch, []WaveResult) {
	t.Helper()
	ctx := t.Context()
	var in []BatchGroup
	for _, g := range groups {
		in = append(in, BatchGroup{Group: g})
	}
	b, err := e.PlanBatchFrom(ctx, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []WaveResult
	for i, w := range b.Waves {
		sagas, err := List(l.j)
		if err != nil {
			t.Fatal(err)
		}
		var started []*Saga
		for _, g := range w.Groups {
			a, err := e.AssessWith(ctx, g, o, b.AssessContext(g, sagas))
			if err != nil || !a.Ready() {
				t.Fatalf("wave %d: assess %s: %v %+v", i+1, g, err, a.Problems)
			}
			s, err := e.Start(a, g, o)
			if err != nil {
				t.Fatal(err)
			}
			started = append(started, s)
		}
		res := e.RunWave(ctx, started, 2, func(ctx context.Context, env *Env, s *Saga) (*Saga, error) { return env.Run(ctx, s) })
		for j, err := range res.Errs {
			if err != nil || res.Sagas[j].State != StateMigrated {
				t.Fatalf("wave %d: %s: %v (%s)", i+1, res.Sagas[j].Group, err, res.Sagas[j].State)
			}
		}
		out = append(out, res)
	}
	return b, out
}

func TestBatchMigratesChildrenFirstOneSyncCyclePerWave(t *testing.T) {
	l := newLab(t)
	w := l.w
	ann, bob, cid := l.users[0], l.users[1], l.users[2]
	a := w.addGroup(20, "Alpha", ann)
	b := w.addGroup(21, "Beta", bob)
	p := w.addGroup(22, "Parent", a, b, cid)
	w.addGroup(23, "Grand", p, ann)
	w.sync()
	e := l.env(nil)
	o := l.options
	o.KeepOriginal = false // the originals are deleted: the parents' member links to them go too
	before := w.syncs

	batch, results := runBatch(t, l, e, []string{"grand@lab.test", "parent@lab.test", "beta@lab.test", "alpha@lab.test"}, o)

	want := [][]string{{"beta@lab.test", "alpha@lab.test"}, {"parent@lab.test"}, {"grand@lab.test"}}
	if len(batch.Waves) != len(want) {
		t.Fatalf("waves %+v, want %v", batch.Waves, want)
	}
	for i := range want {
		if !slices.Equal(batch.Waves[i].Groups, want[i]) {
			t.Errorf("wave %d: %v, want %v", i+1, batch.Waves[i].Groups, want[i])
		}
		if results[i].SyncCycles != 1 {
			t.Errorf("wave %d asked for %d sync cycles, want 1", i+1, results[i].SyncCycles)
		}
	}
	if got := w.syncs - before; got != len(want) {
		t.Errorf("%d sync cycles ran for %d waves", got, len(want))
	}
	// Planned again (a rerun) with the sagas, every group is still in the
	// batch, though its address moved to the cloud and its original is
	// gone: the rerun resumes or reports it, never loses it.
	sagas, err := List(l.j)
	if err != nil {
		t.Fatal(err)
	}
	var in []BatchGroup
	for _, g := range batch.Groups {
		in = append(in, BatchGroup{Group: g})
	}
	again, err := e.PlanBatchFrom(t.Context(), in, sagas)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range batch.Groups {
		if again.WaveOf(g) < 0 {
			t.Errorf("planned again, %s is not in a wave: %+v", g, again)
		}
	}
	// The parents' cloud lists hold their children's new lists.
	listOf := func(addr string) string {
		t.Helper()
		for id, dg := range w.dgs {
			if strings.EqualFold(dg.PrimarySMTPAddress, addr) && !dg.IsDirSynced {
				return id
			}
		}
		t.Fatalf("no cloud list holds %s", addr)
		return ""
	}
	cloudOf := func(r string) string {
		t.Helper()
		x, err := w.GetRecipient(t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		return x.ExternalDirectoryObjectID
	}
	for addr, members := range map[string][]string{
		"parent@lab.test": {listOf("alpha@lab.test"), listOf("beta@lab.test"), cloudOf(cid.Mail)},
		"grand@lab.test":  {listOf("parent@lab.test"), cloudOf(ann.Mail)},
	} {
		got := slices.Clone(w.members[listOf(addr)])
		slices.Sort(got)
		slices.Sort(members)
		if !slices.Equal(got, members) {
			t.Errorf("%s members %v, want %v", addr, got, members)
		}
	}
}

func TestBatchPlanReportsCycleAndChildOutside(t *testing.T) {
	l := newLab(t)
	w := l.w
	ann := l.users[0]
	x := w.addGroup(30, "Ex", ann)
	y := w.addGroup(31, "Why", x)
	z := w.addGroup(32, "Zed", y)
	x.Members = append(x.Members, z.DN) // Ex -> Zed -> Why -> Ex
	out := w.addGroup(33, "Outside", ann)
	w.addGroup(34, "Holder", out)
	w.addGroup(35, "Plain", ann)
	w.sync()
	e := l.env(nil)
	var in []BatchGroup
	for _, g := range []string{"ex@lab.test", "why@lab.test", "zed@lab.test", "holder@lab.test", "plain@lab.test"} {
		in = append(in, BatchGroup{Group: g})
	}
	b, err := e.PlanBatchFrom(t.Context(), in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Waves) != 1 || !slices.Equal(b.Waves[0].Groups, []string{"plain@lab.test"}) {
		t.Errorf("waves %+v", b.Waves)
	}
	if len(b.Cycles) != 1 || len(b.Cycles[0].Path) != 4 || b.Cycles[0].Path[0] != b.Cycles[0].Path[3] {
		t.Fatalf("cycles %+v", b.Cycles)
	}
	for _, g := range []string{"ex@lab.test", "why@lab.test", "zed@lab.test"} {
		if !slices.Contains(b.Cycles[0].Path, g) {
			t.Errorf("the cycle %s misses %s", b.Cycles[0], g)
		}
		if bg := b.BlockedOf(g); bg == nil || bg.Reason != BlockedCycle {
			t.Errorf("%s: blocked %+v", g, bg)
		}
	}
	if bg := b.BlockedOf("holder@lab.test"); bg == nil || bg.Reason != BlockedOutside || bg.Child != "outside@lab.test" ||
		!strings.Contains(bg.Describe(), "outside@lab.test") {
		t.Errorf("holder: blocked %+v", bg)
	}

	// With skip_nested_group_check the holder goes, keeping its synced
	// child.
	in[3].SkipNestedGroupCheck = true
	if b, err = e.PlanBatchFrom(t.Context(), in, nil); err != nil {
		t.Fatal(err)
	}
	if b.WaveOf("holder@lab.test") != 0 || b.BlockedOf("holder@lab.test") != nil {
		t.Errorf("holder with skip: waves %+v blocked %+v", b.Waves, b.Blocked)
	}
}

func TestBatchPlanReadFailureIsAnError(t *testing.T) {
	l := newLab(t)
	l.w.failNext["MemberGroups"] = errNotFound
	if _, err := l.env(nil).PlanBatchFrom(t.Context(), []BatchGroup{{Group: "sales@lab.test"}}, nil); err == nil {
		t.Fatal("a failed read of the nesting planned a batch")
	}
}
