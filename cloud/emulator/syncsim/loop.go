package syncsim

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/hybridsync/hybridsync/cloud/emulator"
)

// DefaultInterval is Entra Connect's default sync cycle interval.
const DefaultInterval = 30 * time.Minute

// ErrPaused is what Trigger returns while the loop is paused: no cycle ran.
var ErrPaused = errors.New("syncsim: the sync engine is paused (as if its scheduler were disabled or its server down): no cycle ran")

// Loop runs sync cycles every interval and on demand, one at a time, like
// Entra Connect's scheduler. Its methods are safe for concurrent use.
type Loop struct {
	src      Source
	em       *emulator.Emulator
	cfg      Config
	interval time.Duration

	sem chan struct{} // holds one token while a cycle runs

	mu      sync.Mutex // guards the fields below
	last    Report
	hasLast bool
	started bool
	done    chan struct{}
	// paused stops every cycle; delay makes each start late (SetFaults).
	paused bool
	delay  time.Duration
}

// Faults are the sync engine's own failures a test injects.
type Faults struct {
	// Paused stops every cycle, scheduled or triggered, until unset: a
	// sync cycle that never comes. A cycle already running finishes.
	Paused bool `json:"paused,omitempty"`
	// Delay makes every cycle, scheduled or triggered, start this late.
	Delay time.Duration `json:"delay,omitempty"`
}

// SetFaults replaces the loop's faults; they apply from the next cycle.
func (l *Loop) SetFaults(f Faults) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.paused, l.delay = f.Paused, max(f.Delay, 0)
}

// Faults returns the loop's faults.
func (l *Loop) Faults() Faults {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Faults{Paused: l.paused, Delay: l.delay}
}

// NewLoop returns a Loop; interval <= 0 means DefaultInterval.
func NewLoop(src Source, em *emulator.Emulator, cfg Config, interval time.Duration) *Loop {
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &Loop{src: src, em: em, cfg: cfg, interval: interval, sem: make(chan struct{}, 1), done: make(chan struct{})}
}

// Start runs a cycle now and then every interval in a goroutine until ctx
// is done; it returns at once. Periodic cycles never overlap or pile up: a
// tick that comes while a cycle (periodic or triggered) runs waits for it,
// and ticks missed meanwhile are dropped. Calling Start again does nothing.
func (l *Loop) Start(ctx context.Context) {
	l.mu.Lock()
	if l.started {
		l.mu.Unlock()
		return
	}
	l.started = true
	l.mu.Unlock()
	go func() {
		defer close(l.done)
		t := time.NewTicker(l.interval)
		defer t.Stop()
		for {
			if ctx.Err() != nil {
				return
			}
			_, _ = l.Trigger(ctx) // the report is kept for Last; errors are logged by Run
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Wait blocks until the goroutine of Start has returned (after its context
// is done). It returns at once if Start was never called.
func (l *Loop) Wait() {
	l.mu.Lock()
	started := l.started
	l.mu.Unlock()
	if started {
		<-l.done
	}
}

// Trigger runs one cycle now, after any cycle already running (and, with
// Faults.Delay, that much later), and returns its report. It gives up with
// ctx's error if ctx ends while it waits. While the loop is paused it runs
// nothing and returns ErrPaused at once (also when the pause began during
// the delay); nothing is recorded for Last.
func (l *Loop) Trigger(ctx context.Context) (Report, error) {
	if f := l.Faults(); f.Paused {
		return Report{Error: ErrPaused.Error()}, ErrPaused
	}
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return Report{Error: ctx.Err().Error()}, ctx.Err()
	}
	defer func() { <-l.sem }()
	// select picks at random among ready cases: ctx may have ended while
	// the semaphore was free. A cancelled cycle is not run or recorded.
	if err := ctx.Err(); err != nil {
		return Report{Error: err.Error()}, err
	}
	if d := l.Faults().Delay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return Report{Error: ctx.Err().Error()}, ctx.Err()
		}
	}
	if f := l.Faults(); f.Paused {
		return Report{Error: ErrPaused.Error()}, ErrPaused
	}
	rep, err := Run(ctx, l.src, l.em, l.cfg)
	if ctx.Err() != nil {
		return rep, err
	}
	l.mu.Lock()
	l.last, l.hasLast = rep, true
	l.mu.Unlock()
	return rep, err
}

// Last returns the report of the last cycle that ran, failed ones included
// (see Report.Complete and Report.Error); ok is false before the first.
func (l *Loop) Last() (rep Report, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rep = l.last
	rep.ExportErrors = slices.Clone(rep.ExportErrors)
	return rep, l.hasLast
}
