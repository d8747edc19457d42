package migrate

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/reconcile/journal"
)

// SearchRecipients evaluates the equality, & and | filters the hybrid
// mail flow code builds (and dynamic lists hold) over the world's AD.
func (w *world) SearchRecipients(_ context.Context, base, filter string) ([]*ad.Recipient, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*ad.Recipient
	for _, r := range w.ad {
		if base != "" && !strings.HasSuffix(strings.ToLower(r.DN), ","+strings.ToLower(base)) {
			continue
		}
		ok, rest, err := matchFilter(r, filter)
		if err != nil || rest != "" {
			return nil, errors.Join(err, errors.New("fake: bad filter "+filter))
		}
		if ok {
			out = append(out, w.copyOf(r))
		}
	}
	slices.SortFunc(out, func(a, b *ad.Recipient) int { return strings.Compare(a.DN, b.DN) })
	return out, nil
}

// matchFilter matches the filter at the start of f, and returns the rest.
func matchFilter(r *ad.Recipient, f string) (bool, string, error) {
	if !strings.HasPrefix(f, "(") {
		return false, f, errors.New("fake filter: want (")
	}
	f = f[1:]
	switch f[0] {
	case '&', '|':
		and, all, any := f[0] == '&', true, false
		f = f[1:]
		for strings.HasPrefix(f, "(") {
			ok, rest, err := matchFilter(r, f)
			if err != nil {
				return false, "", err
			}
			all, any, f = all && ok, any || ok, rest
		}
		if !strings.HasPrefix(f, ")") {
			return false, "", errors.New("fake filter: want )")
		}
		if and {
			return all, f[1:], nil
		}
		return any, f[1:], nil
	}
	end := strings.Index(f, ")")
	attr, val, _ := strings.Cut(f[:end], "=")
	return matchAttr(r, attr, val), f[end+1:], nil
}

func matchAttr(r *ad.Recipient, attr, val string) bool {
	eq := func(v string) bool { return strings.EqualFold(v, val) }
	switch attr {
	case "objectClass":
		return eq(string(r.Kind))
	case "mail":
		return eq(r.Mail)
	case "targetAddress":
		return eq(r.TargetAddress)
	case "proxyAddresses":
		return slices.ContainsFunc(r.ProxyAddresses.Raw(), eq)
	}
	return eq(r.ExtensionAttributes[attr])
}

// cloudOnly makes a list that lives in Exchange Online only (migrated by
// some tool): not synced, with its addresses.
func (w *world) cloudOnly(t *testing.T, alias string, addrs ...string) *cloud.DistributionGroup {
	t.Helper()
	g, err := w.NewDistributionGroup(t.Context(), cloud.NewDistributionGroup{Name: "Team " + alias, Alias: alias, PrimarySMTPAddress: alias + "@lab.test"})
	if err != nil {
		t.Fatal(err)
	}
	dg := w.dgs[g.ExternalDirectoryObjectID]
	dg.ExternalDirectoryObjectID = "5e1f0c2a-0000-4000-8000-" + alias
	w.dgs[dg.ExternalDirectoryObjectID] = dg
	delete(w.dgs, g.ExternalDirectoryObjectID)
	dg.DisplayName = "Team " + alias
	dg.EmailAddresses = append(dg.EmailAddresses, addrs...)
	return dg
}

func hybridReq(list string) HybridFlowRequest {
	return HybridFlowRequest{List: list, NoSyncOU: noSync, BaseDN: base}
}

func kinds(p *HybridFlowPlan) []string {
	var out []string
	for _, a := range p.Actions {
		out = append(out, a.Kind)
	}
	return out
}

// contactsTargeting returns the contacts whose targetAddress is addr.
func (w *world) contactsTargeting(addr string) []*ad.Recipient {
	var out []*ad.Recipient
	for _, r := range w.ad {
		if r.Kind == ad.KindContact && strings.EqualFold(strings.TrimPrefix(strings.ToLower(r.TargetAddress), "smtp:"), addr) {
			out = append(out, r)
		}
	}
	return out
}

func planAndApply(t *testing.T, e *Env, w *world, list string) (*HybridFlowPlan, *HybridFlowResult) {
	t.Helper()
	p, err := e.PlanHybridFlow(t.Context(), w, hybridReq(list))
	if err != nil || !p.Ready() {
		t.Fatalf("plan: %v %+v", err, p.Problems)
	}
	res, err := e.ApplyHybridFlow(t.Context(), w, p)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return p, res
}

// checkSecondRunIdle plans again and wants nothing to do.
func checkSecondRunIdle(t *testing.T, e *Env, w *world, list string) {
	t.Helper()
	p, err := e.PlanHybridFlow(t.Context(), w, hybridReq(list))
	if err != nil || !p.Ready() || len(p.Actions) != 0 {
		t.Fatalf("second run: %v problems %+v actions %q", err, p.Problems, kinds(p))
	}
}

func TestHybridFlowCloudOnlyListCreatesContactAndDynamicList(t *testing.T) {
	l := newLab(t)
	e := l.env(nil)
	dg := l.w.cloudOnly(t, "team", "smtp:team-old@lab.test", "smtp:team@"+initDom, "X500:/o=Lab/cn=Recipients/cn=team")
	p, res := planAndApply(t, e, l.w, "team@lab.test")
	if want := []string{"add-routing-address", "create-contact", "create-dynamic-list"}; !slices.Equal(kinds(p), want) {
		t.Fatalf("actions %q, want %q", kinds(p), want)
	}
	routing := "team@lab.mail.onmicrosoft.com"
	if !slices.ContainsFunc(l.w.dgs[dg.ExternalDirectoryObjectID].EmailAddresses, func(v string) bool { return strings.EqualFold(v, "smtp:"+routing) }) {
		t.Errorf("the cloud list lacks its routing address: %q", dg.EmailAddresses)
	}
	cs := l.w.contactsTargeting(routing)
	if len(cs) != 1 || !strings.HasSuffix(cs[0].DN, ","+noSync) || !cs[0].HiddenFromGAL || cs[0].TargetAddress != "SMTP:"+routing {
		t.Fatalf("routing contacts %+v", cs)
	}
	ddl, err := l.w.ReadRecipient(t.Context(), "CN=Team team,"+noSync)
	if err != nil || ddl.Kind != ad.KindDynamicDL || ddl.Mail != "team@lab.test" {
		t.Fatalf("dynamic list %+v %v", ddl, err)
	}
	for _, want := range []string{"SMTP:team@lab.test", "smtp:team-old@lab.test", "X500:/o=Lab/cn=Recipients/cn=team"} {
		if !slices.Contains(ddl.ProxyAddresses.Raw(), want) {
			t.Errorf("the dynamic list lacks %s: %q", want, ddl.ProxyAddresses.Raw())
		}
	}
	if slices.ContainsFunc(ddl.ProxyAddresses.Raw(), func(v string) bool { return strings.Contains(v, "onmicrosoft.com") }) {
		t.Errorf("the dynamic list holds a tenant address: %q", ddl.ProxyAddresses.Raw())
	}
	if len(res.Reaches) != 1 || !ad.EqualDN(res.Reaches[0], cs[0].DN) {
		t.Errorf("the dynamic list reaches %q, want %s alone", res.Reaches, cs[0].DN)
	}
	// Every write journalled, intent and before-image first, done after.
	entries, err := l.j.List(journal.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, en := range entries {
		if en.State != journal.Done {
			t.Errorf("journal entry %s %s is %s", en.ID, en.Operation, en.State)
		}
		ops = append(ops, en.Operation)
	}
	slices.Sort(ops)
	if want := []string{"migrate.ad.Add", "migrate.ad.Add", "migrate.exo.Set-DistributionGroup"}; !slices.Equal(ops, want) {
		t.Errorf("journal %q, want %q", ops, want)
	}
	checkSecondRunIdle(t, e, l.w, "team@lab.test")
}

// dlConversionLeftovers builds what DLConversionV2 leaves for a list it
// migrated: the original group renamed with "!" and marked, and its
// routing contact.
func dlConversionLeftovers(t *testing.T, l *lab, dg *cloud.DistributionGroup, stillMailEnabled bool, target string) (group, contact *ad.Recipient) {
	t.Helper()
	g := l.w.addGroup(60, "Team!")
	g.ExtensionAttributes = map[string]string{"extensionAttribute1": "MigratedByScript", "extensionAttribute2": "team@lab.test"}
	if !stillMailEnabled {
		g.Mail, g.MailNickname, g.LegacyExchangeDN, g.ProxyAddresses = "", "", "", ad.ProxyAddresses{}
	} else {
		g.Mail, g.MailNickname = "team@lab.test", "team"
		g.ProxyAddresses = ad.ParseProxyAddresses([]string{"SMTP:team@lab.test", "smtp:team-old@lab.test"})
	}
	dn := "CN=Team-MigratedByScript," + syncOU
	if err := l.w.Add(t.Context(), dn, []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "contact"}},
		{Name: "mail", Values: []string{"team-MigratedByScript@lab.test"}},
		{Name: "proxyAddresses", Values: []string{"SMTP:team-MigratedByScript@lab.test"}},
		{Name: "targetAddress", Values: []string{target}},
		{Name: "extensionAttribute1", Values: []string{"MigratedByScript"}},
		{Name: "extensionAttribute2", Values: []string{dg.ExternalDirectoryObjectID}},
	}); err != nil {
		t.Fatal(err)
	}
	c, _ := l.w.ReadRecipient(t.Context(), dn)
	return g, c
}

func TestHybridFlowAdoptsDLConversionLeftovers(t *testing.T) {
	l := newLab(t)
	e := l.env(nil)
	dg := l.w.cloudOnly(t, "team", "smtp:team-old@lab.test", "smtp:team@lab.mail.onmicrosoft.com")
	g, c := dlConversionLeftovers(t, l, dg, true, "SMTP:TEAM@WRONG.MAIL.ONMICROSOFT.COM")
	p, res := planAndApply(t, e, l.w, "team@lab.test")
	if want := []string{"release-addresses", "repair-contact", "create-dynamic-list"}; !slices.Equal(kinds(p), want) {
		t.Fatalf("actions %q, want %q", kinds(p), want)
	}
	if len(l.w.contactsTargeting("team@lab.mail.onmicrosoft.com")) != 1 || len(l.w.contactsTargeting("team@wrong.mail.onmicrosoft.com")) != 0 {
		t.Errorf("want the one DLConversionV2 contact, repaired")
	}
	got, _ := l.w.ReadRecipient(t.Context(), c.DN)
	if got.TargetAddress != "SMTP:team@lab.mail.onmicrosoft.com" || got.ExtensionAttributes["extensionAttribute1"] != MarkerDLConversion {
		t.Errorf("contact %+v", got)
	}
	old, _ := l.w.ReadRecipient(t.Context(), g.DN)
	if old.MailEnabled() || old.ExtensionAttributes["extensionAttribute1"] != MarkerDLConversion {
		t.Errorf("the retired group still holds addresses or lost its marker: %+v", old)
	}
	if len(res.Reaches) != 1 || !ad.EqualDN(res.Reaches[0], c.DN) {
		t.Errorf("the dynamic list reaches %q, want %s", res.Reaches, c.DN)
	}
	// The filter names DLConversionV2's markers, and the contact's OU.
	ddl, _ := l.w.ReadRecipient(t.Context(), p.DynamicListDN)
	if ddl.DynamicFilter != ad.MarkerFilter(MarkerDLConversion, dg.ExternalDirectoryObjectID) || ddl.DynamicBaseDN != syncOU {
		t.Errorf("dynamic list filter %q under %q", ddl.DynamicFilter, ddl.DynamicBaseDN)
	}
	checkSecondRunIdle(t, e, l.w, "team@lab.test")
}

func TestHybridFlowAdoptsRightContactAndExistingDynamicList(t *testing.T) {
	l := newLab(t)
	e := l.env(nil)
	dg := l.w.cloudOnly(t, "team", "smtp:team@lab.mail.onmicrosoft.com")
	g, c := dlConversionLeftovers(t, l, dg, false, "SMTP:TEAM@LAB.MAIL.ONMICROSOFT.COM")
	// DLConversionV2's dynamic list, with a filter of its own that
	// reaches the contact.
	dn := "CN=Team," + syncOU
	if err := l.w.Add(t.Context(), dn, []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "msExchDynamicDistributionList"}},
		{Name: "mail", Values: []string{"team@lab.test"}},
		{Name: "proxyAddresses", Values: []string{"SMTP:team@lab.test"}},
		{Name: "msExchDynamicDLFilter", Values: []string{"(&(extensionAttribute1=MigratedByScript)(extensionAttribute2=" + dg.ExternalDirectoryObjectID + "))"}},
		{Name: "msExchDynamicDLBaseDN", Values: []string{syncOU}},
	}); err != nil {
		t.Fatal(err)
	}
	p, err := e.PlanHybridFlow(t.Context(), l.w, hybridReq("team@lab.test"))
	if err != nil || !p.Ready() || len(p.Actions) != 0 || p.ContactDN != c.DN || p.DynamicListDN != dn {
		t.Fatalf("plan %v %+v", err, p)
	}
	// The report names all three leftovers.
	for _, want := range []string{g.DN, c.DN, dn} {
		if !slices.ContainsFunc(p.Found, func(f string) bool { return strings.HasPrefix(f, want+":") }) {
			t.Errorf("the report does not name %s: %q", want, p.Found)
		}
	}
}

func TestHybridFlowRepairsDynamicListFilter(t *testing.T) {
	l := newLab(t)
	e := l.env(nil)
	dg := l.w.cloudOnly(t, "team", "smtp:team@lab.mail.onmicrosoft.com", "smtp:team-old@lab.test")
	_, c := dlConversionLeftovers(t, l, dg, false, "SMTP:team@lab.mail.onmicrosoft.com")
	dn := "CN=Team," + syncOU
	if err := l.w.Add(t.Context(), dn, []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "msExchDynamicDistributionList"}},
		{Name: "mail", Values: []string{"team@lab.test"}},
		{Name: "proxyAddresses", Values: []string{"SMTP:team@lab.test"}},
		{Name: "msExchDynamicDLFilter", Values: []string{"(objectClass=contact)"}}, // every contact
		{Name: "msExchDynamicDLBaseDN", Values: []string{base}},
	}); err != nil {
		t.Fatal(err)
	}
	p, res := planAndApply(t, e, l.w, "team@lab.test")
	if want := []string{"repair-dynamic-list"}; !slices.Equal(kinds(p), want) {
		t.Fatalf("actions %q, want %q", kinds(p), want)
	}
	if len(res.Reaches) != 1 || !ad.EqualDN(res.Reaches[0], c.DN) {
		t.Errorf("reaches %q", res.Reaches)
	}
	ddl, _ := l.w.ReadRecipient(t.Context(), dn)
	if !slices.Contains(ddl.ProxyAddresses.Raw(), "smtp:team-old@lab.test") {
		t.Errorf("the dynamic list lacks the secondary address: %q", ddl.ProxyAddresses.Raw())
	}
	checkSecondRunIdle(t, e, l.w, "team@lab.test")
}

func TestHybridFlowBadInputWritesNothing(t *testing.T) {
	for _, tc := range []struct {
		name, list, code string
		setup            func(t *testing.T, l *lab)
	}{
		{"not in the cloud", "nobody@lab.test", "not-in-cloud", func(*testing.T, *lab) {}},
		{"still synced", "sales@lab.test", "still-synced", func(*testing.T, *lab) {}},
		{"domain not accepted", "team@lab.test", "domain-not-accepted", func(t *testing.T, l *lab) {
			l.w.cloudOnly(t, "team", "smtp:team@fabrikam.example")
		}},
		{"list named in a domain not accepted", "team@fabrikam.example", "domain-not-accepted", func(*testing.T, *lab) {}},
		{"address held by a user", "team@lab.test", "address-held", func(t *testing.T, l *lab) {
			l.w.cloudOnly(t, "team", "smtp:ann@lab.test")
		}},
		{"address held by an unmarked group", "team@lab.test", "address-held", func(t *testing.T, l *lab) {
			dg := l.w.cloudOnly(t, "team")
			g, _ := dlConversionLeftovers(t, l, dg, true, "SMTP:team@lab.mail.onmicrosoft.com")
			delete(g.ExtensionAttributes, "extensionAttribute1")
		}},
		{"marked group not renamed", "team@lab.test", "address-held", func(t *testing.T, l *lab) {
			dg := l.w.cloudOnly(t, "team")
			g, _ := dlConversionLeftovers(t, l, dg, true, "SMTP:team@lab.mail.onmicrosoft.com")
			g.Name = "Team"
		}},
		{"two candidate contacts", "team@lab.test", "ambiguous-contact", func(t *testing.T, l *lab) {
			dg := l.w.cloudOnly(t, "team")
			dlConversionLeftovers(t, l, dg, false, "SMTP:team@lab.mail.onmicrosoft.com")
			if err := l.w.Add(t.Context(), "CN=other,"+noSync, []ad.Attribute{{Name: "objectClass", Values: []string{"contact"}},
				{Name: "targetAddress", Values: []string{"smtp:team@lab.mail.onmicrosoft.com"}}}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t)
			tc.setup(t, l)
			e := l.env(nil)
			before := len(l.w.ad)
			p, err := e.PlanHybridFlow(t.Context(), l.w, hybridReq(tc.list))
			if err != nil {
				t.Fatal(err)
			}
			if p.Ready() || !slices.ContainsFunc(p.Problems, func(pr Problem) bool { return pr.Code == tc.code }) || len(p.Actions) != 0 {
				t.Fatalf("problems %+v actions %q, want %s", p.Problems, kinds(p), tc.code)
			}
			if _, err := e.ApplyHybridFlow(t.Context(), l.w, p); err == nil {
				t.Error("apply of a plan with problems did not fail")
			}
			entries, _ := l.j.List(journal.ListFilter{})
			if len(entries) != 0 || len(l.w.ad) != before {
				t.Errorf("something was written: %d journal entries, %d -> %d objects", len(entries), before, len(l.w.ad))
			}
		})
	}
}

// A write an interrupted run sent without an answer blocks the next run
// until it has had SettleAfter to show; then the next run, planned from a
// re-read of both directories, supersedes it and goes on.
func TestHybridFlowSettlesAnInterruptedRun(t *testing.T) {
	l := newLab(t)
	e := l.env(nil)
	dg := l.w.cloudOnly(t, "team", "smtp:team@lab.mail.onmicrosoft.com")
	en, err := l.j.Begin(journal.Entry{RunID: "hybrid-mail-flow-" + dg.ExternalDirectoryObjectID[:8] + "-20261203T110000Z", Target: journal.TargetAD,
		Object: "CN=hybridsync-routing-5e1f0c2a," + noSync, Operation: "migrate.ad.Add", Intent: []byte(`{}`), Before: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.j.MarkSent(en.ID); err != nil {
		t.Fatal(err)
	}
	p, err := e.PlanHybridFlow(t.Context(), l.w, hybridReq("team@lab.test"))
	if err != nil || !p.Ready() {
		t.Fatal(err, p.Problems)
	}
	if _, err := e.ApplyHybridFlow(t.Context(), l.w, p); !errors.Is(err, ErrBlocked) {
		t.Fatalf("apply with an unsettled write: %v, want ErrBlocked", err)
	}
	if n := len(l.w.contactsTargeting("team@lab.mail.onmicrosoft.com")); n != 0 {
		t.Fatalf("%d contacts made while blocked", n)
	}
	l.clk.After(2 * time.Minute) // past SettleAfter
	planAndApply(t, e, l.w, "team@lab.test")
	got, err := l.j.Get(en.ID)
	if err != nil || got.State != journal.Superseded {
		t.Errorf("the interrupted entry: %+v %v", got, err)
	}
	checkSecondRunIdle(t, e, l.w, "team@lab.test")
}

// A list hybridsync's own saga migrated with hybrid mail flow has what it
// needs: nothing to do, and its contact keeps the saga's markers.
func TestHybridFlowNothingToDoAfterTheSaga(t *testing.T) {
	l := newLab(t)
	e := l.env(nil)
	s, err := e.Run(t.Context(), l.start(t, e))
	if err != nil || s.State != StateMigrated {
		t.Fatalf("saga: %v %s", err, s.State)
	}
	p, err := e.PlanHybridFlow(t.Context(), l.w, hybridReq("sales@lab.test"))
	if err != nil || !p.Ready() || len(p.Actions) != 0 {
		t.Fatalf("plan after the saga: %v problems %+v actions %+v", err, p.Problems, p.Actions)
	}
	if !ad.EqualDN(p.ContactDN, s.Made.ContactDN) || !ad.EqualDN(p.DynamicListDN, s.Made.DynamicListDN) {
		t.Errorf("adopted %s and %s, want the saga's %s and %s", p.ContactDN, p.DynamicListDN, s.Made.ContactDN, s.Made.DynamicListDN)
	}
}
