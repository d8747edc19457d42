package journal

import (
	"context"
	"errors"
	"fmt"
)

// Resolution is a resolver's verdict on a Pending entry after re-reading
// its target.
type Resolution int

const (
	// Unresolved: the target's state does not tell; leave the entry Pending.
	Unresolved Resolution = iota
	// ResolvedDone: the write happened (the target matches the intent).
	ResolvedDone
	// ResolvedNotApplied: the write did not happen (the target still
	// matches the before-image); the entry becomes Failed.
	ResolvedNotApplied
	// ResolvedRolledBack: the write had (partly) happened and the resolver
	// compensated it; the entry becomes RolledBack.
	ResolvedRolledBack
	// ResolvedSuperseded: the target changed since in a way that hides
	// whether the write happened (or is gone); the resolver left it alone
	// and its error says what it found. The entry becomes Superseded.
	ResolvedSuperseded
)

func (r Resolution) String() string {
	switch r {
	case ResolvedDone:
		return "done"
	case ResolvedNotApplied:
		return "not_applied"
	case ResolvedRolledBack:
		return "rolled_back"
	case ResolvedSuperseded:
		return "superseded"
	case Unresolved:
		return "unresolved"
	}
	return fmt.Sprintf("Resolution(%d)", int(r))
}

// Resolver re-reads the target of a Pending entry and says what became of
// the write. It must not blindly replay the intent. An error means the
// entry stays Pending, except with ResolvedSuperseded, where the error is
// the reason recorded.
type Resolver func(ctx context.Context, e Entry) (Resolution, error)

// RecoverIssue is a Pending entry Recover left Pending, and why.
type RecoverIssue struct {
	ID  string
	Err error // nil when the resolver answered Unresolved without error
}

// RecoverReport lists what Recover did, by entry ID, in the order handled.
type RecoverReport struct {
	Done       []string
	NotApplied []string
	RolledBack []string
	Superseded []RecoverIssue
	// Unresolved entries are still Pending: the resolver could not tell,
	// returned an error, or recording its verdict failed.
	Unresolved []RecoverIssue
	// Skipped entries were not looked at because ctx ended first.
	Skipped []string
}

// Clean reports whether every Pending entry was resolved.
func (r RecoverReport) Clean() bool { return len(r.Unresolved) == 0 && len(r.Skipped) == 0 }

// errRecoveredNotApplied is recorded as the cause of entries Recover fails.
var errRecoveredNotApplied = errors.New("recovery: target re-read shows the write was not applied")

// Recover resolves every entry that is Pending when it starts, oldest first,
// each at most once: entries begun during Recover wait for the next call.
// A resolver error or Unresolved verdict leaves the entry Pending and is
// reported; Recover then goes on with the next entry. When ctx ends, the
// remaining entries are reported as Skipped and Recover returns ctx's error
// with the partial report. Any other error means the journal itself could
// not be read.
func (j *Journal) Recover(ctx context.Context, resolve Resolver) (RecoverReport, error) {
	var rep RecoverReport
	pending, err := j.Pending()
	if err != nil {
		return rep, err
	}
	for i, e := range pending {
		if err := ctx.Err(); err != nil {
			for _, rest := range pending[i:] {
				rep.Skipped = append(rep.Skipped, rest.ID)
			}
			return rep, err
		}
		res, rerr := resolve(ctx, e)
		if res == ResolvedSuperseded {
			if terr := j.MarkSuperseded(e.ID, rerr); terr != nil {
				rep.Unresolved = append(rep.Unresolved, RecoverIssue{ID: e.ID, Err: terr})
				continue
			}
			j.log.Info("journal recovery", "id", e.ID, "object", e.Object, "operation", e.Operation, "verdict", res, "reason", fmt.Sprint(rerr))
			rep.Superseded = append(rep.Superseded, RecoverIssue{ID: e.ID, Err: rerr})
			continue
		}
		if rerr != nil {
			j.log.Warn("journal recovery: resolver failed, entry stays pending", "id", e.ID, "object", e.Object, "err", rerr)
			rep.Unresolved = append(rep.Unresolved, RecoverIssue{ID: e.ID, Err: rerr})
			continue
		}
		var terr error
		switch res {
		case ResolvedDone:
			terr = j.Done(e.ID, nil)
			if terr == nil {
				rep.Done = append(rep.Done, e.ID)
			}
		case ResolvedNotApplied:
			terr = j.Fail(e.ID, errRecoveredNotApplied)
			if terr == nil {
				rep.NotApplied = append(rep.NotApplied, e.ID)
			}
		case ResolvedRolledBack:
			terr = j.MarkRolledBack(e.ID)
			if terr == nil {
				rep.RolledBack = append(rep.RolledBack, e.ID)
			}
		case Unresolved:
			j.log.Warn("journal recovery: outcome unknown, entry stays pending", "id", e.ID, "object", e.Object)
			rep.Unresolved = append(rep.Unresolved, RecoverIssue{ID: e.ID})
			continue
		default:
			terr = fmt.Errorf("resolver returned unknown %s", res)
		}
		if terr != nil {
			j.log.Warn("journal recovery: could not record verdict, entry stays pending", "id", e.ID, "verdict", res, "err", terr)
			rep.Unresolved = append(rep.Unresolved, RecoverIssue{ID: e.ID, Err: terr})
			continue
		}
		j.log.Info("journal recovery", "id", e.ID, "object", e.Object, "operation", e.Operation, "verdict", res)
	}
	return rep, nil
}
