package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hybridsync/hybridsync/reconcile/journal"
)

// ErrNotUndoable is wrapped by Undo's refusals.
var ErrNotUndoable = errors.New("apply: entry cannot be undone")

// UndoResult is what Undo did.
type UndoResult struct {
	// Entry is the undo's own journal entry (UndoOf names the original).
	Entry journal.Entry
	// Restored is true when the object's proxyAddresses now equal the
	// original entry's before-image exactly.
	Restored bool
	// Before is the original entry's before-image; Now is the object as
	// read after the undo.
	Before, Now Image
}

// Undo reverses a Done entry: it deletes the values the entry added and
// adds back the values it deleted, in one value-level modify journalled
// like any other write (its entry's UndoOf names id; the original becomes
// Undone). It refuses, writing nothing, when the entry is not a Done AD
// proxyAddresses change, or when the entry's values are no longer in
// place (someone changed them since) unless force is set, in which case
// only the values still in place are reversed: a value the entry demoted
// (SMTP:old made smtp:old) comes back only while its demoted form is still
// there, so an address removed since stays removed.
//
// Values others added or removed since the entry are kept, so the
// before-image is restored exactly when nobody else edited the object's
// proxyAddresses in between; Restored says whether it was.
func (a *Applier) Undo(ctx context.Context, id string, force bool) (UndoResult, error) {
	var res UndoResult
	orig, err := a.Journal.Get(id)
	if err != nil {
		return res, fmt.Errorf("undo %s: %w", id, err)
	}
	in, err := IntentOf(orig)
	if err != nil {
		return res, fmt.Errorf("undo %s: %w: %w", id, ErrNotUndoable, err)
	}
	switch orig.State {
	case journal.Done:
	case journal.Undone:
		return res, fmt.Errorf("undo %s: %w: it was already undone by entry %s", id, ErrNotUndoable, orig.UndoneBy)
	case journal.Superseded:
		return res, fmt.Errorf("undo %s: %w: its outcome could not be told because the object changed since (%s); compare `hybridsync journal show %s` with the object and correct it by hand", id, ErrNotUndoable, orig.Error, id)
	case journal.Pending:
		return res, fmt.Errorf("undo %s: %w: its outcome is not known yet (pending); run apply or the agent so that it is resolved first", id, ErrNotUndoable)
	default:
		return res, fmt.Errorf("undo %s: %w: it is %s, so nothing of it is in the directory", id, ErrNotUndoable, orig.State)
	}
	if err := json.Unmarshal(orig.Before, &res.Before); err != nil {
		return res, fmt.Errorf("undo %s: decode the before-image: %w", id, err)
	}
	act := in.Action
	r, dc, err := a.Dir.FindByGUIDOnDC(ctx, act.ObjectGUID)
	if err != nil {
		return res, fmt.Errorf("undo %s: re-read %s: %w", id, act.ObjectDN, err)
	}
	if st := stateOf(r, act); st != stateApplied && !force {
		return res, fmt.Errorf("undo %s: %w: %s's proxyAddresses no longer hold what the entry wrote (changed since %s); nothing written. Use --force to reverse only the values still in place",
			id, ErrNotUndoable, r.DN, orig.Finished.Format("2006-01-02 15:04:05Z07:00"))
	}
	rev := compensation(r, act)
	if len(rev.Delete) == 0 && len(rev.Add) == 0 {
		return res, fmt.Errorf("undo %s: %w: none of its values are in place any more; nothing written", id, ErrNotUndoable)
	}
	// The reversal is an action of its own, checked against what we just
	// read, so the undo is as careful as any apply.
	rev.BeforeProxyAddresses = r.ProxyAddresses.Raw()
	rev.USNChanged = r.USNChanged
	rev.Mail = r.Mail
	expected, err := rev.Apply(r)
	if err != nil {
		return res, fmt.Errorf("undo %s: %w", id, err)
	}
	switch n := primaries(expected.ProxyAddresses.Raw()); {
	case n > 1:
		return res, fmt.Errorf("undo %s: %w: reversing it now would leave %s with %d primary (SMTP:) addresses, because its addresses changed since; nothing written", id, ErrNotUndoable, r.DN, n)
	case n == 0 && primaries(res.Before.ProxyAddresses) > 0:
		return res, fmt.Errorf("undo %s: %w: reversing it now would leave %s with no primary (SMTP:) address, because the address it demoted was removed since and is not brought back; nothing written: correct proxyAddresses by hand", id, ErrNotUndoable, r.DN)
	}
	after := ImageOf(expected, dc)
	after.USNChanged = 0
	e, err := a.Journal.Begin(journal.Entry{
		RunID: a.RunID, Target: journal.TargetAD, Object: r.DN, Operation: Operation, UndoOf: id,
		Intent: mustJSON(Intent{Action: rev}),
		Before: mustJSON(ImageOf(r, dc)),
		After:  mustJSON(after),
	})
	if err != nil {
		return res, fmt.Errorf("undo %s: record the intent: %w", id, err)
	}
	res.Entry = e
	o, err := a.write(ctx, Outcome{Action: rev, EntryID: e.ID, Kind: r.Kind}, e, dc, r.DN, rev.Changes())
	if err != nil {
		return res, fmt.Errorf("undo %s: %w", id, err)
	}
	if o.Result != Applied {
		res.Entry, _ = a.Journal.Get(e.ID)
		return res, fmt.Errorf("undo %s: %s: %w", id, o.Result, o.Err)
	}
	if o.After == nil {
		if r2, dc2, err := a.Dir.FindByGUIDOnDC(ctx, act.ObjectGUID); err == nil {
			img := ImageOf(r2, dc2)
			o.After = &img
		}
	}
	if o.After != nil {
		res.Now = *o.After
		res.Restored = slices.Equal(res.Now.ProxyAddresses, res.Before.ProxyAddresses)
	}
	res.Entry, _ = a.Journal.Get(e.ID)
	return res, nil
}

// primaries counts the primary SMTP addresses ("SMTP:", upper case).
func primaries(vals []string) int {
	n := 0
	for _, v := range vals {
		if strings.HasPrefix(v, "SMTP:") {
			n++
		}
	}
	return n
}
