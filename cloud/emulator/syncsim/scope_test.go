package syncsim

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/cloud/emulator"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

var (
	daveDN    = dn("Dave No Mail", scopeOU)
	erinDN    = dn("Erin Plain", scopeOU)
	opsDN     = dn("Ops Servers", scopeOU)
	plainDLDN = dn("Plain DL", scopeOU)
	systemDN  = dn("SystemMailbox", scopeOU)
)

// withoutMail adds to the lab what Entra Connect syncs although it is not
// mail-enabled, and what it does not sync: Dave (licensed, no mail
// attributes), Erin (unlicensed, no mail attributes), Ops Servers (a
// security group without mail), Plain DL (a distribution group without
// mail) and an Exchange system mailbox.
func withoutMail(t *testing.T, f *fakeAD) *fakeAD {
	f.add(
		&ad.Recipient{DN: daveDN, GUID: "0a1b2c3d-0011-4a00-8000-000000000011", SID: "S-1-5-21-1-2-3-1111",
			Kind: ad.KindUser, Name: "Dave No Mail", SAMAccountName: "dave", UPN: "dave@contoso.com"},
		&ad.Recipient{DN: erinDN, GUID: "0a1b2c3d-0012-4a00-8000-000000000012", SID: "S-1-5-21-1-2-3-1112",
			Kind: ad.KindUser, Name: "Erin Plain", SAMAccountName: "erin", UPN: "erin@contoso.com"},
		&ad.Recipient{DN: opsDN, GUID: "0a1b2c3d-0013-4a00-8000-000000000013", SID: "S-1-5-21-1-2-3-1113",
			Kind: ad.KindGroup, Name: "Ops Servers", SAMAccountName: "ops",
			GroupType: &ad.GroupType{Raw: -2147483646, Scope: ad.ScopeGlobal, Security: true},
			Members:   []string{aliceDN, erinDN, plainDLDN}},
		&ad.Recipient{DN: plainDLDN, GUID: "0a1b2c3d-0014-4a00-8000-000000000014", SID: "S-1-5-21-1-2-3-1114",
			Kind: ad.KindGroup, Name: "Plain DL", GroupType: &ad.GroupType{Raw: 8, Scope: ad.ScopeUniversal}},
		&ad.Recipient{DN: systemDN, GUID: "0a1b2c3d-0015-4a00-8000-000000000015",
			Kind: ad.KindUser, Name: "SystemMailbox", SAMAccountName: "SM_0123", MailNickname: "SystemMailbox{1f05a927-1bd0-4b2a-a0e2-7ccaa3d2a0d6}",
			Mail: "SystemMailbox{1f05a927}@contoso.com"},
	)
	f.edit(t, licenseDN, func(r *ad.Recipient) { r.Members = append(r.Members, daveDN) })
	return f
}

// Entra Connect syncs every user and security group in scope, mail-enabled
// or not; Exchange Online addresses only its recipients.
func TestUsersAndSecurityGroupsWithoutMailAreSynced(t *testing.T) {
	e := newEnv(t, withoutMail(t, lab()))
	rep := e.run()
	// The lab's 7 and Dave, Erin and Ops Servers; not Plain DL or the
	// system mailbox.
	if rep.Read != 10 || rep.Created != 9 || len(rep.ExportErrors) != 0 {
		t.Errorf("report = %+v", rep)
	}

	// KB 3190357's first scenario: licensed, no mail or proxyAddresses: a
	// mailbox whose primary is the UPN, with the MOERA.
	dave := e.twin(daveDN)
	if dave == nil || !dave.ExchangeLicensed || dave.RecipientTypeDetails() != "UserMailbox" || dave.Mail != "dave@contoso.com" ||
		dave.UserPrincipalName != "dave@contoso.com" || dave.MailNickname != "dave" {
		t.Fatalf("dave = %+v", dave)
	}
	wantAddrs(t, dave, "SMTP:dave@contoso.com", "smtp:dave@contoso.onmicrosoft.com")

	// Unlicensed and without mail: a user who signs in, not a recipient.
	erin := e.twin(erinDN)
	if erin == nil || erin.ExchangeLicensed || erin.Mail != "" || len(erin.ProxyAddresses) != 0 ||
		erin.UserPrincipalName != "erin@contoso.com" || erin.RecipientTypeDetails() != "User" {
		t.Fatalf("erin = %+v", erin)
	}

	// A security group without mail: no Exchange properties, its synced
	// members (Plain DL is not synced: dropped).
	ops := e.twin(opsDN)
	alice := e.twin(aliceDN)
	if ops == nil || ops.MailEnabled || !ops.SecurityEnabled || ops.Mail != "" || len(ops.ProxyAddresses) != 0 ||
		ops.GroupType() != cloud.GroupSecurity || ops.RecipientTypeDetails() != "" {
		t.Fatalf("ops = %+v", ops)
	}
	if want := sortedIDs(alice.ID, erin.ID); !reflect.DeepEqual(sortedIDs(ops.Members...), want) {
		t.Errorf("ops members = %v, want %v", ops.Members, want)
	}

	if o := e.twin(plainDLDN); o != nil {
		t.Errorf("a distribution group without mail was synced: %+v", o)
	}
	if o := e.obj(cloud.KindUser, "0a1b2c3d-0015-4a00-8000-000000000015"); o != nil {
		t.Errorf("an Exchange system mailbox was synced: %+v", o)
	}

	// Mail-disabling a distribution group takes it out of sync; a
	// security group stays.
	e.f.edit(t, salesDN, func(r *ad.Recipient) { r.Mail, r.MailNickname, r.ProxyAddresses = "", "", ad.ProxyAddresses{} })
	e.f.edit(t, adminsDN, func(r *ad.Recipient) { r.Mail, r.MailNickname, r.ProxyAddresses = "", "", ad.ProxyAddresses{} })
	rep = e.run()
	if rep.Deleted != 1 {
		t.Errorf("after mail-disabling Sales and Admins: report %+v, want Sales deleted", rep)
	}
	if admins := e.twin(adminsDN); admins == nil || admins.Deleted() || admins.MailEnabled || admins.Mail != "" || len(admins.ProxyAddresses) != 0 {
		t.Errorf("admins = %+v, want a security group without mail", admins)
	}
}

// With mS-DS-ConsistencyGuid as the source anchor a user is anchored on it;
// a user whose attribute is empty gets its objectGUID written back first,
// and groups and contacts stay on objectGUID (Learn, "Using
// ms-DS-ConsistencyGuid as sourceAnchor").
func TestConsistencyGuidSourceAnchor(t *testing.T) {
	const migrated = "7e3f0c55-9a1d-4b8e-a2c4-5d6e7f809a1b"
	f := lab()
	f.edit(t, aliceDN, func(r *ad.Recipient) { r.ConsistencyGUID = migrated })
	e := newEnv(t, f)
	e.cfg.SourceAnchor = plan.AnchorConsistencyGUID
	rep := e.run()
	// bob and carol are written back; alice has a value; groups and the
	// contact are not anchored on it.
	if rep.Created != 6 || rep.WrittenBack != 2 || len(f.modifies) != 2 {
		t.Fatalf("report = %+v, writes %q", rep, f.modifies)
	}
	for _, d := range []string{bobDN, carolDN} {
		if r := e.rec(d); r.ConsistencyGUID != r.GUID {
			t.Errorf("%s: mS-DS-ConsistencyGuid %q, want its objectGUID %s written back", d, r.ConsistencyGUID, r.GUID)
		}
	}
	if r := e.rec(salesDN); r.ConsistencyGUID != "" {
		t.Errorf("a group's mS-DS-ConsistencyGuid was written: %q", r.ConsistencyGUID)
	}
	alice := e.obj(cloud.KindUser, migrated)
	if alice == nil || alice.OnPremisesDistinguishedName != aliceDN || !alice.ExchangeLicensed {
		t.Fatalf("alice is not anchored on her mS-DS-ConsistencyGuid: %+v", alice)
	}
	if o := e.obj(cloud.KindUser, "0a1b2c3d-0001-4a00-8000-000000000001"); o != nil {
		t.Errorf("a twin anchored on alice's objectGUID exists: %+v", o)
	}
	for _, d := range []string{bobDN, salesDN, partnerDN} {
		if o := e.twin(d); o == nil {
			t.Errorf("%s: no twin anchored on its objectGUID", d)
		}
	}
	// The next cycle writes nothing and changes nothing.
	seq := e.seq()
	if rep := e.run(); rep.WrittenBack != 0 || rep.Unchanged != 6 || e.seq() != seq {
		t.Errorf("second cycle: %+v", rep)
	}

	// A write-back that fails fails the cycle, with nothing applied.
	f.add(&ad.Recipient{DN: daveDN, GUID: "0a1b2c3d-0011-4a00-8000-000000000011", Kind: ad.KindUser, Name: "Dave", SAMAccountName: "dave", UPN: "dave@contoso.com"})
	f.modifyErr = retry.New("fake.Modify", retry.Terminal, errors.New("insufficient access rights"))
	seq = e.seq()
	rep, err := Run(context.Background(), f, e.em, e.cfg)
	if err == nil || rep.Complete || !strings.Contains(err.Error(), "mS-DS-ConsistencyGuid") || e.seq() != seq {
		t.Fatalf("a failed write-back: %v, report %+v, seq %d -> %d", err, rep, seq, e.seq())
	}
	var n int
	e.em.View(func(tx *emulator.Tx) error { n = len(tx.List(cloud.KindUser)); return nil })
	if n != 3 || slices.Contains(f.modifies, daveDN+" mS-DS-ConsistencyGuid") {
		t.Errorf("tenant users %d, writes %q", n, f.modifies)
	}
}
