package migrate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hybridsync/hybridsync/internal/clock"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/journal"
)

// BatchRecordKind is the journal record kind of batches.
const BatchRecordKind = "migration-batch"

// Batch is a planned batch: its waves, the nesting cycles that reach it,
// the groups it cannot migrate, and each wave's progress. It is recorded
// in the journal before its first wave starts, so that a rerun keeps the
// same waves (and each parent's children as they were found then).
type Batch struct {
	// ID is derived from the batch's groups (their objectGUIDs), so that
	// the same batch run again finds its record.
	ID string `json:"id"`
	// Groups are the batch's groups as configured, in order.
	Groups []string `json:"groups"`
	Waves  []Wave   `json:"waves"`
	// Cycles and Blocked name groups by address (or DN, for a group
	// without one).
	Cycles  []Cycle        `json:"cycles,omitempty"`
	Blocked []BlockedGroup `json:"blocked,omitempty"`
	// Children are, by objectGUID, each group's child groups in the batch
	// as found before the first wave.
	Children map[string][]string `json:"children,omitempty"`
	// IDs are the groups' objectGUIDs, by group as configured.
	IDs     map[string]string `json:"ids"`
	Started time.Time         `json:"started"`
	Updated time.Time         `json:"updated"`
}

// Wave is one wave of a batch: groups whose child groups all migrate in
// earlier waves, and which share one sync cycle.
type Wave struct {
	// Groups are the wave's groups as configured.
	Groups []string `json:"groups"`
	// State is "pending", "running", "done" (every group migrated) or
	// "unfinished" (a group was left waiting, blocked or rolled back).
	State string `json:"state"`
	// SyncCycles counts the sync cycles the wave asked for (and waited
	// for): one, unless a cycle did not show its effect in time.
	SyncCycles int       `json:"syncCycles"`
	Started    time.Time `json:"started,omitzero"`
	Ended      time.Time `json:"ended,omitzero"`
}

// Wave states.
const (
	WavePending    = "pending"
	WaveRunning    = "running"
	WaveDone       = "done"
	WaveUnfinished = "unfinished"
)

// BatchGroup is one group of a batch to plan.
type BatchGroup struct {
	// Group is as configured (address or objectGUID).
	Group string
	// SkipNestedGroupCheck keeps its child groups that do not migrate
	// with it as (synced) members of its cloud list.
	SkipNestedGroupCheck bool
}

// PlanBatchFrom reads the batch's nesting from AD (mail-enabled child
// groups, to any depth, by their memberOf back-links) and orders it into
// waves with PlanBatch. Groups migrated before (a migrated saga in done)
// are no longer children: their parents can go. A group that is not found
// is left out of the waves (its assessment says so). A read that fails is
// an error: a batch is never planned from a partial graph.
func (e *Env) PlanBatchFrom(ctx context.Context, groups []BatchGroup, done []*Saga) (*Batch, error) {
	b := &Batch{IDs: map[string]string{}, Children: map[string][]string{}}
	names := map[string]string{} // objectGUID -> address (or DN)
	dns := map[string]string{}   // objectGUID -> DN
	skip := map[string]bool{}
	var ids []string
	for _, g := range groups {
		b.Groups = append(b.Groups, g.Group)
		id, dn, err := e.batchMember(ctx, g.Group, done)
		if retry.ClassOf(err) == retry.NotFound {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("migrate: plan the batch: read %s: %w", g.Group, err)
		}
		if slices.Contains(ids, id) {
			continue
		}
		ids = append(ids, id)
		b.IDs[g.Group] = id
		names[id], dns[id] = g.Group, dn
		skip[id] = g.SkipNestedGroupCheck
	}
	migrated := func(id string) bool {
		return slices.ContainsFunc(done, func(s *Saga) bool { return s.State == StateMigrated && strings.EqualFold(s.ID, id) })
	}
	// Walk the nesting from the batch's groups, breadth first, reading
	// each group's child groups once.
	edges := map[string][]string{}
	queue := slices.Clone(ids)
	seen := map[string]bool{}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if seen[id] {
			continue
		}
		seen[id] = true
		if dns[id] == "" {
			continue // a group under way whose original is gone: no children left to wait for
		}
		kids, err := e.Dir.MemberGroups(ctx, dns[id])
		if err != nil {
			return nil, fmt.Errorf("migrate: plan the batch: read the child groups of %s: %w", names[id], err)
		}
		for _, k := range kids {
			kid := strings.ToLower(k.GUID)
			if migrated(kid) || slices.Contains(edges[id], kid) {
				continue
			}
			edges[id] = append(edges[id], kid)
			if _, ok := names[kid]; !ok {
				names[kid] = cmpOr(primaryOf(k), k.DN)
			}
			if _, ok := dns[kid]; !ok {
				dns[kid] = k.DN
			}
			queue = append(queue, kid)
		}
	}
	inBatch := func(id string) bool { return slices.Contains(ids, id) }
	for _, id := range ids {
		for _, k := range edges[id] {
			if inBatch(k) {
				b.Children[id] = append(b.Children[id], k)
			}
		}
	}
	p := PlanBatch(ids, func(id string) []string { return edges[id] }, func(id string) bool { return skip[id] })
	byID := map[string]string{}
	for g, id := range b.IDs {
		if _, ok := byID[id]; !ok || slices.Index(b.Groups, g) < slices.Index(b.Groups, byID[id]) {
			byID[id] = g
		}
	}
	for _, w := range p.Waves {
		wave := Wave{State: WavePending}
		for _, id := range w {
			wave.Groups = append(wave.Groups, byID[id])
		}
		b.Waves = append(b.Waves, wave)
	}
	name := func(id string) string {
		if n, ok := names[id]; ok {
			return n
		}
		return id
	}
	for _, c := range p.Cycles {
		path := make([]string, len(c.Path))
		for i, id := range c.Path {
			path[i] = name(id)
		}
		b.Cycles = append(b.Cycles, Cycle{Path: path})
	}
	for _, bg := range p.Blocked {
		x := BlockedGroup{Group: name(bg.Group), Reason: bg.Reason}
		if bg.Child != "" {
			x.Child = name(bg.Child)
		}
		if bg.Cycle != nil {
			path := make([]string, len(bg.Cycle.Path))
			for i, id := range bg.Cycle.Path {
				path[i] = name(id)
			}
			x.Cycle = &Cycle{Path: path}
		}
		b.Blocked = append(b.Blocked, x)
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	sum := sha256.Sum256([]byte(strings.Join(sorted, ",")))
	b.ID = "batch-" + hex.EncodeToString(sum[:6])
	return b, nil
}

// batchMember finds a group of the batch: by its saga when its
// migration has started (its address may have moved to the cloud list,
// and its original to the no-sync OU, or be gone: dn is then ""), by
// objectGUID or address otherwise.
func (e *Env) batchMember(ctx context.Context, group string, sagas []*Saga) (id, dn string, err error) {
	for _, s := range sagas {
		if s.State == StateRolledBack || !(strings.EqualFold(s.Group, group) || strings.EqualFold(s.ID, strings.Trim(group, "{}"))) {
			continue
		}
		r, _, err := e.Dir.FindByGUIDOnDC(ctx, s.ID)
		switch {
		case retry.ClassOf(err) == retry.NotFound:
			return s.ID, "", nil
		case err != nil:
			return "", "", err
		}
		return s.ID, r.DN, nil
	}
	r, err := e.findGroup(ctx, group)
	if err != nil {
		return "", "", err
	}
	return strings.ToLower(r.GUID), r.DN, nil
}

// WaveOf returns the index of the wave holding group (as configured), or
// -1.
func (b *Batch) WaveOf(group string) int {
	for i, w := range b.Waves {
		if slices.ContainsFunc(w.Groups, func(g string) bool { return strings.EqualFold(g, group) }) {
			return i
		}
	}
	return -1
}

// BlockedOf returns why group cannot migrate in this batch, or nil.
func (b *Batch) BlockedOf(group string) *BlockedGroup {
	for i := range b.Blocked {
		if strings.EqualFold(b.Blocked[i].Group, group) {
			return &b.Blocked[i]
		}
	}
	return nil
}

// Describe says why a group of the batch cannot migrate, for the admin.
func (bg BlockedGroup) Describe() string {
	switch bg.Reason {
	case BlockedCycle:
		return fmt.Sprintf("it is on a nesting cycle (%s): no group of a cycle can migrate before the others; break the cycle on premises first", bg.Cycle)
	case BlockedOutside:
		return fmt.Sprintf("its child group %s is not in the batch: add it to the batch, or set skip_nested_group_check to keep the synced child as a member of the cloud list", bg.Child)
	case BlockedChild:
		return fmt.Sprintf("its child group %s cannot migrate in this batch", bg.Child)
	}
	return bg.Reason
}

// SaveBatch records b in the journal.
func SaveBatch(j *journal.Journal, b *Batch) error {
	raw, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("migrate: encode batch %s: %w", b.ID, err)
	}
	if err := j.PutRecord(BatchRecordKind, b.ID, raw); err != nil {
		return fmt.Errorf("migrate: save batch %s: %w", b.ID, err)
	}
	return nil
}

// LoadBatch reads batch id; a missing one is classed retry.NotFound.
func LoadBatch(j *journal.Journal, id string) (*Batch, error) {
	raw, err := j.GetRecord(BatchRecordKind, id)
	if err != nil {
		return nil, err
	}
	var b Batch
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, retry.New("migrate.LoadBatch", retry.Terminal, fmt.Errorf("batch %s in the journal cannot be read: %w", id, err))
	}
	return &b, nil
}

// ListBatches returns every batch in the journal, the most recently
// updated first.
func ListBatches(j *journal.Journal) ([]*Batch, error) {
	recs, err := j.ListRecords(BatchRecordKind)
	if err != nil {
		return nil, err
	}
	var out []*Batch
	var bad []error
	for _, r := range recs {
		var b Batch
		if err := json.Unmarshal(r.Value, &b); err != nil {
			bad = append(bad, fmt.Errorf("batch %s: %w", r.Key, err))
			continue
		}
		out = append(out, &b)
	}
	slices.SortFunc(out, func(x, y *Batch) int { return y.Updated.Compare(x.Updated) })
	if len(bad) > 0 {
		return out, retry.New("migrate.ListBatches", retry.Terminal, fmt.Errorf("journal holds batches that cannot be read: %w", errors.Join(bad...)))
	}
	return out, nil
}

// syncWaitStep reports whether st waits for a sync cycle.
func syncWaitStep(st Step) bool { return st == StepAwaitTwinDeleted }

// RunFunc carries one saga forward with env (Run, or Run with the
// caller's handling of a saga blocked for now).
type RunFunc func(ctx context.Context, env *Env, s *Saga) (*Saga, error)

// WaveResult is what RunWave did.
type WaveResult struct {
	// Sagas are the sagas as RunWave left them, in the order given; Errs
	// their errors (nil: migrated, or rolled back without an error).
	Sagas []*Saga
	Errs  []error
	// SyncCycles counts the sync cycles asked for.
	SyncCycles int
}

// RunWave carries the sagas of one wave forward together, at most
// concurrency at once: each runs up to the step that waits for a sync
// cycle (so that every group of the wave has left the sync scope), the
// wave asks for one sync cycle, and then every saga runs on to its end,
// sharing that cycle: their waits ask for another only when the cycle has
// not shown its effect for the retrigger interval, and then once for the
// whole wave. run carries a saga (with the env it is given, whose sync
// trigger is the wave's). A saga that cannot go on stops where it is; the
// others go on.
func (e *Env) RunWave(ctx context.Context, sagas []*Saga, concurrency int, run RunFunc) WaveResult {
	if concurrency < 1 {
		concurrency = 1
	}
	res := WaveResult{Sagas: slices.Clone(sagas), Errs: make([]error, len(sagas))}
	we := *e
	var shared *sharedTrigger
	if e.Sync != nil {
		shared = &sharedTrigger{inner: e.Sync, clk: e.clock()}
		we.Sync = shared
	}
	phase := func(env *Env) {
		sem := make(chan struct{}, concurrency)
		var wg sync.WaitGroup
		for i, s := range res.Sagas {
			if s == nil || s.State.Terminal() || res.Errs[i] != nil {
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				res.Sagas[i], res.Errs[i] = run(ctx, env, s)
			}()
		}
		wg.Wait()
	}
	// Up to the sync wait: Hold stops each saga before it.
	hold := we
	hold.hold = syncWaitStep
	phase(&hold)
	// The sagas that came to their sync wait in this call ask for the
	// wave's cycle; those already waiting (a resumed wave, the service's
	// next look) ask through their own waits, coalesced.
	held := false
	for i, err := range res.Errs {
		if errors.Is(err, errHeld) {
			res.Errs[i], held = nil, true
		}
	}
	if held && shared != nil {
		if err := shared.Trigger(ctx); err != nil {
			e.log().Warn("migrate: the wave's sync trigger failed; its waits try again", "error", err)
		}
	}
	phase(&we)
	if shared != nil {
		res.SyncCycles = shared.count()
	}
	return res
}

// errHeld is returned by Run when the env holds sagas before a step.
var errHeld = errors.New("migrate: held before a sync wait")

// sharedTrigger is the sync trigger of a wave: it asks the sync engine
// for a cycle at most once per retrigger interval, whichever of the
// wave's sagas asks, and counts the cycles asked for.
type sharedTrigger struct {
	inner SyncTrigger
	clk   clock.Clock
	mu    sync.Mutex
	last  time.Time
	n     int
}

func (t *sharedTrigger) Trigger(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clk.Now()
	if !t.last.IsZero() && now.Sub(t.last) < retrigger {
		return nil // the wave's cycle was asked for: it serves this saga too
	}
	if err := t.inner.Trigger(ctx); err != nil {
		return err
	}
	t.last = t.clk.Now()
	t.n++
	return nil
}

func (t *sharedTrigger) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// AssessContext returns what group's assessment knows inside the batch:
// the sagas, which child groups migrate in an earlier wave, and its
// children as the batch found them.
func (b *Batch) AssessContext(group string, sagas []*Saga) AssessContext {
	wave := b.WaveOf(group)
	ac := AssessContext{Migrated: sagas, Children: b.Children[b.IDs[group]]}
	ac.InBatch = func(id string) bool {
		for g, gid := range b.IDs {
			if strings.EqualFold(gid, id) {
				if w := b.WaveOf(g); w >= 0 && w < wave {
					return true
				}
			}
		}
		return false
	}
	return ac
}
