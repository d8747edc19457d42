package lab_test

import (
	"context"
	"os"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/agent/lab"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
)

func TestLabIsRunningAndDescribed(t *testing.T) {
	l := labtest.Get(t)
	if _, ok := lab.Running(l.State.Dir); !ok {
		t.Fatal("lab DC is not running")
	}
	for _, k := range []string{lab.EnvLDAPURL, lab.EnvBaseDN, lab.EnvBindDN, lab.EnvPasswordFile, lab.EnvCAFile,
		lab.EnvSyncOU, lab.EnvNoSyncOU, lab.EnvMailDomain, lab.EnvKeytab, lab.EnvKrb5Conf, lab.EnvConfig} {
		if l.Env[k] == "" {
			t.Errorf("lab.env lacks %s", k)
		}
	}
	for _, k := range []string{lab.EnvPasswordFile, lab.EnvCAFile, lab.EnvKeytab, lab.EnvKrb5Conf, lab.EnvConfig} {
		if _, err := os.Stat(l.Env[k]); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	if fi, err := os.Stat(l.Env[lab.EnvPasswordFile]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("password file mode %v %v, want 0600", fi.Mode(), err)
	}
}

func TestLabSchemaHasExchangeAttributes(t *testing.T) {
	l := labtest.Get(t)
	c := l.Client(t)
	schema := "CN=Schema,CN=Configuration," + l.State.BaseDN
	want := map[string]string{
		"mailNickname":               "1.2.840.113556.1.2.447",
		"targetAddress":              "1.2.840.113556.1.2.352",
		"msExchRecipientTypeDetails": "1.2.840.113556.1.4.7000.102.50855",
		"msExchHideFromAddressLists": "1.2.840.113556.1.4.7000.102.73",
		"extensionAttribute15":       "1.2.840.113556.1.2.603",
		"authOrig":                   "1.2.840.113556.1.2.129",
		"msExchModeratedByLink":      "1.2.840.113556.1.4.7000.102.50952",
	}
	got := map[string]string{}
	_, err := c.Search(context.Background(), adldap.SearchRequest{BaseDN: schema, Scope: adldap.ScopeOneLevel,
		Filter: adldap.Or(adldap.Eq("objectClass", "attributeSchema"), adldap.Eq("objectClass", "classSchema")), Attributes: []string{"lDAPDisplayName", "attributeID", "governsID"}},
		func(e *ldap.Entry) error {
			id := e.GetAttributeValue("attributeID")
			if id == "" {
				id = e.GetAttributeValue("governsID")
			}
			got[e.GetAttributeValue("lDAPDisplayName")] = id
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	for name, oid := range want {
		if got[name] != oid {
			t.Errorf("schema %s = %q, want %q", name, got[name], oid)
		}
	}
	if got["msExchDynamicDistributionList"] != "1.2.840.113556.1.5.7000.62.12006" {
		t.Errorf("class msExchDynamicDistributionList = %q", got["msExchDynamicDistributionList"])
	}
}

// A user named in a group's authOrig, moderators or delegates carries the
// back links of those attributes; the DC must still accept changes to it
// (the schema allows the back links on mailRecipient, as Exchange's does).
func TestLabObjectsWithBackLinksCanBeChanged(t *testing.T) {
	l := labtest.Get(t)
	c := l.Client(t)
	ctx := t.Context()
	dl, err := c.ReadRecipient(ctx, l.Manifest.RestrictedDL)
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.ReadRecipient(ctx, l.Manifest.ModeratedDL)
	if err != nil {
		t.Fatal(err)
	}
	for _, dn := range []string{dl.AcceptFrom[0], dl.RejectFrom[0], dl.SendOnBehalf[0], m.ModeratedBy[0], m.BypassModeration[0]} {
		if err := c.Modify(ctx, dn, ad.Change{Op: ad.AddValues, Attr: "description", Values: []string{"back link probe"}}); err != nil {
			t.Errorf("change %s: %v", dn, err)
			continue
		}
		if err := c.Modify(ctx, dn, ad.Change{Op: ad.DeleteValues, Attr: "description", Values: []string{"back link probe"}}); err != nil {
			t.Errorf("undo the change to %s: %v", dn, err)
		}
	}
}
