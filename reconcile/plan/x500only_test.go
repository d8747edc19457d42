package plan

import (
	"slices"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/reconcile/proxycalc"
)

// TestMailChangeAfterX500Writeback replays the x500-only case (the mail
// attribute is changed but Exchange Online keeps the old address): a
// licensed user with only mail syncs; Exchange hybrid writes an x500 back
// to proxyAddresses; mail is then changed, and the cloud keeps the old
// address, since ProxyCalc reads proxyAddresses and not mail (KB 3190357).
// The values are those of Tim McMichael's article "Office 365: Provisioning
// Exchange Online mailboxes with only a mail attribute…" (see
// reconcile/proxycalc/doc.go). The plan must say so, propose the dual
// write, and propose nothing once the write is applied.
func TestMailChangeAfterX500Writeback(t *testing.T) {
	const (
		dn   = "CN=Mail Only,OU=Users,OU=Objects,DC=home,DC=e-domain,DC=com"
		x500 = "x500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=233c7693141f41d2b6ad1a2e24a5bf63-eed81dfa-24"
		old  = "MailOnly@e-domain.net"
		nw   = "TotallyNewAddress@e-domain.com"
	)
	u := &ad.Recipient{DN: dn, GUID: "f0bc7fcd-a31e-4f7a-9c71-be9d948c3f6d", Kind: ad.KindUser, Name: "Mail Only",
		ObjectClass: []string{"top", "person", "organizationalPerson", "user"}, SAMAccountName: "mailonly",
		UPN: "mail.only@e-domain.com", Mail: old, USNChanged: 5000}
	a := ADSnapshot{Objects: []*ad.Recipient{u}, Complete: true, Licensed: map[string]bool{strings.ToUpper(dn): true},
		Scope: ad.NewSyncScope([]string{"OU=Objects,DC=home,DC=e-domain,DC=com"}, nil)}
	c := CloudSnapshot{Complete: true, AcceptedDomains: []string{"e-domain.com", "e-domain.net"}, InitialDomain: "domain.onmicrosoft.com"}

	// First sync: mail only, licensed.
	c = simulateSync(t, a, c)
	// Exchange hybrid writes the x500 back; the next sync changes nothing.
	u2 := *u
	u2.ProxyAddresses, u2.USNChanged = ad.ParseProxyAddresses([]string{x500}), 5001
	a.Objects = []*ad.Recipient{&u2}
	c = simulateSync(t, a, c)
	// mail changes; the sync keeps the old primary.
	u3 := u2
	u3.Mail, u3.USNChanged = nw, 5002
	a.Objects = []*ad.Recipient{&u3}
	c = simulateSync(t, a, c)
	if got := c.Objects[0].Mail; got != old {
		t.Fatalf("setup: cloud mail = %s, want the old %s (kept previous primary)", got, old)
	}

	p := build(t, a, c, Options{})
	mnp := findingsOf(p, MailNotPrimary)
	if len(mnp) != 1 {
		t.Fatalf("MailNotPrimary findings = %d, want 1; all: %q", len(mnp), kinds(p))
	}
	f := mnp[0]
	if f.Severity != SeverityError || f.Rule != proxycalc.RuleKeptPreviousPrimary {
		t.Errorf("severity %s rule %s, want error kept-previous-primary", f.Severity, f.Rule)
	}
	for _, want := range []string{dn, nw, old, "x500:/o=ExchangeLabs", "no SMTP: value"} {
		if !strings.Contains(f.Explanation, want) {
			t.Errorf("explanation lacks %q:\n%s", want, f.Explanation)
		}
	}
	if !strings.Contains(f.Fix, "SMTP:"+nw) || !strings.Contains(f.Fix, "smtp:"+old) {
		t.Errorf("fix = %s", f.Fix)
	}
	if len(p.Actions) != 1 || f.Action == nil || f.Action != &p.Actions[0] {
		t.Fatalf("actions = %+v, finding action %p", p.Actions, f.Action)
	}
	act := p.Actions[0]
	if act.Kind != ActionDualWritePrimary || len(act.Delete) != 0 ||
		!slices.Equal(act.Add, []string{"SMTP:" + nw, "smtp:" + old}) ||
		!slices.Equal(act.BeforeProxyAddresses, []string{x500}) || act.USNChanged != 5002 {
		t.Errorf("action = %+v", act)
	}
	// The modify asserts the mail it was planned from (deleting and
	// re-adding it), then adds the addresses.
	if got := act.Changes(); len(got) != 3 ||
		got[0].Op != ad.DeleteValues || got[0].Attr != "mail" || !slices.Equal(got[0].Values, []string{nw}) ||
		got[1].Op != ad.AddValues || got[1].Attr != "mail" || !slices.Equal(got[1].Values, []string{nw}) ||
		got[2].Op != ad.AddValues || got[2].Attr != "proxyAddresses" {
		t.Errorf("Changes() = %+v", got)
	}
	if len(findingsOf(p, AddressDrift)) != 0 {
		t.Errorf("drift reported for the seed case: %q", kinds(p))
	}

	// Apply the action in memory: the next plan proposes nothing, even
	// before the sync has run.
	a2 := applyActions(t, a, p)
	if got := a2.Objects[0].ProxyAddresses.Raw(); !slices.Equal(got, []string{x500, "SMTP:" + nw, "smtp:" + old}) {
		t.Errorf("proxyAddresses after apply = %q", got)
	}
	p2 := build(t, a2, c, Options{})
	if len(p2.Actions) != 0 || len(findingsOf(p2, MailNotPrimary)) != 0 {
		t.Errorf("after apply: actions %+v, findings %q", p2.Actions, kinds(p2))
	}
	// The stale plan is refused against the changed object.
	if _, err := act.Apply(a2.Objects[0]); err == nil {
		t.Error("applying the action twice succeeded")
	}
	// After the sync the cloud follows mail and keeps the old address.
	c2 := simulateSync(t, a2, c)
	if o := c2.Objects[0]; o.Mail != nw || !slices.Contains(o.ProxyAddresses, "smtp:"+old) {
		t.Errorf("cloud after sync: mail %s, proxyAddresses %q", o.Mail, o.ProxyAddresses)
	}
	p3 := build(t, a2, c2, Options{})
	if len(p3.Actions) != 0 || p3.Summary.Errors+p3.Summary.Warnings != 0 {
		t.Errorf("after sync: actions %+v, findings %q", p3.Actions, kinds(p3))
	}
}

// TestMailNotPrimaryAction covers the shapes of proxyAddresses the dual
// write handles.
func TestMailNotPrimaryAction(t *testing.T) {
	tests := []struct {
		name         string
		mail         string
		proxy        []string
		wantDel      []string
		wantAdd      []string
		wantNoAction string // substring of Fix when no action is proposed
	}{
		{name: "old primary demoted", mail: "new@contoso.com", proxy: []string{"SMTP:old@contoso.com", "smtp:alias@contoso.com"},
			wantDel: []string{"SMTP:old@contoso.com"}, wantAdd: []string{"SMTP:new@contoso.com", "smtp:old@contoso.com"}},
		{name: "mail is a secondary", mail: "new@contoso.com", proxy: []string{"SMTP:old@contoso.com", "smtp:New@contoso.com"},
			wantDel: []string{"SMTP:old@contoso.com", "smtp:New@contoso.com"}, wantAdd: []string{"SMTP:new@contoso.com", "smtp:old@contoso.com"}},
		{name: "old primary already a secondary", mail: "new@contoso.com", proxy: []string{"SMTP:old@contoso.com", "smtp:OLD@contoso.com"},
			wantDel: []string{"SMTP:old@contoso.com"}, wantAdd: []string{"SMTP:new@contoso.com"}},
		{name: "two primaries, one is mail", mail: "new@contoso.com", proxy: []string{"SMTP:a@contoso.com", "SMTP:new@contoso.com"},
			wantDel: []string{"SMTP:a@contoso.com"}, wantAdd: []string{"smtp:a@contoso.com"}},
		{name: "secondaries only", mail: "new@contoso.com", proxy: []string{"smtp:b@contoso.com"},
			wantAdd: []string{"SMTP:new@contoso.com"}},
		{name: "domain not accepted", mail: "new@elsewhere.org", proxy: []string{"SMTP:old@contoso.com"},
			wantNoAction: "elsewhere.org is not an accepted domain"},
		{name: "mail held by another object", mail: "taken@contoso.com", proxy: []string{"SMTP:old@contoso.com"},
			wantNoAction: "also held by another object"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := user("Subject", 100+i, "subject@contoso.com", tc.mail, tc.proxy...)
			other := user("Other", 1, "other@contoso.com", "taken@contoso.com", "SMTP:taken@contoso.com")
			p := build(t, adSnap(u, other), cloudSnap(), Options{})
			fs := findingsOf(p, MailNotPrimary)
			if len(fs) != 1 || fs[0].ObjectDN != u.DN {
				t.Fatalf("MailNotPrimary = %+v; all %q", fs, kinds(p))
			}
			f := fs[0]
			if tc.wantNoAction != "" {
				if f.Action != nil || len(p.Actions) != 0 || !strings.Contains(f.Fix, tc.wantNoAction) {
					t.Errorf("action %+v, fix %q; want none and %q", f.Action, f.Fix, tc.wantNoAction)
				}
				return
			}
			if f.Action == nil {
				t.Fatalf("no action; fix %q", f.Fix)
			}
			if !slices.Equal(f.Action.Delete, tc.wantDel) || !slices.Equal(f.Action.Add, tc.wantAdd) {
				t.Errorf("delete %q add %q, want %q %q", f.Action.Delete, f.Action.Add, tc.wantDel, tc.wantAdd)
			}
			for _, want := range []string{u.DN, tc.mail} {
				if !strings.Contains(f.Explanation, want) {
					t.Errorf("explanation lacks %q: %s", want, f.Explanation)
				}
			}
			a2 := applyActions(t, adSnap(u, other), p)
			if p2 := build(t, a2, cloudSnap(), Options{}); len(p2.Actions) != 0 || len(findingsOf(p2, MailNotPrimary)) != 0 {
				t.Errorf("after apply: %q", kinds(p2))
			}
		})
	}
}

func TestMailNotPrimaryNotForMalformedMail(t *testing.T) {
	u := user("Bad Mail", 1, "bad@contoso.com", "john doe@contoso.com", "SMTP:john.doe@contoso.com")
	p := build(t, adSnap(u), cloudSnap(), Options{})
	if n := len(findingsOf(p, MailNotPrimary)); n != 0 || len(p.Actions) != 0 {
		t.Errorf("MailNotPrimary %d, actions %d; want 0, 0", n, len(p.Actions))
	}
	fs := findingsOf(p, AddressDropped)
	if len(fs) != 1 || fs[0].Attribute != "mail" || !strings.Contains(fs[0].Explanation, "john doe@contoso.com") {
		t.Errorf("AddressDropped = %+v", fs)
	}
}

func TestActionCheckDetectsStaleness(t *testing.T) {
	u := user("Subject", 1, "s@contoso.com", "new@contoso.com", "SMTP:old@contoso.com")
	p := build(t, adSnap(u), cloudSnap(), Options{})
	if len(p.Actions) != 1 {
		t.Fatalf("actions = %d", len(p.Actions))
	}
	act := p.Actions[0]
	if err := act.Check(u); err != nil {
		t.Fatalf("Check(unchanged) = %v", err)
	}
	changed := []func(r *ad.Recipient){
		func(r *ad.Recipient) { r.USNChanged++ },
		func(r *ad.Recipient) { r.Mail = "other@contoso.com" },
		func(r *ad.Recipient) { r.GUID = guid(99) },
		func(r *ad.Recipient) {
			r.ProxyAddresses = ad.ParseProxyAddresses([]string{"SMTP:old@contoso.com", "smtp:x@contoso.com"})
		},
	}
	for i, change := range changed {
		r := *u
		change(&r)
		if err := act.Check(&r); err == nil {
			t.Errorf("change %d: Check = nil, want ErrStale", i)
		}
	}
}

// The dual write keeps the address the cloud holds as its primary today
// in AD, in the same modify, even when it is also the UPN: the cloud's
// UPN rule would keep it only until the UPN changes. Before the fix the
// UPN case added SMTP:<new mail> and nothing else.
func TestDualWriteKeepsTheCloudPrimaryEvenWhenItIsTheUPN(t *testing.T) {
	const (
		dn   = "CN=Mail Only,OU=Users,OU=Objects,DC=home,DC=e-domain,DC=com"
		x500 = "x500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=mailonly"
		old  = "mail.only@e-domain.com"
		nw   = "renamed@e-domain.com"
	)
	u := &ad.Recipient{DN: dn, GUID: "f0bc7fcd-a31e-4f7a-9c71-be9d948c3f6d", Kind: ad.KindUser, Name: "Mail Only",
		ObjectClass: []string{"top", "person", "organizationalPerson", "user"}, SAMAccountName: "mailonly",
		UPN: old, Mail: old, USNChanged: 5000}
	a := ADSnapshot{Objects: []*ad.Recipient{u}, Complete: true, Licensed: map[string]bool{},
		Scope: ad.NewSyncScope([]string{"OU=Objects,DC=home,DC=e-domain,DC=com"}, nil)}
	c := simulateSync(t, a, CloudSnapshot{Complete: true, AcceptedDomains: []string{"e-domain.com"}, InitialDomain: "domain.onmicrosoft.com"})
	u2 := *u
	u2.ProxyAddresses, u2.USNChanged = ad.ParseProxyAddresses([]string{x500}), 5001
	u2.Mail = nw
	a.Objects = []*ad.Recipient{&u2}
	c = simulateSync(t, a, c)
	if got := c.Objects[0].Mail; got != old {
		t.Fatalf("setup: cloud mail %s, want the old %s", got, old)
	}
	p := build(t, a, c, Options{})
	if len(p.Actions) != 1 || !slices.Equal(p.Actions[0].Add, []string{"SMTP:" + nw, "smtp:" + old}) {
		t.Fatalf("actions %+v, want SMTP:%s and smtp:%s added", p.Actions, nw, old)
	}
}
