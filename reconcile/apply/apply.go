// Package apply carries out a plan's actions against Active Directory
// through the journal, resolves interrupted writes, and undoes journalled
// writes.
//
// Every write follows the same contract (controller-runtime's idempotent
// step, with a write-ahead record):
//
//  1. Re-read the object by objectGUID and refuse the action, writing
//     nothing, when it is no longer the object the plan read
//     (plan.Action.Check: uSNChanged, mail or proxyAddresses changed).
//  2. Commit the intent, the before-image and the expected after-image to
//     the journal (fsync'd by bbolt).
//  3. Send one LDAP modify with value-level deletes and adds, so that
//     values another admin adds or removes at the same time survive. AD
//     applies a modify atomically: all of it or none.
//  4. Re-read the object and record the observed after-image as done. A DC
//     that answered with an LDAP result code applied nothing: the entry
//     fails. A connection lost mid-request leaves the outcome unknown: the
//     object is re-read at once (Resolve) and the entry is settled from
//     what it shows, or left pending for the next start.
//
// Resolve decides pending entries from the directory alone, never by
// replaying the intent blindly: an unchanged uSNChanged, or every deleted
// value present and no added one, means not applied; every added value
// present and every deleted value gone means done. Anything else is
// possible only when someone else edited the same values since (a modify is
// atomic), so the outcome cannot be told: the entry is recorded as
// superseded and the object is left as that person left it, never
// "corrected" without a journal record. A deleted object supersedes its
// entries too.
package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/reconcile/journal"
	"github.com/hybridsync/hybridsync/reconcile/plan"
	"github.com/hybridsync/hybridsync/reconcile/retry"
)

// Operation is the journal operation of an action's write.
const Operation = "ad.Modify"

// Directory is the part of the AD client apply uses (*ad.Client).
type Directory interface {
	FindByGUID(ctx context.Context, guid string) (*ad.Recipient, error)
	Modify(ctx context.Context, dn string, changes ...ad.Change) error
}

// Image is the part of an object the actions touch, as recorded in the
// journal's before- and after-images. ProxyAddresses are sorted.
type Image struct {
	DN             string   `json:"dn"`
	GUID           string   `json:"objectGUID"`
	Kind           ad.Kind  `json:"class,omitempty"`
	USNChanged     int64    `json:"uSNChanged"`
	Mail           string   `json:"mail"`
	ProxyAddresses []string `json:"proxyAddresses"`
}

// ImageOf returns r's image.
func ImageOf(r *ad.Recipient) Image {
	pa := r.ProxyAddresses.Raw()
	slices.Sort(pa)
	if pa == nil {
		pa = []string{}
	}
	return Image{DN: r.DN, GUID: r.GUID, Kind: r.Kind, USNChanged: r.USNChanged, Mail: r.Mail, ProxyAddresses: pa}
}

// Intent is the journal's intent record of one write.
type Intent struct {
	Action plan.Action `json:"action"`
	// Fingerprint is the fingerprint of the plan the action came from
	// ("" for an undo).
	Fingerprint string `json:"planFingerprint,omitempty"`
}

// Failpoint names a point between the steps of a write, for tests that
// kill the process there.
type Failpoint string

const (
	// AfterIntent: the intent is committed, the modify not sent.
	AfterIntent Failpoint = "after-intent"
	// AfterWrite: the modify succeeded, done not recorded.
	AfterWrite Failpoint = "after-write"
)

// Applier writes actions through the journal.
type Applier struct {
	Dir     Directory
	Journal *journal.Journal
	// RunID groups this run's entries in the journal.
	RunID string
	// Fingerprint is recorded in each intent.
	Fingerprint string
	Logger      *slog.Logger
	// Anchor is the source anchor Entra Connect uses (reconcile's
	// source_anchor); "" means objectGUID.
	Anchor plan.SourceAnchor
	// Failpoint, when set, is called at each Failpoint (tests kill the
	// process there). Production code leaves it nil.
	Failpoint func(Failpoint)
}

// Result says what became of one action.
type Result string

const (
	Applied Result = "applied"
	// Stale: the object changed since the plan; nothing written.
	Stale Result = "stale"
	// Refused: the DC refused the modify; nothing applied.
	Refused Result = "refused"
	// NotApplied: the connection was lost and the re-read shows the
	// modify did not happen.
	NotApplied Result = "not_applied"
	// Superseded: the connection was lost and the object was changed by
	// someone else before it could be re-read; left as it is.
	Superseded Result = "superseded"
	// Unknown: the outcome could not be settled; the entry is pending
	// and the next start resolves it.
	Unknown Result = "unknown"
	// Skipped: not attempted (the context ended or the journal failed).
	Skipped Result = "skipped"
)

// Results lists every Result, for bounded metric labels.
func Results() []Result {
	return []Result{Applied, Stale, Refused, NotApplied, Superseded, Unknown, Skipped}
}

// Outcome is one action's result.
type Outcome struct {
	Action  plan.Action `json:"action"`
	Result  Result      `json:"result"`
	EntryID string      `json:"entryID,omitempty"`
	// Kind is the object's class, read before the write.
	Kind ad.Kind `json:"class,omitempty"`
	// ImmutableID is the object's onPremisesImmutableId under
	// Applier.Anchor, computed from the same read: Verify knows its twin
	// by it ("" when it cannot be computed).
	ImmutableID string `json:"onPremisesImmutableId,omitempty"`
	// Err explains every result but Applied.
	Err error `json:"-"`
}

// StaleError is Preflight's refusal: the actions whose objects changed.
type StaleError struct {
	Stale []error
}

func (e *StaleError) Error() string {
	msgs := make([]string, len(e.Stale))
	for i, err := range e.Stale {
		msgs[i] = err.Error()
	}
	return fmt.Sprintf("%d of the plan's actions are stale: %s", len(e.Stale), strings.Join(msgs, "; "))
}

// Unwrap returns the causes (each wraps plan.ErrStale or a read error).
func (e *StaleError) Unwrap() []error { return e.Stale }

func (a *Applier) log() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Logger
}

func (a *Applier) failpoint(p Failpoint) {
	if a.Failpoint != nil {
		a.Failpoint(p)
	}
}

// Preflight re-reads every action's object and returns a *StaleError
// listing each one that no longer matches the plan (or could not be
// read), so that a stale plan is refused before anything is written.
func Preflight(ctx context.Context, dir Directory, actions []plan.Action) error {
	var stale []error
	for _, act := range actions {
		r, err := dir.FindByGUID(ctx, act.ObjectGUID)
		if err != nil {
			if retry.ClassOf(err) == retry.NotFound {
				stale = append(stale, fmt.Errorf("%w: %s (objectGUID %s) no longer exists", plan.ErrStale, act.ObjectDN, act.ObjectGUID))
				continue
			}
			return fmt.Errorf("apply: re-read %s: %w", act.ObjectDN, err)
		}
		if err := act.Check(r); err != nil {
			stale = append(stale, err)
		}
	}
	if len(stale) > 0 {
		return &StaleError{Stale: stale}
	}
	return nil
}

// Apply carries out actions in order, each through the journal. It stops
// early only when ctx ends or the journal fails (the remaining actions are
// Skipped, and the error is returned); every other problem is recorded in
// that action's Outcome and Apply goes on.
func (a *Applier) Apply(ctx context.Context, actions []plan.Action) ([]Outcome, error) {
	out := make([]Outcome, 0, len(actions))
	for i, act := range actions {
		if err := ctx.Err(); err != nil {
			return skipRest(out, actions[i:], err), err
		}
		o, err := a.one(ctx, act)
		out = append(out, o)
		if err != nil {
			return skipRest(out, actions[i+1:], err), err
		}
	}
	return out, nil
}

func skipRest(out []Outcome, rest []plan.Action, cause error) []Outcome {
	for _, act := range rest {
		out = append(out, Outcome{Action: act, Result: Skipped, Err: cause})
	}
	return out
}

// one applies one action. Its error is non-nil only for a journal failure.
func (a *Applier) one(ctx context.Context, act plan.Action) (Outcome, error) {
	o := Outcome{Action: act}
	r, err := a.Dir.FindByGUID(ctx, act.ObjectGUID)
	if err != nil {
		o.Result, o.Err = Stale, fmt.Errorf("apply: re-read %s: %w", act.ObjectDN, err)
		if retry.ClassOf(err) != retry.NotFound {
			o.Result = Skipped
		}
		return o, nil
	}
	o.Kind = r.Kind
	o.ImmutableID, _ = a.Anchor.ImmutableID(r)
	if err := act.Check(r); err != nil {
		o.Result, o.Err = Stale, err
		return o, nil
	}
	expected, err := act.Apply(r)
	if err != nil {
		o.Result, o.Err = Stale, err
		return o, nil
	}
	after := ImageOf(expected)
	after.USNChanged = 0 // unknown until read back
	e, err := a.Journal.Begin(journal.Entry{
		RunID: a.RunID, Target: journal.TargetAD, Object: r.DN, Operation: Operation,
		Intent: mustJSON(Intent{Action: act, Fingerprint: a.Fingerprint}),
		Before: mustJSON(ImageOf(r)),
		After:  mustJSON(after),
	})
	if err != nil {
		o.Result, o.Err = Skipped, err
		return o, fmt.Errorf("apply: record the intent for %s: %w", r.DN, err)
	}
	o.EntryID = e.ID
	a.failpoint(AfterIntent)
	werr := a.Dir.Modify(ctx, r.DN, act.Changes()...)
	if werr != nil {
		return a.settleFailedWrite(ctx, o, e, werr)
	}
	a.failpoint(AfterWrite)
	var observed json.RawMessage
	if r2, err := a.Dir.FindByGUID(ctx, act.ObjectGUID); err == nil {
		observed = mustJSON(ImageOf(r2))
	} else {
		a.log().Warn("apply: re-read after the write failed; recording the expected after-image",
			"entry_id", e.ID, "error", err)
	}
	if err := a.Journal.Done(e.ID, observed); err != nil {
		o.Result, o.Err = Unknown, err
		return o, fmt.Errorf("apply: record done for %s (entry %s; the write was applied): %w", r.DN, e.ID, err)
	}
	o.Result = Applied
	a.log().Info("apply: applied", "entry_id", e.ID, "kind", string(act.Kind))
	return o, nil
}

// settleFailedWrite records what a failed modify did.
func (a *Applier) settleFailedWrite(ctx context.Context, o Outcome, e journal.Entry, werr error) (Outcome, error) {
	if code := ad.ResultCode(werr); code >= 0 && code < serverCodeLimit {
		// The DC answered: an LDAP modify is atomic, nothing was applied.
		o.Result, o.Err = Refused, werr
		if err := a.Journal.Fail(e.ID, werr); err != nil {
			return o, fmt.Errorf("apply: record the refusal of entry %s: %w", e.ID, err)
		}
		return o, nil
	}
	// The outcome is unknown: settle it from a re-read now.
	res, rerr := Resolve(ctx, a.Dir, e)
	switch {
	case res == journal.Unresolved:
		o.Result, o.Err = Unknown, errors.Join(werr, rerr)
		return o, nil
	case res == journal.ResolvedDone:
		o.Result = Applied
		return o, recordErr(e.ID, a.Journal.Done(e.ID, nil))
	case res == journal.ResolvedNotApplied:
		o.Result, o.Err = NotApplied, werr
		return o, recordErr(e.ID, a.Journal.Fail(e.ID, werr))
	default:
		o.Result, o.Err = Superseded, errors.Join(werr, rerr)
		return o, recordErr(e.ID, a.Journal.MarkSuperseded(e.ID, rerr))
	}
}

// serverCodeLimit: go-ldap numbers its client-side errors (network,
// filter compile, ...) from 200; below that the code came from the DC.
const serverCodeLimit = 200

func recordErr(id string, err error) error {
	if err != nil {
		return fmt.Errorf("apply: record the outcome of entry %s: %w", id, err)
	}
	return nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain structs of strings and numbers are marshalled here.
		panic(fmt.Sprintf("apply: marshal %T: %v", v, err))
	}
	return b
}

// IntentOf decodes an entry's intent.
func IntentOf(e journal.Entry) (Intent, error) {
	var in Intent
	if e.Operation != Operation || e.Target != journal.TargetAD {
		return in, fmt.Errorf("entry %s is a %s %s, not an AD proxyAddresses change", e.ID, e.Target, e.Operation)
	}
	if err := json.Unmarshal(e.Intent, &in); err != nil {
		return in, fmt.Errorf("entry %s: decode intent: %w", e.ID, err)
	}
	if in.Action.ObjectGUID == "" || in.Action.Attribute == "" {
		return in, fmt.Errorf("entry %s: intent names no object or attribute", e.ID)
	}
	return in, nil
}

// state compares r's values with an action's deletes and adds, exactly
// (case matters: "SMTP:" is the primary, "smtp:" a secondary).
type state int

const (
	stateApplied state = iota
	stateNotApplied
	stateMixed
)

func stateOf(r *ad.Recipient, act plan.Action) state {
	vals := r.ProxyAddresses.Raw()
	added, deleted := 0, 0
	for _, v := range act.Add {
		if slices.Contains(vals, v) {
			added++
		}
	}
	for _, v := range act.Delete {
		if !slices.Contains(vals, v) {
			deleted++
		}
	}
	switch {
	case added == len(act.Add) && deleted == len(act.Delete):
		return stateApplied
	case added == 0 && deleted == 0:
		return stateNotApplied
	}
	return stateMixed
}

// Resolve re-reads the object of a pending entry and says what became of
// its write (see the package doc); it writes nothing. It is the
// journal.Resolver for AD entries; entries of other operations are left
// Unresolved with an error.
func Resolve(ctx context.Context, dir Directory, e journal.Entry) (journal.Resolution, error) {
	in, err := IntentOf(e)
	if err != nil {
		return journal.Unresolved, err
	}
	act := in.Action
	r, err := dir.FindByGUID(ctx, act.ObjectGUID)
	if err != nil {
		if retry.ClassOf(err) == retry.NotFound {
			return journal.ResolvedSuperseded, fmt.Errorf("%s (objectGUID %s) no longer exists: nothing to finish or undo", act.ObjectDN, act.ObjectGUID)
		}
		return journal.Unresolved, fmt.Errorf("resolve entry %s: re-read %s: %w", e.ID, act.ObjectDN, err)
	}
	var before Image
	if json.Unmarshal(e.Before, &before) == nil && before.USNChanged != 0 && r.USNChanged == before.USNChanged {
		return journal.ResolvedNotApplied, nil // not modified at all since the intent
	}
	switch stateOf(r, act) {
	case stateApplied:
		return journal.ResolvedDone, nil
	case stateNotApplied:
		return journal.ResolvedNotApplied, nil
	}
	return journal.ResolvedSuperseded, fmt.Errorf("%s's %s changed since the intent (someone else edited the same values), so whether this write happened cannot be told; the object was left as it is: compare it with the before-image (hybridsync journal show %s)",
		r.DN, act.Attribute, e.ID)
}

// compensation is the value-level change that takes the action's values
// in r back to before the action: remove the added values still present,
// restore the deleted values now missing.
func compensation(r *ad.Recipient, act plan.Action) plan.Action {
	vals := r.ProxyAddresses.Raw()
	c := plan.Action{Kind: act.Kind, ObjectDN: r.DN, ObjectGUID: act.ObjectGUID, Attribute: act.Attribute, Mail: r.Mail}
	for _, v := range act.Add {
		if slices.Contains(vals, v) {
			c.Delete = append(c.Delete, v)
		}
	}
	for _, v := range act.Delete {
		if !slices.Contains(vals, v) {
			c.Add = append(c.Add, v)
		}
	}
	return c
}

// Resolver returns a journal.Resolver backed by dir.
func Resolver(dir Directory) journal.Resolver {
	return func(ctx context.Context, e journal.Entry) (journal.Resolution, error) {
		return Resolve(ctx, dir, e)
	}
}
