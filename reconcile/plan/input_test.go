package plan

import (
	"slices"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/reconcile/proxycalc"
)

func TestProxyCalcInput(t *testing.T) {
	remote := user("Remote", 1, "remote@contoso.com", "remote@contoso.com")
	remote.RemoteRecipientType = 1
	group := obj(ad.KindGroup, "Team", 2, "team@contoso.com", "SMTP:team@contoso.com")
	group.UPN = "ignored@contoso.com" // only users have a UPN for ProxyCalc
	tests := []struct {
		name          string
		r             *ad.Recipient
		licensed      bool
		wantRecipient bool
		wantUPN       string
	}{
		{"licensed user", user("Licensed", 3, "lic@contoso.com", "lic@contoso.com", "SMTP:lic@contoso.com"), true, true, "lic@contoso.com"},
		{"unlicensed user", user("Plain", 4, "plain@contoso.com", "plain@contoso.com"), false, false, "plain@contoso.com"},
		{"unlicensed remote mailbox", remote, false, true, "remote@contoso.com"},
		{"group", group, false, true, ""},
		{"contact", obj(ad.KindContact, "Vendor", 5, "vendor@example.org"), false, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := ProxyCalcInput(tc.r, tc.licensed)
			if in.Kind != string(tc.r.Kind) || in.Mail != tc.r.Mail || in.MailNickname != tc.r.MailNickname ||
				in.UPN != tc.wantUPN || in.ExchangeRecipient != tc.wantRecipient || in.Parsed != &tc.r.ProxyAddresses {
				t.Errorf("ProxyCalcInput = %+v; want kind %s, UPN %q, recipient %v, Parsed pointing at the recipient's values",
					in, tc.r.Kind, tc.wantUPN, tc.wantRecipient)
			}
		})
	}
}

// Build predicts each object with ProxyCalcInput: a twin that holds what
// ProxyCalc gives an Exchange Online recipient is in sync for a licensed
// user, an unlicensed remote mailbox and a group, and is drift (the MOERA
// is not predicted) for an unlicensed user. The twins are computed here
// from hand-built inputs, not with the function under test.
func TestBuildPredictsWithProxyCalcInput(t *testing.T) {
	tenant := proxycalc.Tenant{InitialDomain: initial, VerifiedDomains: accepted}
	twinOf := func(r *ad.Recipient, upn string) *cloud.Object {
		res := proxycalc.Compute(proxycalc.Input{Kind: string(r.Kind), Mail: r.Mail, UPN: upn, ExchangeRecipient: true},
			tenant, nil, proxycalc.Options{})
		k, _ := CloudKind(r.Kind)
		return &cloud.Object{Kind: k, ID: "id-" + r.GUID, Mail: res.Mail, MailNickname: res.MailNickname, UPN: upn,
			ProxyAddresses: res.Values(), OnPremisesSyncEnabled: true, OnPremisesImmutableID: iid(t, r.GUID), OnPremisesDN: r.DN}
	}
	remote := user("Remote", 1, "remote@contoso.com", "remote@contoso.com")
	remote.RemoteRecipientType = 1
	tests := []struct {
		name      string
		r         *ad.Recipient
		licensed  bool
		wantDrift bool
	}{
		{"licensed user", user("Licensed", 2, "lic@contoso.com", "lic@contoso.com"), true, false},
		{"unlicensed remote mailbox", remote, false, false},
		{"group", obj(ad.KindGroup, "Team", 3, "team@contoso.com"), false, false},
		{"unlicensed user", user("Plain", 4, "plain@contoso.com", "plain@contoso.com"), false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := adSnap(tc.r)
			if tc.licensed {
				a = license(a, tc.r)
			}
			p := build(t, a, cloudSnap(twinOf(tc.r, tc.r.UPN)), Options{})
			drift := findingsOf(p, AddressDrift)
			if got := len(drift) > 0; got != tc.wantDrift {
				t.Errorf("drift %v, want %v; findings %q", got, tc.wantDrift, kinds(p))
			}
			if tc.wantDrift && (drift[0].Facts.AddressDrift == nil || len(drift[0].Facts.AddressDrift.Extra) == 0) {
				t.Errorf("drift facts %+v: want the MOERA the cloud holds and no prediction has", drift[0].Facts.AddressDrift)
			}
		})
	}
}

// A cloud object's mail is one of the addresses it holds (cloudSMTP), for
// every question the planner asks of the cloud's holders: a cloud-only
// object holding an AD object's address only in mail is a duplicate, and
// the dual write does not keep an address such an object holds.
func TestCloudMailIsAnAddressTheCloudHolds(t *testing.T) {
	t.Run("duplicate", func(t *testing.T) {
		u := user("Holder", 1, "holder@contoso.com", "shared@contoso.com", "SMTP:shared@contoso.com")
		a := adSnap(u)
		c := simulateSync(t, a, cloudSnap())
		c.Objects = append(c.Objects, &cloud.Object{Kind: cloud.KindUser, ID: "c-only", DisplayName: "Cloud Only", Mail: "Shared@contoso.com"})
		fs := findingsOf(build(t, a, c, Options{}), DuplicateAddress)
		if len(fs) != 1 || fs[0].ObjectDN != u.DN || len(fs[0].Facts.DuplicateAddress.Others) != 1 ||
			fs[0].Facts.DuplicateAddress.Others[0].CloudID != "c-only" {
			t.Fatalf("DuplicateAddress = %+v, want %s sharing its address with c-only", fs, u.DN)
		}
	})

	t.Run("dual write keeps no address another cloud object holds", func(t *testing.T) {
		const (
			old = "old@contoso.com"
			nw  = "new@contoso.com"
		)
		u := user("Mover", 1, "mover@contoso.com", old)
		a := license(adSnap(u), u)
		c := simulateSync(t, a, cloudSnap())
		u.ProxyAddresses = ad.ParseProxyAddresses([]string{"x500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=mover"})
		c = simulateSync(t, a, c)
		u.Mail = nw
		p := build(t, a, c, Options{})
		if len(p.Actions) != 1 || !slices.Equal(p.Actions[0].Add, []string{"SMTP:" + nw, "smtp:" + old}) {
			t.Fatalf("without another holder: actions %+v, want SMTP:%s added and %s kept", p.Actions, nw, old)
		}
		c.Objects = append(c.Objects, &cloud.Object{Kind: cloud.KindContact, ID: "c-contact", DisplayName: "Old Contact", Mail: old})
		p = build(t, a, c, Options{})
		if len(p.Actions) != 1 || !slices.Equal(p.Actions[0].Add, []string{"SMTP:" + nw}) {
			t.Fatalf("with a cloud object holding %s in mail: actions %+v, want only SMTP:%s added", old, p.Actions, nw)
		}
	})
}
