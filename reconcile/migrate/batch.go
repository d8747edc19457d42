package migrate

import (
	"slices"
	"strings"
)

// BatchPlan is the order in which a batch of groups can migrate: children
// before parents, in waves whose groups share one sync cycle, and the
// groups that cannot migrate in this batch, with the reason.
type BatchPlan struct {
	// Waves are the batch's groups that can migrate, children before
	// parents: every group's mail-enabled child groups in the batch are in
	// earlier waves. Within a wave, groups keep the batch's order.
	Waves [][]string
	// Cycles are the nesting cycles that reach a group of the batch, each
	// a path that ends where it starts (a -> b -> c -> a); groups outside
	// the batch may be on it.
	Cycles []Cycle
	// Blocked are the batch's groups that cannot migrate in this batch, in
	// the batch's order.
	Blocked []BlockedGroup
}

// Cycle is one nesting cycle, as a path from a group back to itself.
type Cycle struct {
	Path []string `json:"path"`
}

// String is the path, "a -> b -> a".
func (c Cycle) String() string { return strings.Join(c.Path, " -> ") }

// Why a group of a batch cannot migrate.
const (
	// BlockedCycle: the group is on a nesting cycle.
	BlockedCycle = "cycle"
	// BlockedOutside: a mail-enabled child group is not in the batch (and
	// skip_nested_group_check is not set).
	BlockedOutside = "child-outside-batch"
	// BlockedChild: a child group in the batch cannot migrate.
	BlockedChild = "child-blocked"
)

// BlockedGroup is a group of the batch that cannot migrate, and why.
type BlockedGroup struct {
	Group string `json:"group"`
	// Reason is BlockedCycle, BlockedOutside or BlockedChild.
	Reason string `json:"reason"`
	// Child is the child group behind BlockedOutside or BlockedChild.
	Child string `json:"child,omitempty"`
	// Cycle is the cycle behind BlockedCycle.
	Cycle *Cycle `json:"cycle,omitempty"`
}

// PlanBatch orders the batch (group ids, each once) into waves. children
// returns a group's mail-enabled child groups (its direct members that are
// groups), for groups of the batch and for the groups they reach, to any
// depth; it is called once per group. skipNested reports whether a group
// keeps its children that do not migrate with it as (synced) members of
// its cloud list, as skip_nested_group_check does: for such a group a child
// outside the batch, or one that cannot migrate, does not block it.
//
// A group on a nesting cycle cannot migrate (which of them would come
// first?); every cycle that reaches the batch is reported with its path.
// A group waiting for a child that cannot migrate cannot either, unless it
// skips the check.
func PlanBatch(batch []string, children func(group string) []string, skipNested func(group string) bool) BatchPlan {
	g := newNesting(batch, children)
	var p BatchPlan

	// Cycles: the strongly connected components holding more than one
	// group, or one group that is its own member.
	blocked := map[string]BlockedGroup{}
	for _, scc := range g.components() {
		if len(scc) == 1 && !slices.Contains(g.edges[scc[0]], scc[0]) {
			continue
		}
		var start string
		for _, id := range batch {
			if slices.Contains(scc, id) {
				start = id
				break
			}
		}
		if start == "" {
			continue // a cycle below the batch, reached through a child outside it
		}
		c := Cycle{Path: g.cycleFrom(start, scc)}
		p.Cycles = append(p.Cycles, c)
		for _, id := range scc {
			if g.inBatch[id] {
				blocked[id] = BlockedGroup{Group: id, Reason: BlockedCycle, Cycle: &c}
			}
		}
	}

	// Children outside the batch, then children that cannot migrate, up
	// to a fixed point.
	for _, id := range batch {
		if _, ok := blocked[id]; ok || skipNested(id) {
			continue
		}
		for _, c := range g.edges[id] {
			if !g.inBatch[c] {
				blocked[id] = BlockedGroup{Group: id, Reason: BlockedOutside, Child: c}
				break
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for _, id := range batch {
			if _, ok := blocked[id]; ok || skipNested(id) {
				continue
			}
			for _, c := range g.edges[id] {
				if _, ok := blocked[c]; ok && g.inBatch[c] {
					blocked[id] = BlockedGroup{Group: id, Reason: BlockedChild, Child: c}
					changed = true
					break
				}
			}
		}
	}
	for _, id := range batch {
		if b, ok := blocked[id]; ok {
			p.Blocked = append(p.Blocked, b)
		}
	}

	// Waves: a group's wave is one after the latest of its children that
	// migrate in the batch (blocked children stay synced members). What
	// is left is acyclic: every group on a cycle is blocked, and so is
	// every group waiting for one, unless it skips the check.
	wave := map[string]int{}
	var level func(id string) int
	level = func(id string) int {
		if w, ok := wave[id]; ok {
			return w
		}
		w := 0
		for _, c := range g.edges[id] {
			if _, isBlocked := blocked[c]; g.inBatch[c] && !isBlocked && c != id {
				w = max(w, level(c)+1)
			}
		}
		wave[id] = w
		return w
	}
	for _, id := range batch {
		if _, ok := blocked[id]; ok {
			continue
		}
		w := level(id)
		for len(p.Waves) <= w {
			p.Waves = append(p.Waves, nil)
		}
		p.Waves[w] = append(p.Waves[w], id)
	}
	return p
}

// nesting is the graph of the groups a batch reaches: each group's child
// groups, in the order children gave them.
type nesting struct {
	order   []string // every group reached, in the order first reached
	edges   map[string][]string
	inBatch map[string]bool
}

func newNesting(batch []string, children func(string) []string) *nesting {
	g := &nesting{edges: map[string][]string{}, inBatch: map[string]bool{}}
	for _, id := range batch {
		g.inBatch[id] = true
	}
	seen := map[string]bool{}
	todo := slices.Clone(batch)
	for len(todo) > 0 {
		id := todo[0]
		todo = todo[1:]
		if seen[id] {
			continue
		}
		seen[id] = true
		g.order = append(g.order, id)
		g.edges[id] = slices.Clone(children(id))
		for _, c := range g.edges[id] {
			if !seen[c] {
				todo = append(todo, c)
			}
		}
	}
	return g
}

// components returns the strongly connected components (Tarjan's
// algorithm, iterative, so that no nesting depth overflows the stack), in
// a deterministic order.
func (g *nesting) components() [][]string {
	index := map[string]int{}
	low := map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var out [][]string
	next := 0
	type frame struct {
		id   string
		edge int
	}
	for _, root := range g.order {
		if _, ok := index[root]; ok {
			continue
		}
		calls := []frame{{id: root}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(calls) > 0 {
			f := &calls[len(calls)-1]
			if f.edge < len(g.edges[f.id]) {
				c := g.edges[f.id][f.edge]
				f.edge++
				if _, ok := index[c]; !ok {
					index[c], low[c] = next, next
					next++
					stack = append(stack, c)
					onStack[c] = true
					calls = append(calls, frame{id: c})
				} else if onStack[c] {
					low[f.id] = min(low[f.id], index[c])
				}
				continue
			}
			id := f.id
			calls = calls[:len(calls)-1]
			if len(calls) > 0 {
				parent := calls[len(calls)-1].id
				low[parent] = min(low[parent], low[id])
			}
			if low[id] == index[id] {
				var scc []string
				for {
					top := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[top] = false
					scc = append(scc, top)
					if top == id {
						break
					}
				}
				out = append(out, scc)
			}
		}
	}
	return out
}

// cycleFrom returns a shortest path from start back to itself within the
// component scc (breadth first, children in their order).
func (g *nesting) cycleFrom(start string, scc []string) []string {
	parent := map[string]string{}
	queue := []string{start}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, c := range g.edges[id] {
			if !slices.Contains(scc, c) {
				continue
			}
			if c == start {
				path := []string{start}
				for at := id; at != start; at = parent[at] {
					path = append(path, at)
				}
				slices.Reverse(path[1:])
				return append(path, start)
			}
			if _, ok := parent[c]; !ok {
				parent[c] = id
				queue = append(queue, c)
			}
		}
	}
	return []string{start, start} // unreachable for a component with a cycle
}
