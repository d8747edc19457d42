package migrate

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/journal"
)

// Markers the saga leaves on what it makes, so that a later run (or an
// admin) can tell them apart.
const (
	// MarkerRouting is extensionAttribute1 of a routing contact;
	// extensionAttribute2 holds the saga id.
	MarkerRouting = ad.RoutingMarker
	// MarkerMigrated is extensionAttribute1 of a retired group;
	// extensionAttribute2 holds its former primary address.
	MarkerMigrated = "hybridsync-migrated"
)

// group reads the saga's on-premises group by objectGUID.
func (e *Env) group(ctx context.Context, s *Saga) (*ad.Recipient, error) {
	r, _, err := e.Dir.FindByGUIDOnDC(ctx, s.ID)
	return r, err
}

func notFound(err error) bool { return retry.ClassOf(err) == retry.NotFound }

// tempAlias is the new cloud list's alias and name until it takes the
// group's own.
func tempAlias(s *Saga) string { return "hybridsync-" + s.ID[:8] }

func (e *Env) tempPrimary(s *Saga) string { return tempAlias(s) + "@" + e.InitialDomain }

// routingAddress is the tenant routing address of the group.
func (e *Env) routingAddr(s *Saga) string { return s.Capture.Alias + "@" + e.routingDomain() }

// --- recreate path ---

// wantedList is the cloud list the recreate path makes, as the group was.
func (e *Env) wantedList(s *Saga) cloud.NewDistributionGroup {
	c := s.Capture
	t := "Distribution"
	if s.Options.GroupType == "security" || (s.Options.GroupType == "" && c.Group.Security) {
		t = "Security"
	}
	return cloud.NewDistributionGroup{Name: tempAlias(s), DisplayName: cmpOr(c.Group.DisplayName, c.Group.Name), Alias: tempAlias(s),
		PrimarySMTPAddress: e.tempPrimary(s), Type: t, ManagedBy: clouds(c.Owners), Members: clouds(c.Members)}
}

// settingsOf are the list's settings the group had.
func settingsOf(c *Capture) cloud.GroupChanges {
	hidden := true // until it takes the group's name and addresses
	ch := cloud.GroupChanges{HiddenFromAddressLists: &hidden, RequireSenderAuthentication: &c.RequireAuth,
		ModerationEnabled: &c.Moderated, CustomAttributes: customAttributes(c.Group.Extension)}
	set := func(refs []Ref) *[]string { v := clouds(refs); return &v }
	ch.ManagedBy, ch.ModeratedBy, ch.BypassModeration = set(c.Owners), set(c.ModeratedBy), set(c.BypassModeration)
	ch.AcceptMessagesOnlyFrom, ch.RejectMessagesFrom, ch.GrantSendOnBehalfTo = set(c.AcceptFrom), set(c.RejectFrom), set(c.SendOnBehalf)
	return ch
}

func (e *Env) create(ctx context.Context, s *Saga) error {
	want := e.wantedList(s)
	created := func(ctx context.Context) (bool, error) {
		g, err := e.Exchange.GetDistributionGroup(ctx, want.Alias)
		if err != nil {
			if notFound(err) {
				return false, nil
			}
			return false, err
		}
		s.Made.CloudListID, s.Made.TempAlias = g.ExternalDirectoryObjectID, want.Alias
		return true, nil
	}
	ok, err := created(ctx)
	if err != nil {
		return err
	}
	if ok {
		// Made by a run that died before noting its id: note it now, so
		// that a crash later in this step can settle against it.
		if err := e.save(s); err != nil {
			return err
		}
	} else {
		err := e.perform(ctx, s, write{op: "exo.New-DistributionGroup", target: journal.TargetExchange, object: want.Alias,
			intent: newListIntentOf(want), before: nil,
			do: func(ctx context.Context) error {
				g, err := e.Exchange.NewDistributionGroup(ctx, want)
				if g != nil {
					s.Made.CloudListID, s.Made.TempAlias = g.ExternalDirectoryObjectID, want.Alias
				}
				return err
			}, check: created}, false)
		if err != nil {
			return err
		}
		if s.Made.CloudListID == "" {
			if _, err := created(ctx); err != nil {
				return err
			}
		}
		if err := e.save(s); err != nil {
			return err
		}
	}
	// Members beyond the first call, and the settings New-DistributionGroup
	// does not take.
	id := s.Made.CloudListID
	members := clouds(s.Capture.Members)
	if err := e.perform(ctx, s, write{op: "exo.Update-DistributionGroupMember", target: journal.TargetExchange, object: id,
		intent: memberIntent(members), before: nil,
		do:    func(ctx context.Context) error { return e.Exchange.ReplaceGroupMembers(ctx, id, members) },
		check: func(ctx context.Context) (bool, error) { return e.membersAre(ctx, id, members) }}, false); err != nil {
		return err
	}
	ch := settingsOf(s.Capture)
	return e.perform(ctx, s, write{op: "exo.Set-DistributionGroup", target: journal.TargetExchange, object: id,
		intent: ch, before: nil,
		do:    func(ctx context.Context) error { return e.Exchange.SetDistributionGroup(ctx, id, ch) },
		check: func(ctx context.Context) (bool, error) { return e.settingsAre(ctx, id, s.Capture) }}, false)
}

// membersAre reports whether the cloud list's members are exactly want.
func (e *Env) membersAre(ctx context.Context, id string, want []string) (bool, error) {
	ms, err := e.Exchange.GroupMembers(ctx, id)
	if err != nil {
		return false, err
	}
	have := make([]string, 0, len(ms))
	for _, m := range ms {
		have = append(have, strings.ToLower(cmpOr(m.ExternalDirectoryObjectID, m.GUID)))
	}
	return sameFold(have, want), nil
}

// settingsAre reports whether the cloud list holds the captured owners,
// moderation and restrictions. Get-DistributionGroup names the recipients
// of ManagedBy, ModeratedBy and the rest by their Name, not by the ids
// they were set with, so the wanted ids are looked up first.
func (e *Env) settingsAre(ctx context.Context, id string, c *Capture) (bool, error) {
	g, err := e.Exchange.GetDistributionGroup(ctx, id)
	if err != nil {
		return false, err
	}
	if g.ModerationEnabled != c.Moderated || g.RequireSenderAuthentication != c.RequireAuth {
		return false, nil
	}
	names := map[string]string{}
	for _, l := range []struct {
		have []string
		want []Ref
	}{{g.ManagedBy, c.Owners}, {g.ModeratedBy, c.ModeratedBy}, {g.BypassModeration, c.BypassModeration},
		{g.AcceptMessagesOnlyFrom, c.AcceptFrom}, {g.RejectMessagesFrom, c.RejectFrom}, {g.GrantSendOnBehalfTo, c.SendOnBehalf}} {
		want, err := e.recipientNames(ctx, clouds(l.want), names)
		if err != nil {
			return false, err
		}
		if !sameFold(l.have, want) {
			return false, nil
		}
	}
	return true, nil
}

// recipientNames returns the Exchange Online names of the recipients with
// the given ids, the way Get-DistributionGroup lists them; known caches
// the names already looked up.
func (e *Env) recipientNames(ctx context.Context, ids []string, known map[string]string) ([]string, error) {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		n, ok := known[id]
		if !ok {
			r, err := e.Exchange.GetRecipient(ctx, id)
			if err != nil {
				return nil, fmt.Errorf("migrate: name of recipient %s: %w", id, err)
			}
			n = cmpOr(r.Name, r.Identity)
			known[id] = n
		}
		out = append(out, n)
	}
	return out, nil
}

func (e *Env) move(ctx context.Context, s *Saga) error {
	moved := func(ctx context.Context) (bool, error) {
		r, err := e.group(ctx, s)
		if err != nil {
			return false, err
		}
		parent, _ := ad.ParentDN(r.DN)
		if ad.EqualDN(parent, s.Options.NoSyncOU) {
			s.Made.MovedDN = r.DN
			return true, nil
		}
		return false, nil
	}
	if ok, err := moved(ctx); err != nil || ok {
		return err
	}
	from := s.Capture.Group.DN
	return e.perform(ctx, s, write{op: "ad.Move", target: journal.TargetAD, object: from,
		intent: map[string]string{"from": from, "to": s.Options.NoSyncOU}, before: map[string]string{"dn": from},
		do: func(ctx context.Context) error {
			dn, err := e.Dir.Move(ctx, from, s.Options.NoSyncOU)
			if err == nil {
				s.Made.MovedDN = dn
			}
			return err
		}, check: moved}, false)
}

// twinGone reports whether the synced twin is gone from Graph and its
// primary address from Exchange Online.
func (e *Env) twinGone(ctx context.Context, s *Saga) (bool, error) {
	// One read: Get's re-reads of a not-found object would hold the
	// addresses back for seconds after the deletion shows.
	_, err := e.Graph.Lookup(ctx, cloud.KindGroup, s.Capture.TwinID)
	switch {
	case err == nil:
		return false, nil
	case !notFound(err):
		return false, err
	}
	x, err := e.Exchange.GetRecipient(ctx, s.Capture.Primary)
	switch {
	case notFound(err):
		return true, nil
	case err != nil:
		return false, err
	}
	return !strings.EqualFold(x.ExternalDirectoryObjectID, s.Capture.TwinID) && x.ExternalDirectoryObjectID != "", nil
}

func (e *Env) awaitTwinDeleted(ctx context.Context, s *Saga) error {
	return e.waitFor(ctx, s, "the sync cycle that deletes the synced twin of "+s.Capture.Primary, true,
		func(ctx context.Context) (bool, error) { return e.twinGone(ctx, s) })
}

// listAddresses are the addresses the new list takes: the group's own,
// the twin's, x500 values of both legacyExchangeDNs, and the tenant
// routing address.
func (e *Env) listAddresses(s *Saga) []string {
	c := s.Capture
	out := []string{"SMTP:" + c.Primary}
	add := func(v string) {
		if v != "" && !slices.ContainsFunc(out, func(x string) bool { return strings.EqualFold(x, v) }) {
			out = append(out, v)
		}
	}
	for _, v := range slices.Concat(c.Group.ProxyAddresses, c.TwinAddresses) {
		p, err := ad.ParseProxyAddress(v)
		if err != nil {
			continue
		}
		switch {
		case p.IsSMTP() && strings.EqualFold(p.Address, c.Primary):
		case p.IsSMTP():
			add("smtp:" + p.Address)
		default:
			add(v)
		}
	}
	if c.Group.LegacyExchangeDN != "" {
		add("X500:" + c.Group.LegacyExchangeDN)
	}
	if c.TwinLegacyExchangeDN != "" {
		add("X500:" + c.TwinLegacyExchangeDN)
	}
	add("smtp:" + e.routingAddr(s))
	return out
}

// hasAddresses reports whether g holds every address of want (case
// insensitive) with want[0] as its primary.
func hasAddresses(g *cloud.DistributionGroup, want []string) bool {
	if !strings.EqualFold("SMTP:"+g.PrimarySMTPAddress, want[0]) {
		return false
	}
	for _, w := range want[1:] {
		if !slices.ContainsFunc(g.EmailAddresses, func(v string) bool { return strings.EqualFold(v, w) }) {
			return false
		}
	}
	return true
}

func (e *Env) takeAddresses(ctx context.Context, s *Saga) error {
	c, id := s.Capture, s.Made.CloudListID
	want := e.listAddresses(s)
	taken := func(ctx context.Context) (bool, error) {
		g, err := e.Exchange.GetDistributionGroup(ctx, id)
		if err != nil {
			return false, err
		}
		return hasAddresses(g, want), nil
	}
	if ok, err := taken(ctx); err != nil || ok {
		return err
	}
	name, display, alias, primary := c.Group.Name, cmpOr(c.Group.DisplayName, c.Group.Name), c.Alias, c.Primary
	hidden := c.Group.Hidden
	ch := cloud.GroupChanges{Name: &name, DisplayName: &display, Alias: &alias, PrimarySMTPAddress: &primary,
		EmailAddresses: &want, HiddenFromAddressLists: &hidden}
	err := e.perform(ctx, s, write{op: "exo.Set-DistributionGroup", target: journal.TargetExchange, object: id,
		intent: ch, before: map[string]any{"name": tempAlias(s), "primary": e.tempPrimary(s)},
		do:    func(ctx context.Context) error { return e.Exchange.SetDistributionGroup(ctx, id, ch) },
		check: taken}, false)
	if retry.ClassOf(err) == retry.Conflict {
		// An address is still held (the deleted twin, not yet released
		// everywhere): try again shortly.
		return fmt.Errorf("%w: %w", ErrBlocked, err)
	}
	return err
}

// routingContactDN is where the routing contact is made: in the no-sync
// OU, which is never synced.
func routingContactDN(s *Saga) string {
	return ad.ChildDN("CN", routingContactName(s.ID), s.Options.NoSyncOU)
}

func (e *Env) routingContact(ctx context.Context, s *Saga) error {
	dn := routingContactDN(s)
	exists := func(ctx context.Context) (bool, error) {
		_, err := e.Dir.ReadRecipient(ctx, dn)
		if notFound(err) {
			return false, nil
		}
		if err == nil {
			s.Made.ContactDN = dn
		}
		return err == nil, err
	}
	if ok, err := exists(ctx); err != nil || ok {
		return err
	}
	c, addr := s.Capture, e.routingAddr(s)
	s.Made.RoutingAddress = addr
	attrs := routingContactAttrs(cmpOr(c.Group.DisplayName, c.Group.Name), addr, s.ID)
	return e.perform(ctx, s, write{op: "ad.Add", target: journal.TargetAD, object: dn, intent: attrs, before: nil,
		do: func(ctx context.Context) error {
			err := e.Dir.Add(ctx, dn, attrs)
			if err == nil {
				s.Made.ContactDN = dn
			}
			return err
		}, check: exists}, false)
}

// routingContactName is the name (CN and mailNickname) of the routing
// contact hybridsync makes for key (a saga id, or a cloud list's id).
func routingContactName(key string) string { return "hybridsync-routing-" + short(key) }

// short is the first 8 characters of an id, for names.
func short(id string) string { return id[:min(8, len(id))] }

// routingContactAttrs are the attributes of a routing contact: mail
// routed to addr (the tenant routing address), hidden, and marked with
// MarkerRouting and key so that a dynamic list's filter reaches it alone.
func routingContactAttrs(listName, addr, key string) []ad.Attribute {
	return []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "contact"}},
		{Name: "displayName", Values: []string{listName + " (routing to Exchange Online)"}},
		{Name: "mail", Values: []string{addr}},
		{Name: "mailNickname", Values: []string{routingContactName(key)}},
		{Name: "targetAddress", Values: []string{"SMTP:" + addr}},
		{Name: "proxyAddresses", Values: []string{"SMTP:" + addr}},
		{Name: "msExchHideFromAddressLists", Values: []string{"TRUE"}},
		{Name: "extensionAttribute1", Values: []string{MarkerRouting}},
		{Name: "extensionAttribute2", Values: []string{key}},
	}
}

// retiredChanges mail-disable the original group and mark it.
func retiredChanges(c *Capture) []ad.Change {
	return append(mailDisableChanges(),
		ad.Change{Op: ad.ReplaceValues, Attr: "extensionAttribute1", Values: []string{MarkerMigrated}},
		ad.Change{Op: ad.ReplaceValues, Attr: "extensionAttribute2", Values: []string{c.Primary}})
}

// mailDisableChanges clear a group's mail attributes, so that it holds no
// address.
func mailDisableChanges() []ad.Change {
	return []ad.Change{
		{Op: ad.ReplaceValues, Attr: "mail"}, {Op: ad.ReplaceValues, Attr: "mailNickname"},
		{Op: ad.ReplaceValues, Attr: "proxyAddresses"}, {Op: ad.ReplaceValues, Attr: "legacyExchangeDN"},
	}
}

// restoredChanges give the group back its mail attributes from the
// before-image.
func restoredChanges(g GroupImage) []ad.Change {
	one := func(v string) []string {
		if v == "" {
			return nil
		}
		return []string{v}
	}
	return []ad.Change{
		{Op: ad.ReplaceValues, Attr: "mail", Values: one(g.Mail)},
		{Op: ad.ReplaceValues, Attr: "mailNickname", Values: one(g.MailNickname)},
		{Op: ad.ReplaceValues, Attr: "proxyAddresses", Values: slices.Clone(g.ProxyAddresses)},
		{Op: ad.ReplaceValues, Attr: "legacyExchangeDN", Values: one(g.LegacyExchangeDN)},
		{Op: ad.ReplaceValues, Attr: "extensionAttribute1", Values: one(g.Extension["extensionAttribute1"])},
		{Op: ad.ReplaceValues, Attr: "extensionAttribute2", Values: one(g.Extension["extensionAttribute2"])},
	}
}

func (e *Env) retire(ctx context.Context, s *Saga) error {
	retired := func(ctx context.Context) (bool, error) {
		r, err := e.group(ctx, s)
		if err != nil {
			return false, err
		}
		return r.Mail == "" && len(r.ProxyAddresses.Values) == 0 && r.ExtensionAttributes["extensionAttribute1"] == MarkerMigrated, nil
	}
	if ok, err := retired(ctx); err != nil || ok {
		return err
	}
	r, err := e.group(ctx, s)
	if err != nil {
		return err
	}
	ch := retiredChanges(s.Capture)
	return e.perform(ctx, s, write{op: "ad.Modify", target: journal.TargetAD, object: r.DN, intent: ch, before: s.Capture.Group,
		do: func(ctx context.Context) error { return e.Dir.Modify(ctx, r.DN, ch...) }, check: retired}, false)
}

// dynamicListFilter is the on-premises dynamic list's filter: the routing
// contact of the saga, and nothing else.
func dynamicListFilter(s *Saga) string { return ad.RoutingFilter(s.ID) }

func (e *Env) dynamicList(ctx context.Context, s *Saga) error {
	c := s.Capture
	dn := c.Group.DN // the group's old place: dynamic lists are not synced
	exists := func(ctx context.Context) (bool, error) {
		r, err := e.Dir.ReadRecipient(ctx, dn)
		if notFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if r.Kind != ad.KindDynamicDL {
			return false, retry.New("migrate.dynamic-list", retry.Terminal, fmt.Errorf("%s is taken by a %s", dn, r.Kind))
		}
		s.Made.DynamicListDN = dn
		return true, nil
	}
	if ok, err := exists(ctx); err != nil || ok {
		return err
	}
	proxies := slices.Clone(c.Group.ProxyAddresses)
	if c.Group.LegacyExchangeDN != "" {
		proxies = append(proxies, "X500:"+c.Group.LegacyExchangeDN)
	}
	attrs := dynamicListAttrs(dynamicList{DisplayName: cmpOr(c.Group.DisplayName, c.Group.Name), Primary: c.Primary, Alias: c.Alias,
		ProxyAddresses: proxies, Filter: dynamicListFilter(s), BaseDN: s.Options.NoSyncOU, Key: s.ID, Hidden: c.Group.Hidden})
	return e.perform(ctx, s, write{op: "ad.Add", target: journal.TargetAD, object: dn, intent: attrs, before: nil,
		do: func(ctx context.Context) error {
			err := e.Dir.Add(ctx, dn, attrs)
			if err == nil {
				s.Made.DynamicListDN = dn
			}
			return err
		}, check: exists}, false)
}

// dynamicList is an on-premises dynamic distribution list holding a cloud
// list's addresses, reaching the routing contact alone.
type dynamicList struct {
	DisplayName, Primary, Alias string
	ProxyAddresses              []string
	// Filter and BaseDN are msExchDynamicDLFilter and msExchDynamicDLBaseDN.
	Filter, BaseDN string
	// Key marks the list (extensionAttribute2, beside MarkerRouting).
	Key    string
	Hidden bool
}

func dynamicListAttrs(d dynamicList) []ad.Attribute {
	attrs := []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "msExchDynamicDistributionList"}},
		{Name: "displayName", Values: []string{d.DisplayName}},
		{Name: "mail", Values: []string{d.Primary}},
		{Name: "mailNickname", Values: []string{d.Alias}},
		{Name: "proxyAddresses", Values: d.ProxyAddresses},
		{Name: "msExchDynamicDLFilter", Values: []string{d.Filter}},
		{Name: "msExchDynamicDLBaseDN", Values: []string{d.BaseDN}},
		{Name: "extensionAttribute1", Values: []string{MarkerRouting}},
		{Name: "extensionAttribute2", Values: []string{d.Key}},
	}
	if d.Hidden {
		attrs = append(attrs, ad.Attribute{Name: "msExchHideFromAddressLists", Values: []string{"TRUE"}})
	}
	return attrs
}

func (e *Env) deleteOriginal(ctx context.Context, s *Saga) error {
	r, err := e.group(ctx, s)
	if notFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.ExtensionAttributes["extensionAttribute1"] != MarkerMigrated {
		return retry.New("migrate.delete-original", retry.Terminal, fmt.Errorf("%s is not marked as retired; not deleting it", r.DN))
	}
	gone := func(ctx context.Context) (bool, error) {
		_, err := e.group(ctx, s)
		if notFound(err) {
			return true, nil
		}
		return false, err
	}
	return e.perform(ctx, s, write{op: "ad.Delete", target: journal.TargetAD, object: r.DN, intent: map[string]string{"delete": r.DN},
		before: s.Capture.Group, do: func(ctx context.Context) error { return e.Dir.Delete(ctx, r.DN) }, check: gone}, false)
}

// --- SOA path ---

func (e *Env) cloudManaged(ctx context.Context, s *Saga) (bool, error) {
	b, err := e.Graph.GroupSyncBehavior(ctx, s.Capture.TwinID)
	if err != nil {
		return false, err
	}
	return b.IsCloudManaged, nil
}

func (e *Env) convert(ctx context.Context, s *Saga) error {
	if ok, err := e.cloudManaged(ctx, s); err != nil || ok {
		s.Made.CloudListID = s.Capture.TwinID
		return err
	}
	id := s.Capture.TwinID
	err := e.perform(ctx, s, write{op: "graph.onPremisesSyncBehavior", target: journal.TargetCloud, object: id,
		intent: cloud.SyncBehavior{IsCloudManaged: true}, before: cloud.SyncBehavior{IsCloudManaged: false},
		do: func(ctx context.Context) error {
			return e.Graph.SetGroupSyncBehavior(ctx, id, cloud.SyncBehavior{IsCloudManaged: true})
		},
		check: func(ctx context.Context) (bool, error) { return e.cloudManaged(ctx, s) }}, false)
	if err == nil {
		s.Made.Converted, s.Made.CloudListID = true, id
	}
	return err
}

// syncedState reports whether Graph and Exchange both show the twin as
// synced (want true) or both as not synced (want false).
func (e *Env) syncedState(ctx context.Context, s *Saga, want bool) (bool, error) {
	o, err := e.Graph.Get(ctx, cloud.KindGroup, s.Capture.TwinID)
	if err != nil {
		return false, err
	}
	if o.OnPremisesSyncEnabled != want {
		return false, nil
	}
	g, err := e.Exchange.GetDistributionGroup(ctx, s.Capture.TwinID)
	if err != nil {
		return false, err
	}
	return g.IsDirSynced == want, nil
}

func (e *Env) awaitCloudManaged(ctx context.Context, s *Saga) error {
	return e.waitFor(ctx, s, "Graph and Exchange Online to show "+s.Capture.Primary+" as cloud-managed", false,
		func(ctx context.Context) (bool, error) { return e.syncedState(ctx, s, false) })
}

func (e *Env) routingAddress(ctx context.Context, s *Saga) error {
	s.Made.RoutingAddress = e.routingAddr(s)
	return e.addCloudAddress(ctx, s, s.Capture.TwinID, "smtp:"+e.routingAddr(s))
}

// addCloudAddress adds addr to the EmailAddresses of the cloud list id,
// unless it is there.
func (e *Env) addCloudAddress(ctx context.Context, s *Saga, id, addr string) error {
	has := func(ctx context.Context) (bool, error) {
		g, err := e.Exchange.GetDistributionGroup(ctx, id)
		if err != nil {
			return false, err
		}
		return slices.ContainsFunc(g.EmailAddresses, func(v string) bool { return strings.EqualFold(v, addr) }), nil
	}
	if ok, err := has(ctx); err != nil || ok {
		return err
	}
	g, err := e.Exchange.GetDistributionGroup(ctx, id)
	if err != nil {
		return err
	}
	addrs := append(slices.Clone(g.EmailAddresses), addr)
	return e.perform(ctx, s, write{op: "exo.Set-DistributionGroup", target: journal.TargetExchange, object: id,
		intent: map[string]string{"add": addr}, before: g.EmailAddresses,
		do: func(ctx context.Context) error {
			return e.Exchange.SetDistributionGroup(ctx, id, cloud.GroupChanges{EmailAddresses: &addrs})
		},
		check: has}, false)
}

func (e *Env) contactMember(ctx context.Context, s *Saga) error {
	dn := s.Made.ContactDN
	isMember := func(ctx context.Context) (bool, error) {
		r, err := e.group(ctx, s)
		if err != nil {
			return false, err
		}
		return slices.ContainsFunc(r.Members, func(m string) bool { return ad.EqualDN(m, dn) }), nil
	}
	if ok, err := isMember(ctx); err != nil || ok {
		return err
	}
	r, err := e.group(ctx, s)
	if err != nil {
		return err
	}
	ch := ad.Change{Op: ad.AddValues, Attr: "member", Values: []string{dn}}
	return e.perform(ctx, s, write{op: "ad.Modify", target: journal.TargetAD, object: r.DN, intent: ch, before: map[string]any{"member": len(r.Members)},
		do: func(ctx context.Context) error { return e.Dir.Modify(ctx, r.DN, ch) }, check: isMember}, false)
}

// --- both ---

// verify reads both directories back and checks the end state.
func (e *Env) verify(ctx context.Context, s *Saga) error {
	var problems []string
	c := s.Capture
	id := s.Made.CloudListID
	g, err := e.Exchange.GetDistributionGroup(ctx, id)
	if err != nil {
		return err
	}
	if !strings.EqualFold(g.PrimarySMTPAddress, c.Primary) {
		problems = append(problems, fmt.Sprintf("the cloud list's primary address is %s, not %s", g.PrimarySMTPAddress, c.Primary))
	}
	if g.IsDirSynced {
		problems = append(problems, "the cloud list is still synced from on premises")
	}
	if s.Method == MethodRecreate {
		if !hasAddresses(g, e.listAddresses(s)) {
			problems = append(problems, "the cloud list lacks some of the group's addresses")
		}
		if ok, err := e.membersAre(ctx, id, clouds(c.Members)); err != nil {
			return err
		} else if !ok {
			problems = append(problems, "the cloud list's members differ from the group's")
		}
		if ok, err := e.settingsAre(ctx, id, c); err != nil {
			return err
		} else if !ok {
			problems = append(problems, "the cloud list's owners, moderation or restrictions differ from the group's")
		}
	}
	if s.Options.HybridMailFlow {
		ct, err := e.Dir.ReadRecipient(ctx, s.Made.ContactDN)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("the routing contact %s cannot be read: %v", s.Made.ContactDN, err))
		case !strings.EqualFold(strings.TrimPrefix(strings.TrimPrefix(ct.TargetAddress, "SMTP:"), "smtp:"), e.routingAddr(s)):
			problems = append(problems, fmt.Sprintf("the routing contact targets %s, not %s", ct.TargetAddress, e.routingAddr(s)))
		}
	}
	if len(problems) > 0 {
		// Directories converge: look again shortly rather than undo a
		// migration that may be complete.
		return fmt.Errorf("%w: verify %s: %s", ErrBlocked, c.Primary, strings.Join(problems, "; "))
	}
	ms, err := e.Exchange.GroupMembers(ctx, id)
	if err != nil {
		return err
	}
	b := &Baseline{Addresses: slices.Clone(g.EmailAddresses), Owners: slices.Clone(g.ManagedBy)}
	for _, m := range ms {
		b.Members = append(b.Members, cmpOr(m.ExternalDirectoryObjectID, m.GUID))
	}
	s.Made.Baseline = b
	return nil
}

// sameFold reports whether a and b hold the same values, whatever their
// case and order.
func sameFold(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := make([]string, len(a)), make([]string, len(b))
	for i := range a {
		x[i], y[i] = strings.ToLower(a[i]), strings.ToLower(b[i])
	}
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
