package migrate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hybridsync/hybridsync/internal/retry"
)

// retrigger is how long a wait lets a triggered sync cycle show its effect
// before it triggers another.
const retrigger = 2 * time.Minute

// maxPoll bounds the backoff between looks while waiting (unless the
// configured poll interval is longer): the address of a recreated list
// moves within about this long of the sync cycle that frees it, however
// long the wait.
const maxPoll = 15 * time.Second

// waitFor waits, bounded by the configured wait, until cond holds: it
// records what it waits for and until when (State waiting; the saga keeps
// its state while compensating), triggers a sync cycle when syncs is set
// and a trigger is configured, and polls. Past the deadline it marks the
// wait overdue, says so once in the log, and returns ErrOverdue: the saga
// stays waiting, and a later Run resumes the wait (with Once, looking once
// each time; otherwise waiting a new window from then, with the same
// Since). A read that fails transiently counts as "not yet".
func (e *Env) waitFor(ctx context.Context, s *Saga, what string, syncs bool, cond func(context.Context) (bool, error)) (err error) {
	clk := e.clock()
	start := clk.Now()
	defer func() { s.Made.Waited += clk.Now().Sub(start) }()
	if s.Waiting == nil || s.Waiting.For != what {
		now := clk.Now().UTC()
		s.Waiting = &Wait{For: what, Since: now, Deadline: now.Add(e.wait())}
		if s.State == StateRunning {
			s.State = StateWaiting
		}
		if err := e.save(s); err != nil {
			return err
		}
	}
	w := s.Waiting
	// interval is the time to the next look: the configured poll interval,
	// doubling after each look up to maxPoll, and back to the start when
	// a sync cycle is triggered.
	interval := e.poll()
	if w.Overdue {
		// Resumed past the deadline: the admin may have mended the sync
		// engine, so ask it for a cycle again at once. A run (not the
		// service's looks, Once) waits another full window, from now.
		w.Triggered = time.Time{}
		if !e.Once {
			w.Overdue, w.Deadline = false, clk.Now().UTC().Add(e.wait())
			if err := e.save(s); err != nil {
				return err
			}
		}
	}
	for {
		ok, err := cond(ctx)
		if err != nil && retry.ClassOf(err) != retry.Retryable {
			return err
		}
		if err == nil && ok {
			if syncs {
				s.Made.SyncCycles++
				if e.Observe.SyncWait != nil {
					e.Observe.SyncWait(s.Step, clk.Now().Sub(w.Since), false)
				}
			}
			s.Waiting = nil
			if s.State == StateWaiting {
				s.State = StateRunning
			}
			return e.save(s)
		}
		now := clk.Now()
		if syncs && e.Sync != nil && (w.Triggered.IsZero() || now.Sub(w.Triggered) >= retrigger) {
			interval = e.poll() // the cycle asked for shows soon: look often again
			if terr := e.Sync.Trigger(ctx); terr != nil {
				e.log().Warn("migrate: sync trigger failed; waiting for the sync engine's schedule", "saga", s.ID, "error", terr)
			} else {
				s.Made.Triggers++
			}
			w.Triggered = clk.Now().UTC()
			if err := e.save(s); err != nil {
				return err
			}
			continue // the triggered cycle may have shown it already
		}
		if !now.Before(w.Deadline) {
			if !w.Overdue {
				w.Overdue = true
				e.log().Warn("migrate: waiting past the deadline", "saga", s.ID, "group", s.Group, "waiting_for", w.For,
					"since", w.Since.Format(time.RFC3339), "deadline", w.Deadline.Format(time.RFC3339))
				if e.Observe.SyncWait != nil && syncs {
					e.Observe.SyncWait(s.Step, now.Sub(w.Since), true)
				}
				if err := e.save(s); err != nil {
					return err
				}
			}
			return fmt.Errorf("%w: %s has waited since %s for %s (deadline %s)", ErrOverdue, s.Group,
				w.Since.Format(time.RFC3339), w.For, w.Deadline.Format(time.RFC3339))
		}
		if e.Once {
			return fmt.Errorf("%w: %s waits for %s (until %s)", ErrWaiting, s.Group, w.For, w.Deadline.Format(time.RFC3339))
		}
		poll := interval + time.Duration(rand.Int64N(int64(interval/10)+1))
		interval = min(2*interval, max(e.poll(), maxPoll))
		if rest := w.Deadline.Sub(now); rest < poll {
			poll = rest
		}
		if err := retry.Sleep(ctx, clk, poll); err != nil {
			return err
		}
	}
}
