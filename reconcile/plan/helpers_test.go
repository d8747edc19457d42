package plan

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/reconcile/proxycalc"
)

const (
	scopeOU    = "OU=Sync,DC=contoso,DC=com"
	excludedOU = "OU=Excluded,OU=Sync,DC=contoso,DC=com"
	initial    = "contoso.onmicrosoft.com"
)

var accepted = []string{"contoso.com", "fabrikam.com"}

// guid returns a registry-form GUID numbered n.
func guid(n int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n) }

func iid(t testing.TB, g string) string {
	t.Helper()
	id, err := ImmutableID(g)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// obj builds an AD recipient.
func obj(kind ad.Kind, cn string, n int, mail string, proxy ...string) *ad.Recipient {
	dn := "CN=" + cn + "," + scopeOU
	ou, _ := ad.ParentDN(dn)
	r := &ad.Recipient{DN: dn, OU: ou, GUID: guid(n), Kind: kind, Name: cn, Mail: mail,
		ProxyAddresses: ad.ParseProxyAddresses(proxy), USNChanged: int64(1000 + n)}
	switch kind {
	case ad.KindUser:
		r.ObjectClass = []string{"top", "person", "organizationalPerson", "user"}
		r.SAMAccountName = strings.ToLower(strings.ReplaceAll(cn, " ", ""))
	case ad.KindGroup:
		r.ObjectClass = []string{"top", "group"}
		r.SID = fmt.Sprintf("S-1-5-21-1-2-3-%d", 1000+n)
	case ad.KindContact:
		r.ObjectClass = []string{"top", "person", "organizationalPerson", "contact"}
	}
	return r
}

func user(cn string, n int, upn, mail string, proxy ...string) *ad.Recipient {
	r := obj(ad.KindUser, cn, n, mail, proxy...)
	r.UPN = upn
	return r
}

func adSnap(objs ...*ad.Recipient) ADSnapshot {
	return ADSnapshot{Objects: objs, Complete: true, Licensed: map[string]bool{}, Scope: ad.NewSyncScope([]string{scopeOU}, []string{excludedOU})}
}

func cloudSnap(objs ...*cloud.Object) CloudSnapshot {
	return CloudSnapshot{Objects: objs, Complete: true, AcceptedDomains: accepted, InitialDomain: initial}
}

func license(a ADSnapshot, rs ...*ad.Recipient) ADSnapshot {
	for _, r := range rs {
		a.Licensed[r.DN] = true
	}
	return a
}

// simulateSync projects a into c the way the lab's sync simulator does
// (without its quarantine of duplicates): every AD object in scope gets a
// twin whose addresses ProxyCalc computes from the twin it had; synced
// objects with no source are deleted; other cloud objects are kept.
func simulateSync(t testing.TB, a ADSnapshot, c CloudSnapshot) CloudSnapshot {
	t.Helper()
	j := JoinSnapshots(a, c, Options{})
	tenant := proxycalc.Tenant{InitialDomain: c.InitialDomain, VerifiedDomains: c.AcceptedDomains}
	licensed := map[string]bool{}
	for dn := range a.Licensed {
		licensed[DNKey(dn)] = true
	}
	out := CloudSnapshot{Complete: true, AcceptedDomains: c.AcceptedDomains, InitialDomain: c.InitialDomain}
	taken := map[string]string{} // lower address -> id
	for _, o := range j.CloudOnly {
		out.Objects = append(out.Objects, o)
		for addr := range cloudSMTP(o) {
			taken[strings.ToLower(addr)] = o.ID
		}
	}
	for _, p := range j.CloudManaged {
		out.Objects = append(out.Objects, p.Cloud)
	}
	for _, p := range j.TypeMismatches {
		out.Objects = append(out.Objects, p.Cloud)
	}
	type item struct {
		r    *ad.Recipient
		twin *cloud.Object
	}
	var items []item
	for _, p := range j.Pairs {
		items = append(items, item{p.AD, p.Cloud})
		for addr := range cloudSMTP(p.Cloud) {
			taken[strings.ToLower(addr)] = p.Cloud.ID
		}
	}
	for _, r := range j.ADOnly {
		items = append(items, item{r: r})
	}
	slices.SortFunc(items, func(x, y item) int { return adCmp(x.r, y.r) })
	for _, it := range items {
		r := it.r
		id := "obj-" + r.GUID
		var prev *proxycalc.Previous
		if it.twin != nil {
			id = it.twin.ID
			prev = &proxycalc.Previous{Mail: it.twin.Mail, MailNickname: it.twin.MailNickname, ProxyAddresses: it.twin.ProxyAddresses}
		}
		res := proxycalc.Compute(ProxyCalcInput(r, licensed[DNKey(r.DN)]), tenant, prev, proxycalc.Options{TakenMOERA: func(addr string) bool {
			h, ok := taken[strings.ToLower(addr)]
			return ok && h != id
		}})
		k, _ := CloudKind(r.Kind)
		o := &cloud.Object{Kind: k, ID: id, DisplayName: r.Name, Mail: res.Mail, MailNickname: res.MailNickname,
			ProxyAddresses: res.Values(), OnPremisesSyncEnabled: true, OnPremisesImmutableID: iid(t, r.GUID),
			OnPremisesSID: r.SID, OnPremisesDN: r.DN}
		if k == cloud.KindUser {
			o.UPN = r.UPN
			if d := domainOf(r.UPN); r.UPN == "" || !slices.ContainsFunc(c.AcceptedDomains, func(x string) bool { return strings.EqualFold(x, d) }) {
				o.UPN = r.SAMAccountName + "@" + c.InitialDomain
			}
		}
		for addr := range cloudSMTP(o) {
			taken[strings.ToLower(addr)] = id
		}
		out.Objects = append(out.Objects, o)
	}
	return out
}

// build runs Build and fails on error.
func build(t testing.TB, a ADSnapshot, c CloudSnapshot, opts Options) Plan {
	t.Helper()
	p, err := Build(a, c, opts)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return p
}

func render(t testing.TB, p Plan) string {
	t.Helper()
	var buf bytes.Buffer
	if err := p.Render(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// applyActions applies every action of p to a copy of a.
func applyActions(t testing.TB, a ADSnapshot, p Plan) ADSnapshot {
	t.Helper()
	byGUID := map[string][]Action{}
	for _, act := range p.Actions {
		byGUID[strings.ToLower(act.ObjectGUID)] = append(byGUID[strings.ToLower(act.ObjectGUID)], act)
	}
	out := a
	out.Objects = nil
	for _, r := range a.Objects {
		for _, act := range byGUID[strings.ToLower(r.GUID)] {
			if act.ObjectDN != r.DN {
				continue
			}
			nr, err := act.Apply(r)
			if err != nil {
				t.Fatalf("apply %s: %v", act.ObjectDN, err)
			}
			r = nr
		}
		out.Objects = append(out.Objects, r)
	}
	return out
}

func findingsOf(p Plan, k FindingKind) []Finding {
	var out []Finding
	for _, f := range p.Findings {
		if f.Kind == k {
			out = append(out, f)
		}
	}
	return out
}

func kinds(p Plan) []string {
	var out []string
	for _, f := range p.Findings {
		out = append(out, fmt.Sprintf("%s %s %s", f.Kind, f.Severity, f.ObjectDN))
	}
	return out
}
