package mailflow_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/agent/lab/mailflow"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/clock"
	"github.com/hybridsync/hybridsync/internal/retry"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func resolver(t *testing.T, l *labtest.Lab) (*mailflow.Resolver, cloud.Exchange, *adldap.Client) {
	t.Helper()
	tenant, err := l.State.Tenant(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := l.Client(t)
	return &mailflow.Resolver{AD: c, BaseDN: l.State.BaseDN, Exchange: tenant.Exchange()}, tenant.Exchange(), c
}

func resolve(t *testing.T, r *mailflow.Resolver, side mailflow.Side, addr string) mailflow.Resolution {
	t.Helper()
	res, err := r.Resolve(ctxT(t), side, addr)
	if err != nil {
		t.Fatalf("resolve %s %s: %v", addr, side, err)
	}
	return res
}

func ids(rs []mailflow.Recipient) []string {
	var out []string
	for _, r := range rs {
		out = append(out, strings.ToLower(r.ID))
	}
	slices.Sort(out)
	return out
}

// The resolver on seeded objects: a user, a group, the hybrid dynamic DL
// that resolves to exactly one contact, and that contact routing to the
// cloud-only list.
func TestLabResolveSeededObjects(t *testing.T) {
	l := labtest.Get(t)
	t.Parallel()
	m := l.Manifest
	if m.CloudDL == "" {
		t.Fatalf("this lab has no hybrid mail flow objects: provision a new one\n%s", l.ManifestJSON())
	}
	r, ex, c := resolver(t, l)
	ctx := ctxT(t)

	// A user: its mailbox, on both sides.
	user := m.CloudDLMembers[0]
	for _, side := range mailflow.Sides {
		res := resolve(t, r, side, user)
		if !res.Delivers() || len(res.Deliverable) != 1 || res.Holder == nil || len(res.Problems) != 0 {
			t.Errorf("user %s from %s: %+v", user, side, res)
		}
	}
	if res := resolve(t, r, mailflow.Cloud, user); res.Deliverable[0].Type != "UserMailbox" {
		t.Errorf("user in the cloud: %+v, want a UserMailbox", res.Deliverable)
	}

	// A group: its members on premises; its synced twin's in the cloud.
	phoenix, err := c.ReadRecipient(ctx, m.ManagedDL)
	if err != nil {
		t.Fatal(err)
	}
	onPrem := resolve(t, r, mailflow.OnPremises, phoenix.Mail)
	var want []string
	for _, dn := range phoenix.Members {
		want = append(want, strings.ToLower(dn))
	}
	slices.Sort(want)
	if !slices.Equal(ids(onPrem.Deliverable), want) || onPrem.Holder == nil || !ad.EqualDN(onPrem.Holder.ID, m.ManagedDL) {
		t.Errorf("group on premises reached %v, want its members %v", ids(onPrem.Deliverable), want)
	}
	inCloud := resolve(t, r, mailflow.Cloud, phoenix.Mail)
	if len(inCloud.Deliverable) != len(phoenix.Members) || inCloud.Holder == nil || inCloud.Holder.Type != "MailUniversalDistributionGroup" {
		t.Errorf("group in the cloud: holder %+v, %d deliverable, want its %d members", inCloud.Holder, len(inCloud.Deliverable), len(phoenix.Members))
	}

	// The hybrid dynamic DL: on premises its filter reaches the routing
	// contact only, which routes to the cloud list and its members.
	cloudDL, err := ex.GetDistributionGroup(ctx, m.CloudDL)
	if err != nil {
		t.Fatalf("the cloud-only list %s: %v", m.CloudDL, err)
	}
	members, err := ex.GroupMembers(ctx, cloudDL.ExternalDirectoryObjectID)
	if err != nil || len(members) != len(m.CloudDLMembers) {
		t.Fatalf("cloud list members %+v, %v; want %v", members, err, m.CloudDLMembers)
	}
	var wantCloud []string
	for _, mb := range members {
		wantCloud = append(wantCloud, strings.ToLower(mb.ExternalDirectoryObjectID))
	}
	slices.Sort(wantCloud)
	ddl := resolve(t, r, mailflow.OnPremises, m.CloudDL)
	if ddl.Holder == nil || !ad.EqualDN(ddl.Holder.ID, m.HybridDynamicDL) || ddl.Holder.Type != string(ad.KindDynamicDL) {
		t.Fatalf("holder of %s on premises: %+v, want the dynamic DL", m.CloudDL, ddl.Holder)
	}
	var fromDDL []mailflow.Hop
	for _, h := range ddl.Via {
		if ad.EqualDN(h.Parent, m.HybridDynamicDL) {
			fromDDL = append(fromDDL, h)
		}
	}
	if len(fromDDL) != 1 || !ad.EqualDN(fromDDL[0].ID, m.RoutingContact) || fromDDL[0].Type != string(ad.KindContact) {
		t.Errorf("the dynamic DL reached %+v, want exactly the routing contact", fromDDL)
	}
	if !slices.Equal(ids(ddl.Deliverable), wantCloud) || len(ddl.Problems) != 0 {
		t.Errorf("through the dynamic DL: %v (problems %v), want the cloud list's members %v", ids(ddl.Deliverable), ddl.Problems, wantCloud)
	}
	if dl := resolve(t, r, mailflow.Cloud, m.CloudDL); !slices.Equal(ids(dl.Deliverable), wantCloud) || dl.Holder.ID != cloudDL.ExternalDirectoryObjectID {
		t.Errorf("the cloud list in the cloud: %+v", dl)
	}

	// The routing contact, by its own address: to the cloud list.
	ct, err := c.ReadRecipient(ctx, m.RoutingContact)
	if err != nil {
		t.Fatal(err)
	}
	viaContact := resolve(t, r, mailflow.OnPremises, ct.Mail)
	if !slices.Equal(ids(viaContact.Deliverable), wantCloud) || !slices.ContainsFunc(viaContact.Via, func(h mailflow.Hop) bool {
		return h.ID == cloudDL.ExternalDirectoryObjectID && ad.EqualDN(h.Parent, m.RoutingContact)
	}) {
		t.Errorf("the routing contact: %+v, want the cloud list reached from it", viaContact)
	}

	// Nothing holds an unknown address, on either side.
	for _, side := range mailflow.Sides {
		if res := resolve(t, r, side, "nobody-here@"+m.MailDomain); res.Delivers() || res.Holder != nil || len(res.Problems) == 0 {
			t.Errorf("unknown address from %s: %+v", side, res)
		}
	}
}

// The probe measures how long an address reached nobody: a contact
// routing to a cloud list loses its target for about two seconds.
func TestLabProbeMeasuresAnOutage(t *testing.T) {
	l := labtest.Get(t)
	t.Parallel()
	m := l.Manifest
	r, ex, c := resolver(t, l)
	ctx := ctxT(t)
	ou := l.OU(t) // outside the sync scope: the contact stays on premises
	ouName, err := ad.RDNValue(ou)
	if err != nil {
		t.Fatal(err)
	}
	suffix := strings.ToLower(ouName[len(ouName)-8:])
	alias := "probe-" + suffix
	dl, err := ex.NewDistributionGroup(ctx, cloud.NewDistributionGroup{Name: "Probe " + suffix, Alias: alias, PrimarySMTPAddress: alias + "@" + m.MailDomain,
		Type: "Distribution", Members: m.CloudDLMembers[:1]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ex.RemoveDistributionGroup(context.Background(), dl.ExternalDirectoryObjectID); err != nil && !errors.Is(err, retry.ErrNotFound) {
			t.Errorf("remove the cloud list: %v", err)
		}
	})
	routing := alias + "@" + strings.TrimSuffix(l.State.InitialDomain, ".onmicrosoft.com") + ".mail.onmicrosoft.com"
	if !slices.Contains(dl.EmailAddresses, "smtp:"+routing) {
		t.Fatalf("new cloud list's addresses %v lack its routing address %s", dl.EmailAddresses, routing)
	}
	contactMail := alias + "-contact@" + m.MailDomain
	if _, err := c.CreateContact(ctx, ou, adldap.Contact{Name: "Probe contact", Mail: contactMail, TargetAddress: "SMTP:" + routing,
		ProxyAddresses: []string{"SMTP:" + contactMail}}); err != nil {
		t.Fatal(err)
	}

	p := mailflow.StartProbe(ctx, r.Resolve, []string{contactMail, dl.PrimarySMTPAddress}, 200*time.Millisecond, clock.System{})
	waitRounds(t, p, 3)
	// The routing address leaves the list for about two seconds.
	without := slices.DeleteFunc(slices.Clone(dl.EmailAddresses), func(a string) bool { return strings.EqualFold(a, "smtp:"+routing) })
	if err := ex.SetDistributionGroup(ctx, dl.ExternalDirectoryObjectID, cloud.GroupChanges{EmailAddresses: &without}); err != nil {
		t.Fatal(err)
	}
	removed := time.Now()
	time.Sleep(2 * time.Second)
	if err := ex.SetDistributionGroup(ctx, dl.ExternalDirectoryObjectID, cloud.GroupChanges{EmailAddresses: &dl.EmailAddresses}); err != nil {
		t.Fatal(err)
	}
	gap := time.Since(removed)
	rounds := p.Report().Rounds
	waitRounds(t, p, rounds+3)
	rep := p.Stop()

	contact, _ := rep.Find(contactMail, mailflow.OnPremises)
	t.Logf("routing address gone for %s; the probe saw an outage of %s (%d of %d samples, %d rounds)",
		gap, contact.LongestOutage, contact.Undelivered, contact.Samples, rep.Rounds)
	// The window is measured from the first sample that found no
	// recipient to the first that found one again: within a round (on a
	// loaded machine, up to a couple of seconds) of the real one.
	if contact.Errors != 0 || contact.Undelivered == 0 || contact.LongestOutage < gap-2*time.Second || contact.LongestOutage > gap+2*time.Second {
		t.Errorf("contact on premises: outage %s over %d undelivered samples (%d errors, last %v), want about %s",
			contact.LongestOutage, contact.Undelivered, contact.Errors, contact.LastError, gap)
	}
	if !contact.Last.Delivers() {
		t.Errorf("contact on premises does not deliver after the address came back: %+v", contact.Last)
	}
	// The list's own address never stopped working in the cloud; the
	// contact, not synced, never existed there.
	if list, _ := rep.Find(dl.PrimarySMTPAddress, mailflow.Cloud); list.LongestOutage != 0 || list.Samples < 6 || list.Errors != 0 {
		t.Errorf("cloud list in the cloud: %+v", list)
	}
	if inCloud, _ := rep.Find(contactMail, mailflow.Cloud); inCloud.Undelivered != inCloud.Samples || inCloud.LongestOutage < gap {
		t.Errorf("contact in the cloud: %+v, want no recipient all along", inCloud)
	}
}

// waitRounds waits until the probe has begun n rounds.
func waitRounds(t *testing.T, p *mailflow.Probe, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for p.Report().Rounds < n {
		if time.Now().After(deadline) {
			t.Fatalf("the probe did not reach %d rounds in a minute (%d)", n, p.Report().Rounds)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
