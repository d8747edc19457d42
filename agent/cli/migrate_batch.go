package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/agent/setup"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/migrate"
)

// batchOf plans the groups as one batch from the directories and the
// sagas, keeping from the journal's record of the same batch (an earlier
// run) the children it found then: a child migrated since may have lost
// its member link (its original deleted), and its parent still takes its
// new cloud list.
func batchOf(ctx context.Context, m *migration, groups []setup.Migration, sagas []*migrate.Saga) (*migrate.Batch, error) {
	in := make([]migrate.BatchGroup, len(groups))
	for i, g := range groups {
		in[i] = migrate.BatchGroup{Group: g.Group, SkipNestedGroupCheck: g.Options.SkipNestedGroupCheck}
	}
	b, err := m.env.PlanBatchFrom(ctx, in, sagas)
	if err != nil {
		return nil, err
	}
	if m.j == nil {
		return b, nil
	}
	old, err := migrate.LoadBatch(m.j, b.ID)
	switch {
	case retry.ClassOf(err) == retry.NotFound:
	case err != nil:
		return nil, err
	default:
		b.Started = old.Started
		for id, kids := range old.Children {
			for _, k := range kids {
				if !slices.Contains(b.Children[id], k) {
					b.Children[id] = append(b.Children[id], k)
				}
			}
		}
	}
	return b, nil
}

// runBatch migrates the groups as one batch, wave by wave, children
// before parents: the groups of a wave are started (or resumed) and run
// together, at most migrations.concurrency at once, sharing one sync
// cycle. A wave that does not finish (a group left waiting, blocked,
// rolled back or for later) stops the batch there: the later waves hold
// its parents. It returns how many groups are not migrated.
func (a *app) runBatch(ctx context.Context, m *migration, groups []setup.Migration, retryBlocked time.Duration, progress *progressReport) (int, error) {
	sagas, err := migrate.List(m.j)
	if err != nil {
		return 0, err
	}
	b, err := batchOf(ctx, m, groups, sagas)
	if err != nil {
		return 0, err
	}
	save := func() error {
		now := time.Now().UTC()
		if b.Started.IsZero() {
			b.Started = now
		}
		b.Updated = now
		if err := migrate.SaveBatch(m.j, b); err != nil {
			return err
		}
		progress.setBatch(b)
		return nil
	}
	if err := save(); err != nil {
		return 0, err
	}
	byName := map[string]setup.Migration{}
	for _, g := range groups {
		byName[strings.ToLower(g.Group)] = g
	}
	unfinished := 0
	// The groups the batch cannot migrate: blocked by their nesting, or
	// not found (the assessment says so).
	for _, g := range groups {
		if b.WaveOf(g.Group) >= 0 {
			continue
		}
		unfinished++
		if bg := b.BlockedOf(g.Group); bg != nil {
			progress.eprintf("%s: not migrated in this batch: %s\n", g.Group, bg.Describe())
			continue
		}
		as, err := m.env.Assess(ctx, g.Group, g.Options)
		if err != nil {
			return unfinished, err
		}
		renderAssessment(a, as, g)
		progress.eprintf("%s: %d problems; nothing written\n", g.Group, len(as.Problems))
	}
	if len(b.Waves) > 1 || len(groups) > 1 {
		progress.printf("Batch %s: %d groups in %d waves, children before parents; the groups of a wave share one sync cycle.\n",
			b.ID, len(groups)-unfinished, len(b.Waves))
	}
	for i := range b.Waves {
		w := &b.Waves[i]
		if len(b.Waves) > 1 {
			progress.printf("Wave %d of %d: %s\n", i+1, len(b.Waves), strings.Join(w.Groups, ", "))
		}
		w.State, w.Started, w.Ended = migrate.WaveRunning, time.Now().UTC(), time.Time{}
		if err := save(); err != nil {
			return unfinished, err
		}
		if sagas, err = migrate.List(m.j); err != nil {
			return unfinished, err
		}
		start := time.Now()
		left := 0
		var run []*migrate.Saga
		for _, name := range w.Groups {
			g := byName[strings.ToLower(name)]
			s, later, err := a.startOne(ctx, m, g, b.AssessContext(name, sagas), progress)
			switch {
			case err != nil:
				if ctx.Err() != nil {
					return unfinished, ctx.Err()
				}
				unfinished++
				left++
				progress.eprintf("%s: %v\n", g.Group, err)
			case later:
				left++
			case s != nil:
				run = append(run, s)
			}
		}
		res := m.env.RunWave(ctx, run, m.st.MigrationConcurrency, func(ctx context.Context, env *migrate.Env, s *migrate.Saga) (*migrate.Saga, error) {
			return a.runRetrying(ctx, env, s, retryBlocked, progress)
		})
		took := time.Since(start)
		for j, s := range res.Sagas {
			err := res.Errs[j]
			if err == nil && s.State == migrate.StateRolledBack {
				err = fmt.Errorf("rolled back after step %s failed: %s", s.FailedStep, s.Error)
			}
			if err != nil {
				if ctx.Err() != nil {
					return unfinished, ctx.Err()
				}
				unfinished++
				left++
				progress.eprintf("%s: %v\n", s.Group, err)
				continue
			}
			progress.printf("%s: migrated by %s in %s: %s waiting for %d sync cycles and the directories\n",
				s.Group, s.Method, took.Round(100*time.Millisecond), s.Made.Waited.Round(100*time.Millisecond), s.Made.SyncCycles)
		}
		w.SyncCycles += res.SyncCycles
		w.Ended = time.Now().UTC()
		w.State = migrate.WaveDone
		if left > 0 {
			w.State = migrate.WaveUnfinished
		}
		if err := save(); err != nil {
			return unfinished, err
		}
		if len(b.Waves) > 1 {
			progress.printf("Wave %d of %d: %s in %s, %d sync cycles asked for\n", i+1, len(b.Waves), w.State, took.Round(100*time.Millisecond), res.SyncCycles)
		}
		if left > 0 && i+1 < len(b.Waves) {
			rest := 0
			for _, later := range b.Waves[i+1:] {
				rest += len(later.Groups)
			}
			unfinished += rest
			progress.printf("Waves %d to %d (%d groups) wait for wave %d: its groups hold their child groups. Run again when it is done (migrate status shows where each is).\n",
				i+2, len(b.Waves), rest, i+1)
			break
		}
	}
	return unfinished, nil
}

// startOne starts (or finds, to resume) one group's saga. It returns nil
// when there is nothing to run (already migrated), later when the group's
// not_before has not come, and an error for a group with problems.
func (a *app) startOne(ctx context.Context, m *migration, g setup.Migration, ac migrate.AssessContext, progress *progressReport) (s *migrate.Saga, later bool, err error) {
	if !g.NotBefore.IsZero() && time.Now().Before(g.NotBefore) {
		progress.printf("%s: not before %s; left for later\n", g.Group, g.NotBefore.Format(time.RFC3339))
		return nil, true, nil
	}
	s = sagaOfGroup(ac.Migrated, g.Group)
	if s != nil && s.State == migrate.StateMigrated {
		progress.printf("%s: already migrated (%s)\n", g.Group, s.Method)
		return nil, false, nil
	}
	if s == nil || s.State == migrate.StateRolledBack {
		as, err := m.env.AssessWith(ctx, g.Group, g.Options, ac)
		if err != nil {
			return nil, false, err
		}
		if !as.Ready() {
			progress.mu.Lock()
			renderAssessment(a, as, g)
			progress.mu.Unlock()
			return nil, false, fmt.Errorf("%d problems; nothing written", len(as.Problems))
		}
		if s, err = m.env.Start(as, g.Group, g.Options); err != nil {
			return nil, false, err
		}
		progress.printf("%s: migrating by %s (%s)\n", g.Group, s.Method, s.Reason)
		return s, false, nil
	}
	progress.printf("%s: resuming at %s (%s)\n", g.Group, s.Step, s.State)
	return s, false, nil
}

// runRetrying runs a saga with env; one blocked for now is run again,
// with the project's backoff, until retryBlocked has passed since it was
// first blocked.
func (a *app) runRetrying(ctx context.Context, env *migrate.Env, s *migrate.Saga, retryBlocked time.Duration, progress *progressReport) (*migrate.Saga, error) {
	var blockedSince time.Time
	backoff := retry.DefaultPolicy()
	for attempt := 1; ; attempt++ {
		var err error
		s, err = env.Run(ctx, s)
		if !errors.Is(err, migrate.ErrBlocked) || ctx.Err() != nil {
			return s, err
		}
		if blockedSince.IsZero() {
			blockedSince = time.Now()
		}
		wait := backoff.Backoff(attempt)
		if time.Since(blockedSince)+wait > retryBlocked {
			return s, err
		}
		progress.printf("  %s  %s: blocked for now; trying again in %s (until %s)\n", time.Now().UTC().Format("15:04:05"), s.Group,
			wait.Round(100*time.Millisecond), blockedSince.Add(retryBlocked).UTC().Format("15:04:05"))
		if err := retry.Sleep(ctx, nil, wait); err != nil {
			return s, err
		}
	}
}
