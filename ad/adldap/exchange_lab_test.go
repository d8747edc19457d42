package adldap_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// What a migration writes on premises, against the lab's Samba with its
// Exchange schema: a routing contact and a dynamic DL with every Exchange
// attribute they carry, a group's legacyExchangeDN and hidden flag; and the
// dynamic DL's filter, evaluated under its base DN, reaching the contact
// only.
func TestLabMigrationObjectsOnPremises(t *testing.T) {
	l := labtest.Get(t)
	t.Parallel()
	ou := l.OU(t)
	c := l.Client(t)
	ctx := ctxT(t)
	dom := l.Manifest.MailDomain
	const legacy = "/o=HybridSync Lab/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=sales"

	contact, err := c.CreateContact(ctx, ou, adldap.Contact{
		Name: "Sales, EMEA (routing)", DisplayName: "Sales (routing contact)", Mail: "sales-routing@" + dom, MailNickname: "sales-routing",
		TargetAddress: "SMTP:sales@hslab.mail.onmicrosoft.com", ProxyAddresses: []string{"SMTP:sales-routing@" + dom},
		HiddenFromAddressLists: true, ExtensionAttributes: map[int]string{1: "MigratedByHybridsync", 2: "sales", 15: "fifteen"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A second contact the filter must not reach.
	if _, err := c.CreateContact(ctx, ou, adldap.Contact{Name: "Other Contact", Mail: "other@fabrikam.test", TargetAddress: "SMTP:other@fabrikam.test",
		ExtensionAttributes: map[int]string{1: "MigratedByHybridsync", 2: "marketing"}}); err != nil {
		t.Fatal(err)
	}
	filter := adldap.And(adldap.Eq("objectClass", "contact"), adldap.Eq("extensionAttribute1", "MigratedByHybridsync"), adldap.Eq("extensionAttribute2", "sales"))
	ddl, err := c.CreateDynamicDL(ctx, ou, adldap.DynamicDL{
		Name: "Sales, EMEA", DisplayName: "Sales EMEA", Mail: "sales@" + dom, MailNickname: "sales",
		ProxyAddresses: []string{"SMTP:sales@" + dom, "smtp:vertrieb@" + dom, "X500:" + legacy},
		Filter:         filter, BaseDN: ou, HiddenFromAddressLists: true, LegacyExchangeDN: legacy,
		ExtensionAttributes: map[int]string{1: "MigratedByHybridsync"},
		Extra:               []ad.Attribute{{Name: "msExchRequireAuthToSendTo", Values: []string{"TRUE"}}},
	})
	if err != nil {
		t.Fatal(err)
	}

	ct, err := c.ReadRecipient(ctx, contact)
	if err != nil {
		t.Fatal(err)
	}
	if ct.Kind != ad.KindContact || ct.TargetAddress != "SMTP:sales@hslab.mail.onmicrosoft.com" || !ct.HiddenFromGAL ||
		ct.ExtensionAttributes["extensionAttribute2"] != "sales" || ct.ExtensionAttributes["extensionAttribute15"] != "fifteen" ||
		ct.MailNickname != "sales-routing" || ct.DisplayName != "Sales (routing contact)" {
		t.Errorf("contact read back as %+v", ct)
	}
	d, err := c.ReadRecipient(ctx, ddl)
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != ad.KindDynamicDL || d.DynamicFilter != filter || !ad.EqualDN(d.DynamicBaseDN, ou) || !d.HiddenFromGAL || !d.RequireSenderAuth ||
		len(d.ProxyAddresses.Raw()) != 3 || d.ExtensionAttributes["extensionAttribute1"] != "MigratedByHybridsync" {
		t.Errorf("dynamic DL read back as %+v (proxyAddresses %v)", d, d.ProxyAddresses.Raw())
	}
	attrs, err := c.ReadAttributes(ctx, ddl, "legacyExchangeDN", "msExchDynamicDLFilter", "description")
	if err != nil || !slices.Equal(attrs["legacyExchangeDN"], []string{legacy}) || attrs["msExchDynamicDLFilter"][0] != filter {
		t.Errorf("ReadAttributes = %v, %v", attrs, err)
	}
	if _, ok := attrs["description"]; ok {
		t.Errorf("an attribute without values came back: %v", attrs)
	}

	// The dynamic DL's filter, evaluated as Exchange would, reaches the
	// routing contact only.
	var reached []string
	res, err := c.SearchRecipients(ctx, d.DynamicBaseDN, d.DynamicFilter, func(r *ad.Recipient) error {
		reached = append(reached, r.DN)
		return nil
	})
	if err != nil || !res.Complete || len(reached) != 1 || !ad.EqualDN(reached[0], contact) {
		t.Errorf("filter reached %v (%+v, %v), want the contact only", reached, res, err)
	}

	// A group's legacyExchangeDN and hidden flag.
	group := ad.ChildDN("CN", "Retired Sales", ou)
	if err := c.Add(ctx, group, []ad.Attribute{{Name: "objectClass", Values: []string{"top", "group"}}, {Name: "groupType", Values: []string{"8"}},
		{Name: "mail", Values: []string{"retired-sales@" + dom}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Modify(ctx, group, ad.Change{Op: ad.ReplaceValues, Attr: "legacyExchangeDN", Values: []string{legacy + "-old"}},
		ad.Change{Op: ad.ReplaceValues, Attr: "msExchHideFromAddressLists", Values: []string{"TRUE"}}); err != nil {
		t.Fatal(err)
	}
	g, err := c.ReadRecipient(ctx, group)
	if err != nil || !g.HiddenFromGAL {
		t.Errorf("group read back as %+v, %v", g, err)
	}
	if attrs, err := c.ReadAttributes(ctx, group, "legacyExchangeDN"); err != nil || !slices.Equal(attrs["legacyExchangeDN"], []string{legacy + "-old"}) {
		t.Errorf("group legacyExchangeDN = %v, %v", attrs, err)
	}
	if _, err := c.ReadAttributes(ctx, ad.ChildDN("CN", "Nobody", ou), "mail"); !errors.Is(err, retry.ErrNotFound) {
		t.Errorf("ReadAttributes of a missing object: %v", err)
	}
	if _, err := c.CreateContact(ctx, ou, adldap.Contact{Name: "Bad", ExtensionAttributes: map[int]string{16: "x"}}); err == nil {
		t.Error("extensionAttribute16 accepted")
	}
}
