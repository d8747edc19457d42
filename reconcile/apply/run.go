package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/reconcile/journal"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// Approval says who approved a Run's actions, which decides what the
// journal's history holds back.
type Approval int

const (
	// ApprovedPlan: an admin reviewed a saved plan; each of its actions is
	// applied, a fix undone earlier included.
	ApprovedPlan Approval = iota
	// AutoApproved: `apply --auto-approve`: a fix an admin undid is held
	// until the object changes again.
	AutoApproved
	// Enforcing: the service in enforce mode. A fix an admin undid, and a
	// fix the DC refused, are held until the object changes again, and an
	// object with an earlier write still unsettled is skipped while the
	// others are applied.
	Enforcing
)

// ChangeLimit caps the changes applied within a rolling window, counted
// from the journal, so that drift arriving a little at a time is not
// applied without end (reconcile.limits.max_changes).
type ChangeLimit struct {
	// Max is the most changes within Window; 0 means no limit.
	Max int
	// Window is the rolling window; 0 means DefaultChangeWindow.
	Window time.Duration
	// Allow accepts going over (--allow-changes).
	Allow bool
}

// DefaultChangeWindow is ChangeLimit.Window's default.
const DefaultChangeWindow = 24 * time.Hour

// ChangeLimitError is Run's refusal of actions that would go over the
// ChangeLimit; it matches plan.ErrLimitExceeded. Nothing is written.
type ChangeLimitError struct {
	Max, Applied, Proposed int
	Window                 time.Duration
	Since                  time.Time
}

func (e *ChangeLimitError) Error() string {
	return fmt.Sprintf("%d changes were applied in the last %s (since %s) and %d more are proposed: more than reconcile.limits.max_changes (%d) within the window; nothing written (--allow-changes accepts it)",
		e.Applied, e.Window, e.Since.UTC().Format(time.RFC3339), e.Proposed, e.Max)
}

// Is makes errors.Is(err, plan.ErrLimitExceeded) true.
func (e *ChangeLimitError) Is(target error) bool { return target == plan.ErrLimitExceeded }

// UnresolvedError is Run's refusal when recovery left writes unsettled
// (for an admin's apply; the service skips their objects instead).
type UnresolvedError struct {
	Report journal.RecoverReport
}

func (e *UnresolvedError) Error() string {
	var msgs []string
	for _, u := range e.Report.Unresolved {
		msgs = append(msgs, fmt.Sprintf("%s: %v", u.ID, u.Err))
	}
	for _, id := range e.Report.Skipped {
		msgs = append(msgs, id+": not looked at")
	}
	return fmt.Sprintf("%d interrupted writes could not be settled (%s); nothing new was written: see `hybridsync journal show ID`",
		len(e.Report.Unresolved)+len(e.Report.Skipped), strings.Join(msgs, "; "))
}

// Request is what Run applies.
type Request struct {
	Actions []plan.Action
	// Fingerprint is the plan's, recorded in each intent.
	Fingerprint string
	Approval    Approval
	Limit       ChangeLimit
}

// Hold is an action Run did not attempt, on purpose.
type Hold struct {
	Action plan.Action `json:"action"`
	// Reason says why, for the admin.
	Reason string `json:"reason"`
	// EntryID is the journal entry behind the reason.
	EntryID string `json:"entryID,omitempty"`
}

// Report is what Run did.
type Report struct {
	RunID string `json:"runID"`
	// Recovered is what recovery settled before anything was written.
	Recovered journal.RecoverReport `json:"-"`
	// Held are the actions not attempted, and why.
	Held []Hold `json:"held,omitempty"`
	// Outcomes are the attempted actions', in order.
	Outcomes []Outcome `json:"outcomes"`
}

// NewRunID names a run in the journal: the kind of run ("apply",
// "agent", "undo", ...) and its start time.
func NewRunID(kind string, now time.Time) string {
	return kind + "-" + now.UTC().Format("20060102T150405Z")
}

// Run is the one entry point that writes a plan's actions, for the CLI's
// apply and the service's enforce mode alike:
//
//  1. Recover: settle the writes an earlier run left pending (reads
//     only). A journal that cannot be read refuses the whole run. Writes
//     still unsettled refuse it too, except when Enforcing, where only
//     their objects are skipped.
//  2. Hold back what the journal's history says not to repeat (see
//     Approval).
//  3. Refuse, writing nothing, when the actions would take the changes of
//     the rolling window over req.Limit.
//  4. Re-read every object and refuse a stale plan, writing nothing
//     (Preflight).
//  5. Apply the rest, each through the journal.
//
// Outcomes of the individual actions are in the Report; the error is for
// what stopped the run.
func (a *Applier) Run(ctx context.Context, req Request) (Report, error) {
	rep := Report{RunID: a.RunID}
	rec, err := a.Recover(ctx)
	rep.Recovered = rec
	if err != nil {
		return rep, fmt.Errorf("apply: recover the journal: %w; nothing new was written", err)
	}
	if !rec.Clean() && req.Approval != Enforcing {
		return rep, fmt.Errorf("apply: recover the journal: %w", &UnresolvedError{Report: rec})
	}
	hist, err := a.history()
	if err != nil {
		return rep, fmt.Errorf("apply: read the journal: %w; nothing written", err)
	}
	todo := make([]plan.Action, 0, len(req.Actions))
	for _, act := range req.Actions {
		if h, ok := hist.hold(act, req.Approval); ok {
			rep.Held = append(rep.Held, h)
			a.log().Info("apply: fix held", "entry_id", h.EntryID, "reason", h.Reason)
			continue
		}
		todo = append(todo, act)
	}
	if len(todo) == 0 {
		return rep, nil
	}
	if err := hist.checkLimit(req.Limit, len(todo), a.Resolve.now()); err != nil {
		return rep, fmt.Errorf("apply: %w", err)
	}
	if err := Preflight(ctx, a.Dir, todo); err != nil {
		return rep, fmt.Errorf("apply: %w; nothing written", err)
	}
	a.Fingerprint = req.Fingerprint
	rep.Outcomes, err = a.Apply(ctx, todo)
	if err != nil {
		return rep, fmt.Errorf("apply: %w", err)
	}
	return rep, nil
}

// Recover settles the writes an earlier run left pending, from the
// directory alone (it writes nothing), and tells OnRecover.
func (a *Applier) Recover(ctx context.Context) (journal.RecoverReport, error) {
	rec, err := a.Journal.Recover(ctx, Resolver(a.Dir, a.Resolve))
	if a.OnRecover != nil {
		a.OnRecover(rec)
	}
	return rec, err
}

// history is what the journal says about the objects of this package's
// writes, by lower-case objectGUID.
type history struct {
	pending map[string]journal.Entry
	// undos are the Done undo entries, newest first.
	undos map[string][]undone
	// refusals are the entries the DC refused.
	refusals map[string][]refusal
	// applied are the start times of the Done writes that were not undos,
	// newest first.
	applied []time.Time
}

type undone struct {
	id    string
	after Image
}

type refusal struct {
	id     string
	intent plan.Action
}

func (a *Applier) history() (*history, error) {
	entries, err := a.Journal.List(journal.ListFilter{})
	if err != nil {
		return nil, err
	}
	h := &history{pending: map[string]journal.Entry{}, undos: map[string][]undone{}, refusals: map[string][]refusal{}}
	for _, e := range entries { // newest first
		in, err := IntentOf(e)
		if err != nil {
			continue // another package's write
		}
		guid := strings.ToLower(in.Action.ObjectGUID)
		switch {
		case e.State == journal.Pending:
			h.pending[guid] = e
		case e.State == journal.Done && e.UndoOf != "":
			var img Image
			if err := decodeImage(e.After, &img); err != nil {
				return nil, fmt.Errorf("journal entry %s: %w", e.ID, err)
			}
			h.undos[guid] = append(h.undos[guid], undone{id: e.ID, after: img})
		case e.State == journal.Failed && e.Refused:
			h.refusals[guid] = append(h.refusals[guid], refusal{id: e.ID, intent: in.Action})
		}
		if e.UndoOf == "" && (e.State == journal.Done || e.State == journal.Undone) {
			h.applied = append(h.applied, e.Started)
		}
	}
	return h, nil
}

// hold says whether act is to be held back, and why.
func (h *history) hold(act plan.Action, by Approval) (Hold, bool) {
	guid := strings.ToLower(act.ObjectGUID)
	if e, ok := h.pending[guid]; ok {
		return Hold{Action: act, EntryID: e.ID, Reason: fmt.Sprintf(
			"an earlier write to %s (journal entry %s, started %s) is still unsettled: nothing more is written to it until that one is",
			act.ObjectDN, e.ID, e.Started.UTC().Format(time.RFC3339))}, true
	}
	if by != ApprovedPlan {
		if us := h.undos[guid]; len(us) > 0 && sameState(act, us[0].after.Mail, us[0].after.ProxyAddresses) {
			return Hold{Action: act, EntryID: us[0].id, Reason: fmt.Sprintf(
				"an admin undid this fix (journal entry %s) and %s has not changed since: it is not applied again until it does (or from a saved plan)",
				us[0].id, act.ObjectDN)}, true
		}
	}
	if by == Enforcing {
		for _, r := range h.refusals[guid] {
			if sameState(act, r.intent.Mail, r.intent.BeforeProxyAddresses) {
				return Hold{Action: act, EntryID: r.id, Reason: fmt.Sprintf(
					"the DC refused this fix before (journal entry %s) and %s has not changed since: it is not retried until it does",
					r.id, act.ObjectDN)}, true
			}
		}
	}
	return Hold{}, false
}

// sameState reports whether act was planned from mail and proxyAddresses
// equal to these (mail compared as AD does, the addresses exactly, in any
// order): whether the object has changed since, whichever DC answered.
func sameState(act plan.Action, mail string, proxyAddresses []string) bool {
	x, y := slices.Clone(act.BeforeProxyAddresses), slices.Clone(proxyAddresses)
	slices.Sort(x)
	slices.Sort(y)
	return strings.EqualFold(act.Mail, mail) && slices.Equal(x, y)
}

// checkLimit refuses n more changes that would take the window over l.
func (h *history) checkLimit(l ChangeLimit, n int, now time.Time) error {
	if l.Max <= 0 || l.Allow {
		return nil
	}
	window := l.Window
	if window <= 0 {
		window = DefaultChangeWindow
	}
	since := now.Add(-window)
	applied := 0
	for _, t := range h.applied {
		if t.Before(since) {
			break
		}
		applied++
	}
	if applied+n > l.Max {
		return &ChangeLimitError{Max: l.Max, Applied: applied, Proposed: n, Window: window, Since: since}
	}
	return nil
}

func decodeImage(raw []byte, img *Image) error {
	if len(raw) == 0 {
		return errors.New("no after-image")
	}
	return json.Unmarshal(raw, img)
}
