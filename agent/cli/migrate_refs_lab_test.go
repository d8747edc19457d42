//go:build lab

package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/failpoint/failpointtest"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/migrate"
)

// adRef is an attribute of an on-premises object that names the migrated
// group.
type adRef struct{ dn, attr string }

// cloudRef is a recipient parameter of a cloud-only list that names the
// migrated group ("Members" for its membership).
type cloudRef struct{ list, param string }

// refsFixture is a list named by every kind of reference in both
// directories, synced.
type refsFixture struct {
	l         *labtest.Lab
	ex        cloud.Exchange
	f         *dlFixture
	twin      string // the synced twin's id
	other     *ad.Recipient
	otherID   string
	adRefs    []adRef
	cloudRefs []cloudRef
	sendAs    []sendAsRef
}

// makeRefsFixture makes the list of tag and its references: on premises a
// parent group, a list restricted to (and managed and moderated past by)
// the list, a list that rejects it, a user that delegates to it and
// forwards to it; in the cloud two cloud-only lists naming the twin in
// their members and recipient lists, a seeded mailbox forwarding to it,
// Send-As on it to another user and on that mailbox to it.
func makeRefsFixture(t *testing.T, tag string) *refsFixture {
	t.Helper()
	l := labtest.Get(t)
	ou := l.SyncedOU(t)
	ctx := t.Context()
	c := l.Client(t)
	ex := exchange(t, l)
	f := makeDLWith(t, l, ou, tag, `Refs, "Zoë" (A+B)`, 2, false)
	suffix := labtest.OUSuffix(t, ou)
	other := l.AddMailUser(t, ou, tag+"-other-"+suffix)
	delegator := l.AddMailUser(t, ou, tag+"-deleg-"+suffix)

	// On premises: a parent group, a list restricted to (and managed and
	// moderated past by) the group, a list that rejects it, a mailbox
	// that delegates to it and forwards to it.
	group := func(name string, attrs ...ad.Attribute) string {
		dn := ad.ChildDN("CN", name+" "+suffix, ou)
		alias := strings.ReplaceAll(name, " ", "") + "-" + suffix
		base := []ad.Attribute{
			{Name: "objectClass", Values: []string{"top", "group"}},
			{Name: "sAMAccountName", Values: []string{alias}},
			{Name: "groupType", Values: []string{"8"}},
			{Name: "mail", Values: []string{alias + "@" + l.Manifest.MailDomain}},
			{Name: "mailNickname", Values: []string{alias}},
			{Name: "proxyAddresses", Values: []string{"SMTP:" + alias + "@" + l.Manifest.MailDomain}},
		}
		if err := c.Add(ctx, dn, append(base, attrs...)); err != nil {
			t.Fatalf("add %s: %v", dn, err)
		}
		return dn
	}
	parent := group(tag+" parent", ad.Attribute{Name: "member", Values: []string{f.dn, other.DN}})
	restricted := group(tag+" restricted",
		ad.Attribute{Name: "authOrig", Values: []string{f.dn, other.DN}},
		ad.Attribute{Name: "dLMemSubmitPerms", Values: []string{f.dn}},
		ad.Attribute{Name: "managedBy", Values: []string{f.dn}},
		ad.Attribute{Name: "msExchCoManagedByLink", Values: []string{f.dn}},
		ad.Attribute{Name: "msExchBypassModerationLink", Values: []string{f.dn}},
		ad.Attribute{Name: "msExchBypassModerationFromDLMembersLink", Values: []string{f.dn}})
	rejecting := group(tag+" rejecting",
		ad.Attribute{Name: "unauthOrig", Values: []string{f.dn}},
		ad.Attribute{Name: "dLMemRejectPerms", Values: []string{f.dn}})
	if err := c.Modify(ctx, delegator.DN,
		ad.Change{Op: ad.ReplaceValues, Attr: "publicDelegates", Values: []string{f.dn}},
		ad.Change{Op: ad.ReplaceValues, Attr: "altRecipient", Values: []string{f.dn}}); err != nil {
		t.Fatal(err)
	}
	adRefs := []adRef{{parent, "member"}, {restricted, "authOrig"}, {restricted, "dLMemSubmitPerms"}, {restricted, "managedBy"},
		{restricted, "msExchCoManagedByLink"}, {restricted, "msExchBypassModerationLink"}, {restricted, "msExchBypassModerationFromDLMembersLink"},
		{rejecting, "unauthOrig"}, {rejecting, "dLMemRejectPerms"}, {delegator.DN, "publicDelegates"}, {delegator.DN, "altRecipient"}}
	l.Sync(t)

	// In the cloud: two cloud-only lists naming the synced twin, and a
	// mailbox forwarding to it.
	twin, err := ex.GetRecipient(ctx, f.primary)
	if err != nil || !twin.IsDirSynced {
		t.Fatalf("the synced twin of %s: %+v %v", f.primary, twin, err)
	}
	otherID := exoIDs(t, ex, []*ad.Recipient{other})[0]
	cloudList := func(alias string) string {
		g, err := ex.NewDistributionGroup(ctx, cloud.NewDistributionGroup{Name: alias, Alias: alias,
			PrimarySMTPAddress: alias + "@" + l.Manifest.MailDomain, Type: "Distribution", Members: []string{twin.ExternalDirectoryObjectID, otherID}})
		if err != nil {
			t.Fatalf("New-DistributionGroup %s: %v", alias, err)
		}
		t.Cleanup(func() { _ = ex.RemoveDistributionGroup(ctx, g.ExternalDirectoryObjectID) })
		return g.ExternalDirectoryObjectID
	}
	accepting, refusing := cloudList(tag+"-cloud-accept-"+suffix), cloudList(tag+"-cloud-reject-"+suffix)
	for _, set := range []struct{ list, param string }{
		{accepting, "AcceptMessagesOnlyFromSendersOrMembers"}, {accepting, "BypassModerationFromSendersOrMembers"},
		{accepting, "GrantSendOnBehalfTo"}, {refusing, "RejectMessagesFromSendersOrMembers"},
	} {
		if err := ex.ChangeGroupRecipients(ctx, set.list, set.param, []string{twin.ExternalDirectoryObjectID, otherID}, nil); err != nil {
			t.Fatalf("Set-DistributionGroup -%s: %v", set.param, err)
		}
	}
	cloudRefs := []cloudRef{{accepting, "Members"}, {refusing, "Members"}, {accepting, "AcceptMessagesOnlyFromSendersOrMembers"},
		{accepting, "BypassModerationFromSendersOrMembers"}, {accepting, "GrantSendOnBehalfTo"}, {refusing, "RejectMessagesFromSendersOrMembers"}}
	// A mailbox of the seeded organisation that forwards nowhere now
	// forwards to the list.
	var mailbox string
	if _, err := ex.ListRecipients(ctx, "RecipientTypeDetails -eq 'UserMailbox'", func(r *cloud.ExoRecipient) error {
		if mailbox == "" {
			if mb, err := ex.GetMailbox(ctx, r.ExternalDirectoryObjectID); err == nil && mb.ForwardingAddress == "" {
				mailbox = r.ExternalDirectoryObjectID
			}
		}
		return nil
	}); err != nil || mailbox == "" {
		t.Fatalf("no mailbox that forwards nowhere in the lab (%v)", err)
	}
	if err := ex.SetMailboxForwarding(ctx, mailbox, twin.ExternalDirectoryObjectID); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ex.SetMailboxForwarding(context.Background(), mailbox, "") })
	cloudRefs = append(cloudRefs, cloudRef{mailbox, "ForwardingAddress"})
	// Send-As on the group, granted to another user; Send-As on the
	// mailbox, granted to the group.
	if err := ex.GrantSendAs(ctx, twin.ExternalDirectoryObjectID, otherID); err != nil {
		t.Fatal(err)
	}
	if err := ex.GrantSendAs(ctx, mailbox, twin.ExternalDirectoryObjectID); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ps, err := ex.RecipientPermissions(context.Background(), mailbox, "")
		if err != nil {
			t.Logf("clean up the Send-As grants on %s: %v", mailbox, err)
		}
		for _, p := range ps {
			_ = ex.RevokeSendAs(context.Background(), mailbox, p.Trustee)
		}
	})
	sendAs := []sendAsRef{{on: "", trustee: otherID}, {on: mailbox, trustee: ""}}

	return &refsFixture{l: l, ex: ex, f: f, twin: twin.ExternalDirectoryObjectID, other: other, otherID: otherID,
		adRefs: adRefs, cloudRefs: cloudRefs, sendAs: sendAs}
}

// checkMigrated checks every reference names the routing contact or the
// new cloud list of s, from the directories.
func (x *refsFixture) checkMigrated(t *testing.T, s *migrate.Saga) {
	t.Helper()
	moved, err := x.l.Client(t).FindByGUID(t.Context(), s.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkADRefs(t, x.l, x.adRefs, s.Made.ContactDN, moved.DN, x.other.DN)
	checkCloudRefs(t, x.ex, x.cloudRefs, s.Made.CloudListID, x.twin, x.otherID)
	checkSendAs(t, x.ex, x.sendAs, s.Made.CloudListID, x.twin)
}

// checkRolledBack checks every reference names the group and the
// restored twin again.
func (x *refsFixture) checkRolledBack(t *testing.T, s *migrate.Saga) {
	t.Helper()
	checkADRefs(t, x.l, x.adRefs, x.f.dn, s.Made.ContactDN, x.other.DN)
	back, err := x.ex.GetRecipient(t.Context(), x.f.primary)
	if err != nil || !back.IsDirSynced {
		t.Fatalf("after rollback %s is held by %+v (%v), want the synced twin", x.f.primary, back, err)
	}
	checkCloudRefs(t, x.ex, x.cloudRefs, back.ExternalDirectoryObjectID, s.Made.CloudListID, x.otherID)
	checkSendAs(t, x.ex, x.sendAs, back.ExternalDirectoryObjectID, s.Made.CloudListID)
}

// A list named by every kind of reference in both directories: migrate
// (recreate, keeping the original) re-points each, as the directories
// show them (raw LDAP reads on the DC, Exchange reads of the emulator);
// rollback puts each back.
func TestLabMigrateRepointsReferences(t *testing.T) {
	x := makeRefsFixture(t, "rr")
	l, f := x.l, x.f
	cfg := migrateConfig(t, l, map[string]string{f.primary: "method: recreate; keep_on_premises_group: true"})
	cleanupMigration(t, l, cfg, f)
	start := time.Now()
	code, out, errOut := runCLI(t, "migrate", "run", "-c", cfg, "--auto-approve")
	t.Logf("migrate run took %s", time.Since(start))
	if code != 0 || !strings.Contains(out, "migrated by recreate") {
		t.Fatalf("migrate run: exit %d\n%s\n%s", code, out, errOut)
	}
	s := sagaOf(t, cfg, f.primary)
	if s == nil || s.State != migrate.StateMigrated || s.Made.ContactDN == "" {
		t.Fatalf("saga %+v", s)
	}
	if r := s.Capture.References; r == nil || len(r.OnPremises) != len(x.adRefs) || len(r.Cloud) != len(x.cloudRefs)+len(x.sendAs) {
		t.Errorf("captured references %+v, want %d on premises and %d in the cloud", r, len(x.adRefs), len(x.cloudRefs)+len(x.sendAs))
	}
	x.checkMigrated(t, s)

	start = time.Now()
	code, out, errOut = runCLI(t, "migrate", "rollback", "-c", cfg, f.primary)
	t.Logf("migrate rollback took %s", time.Since(start))
	if code != 0 || !strings.Contains(out, "rolled back") {
		t.Fatalf("migrate rollback: exit %d\n%s\n%s", code, out, errOut)
	}
	x.checkRolledBack(t, s)
}

// The re-pointing killed (SIGKILL of a real process) in the middle of
// each step, forward and undo: the runs that follow finish the job, each
// reference once.
func TestLabMigrateReferencesKilled(t *testing.T) {
	x := makeRefsFixture(t, "rk")
	l, f := x.l, x.f
	cfg := migrateConfig(t, l, map[string]string{f.primary: "method: recreate; keep_on_premises_group: true"})
	cleanupMigration(t, l, cfg, f)
	// The forwarding is the first cloud reference, then the Send-As grants.
	killAt(t, cfg, "migrate.repoint-cloud-references.exo.RecipientPermission#1.after-sent")
	killAt(t, cfg, "migrate.repoint-references.ad.Modify#2.after-write")
	code, out, errOut := resumeUntilDone(t, cfg)
	if code != 0 || !strings.Contains(out, "migrated by recreate") {
		t.Fatalf("migrate run after the kills: exit %d\n%s\n%s", code, out, errOut)
	}
	s := sagaOf(t, cfg, f.primary)
	x.checkMigrated(t, s)
	for _, point := range []string{"migrate.repoint-references.ad.Modify#5.after-sent", "migrate.repoint-cloud-references.exo.Set-DistributionGroup#4.after-write"} {
		killRollbackAt(t, cfg, f.primary, point)
	}
	code, out, errOut = rollbackUntilDone(t, cfg, f.primary)
	if code != 0 || !strings.Contains(out, "rolled back") {
		t.Fatalf("migrate rollback after the kills: exit %d\n%s\n%s", code, out, errOut)
	}
	x.checkRolledBack(t, s)
}

// checkADRefs reads each reference from the DC and checks it names want
// and not notWant; keep, where a reference named it too, stays.
func checkADRefs(t *testing.T, l *labtest.Lab, refs []adRef, want, notWant, keep string) {
	t.Helper()
	c := l.Client(t)
	for _, r := range refs {
		vals, err := c.ReadAttributes(t.Context(), r.dn, r.attr)
		if err != nil {
			t.Fatalf("read %s of %s: %v", r.attr, r.dn, err)
		}
		v := vals[r.attr]
		if !hasDN(v, want) || hasDN(v, notWant) {
			t.Errorf("%s of %s is %q, want %s (and not %s)", r.attr, r.dn, v, want, notWant)
		}
		if (r.attr == "member" || r.attr == "authOrig") && !hasDN(v, keep) {
			t.Errorf("%s of %s lost %s: %q", r.attr, r.dn, keep, v)
		}
	}
}

func hasDN(vals []string, dn string) bool {
	for _, v := range vals {
		if ad.EqualDN(v, dn) {
			return true
		}
	}
	return false
}

// checkCloudRefs reads each cloud reference from Exchange and checks it
// names the recipient want and not notWant; keep stays named.
// Get-DistributionGroup lists recipients by Name, and Names are unique
// among recipients, so a Name is resolved with Get-Recipient.
func checkCloudRefs(t *testing.T, ex cloud.Exchange, refs []cloudRef, want, notWant, keep string) {
	t.Helper()
	ctx := t.Context()
	for _, r := range refs {
		var ids []string
		switch r.param {
		case "ForwardingAddress":
			mb, err := ex.GetMailbox(ctx, r.list)
			if err != nil {
				t.Fatal(err)
			}
			x, err := ex.GetRecipient(ctx, mb.ForwardingAddress)
			if err != nil {
				t.Fatalf("Get-Recipient %q (the forwarding of %s): %v", mb.ForwardingAddress, mb.Name, err)
			}
			if x.ExternalDirectoryObjectID != want {
				t.Errorf("mailbox %s forwards to %s (%s), want %s", mb.Name, mb.ForwardingAddress, x.ExternalDirectoryObjectID, want)
			}
			continue
		case "Members":
			ms, err := ex.GroupMembers(ctx, r.list)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				ids = append(ids, m.ExternalDirectoryObjectID)
			}
		default:
			g, err := ex.GetDistributionGroup(ctx, r.list)
			if err != nil {
				t.Fatal(err)
			}
			names := map[string][]string{"AcceptMessagesOnlyFromSendersOrMembers": g.AcceptMessagesOnlyFrom, "BypassModerationFromSendersOrMembers": g.BypassModeration,
				"GrantSendOnBehalfTo": g.GrantSendOnBehalfTo, "RejectMessagesFromSendersOrMembers": g.RejectMessagesFrom}[r.param]
			for _, n := range names {
				x, err := ex.GetRecipient(ctx, n)
				if err != nil {
					t.Fatalf("Get-Recipient %q (named in %s of %s): %v", n, r.param, g.Name, err)
				}
				ids = append(ids, x.ExternalDirectoryObjectID)
			}
		}
		if !hasFold(ids, want) || hasFold(ids, notWant) || !hasFold(ids, keep) {
			t.Errorf("%s of cloud list %s names %q, want %s and %s, not %s", r.param, r.list, ids, want, keep, notWant)
		}
	}
}

// sendAsRef is a Send-As grant that names the migrated group: on it (on
// empty) to trustee, or on on to it (trustee empty).
type sendAsRef struct{ on, trustee string }

// checkSendAs reads each grant from Get-RecipientPermission and checks it
// names want and not notWant (a recipient that is gone names nothing).
func checkSendAs(t *testing.T, ex cloud.Exchange, refs []sendAsRef, want, notWant string) {
	t.Helper()
	ctx := t.Context()
	granted := func(r sendAsRef, group string) bool {
		on, trustee := cmpOrStr(r.on, group), cmpOrStr(r.trustee, group)
		ps, err := ex.RecipientPermissions(ctx, on, trustee)
		if retry.ClassOf(err) == retry.NotFound {
			return false
		}
		if err != nil {
			t.Fatalf("Get-RecipientPermission -Identity %s -Trustee %s: %v", on, trustee, err)
		}
		return len(ps) > 0
	}
	for _, r := range refs {
		if !granted(r, want) || granted(r, notWant) {
			t.Errorf("Send-As %+v: want it to name %s and not %s", r, want, notWant)
		}
	}
}

func cmpOrStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// killRollbackAt runs migrate rollback in a child process that is killed
// (SIGKILL) when it reaches point; a run that first finds a write of the
// killed one not settled yet ends without reaching it, and is run again.
func killRollbackAt(t *testing.T, cfg, group, point string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		st, out := runProcess(t, []string{failpointtest.Env + "=" + point}, "migrate", "rollback", "-c", cfg, group)
		if st.ExitCode() == -1 {
			return
		}
		if !unsettled(out) || time.Now().After(deadline) {
			t.Fatalf("rollback not killed at %s (exit %d):\n%s", point, st.ExitCode(), out)
		}
		sleep(t, 2*time.Second)
	}
}
