package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/internal/clock"

	"github.com/go-ldap/ldap/v3"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/journal"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// timedOut is what ad returns when the DC did not answer in time: the
// outcome is unknown.
var timedOut = retry.New("ad.Modify", retry.Conflict, fmt.Errorf("%w: %w", ad.ErrOutcomeUnknown, &ldap.Error{ResultCode: ldap.ErrorNetwork, Err: errors.New("ldap: connection timed out")}))

// A modify whose outcome is unknown (the DC took longer than the timeout)
// and whose re-read shows nothing yet stays pending: the DC may still
// apply it. Only the same DC, after SettleAfter, may show it did not
// happen; a DC that applied it late is seen as done.
func TestUnknownOutcomeIsSettledOnlyByTheSameDCLater(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	tick := func() time.Time { return now }
	opts := ResolveOptions{SettleAfter: 2 * time.Minute, Clock: clock.Funcs{NowFunc: tick}}

	t.Run("not applied, settled after the window", func(t *testing.T) {
		f, j := seedDir(), openJournalAt(t, tick)
		f.modifyErr = timedOut
		a := &Applier{Dir: f, Journal: j, Resolve: opts}
		out, err := a.Apply(t.Context(), []plan.Action{dualWrite()})
		if err != nil || out[0].Result != Unknown {
			t.Fatalf("apply: %v %+v", err, out)
		}
		id := out[0].EntryID
		if e, _ := j.Get(id); e.State != journal.Pending || e.Sent.IsZero() {
			t.Fatalf("entry after an unknown outcome: %+v", e)
		}
		// A minute later: the DC may still be applying it.
		now = now.Add(time.Minute)
		rep, err := j.Recover(t.Context(), Resolver(f, opts))
		if err != nil || len(rep.Unresolved) != 1 || !strings.Contains(rep.Unresolved[0].Err.Error(), "may still apply it") {
			t.Fatalf("recover within the window: %v %+v", err, rep)
		}
		// Past the window, the same DC shows nothing changed.
		now = now.Add(2 * time.Minute)
		rep, err = j.Recover(t.Context(), Resolver(f, opts))
		if err != nil || !slices.Equal(rep.NotApplied, []string{id}) {
			t.Fatalf("recover after the window: %v %+v", err, rep)
		}
	})

	t.Run("applied late by the DC", func(t *testing.T) {
		f, j := seedDir(), openJournalAt(t, tick)
		f.modifyErr = timedOut
		a := &Applier{Dir: f, Journal: j, Resolve: opts}
		out, _ := a.Apply(t.Context(), []plan.Action{dualWrite()})
		if out[0].Result != Unknown {
			t.Fatalf("apply: %+v", out)
		}
		// The DC commits the write after the client gave up.
		act := dualWrite()
		if err := f.modify(dn, act.Changes()); err != nil {
			t.Fatal(err)
		}
		rep, err := j.Recover(t.Context(), Resolver(f, opts))
		if err != nil || !slices.Equal(rep.Done, []string{out[0].EntryID}) {
			t.Fatalf("recover: %v %+v", err, rep)
		}
		// Now it can be undone like any other fix.
		if _, err := a.Undo(t.Context(), out[0].EntryID, false); err != nil {
			t.Fatalf("undo: %v", err)
		}
	})

	t.Run("re-read from another DC settles nothing", func(t *testing.T) {
		f, j := seedDir(), openJournalAt(t, tick)
		f.modifyErr = timedOut
		a := &Applier{Dir: f, Journal: j, Resolve: opts}
		out, _ := a.Apply(t.Context(), []plan.Action{dualWrite()})
		// The re-dial reached a DC that has not replicated the write (if
		// it was made): the object looks untouched, uSNChanged included.
		f.dc = dcB
		now = now.Add(time.Hour)
		rep, err := j.Recover(t.Context(), Resolver(f, opts))
		if err != nil || len(rep.Unresolved) != 1 || !strings.Contains(rep.Unresolved[0].Err.Error(), "DC1") {
			t.Fatalf("recover from another DC: %v %+v", err, rep)
		}
		if e, _ := j.Get(out[0].EntryID); e.State != journal.Pending {
			t.Fatalf("entry %s, want pending", e.State)
		}
		f.dc = dcA
		if rep, err = j.Recover(t.Context(), Resolver(f, opts)); err != nil || len(rep.NotApplied) != 1 {
			t.Fatalf("recover from the DC that received it: %v %+v", err, rep)
		}
	})
}

// The client failed over between the read and the write: the modify is
// not sent to a DC the object was not read from.
func TestApplyDoesNotWriteToAnotherDC(t *testing.T) {
	f, j := seedDir(), openJournal(t)
	a := &Applier{Dir: &failoverDir{fakeDir: f}, Journal: j}
	out, err := a.Apply(t.Context(), []plan.Action{dualWrite()})
	if err != nil || out[0].Result != NotApplied || f.modifies != 0 {
		t.Fatalf("apply: %v %+v, %d modifies", err, out, f.modifies)
	}
	if e, _ := j.Get(out[0].EntryID); e.State != journal.Failed || e.Refused {
		t.Fatalf("entry %+v", e)
	}
}

// failoverDir reads from dcA and then finds itself on dcB.
type failoverDir struct{ *fakeDir }

func (d *failoverDir) ModifyOnDC(ctx context.Context, dc ad.DC, dn string, changes ...ad.Change) error {
	d.fakeDir.dc = dcB
	return d.fakeDir.ModifyOnDC(ctx, dc, dn, changes...)
}

// mail changed between the read and the write: the assertion in the same
// modify makes the DC refuse it, and nothing is applied.
func TestApplyRefusesWhenMailChangedInBetween(t *testing.T) {
	f, j := seedDir(), openJournal(t)
	f.beforeModify = func() {
		f.objs[guid].Mail = "pat.other@lab.test"
		f.beforeModify = nil
	}
	before := sortedProxies(f)
	out, err := (&Applier{Dir: f, Journal: j}).Apply(t.Context(), []plan.Action{dualWrite()})
	if err != nil || out[0].Result != Refused {
		t.Fatalf("apply: %v %+v", err, out)
	}
	if got := sortedProxies(f); !slices.Equal(got, before) || f.objs[guid].Mail != "pat.other@lab.test" {
		t.Fatalf("proxyAddresses %q mail %s after a refused write", got, f.objs[guid].Mail)
	}
	if e, _ := j.Get(out[0].EntryID); e.State != journal.Failed || !e.Refused {
		t.Fatalf("entry %+v", e)
	}
}
