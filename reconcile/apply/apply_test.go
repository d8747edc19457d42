package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
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

// fakeDir is an in-memory directory that applies modifies as AD does:
// atomically, values compared case-insensitively, deleting a missing
// value or adding a present one refused. It stands for one DC (dc); set
// dc to another to stand for a client that failed over.
type fakeDir struct {
	objs map[string]*ad.Recipient // by GUID
	dc   ad.DC
	// modifyErr, when set, is returned by the next Modify; apply says
	// whether the modify is applied anyway (a connection lost after the
	// DC applied it).
	modifyErr error
	apply     bool
	// beforeModify, when set, runs before each modify (a concurrent edit).
	beforeModify func()
	modifies     int
}

var (
	dcA = ad.DC{Server: "CN=NTDS Settings,CN=DC1,CN=Servers,CN=Default-First-Site-Name,CN=Sites,CN=Configuration,DC=lab,DC=test", InvocationID: "11111111-1111-4111-8111-111111111111"}
	dcB = ad.DC{Server: "CN=NTDS Settings,CN=DC2,CN=Servers,CN=Default-First-Site-Name,CN=Sites,CN=Configuration,DC=lab,DC=test", InvocationID: "22222222-2222-4222-8222-222222222222"}
)

func (f *fakeDir) FindByGUIDOnDC(_ context.Context, guid string) (*ad.Recipient, ad.DC, error) {
	r, ok := f.objs[guid]
	if !ok {
		return nil, f.dc, retry.New("ad.FindByGUID", retry.NotFound, fmt.Errorf("objectGUID %s not found", guid))
	}
	c := *r
	c.ProxyAddresses = ad.ParseProxyAddresses(r.ProxyAddresses.Raw())
	return &c, f.dc, nil
}

func (f *fakeDir) ModifyOnDC(_ context.Context, dc ad.DC, dn string, changes ...ad.Change) error {
	if !dc.Equal(f.dc) {
		return retry.New("ad.Modify", retry.Conflict, fmt.Errorf("%w: nothing sent", ad.ErrDCChanged))
	}
	if f.beforeModify != nil {
		f.beforeModify()
	}
	f.modifies++
	if f.modifyErr != nil {
		err := f.modifyErr
		f.modifyErr = nil
		if !f.apply {
			return err
		}
		if aerr := f.modify(dn, changes); aerr != nil {
			return aerr
		}
		return err
	}
	return f.modify(dn, changes)
}

func (f *fakeDir) modify(dn string, changes []ad.Change) error {
	var r *ad.Recipient
	for _, o := range f.objs {
		if ad.EqualDN(o.DN, dn) {
			r = o
		}
	}
	if r == nil {
		return &ldap.Error{ResultCode: ldap.LDAPResultNoSuchObject, Err: errors.New(dn)}
	}
	vals := map[string][]string{"proxyAddresses": r.ProxyAddresses.Raw()}
	if r.Mail != "" {
		vals["mail"] = []string{r.Mail}
	}
	for _, ch := range changes {
		idx := func(v string) int {
			return slices.IndexFunc(vals[ch.Attr], func(x string) bool { return strings.EqualFold(x, v) })
		}
		for _, v := range ch.Values {
			switch ch.Op {
			case ad.DeleteValues:
				i := idx(v)
				if i < 0 {
					return &ldap.Error{ResultCode: ldap.LDAPResultNoSuchAttribute, Err: errors.New(v)}
				}
				vals[ch.Attr] = slices.Delete(vals[ch.Attr], i, i+1)
			case ad.AddValues:
				if idx(v) >= 0 {
					return &ldap.Error{ResultCode: ldap.LDAPResultAttributeOrValueExists, Err: errors.New(v)}
				}
				vals[ch.Attr] = append(vals[ch.Attr], v)
			}
		}
	}
	if len(vals["mail"]) > 1 {
		return &ldap.Error{ResultCode: ldap.LDAPResultConstraintViolation, Err: errors.New("mail is single-valued")}
	}
	r.ProxyAddresses = ad.ParseProxyAddresses(vals["proxyAddresses"])
	r.Mail = ""
	if len(vals["mail"]) == 1 {
		r.Mail = vals["mail"][0]
	}
	r.USNChanged++
	return nil
}

const (
	guid = "8f2c1a4e-0b7d-4c1e-9a55-2f0e6d3b7c11"
	dn   = "CN=Pat Mail Only,OU=Sync,DC=lab,DC=test"
)

func seedDir() *fakeDir {
	r := &ad.Recipient{DN: dn, GUID: guid, Kind: ad.KindUser, USNChanged: 100, Mail: "pat.new@lab.test",
		ProxyAddresses: ad.ParseProxyAddresses([]string{"SMTP:pat@lab.test", "smtp:pat.new@lab.test", "x500:/o=Org/cn=pat"})}
	return &fakeDir{objs: map[string]*ad.Recipient{guid: r}, dc: dcA}
}

func dualWrite() plan.Action {
	return plan.Action{Kind: plan.ActionDualWritePrimary, ObjectDN: dn, ObjectGUID: guid, Attribute: "proxyAddresses",
		Delete:               []string{"SMTP:pat@lab.test", "smtp:pat.new@lab.test"},
		Add:                  []string{"SMTP:pat.new@lab.test", "smtp:pat@lab.test"},
		Mail:                 "pat.new@lab.test",
		BeforeProxyAddresses: []string{"SMTP:pat@lab.test", "smtp:pat.new@lab.test", "x500:/o=Org/cn=pat"},
		USNChanged:           100}
}

// openJournalAt opens a journal stamping times with clock.
func openJournalAt(t *testing.T, now func() time.Time) *journal.Journal {
	t.Helper()
	j, err := journal.Open(journal.Options{Path: filepath.Join(t.TempDir(), "journal.db"), Clock: clock.Funcs{NowFunc: now}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func openJournal(t *testing.T) *journal.Journal {
	t.Helper()
	j, err := journal.Open(journal.Options{Path: filepath.Join(t.TempDir(), "journal.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func sortedProxies(f *fakeDir) []string {
	v := f.objs[guid].ProxyAddresses.Raw()
	slices.Sort(v)
	return v
}

func TestApplyWritesThroughTheJournalAndUndoRestores(t *testing.T) {
	f, j := seedDir(), openJournal(t)
	before := sortedProxies(f)
	a := &Applier{Dir: f, Journal: j, RunID: "run-1", Fingerprint: "fp"}
	out, err := a.Apply(t.Context(), []plan.Action{dualWrite()})
	if err != nil || len(out) != 1 || out[0].Result != Applied {
		t.Fatalf("apply: %v %+v", err, out)
	}
	want := []string{"SMTP:pat.new@lab.test", "smtp:pat@lab.test", "x500:/o=Org/cn=pat"}
	if got := sortedProxies(f); !slices.Equal(got, want) {
		t.Fatalf("after apply: %q, want %q", got, want)
	}
	e, err := j.Get(out[0].EntryID)
	if err != nil || e.State != journal.Done || e.RunID != "run-1" || e.Object != dn {
		t.Fatalf("entry %+v %v", e, err)
	}
	var img Image
	if err := json.Unmarshal(e.Before, &img); err != nil || !slices.Equal(img.ProxyAddresses, before) || img.USNChanged != 100 {
		t.Fatalf("before-image %+v %v", img, err)
	}
	if err := json.Unmarshal(e.After, &img); err != nil || !slices.Equal(img.ProxyAddresses, want) || img.USNChanged != 101 {
		t.Fatalf("after-image %+v %v", img, err)
	}

	res, err := a.Undo(t.Context(), e.ID, false)
	if err != nil || !res.Restored {
		t.Fatalf("undo: %v %+v", err, res)
	}
	if got := sortedProxies(f); !slices.Equal(got, before) {
		t.Fatalf("after undo: %q, want the before-image %q", got, before)
	}
	if e, _ = j.Get(e.ID); e.State != journal.Undone || e.UndoneBy != res.Entry.ID {
		t.Fatalf("original after undo: %+v", e)
	}
	if _, err := a.Undo(t.Context(), e.ID, false); !errors.Is(err, ErrNotUndoable) || !strings.Contains(err.Error(), "already undone") {
		t.Fatalf("second undo: %v", err)
	}
}

func TestPreflightRefusesAStalePlanAndApplyWritesNothing(t *testing.T) {
	f := seedDir()
	f.objs[guid].USNChanged = 105 // edited since the plan
	err := Preflight(t.Context(), f, []plan.Action{dualWrite()})
	var se *StaleError
	if !errors.As(err, &se) || !errors.Is(err, plan.ErrStale) || !strings.Contains(err.Error(), dn) {
		t.Fatalf("preflight: %v", err)
	}
	j := openJournal(t)
	out, err := (&Applier{Dir: f, Journal: j}).Apply(t.Context(), []plan.Action{dualWrite()})
	if err != nil || out[0].Result != Stale || f.modifies != 0 {
		t.Fatalf("apply of a stale action: %v %+v, %d modifies", err, out, f.modifies)
	}
	if all, _ := j.List(journal.ListFilter{}); len(all) != 0 {
		t.Fatalf("a stale action left %d journal entries", len(all))
	}
	delete(f.objs, guid)
	if err := Preflight(t.Context(), f, []plan.Action{dualWrite()}); !errors.Is(err, plan.ErrStale) || !strings.Contains(err.Error(), "no longer exists") {
		t.Fatalf("preflight of a deleted object: %v", err)
	}
}

func TestApplySettlesEveryOutcome(t *testing.T) {
	lost := retry.New("ad.Modify", retry.Conflict, fmt.Errorf("%w: %w", ad.ErrOutcomeUnknown, &ldap.Error{ResultCode: ldap.ErrorNetwork, Err: errors.New("connection reset")}))
	for _, tc := range []struct {
		name    string
		err     error
		applied bool
		want    Result
		state   journal.State
	}{
		{"the DC refused", retry.New("ad.Modify", retry.Terminal, &ldap.Error{ResultCode: ldap.LDAPResultInsufficientAccessRights, Err: errors.New("access denied")}), false, Refused, journal.Failed},
		{"connection lost after the DC applied it", lost, true, Applied, journal.Done},
		// The re-read shows nothing yet, but the DC may still apply it:
		// the entry stays pending until that DC can tell (see
		// TestUnknownOutcomeIsSettledOnlyByTheSameDCLater).
		{"connection lost before the DC got it", lost, false, Unknown, journal.Pending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, j := seedDir(), openJournal(t)
			f.modifyErr, f.apply = tc.err, tc.applied
			out, err := (&Applier{Dir: f, Journal: j}).Apply(t.Context(), []plan.Action{dualWrite()})
			if err != nil || out[0].Result != tc.want {
				t.Fatalf("apply: %v, result %s want %s", err, out[0].Result, tc.want)
			}
			if e, _ := j.Get(out[0].EntryID); e.State != tc.state {
				t.Fatalf("entry state %s, want %s", e.State, tc.state)
			}
		})
	}
}

// A process killed between intent and done: Recover settles the entry from
// the directory, and leaves alone a state someone else changed since.
func TestRecoverSettlesInterruptedWrites(t *testing.T) {
	for _, tc := range []struct {
		name  string
		point string
		// edit changes the object after the kill, before Recover.
		edit  func(*fakeDir)
		want  journal.State
		proxy []string
	}{
		{"killed after the intent", AfterIntent, nil, journal.Failed,
			[]string{"SMTP:pat@lab.test", "smtp:pat.new@lab.test", "x500:/o=Org/cn=pat"}},
		{"killed after the write", AfterWrite, nil, journal.Done,
			[]string{"SMTP:pat.new@lab.test", "smtp:pat@lab.test", "x500:/o=Org/cn=pat"}},
		{"half changed by someone else", AfterWrite, func(f *fakeDir) {
			// An admin put the old secondary back by hand.
			if err := f.modify(dn, []ad.Change{{Op: ad.DeleteValues, Attr: "proxyAddresses", Values: []string{"smtp:pat@lab.test"}}}); err != nil {
				panic(err)
			}
		}, journal.Superseded, []string{"SMTP:pat.new@lab.test", "x500:/o=Org/cn=pat"}},
		{"killed after sent, object deleted since", AfterSent, func(f *fakeDir) { delete(f.objs, guid) }, journal.Superseded, nil},
		// Never sent: it did not happen, whatever became of the object.
		{"killed after the intent, object deleted since", AfterIntent, func(f *fakeDir) { delete(f.objs, guid) }, journal.Failed, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, j := seedDir(), openJournal(t)
			killed := errors.New("killed")
			a := &Applier{Dir: f, Journal: j, Failpoint: func(p string) {
				if p == tc.point {
					panic(killed)
				}
			}}
			func() {
				defer func() {
					if r := recover(); r != killed {
						t.Fatalf("the failpoint was not reached: %v", r)
					}
				}()
				_, _ = a.Apply(t.Context(), []plan.Action{dualWrite()})
			}()
			if tc.edit != nil {
				tc.edit(f)
			}
			pending, _ := j.Pending()
			if len(pending) != 1 {
				t.Fatalf("%d pending entries after the kill, want 1", len(pending))
			}
			n := f.modifies
			// Recovery long enough after the kill for the DC to have
			// settled the write either way.
			later := func() time.Time { return time.Now().Add(time.Hour) }
			rep, err := j.Recover(t.Context(), Resolver(f, ResolveOptions{Clock: clock.Funcs{NowFunc: later}}))
			if f.modifies != n {
				t.Fatalf("recovery wrote to the directory (%d modifies)", f.modifies-n)
			}
			if err != nil || !rep.Clean() {
				t.Fatalf("recover: %v %+v", err, rep)
			}
			e, _ := j.Get(pending[0].ID)
			if e.State != tc.want {
				t.Fatalf("entry %s after recover, want %s", e.State, tc.want)
			}
			if tc.proxy == nil {
				return
			}
			got := sortedProxies(f)
			if !slices.Equal(got, tc.proxy) {
				t.Fatalf("proxyAddresses %q, want %q", got, tc.proxy)
			}
		})
	}
}

func TestUndoRefusesWhenTheValuesChangedSince(t *testing.T) {
	f, j := seedDir(), openJournal(t)
	a := &Applier{Dir: f, Journal: j}
	out, err := a.Apply(t.Context(), []plan.Action{dualWrite()})
	if err != nil || out[0].Result != Applied {
		t.Fatal(err, out)
	}
	// An admin removes the new primary the fix made, and adds another
	// address.
	if err := f.modify(dn, []ad.Change{{Op: ad.DeleteValues, Attr: "proxyAddresses", Values: []string{"SMTP:pat.new@lab.test"}},
		{Op: ad.AddValues, Attr: "proxyAddresses", Values: []string{"smtp:pat.extra@lab.test"}}}); err != nil {
		t.Fatal(err)
	}
	n := f.modifies
	if _, err := a.Undo(t.Context(), out[0].EntryID, false); !errors.Is(err, ErrNotUndoable) || !strings.Contains(err.Error(), "--force") || f.modifies != n {
		t.Fatalf("undo after a concurrent edit: %v (%d modifies)", err, f.modifies-n)
	}
	res, err := a.Undo(t.Context(), out[0].EntryID, true)
	if err != nil || res.Restored {
		t.Fatalf("forced undo: %v %+v", err, res)
	}
	// What the fix wrote and is still in place is reversed: the old
	// primary comes back, since its demoted form was still there. pat.new,
	// which the admin removed, does not come back as a secondary; the
	// admin's own address stays.
	want := []string{"SMTP:pat@lab.test", "smtp:pat.extra@lab.test", "x500:/o=Org/cn=pat"}
	if got := sortedProxies(f); !slices.Equal(got, want) {
		t.Fatalf("after forced undo %q, want %q", got, want)
	}
}

// A forced undo never brings back an address removed after the write:
// the fix demoted SMTP:pat to smtp:pat, an admin then removed smtp:pat;
// undo must not make pat@ primary again (nor leave the object without a
// primary address).
func TestForcedUndoKeepsARemovedDemotedAddressRemoved(t *testing.T) {
	f, j := seedDir(), openJournal(t)
	a := &Applier{Dir: f, Journal: j}
	out, err := a.Apply(t.Context(), []plan.Action{dualWrite()})
	if err != nil || out[0].Result != Applied {
		t.Fatal(err, out)
	}
	if err := f.modify(dn, []ad.Change{{Op: ad.DeleteValues, Attr: "proxyAddresses", Values: []string{"smtp:pat@lab.test"}},
		{Op: ad.AddValues, Attr: "proxyAddresses", Values: []string{"smtp:pat.extra@lab.test"}}}); err != nil {
		t.Fatal(err)
	}
	before := sortedProxies(f)
	n := f.modifies
	_, err = a.Undo(t.Context(), out[0].EntryID, true)
	if !errors.Is(err, ErrNotUndoable) || !strings.Contains(err.Error(), "no primary") || f.modifies != n {
		t.Fatalf("forced undo: %v (%d modifies)", err, f.modifies-n)
	}
	if got := sortedProxies(f); !slices.Equal(got, before) || slices.ContainsFunc(got, func(v string) bool { return strings.EqualFold(v, "smtp:pat@lab.test") }) {
		t.Fatalf("after the refused undo %q, want %q", got, before)
	}
}

func TestUndoRefusesEntriesWithNothingToUndo(t *testing.T) {
	f, j := seedDir(), openJournal(t)
	e, err := j.Begin(journal.Entry{Target: journal.TargetAD, Object: dn, Operation: Operation,
		Intent: mustJSON(Intent{Action: dualWrite()}), Before: json.RawMessage("null")})
	if err != nil {
		t.Fatal(err)
	}
	a := &Applier{Dir: f, Journal: j}
	if _, err := a.Undo(t.Context(), e.ID, false); !errors.Is(err, ErrNotUndoable) || !strings.Contains(err.Error(), "pending") {
		t.Fatalf("undo of a pending entry: %v", err)
	}
	if err := j.Fail(e.ID, errors.New("refused")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Undo(t.Context(), e.ID, false); !errors.Is(err, ErrNotUndoable) || !strings.Contains(err.Error(), "failed") {
		t.Fatalf("undo of a failed entry: %v", err)
	}
	if _, err := a.Undo(t.Context(), "20260101T000000.000000Z-00000001", false); err == nil || retry.ClassOf(err) != retry.NotFound {
		t.Fatalf("undo of an unknown entry: %v", err)
	}
	if f.modifies != 0 {
		t.Fatalf("%d modifies", f.modifies)
	}
}

// Undo never leaves two primary addresses.
func TestUndoRefusesToLeaveTwoPrimaries(t *testing.T) {
	f, j := seedDir(), openJournal(t)
	a := &Applier{Dir: f, Journal: j}
	out, err := a.Apply(t.Context(), []plan.Action{dualWrite()})
	if err != nil || out[0].Result != Applied {
		t.Fatal(err, out)
	}
	// An admin makes a third address primary.
	if err := f.modify(dn, []ad.Change{{Op: ad.DeleteValues, Attr: "proxyAddresses", Values: []string{"SMTP:pat.new@lab.test"}},
		{Op: ad.AddValues, Attr: "proxyAddresses", Values: []string{"smtp:pat.new@lab.test", "SMTP:third@lab.test"}}}); err != nil {
		t.Fatal(err)
	}
	n := f.modifies
	if _, err := a.Undo(t.Context(), out[0].EntryID, true); !errors.Is(err, ErrNotUndoable) || !strings.Contains(err.Error(), "2 primary") || f.modifies != n {
		t.Fatalf("forced undo: %v (%d modifies)", err, f.modifies-n)
	}
}
