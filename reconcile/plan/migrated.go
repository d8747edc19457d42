package plan

import (
	"cmp"
	"slices"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
)

// migratedLists reports the lists migrated by hybridsync whose cloud
// primary address was changed (in the Exchange admin center, say) while
// their on-premises dynamic list still carries the old one: on-premises
// Exchange then does not know the list's address.
//
// Which cloud list a dynamic list stands for is read from AD and the
// tenant alone, never from the migration's journal, so that a plan made
// on another machine, or after the journal is gone, still finds it: the
// dynamic list's filter (msExchDynamicDLFilter) names its routing contact
// (ad.RoutingFilter of the contact's extensionAttribute2), the contact's
// targetAddress is the list's routing address, and the cloud list is the
// cloud-managed group holding that address. A dynamic list whose contact
// or cloud list is not found is left alone: it is not a migrated list's
// (or the migration is not finished), and nothing can be proposed.
func (b *builder) migratedLists() {
	contacts := map[string]*ad.Recipient{} // by the filter naming them, lower case
	var lists []*ad.Recipient
	for _, r := range b.a.Routing {
		if r.Deleted || r.ExtensionAttributes["extensionAttribute1"] != ad.RoutingMarker {
			continue
		}
		switch r.Kind {
		case ad.KindContact:
			if id := r.ExtensionAttributes["extensionAttribute2"]; id != "" {
				contacts[strings.ToLower(ad.RoutingFilter(id))] = r
			}
		case ad.KindDynamicDL:
			lists = append(lists, r)
		}
	}
	if len(lists) == 0 {
		return
	}
	route := map[*ad.Recipient]*ad.Recipient{} // dynamic list -> contact
	wanted := map[string]bool{}                // routing addresses, lower case
	for _, dl := range lists {
		c := contacts[strings.ToLower(dl.DynamicFilter)]
		if c == nil {
			continue
		}
		if a := addressOf(c.TargetAddress); a != "" {
			route[dl], wanted[strings.ToLower(a)] = c, true
		}
	}
	holders := map[string]*cloud.Object{}
	for _, o := range b.c.Objects {
		if o.Removed != nil || o.Kind != cloud.KindGroup || o.OnPremisesSyncEnabled {
			continue
		}
		for _, p := range o.ProxyAddresses {
			if prefix, a, ok := strings.Cut(p, ":"); ok && strings.EqualFold(prefix, "smtp") && wanted[strings.ToLower(a)] {
				holders[strings.ToLower(a)] = o
			}
		}
	}
	slices.SortFunc(lists, func(x, y *ad.Recipient) int { return cmp.Compare(DNKey(x.DN), DNKey(y.DN)) })
	for _, dl := range lists {
		c := route[dl]
		if c == nil {
			continue
		}
		o := holders[strings.ToLower(addressOf(c.TargetAddress))]
		if o == nil {
			continue
		}
		cloudPrimary := o.Mail
		for _, p := range o.ProxyAddresses {
			if a, ok := strings.CutPrefix(p, "SMTP:"); ok {
				cloudPrimary = a
			}
		}
		onPrem := dl.Mail
		if p, ok := dl.ProxyAddresses.PrimarySMTP(); ok {
			onPrem = p.Address
		}
		if cloudPrimary == "" || (strings.EqualFold(onPrem, cloudPrimary) && strings.EqualFold(dl.Mail, cloudPrimary)) {
			continue
		}
		act := migratedListAction(dl, onPrem, cloudPrimary)
		b.actions = append(b.actions, act)
		b.add(Finding{Kind: MigratedListAddress, Severity: SeverityError, ObjectDN: dl.DN, ObjectGUID: dl.GUID, CloudID: o.ID,
			Name: dl.Name, Attribute: "mail, proxyAddresses", Action: act,
			Facts: Facts{MigratedListAddress: &MigratedListAddressFacts{OnPremisesPrimary: onPrem, CloudPrimary: cloudPrimary,
				CloudName: o.DisplayName, ContactDN: c.DN, RoutingAddress: addressOf(c.TargetAddress)}}})
	}
}

// migratedListAction makes primary the dynamic list's primary address, in
// mail and proxyAddresses, keeping old as a secondary smtp: value. Values
// are deleted before they are added: AD compares proxyAddresses without
// case.
func migratedListAction(dl *ad.Recipient, old, primary string) *Action {
	raw := dl.ProxyAddresses.Raw()
	act := &Action{Kind: ActionMigratedListAddress, ObjectDN: dl.DN, ObjectGUID: dl.GUID, Attribute: "proxyAddresses",
		Mail: dl.Mail, NewMail: primary, BeforeProxyAddresses: slices.Clone(raw), USNChanged: dl.USNChanged}
	keepOld := old != "" && !strings.EqualFold(old, primary)
	for _, v := range raw {
		prefix, a, _ := strings.Cut(v, ":")
		switch {
		case !strings.EqualFold(prefix, "smtp"):
		case strings.EqualFold(a, primary):
			act.Delete = append(act.Delete, v)
		case prefix == "SMTP":
			act.Delete = append(act.Delete, v)
		case strings.EqualFold(a, old):
			keepOld = false // already a secondary
		}
	}
	if keepOld {
		act.Add = append(act.Add, "smtp:"+old)
	}
	act.Add = append(act.Add, "SMTP:"+primary)
	return act
}

// addressOf returns the address of a prefixed value ("SMTP:a@b" -> "a@b"),
// or v itself when it has no prefix.
func addressOf(v string) string {
	if _, a, ok := strings.Cut(v, ":"); ok {
		return a
	}
	return v
}
