// Package apply carries out a plan's actions against Active Directory
// through the journal, resolves interrupted writes, and undoes journalled
// writes.
//
// Every write follows the same contract (controller-runtime's idempotent
// step, with a write-ahead record):
//
//  1. Re-read the object by objectGUID, noting which DC answered, and
//     refuse the action, writing nothing, when it is no longer the object
//     the plan read (plan.Action.Check: uSNChanged, mail or proxyAddresses
//     changed).
//  2. Commit the intent, the before-image (with the DC) and the expected
//     after-image to the journal, then mark it sent (both fsync'd by bbolt).
//  3. Send one LDAP modify to that same DC, with value-level deletes and
//     adds, so that values another admin adds or removes at the same time
//     survive, and an assertion on mail (its planned value deleted and
//     re-added), so that AD refuses the write if mail changed since the
//     read. AD applies a modify atomically: all of it or none.
//  4. Re-read the object and record the observed after-image as done. A DC
//     that answered with an LDAP result code applied nothing: the entry
//     fails (refused). A connection lost mid-request, or a DC that did not
//     answer in time, leaves the outcome unknown: the entry is done at once
//     only if a re-read shows the write, and otherwise stays pending.
//
// Resolve decides pending entries from the directory alone, never by
// replaying the intent blindly; see its doc for the rules.
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
	"github.com/hybridsync/hybridsync/internal/failpoint"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/journal"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// Operation is the journal operation of an action's write.
const Operation = "ad.Modify"

// Directory is the part of the AD client apply uses (*adldap.Client);
// its write errors say what happened with ad.ErrNotSent, ad.ErrDCChanged
// and ad.ErrOutcomeUnknown. Reads
// say which DC answered; a write goes only to the DC named, since "not
// applied" can be told only by the DC that received it.
type Directory interface {
	FindByGUIDOnDC(ctx context.Context, guid string) (*ad.Recipient, ad.DC, error)
	ModifyOnDC(ctx context.Context, dc ad.DC, dn string, changes ...ad.Change) error
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
	// DC is the DC the image was read from (for a before-image, the DC
	// the write went to): USNChanged is that DC's.
	DC ad.DC `json:"dc,omitzero"`
}

// ImageOf returns r's image as read from dc.
func ImageOf(r *ad.Recipient, dc ad.DC) Image {
	pa := r.ProxyAddresses.Raw()
	slices.Sort(pa)
	if pa == nil {
		pa = []string{}
	}
	return Image{DN: r.DN, GUID: r.GUID, Kind: r.Kind, USNChanged: r.USNChanged, Mail: r.Mail, ProxyAddresses: pa, DC: dc}
}

// Intent is the journal's intent record of one write.
type Intent struct {
	Action plan.Action `json:"action"`
	// Fingerprint is the fingerprint of the plan the action came from
	// ("" for an undo).
	Fingerprint string `json:"planFingerprint,omitempty"`
}

// The failpoints of a write (failpoint.Hook), for tests that kill the
// process there.
const (
	// AfterIntent: the intent is committed, not yet marked sent.
	AfterIntent = "apply.after-intent"
	// AfterSent: the intent is marked sent, the modify not sent.
	AfterSent = "apply.after-sent"
	// AfterWrite: the modify succeeded, done not recorded.
	AfterWrite = "apply.after-write"
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
	// Failpoint is called at each failpoint (crash tests kill the process
	// there). Production code leaves it nil.
	Failpoint failpoint.Hook
	// Resolve decides writes whose outcome is unknown.
	Resolve ResolveOptions
	// OnRecover, when set, is told what Run's recovery settled, before
	// anything is written.
	OnRecover func(journal.RecoverReport)
}

// Result says what became of one action.
type Result string

const (
	Applied Result = "applied"
	// Stale: the object changed since the plan; nothing written.
	Stale Result = "stale"
	// Refused: the DC refused the modify; nothing applied.
	Refused Result = "refused"
	// NotApplied: the modify was not sent (the client had failed over to
	// another DC than the one read).
	NotApplied Result = "not_applied"
	// Superseded: the connection was lost and the object was changed by
	// someone else before it could be re-read; left as it is.
	Superseded Result = "superseded"
	// Unknown: the outcome could not be settled; the entry is pending
	// and a later recovery resolves it from the DC that received it.
	Unknown Result = "unknown"
	// Skipped: not attempted (the context ended or the journal failed).
	Skipped Result = "skipped"
	// Held: not attempted, on purpose (see Held).
	Held Result = "held"
)

// Results lists every Result, for bounded metric labels.
func Results() []Result {
	return []Result{Applied, Stale, Refused, NotApplied, Superseded, Unknown, Skipped, Held}
}

// Outcome is one action's result.
type Outcome struct {
	Action  plan.Action `json:"action"`
	Result  Result      `json:"result"`
	EntryID string      `json:"entryID,omitempty"`
	// Kind is the object's class, read before the write.
	Kind ad.Kind `json:"class,omitempty"`
	// After is the object as read back after the write, when it was.
	After *Image `json:"after,omitempty"`
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

func (a *Applier) failpoint(point string) { a.Failpoint.At(point) }

// Preflight re-reads every action's object and returns a *StaleError
// listing each one that no longer matches the plan (or could not be
// read), so that a stale plan is refused before anything is written.
func Preflight(ctx context.Context, dir Directory, actions []plan.Action) error {
	var stale []error
	for _, act := range actions {
		r, _, err := dir.FindByGUIDOnDC(ctx, act.ObjectGUID)
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
	r, dc, err := a.Dir.FindByGUIDOnDC(ctx, act.ObjectGUID)
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
	after := ImageOf(expected, dc)
	after.USNChanged = 0 // unknown until read back
	e, err := a.Journal.Begin(journal.Entry{
		RunID: a.RunID, Target: journal.TargetAD, Object: r.DN, Operation: Operation,
		Intent: mustJSON(Intent{Action: act, Fingerprint: a.Fingerprint}),
		Before: mustJSON(ImageOf(r, dc)),
		After:  mustJSON(after),
	})
	if err != nil {
		o.Result, o.Err = Skipped, err
		return o, fmt.Errorf("apply: record the intent for %s: %w", r.DN, err)
	}
	o.EntryID = e.ID
	return a.write(ctx, o, e, dc, r.DN, act.Changes())
}

// write marks entry e sent, sends changes to dc, and records the outcome
// in o and the journal. Its error is non-nil only for a journal failure.
func (a *Applier) write(ctx context.Context, o Outcome, e journal.Entry, dc ad.DC, dn string, changes []ad.Change) (Outcome, error) {
	a.failpoint(AfterIntent)
	sent, err := a.Journal.MarkSent(e.ID)
	if err != nil {
		o.Result, o.Err = Skipped, err
		return o, fmt.Errorf("apply: mark entry %s sent (nothing was sent): %w", e.ID, err)
	}
	e.Sent = sent
	a.failpoint(AfterSent)
	if werr := a.Dir.ModifyOnDC(ctx, dc, dn, changes...); werr != nil {
		return a.settleFailedWrite(ctx, o, e, werr)
	}
	a.failpoint(AfterWrite)
	var observed json.RawMessage
	if r2, dc2, err := a.Dir.FindByGUIDOnDC(ctx, o.Action.ObjectGUID); err == nil {
		img := ImageOf(r2, dc2)
		o.After = &img
		observed = mustJSON(img)
	} else {
		a.log().Warn("apply: re-read after the write failed; recording the expected after-image",
			"entry_id", e.ID, "error", err)
	}
	if err := a.Journal.Done(e.ID, observed); err != nil {
		o.Result, o.Err = Unknown, err
		return o, fmt.Errorf("apply: record done for %s (entry %s; the write was applied): %w", dn, e.ID, err)
	}
	o.Result = Applied
	a.log().Info("apply: applied", "entry_id", e.ID, "kind", string(o.Action.Kind))
	return o, nil
}

// settleFailedWrite records what a failed modify did.
func (a *Applier) settleFailedWrite(ctx context.Context, o Outcome, e journal.Entry, werr error) (Outcome, error) {
	switch {
	case errors.Is(werr, ad.ErrDCChanged) || errors.Is(werr, ad.ErrNotSent):
		// Not sent: no DC could be reached, or the client is now connected
		// to another DC than the one the object was read from.
		o.Result, o.Err = NotApplied, werr
		return o, recordErr(e.ID, a.Journal.Fail(e.ID, werr))
	case !errors.Is(werr, ad.ErrOutcomeUnknown):
		// The DC answered: an LDAP modify is atomic, nothing was applied.
		o.Result, o.Err = Refused, werr
		return o, recordErr(e.ID, a.Journal.Refuse(e.ID, werr))
	}
	// The outcome is unknown: the DC may have applied the modify, or may
	// still apply it. A re-read can prove it was; only the same DC, once it
	// has had time, can prove it was not (Resolve).
	res, rerr := Resolve(ctx, a.Dir, e, a.Resolve)
	switch res {
	case journal.ResolvedDone:
		o.Result = Applied
		return o, recordErr(e.ID, a.Journal.Done(e.ID, nil))
	case journal.ResolvedNotApplied:
		o.Result, o.Err = NotApplied, werr
		return o, recordErr(e.ID, a.Journal.Fail(e.ID, werr))
	case journal.ResolvedSuperseded:
		o.Result, o.Err = Superseded, errors.Join(werr, rerr)
		return o, recordErr(e.ID, a.Journal.MarkSuperseded(e.ID, rerr))
	}
	o.Result = Unknown
	o.Err = fmt.Errorf("%w; the entry stays pending until the DC that received the write can tell (%v)", werr, rerr)
	a.log().Warn("apply: outcome unknown; the entry stays pending", "entry_id", e.ID, "error", werr)
	return o, nil
}

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
