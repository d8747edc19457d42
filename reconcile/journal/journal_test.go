package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hybridsync/hybridsync/internal/clock"
	"github.com/hybridsync/hybridsync/internal/retry"
)

var t0 = time.Date(2026, 11, 22, 23, 34, 0, 123456789, time.UTC)

// fixedClock always returns at.
func fixedClock(at time.Time) func() time.Time { return func() time.Time { return at } }

// stepClock advances by step on every call.
func stepClock(start time.Time, step time.Duration) func() time.Time {
	var mu sync.Mutex
	next := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now := next
		next = next.Add(step)
		return now
	}
}

func openAt(t *testing.T, path string, now func() time.Time) *Journal {
	t.Helper()
	j, err := Open(Options{Path: path, LockTimeout: 200 * time.Millisecond, Clock: clock.Funcs{NowFunc: now}})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return j
}

func tempJournal(t *testing.T, clock func() time.Time) (*Journal, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "journal.db")
	j := openAt(t, path, clock)
	t.Cleanup(func() { _ = j.Close() })
	return j, path
}

func adModify(run, dn string) Entry {
	return Entry{
		RunID:     run,
		Target:    TargetAD,
		Object:    dn,
		Operation: "ad.Modify",
		Intent:    json.RawMessage(`[{"op":"replace","attr":"mail","values":["new@example.com"]}]`),
		Before:    json.RawMessage(`{"mail":["old@example.com"]}`),
	}
}

func mustBegin(t *testing.T, j *Journal, e Entry) Entry {
	t.Helper()
	got, err := j.Begin(e)
	if err != nil {
		t.Fatalf("Begin(%s): %v", e.Object, err)
	}
	return got
}

func ids(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func TestBeginIsDurableBeforeItReturns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	j := openAt(t, path, fixedClock(t0))
	in := adModify("run-1", "CN=Ann,OU=Staff,DC=example,DC=com")
	in.After = json.RawMessage(`{"mail":["new@example.com"]}`)
	e := mustBegin(t, j, in)
	if e.State != Pending || !e.Started.Equal(t0) || e.ID == "" {
		t.Fatalf("Begin returned %+v", e)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	j2 := openAt(t, path, fixedClock(t0))
	defer j2.Close()
	got, err := j2.Get(e.ID)
	if err != nil {
		t.Fatalf("Get after reopen: %v", err)
	}
	if got.State != Pending || got.Object != in.Object || got.RunID != "run-1" || got.Operation != "ad.Modify" ||
		string(got.Intent) != string(in.Intent) || string(got.Before) != string(in.Before) ||
		string(got.After) != string(in.After) || !got.Started.Equal(t0) || !got.Finished.IsZero() {
		t.Fatalf("reopened entry differs:\n got %+v\nwant %+v", got, e)
	}

	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("journal file mode = %o, want 600", perm)
	}
}

func TestBeginValidates(t *testing.T) {
	j, _ := tempJournal(t, fixedClock(t0))
	cases := map[string]func(e *Entry){
		"no target":      func(e *Entry) { e.Target = "" },
		"no object":      func(e *Entry) { e.Object = "" },
		"no operation":   func(e *Entry) { e.Operation = "" },
		"no intent":      func(e *Entry) { e.Intent = nil },
		"no before":      func(e *Entry) { e.Before = nil },
		"bad intent":     func(e *Entry) { e.Intent = json.RawMessage(`{"x":`) },
		"bad after":      func(e *Entry) { e.After = json.RawMessage(`nope`) },
		"ID preset":      func(e *Entry) { e.ID = "x" },
		"state preset":   func(e *Entry) { e.State = Done },
		"unknown undoOf": func(e *Entry) { e.UndoOf = "20260101T000000.000000Z-00000001" },
	}
	for name, mutate := range cases {
		e := adModify("r", "CN=X")
		mutate(&e)
		if _, err := j.Begin(e); err == nil {
			t.Errorf("%s: Begin accepted %+v", name, e)
		}
	}
	// A create records a null before-image.
	create := adModify("r", "CN=New")
	create.Operation = "ad.Add"
	create.Before = json.RawMessage(`null`)
	if _, err := j.Begin(create); err != nil {
		t.Errorf("Begin(create with null before): %v", err)
	}
}

// fakeDir is a directory whose objects hold one value each.
type fakeDir map[string]string

type setIntent struct {
	Value string `json:"value"`
}

func TestCrashBetweenIntentAndDoneIsRecovered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	dir := fakeDir{"CN=A": "a0", "CN=B": "b0", "CN=C": "c0", "CN=D": "d0"}

	// The "process" that crashes: it records intents, performs some of the
	// writes, and never records done.
	j := openAt(t, path, stepClock(t0, time.Second))
	begin := func(obj, before, value string) Entry {
		return mustBegin(t, j, Entry{RunID: "run-1", Target: TargetAD, Object: obj, Operation: "ad.Modify",
			Intent: json.RawMessage(fmt.Sprintf(`{"value":%q}`, value)),
			Before: json.RawMessage(fmt.Sprintf(`{"value":%q}`, before))})
	}
	a := begin("CN=A", "a0", "a1")
	dir["CN=A"] = "a1" // written, crash before Done
	b := begin("CN=B", "b0", "b1")
	// not written: crash before the write
	c := begin("CN=C", "c0", "c1")
	dir["CN=C"] = "c-half" // half applied
	d := begin("CN=D", "d0", "d1")
	// D: the resolver cannot tell (simulated unreachable DC)
	if err := j.Close(); err != nil { // kill -9 as far as the journal knows
		t.Fatal(err)
	}

	j = openAt(t, path, stepClock(t0.Add(time.Hour), time.Second))
	defer j.Close()
	pending, err := j.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{a.ID, b.ID, c.ID, d.ID}; !slices.Equal(ids(pending), want) {
		t.Fatalf("Pending = %v, want %v (oldest first)", ids(pending), want)
	}

	calls := map[string]int{}
	resolve := func(_ context.Context, e Entry) (Resolution, error) {
		calls[e.ID]++
		if e.Object == "CN=D" {
			return Unresolved, errors.New("dc01 unreachable")
		}
		var intent, before setIntent
		if err := json.Unmarshal(e.Intent, &intent); err != nil {
			return Unresolved, err
		}
		if err := json.Unmarshal(e.Before, &before); err != nil {
			return Unresolved, err
		}
		switch dir[e.Object] {
		case intent.Value:
			return ResolvedDone, nil
		case before.Value:
			return ResolvedNotApplied, nil
		default:
			dir[e.Object] = before.Value // compensate
			return ResolvedRolledBack, nil
		}
	}
	rep, err := j.Recover(t.Context(), resolve)
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if !slices.Equal(rep.Done, []string{a.ID}) || !slices.Equal(rep.NotApplied, []string{b.ID}) ||
		!slices.Equal(rep.RolledBack, []string{c.ID}) || len(rep.Unresolved) != 1 || rep.Unresolved[0].ID != d.ID ||
		rep.Unresolved[0].Err == nil || len(rep.Skipped) != 0 || rep.Clean() {
		t.Fatalf("report = %+v", rep)
	}
	for _, id := range []string{a.ID, b.ID, c.ID, d.ID} {
		if calls[id] != 1 {
			t.Errorf("resolver called %d times for %s, want 1", calls[id], id)
		}
	}
	if dir["CN=C"] != "c0" {
		t.Errorf("CN=C = %q, want compensated to c0", dir["CN=C"])
	}
	wantState := map[string]State{a.ID: Done, b.ID: Failed, c.ID: RolledBack, d.ID: Pending}
	for id, want := range wantState {
		got, err := j.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != want {
			t.Errorf("%s state = %s, want %s", got.Object, got.State, want)
		}
		if want != Pending && !got.Finished.After(got.Started) {
			t.Errorf("%s: Finished %v not after Started %v", got.Object, got.Finished, got.Started)
		}
	}
	if got, _ := j.Get(b.ID); got.Error == "" {
		t.Errorf("not-applied entry has no error text")
	}

	// A second pass only sees what is still unresolved.
	clear(calls)
	rep, err = j.Recover(t.Context(), resolve)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || calls[d.ID] != 1 || len(rep.Done)+len(rep.NotApplied)+len(rep.RolledBack) != 0 {
		t.Errorf("second Recover: calls %v, report %+v", calls, rep)
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	j, path := tempJournal(t, fixedClock(t0))
	_ = j

	start := time.Now()
	j2, err := Open(Options{Path: path, LockTimeout: 200 * time.Millisecond})
	elapsed := time.Since(start)
	if err == nil {
		j2.Close()
		t.Fatal("second Open succeeded while the journal was held")
	}
	if elapsed > 2*time.Second {
		t.Errorf("second Open took %s, want about 200ms", elapsed)
	}
	if !errors.Is(err, ErrLocked) {
		t.Errorf("error %v does not match ErrLocked", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "another hybridsync holds the journal") || !strings.Contains(msg, path) {
		t.Errorf("error %q does not name the cause and path", msg)
	}
	if retry.ClassOf(err) != retry.Terminal {
		t.Errorf("class = %s, want terminal", retry.ClassOf(err))
	}

	// Once released, it opens.
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j3 := openAt(t, path, nil)
	j3.Close()
}

func TestOpenOptions(t *testing.T) {
	if _, err := Open(Options{}); err == nil {
		t.Error("Open without path succeeded")
	}
	if _, err := Open(Options{Path: filepath.Join(t.TempDir(), "j.db"), LockTimeout: -1}); err == nil {
		t.Error("Open with negative timeout succeeded")
	}
	if _, err := Open(Options{Path: filepath.Join(t.TempDir(), "missing", "j.db")}); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	j, path := tempJournal(t, nil)
	j.Close()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, []byte(strconv.Itoa(SchemaVersion+1)))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(Options{Path: path, LockTimeout: 200 * time.Millisecond})
	if want := fmt.Sprintf("schema version %d is newer", SchemaVersion+1); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open of a newer journal: %v", err)
	}
}

// A version-1 journal did not record whether a pending write was sent:
// the upgrade marks its pending entries sent (they may have happened) and
// leaves the others alone.
func TestOpenUpgradesVersion1(t *testing.T) {
	j, path := tempJournal(t, stepClock(t0, time.Millisecond))
	pending := mustBegin(t, j, adModify("r", "CN=Pending"))
	done := mustBegin(t, j, adModify("r", "CN=Done"))
	if err := j.Done(done.ID, nil); err != nil {
		t.Fatal(err)
	}
	j.Close()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, []byte("1"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	j2, err := Open(Options{Path: path, LockTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	got, _ := j2.Get(pending.ID)
	if !got.Sent.Equal(got.Started) || got.State != Pending {
		t.Errorf("upgraded pending entry: sent %v started %v state %s", got.Sent, got.Started, got.State)
	}
	if got, _ := j2.Get(done.ID); !got.Sent.IsZero() || got.State != Done {
		t.Errorf("upgraded done entry: sent %v state %s", got.Sent, got.State)
	}
	if err := j2.db.View(func(tx *bolt.Tx) error {
		if v := string(tx.Bucket(bucketMeta).Get(keySchema)); v != strconv.Itoa(SchemaVersion) {
			return fmt.Errorf("schema version after upgrade %q", v)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

func TestMarkSentAndRefuse(t *testing.T) {
	j, _ := tempJournal(t, stepClock(t0, time.Millisecond))
	e := mustBegin(t, j, adModify("r", "CN=A"))
	if !e.Sent.IsZero() {
		t.Fatal("a new entry is marked sent")
	}
	if _, err := j.MarkSent(e.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := j.Get(e.ID)
	if got.Sent.IsZero() || got.State != Pending {
		t.Fatalf("after MarkSent: %+v", got)
	}
	if _, err := j.MarkSent(e.ID); retry.ClassOf(err) != retry.Conflict {
		t.Errorf("second MarkSent: %v", err)
	}
	if err := j.Refuse(e.ID, errors.New("insufficientAccessRights")); err != nil {
		t.Fatal(err)
	}
	got, _ = j.Get(e.ID)
	if got.State != Failed || !got.Refused || got.Error != "insufficientAccessRights" {
		t.Fatalf("after Refuse: %+v", got)
	}
	if _, err := j.MarkSent(e.ID); retry.ClassOf(err) != retry.Conflict {
		t.Errorf("MarkSent of a failed entry: %v", err)
	}
	f := mustBegin(t, j, adModify("r", "CN=B"))
	if err := j.Fail(f.ID, errors.New("lost")); err != nil {
		t.Fatal(err)
	}
	if got, _ := j.Get(f.ID); got.Refused {
		t.Error("Fail recorded a refusal")
	}
}

func TestTransitions(t *testing.T) {
	j, _ := tempJournal(t, stepClock(t0, time.Millisecond))

	done := mustBegin(t, j, adModify("r", "CN=Done"))
	if err := j.Done(done.ID, json.RawMessage(`{"mail":["new@example.com"],"uSNChanged":"42"}`)); err != nil {
		t.Fatal(err)
	}
	got, _ := j.Get(done.ID)
	if string(got.After) != `{"mail":["new@example.com"],"uSNChanged":"42"}` {
		t.Errorf("Done did not record the after-image: %s", got.After)
	}
	failed := mustBegin(t, j, adModify("r", "CN=Failed"))
	if err := j.Fail(failed.ID, retry.New("ad.Modify", retry.Terminal, errors.New("insufficient access rights"))); err != nil {
		t.Fatal(err)
	}
	got, _ = j.Get(failed.ID)
	if got.State != Failed || !strings.Contains(got.Error, "insufficient access rights") {
		t.Errorf("failed entry = %+v", got)
	}
	rolled := mustBegin(t, j, adModify("r", "CN=Rolled"))
	if err := j.MarkRolledBack(rolled.ID); err != nil {
		t.Fatal(err)
	}

	bad := []struct {
		name     string
		do       func() error
		from, to State
	}{
		{"done twice", func() error { return j.Done(done.ID, nil) }, Done, Done},
		{"fail after done", func() error { return j.Fail(done.ID, errors.New("x")) }, Done, Failed},
		{"roll back done", func() error { return j.MarkRolledBack(done.ID) }, Done, RolledBack},
		{"done after failed", func() error { return j.Done(failed.ID, nil) }, Failed, Done},
		{"fail twice", func() error { return j.Fail(failed.ID, nil) }, Failed, Failed},
		{"done after rollback", func() error { return j.Done(rolled.ID, nil) }, RolledBack, Done},
	}
	for _, tc := range bad {
		err := tc.do()
		var te *TransitionError
		if !errors.As(err, &te) || te.From != tc.from || te.To != tc.to {
			t.Errorf("%s: err = %v, want TransitionError %s -> %s", tc.name, err, tc.from, tc.to)
			continue
		}
		if !strings.Contains(err.Error(), string(tc.from)) || !strings.Contains(err.Error(), string(tc.to)) {
			t.Errorf("%s: %q does not name both states", tc.name, err)
		}
		if !errors.Is(err, retry.ErrConflict) {
			t.Errorf("%s: not classed conflict: %v", tc.name, err)
		}
	}
	if err := j.Done("20990101T000000.000000Z-00000000", nil); !errors.Is(err, retry.ErrNotFound) {
		t.Errorf("Done of unknown ID: %v, want not found", err)
	}
	if _, err := j.Get("nope"); !errors.Is(err, retry.ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Get of unknown ID: %v, want not found naming it", err)
	}
	if err := j.Done(mustBegin(t, j, adModify("r", "CN=Y")).ID, json.RawMessage(`{`)); err == nil {
		t.Error("Done accepted invalid after JSON")
	}
}

func undoOf(orig Entry) Entry {
	return Entry{RunID: "undo-1", Target: orig.Target, Object: orig.Object, Operation: orig.Operation,
		Intent: orig.Before, Before: json.RawMessage(`{"mail":["new@example.com"]}`), UndoOf: orig.ID}
}

func TestUndo(t *testing.T) {
	j, _ := tempJournal(t, stepClock(t0, time.Millisecond))
	pending := mustBegin(t, j, adModify("r", "CN=P"))
	if _, err := j.Begin(undoOf(pending)); !errors.Is(err, retry.ErrConflict) {
		t.Errorf("undo of a pending entry: %v, want conflict", err)
	}

	orig := mustBegin(t, j, adModify("r", "CN=O"))
	if err := j.Done(orig.ID, json.RawMessage(`{"mail":["new@example.com"]}`)); err != nil {
		t.Fatal(err)
	}
	orig, _ = j.Get(orig.ID)

	// A failed undo attempt does not block a later one.
	u1 := mustBegin(t, j, undoOf(orig))
	if _, err := j.Begin(undoOf(orig)); !errors.Is(err, retry.ErrConflict) {
		t.Errorf("second undo while one is pending: %v, want conflict", err)
	}
	if err := j.Fail(u1.ID, errors.New("busy")); err != nil {
		t.Fatal(err)
	}
	if got, _ := j.Get(orig.ID); got.State != Done || got.UndoneBy != u1.ID {
		t.Errorf("after failed undo, original = %s undone_by %q", got.State, got.UndoneBy)
	}

	u2 := mustBegin(t, j, undoOf(orig))
	if err := j.Done(u2.ID, nil); err != nil {
		t.Fatal(err)
	}
	got, _ := j.Get(orig.ID)
	if got.State != Undone || got.UndoneBy != u2.ID || got.UndoneAt.IsZero() {
		t.Errorf("original after undo = %+v", got)
	}
	if _, err := j.Begin(undoOf(orig)); !errors.Is(err, retry.ErrConflict) {
		t.Errorf("undo of an undone entry: %v, want conflict", err)
	}
	undone, _ := j.List(ListFilter{State: Undone})
	if !slices.Equal(ids(undone), []string{orig.ID}) {
		t.Errorf("List(Undone) = %v", ids(undone))
	}
}

func TestListFiltersAndOrder(t *testing.T) {
	j, _ := tempJournal(t, stepClock(t0, time.Second))
	var all []Entry
	for i := range 9 {
		e := adModify(fmt.Sprintf("run-%d", i%3), fmt.Sprintf("CN=U%d", i))
		if i%2 == 1 {
			e.Target = TargetCloud
			e.Operation = "graph.PatchUser"
		}
		e = mustBegin(t, j, e)
		if i%3 == 0 {
			if err := j.Done(e.ID, nil); err != nil {
				t.Fatal(err)
			}
		}
		all = append(all, e)
	}
	newestFirst := func(idx ...int) []string {
		var out []string
		for _, i := range slices.Backward(idx) {
			out = append(out, all[i].ID)
		}
		return out
	}
	cases := []struct {
		name string
		f    ListFilter
		want []string
	}{
		{"all", ListFilter{}, newestFirst(0, 1, 2, 3, 4, 5, 6, 7, 8)},
		{"limit", ListFilter{Limit: 2}, newestFirst(7, 8)},
		{"run", ListFilter{RunID: "run-1"}, newestFirst(1, 4, 7)},
		{"state done", ListFilter{State: Done}, newestFirst(0, 3, 6)},
		{"state pending", ListFilter{State: Pending}, newestFirst(1, 2, 4, 5, 7, 8)},
		{"target cloud", ListFilter{Target: TargetCloud}, newestFirst(1, 3, 5, 7)},
		{"cloud+pending+limit", ListFilter{Target: TargetCloud, State: Pending, Limit: 2}, newestFirst(5, 7)},
		{"object", ListFilter{Object: "CN=U4"}, newestFirst(4)},
		{"none", ListFilter{RunID: "nope"}, nil},
	}
	for _, tc := range cases {
		got, err := j.List(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), tc.want) {
			t.Errorf("%s: List = %v, want %v", tc.name, ids(got), tc.want)
		}
	}
}

var idPattern = regexp.MustCompile(`^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{8}$`)

func TestIDsSortableAndUniqueUnderFixedClock(t *testing.T) {
	j, _ := tempJournal(t, fixedClock(t0))
	const n = 1000
	seen := make(map[string]bool, n)
	var order []string
	for i := range n {
		e := mustBegin(t, j, adModify("r", fmt.Sprintf("CN=U%d", i)))
		if seen[e.ID] {
			t.Fatalf("duplicate ID %s", e.ID)
		}
		if !idPattern.MatchString(e.ID) {
			t.Fatalf("ID %q does not match %s", e.ID, idPattern)
		}
		seen[e.ID] = true
		order = append(order, e.ID)
	}
	if !strings.HasPrefix(order[0], "20261122T233400.123456Z-") {
		t.Errorf("ID %s does not start with the clock's time", order[0])
	}
	if !slices.IsSorted(order) {
		t.Error("IDs begun in the same instant do not sort in begin order")
	}
	pending, err := j.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(pending), order) {
		t.Error("Pending is not in begin order")
	}

	// Across instants, IDs sort by time.
	j2, _ := tempJournal(t, stepClock(t0, time.Microsecond))
	var prev string
	for i := range 50 {
		id := mustBegin(t, j2, adModify("r", fmt.Sprintf("CN=V%d", i))).ID
		if id <= prev {
			t.Fatalf("ID %s not after %s", id, prev)
		}
		prev = id
	}
}

func TestCorruptEntryIsNamed(t *testing.T) {
	j, path := tempJournal(t, fixedClock(t0))
	good := mustBegin(t, j, adModify("r", "CN=Good"))
	j.Close()

	const badID = "20261122T233400.123456Z-deadbeef"
	const mismatchID = "20261122T233400.123456Z-feedface"
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketEntries).Put([]byte(badID), []byte{0xff, 0x00, '{', 'x'})
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	j = openAt(t, path, fixedClock(t0))
	defer j.Close()
	if _, err := j.Get(good.ID); err != nil {
		t.Errorf("Get of a good entry next to a corrupt one: %v", err)
	}
	check := func(what string, err error, id string) {
		t.Helper()
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.ID != id || !strings.Contains(err.Error(), id) {
			t.Errorf("%s: err = %v, want CorruptError naming %s", what, err, id)
		}
		if retry.ClassOf(err) != retry.Terminal {
			t.Errorf("%s: class %s, want terminal", what, retry.ClassOf(err))
		}
	}
	_, err = j.Get(badID)
	check("Get", err, badID)
	_, err = j.List(ListFilter{})
	check("List", err, badID)
	_, err = j.Pending()
	check("Pending", err, badID)
	_, err = j.Recover(t.Context(), func(context.Context, Entry) (Resolution, error) {
		t.Error("resolver called despite a corrupt journal")
		return Unresolved, nil
	})
	check("Recover", err, badID)
	check("Done", j.Done(badID, nil), badID)

	// Valid JSON stored under the wrong key is corrupt too.
	j.Close()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEntries)
		if err := b.Delete([]byte(badID)); err != nil {
			return err
		}
		return b.Put([]byte(mismatchID), b.Get([]byte(good.ID)))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	j = openAt(t, path, fixedClock(t0))
	t.Cleanup(func() { _ = j.Close() })
	_, err = j.Get(mismatchID)
	check("Get mismatched", err, mismatchID)
}

func TestConcurrentBeginDone(t *testing.T) {
	j, _ := tempJournal(t, time.Now)
	const workers, per = 8, 100
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				e, err := j.Begin(adModify(fmt.Sprintf("run-%d", w), fmt.Sprintf("CN=W%d-%d", w, i)))
				if err != nil {
					errs <- err
					return
				}
				if err := j.Done(e.ID, nil); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all, err := j.List(ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != workers*per {
		t.Fatalf("recorded %d entries, want %d", len(all), workers*per)
	}
	objects := map[string]bool{}
	for _, e := range all {
		if e.State != Done {
			t.Errorf("%s is %s", e.ID, e.State)
		}
		objects[e.Object] = true
	}
	if len(objects) != workers*per {
		t.Errorf("%d distinct objects, want %d", len(objects), workers*per)
	}
	if p, _ := j.Pending(); len(p) != 0 {
		t.Errorf("%d pending after all Done", len(p))
	}
}
