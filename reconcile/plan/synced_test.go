package plan

import (
	"slices"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
)

func TestNotSynced(t *testing.T) {
	security := &ad.GroupType{Scope: ad.ScopeGlobal, Security: true}
	distribution := &ad.GroupType{Scope: ad.ScopeUniversal}
	for _, tc := range []struct {
		name   string
		r      ad.Recipient
		synced bool
	}{
		{"user without mail", ad.Recipient{Kind: ad.KindUser, SAMAccountName: "pat"}, true},
		{"mail user", ad.Recipient{Kind: ad.KindUser, SAMAccountName: "pat", Mail: "pat@contoso.com"}, true},
		{"remote mailbox", ad.Recipient{Kind: ad.KindUser, SAMAccountName: "pat", RecipientTypeDetails: 0x80000000}, true},
		{"deleted user", ad.Recipient{Kind: ad.KindUser, Deleted: true}, false},
		{"built-in administrator", ad.Recipient{Kind: ad.KindUser, SAMAccountName: "Administrator", CriticalSystemObject: true}, false},
		{"sync service account", ad.Recipient{Kind: ad.KindUser, SAMAccountName: "MSOL_0123456789ab"}, false},
		{"Exchange system mailbox", ad.Recipient{Kind: ad.KindUser, SAMAccountName: "SM_1", MailNickname: "SystemMailbox{1f05a927-1bd0-4b2a-a0e2-7ccaa3d2a0d6}"}, false},
		{"CAS account", ad.Recipient{Kind: ad.KindUser, SAMAccountName: "CAS_{abc}"}, false},
		{"discovery mailbox", ad.Recipient{Kind: ad.KindUser, SAMAccountName: "DiscoverySearch", RecipientTypeDetails: 0x20000000}, false},
		{"security group without mail", ad.Recipient{Kind: ad.KindGroup, GroupType: security}, true},
		{"mail-enabled distribution group", ad.Recipient{Kind: ad.KindGroup, GroupType: distribution, Mail: "dl@contoso.com"}, true},
		{"distribution group without mail", ad.Recipient{Kind: ad.KindGroup, GroupType: distribution}, false},
		{"built-in group", ad.Recipient{Kind: ad.KindGroup, GroupType: security, CriticalSystemObject: true}, false},
		{"role group", ad.Recipient{Kind: ad.KindGroup, GroupType: security, RecipientTypeDetails: 0x40000000}, false},
		{"mail contact", ad.Recipient{Kind: ad.KindContact, Mail: "x@fabrikam.test"}, true},
		{"contact without mail", ad.Recipient{Kind: ad.KindContact}, false},
		{"dynamic DL", ad.Recipient{Kind: ad.KindDynamicDL, Mail: "all@contoso.com"}, false},
		{"computer", ad.Recipient{Kind: ad.KindOther}, false},
	} {
		if why := NotSynced(&tc.r); (why == "") != tc.synced {
			t.Errorf("%s: NotSynced = %q, want synced %v", tc.name, why, tc.synced)
		}
	}
}

// Entra Connect syncs users and security groups whether or not they are
// mail-enabled, and Exchange Online gives addresses only to its
// recipients: a licensed user without mail or proxyAddresses gets a
// mailbox addressed from its UPN (KB 3190357's first scenario), an
// unlicensed one and a security group get none. A plan of that state has
// nothing to say, and proposes no deletion.
func TestObjectsWithoutMailAreSyncedWithoutAddresses(t *testing.T) {
	licensed := user("Licensed No Mail", 1, "lnm@contoso.com", "")
	plain := user("Plain User", 2, "plain@contoso.com", "")
	security := obj(ad.KindGroup, "Server Admins", 3, "")
	security.GroupType = &ad.GroupType{Scope: ad.ScopeGlobal, Security: true}
	plainDL := obj(ad.KindGroup, "Plain DL", 4, "")
	mailUser := user("Mail User", 5, "mu@contoso.com", "mu@contoso.com", "SMTP:mu@contoso.com")
	a := license(adSnap(licensed, plain, security, plainDL, mailUser), licensed)
	c := simulateSync(t, a, cloudSnap())

	twin := map[string]*cloud.Object{}
	for _, o := range c.Objects {
		twin[o.OnPremisesDN] = o
	}
	if o := twin[licensed.DN]; o == nil || o.Mail != "lnm@contoso.com" || !slices.Equal(o.ProxyAddresses, []string{"SMTP:lnm@contoso.com", "smtp:lnm@" + initial}) {
		t.Errorf("licensed user without mail: %+v; want a mailbox with primary SMTP:lnm@contoso.com and a MOERA", o)
	}
	for _, r := range []*ad.Recipient{plain, security} {
		if o := twin[r.DN]; o == nil || o.Mail != "" || len(o.ProxyAddresses) != 0 {
			t.Errorf("%s: %+v; want a synced twin without mail or proxyAddresses", r.Name, o)
		}
	}
	if o := twin[plainDL.DN]; o != nil {
		t.Errorf("a distribution group without mail was synced: %+v", o)
	}

	p := build(t, a, c, Options{})
	if len(p.Findings) != 0 || p.Summary.Deletes != 0 || p.Summary.Adds != 0 {
		t.Fatalf("plan of a synced state: %q, summary %+v; want nothing", kinds(p), p.Summary)
	}
	// A read that leaves the objects without mail out would make their
	// twins orphans: deletions the next sync does not make.
	mailOnly := a
	mailOnly.Objects = []*ad.Recipient{mailUser}
	if p := build(t, mailOnly, c, Options{}); p.Summary.Deletes != 3 {
		t.Fatalf("plan of a mail-only read: %d deletions, want the 3 twins without a source read", p.Summary.Deletes)
	}
}
