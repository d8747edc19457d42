package migrate

import (
	"fmt"
	"slices"
	"testing"
)

// graph is a nesting graph for PlanBatch: group -> child groups.
type graph map[string][]string

func (g graph) children(t *testing.T) func(string) []string {
	asked := map[string]int{}
	t.Cleanup(func() {
		for id, n := range asked {
			if n > 1 {
				t.Errorf("children(%s) asked %d times, want once", id, n)
			}
		}
	})
	return func(id string) []string { asked[id]++; return g[id] }
}

func noSkip(string) bool { return false }

func blockedOf(p BatchPlan) []string {
	var out []string
	for _, b := range p.Blocked {
		s := b.Group + ":" + b.Reason
		if b.Child != "" {
			s += ":" + b.Child
		}
		out = append(out, s)
	}
	return out
}

func TestPlanBatchWaves(t *testing.T) {
	// Three levels, a diamond and a group with no children.
	g := graph{"top": {"mid1", "mid2"}, "mid1": {"leaf"}, "mid2": {"leaf"}, "leaf": nil, "alone": nil}
	p := PlanBatch([]string{"top", "alone", "mid2", "mid1", "leaf"}, g.children(t), noSkip)
	want := [][]string{{"alone", "leaf"}, {"mid2", "mid1"}, {"top"}}
	if !slices.EqualFunc(p.Waves, want, slices.Equal) || len(p.Blocked) != 0 || len(p.Cycles) != 0 {
		t.Fatalf("plan %+v, want waves %q", p, want)
	}
}

func TestPlanBatchCycles(t *testing.T) {
	// A three-group cycle in the batch, a parent of it, a self-member, and
	// a cycle through a group outside the batch.
	g := graph{
		"x": {"y"}, "y": {"z"}, "z": {"x"},
		"parent": {"x"},
		"self":   {"self"},
		"a":      {"out"}, "out": {"a"},
		"fine": nil,
	}
	p := PlanBatch([]string{"parent", "x", "y", "z", "self", "a", "fine"}, g.children(t), noSkip)
	var cycles []string
	for _, c := range p.Cycles {
		cycles = append(cycles, c.String())
	}
	slices.Sort(cycles)
	if want := []string{"a -> out -> a", "self -> self", "x -> y -> z -> x"}; !slices.Equal(cycles, want) {
		t.Errorf("cycles %q, want %q", cycles, want)
	}
	if got, want := blockedOf(p), []string{"parent:child-blocked:x", "x:cycle", "y:cycle", "z:cycle", "self:cycle", "a:cycle"}; !slices.Equal(got, want) {
		t.Errorf("blocked %q, want %q", got, want)
	}
	if want := [][]string{{"fine"}}; !slices.EqualFunc(p.Waves, want, slices.Equal) {
		t.Errorf("waves %q, want %q", p.Waves, want)
	}
	for _, b := range p.Blocked {
		if b.Reason == BlockedCycle && (b.Cycle == nil || !slices.Contains(b.Cycle.Path, b.Group)) {
			t.Errorf("%s is blocked by cycle %v, which does not pass through it", b.Group, b.Cycle)
		}
	}
}

func TestPlanBatchChildOutside(t *testing.T) {
	g := graph{"parent": {"child"}, "child": {"outside"}, "outside": nil, "grand": {"parent"}}
	batch := []string{"grand", "parent", "child"}
	p := PlanBatch(batch, g.children(t), noSkip)
	if got, want := blockedOf(p), []string{"grand:child-blocked:parent", "parent:child-blocked:child", "child:child-outside-batch:outside"}; !slices.Equal(got, want) {
		t.Errorf("blocked %q, want %q", got, want)
	}
	if len(p.Waves) != 0 {
		t.Errorf("waves %q, want none", p.Waves)
	}
	// skip_nested_group_check on child: it keeps the synced outside group
	// as a member, and the rest follows.
	p = PlanBatch(batch, g.children(t), func(id string) bool { return id == "child" })
	if want := [][]string{{"child"}, {"parent"}, {"grand"}}; len(p.Blocked) != 0 || !slices.EqualFunc(p.Waves, want, slices.Equal) {
		t.Errorf("with the check skipped on child: %+v, want waves %q", p, want)
	}
	// On parent only: child stays blocked, parent keeps it as a synced
	// member and migrates in the first wave.
	p = PlanBatch(batch, g.children(t), func(id string) bool { return id == "parent" })
	if got, want := blockedOf(p), []string{"child:child-outside-batch:outside"}; !slices.Equal(got, want) {
		t.Errorf("blocked %q, want %q", got, want)
	}
	if want := [][]string{{"parent"}, {"grand"}}; !slices.EqualFunc(p.Waves, want, slices.Equal) {
		t.Errorf("waves %q, want %q", p.Waves, want)
	}
}

// A deep chain (deeper than any real nesting) neither overflows the stack
// nor loses an order, and a 50-list batch two levels deep takes 3 waves.
func TestPlanBatchDeepAndWide(t *testing.T) {
	g := graph{}
	var batch []string
	for i := range 10000 {
		id := fmt.Sprintf("g%d", i)
		if i > 0 {
			g[id] = []string{fmt.Sprintf("g%d", i-1)}
		}
		batch = append(batch, id)
	}
	p := PlanBatch(batch, g.children(t), noSkip)
	if len(p.Waves) != 10000 || p.Waves[0][0] != "g0" || p.Waves[9999][0] != "g9999" {
		t.Fatalf("%d waves", len(p.Waves))
	}
	g = graph{}
	batch = nil
	for i := range 50 {
		id := fmt.Sprintf("l%d", i)
		switch {
		case i < 5: // top: each with five middles
			for j := range 5 {
				g[id] = append(g[id], fmt.Sprintf("l%d", 5+i*5+j))
			}
		case i < 30: // middle: one leaf each
			g[id] = []string{fmt.Sprintf("l%d", 30+(i-5)%20)}
		}
		batch = append(batch, id)
	}
	p = PlanBatch(batch, g.children(t), noSkip)
	if len(p.Waves) != 3 || len(p.Waves[0]) != 20 || len(p.Waves[1]) != 25 || len(p.Waves[2]) != 5 || len(p.Blocked) != 0 {
		t.Fatalf("waves of sizes %d, blocked %v", len(p.Waves), p.Blocked)
	}
}
