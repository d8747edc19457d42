package plan

import (
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
)

// cleanState draws AD objects whose attributes agree with each other
// (mail is the one SMTP: value, every address valid, accepted and unique).
func cleanState(r *rand.Rand, n int) ADSnapshot {
	a := adSnap()
	domains := []string{"contoso.com", "fabrikam.com", "Contoso.com"}
	for i := 0; i < n; i++ {
		local := fmt.Sprintf("obj%d", i)
		var o *ad.Recipient
		switch r.Intn(5) {
		case 0:
			o = obj(ad.KindGroup, "Group "+local, i, local+"@"+domains[r.Intn(len(domains))])
		case 1:
			o = obj(ad.KindContact, "Contact "+local, i, local+"@partner.example")
		default:
			o = user("User "+local, i, local+".upn@contoso.com", local+"@"+domains[r.Intn(len(domains))])
			if r.Intn(4) == 0 {
				o.UPN = o.Mail
			}
			if r.Intn(2) == 0 {
				a.Licensed[strings.ToUpper(o.DN)] = true
			}
			if r.Intn(6) == 0 {
				o.RemoteRecipientType = 1
			}
		}
		if r.Intn(5) > 0 { // else mail only
			proxy := []string{"SMTP:" + o.Mail}
			for k := r.Intn(4); k > 0; k-- {
				proxy = append(proxy, fmt.Sprintf("smtp:%s.alias%d@%s", local, k, domains[r.Intn(2)]))
			}
			if r.Intn(2) == 0 {
				proxy = append(proxy, "x500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn="+local)
			}
			o.ProxyAddresses = ad.ParseProxyAddresses(proxy)
		}
		a.Objects = append(a.Objects, o)
	}
	return a
}

// messyState draws AD objects and a cloud from small pools, so that
// duplicates, dropped values, mail changes, drift, orphans and
// cloud-only objects all occur.
func messyState(t testing.TB, r *rand.Rand, n int) (ADSnapshot, CloudSnapshot, Options) {
	pick := func(s []string) string { return s[r.Intn(len(s))] }
	locals := []string{"a", "b", "c", "d", "jdoe", "John.Doe", "sales", "x y", "a..b"}
	domains := []string{"contoso.com", "CONTOSO.com", "fabrikam.com", "contoso.onmicrosoft.com", "notours.org"}
	addr := func() string { return pick(locals) + "@" + pick(domains) }
	value := func() string {
		switch r.Intn(8) {
		case 0:
			return "x500:/o=ExchangeLabs/cn=" + pick(locals)
		case 1:
			return pick([]string{"X400:c=US;a= ;p=Contoso;s=Doe;", "MSMAIL:CONTOSO/HQ/DOE", "SIP:" + addr(), "noprefix@contoso.com"})
		case 2, 3:
			return "SMTP:" + addr()
		default:
			return "smtp:" + addr()
		}
	}
	a := adSnap()
	for i := 0; i < n; i++ {
		kind := []ad.Kind{ad.KindUser, ad.KindUser, ad.KindUser, ad.KindGroup, ad.KindContact, ad.KindDynamicDL}[r.Intn(6)]
		o := obj(kind, fmt.Sprintf("Obj %d", i), i, "")
		if kind == ad.KindUser {
			o.UPN = pick([]string{"", fmt.Sprintf("u%d@contoso.com", i), fmt.Sprintf("u%d@notours.org", i), addr()})
			if r.Intn(2) == 0 {
				a.Licensed[o.DN] = true
			}
		}
		if r.Intn(4) > 0 {
			o.Mail = addr()
		}
		if r.Intn(5) == 0 {
			o.MailNickname = pick(locals)
		}
		var proxy []string
		for k := r.Intn(5); k > 0; k-- {
			proxy = append(proxy, value())
		}
		o.ProxyAddresses = ad.ParseProxyAddresses(proxy)
		switch r.Intn(12) {
		case 0:
			o.DN = fmt.Sprintf("CN=Obj %d,%s", i, excludedOU)
		case 1:
			o.DN = fmt.Sprintf("CN=Obj %d,OU=Elsewhere,DC=contoso,DC=com", i)
		case 2:
			o.GUID = "broken"
		}
		if o.Mail == "" && len(proxy) == 0 {
			o.Mail = addr()
		}
		a.Objects = append(a.Objects, o)
	}
	// Sync an earlier state, then change some objects in AD.
	c := cloudSnap()
	for i := 0; i < 3; i++ {
		c.Objects = append(c.Objects, &cloud.Object{Kind: cloud.KindGroup, ID: fmt.Sprintf("cloudonly-%d", i),
			DisplayName: fmt.Sprintf("Cloud %d", i), Mail: addr(), ProxyAddresses: []string{"SMTP:" + addr()}})
	}
	good := a
	good.Objects = nil
	for _, o := range a.Objects {
		if o.GUID != "broken" {
			good.Objects = append(good.Objects, o)
		}
	}
	c = simulateSync(t, good, c)
	next := a
	next.Objects = nil
	for _, o := range a.Objects {
		o2 := *o
		if r.Intn(3) == 0 {
			o2.Mail = addr()
			o2.USNChanged++
		}
		if r.Intn(4) == 0 {
			o2.ProxyAddresses = ad.ParseProxyAddresses(append(o.ProxyAddresses.Raw(), value()))
			o2.USNChanged++
		}
		if r.Intn(15) != 0 { // else deleted from AD: an orphan
			next.Objects = append(next.Objects, &o2)
		}
	}
	for i, o := range c.Objects {
		if r.Intn(8) == 0 {
			o2 := *o
			o2.ProxyAddresses = append(append([]string(nil), o.ProxyAddresses...), fmt.Sprintf("smtp:cloudedit%d@contoso.com", i))
			c.Objects[i] = &o2
		}
	}
	opts := Options{CertificateUserIDs: func(r *ad.Recipient) []string {
		if r.UPN == "" {
			return nil
		}
		return []string{"X509:<PN>" + r.UPN, "x509:<PN>" + r.UPN}
	}}
	return next, c, opts
}

// TestPlanStateAgainstItselfProposesNothing: a cloud synced from AD, planned
// against that same AD, yields no action and nothing but explanations.
func TestPlanStateAgainstItselfProposesNothing(t *testing.T) {
	for seed := int64(1); seed <= 40; seed++ {
		r := rand.New(rand.NewSource(seed))
		a := cleanState(r, 1+r.Intn(25))
		c := simulateSync(t, a, cloudSnap())
		c = simulateSync(t, a, c)
		p := build(t, a, c, Options{})
		if len(p.Actions) != 0 || p.Summary.Errors+p.Summary.Warnings != 0 || p.Summary.Deletes+p.Summary.Adds != 0 {
			t.Fatalf("seed %d: actions %d, findings %q", seed, len(p.Actions), kinds(p))
		}
		for _, f := range p.Findings {
			if f.Kind != UPNSecondaryByDesign {
				t.Fatalf("seed %d: unexpected %s", seed, f.Kind)
			}
		}
	}
}

// TestSyncedMessyStateHasNoJoinOrDriftFindings: whatever AD holds, a cloud
// just synced from it shows no drift and no join problems.
func TestSyncedMessyStateHasNoJoinOrDriftFindings(t *testing.T) {
	for seed := int64(1); seed <= 60; seed++ {
		r := rand.New(rand.NewSource(seed))
		a, c, opts := messyState(t, r, 5+r.Intn(30))
		good := a
		good.Objects = nil
		for _, o := range a.Objects {
			if o.GUID != "broken" {
				good.Objects = append(good.Objects, o)
			}
		}
		c = simulateSync(t, good, simulateSync(t, good, c))
		p := build(t, good, c, opts)
		for _, f := range p.Findings {
			switch f.Kind {
			case AddressDrift, MissingInAD, MissingInCloud, TypeMismatch, AnchorInvalid:
				t.Fatalf("seed %d: %s %s: %s", seed, f.Kind, f.ObjectDN, f.Evidence)
			}
		}
	}
}

// TestPlanIsDeterministic: input order does not change the plan, its
// fingerprint or its text.
func TestPlanIsDeterministic(t *testing.T) {
	for seed := int64(1); seed <= 60; seed++ {
		r := rand.New(rand.NewSource(seed))
		a, c, opts := messyState(t, r, 5+r.Intn(30))
		opts.DeleteThreshold = -1
		p1 := build(t, a, c, opts)
		for k := 0; k < 3; k++ {
			a2, c2 := a, c
			a2.Objects = append([]*ad.Recipient(nil), a.Objects...)
			c2.Objects = append([]*cloud.Object(nil), c.Objects...)
			c2.AcceptedDomains = append([]string(nil), c.AcceptedDomains...)
			r.Shuffle(len(a2.Objects), func(i, j int) { a2.Objects[i], a2.Objects[j] = a2.Objects[j], a2.Objects[i] })
			r.Shuffle(len(c2.Objects), func(i, j int) { c2.Objects[i], c2.Objects[j] = c2.Objects[j], c2.Objects[i] })
			r.Shuffle(len(c2.AcceptedDomains), func(i, j int) {
				c2.AcceptedDomains[i], c2.AcceptedDomains[j] = c2.AcceptedDomains[j], c2.AcceptedDomains[i]
			})
			p2 := build(t, a2, c2, opts)
			if !reflect.DeepEqual(p1, p2) {
				t.Fatalf("seed %d: plans differ after shuffling:\n%s\n---\n%s", seed, render(t, p1), render(t, p2))
			}
			if p1.Fingerprint != p2.Fingerprint || render(t, p1) != render(t, p2) {
				t.Fatalf("seed %d: fingerprint or text differ", seed)
			}
		}
	}
}

// TestApplyingThePlanThenReplanningProposesNothing: applying every action
// to AD leaves nothing to do, before and after the next sync.
func TestApplyingThePlanThenReplanningProposesNothing(t *testing.T) {
	total := 0
	for seed := int64(1); seed <= 80; seed++ {
		r := rand.New(rand.NewSource(seed))
		a, c, opts := messyState(t, r, 5+r.Intn(30))
		opts.DeleteThreshold = -1
		p := build(t, a, c, opts)
		total += len(p.Actions)
		a2 := applyActions(t, a, p)
		p2 := build(t, a2, c, opts)
		if len(p2.Actions) != 0 {
			t.Fatalf("seed %d: re-plan proposes %+v", seed, p2.Actions)
		}
		if p2.Fingerprint == p.Fingerprint && len(p.Actions) > 0 {
			t.Errorf("seed %d: fingerprint unchanged by applying the plan", seed)
		}
		good := a2
		good.Objects = nil
		for _, o := range a2.Objects {
			if o.GUID != "broken" {
				good.Objects = append(good.Objects, o)
			}
		}
		p3 := build(t, good, simulateSync(t, good, c), opts)
		if len(p3.Actions) != 0 {
			t.Fatalf("seed %d: after sync: actions %+v", seed, p3.Actions)
		}
		// What is left is what the plan could not fix automatically.
		for _, f := range findingsOf(p3, MailNotPrimary) {
			if !strings.HasPrefix(f.Fix, "Not proposed automatically") {
				t.Fatalf("seed %d: after sync: %s: %s", seed, f.ObjectDN, f.Evidence)
			}
		}
	}
	if total == 0 {
		t.Fatal("the generator never produced an action")
	}
}

func orphans(n int) []*cloud.Object {
	var out []*cloud.Object
	for i := 0; i < n; i++ {
		out = append(out, &cloud.Object{Kind: cloud.KindUser, ID: fmt.Sprintf("orphan-%04d", i),
			OnPremisesSyncEnabled: true, OnPremisesImmutableID: fmt.Sprintf("orphan%d", i)})
	}
	return out
}

func TestDeleteThreshold(t *testing.T) {
	kept := user("Kept", 1, "kept@contoso.com", "kept@contoso.com")
	base := simulateSync(t, adSnap(kept), cloudSnap())
	withOrphans := func(n int) CloudSnapshot {
		c := base
		c.Objects = append(append([]*cloud.Object(nil), base.Objects...), orphans(n)...)
		return c
	}
	tests := []struct {
		name    string
		orphans int
		opts    Options
		refused string // substring of the error, "" when accepted
	}{
		{name: "default threshold, at it", orphans: 500},
		{name: "default threshold, over it", orphans: 501, refused: "501 deletions exceed the delete threshold of 500"},
		{name: "over, allowed", orphans: 501, opts: Options{AllowDeletes: true}},
		{name: "custom threshold", orphans: 3, opts: Options{DeleteThreshold: 2}, refused: "3 deletions exceed the delete threshold of 2"},
		{name: "threshold off", orphans: 600, opts: Options{DeleteThreshold: -1}},
		{name: "percentage", orphans: 3, opts: Options{DeletePercent: 50}, refused: "3 deletions are 75.0% of 4 synced objects, more than 50.0%"},
		{name: "percentage, allowed", orphans: 3, opts: Options{DeletePercent: 50, AllowDeletes: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Build(adSnap(kept), withOrphans(tc.orphans), tc.opts)
			if p.Summary.Deletes != tc.orphans {
				t.Errorf("Deletes = %d, want %d", p.Summary.Deletes, tc.orphans)
			}
			if tc.refused == "" {
				if err != nil || p.Refused != "" {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var le *LimitError
			if !errors.Is(err, ErrLimitExceeded) || !errors.As(err, &le) || le.Deletes != tc.orphans {
				t.Fatalf("err = %v, want a LimitError for %d deletions", err, tc.orphans)
			}
			if !strings.Contains(err.Error(), tc.refused) || p.Refused != err.Error() {
				t.Errorf("err = %q, Refused %q; want %q", err, p.Refused, tc.refused)
			}
			if !strings.Contains(render(t, p), "Error: plan refused: "+tc.refused) {
				t.Error("Render does not show the refusal")
			}
		})
	}
}

func TestChangeLimits(t *testing.T) {
	a := adSnap(
		user("One", 1, "one@contoso.com", "one.new@contoso.com", "SMTP:one@contoso.com"),
		user("Two", 2, "two@contoso.com", "two.new@contoso.com", "SMTP:two@contoso.com"),
		user("Three", 3, "three@contoso.com", "three@contoso.com", "SMTP:three@contoso.com"),
	)
	c := simulateSync(t, a, cloudSnap())
	if _, err := Build(a, c, Options{ChangeThreshold: 1}); !errors.Is(err, ErrLimitExceeded) || !strings.Contains(err.Error(), "2 changes exceed the change threshold of 1") {
		t.Errorf("ChangeThreshold: err = %v", err)
	}
	if _, err := Build(a, c, Options{ChangePercent: 50}); err == nil || !strings.Contains(err.Error(), "66.7% of 3 objects in scope") {
		t.Errorf("ChangePercent: err = %v", err)
	}
	if _, err := Build(a, c, Options{ChangeThreshold: 1, AllowChanges: true}); err != nil {
		t.Errorf("AllowChanges: err = %v", err)
	}
	if _, err := Build(a, c, Options{ChangeThreshold: 2}); err != nil {
		t.Errorf("at the threshold: err = %v", err)
	}
}

// TestIncompleteReadNeverDeletes: with either read cut short, orphans are
// reported but never counted or proposed as deletions, so no threshold
// trips either.
func TestIncompleteReadNeverDeletes(t *testing.T) {
	kept := user("Kept", 1, "kept@contoso.com", "kept@contoso.com")
	unanchored := user("Unanchored", 2, "un@contoso.com", "un@contoso.com")
	unanchored.GUID = "?"
	tests := []struct {
		name    string
		adOK    bool
		cloudOK bool
		extra   []*ad.Recipient
		reason  string
	}{
		{name: "AD incomplete", cloudOK: true, reason: "AD read incomplete"},
		{name: "cloud incomplete", adOK: true, reason: "cloud read incomplete"},
		{name: "both incomplete", reason: "AD read incomplete, cloud read incomplete"},
		{name: "unanchored object", adOK: true, cloudOK: true, extra: []*ad.Recipient{unanchored}, reason: "1 AD objects in scope have no usable anchor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := adSnap(append([]*ad.Recipient{kept}, tc.extra...)...)
			a.Complete = tc.adOK
			c := simulateSync(t, adSnap(kept), cloudSnap())
			c.Objects = append(c.Objects, orphans(700)...)
			c.Complete = tc.cloudOK
			p, err := Build(a, c, Options{DeleteThreshold: 1, DeletePercent: 1})
			if err != nil {
				t.Fatalf("Build refused an incomplete read: %v", err)
			}
			if p.Summary.Deletes != 0 {
				t.Errorf("Deletes = %d, want 0", p.Summary.Deletes)
			}
			miss := findingsOf(p, MissingInAD)
			if len(miss) != 700 {
				t.Fatalf("MissingInAD = %d, want 700", len(miss))
			}
			for _, f := range miss {
				if !strings.Contains(f.Explanation, "not proposing deletion") || !strings.Contains(f.Explanation, tc.reason) {
					t.Fatalf("explanation: %s", f.Explanation)
				}
			}
			if !strings.Contains(render(t, p), "Plan: 0 to change") {
				t.Error("summary line missing")
			}
		})
	}
}
