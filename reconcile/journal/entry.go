package journal

import (
	"encoding/json"
	"fmt"
	"time"
)

// Target names the directory a write addresses.
type Target string

const (
	TargetAD       Target = "ad"
	TargetCloud    Target = "cloud"
	TargetExchange Target = "exchange"
)

// State is where an entry is in its life.
type State string

const (
	// Pending: the intent is recorded, the outcome is unknown. After a
	// crash the write may or may not have happened.
	Pending State = "pending"
	// Done: the write happened.
	Done State = "done"
	// Failed: the write was refused and nothing was applied.
	Failed State = "failed"
	// RolledBack: the write was (partly) applied and then compensated, so
	// the object is back at its before-image.
	RolledBack State = "rolled_back"
	// Undone: the write happened and a later entry (UndoneBy) reversed it.
	Undone State = "undone"
	// Superseded: the outcome cannot be told because the object changed
	// since (someone else edited the same values, or deleted the object);
	// the object was left as it is. Error says what was found.
	Superseded State = "superseded"
)

func (s State) valid() bool {
	switch s {
	case Pending, Done, Failed, RolledBack, Undone, Superseded:
		return true
	}
	return false
}

// allowed reports whether from -> to is a legal transition.
func allowed(from, to State) bool {
	switch from {
	case Pending:
		return to == Done || to == Failed || to == RolledBack || to == Superseded
	case Done:
		return to == Undone
	}
	return false
}

// Entry is one journalled write. The payloads (Intent, Before, After) are in
// the caller's own JSON format; the journal stores them verbatim.
type Entry struct {
	// ID is assigned by Begin: the UTC start time with microseconds and an
	// 8-hex-digit sequence, e.g. 20261122T233400.123456Z-0000002a. IDs sort
	// in the order entries were begun (as long as the clock does not step
	// back) and are unique within a journal.
	ID string `json:"id"`
	// RunID groups the entries of one apply or migration run.
	RunID  string `json:"run_id,omitempty"`
	Target Target `json:"target"`
	// Object is the DN, object id or identity the write addresses.
	Object string `json:"object"`
	// Operation names the write, e.g. "ad.Modify", "exo.Set-DistributionGroup".
	Operation string `json:"operation"`
	// Intent is the change about to be made. Required.
	Intent json.RawMessage `json:"intent"`
	// Before is the object's state read just before the write. Required:
	// use JSON null when the object did not exist (a create), so that undo
	// knows to delete it.
	Before json.RawMessage `json:"before"`
	// After is, at Begin, optionally what the caller expects afterwards;
	// Done replaces it with the observed after-image when given one. Undo
	// compares it with the object's current state to detect later changes.
	After json.RawMessage `json:"after,omitempty"`
	State State           `json:"state"`
	// Sent is when the write was about to be sent (MarkSent), zero while
	// it was not: a Pending entry that was never sent did not happen,
	// while one that was may have, whatever the connection said.
	Sent time.Time `json:"sent,omitzero"`
	// Error is the cause recorded by Fail (or by Recover).
	Error string `json:"error,omitempty"`
	// Refused is set by Refuse: the target answered and refused the write
	// (nothing applied), so the same write would be refused again.
	Refused  bool      `json:"refused,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	// UndoOf is set on an entry that reverses another entry.
	UndoOf string `json:"undo_of,omitempty"`
	// UndoneBy is set on an entry by Begin of the latest undo entry that
	// names it; the entry becomes Undone when that undo entry is Done.
	UndoneBy string `json:"undone_by,omitempty"`
	// UndoneAt is when the entry became Undone.
	UndoneAt time.Time `json:"undone_at,omitzero"`
}

// validateNew checks what Begin needs from the caller.
func (e *Entry) validateNew() error {
	switch {
	case e.ID != "":
		return fmt.Errorf("entry already has ID %q: Begin assigns it", e.ID)
	case e.State != "":
		return fmt.Errorf("entry already has state %q: Begin assigns it", e.State)
	case e.Target == "":
		return fmt.Errorf("entry has no target")
	case e.Object == "":
		return fmt.Errorf("entry has no object")
	case e.Operation == "":
		return fmt.Errorf("entry has no operation")
	case len(e.Intent) == 0:
		return fmt.Errorf("entry for %s has no intent", e.Object)
	case len(e.Before) == 0:
		return fmt.Errorf("entry for %s has no before-image (use JSON null for an object that does not exist)", e.Object)
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"intent", e.Intent}, {"before", e.Before}, {"after", e.After}} {
		if len(f.raw) > 0 && !json.Valid(f.raw) {
			return fmt.Errorf("entry for %s: %s is not valid JSON", e.Object, f.name)
		}
	}
	return nil
}
