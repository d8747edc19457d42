package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/journal"
)

// ErrBlocked is wrapped by Run's error when the saga could not go on for
// now (a directory unreachable, a write whose outcome is not known yet):
// it is left where it is, and a later Run resumes it.
var ErrBlocked = errors.New("migrate: blocked for now")

// ErrWaiting is wrapped by Run's error, with Env.Once, when a wait is not
// over yet: run it again after the poll interval.
var ErrWaiting = errors.New("migrate: waiting")

// ErrOverdue is wrapped by Run's error when a sync wait passed its
// deadline: the saga is left waiting (overdue), and a later Run resumes
// it.
var ErrOverdue = errors.New("migrate: waiting past the deadline")

// Start begins the saga of an assessed group: it records the saga (with
// the capture as before-images) before anything is written, and returns
// it. The assessment must be Ready.
func (e *Env) Start(a *Assessment, group string, o Options) (*Saga, error) {
	if !a.Ready() {
		return nil, fmt.Errorf("migrate: %s cannot be migrated now (%d problems)", group, len(a.Problems))
	}
	if s, err := Load(e.Journal, a.ID); err == nil && !s.State.Terminal() {
		return s, nil // already running: resume it
	} else if err != nil && retry.ClassOf(err) != retry.NotFound {
		return nil, err
	}
	now := e.clock().Now().UTC()
	s := &Saga{ID: a.ID, Group: group, Method: a.Method, Reason: a.Reason, Steps: a.Steps, State: StateRunning,
		RunID: "migrate-" + a.ID[:8] + "-" + now.Format("20060102T150405Z"), Started: now, Updated: now,
		StepStarted: now, Options: o, Capture: a.Capture}
	s.Done = []Step{StepCapture} // Assess was the capture
	s.Step = s.Steps[1]
	if err := e.save(s); err != nil {
		return nil, err
	}
	e.log().Info("migrate: saga started", "saga", s.ID, "method", string(s.Method), "steps", len(s.Steps))
	return s, nil
}

// Run carries a saga forward from where it is until it is migrated or
// rolled back, or until it cannot go on for now (ErrBlocked, ErrOverdue:
// run it again later) or ctx ends. A step that fails for good makes it
// compensate. It returns the saga as it left it.
func (e *Env) Run(ctx context.Context, s *Saga) (*Saga, error) {
	s = s.clone()
	for {
		if err := ctx.Err(); err != nil {
			return s, err
		}
		switch s.State {
		case StateMigrated, StateRolledBack:
			return s, nil
		case StateCompensating, StateFailed:
			return e.compensate(ctx, s)
		}
		st := s.Step
		if e.hold != nil && e.hold(st) {
			return s, errHeld
		}
		e.Failpoint.At("migrate.before." + string(st))
		start := e.clock().Now()
		err := e.settlePending(ctx, s)
		if err == nil {
			err = e.do(ctx, s, st)
		}
		switch {
		case err == nil:
			e.observeStep(s, st, "done", e.clock().Now().Sub(start))
			if err := e.advance(s, st); err != nil {
				return s, err
			}
		case errors.Is(err, ErrOverdue), errors.Is(err, ErrWaiting), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			return s, err
		case retry.ClassOf(err) == retry.Retryable || errors.Is(err, ErrBlocked):
			s.Blocked = err.Error()
			s.Updated = e.clock().Now().UTC()
			if serr := e.save(s); serr != nil {
				return s, serr
			}
			return s, fmt.Errorf("%w: %s at step %s: %w", ErrBlocked, s.Group, st, err)
		default:
			e.observeStep(s, st, "failed", e.clock().Now().Sub(start))
			e.log().Warn("migrate: step failed; compensating", "saga", s.ID, "step", string(st), "error", err)
			s.State, s.Error, s.FailedStep = StateCompensating, err.Error(), st
			if serr := e.save(s); serr != nil {
				return s, serr
			}
		}
	}
}

// advance records st done and moves to the next step.
func (e *Env) advance(s *Saga, st Step) error {
	now := e.clock().Now().UTC()
	s.Done = append(s.Done, st)
	s.Waiting, s.Blocked = nil, ""
	i := s.stepIndex(st)
	if i < 0 || i+1 >= len(s.Steps) {
		s.State, s.Step = StateMigrated, ""
		e.log().Info("migrate: migrated", "saga", s.ID, "method", string(s.Method), "sync_cycles", s.Made.SyncCycles)
	} else {
		s.State, s.Step = StateRunning, s.Steps[i+1]
	}
	s.Updated, s.StepStarted = now, now
	return e.save(s)
}

func (e *Env) save(s *Saga) error {
	s.Updated = e.clock().Now().UTC()
	if err := save(e.Journal, s); err != nil {
		return err
	}
	if e.Observe.Progress != nil {
		e.Observe.Progress(s.clone())
	}
	return nil
}

func (e *Env) observeStep(s *Saga, st Step, outcome string, d time.Duration) {
	if e.Observe.Step != nil {
		e.Observe.Step(s.Method, st, outcome, d)
	}
}

// do runs one step of the path.
func (e *Env) do(ctx context.Context, s *Saga, st Step) error {
	switch st {
	case StepCapture:
		return nil // done by Assess, before the saga started
	case StepConvert:
		return e.convert(ctx, s)
	case StepAwaitCloudManaged:
		return e.awaitCloudManaged(ctx, s)
	case StepRoutingAddress:
		return e.routingAddress(ctx, s)
	case StepRoutingContact:
		return e.routingContact(ctx, s)
	case StepContactMember:
		return e.contactMember(ctx, s)
	case StepCreate:
		return e.create(ctx, s)
	case StepMove:
		return e.move(ctx, s)
	case StepAwaitTwinDeleted:
		return e.awaitTwinDeleted(ctx, s)
	case StepTakeAddresses:
		return e.takeAddresses(ctx, s)
	case StepRetire:
		return e.retire(ctx, s)
	case StepDynamicList:
		return e.dynamicList(ctx, s)
	case StepVerify:
		return e.verify(ctx, s)
	case StepDeleteOriginal:
		return e.deleteOriginal(ctx, s)
	case StepRepointCloud, StepRepoint:
		return e.repoint(ctx, s, st)
	}
	return retry.New("migrate.Run", retry.Terminal, fmt.Errorf("unknown step %q", st))
}

// write is one journalled write of a step.
type write struct {
	// op names the write ("exo.New-DistributionGroup", "ad.Move", ...);
	// the journal's operation is "migrate." + op.
	op     string
	target journal.Target
	object string
	intent any
	before any
	// do performs the write.
	do func(ctx context.Context) error
	// check reports whether the write's effect is in place (used after an
	// unknown outcome and by recovery).
	check func(ctx context.Context) (bool, error)
}

// intentRecord is what the journal holds as a write's intent.
type intentRecord struct {
	Saga   string `json:"saga"`
	Step   Step   `json:"step"`
	Undo   bool   `json:"undo,omitempty"`
	Op     string `json:"op"`
	Detail any    `json:"detail,omitempty"`
}

// perform journals and carries out w: intent and before-image first,
// marked sent, then the write, then its outcome. A refusal is returned
// classified; an unknown outcome is settled by w.check, and left pending
// (ErrBlocked) when the check does not show it.
func (e *Env) perform(ctx context.Context, s *Saga, w write, undo bool) error {
	step := s.Step
	before, err := json.Marshal(w.before)
	if err != nil {
		return retry.New("migrate."+w.op, retry.Terminal, err)
	}
	intent, err := json.Marshal(intentRecord{Saga: s.ID, Step: step, Undo: undo, Op: w.op, Detail: w.intent})
	if err != nil {
		return retry.New("migrate."+w.op, retry.Terminal, err)
	}
	entry, err := e.Journal.Begin(journal.Entry{RunID: s.RunID, Target: w.target, Object: w.object,
		Operation: "migrate." + w.op, Intent: intent, Before: before})
	if err != nil {
		return fmt.Errorf("migrate: record the intent of %s: %w", w.op, err)
	}
	point := "migrate." + string(step) + "." + w.op
	e.Failpoint.At(point + ".after-intent")
	if _, err := e.Journal.MarkSent(entry.ID); err != nil {
		return fmt.Errorf("migrate: mark %s sent: %w", entry.ID, err)
	}
	e.Failpoint.At(point + ".after-sent")
	werr := w.do(ctx)
	if werr == nil {
		e.Failpoint.At(point + ".after-write")
		return e.recordDone(entry.ID)
	}
	switch {
	case errors.Is(werr, ad.ErrNotSent) || errors.Is(werr, ad.ErrDCChanged):
		_ = e.Journal.Fail(entry.ID, werr)
		return fmt.Errorf("%w: %s was not sent: %w", ErrBlocked, w.op, werr)
	case retry.ClassOf(werr) == retry.Conflict || errors.Is(werr, ad.ErrOutcomeUnknown):
		// The target changed under us, or the outcome is unknown:
		// re-read, then decide.
		ok, cerr := w.check(ctx)
		if cerr == nil && ok {
			return e.recordDone(entry.ID)
		}
		if errors.Is(werr, ad.ErrOutcomeUnknown) || (cerr != nil && retry.ClassOf(cerr) == retry.Retryable) {
			return fmt.Errorf("%w: the outcome of %s (journal entry %s) is not known yet: %w", ErrBlocked, w.op, entry.ID, werr)
		}
		_ = e.Journal.Refuse(entry.ID, werr)
		return werr
	case retry.ClassOf(werr) == retry.Retryable:
		// Retries are done by the clients; still failing, the write may
		// or may not have happened (a 5xx): leave it to recovery.
		if ok, cerr := w.check(ctx); cerr == nil {
			if ok {
				return e.recordDone(entry.ID)
			}
			_ = e.Journal.Fail(entry.ID, werr)
		}
		return werr
	default:
		_ = e.Journal.Refuse(entry.ID, werr)
		return werr
	}
}

func (e *Env) recordDone(id string) error {
	if err := e.Journal.Done(id, nil); err != nil {
		return fmt.Errorf("migrate: record done for %s: %w", id, err)
	}
	return nil
}

// settlePending settles the saga's journal entries a crash left pending,
// from what the directories show: a write never sent did not happen; one
// sent is done when the current step's check finds its effect, not done
// once the target has had SettleAfter to show it, and otherwise blocks the
// saga for now.
func (e *Env) settlePending(ctx context.Context, s *Saga) error {
	pending, err := e.Journal.Pending()
	if err != nil {
		return fmt.Errorf("migrate: read the journal: %w", err)
	}
	for _, en := range pending {
		if en.RunID != s.RunID {
			continue
		}
		var in intentRecord
		if err := json.Unmarshal(en.Intent, &in); err != nil {
			return retry.New("migrate.settle", retry.Terminal, fmt.Errorf("journal entry %s: %w", en.ID, err))
		}
		if en.Sent.IsZero() {
			if err := e.Journal.Fail(en.ID, errors.New("recovery: never sent")); err != nil {
				return err
			}
			continue
		}
		done, err := e.applied(ctx, s, in)
		switch {
		case err != nil:
			return fmt.Errorf("%w: settle journal entry %s: %w", ErrBlocked, en.ID, err)
		case done:
			if err := e.Journal.Done(en.ID, nil); err != nil {
				return err
			}
		case e.clock().Now().Sub(en.Sent) >= e.settleAfter():
			if err := e.Journal.Fail(en.ID, errors.New("recovery: the re-read shows the write did not happen")); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: journal entry %s (%s) was sent at %s without an answer; it is settled from the directories after %s",
				ErrBlocked, en.ID, in.Op, en.Sent.UTC().Format(time.RFC3339), en.Sent.Add(e.settleAfter()).UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// applied says whether the effect of the interrupted write in is in
// place, by the check of the step it belongs to.
func (e *Env) applied(ctx context.Context, s *Saga, in intentRecord) (bool, error) {
	if in.Step == StepRepointCloud || in.Step == StepRepoint {
		return e.refWriteApplied(ctx, s, in)
	}
	if in.Undo {
		return e.undone(ctx, s, in.Step)
	}
	return e.stepDone(ctx, s, in.Step, in.Op)
}

// stepAt returns a copy of s positioned at st, for checks of an earlier
// step.
func stepAt(s *Saga, st Step) *Saga {
	c := s.clone()
	c.Step = st
	return c
}

// describeRefs lists the addresses of refs for messages.
func describeRefs(refs []Ref) string {
	var out []string
	for _, r := range refs {
		out = append(out, cmpOr(r.Address, r.DN))
	}
	return strings.Join(out, ", ")
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// clouds returns the cloud identities of refs, in order, without
// duplicates.
func clouds(refs []Ref) []string {
	var out []string
	seen := make(map[string]bool, len(refs))
	for _, r := range refs {
		if r.Cloud != "" && !seen[r.Cloud] {
			seen[r.Cloud] = true
			out = append(out, r.Cloud)
		}
	}
	return out
}
