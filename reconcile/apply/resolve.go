package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/internal/clock"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/journal"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// DefaultSettleAfter is ResolveOptions.SettleAfter's default, for a
// caller that does not know the AD client's timeout.
const DefaultSettleAfter = 2 * time.Minute

// MinSettleAfter is the least SettleAfter gives.
const MinSettleAfter = 10 * time.Second

// SettleAfter is how long a write whose outcome is unknown is given
// before the DC that received it may show that it did not happen: twice
// the AD client's request timeout (a DC answers or gives up on a request
// within it; the write may have timed out once already), and at least
// MinSettleAfter.
func SettleAfter(adTimeout time.Duration) time.Duration {
	return max(2*adTimeout, MinSettleAfter)
}

// ResolveOptions tell Resolve when a write that was sent may be judged
// not to have happened.
type ResolveOptions struct {
	// SettleAfter is the least time between sending a write and a re-read
	// that concludes it did not happen; 0 means DefaultSettleAfter. A DC
	// that is slow to answer may still be applying it.
	SettleAfter time.Duration
	// Clock is the clock; nil means the system clock.
	Clock clock.Clock
}

func (o ResolveOptions) now() time.Time { return clock.Or(o.Clock).Now() }

func (o ResolveOptions) settleAfter() time.Duration {
	if o.SettleAfter <= 0 {
		return DefaultSettleAfter
	}
	return o.SettleAfter
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
// its write; it writes nothing. It is the journal.Resolver for AD entries;
// entries of other operations are left Unresolved with an error.
//
// The rules, in order:
//   - An entry never marked sent did not happen: not applied.
//   - A deleted object supersedes the entry: nothing to finish or undo.
//   - Every added value present and every deleted value gone: done (from
//     any DC: the change can only have come from the write, or from the
//     same change made by someone else, which is as good).
//   - Otherwise only the DC that received the write can tell, and only
//     once it has had opts.SettleAfter since the write was sent: a DC that
//     timed out may still apply it, and another DC may not have replicated
//     it yet. Until then the entry stays pending (Unresolved, saying why).
//   - On that DC, after that time: an unchanged uSNChanged, or every
//     deleted value present and no added one, means not applied; anything
//     else is possible only when someone else edited the same values since
//     (a modify is atomic), so the outcome cannot be told: superseded, and
//     the object is left as that person left it.
func Resolve(ctx context.Context, dir Directory, e journal.Entry, opts ResolveOptions) (journal.Resolution, error) {
	in, err := IntentOf(e)
	if err != nil {
		return journal.Unresolved, err
	}
	if e.Sent.IsZero() {
		return journal.ResolvedNotApplied, nil
	}
	act := in.Action
	var before Image
	if err := json.Unmarshal(e.Before, &before); err != nil {
		return journal.Unresolved, fmt.Errorf("resolve entry %s: decode the before-image: %w", e.ID, err)
	}
	r, dc, err := dir.FindByGUIDOnDC(ctx, act.ObjectGUID)
	if err != nil {
		if retry.ClassOf(err) == retry.NotFound {
			return journal.ResolvedSuperseded, fmt.Errorf("%s (objectGUID %s) no longer exists: nothing to finish or undo", act.ObjectDN, act.ObjectGUID)
		}
		return journal.Unresolved, fmt.Errorf("resolve entry %s: re-read %s: %w", e.ID, act.ObjectDN, err)
	}
	st := stateOf(r, act)
	if st == stateApplied {
		return journal.ResolvedDone, nil
	}
	if before.DC.IsZero() || !before.DC.Equal(dc) {
		return journal.Unresolved, fmt.Errorf("the write was sent to %s and the object was re-read from %s, which may not have received it yet: only %s can show it did not happen",
			before.DC, dc, before.DC)
	}
	if settled := e.Sent.Add(opts.settleAfter()); opts.now().Before(settled) {
		return journal.Unresolved, fmt.Errorf("the write was sent to %s at %s without an answer and it may still apply it: settled from that DC after %s",
			dc, e.Sent.UTC().Format(time.RFC3339), settled.UTC().Format(time.RFC3339))
	}
	if r.USNChanged == before.USNChanged || st == stateNotApplied {
		return journal.ResolvedNotApplied, nil
	}
	return journal.ResolvedSuperseded, fmt.Errorf("%s's %s changed since the intent (someone else edited the same values), so whether this write happened cannot be told; the object was left as it is: compare it with the before-image (hybridsync journal show %s)",
		r.DN, act.Attribute, e.ID)
}

// Resolver returns a journal.Resolver backed by dir.
func Resolver(dir Directory, opts ResolveOptions) journal.Resolver {
	return func(ctx context.Context, e journal.Entry) (journal.Resolution, error) {
		return Resolve(ctx, dir, e, opts)
	}
}

// compensation is the value-level change that takes the action's values
// in r back to before the action: remove the added values still present,
// restore the deleted values now missing. A deleted value the action
// replaced by another form of the same address (the old primary
// "SMTP:old" demoted to "smtp:old") is restored only while that form is
// still there: if someone removed the address since, it was removed on
// purpose and stays removed.
func compensation(r *ad.Recipient, act plan.Action) plan.Action {
	vals := r.ProxyAddresses.Raw()
	c := plan.Action{Kind: act.Kind, ObjectDN: r.DN, ObjectGUID: act.ObjectGUID, Attribute: act.Attribute, Mail: r.Mail}
	if act.NewMail != "" && strings.EqualFold(r.Mail, act.NewMail) && act.Mail != "" {
		c.NewMail = act.Mail // the action replaced mail: give the old value back
	}
	for _, v := range act.Add {
		if slices.Contains(vals, v) {
			c.Delete = append(c.Delete, v)
		}
	}
	for _, v := range act.Delete {
		if slices.Contains(vals, v) {
			continue
		}
		if form, ok := otherForm(act.Add, v); ok && !slices.Contains(vals, form) {
			continue
		}
		c.Add = append(c.Add, v)
	}
	return c
}

// otherForm returns the value of added that is the same address as v in
// another form ("smtp:x" for "SMTP:x"), if any.
func otherForm(added []string, v string) (string, bool) {
	for _, a := range added {
		if a != v && strings.EqualFold(a, v) {
			return a, true
		}
	}
	return "", false
}
