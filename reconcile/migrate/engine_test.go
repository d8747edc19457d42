package migrate

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/journal"
)

// testClock moves on by every wait asked of it, at once.
type testClock struct {
	mu  sync.Mutex
	now time.Time
	// waits are the durations asked of After, in order.
	waits []time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.waits = append(c.waits, d)
	now := c.now
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- now
	return ch
}

// lab is a world with three users, an owner and a group "Sales" of the
// three, synced.
type lab struct {
	w       *world
	groupDN string
	j       *journal.Journal
	path    string
	clk     *testClock
	users   []*ad.Recipient
	group   *ad.Recipient
	options Options
}

func newLab(t *testing.T) *lab {
	t.Helper()
	w := newWorld()
	l := &lab{w: w, clk: &testClock{now: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}, path: filepath.Join(t.TempDir(), "journal.db")}
	for i, n := range []string{"Ann", "Bob", "Cid", "Owner"} {
		l.users = append(l.users, w.addUser(i+1, n))
	}
	l.group = w.addGroup(10, "Sales", l.users[0], l.users[1], l.users[2])
	l.groupDN = l.group.DN
	l.group.ManagedBy = l.users[3].DN
	w.sync()
	l.open(t)
	l.options = Options{Method: "recreate", NoSyncOU: noSync, HybridMailFlow: true, KeepOriginal: true}
	return l
}

func (l *lab) open(t *testing.T) {
	t.Helper()
	j, err := journal.Open(journal.Options{Path: l.path, Clock: l.clk})
	if err != nil {
		t.Fatal(err)
	}
	l.j = j
	t.Cleanup(func() { _ = j.Close() })
}

func (l *lab) env(fp func(string)) *Env {
	return &Env{Dir: l.w, Graph: l.w, Exchange: l.w, Sync: l.w, Journal: l.j, Scope: l.w.scope, InitialDomain: initDom,
		Wait: 10 * time.Minute, Poll: time.Second, SettleAfter: time.Minute, Clock: l.clk, Failpoint: fp}
}

// start assesses and starts the migration of Sales.
func (l *lab) start(t *testing.T, e *Env) *Saga {
	t.Helper()
	a, err := e.Assess(t.Context(), "sales@lab.test", l.options)
	if err != nil || !a.Ready() {
		t.Fatalf("assess: %v %+v", err, a.Problems)
	}
	s, err := e.Start(a, "sales@lab.test", l.options)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// before is the world as it was before the migration, for comparison.
type snapshot struct {
	groupDN, mail string
	proxies       []string
	members       []string
	twinSynced    bool
	lists         int
}

func (l *lab) snap(t *testing.T) snapshot {
	t.Helper()
	r, _, err := l.w.FindByGUIDOnDC(context.Background(), l.group.GUID)
	if err != nil {
		t.Fatal(err)
	}
	s := snapshot{groupDN: r.DN, mail: r.Mail, proxies: r.ProxyAddresses.Raw(), members: r.Members, lists: len(l.w.dgs)}
	slices.Sort(s.proxies)
	for _, dg := range l.w.dgs {
		if strings.EqualFold(dg.PrimarySMTPAddress, r.Mail) {
			s.twinSynced = dg.IsDirSynced
		}
	}
	return s
}

// checkMigrated checks the recreate path's end state from the world.
func (l *lab) checkMigrated(t *testing.T, s *Saga) {
	t.Helper()
	if s.State != StateMigrated {
		t.Fatalf("saga %s at %s (%s; blocked %s)", s.State, s.Step, s.Error, s.Blocked)
	}
	dg := l.w.dgs[s.Made.CloudListID]
	if dg == nil || dg.IsDirSynced || !strings.EqualFold(dg.PrimarySMTPAddress, "sales@lab.test") || dg.Name != "Sales" || dg.Alias != "sales" {
		t.Fatalf("cloud list %+v", dg)
	}
	for _, want := range []string{"smtp:sales-old@lab.test", "X500:/o=Lab/cn=Recipients/cn=sales", "X500:/o=ExchangeLabs/cn=Recipients/cn=" + s.Capture.TwinID, "smtp:sales@lab.mail.onmicrosoft.com"} {
		if !slices.ContainsFunc(dg.EmailAddresses, func(a string) bool { return strings.EqualFold(a, want) }) {
			t.Errorf("the cloud list lacks %s: %q", want, dg.EmailAddresses)
		}
	}
	wantMembers := []string{l.users[0].GUID, l.users[1].GUID, l.users[2].GUID}
	if !sameFold(l.w.members[s.Made.CloudListID], wantMembers) || !sameFold(dg.ManagedBy, []string{l.users[3].GUID}) {
		t.Errorf("members %q owners %q", l.w.members[s.Made.CloudListID], dg.ManagedBy)
	}
	if _, twin := l.w.objs[s.Capture.TwinID]; twin {
		t.Error("the synced twin is still there")
	}
	ct, ok := l.w.ad[strings.ToLower(routingContactDN(s))]
	if !ok || ct.TargetAddress != "SMTP:sales@lab.mail.onmicrosoft.com" {
		t.Errorf("routing contact %+v", ct)
	}
	dl, ok := l.w.ad[strings.ToLower(l.groupDN)]
	if !ok || dl.Kind != ad.KindDynamicDL || dl.Mail != "sales@lab.test" {
		t.Errorf("dynamic list at the group's old place: %+v", dl)
	}
	if s.Made.SyncCycles != 1 {
		t.Errorf("sync cycles waited for: %d, want 1", s.Made.SyncCycles)
	}
	if p, _ := l.j.Pending(); len(p) != 0 {
		t.Errorf("%d journal entries left pending", len(p))
	}
}

func TestRecreateEndToEnd(t *testing.T) {
	l := newLab(t)
	e := l.env(nil)
	s, err := e.Run(t.Context(), l.start(t, e))
	if err != nil {
		t.Fatal(err)
	}
	l.checkMigrated(t, s)
	r, _, _ := l.w.FindByGUIDOnDC(t.Context(), l.group.GUID)
	if r == nil || !ad.IsUnder(r.DN, noSync) || r.Mail != "" || r.ExtensionAttributes["extensionAttribute1"] != MarkerMigrated {
		t.Errorf("kept original: %+v", r)
	}
	// The journal holds every write, done.
	es, _ := l.j.List(journal.ListFilter{RunID: s.RunID})
	if len(es) < 8 || slices.ContainsFunc(es, func(e journal.Entry) bool { return e.State != journal.Done }) {
		t.Errorf("journal: %d entries", len(es))
	}
}

func TestRecreateDeletesTheOriginalUnlessKept(t *testing.T) {
	l := newLab(t)
	l.options.KeepOriginal = false
	e := l.env(nil)
	s, err := e.Run(t.Context(), l.start(t, e))
	if err != nil {
		t.Fatal(err)
	}
	l.checkMigrated(t, s)
	if _, _, err := l.w.FindByGUIDOnDC(t.Context(), l.group.GUID); !notFound(err) {
		t.Errorf("the original group is still there: %v", err)
	}
}

func TestSOAEndToEnd(t *testing.T) {
	l := newLab(t)
	l.options.Method = "auto"
	e := l.env(nil)
	s := l.start(t, e)
	if s.Method != MethodSOA {
		t.Fatalf("auto chose %s: %s", s.Method, s.Reason)
	}
	twin := s.Capture.TwinID
	s, err := e.Run(t.Context(), s)
	if err != nil || s.State != StateMigrated {
		t.Fatalf("run: %v %+v", err, s)
	}
	dg := l.w.dgs[twin]
	if !l.w.soa[twin] || dg.IsDirSynced || !slices.Contains(dg.EmailAddresses, "smtp:sales@lab.mail.onmicrosoft.com") {
		t.Fatalf("converted list %+v", dg)
	}
	g, _, _ := l.w.FindByGUIDOnDC(t.Context(), l.group.GUID)
	// The routing contact joins the on-premises group, whose three members
	// stay.
	if !slices.ContainsFunc(g.Members, func(m string) bool { return ad.EqualDN(m, routingContactDN(s)) }) || len(g.Members) != 4 || g.DN != l.groupDN {
		t.Fatalf("on-premises group %+v", g)
	}
	if s.Made.SyncCycles != 0 {
		t.Errorf("SOA waited for %d sync cycles", s.Made.SyncCycles)
	}
}

func TestRollbackRestoresTheBeforeImages(t *testing.T) {
	for _, method := range []string{"recreate", "soa"} {
		t.Run(method, func(t *testing.T) {
			l := newLab(t)
			l.options.Method = method
			before := l.snap(t)
			e := l.env(nil)
			s, err := e.Run(t.Context(), l.start(t, e))
			if err != nil || s.State != StateMigrated {
				t.Fatal(err, s)
			}
			s, err = e.Rollback(t.Context(), s, false)
			if err != nil || s.State != StateRolledBack {
				t.Fatalf("rollback: %v %+v", err, s)
			}
			l.checkRolledBack(t, before)
		})
	}
}

// checkRolledBack compares the world with before, attribute by attribute.
func (l *lab) checkRolledBack(t *testing.T, before snapshot) {
	t.Helper()
	after := l.snap(t)
	if after.groupDN != before.groupDN || after.mail != before.mail || !slices.Equal(after.proxies, before.proxies) ||
		!sameFold(after.members, before.members) || !after.twinSynced || after.lists != before.lists {
		t.Fatalf("after rollback %+v, before %+v", after, before)
	}
	for dn, r := range l.w.ad {
		if r.Kind == ad.KindContact || r.Kind == ad.KindDynamicDL {
			t.Errorf("left behind on premises: %s", dn)
		}
	}
	if p, _ := l.j.Pending(); len(p) != 0 {
		t.Errorf("%d journal entries left pending", len(p))
	}
}

func TestRollbackRefusesToDiscardCloudChanges(t *testing.T) {
	l := newLab(t)
	e := l.env(nil)
	s, _ := e.Run(t.Context(), l.start(t, e))
	l.w.members[s.Made.CloudListID] = append(l.w.members[s.Made.CloudListID], "someone-new")
	if _, err := e.Rollback(t.Context(), s, false); err == nil || !strings.Contains(err.Error(), "member added in the cloud: someone-new") {
		t.Fatalf("rollback over a cloud change: %v", err)
	}
	if s2, _ := Load(l.j, s.ID); s2.State != StateMigrated {
		t.Fatalf("the refused rollback changed the saga: %s", s2.State)
	}
	if s, err := e.Rollback(t.Context(), s, true); err != nil || s.State != StateRolledBack {
		t.Fatalf("forced rollback: %v %+v", err, s)
	}
}

// A step that fails for good makes the saga compensate back to the
// before-images.
func TestTerminalFailureCompensates(t *testing.T) {
	l := newLab(t)
	before := l.snap(t)
	l.w.failNext["Add"] = retry.New("fake.Add", retry.Terminal, errors.New("insufficientAccessRights"))
	e := l.env(nil)
	s, err := e.Run(t.Context(), l.start(t, e))
	if err != nil || s.State != StateRolledBack || s.FailedStep != StepRoutingContact || !strings.Contains(s.Error, "insufficientAccessRights") {
		t.Fatalf("run: %v %+v", err, s)
	}
	l.checkRolledBack(t, before)
}

// A sync cycle that never comes: the wait ends at its deadline with the
// saga waiting, overdue, and resumes when the cycle comes.
func TestSyncThatNeverComes(t *testing.T) {
	l := newLab(t)
	l.w.noSync = true
	e := l.env(nil)
	s, err := e.Run(t.Context(), l.start(t, e))
	if !errors.Is(err, ErrOverdue) || s.State != StateWaiting || s.Waiting == nil || !s.Waiting.Overdue || s.Step != StepAwaitTwinDeleted {
		t.Fatalf("run: %v %+v", err, s)
	}
	stored, _ := Load(l.j, s.ID)
	if stored.Waiting == nil || !stored.Waiting.Overdue || !strings.Contains(stored.Waiting.For, "deletes the synced twin") {
		t.Fatalf("stored saga %+v", stored)
	}
	// Run again while it still does not come: a new window from now,
	// the same Since, overdue again at its end.
	l.clk.After(time.Hour)
	s2, err := e.Run(t.Context(), stored)
	if !errors.Is(err, ErrOverdue) || !s2.Waiting.Overdue || !s2.Waiting.Since.Equal(stored.Waiting.Since) ||
		!s2.Waiting.Deadline.After(stored.Waiting.Deadline.Add(time.Hour)) {
		t.Fatalf("second run: %v %+v (first %+v)", err, s2.Waiting, stored.Waiting)
	}
	l.w.noSync = false
	s, err = e.Run(t.Context(), s2)
	if err != nil {
		t.Fatal(err)
	}
	l.checkMigrated(t, s)
}

// While waiting, the looks back off: the poll interval, doubling after
// each look up to 15 s, and back to the poll interval when the wait
// triggers another cycle; never past the deadline.
func TestWaitBacksOff(t *testing.T) {
	l := newLab(t)
	l.w.noSync = true
	e := l.env(nil) // Poll 1 s, Wait 10 min
	s := l.start(t, e)
	l.clk.mu.Lock()
	l.clk.waits = nil
	l.clk.mu.Unlock()
	if _, err := e.Run(t.Context(), s); !errors.Is(err, ErrOverdue) {
		t.Fatalf("run: %v", err)
	}
	l.clk.mu.Lock()
	waits := slices.Clone(l.clk.waits)
	l.clk.mu.Unlock()
	near := func(d, want time.Duration) bool { return d >= want && d <= want+want/10 }
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 15 * time.Second, 15 * time.Second}
	for i, w := range want {
		if i >= len(waits) || !near(waits[i], w) {
			t.Fatalf("waits %v, want them to start %v (each with up to 10%% jitter)", waits, want)
		}
	}
	var total time.Duration
	resets := 0
	for i, d := range waits {
		total += d
		if d > 15*time.Second+1500*time.Millisecond {
			t.Errorf("wait %d is %s, past the 15 s cap", i, d)
		}
		if i > 0 && near(d, time.Second) && waits[i-1] > 2*time.Second {
			resets++ // back to the poll interval after a trigger
		}
	}
	// A trigger every 2 minutes within the 10-minute window: four after
	// the first, each followed by a look a second later.
	if resets != 4 {
		t.Errorf("the backoff started again %d times, want 4 (one per trigger): %v", resets, waits)
	}
	if total > 10*time.Minute {
		t.Errorf("waited %s in all, past the 10-minute deadline", total)
	}
}

// The tenant down mid-saga: the saga is blocked where it is, and resumes.
func TestTenantDownBlocksAndResumes(t *testing.T) {
	l := newLab(t)
	l.w.failNext["Move"] = retry.New("fake", retry.Retryable, errors.New("busy"))
	e := l.env(nil)
	s, err := e.Run(t.Context(), l.start(t, e))
	if !errors.Is(err, ErrBlocked) || s.Step != StepMove || s.State != StateRunning || s.Blocked == "" {
		t.Fatalf("run: %v %+v", err, s)
	}
	s, err = e.Run(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	l.checkMigrated(t, s)
}

// killed is the panic a test failpoint raises: the process "dies" there.
type killed string

// points runs a whole migration and returns every failpoint reached.
func points(t *testing.T, method string) []string {
	l := newLab(t)
	l.options.Method = method
	var seen []string
	e := l.env(func(p string) { seen = append(seen, p) })
	if s, err := e.Run(t.Context(), l.start(t, e)); err != nil || s.State != StateMigrated {
		t.Fatal(err, s)
	}
	return seen
}

// Killed at every failpoint (between steps, and between each intent and
// its outcome), then started again: every run ends migrated with the
// world as a clean run leaves it, and a rollback after the crash returns
// it to the before-images.
func TestCrashAtEveryPointResumes(t *testing.T) {
	for _, method := range []string{"recreate", "soa"} {
		for _, point := range points(t, method) {
			for _, then := range []string{"resume", "rollback"} {
				t.Run(fmt.Sprintf("%s/%s/%s", method, point, then), func(t *testing.T) {
					l := newLab(t)
					l.options.Method = method
					before := l.snap(t)
					e := l.env(func(p string) {
						if p == point {
							panic(killed(p))
						}
					})
					s := l.start(t, e)
					func() {
						defer func() {
							if r := recover(); r != nil && r != killed(point) {
								panic(r)
							}
						}()
						_, _ = e.Run(t.Context(), s)
						t.Fatalf("never reached %s", point)
					}()
					// A new process: a new Env over the same journal,
					// the saga as the journal holds it. A write
					// interrupted after it was sent is settled once the
					// settle time has passed.
					l.clk.After(2 * time.Minute)
					e2 := l.env(nil)
					stored, err := Load(l.j, s.ID)
					if err != nil {
						t.Fatal(err)
					}
					if then == "resume" {
						s2, err := e2.Run(t.Context(), stored)
						if err != nil {
							t.Fatalf("resume: %v", err)
						}
						if method == "recreate" {
							l.checkMigrated(t, s2)
						} else if s2.State != StateMigrated {
							t.Fatalf("resume: %+v", s2)
						}
						return
					}
					s2, err := e2.Rollback(t.Context(), stored, true)
					if err != nil || s2.State != StateRolledBack {
						t.Fatalf("rollback: %v %+v", err, s2)
					}
					l.checkRolledBack(t, before)
				})
			}
		}
	}
}

// Crashes one after the other: each new process resumes what the last
// one left and dies at the next failpoint, so every resume starts from
// the state a crash left (not from a clean run up to one crash); the last
// one finishes.
func TestCrashAtEveryPointInTurn(t *testing.T) {
	for _, method := range []string{"recreate", "soa"} {
		t.Run(method, func(t *testing.T) {
			l := newLab(t)
			l.options.Method = method
			s := l.start(t, l.env(nil))
			id := s.ID
			for _, point := range points(t, method) {
				e := l.env(func(p string) {
					if p == point {
						panic(killed(p))
					}
				})
				stored, err := Load(l.j, id)
				if err != nil {
					t.Fatal(err)
				}
				func() {
					defer func() {
						if r := recover(); r != nil && r != killed(point) {
							panic(r)
						}
					}()
					_, err := e.Run(t.Context(), stored)
					t.Fatalf("never reached %s: %v", point, err)
				}()
				l.clk.After(2 * time.Minute) // past the settle time
			}
			stored, err := Load(l.j, id)
			if err != nil {
				t.Fatal(err)
			}
			s2, err := l.env(nil).Run(t.Context(), stored)
			if err != nil {
				t.Fatalf("the run after the last crash: %v", err)
			}
			if method == "recreate" {
				l.checkMigrated(t, s2)
			} else if s2.State != StateMigrated {
				t.Fatalf("%+v", s2)
			}
		})
	}
}

func TestAssessReportsEveryProblem(t *testing.T) {
	l := newLab(t)
	w := l.w
	outside := &ad.Recipient{DN: "CN=Outsider," + base, GUID: guidN(77), Kind: ad.KindUser, Mail: "outsider@lab.test",
		ProxyAddresses: ad.ParseProxyAddresses([]string{"SMTP:outsider@lab.test"})}
	w.ad[strings.ToLower(outside.DN)] = outside
	child := w.addGroup(11, "Child", l.users[0])
	bad := w.addGroup(12, "Bad", l.users[0], outside, child)
	bad.GroupType = &ad.GroupType{Raw: 4, Scope: ad.ScopeDomainLocal}
	bad.ProxyAddresses = ad.ParseProxyAddresses([]string{"SMTP:bad@lab.test", "smtp:bad@notours.example"})
	bad.Name = strings.Repeat("B", 70)
	w.protect[strings.ToLower(bad.DN)] = true
	w.sync()
	e := l.env(nil)
	a, err := e.Assess(t.Context(), "bad@lab.test", Options{Method: "auto", NoSyncOU: "OU=Inside," + syncOU})
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, p := range a.Problems {
		codes = append(codes, p.Code)
	}
	for _, want := range []string{"not-universal", "name-too-long", "protected", "nosync-in-scope", "domain-not-accepted", "unresolved", "nested"} {
		if !slices.Contains(codes, want) {
			t.Errorf("no %s problem: %q", want, a.Problems)
		}
	}
	if a.Method != MethodRecreate || !strings.Contains(a.Reason, "child groups") {
		t.Errorf("method %s: %s", a.Method, a.Reason)
	}
	if a, _ := e.Assess(t.Context(), "nobody@lab.test", Options{}); len(a.Problems) != 1 || a.Problems[0].Code != "not-found" {
		t.Errorf("unknown group: %+v", a.Problems)
	}
	if a, _ := e.Assess(t.Context(), "ann@lab.test", Options{NoSyncOU: noSync}); len(a.Problems) != 1 || a.Problems[0].Code != "not-a-group" {
		t.Errorf("a user: %+v", a.Problems)
	}
	if _, err := e.Start(a, "bad@lab.test", Options{}); err == nil {
		t.Error("Start of a group with problems succeeded")
	}
	if es, _ := l.j.List(journal.ListFilter{}); len(es) != 0 {
		t.Errorf("assessing wrote %d journal entries", len(es))
	}
}

// An object of the group's name already in the no-sync OU stops the
// recreate path (the move would fail); the group itself there does not.
func TestAssessNoSyncNameTaken(t *testing.T) {
	l := newLab(t)
	other := &ad.Recipient{DN: "CN=Sales," + noSync, GUID: guidN(88), Kind: ad.KindContact, Name: "Sales"}
	l.w.ad[strings.ToLower(other.DN)] = other
	a, err := l.env(nil).Assess(t.Context(), "sales@lab.test", l.options)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Problems) != 1 || a.Problems[0].Code != "nosync-name-taken" || !strings.Contains(a.Problems[0].Message, other.DN) {
		t.Fatalf("problems %+v", a.Problems)
	}
	delete(l.w.ad, strings.ToLower(other.DN))
	if a, err := l.env(nil).Assess(t.Context(), "sales@lab.test", l.options); err != nil || !a.Ready() {
		t.Fatalf("without it: %v %+v", err, a.Problems)
	}
}

// With Once (the service), a wait looks once and returns ErrWaiting
// instead of polling; the next run goes on from there.
func TestOnceModeLooksOnce(t *testing.T) {
	l := newLab(t)
	l.w.noSync = true
	e := l.env(nil)
	e.Once = true
	s, err := e.Run(t.Context(), l.start(t, e))
	if !errors.Is(err, ErrWaiting) || s.State != StateWaiting || s.Step != StepAwaitTwinDeleted || s.Made.Triggers != 1 {
		t.Fatalf("run: %v %+v", err, s)
	}
	if s.Waiting.Overdue {
		t.Fatal("overdue after one look")
	}
	l.w.noSync = false
	l.clk.After(3 * time.Minute) // past the retrigger interval
	s, err = e.Run(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	l.checkMigrated(t, s)
}
