package cli

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/lab"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// Entra Connect syncs every user and security group in scope, mail-enabled
// or not, and Exchange Online addresses only its recipients: after a lab
// sync, a licensed user with neither mail nor proxyAddresses has a mailbox
// addressed from its UPN (KB 3190357's first scenario), a plain user and a
// security group without mail are in Graph without mail, and plan, which
// reads them too, reports none of them as missing in AD (a deletion) or
// anything else.
func TestLabSyncsUsersAndSecurityGroupsWithoutMail(t *testing.T) {
	l := labtest.Get(t)
	ou := l.SyncedOU(t)
	c := l.Client(t)
	ctx := t.Context()
	dom := l.Manifest.MailDomain
	ouName, err := ad.RDNValue(ou)
	if err != nil {
		t.Fatal(err)
	}
	suffix := strings.ToLower(ouName[len(ouName)-8:])
	add := func(cn string, attrs ...ad.Attribute) *ad.Recipient {
		t.Helper()
		dn := ad.ChildDN("CN", cn, ou)
		if err := c.Add(ctx, dn, attrs); err != nil {
			t.Fatal(err)
		}
		r, err := c.ReadRecipient(ctx, dn)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	person := ad.Attribute{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "user"}}
	licensedUPN := "lic-" + suffix + "@" + dom
	licensed := add("Licensed "+suffix, person,
		ad.Attribute{Name: "sAMAccountName", Values: []string{"lic-" + suffix}},
		ad.Attribute{Name: "userPrincipalName", Values: []string{licensedUPN}})
	plain := add("Plain "+suffix, person,
		ad.Attribute{Name: "sAMAccountName", Values: []string{"plain-" + suffix}},
		ad.Attribute{Name: "userPrincipalName", Values: []string{"plain-" + suffix + "@" + dom}})
	group := add("Servers "+suffix,
		ad.Attribute{Name: "objectClass", Values: []string{"top", "group"}},
		ad.Attribute{Name: "sAMAccountName", Values: []string{"srv-" + suffix}},
		ad.Attribute{Name: "groupType", Values: []string{"-2147483646"}}, // global security
		ad.Attribute{Name: "member", Values: []string{plain.DN}})
	// Licensed through the lab's licence group; the membership is removed
	// before the OU (cleanups run last first).
	if err := c.Modify(ctx, l.Manifest.LicenseGroup, ad.Change{Op: ad.AddValues, Attr: "member", Values: []string{licensed.DN}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		err := c.Modify(context.Background(), l.Manifest.LicenseGroup, ad.Change{Op: ad.DeleteValues, Attr: "member", Values: []string{licensed.DN}})
		if err != nil {
			t.Errorf("remove %s from the licence group: %v", licensed.DN, err)
		}
	})
	if rep := syncNow(t, l); !rep.Complete {
		t.Fatalf("sync report %+v", rep)
	}

	tenant := labTenant(t, l)
	moera := "smtp:lic-" + suffix + "@" + l.State.InitialDomain
	cl := findByImmutableID(t, tenant, cloud.KindUser, licensed.GUID)
	if cl == nil || !strings.EqualFold(cl.Mail, licensedUPN) || !slices.Contains(cl.ProxyAddresses, "SMTP:"+licensedUPN) ||
		!slices.Contains(cl.ProxyAddresses, moera) {
		t.Fatalf("licensed user without mail: %+v; want a mailbox with SMTP:%s and %s", cl, licensedUPN, moera)
	}
	var mailbox string
	if _, err := tenant.Exchange().ListRecipients(ctx, "ExternalDirectoryObjectId -eq '"+cl.ID+"'", func(r *cloud.ExoRecipient) error {
		mailbox = r.RecipientTypeDetails
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if mailbox != "UserMailbox" {
		t.Errorf("licensed user without mail is %q in Exchange Online, want UserMailbox", mailbox)
	}
	cp := findByImmutableID(t, tenant, cloud.KindUser, plain.GUID)
	if cp == nil || cp.Mail != "" || len(cp.ProxyAddresses) != 0 || !strings.EqualFold(cp.UPN, plain.UPN) {
		t.Fatalf("plain user: %+v; want a user who signs in as %s, without mail", cp, plain.UPN)
	}
	cg := findByImmutableID(t, tenant, cloud.KindGroup, group.GUID)
	if cg == nil || cg.Mail != "" || len(cg.ProxyAddresses) != 0 || cg.MailEnabled || !cg.SecurityEnabled {
		t.Fatalf("security group without mail: %+v", cg)
	}
	var members []cloud.Member
	if _, err := tenant.List(ctx, cloud.KindGroup, cloud.ListOptions{Members: true, Filter: "id eq '" + cg.ID + "'"}, func(o *cloud.Object) error {
		for _, m := range o.Members {
			members = append(members, m)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(members) != 1 || members[0].ID != cp.ID {
		t.Errorf("security group members %+v, want the plain user %s", members, cp.ID)
	}

	// The plan of the test's OU has nothing to say, and the plan of the
	// whole lab reports no seeded object, with or without mail, as missing
	// in AD (a deletion) or in the cloud. Objects other tests create and
	// delete under the Sync Tests OU may be between their deletion in AD
	// and the next sync: only the seeded Sync OU and this test's OU are
	// checked.
	cfg, _ := scopedConfig(t, l, ou)
	for _, tc := range []struct{ name, config string }{{"the test's OU", cfg}, {"the lab", l.Env[lab.EnvConfig]}} {
		code, out, errOut := runCLI(t, "plan", "-c", tc.config, "--json")
		if code != 0 {
			t.Fatalf("plan of %s: exit %d\n%s", tc.name, code, errOut)
		}
		var p plan.Plan
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("plan --json: %v", err)
		}
		for _, f := range p.Findings {
			switch {
			case ad.IsUnder(f.ObjectDN, ou):
				t.Errorf("plan of %s: %s %s: %s", tc.name, f.Kind, f.ObjectDN, f.Evidence)
			case (f.Kind == plan.MissingInAD || f.Kind == plan.MissingInCloud) && ad.IsUnder(f.ObjectDN, l.Manifest.SyncOU):
				t.Errorf("plan of %s: %s %s: %s", tc.name, f.Kind, f.ObjectDN, f.Evidence)
			}
		}
	}
}
