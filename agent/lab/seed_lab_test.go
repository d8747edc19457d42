package lab_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/cloud"
)

// The default lab holds what a migration test needs, recorded in the
// Manifest: lists a migration can move, whose every member, owner,
// moderator and restricted sender is a cloud recipient; one group per
// reason a migration must refuse; and the hybrid mail flow a migration
// leaves behind, both halves.
func TestLabSeedForMigrations(t *testing.T) {
	l := labtest.Get(t)
	m := l.Manifest
	if m.SpecialDL == "" || m.CloudDL == "" {
		t.Fatalf("this lab predates the migration seed: provision a new one\n%s", l.ManifestJSON())
	}
	c := l.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tenant, err := l.State.Tenant(nil)
	if err != nil {
		t.Fatal(err)
	}
	ex := tenant.Exchange()
	read := func(dn string) *ad.Recipient {
		t.Helper()
		r, err := c.ReadRecipient(ctx, dn)
		if err != nil {
			t.Fatalf("read %s: %v", dn, err)
		}
		return r
	}
	inScope := func(dn string) bool { return ad.IsUnder(dn, m.SyncOU) && !ad.IsUnder(dn, m.NoSyncOU) }

	// Lists a migration can move.
	for _, dn := range []string{m.ManagedDL, m.ModeratedDL, m.RestrictedDL, m.SpecialDL} {
		g := read(dn)
		if !inScope(dn) || g.GroupType == nil || g.GroupType.Scope != ad.ScopeUniversal || g.GroupType.Security || g.Mail == "" || len(g.Members) == 0 {
			t.Errorf("%s: not a synced, mail-enabled universal distribution group with members: %+v", dn, g)
			continue
		}
		refs := append(append(append(append(append(slices.Clone(g.Members), g.CoManagedBy...), g.ModeratedBy...), g.BypassModeration...),
			g.AcceptFrom...), append(append(g.RejectFrom, g.AcceptFromMembersOf...), g.RejectFromMembersOf...)...)
		if g.ManagedBy != "" {
			refs = append(refs, g.ManagedBy)
		}
		for _, ref := range refs {
			r := read(ref)
			if !inScope(ref) || !r.MailEnabled() {
				t.Errorf("%s: %s is not a synced mail recipient", g.Name, ref)
				continue
			}
			if _, err := ex.GetRecipient(ctx, r.Mail); err != nil {
				t.Errorf("%s: %s (%s) has no cloud recipient: %v", g.Name, ref, r.Mail, err)
			}
		}
		twin, err := ex.GetDistributionGroup(ctx, g.Mail)
		if err != nil || !twin.IsDirSynced {
			t.Errorf("%s: synced twin %+v, %v", g.Name, twin, err)
		}
	}
	if g := read(m.ManagedDL); g.ManagedBy == "" || len(g.CoManagedBy) == 0 {
		t.Errorf("managed list without owners: %+v", g)
	}
	if g := read(m.ModeratedDL); !g.ModerationEnabled || len(g.ModeratedBy) == 0 || len(g.BypassModeration) == 0 {
		t.Errorf("moderated list: %+v", g)
	}
	if g := read(m.RestrictedDL); len(g.AcceptFrom) == 0 || len(g.RejectFrom) == 0 || len(g.AcceptFromMembersOf) == 0 || len(g.RejectFromMembersOf) == 0 {
		t.Errorf("restricted list: %+v", g)
	}
	if name := read(m.SpecialDL).Name; !strings.ContainsAny(name, ",") || !strings.ContainsAny(name, "+") || !strings.ContainsAny(name, `"`) ||
		!strings.ContainsAny(name, "&") || !strings.ContainsAny(name, "()") || !strings.ContainsAny(name, "ëË") || len([]rune(name)) > 64 {
		t.Errorf("special list name %q", name)
	}

	// One reason to refuse each.
	if g := read(m.DomainLocalDL); g.GroupType == nil || g.GroupType.Scope != ad.ScopeDomainLocal || g.Mail == "" {
		t.Errorf("domain-local list: %+v", g)
	}
	if g := read(m.MailSecurity); g.GroupType == nil || !g.GroupType.Security || g.Mail == "" {
		t.Errorf("mail-enabled security group: %+v", g)
	}
	if g := read(m.NotMailEnabledGroup); g.MailEnabled() || g.GroupType == nil || g.GroupType.Security {
		t.Errorf("group without mail: %+v", g)
	}
	if p, err := c.ProtectedFromDeletion(ctx, m.ProtectedDL); err != nil || !p || read(m.ProtectedDL).Mail == "" {
		t.Errorf("protected list: protected %v, %v", p, err)
	}
	orphan := read(m.OrphanMember)
	if !slices.ContainsFunc(read(m.OrphanMemberDL).Members, func(d string) bool { return ad.EqualDN(d, m.OrphanMember) }) || inScope(m.OrphanMember) {
		t.Errorf("list with a member without a cloud twin: member %s", m.OrphanMember)
	} else if _, err := ex.GetRecipient(ctx, orphan.Mail); err == nil {
		t.Errorf("%s has a cloud recipient", orphan.Mail)
	}
	if g := read(m.ForeignDomainDL); !slices.ContainsFunc(g.ProxyAddresses.Raw(), func(a string) bool { return strings.EqualFold(a, "smtp:"+m.ForeignAddress) }) {
		t.Errorf("list with a foreign address: %v", g.ProxyAddresses.Raw())
	}
	domains, err := ex.AcceptedDomains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, foreign, _ := strings.Cut(m.ForeignAddress, "@")
	if slices.ContainsFunc(domains, func(d cloud.AcceptedDomain) bool { return strings.EqualFold(d.DomainName, foreign) }) {
		t.Errorf("%s is an accepted domain", foreign)
	}
	if !slices.ContainsFunc(read(m.NestedDL).Members, func(d string) bool { return ad.EqualDN(d, m.NestedDLs[1]) }) || read(m.NestedDLs[1]).Mail == "" {
		t.Errorf("list with a mail-enabled child: %s", m.NestedDL)
	}

	// Hybrid mail flow: the cloud list with its routing address, the
	// contact targeting it, the dynamic DL holding the list's address.
	dl, err := ex.GetDistributionGroup(ctx, m.CloudDL)
	if err != nil || dl.IsDirSynced {
		t.Fatalf("cloud list %s: %+v, %v", m.CloudDL, dl, err)
	}
	ct := read(m.RoutingContact)
	routing := strings.TrimPrefix(ct.TargetAddress, "SMTP:")
	if !slices.Contains(dl.EmailAddresses, "smtp:"+routing) {
		t.Errorf("the contact targets %s, not an address of the cloud list %v", routing, dl.EmailAddresses)
	}
	if d := read(m.HybridDynamicDL); d.Kind != ad.KindDynamicDL || !strings.EqualFold(d.Mail, m.CloudDL) {
		t.Errorf("hybrid dynamic DL %+v", d)
	}
}
