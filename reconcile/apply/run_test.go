package apply

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/internal/clock"

	"github.com/go-ldap/ldap/v3"
	bolt "go.etcd.io/bbolt"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/journal"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// planFrom is the dual write as a plan would propose it from the object's
// current state in f.
func planFrom(t *testing.T, f *fakeDir) plan.Action {
	t.Helper()
	r := f.objs[guid]
	act := dualWrite()
	act.USNChanged, act.Mail, act.BeforeProxyAddresses = r.USNChanged, r.Mail, r.ProxyAddresses.Raw()
	return act
}

// An admin undoes a fix: the service (and --auto-approve) do not write it
// again while the object is as the undo left it; a saved plan, which an
// admin reviewed, does. Once the object changes, it is proposed afresh.
func TestRunHoldsAnUndoneFixUntilTheObjectChanges(t *testing.T) {
	f, j := seedDir(), openJournal(t)
	a := &Applier{Dir: f, Journal: j}
	rep, err := a.Run(t.Context(), Request{Actions: []plan.Action{dualWrite()}, Approval: Enforcing})
	if err != nil || len(rep.Outcomes) != 1 || rep.Outcomes[0].Result != Applied {
		t.Fatalf("first run: %v %+v", err, rep)
	}
	if _, err := a.Undo(t.Context(), rep.Outcomes[0].EntryID, false); err != nil {
		t.Fatal(err)
	}
	for _, by := range []Approval{Enforcing, AutoApproved} {
		n := f.modifies
		rep, err = a.Run(t.Context(), Request{Actions: []plan.Action{planFrom(t, f)}, Approval: by})
		if err != nil || len(rep.Outcomes) != 0 || len(rep.Held) != 1 || !strings.Contains(rep.Held[0].Reason, "undid") || f.modifies != n {
			t.Fatalf("run %d after the undo: %v %+v (%d modifies)", by, err, rep, f.modifies-n)
		}
	}
	rep, err = a.Run(t.Context(), Request{Actions: []plan.Action{planFrom(t, f)}, Approval: ApprovedPlan})
	if err != nil || len(rep.Held) != 0 || len(rep.Outcomes) != 1 || rep.Outcomes[0].Result != Applied {
		t.Fatalf("saved plan after the undo: %v %+v", err, rep)
	}

	// Undo again, then the object changes (an address added by hand):
	// the fix is proposed afresh and applied.
	if _, err := a.Undo(t.Context(), rep.Outcomes[0].EntryID, false); err != nil {
		t.Fatal(err)
	}
	if err := f.modify(dn, []ad.Change{{Op: ad.AddValues, Attr: "proxyAddresses", Values: []string{"smtp:pat.extra@lab.test"}}}); err != nil {
		t.Fatal(err)
	}
	act := planFrom(t, f)
	rep, err = a.Run(t.Context(), Request{Actions: []plan.Action{act}, Approval: Enforcing})
	if err != nil || len(rep.Held) != 0 || len(rep.Outcomes) != 1 || rep.Outcomes[0].Result != Applied {
		t.Fatalf("run after the object changed: %v %+v", err, rep)
	}
}

// The DC refused a fix: the service does not retry it every cycle while
// the object is unchanged; an admin's apply does.
func TestRunHoldsARefusedFixInTheServiceOnly(t *testing.T) {
	f, j := seedDir(), openJournal(t)
	f.modifyErr = retry.New("ad.Modify", retry.Terminal, &ldap.Error{ResultCode: ldap.LDAPResultInsufficientAccessRights, Err: errors.New("access denied")})
	a := &Applier{Dir: f, Journal: j}
	rep, err := a.Run(t.Context(), Request{Actions: []plan.Action{dualWrite()}, Approval: Enforcing})
	if err != nil || rep.Outcomes[0].Result != Refused {
		t.Fatalf("first run: %v %+v", err, rep)
	}
	n := f.modifies
	rep, err = a.Run(t.Context(), Request{Actions: []plan.Action{dualWrite()}, Approval: Enforcing})
	if err != nil || len(rep.Held) != 1 || !strings.Contains(rep.Held[0].Reason, "refused") || f.modifies != n {
		t.Fatalf("second run: %v %+v", err, rep)
	}
	rep, err = a.Run(t.Context(), Request{Actions: []plan.Action{dualWrite()}, Approval: AutoApproved})
	if err != nil || len(rep.Held) != 0 || rep.Outcomes[0].Result != Applied {
		t.Fatalf("admin's apply: %v %+v", err, rep)
	}
}

// Recovery that leaves a write unsettled refuses an admin's apply, and
// makes the service skip that object only; a journal that cannot be read
// refuses both.
func TestRunWithUnsettledWrites(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	tick := func() time.Time { return now }
	f, j := seedDir(), openJournalAt(t, tick)
	// A second object, with its own fix.
	other := *f.objs[guid]
	other.GUID, other.DN = "0e6d3b7c-2f0e-4a55-9c1e-8f2c1a4e0b7d", "CN=Other,OU=Sync,DC=lab,DC=test"
	f.objs[other.GUID] = &other
	otherAct := dualWrite()
	otherAct.ObjectGUID, otherAct.ObjectDN = other.GUID, other.DN

	f.modifyErr = timedOut
	a := &Applier{Dir: f, Journal: j, Resolve: ResolveOptions{Clock: clock.Funcs{NowFunc: tick}}}
	rep, err := a.Run(t.Context(), Request{Actions: []plan.Action{dualWrite()}, Approval: Enforcing})
	if err != nil || rep.Outcomes[0].Result != Unknown {
		t.Fatalf("first run: %v %+v", err, rep)
	}
	stuck := rep.Outcomes[0].EntryID

	n := f.modifies
	_, err = a.Run(t.Context(), Request{Actions: []plan.Action{dualWrite(), otherAct}, Approval: AutoApproved})
	var ue *UnresolvedError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), stuck) || f.modifies != n {
		t.Fatalf("admin's apply with an unsettled write: %v (%d modifies)", err, f.modifies-n)
	}
	rep, err = a.Run(t.Context(), Request{Actions: []plan.Action{dualWrite(), otherAct}, Approval: Enforcing})
	if err != nil || len(rep.Held) != 1 || rep.Held[0].Action.ObjectGUID != guid || rep.Held[0].EntryID != stuck ||
		len(rep.Outcomes) != 1 || rep.Outcomes[0].Result != Applied || rep.Outcomes[0].Action.ObjectGUID != other.GUID {
		t.Fatalf("service with an unsettled write: %v %+v", err, rep)
	}
}

// max_changes counts the changes applied within the window, so drift that
// arrives a little at a time is stopped too.
func TestRunChangeLimitOverARollingWindow(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	tick := func() time.Time { return now }
	f, j := seedDir(), openJournalAt(t, tick)
	a := &Applier{Dir: f, Journal: j, Resolve: ResolveOptions{Clock: clock.Funcs{NowFunc: tick}}}
	limit := ChangeLimit{Max: 1, Window: 24 * time.Hour}
	rep, err := a.Run(t.Context(), Request{Actions: []plan.Action{dualWrite()}, Approval: Enforcing, Limit: limit})
	if err != nil || rep.Outcomes[0].Result != Applied {
		t.Fatalf("first change: %v %+v", err, rep)
	}
	// New drift an hour later: over the limit within the window.
	now = now.Add(time.Hour)
	f.objs[guid].Mail = "pat.newer@lab.test"
	act := planFrom(t, f)
	act.Delete, act.Add = []string{"SMTP:pat.new@lab.test"}, []string{"SMTP:pat.newer@lab.test", "smtp:pat.new@lab.test"}
	n := f.modifies
	_, err = a.Run(t.Context(), Request{Actions: []plan.Action{act}, Approval: Enforcing, Limit: limit})
	var le *ChangeLimitError
	if !errors.As(err, &le) || !errors.Is(err, plan.ErrLimitExceeded) || le.Applied != 1 || f.modifies != n {
		t.Fatalf("second change within the window: %v (%d modifies)", err, f.modifies-n)
	}
	// --allow-changes accepts it.
	if _, err := a.Run(t.Context(), Request{Actions: []plan.Action{act}, Approval: AutoApproved, Limit: ChangeLimit{Max: 1, Allow: true}}); err != nil {
		t.Fatalf("allowed: %v", err)
	}
	// A day later the window has moved on.
	now = now.Add(25 * time.Hour)
	if err := (&history{applied: []time.Time{now.Add(-25 * time.Hour), now.Add(-26 * time.Hour)}}).checkLimit(limit, 1, now); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	if e, _ := j.List(journal.ListFilter{State: journal.Done}); len(e) != 2 {
		t.Fatalf("%d done entries, want 2", len(e))
	}
}

// A journal holding an entry that cannot be read refuses the whole run,
// the service's included: the unreadable entry might be a pending write.
func TestRunRefusesAnUnreadableJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	j, err := journal.Open(journal.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("entries")).Put([]byte("20261203T000000.000000Z-00000001"), []byte("{not json"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	j, err = journal.Open(journal.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	f := seedDir()
	for _, by := range []Approval{Enforcing, AutoApproved, ApprovedPlan} {
		_, err := (&Applier{Dir: f, Journal: j}).Run(t.Context(), Request{Actions: []plan.Action{dualWrite()}, Approval: by})
		if err == nil || !strings.Contains(err.Error(), "corrupt") || f.modifies != 0 {
			t.Fatalf("run %d with an unreadable journal: %v (%d modifies)", by, err, f.modifies)
		}
	}
}
