package migrate

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/journal"
)

// migrated runs the migration of Sales by method to its end.
func (l *lab) migrated(t *testing.T, method string) (*Env, *Saga) {
	t.Helper()
	l.options.Method = method
	e := l.env(nil)
	s, err := e.Run(t.Context(), l.start(t, e))
	if err != nil || s.State != StateMigrated {
		t.Fatalf("migrate: %v %+v", err, s)
	}
	return e, s
}

func hasFold(vals []string, want string) bool {
	return slices.ContainsFunc(vals, func(v string) bool { return v == want })
}

// addressState is what an address change touches, for "nothing changed"
// comparisons.
func (l *lab) addressState(s *Saga) string {
	g := l.w.dgs[s.Made.CloudListID]
	out := g.PrimarySMTPAddress + "|" + g.Alias + "|" + strings.Join(g.EmailAddresses, ",")
	if dl, ok := l.w.ad[strings.ToLower(s.Made.DynamicListDN)]; ok {
		out += "|" + dl.Mail + "|" + dl.MailNickname + "|" + strings.Join(dl.ProxyAddresses.Raw(), ",")
	}
	return out
}

func TestChangeAddressRecreate(t *testing.T) {
	l := newLab(t)
	e, s := l.migrated(t, "recreate")
	s, rep, err := e.ChangeAddress(t.Context(), s, "team@lab.test", "team")
	if err != nil {
		t.Fatal(err)
	}
	g := l.w.dgs[s.Made.CloudListID]
	if g.PrimarySMTPAddress != "team@lab.test" || g.Alias != "team" || !hasFold(g.EmailAddresses, "SMTP:team@lab.test") ||
		!hasFold(g.EmailAddresses, "smtp:sales@lab.test") || !hasFold(g.EmailAddresses, "smtp:sales@lab.mail.onmicrosoft.com") {
		t.Errorf("cloud list %+v", g)
	}
	dl := l.w.ad[strings.ToLower(s.Made.DynamicListDN)]
	if dl.Mail != "team@lab.test" || dl.MailNickname != "team" || !hasFold(dl.ProxyAddresses.Raw(), "SMTP:team@lab.test") ||
		!hasFold(dl.ProxyAddresses.Raw(), "smtp:sales@lab.test") || hasFold(dl.ProxyAddresses.Raw(), "SMTP:sales@lab.test") {
		t.Errorf("dynamic list mail %q nickname %q proxies %q", dl.Mail, dl.MailNickname, dl.ProxyAddresses.Raw())
	}
	if s.Primary() != "team@lab.test" || s.Alias() != "team" || rep.DynamicList == "" || rep.Change.State != AddressDone {
		t.Errorf("saga primary %s alias %s, report %+v", s.Primary(), s.Alias(), rep)
	}
	if stored, _ := Load(l.j, s.ID); stored.Primary() != "team@lab.test" {
		t.Errorf("the saga in the journal says %s", stored.Primary())
	}
	es, _ := l.j.List(journal.ListFilter{RunID: rep.Change.RunID})
	if len(es) != 2 || slices.ContainsFunc(es, func(e journal.Entry) bool { return e.State != journal.Done || len(e.Before) == 0 }) {
		t.Errorf("journal of the change: %+v", es)
	}
	if d := Describe(s, l.clk.Now()); !strings.Contains(d, "address changed to team@lab.test") {
		t.Errorf("status line %q", d)
	}
	// The same change again is refused as nothing to do, writing nothing.
	if _, _, err := e.ChangeAddress(t.Context(), s, "team@lab.test", ""); !errors.Is(err, ErrBadAddress) {
		t.Errorf("repeat: %v", err)
	}
}

func TestChangeAddressCompensatesTheCloudWhenADRefuses(t *testing.T) {
	l := newLab(t)
	e, s := l.migrated(t, "recreate")
	before := l.addressState(s)
	l.w.failNext["Modify"] = retry.New("fake.Modify", retry.Terminal, errors.New("insufficientAccessRights"))
	s, rep, err := e.ChangeAddress(t.Context(), s, "team@lab.test", "team")
	if !errors.Is(err, ErrAddressCompensated) || !strings.Contains(err.Error(), "insufficientAccessRights") {
		t.Fatalf("change: %v", err)
	}
	if after := l.addressState(s); after != before {
		t.Errorf("half-changed:\n before %s\n after  %s", before, after)
	}
	if rep.Change.State != AddressCompensated || s.Primary() != "sales@lab.test" {
		t.Errorf("change %+v primary %s", rep.Change, s.Primary())
	}
	es, _ := l.j.List(journal.ListFilter{RunID: rep.Change.RunID})
	var ops []string
	for _, en := range es {
		st := string(en.State)
		if en.Refused {
			st = "refused"
		}
		ops = append(ops, string(en.Target)+":"+st)
	}
	if !slices.Equal(ops, []string{"exchange:done", "ad:refused", "exchange:done"}) {
		t.Errorf("journal of the change: %q", ops)
	}
}

func TestChangeAddressUnknownOutcomeIsFinishedByRunningAgain(t *testing.T) {
	l := newLab(t)
	e, s := l.migrated(t, "recreate")
	l.w.failNext["Modify"] = ad.ErrOutcomeUnknown
	s, _, err := e.ChangeAddress(t.Context(), s, "team@lab.test", "team")
	if err == nil || errors.Is(err, ErrAddressCompensated) {
		t.Fatalf("change with an unknown outcome: %v", err)
	}
	if d := Describe(s, l.clk.Now()); !strings.Contains(d, "NOT FINISHED") {
		t.Errorf("status line %q", d)
	}
	// Another address is refused until this one is finished.
	if _, _, err := e.ChangeAddress(t.Context(), s, "other@lab.test", "other"); !errors.Is(err, ErrBadAddress) {
		t.Errorf("another change over an unfinished one: %v", err)
	}
	s, _, err = e.ChangeAddress(t.Context(), s, "team@lab.test", "team")
	if err != nil || s.Primary() != "team@lab.test" || l.w.ad[strings.ToLower(s.Made.DynamicListDN)].Mail != "team@lab.test" {
		t.Fatalf("finish: %v %s", err, s.Primary())
	}
	if p, _ := l.j.Pending(); len(p) != 0 {
		t.Errorf("%d entries left pending", len(p))
	}
}

func TestChangeAddressRefusesBadInput(t *testing.T) {
	l := newLab(t)
	e, s := l.migrated(t, "recreate")
	// A contact outside the sync scope: on premises only.
	onPrem := &ad.Recipient{DN: "CN=Partner," + noSync, GUID: guidN(30), Kind: ad.KindContact, Name: "Partner", Mail: "partner@lab.test",
		ProxyAddresses: ad.ParseProxyAddresses([]string{"SMTP:partner@lab.test"})}
	l.w.ad[strings.ToLower(onPrem.DN)] = onPrem
	if _, err := l.w.NewDistributionGroup(t.Context(), cloud.NewDistributionGroup{Name: "Cloudy", Alias: "cloudy", PrimarySMTPAddress: "cloudy@lab.test"}); err != nil {
		t.Fatal(err)
	}
	before := l.addressState(s)
	entries, _ := l.j.List(journal.ListFilter{})
	for _, tc := range []struct{ name, primary, alias, want string }{
		{"malformed", "team@@lab.test", "", "not an email address"},
		{"bad alias", "team@lab.test", "te am", "not an alias"},
		{"domain", "team@fabrikam.example", "", "not an accepted domain"},
		{"held in the cloud", "cloudy@lab.test", "", "already used by Cloudy in Exchange Online"},
		{"held by a synced user", l.users[0].Mail, "", "already used by Ann in Exchange Online"},
		{"held on premises only", "partner@lab.test", "", "already used on premises by " + onPrem.DN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.ChangeAddress(t.Context(), s, tc.primary, tc.alias)
			if !errors.Is(err, ErrBadAddress) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	running := s.clone()
	running.State = StateRunning
	if _, _, err := e.ChangeAddress(t.Context(), running, "team@lab.test", ""); !errors.Is(err, ErrBadAddress) || !strings.Contains(err.Error(), "not migrated") {
		t.Errorf("a saga not migrated: %v", err)
	}
	if after := l.addressState(s); after != before {
		t.Errorf("bad input changed something:\n before %s\n after  %s", before, after)
	}
	if after, _ := l.j.List(journal.ListFilter{}); len(after) != len(entries) {
		t.Errorf("bad input wrote %d journal entries", len(after)-len(entries))
	}
}

func TestChangeAddressSOA(t *testing.T) {
	l := newLab(t)
	e, s := l.migrated(t, "soa")
	groupBefore := l.w.ad[strings.ToLower(l.groupDN)].Mail
	s, rep, err := e.ChangeAddress(t.Context(), s, "team@lab.test", "")
	if err != nil {
		t.Fatal(err)
	}
	g := l.w.dgs[s.Made.CloudListID]
	if g.PrimarySMTPAddress != "team@lab.test" || !hasFold(g.EmailAddresses, "smtp:sales@lab.test") || g.Alias != "sales" {
		t.Errorf("cloud list %+v", g)
	}
	if l.w.ad[strings.ToLower(l.groupDN)].Mail != groupBefore || len(rep.Notes) != 1 || rep.DynamicList != "" {
		t.Errorf("the SOA group changed, or the report is wrong: %+v", rep)
	}
}

// After an address change, a rollback names the change as something it
// discards, and with --force restores the group's own addresses.
func TestRollbackAfterAddressChange(t *testing.T) {
	for _, method := range []string{"recreate", "soa"} {
		t.Run(method, func(t *testing.T) {
			l := newLab(t)
			before := l.snap(t)
			e, s := l.migrated(t, method)
			s, _, err := e.ChangeAddress(t.Context(), s, "team@lab.test", "team")
			if err != nil {
				t.Fatal(err)
			}
			changes, err := e.CloudChanges(t.Context(), s)
			if err != nil || len(changes) != 1 || !strings.Contains(changes[0], "from sales@lab.test to team@lab.test") {
				t.Fatalf("cloud changes %q %v", changes, err)
			}
			if _, err := e.Rollback(t.Context(), s, false); err == nil {
				t.Fatal("rollback without --force discarded the address change")
			}
			s, err = e.Rollback(t.Context(), s, true)
			if err != nil || s.State != StateRolledBack {
				t.Fatalf("rollback: %v %+v", err, s)
			}
			l.checkRolledBack(t, before)
		})
	}
}
