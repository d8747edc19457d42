package adldap_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
)

func TestLabRecipientModel(t *testing.T) {
	l := labtest.Get(t)
	t.Parallel()
	c := l.Client(t)
	ctx := ctxT(t)
	m := l.Manifest
	read := func(dn string) *ad.Recipient {
		t.Helper()
		r, err := c.ReadRecipient(ctx, dn)
		if err != nil {
			t.Fatalf("read %s: %v", dn, err)
		}
		return r
	}

	t.Run("restricted DL", func(t *testing.T) {
		r := read(m.RestrictedDL)
		if r.Kind != ad.KindGroup || r.GroupType == nil || r.GroupType.Scope != ad.ScopeUniversal || r.GroupType.Security {
			t.Fatalf("group type %+v kind %s", r.GroupType, r.Kind)
		}
		if len(r.AcceptFrom) != 2 || len(r.RejectFrom) != 1 || len(r.AcceptFromMembersOf) != 1 ||
			len(r.RejectFromMembersOf) != 1 || len(r.SendOnBehalf) != 1 {
			t.Fatalf("delivery restrictions %+v", r)
		}
		if !ad.EqualDN(r.AcceptFromMembersOf[0], m.MailSecurity) {
			t.Fatalf("dLMemSubmitPerms = %v, want %s", r.AcceptFromMembersOf, m.MailSecurity)
		}
		if !r.RequireSenderAuth || !r.HiddenFromGAL || r.ExtensionAttributes["extensionAttribute10"] != "restricted" {
			t.Fatalf("flags: auth %v hidden %v ext %v", r.RequireSenderAuth, r.HiddenFromGAL, r.ExtensionAttributes)
		}
		if r.GUID == "" || !strings.HasPrefix(r.SID, "S-1-5-21-") || r.USNChanged == 0 {
			t.Fatalf("identity guid=%q sid=%q usn=%d", r.GUID, r.SID, r.USNChanged)
		}
	})
	t.Run("moderated and managed DLs", func(t *testing.T) {
		mod := read(m.ModeratedDL)
		if !mod.ModerationEnabled || len(mod.ModeratedBy) != 1 || len(mod.BypassModeration) != 1 || mod.ManagedBy == "" {
			t.Fatalf("moderation %+v", mod)
		}
		mgd := read(m.ManagedDL)
		if mgd.ManagedBy == "" || len(mgd.CoManagedBy) != 2 {
			t.Fatalf("managers %q %v", mgd.ManagedBy, mgd.CoManagedBy)
		}
	})
	t.Run("mail-enabled security group", func(t *testing.T) {
		r := read(m.MailSecurity)
		if r.GroupType == nil || !r.GroupType.Security || r.GroupType.Scope != ad.ScopeUniversal || r.Mail == "" {
			t.Fatalf("%+v", r.GroupType)
		}
	})
	t.Run("nesting and cycle", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			r := read(m.NestedDLs[i])
			if !slices.ContainsFunc(r.Members, func(d string) bool { return ad.EqualDN(d, m.NestedDLs[i+1]) }) {
				t.Fatalf("%s does not contain %s", m.NestedDLs[i], m.NestedDLs[i+1])
			}
		}
		a, b := read(m.CycleDLs[0]), read(m.CycleDLs[1])
		if !slices.ContainsFunc(a.Members, func(d string) bool { return ad.EqualDN(d, b.DN) }) ||
			!slices.ContainsFunc(b.Members, func(d string) bool { return ad.EqualDN(d, a.DN) }) {
			t.Fatal("cycle A <-> B not present")
		}
	})
	t.Run("x500-only mail user", func(t *testing.T) {
		r := read(m.X500OnlyUsers[0])
		if _, ok := r.ProxyAddresses.PrimarySMTP(); ok {
			t.Fatal("x500-only user has a primary SMTP address")
		}
		x := r.ProxyAddresses.OfType(ad.TypeX500)
		if len(x) != 1 || x[0].IsPrimary() || r.Mail == "" {
			t.Fatalf("x500 values %v mail %q", x, r.Mail)
		}
	})
	t.Run("remote mailbox", func(t *testing.T) {
		r := read(m.RemoteMailbox)
		if r.RecipientTypeDetails != 2147483648 || r.RemoteRecipientType != 4 || r.RecipientDisplayType != -2147483642 ||
			!strings.HasPrefix(r.TargetAddress, "SMTP:") {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("dynamic DL", func(t *testing.T) {
		r := read(m.DynamicDL)
		if r.Kind != ad.KindDynamicDL || r.DynamicFilter == "" || r.DynamicBaseDN == "" {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("non-SMTP proxy types", func(t *testing.T) {
		var found bool
		_, err := c.StreamRecipients(ctx, m.SyncOU, func(r *ad.Recipient) error {
			if len(r.ProxyAddresses.OfType(ad.TypeSIP)) > 0 && len(r.ProxyAddresses.OfType(ad.TypeX400)) > 0 {
				found = true
			}
			return nil
		})
		if err != nil || !found {
			t.Fatalf("no user with SIP and X400 addresses (err %v)", err)
		}
	})
}
