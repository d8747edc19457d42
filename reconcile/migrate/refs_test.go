package migrate

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
)

// refLab is a lab whose group Sales is named by other objects: on
// premises a parent group's member, a restricted group's authOrig,
// dLMemSubmitPerms, managedBy and msExchCoManagedByLink, a user's
// publicDelegates and altRecipient; in the cloud a cloud-only list's
// members, AcceptMessagesOnlyFromSendersOrMembers and GrantSendOnBehalfTo,
// Cid's mailbox's forwarding, Send-As on Sales granted to Bob, and Send-As
// on Ann granted to Sales.
type refLab struct {
	*lab
	parent, restricted *ad.Recipient
	cloudList          string
}

var onPremRefs = []struct{ who, attr string }{
	{"parent", "member"}, {"restricted", "authOrig"}, {"restricted", "dLMemSubmitPerms"}, {"restricted", "managedBy"},
	{"restricted", "msExchCoManagedByLink"}, {"ann", "publicDelegates"}, {"ann", "altRecipient"},
}

func newRefLab(t *testing.T) *refLab {
	t.Helper()
	l := &refLab{lab: newLab(t)}
	w := l.w
	w.mu.Lock()
	l.parent = &ad.Recipient{DN: "CN=Parent," + syncOU, GUID: guidN(20), Kind: ad.KindGroup, Name: "Parent", Members: []string{l.groupDN, l.users[1].DN}}
	l.restricted = &ad.Recipient{DN: "CN=Restricted," + syncOU, GUID: guidN(21), Kind: ad.KindGroup, Name: "Restricted"}
	w.ad[strings.ToLower(l.parent.DN)] = l.parent
	w.ad[strings.ToLower(l.restricted.DN)] = l.restricted
	for _, r := range onPremRefs {
		if r.attr == "member" {
			continue
		}
		vals := []string{l.groupDN}
		if r.attr == "authOrig" {
			vals = append(vals, l.users[1].DN)
		}
		w.applyLink(l.dnOf(r.who), ad.Change{Op: ad.ReplaceValues, Attr: r.attr, Values: vals})
	}
	w.mu.Unlock()
	twin := l.twinID(t)
	l.cloudList = w.addCloudList("CloudAll", []string{twin, l.users[0].GUID}, func(g *cloud.DistributionGroup) {
		g.AcceptMessagesOnlyFrom = []string{twin, l.users[1].GUID}
		g.GrantSendOnBehalfTo = []string{twin}
	})
	w.mu.Lock()
	w.forwards[l.users[2].GUID] = twin
	// Bob may send as Sales; Sales may send as Ann.
	w.sendAs[twin] = []string{l.users[1].GUID}
	w.sendAs[l.users[0].GUID] = []string{twin}
	w.mu.Unlock()
	return l
}

func (l *refLab) dnOf(who string) string {
	switch who {
	case "parent":
		return l.parent.DN
	case "restricted":
		return l.restricted.DN
	}
	return l.users[0].DN
}

// twinID is the id of the list holding sales@lab.test.
func (l *refLab) twinID(t *testing.T) string {
	t.Helper()
	x, err := l.w.GetRecipient(t.Context(), "sales@lab.test")
	if err != nil {
		t.Fatal(err)
	}
	return x.ExternalDirectoryObjectID
}

// checkRefs checks every reference names want on premises (a DN) and
// wantCloud in the cloud (a list id), and neither of the others.
func (l *refLab) checkRefs(t *testing.T, want, notWant, wantCloud, notWantCloud string) {
	t.Helper()
	for _, r := range onPremRefs {
		vals, err := l.w.ReadAttributes(t.Context(), l.dnOf(r.who), r.attr)
		if err != nil {
			t.Fatal(err)
		}
		v := vals[r.attr]
		if !containsDN(v, want) || containsDN(v, notWant) {
			t.Errorf("%s of %s is %q, want %s", r.attr, r.who, v, want)
		}
		if r.attr == "authOrig" && !containsDN(v, l.users[1].DN) {
			t.Errorf("authOrig of %s lost Bob: %q", r.who, v)
		}
		if r.attr == "member" && !containsDN(v, l.users[1].DN) {
			t.Errorf("member of %s lost Bob: %q", r.who, v)
		}
	}
	l.w.mu.Lock()
	defer l.w.mu.Unlock()
	g := l.w.dgs[l.cloudList]
	for name, list := range map[string][]string{"members": l.w.members[l.cloudList], "accept": g.AcceptMessagesOnlyFrom, "send-on-behalf": g.GrantSendOnBehalfTo} {
		if !slices.Contains(list, wantCloud) || slices.Contains(list, notWantCloud) {
			t.Errorf("the cloud list's %s are %q, want %s and not %s", name, list, wantCloud, notWantCloud)
		}
	}
	if on := l.w.sendAs[wantCloud]; !slices.Equal(on, []string{l.users[1].GUID}) {
		t.Errorf("Send-As on %s is granted to %q, want Bob alone", wantCloud, on)
	}
	if to := l.w.sendAs[l.users[0].GUID]; !slices.Equal(to, []string{wantCloud}) {
		t.Errorf("Ann grants Send-As to %q, want %s alone", to, wantCloud)
	}
	if fwd := l.w.forwards[l.users[2].GUID]; fwd != wantCloud {
		t.Errorf("Cid's mailbox forwards to %q, want %s", fwd, wantCloud)
	}
	if !slices.Contains(l.w.members[l.cloudList], l.users[0].GUID) || !slices.Contains(g.AcceptMessagesOnlyFrom, l.users[1].GUID) {
		t.Errorf("the cloud list lost its other recipients: members %q, accept %q", l.w.members[l.cloudList], g.AcceptMessagesOnlyFrom)
	}
}

// checkRepointed checks the references after a migration.
func (l *refLab) checkRepointed(t *testing.T, s *Saga, oldTwin string) {
	t.Helper()
	l.checkRefs(t, s.Made.ContactDN, s.Made.MovedDN, s.Made.CloudListID, oldTwin)
}

// checkPutBack checks the references after a rollback: the group at its
// place again, and the twin the rollback's sync cycle made.
func (l *refLab) checkPutBack(t *testing.T, s *Saga) {
	t.Helper()
	l.checkRefs(t, l.groupDN, routingContactDN(s), l.twinID(t), s.Made.CloudListID)
}

func TestReferencesCaptured(t *testing.T) {
	l := newRefLab(t)
	a, err := l.env(nil).Assess(t.Context(), "sales@lab.test", l.options)
	if err != nil || !a.Ready() {
		t.Fatalf("assess: %v %+v", err, a.Problems)
	}
	refs := a.Capture.References
	var got []string
	for _, r := range refs.OnPremises {
		got = append(got, r.DN+" "+r.Attr)
	}
	var want []string
	for _, r := range onPremRefs {
		want = append(want, l.dnOf(r.who)+" "+r.attr)
	}
	if !sameFold(got, want) {
		t.Errorf("on-premises references %q, want %q", got, want)
	}
	got = nil
	for _, r := range refs.Cloud {
		got = append(got, r.ListName+" "+r.Param)
	}
	if want := []string{"CloudAll Members", "CloudAll AcceptMessagesOnlyFromSendersOrMembers", "CloudAll GrantSendOnBehalfTo", "Cid ForwardingAddress", "bob@lab.test SendAsOnGroup", "Ann SendAsToGroup"}; !sameFold(got, want) {
		t.Errorf("cloud references %q, want %q", got, want)
	}
}

func TestReferencesRepointedAndPutBack(t *testing.T) {
	l := newRefLab(t)
	oldTwin := l.twinID(t)
	e := l.env(nil)
	s, err := e.Run(t.Context(), l.start(t, e))
	if err != nil {
		t.Fatal(err)
	}
	l.checkMigrated(t, s)
	l.checkRepointed(t, s, oldTwin)
	s, err = e.Rollback(t.Context(), s, false)
	if err != nil || s.State != StateRolledBack {
		t.Fatalf("rollback: %v %+v", err, s)
	}
	l.checkPutBack(t, s)
}

// Killed at every failpoint of the re-pointing steps, then resumed or
// rolled back, and at every failpoint of their undo in a rollback, then
// rolled back again: every reference ends where it should, none lost or
// doubled.
func TestReferencesCrashAtEveryPoint(t *testing.T) {
	var runPts, rollbackPts []string
	{
		l := newRefLab(t)
		seen := &runPts
		e := l.env(func(p string) {
			if strings.Contains(p, "repoint") {
				*seen = append(*seen, p)
			}
		})
		s, err := e.Run(t.Context(), l.start(t, e))
		if err != nil || s.State != StateMigrated {
			t.Fatal(err, s)
		}
		seen = &rollbackPts
		if _, err := e.Rollback(t.Context(), s, false); err != nil {
			t.Fatal(err)
		}
	}
	// Each reference write has three points (after intent, after sent,
	// after the write), each step one before it (forward) or one undo.
	if len(runPts) < 3*10 || len(rollbackPts) < 3*10 {
		t.Fatalf("failpoints in the re-pointing steps: run %q, rollback %q", runPts, rollbackPts)
	}
	kill := func(point string) func(string) {
		return func(p string) {
			if p == point {
				panic(killed(p))
			}
		}
	}
	crash := func(t *testing.T, point string, f func()) {
		t.Helper()
		defer func() {
			if r := recover(); r != nil && r != killed(point) {
				panic(r)
			}
		}()
		f()
		t.Fatalf("never reached %s", point)
	}
	for _, point := range runPts {
		for _, then := range []string{"resume", "rollback"} {
			t.Run("run/"+point+"/"+then, func(t *testing.T) {
				l := newRefLab(t)
				oldTwin := l.twinID(t)
				e := l.env(kill(point))
				s := l.start(t, e)
				crash(t, point, func() { _, _ = e.Run(t.Context(), s) })
				l.clk.After(2 * time.Minute)
				stored, err := Load(l.j, s.ID)
				if err != nil {
					t.Fatal(err)
				}
				if then == "resume" {
					s2, err := l.env(nil).Run(t.Context(), stored)
					if err != nil || s2.State != StateMigrated {
						t.Fatalf("resume: %v %+v", err, s2)
					}
					l.checkRepointed(t, s2, oldTwin)
					return
				}
				s2, err := l.env(nil).Rollback(t.Context(), stored, true)
				if err != nil || s2.State != StateRolledBack {
					t.Fatalf("rollback: %v %+v", err, s2)
				}
				l.checkPutBack(t, s2)
			})
		}
	}
	for _, point := range rollbackPts {
		t.Run("rollback/"+point, func(t *testing.T) {
			l := newRefLab(t)
			s, err := l.env(nil).Run(t.Context(), l.start(t, l.env(nil)))
			if err != nil || s.State != StateMigrated {
				t.Fatal(err, s)
			}
			e := l.env(kill(point))
			crash(t, point, func() { _, _ = e.Rollback(t.Context(), s, false) })
			l.clk.After(2 * time.Minute)
			stored, err := Load(l.j, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			s2, err := l.env(nil).Rollback(t.Context(), stored, true)
			if err != nil || s2.State != StateRolledBack {
				t.Fatalf("rollback again: %v %+v", err, s2)
			}
			l.checkPutBack(t, s2)
		})
	}
}
