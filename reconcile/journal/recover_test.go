package journal

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestRecoverRespectsCancellation(t *testing.T) {
	j, _ := tempJournal(t, stepClock(t0, time.Second))
	var es []Entry
	for i := range 3 {
		es = append(es, mustBegin(t, j, adModify("r", fmt.Sprintf("CN=U%d", i))))
	}

	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	rep, err := j.Recover(ctx, func(ctx context.Context, e Entry) (Resolution, error) {
		calls++
		cancel() // the service is stopping
		return ResolvedDone, nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Recover err = %v, want context.Canceled", err)
	}
	if calls != 1 || !slices.Equal(rep.Done, []string{es[0].ID}) ||
		!slices.Equal(rep.Skipped, []string{es[1].ID, es[2].ID}) || rep.Clean() {
		t.Fatalf("calls %d, report %+v", calls, rep)
	}
	pending, _ := j.Pending()
	if !slices.Equal(ids(pending), []string{es[1].ID, es[2].ID}) {
		t.Errorf("Pending after cancel = %v", ids(pending))
	}

	// An already-cancelled context resolves nothing.
	rep, err = j.Recover(ctx, func(context.Context, Entry) (Resolution, error) {
		t.Error("resolver called with a cancelled context")
		return ResolvedDone, nil
	})
	if !errors.Is(err, context.Canceled) || len(rep.Skipped) != 2 {
		t.Errorf("Recover with cancelled ctx: %v, %+v", err, rep)
	}
}

func TestRecoverReportsBadVerdicts(t *testing.T) {
	j, _ := tempJournal(t, stepClock(t0, time.Second))
	a := mustBegin(t, j, adModify("r", "CN=A"))
	b := mustBegin(t, j, adModify("r", "CN=B"))
	rep, err := j.Recover(t.Context(), func(_ context.Context, e Entry) (Resolution, error) {
		if e.ID == a.ID {
			return Resolution(99), nil
		}
		// Something else resolved it meanwhile.
		if err := j.Done(e.ID, nil); err != nil {
			t.Fatal(err)
		}
		return ResolvedNotApplied, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Unresolved) != 2 || rep.Unresolved[0].ID != a.ID || rep.Unresolved[1].ID != b.ID ||
		rep.Unresolved[0].Err == nil || rep.Unresolved[1].Err == nil {
		t.Fatalf("report = %+v", rep)
	}
	if got, _ := j.Get(a.ID); got.State != Pending {
		t.Errorf("entry with unknown verdict is %s, want pending", got.State)
	}
	if got, _ := j.Get(b.ID); got.State != Done {
		t.Errorf("entry resolved elsewhere is %s, want done", got.State)
	}
}

func TestRecoverRecordsSuperseded(t *testing.T) {
	j, _ := tempJournal(t, stepClock(t0, time.Second))
	e := mustBegin(t, j, adModify("r", "CN=U1"))
	why := errors.New("proxyAddresses changed by someone else since the intent")
	rep, err := j.Recover(t.Context(), func(context.Context, Entry) (Resolution, error) { return ResolvedSuperseded, why })
	if err != nil || !rep.Clean() || len(rep.Superseded) != 1 || rep.Superseded[0].ID != e.ID {
		t.Fatalf("recover: %v %+v", err, rep)
	}
	got, err := j.Get(e.ID)
	if err != nil || got.State != Superseded || got.Error != why.Error() || got.Finished.IsZero() {
		t.Fatalf("entry %+v %v", got, err)
	}
	if err := j.Done(e.ID, nil); err == nil {
		t.Fatal("a superseded entry became done")
	}
}
