package migrate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// world is an in-memory AD, tenant and sync engine, for the engine's unit
// tests: what a migration reads and writes, with the directories' rules
// that matter to it (a synced object cannot be changed in the cloud, an
// address is held by one recipient, a moved-out group loses its twin at
// the next sync cycle, a cloud-managed group is left alone by the sync).
// The lab tests run the same engine against Samba and the emulator.
type world struct {
	mu      sync.Mutex
	ad      map[string]*ad.Recipient // by lower-case DN
	protect map[string]bool
	// cloud objects by id; groups in Exchange by id.
	objs    map[string]*cloud.Object
	dgs     map[string]*cloud.DistributionGroup
	members map[string][]string // Exchange members of a list, by id
	soa     map[string]bool     // cloud-managed groups
	scope   ad.SyncScope
	domains []string
	nextID  int
	// syncs counts the sync cycles run.
	syncs int
	// failNext, when set, fails the next call of that name once.
	failNext map[string]error
	// noSync makes Trigger run no cycle (a cycle that never comes).
	noSync bool
	// links are the linked attributes other than member (authOrig,
	// managedBy, altRecipient, ...), by lower-case DN, then attribute.
	links map[string]map[string][]string
	// forwards maps a mailbox (its user's GUID) to the recipient id it
	// forwards to.
	forwards map[string]string
	// sendAs maps a recipient's id to the ids of its Send-As trustees.
	sendAs map[string][]string
	// listings counts the ListRecipients calls; recipientReads the
	// GetRecipient calls.
	listings, recipientReads int
	// memberSearches counts ReadMembers calls; recipientDirReads the
	// ReadRecipient calls.
	memberSearches, recipientDirReads int
}

const (
	base    = "DC=lab,DC=test"
	syncOU  = "OU=Sync," + base
	noSync  = "OU=NoSync," + base
	initDom = "lab.onmicrosoft.com"
)

func newWorld() *world {
	return &world{ad: map[string]*ad.Recipient{}, protect: map[string]bool{}, objs: map[string]*cloud.Object{},
		dgs: map[string]*cloud.DistributionGroup{}, members: map[string][]string{}, soa: map[string]bool{},
		scope: ad.NewSyncScope([]string{syncOU}, []string{noSync}), domains: []string{"lab.test", initDom}, failNext: map[string]error{},
		links: map[string]map[string][]string{}, forwards: map[string]string{}, sendAs: map[string][]string{}}
}

func (w *world) fail(name string) error {
	if err, ok := w.failNext[name]; ok {
		delete(w.failNext, name)
		return err
	}
	return nil
}

func guidN(n int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n) }

// addUser adds a synced user with a mailbox.
func (w *world) addUser(n int, name string) *ad.Recipient {
	r := &ad.Recipient{DN: "CN=" + name + "," + syncOU, GUID: guidN(n), Kind: ad.KindUser, Name: name,
		Mail: strings.ToLower(name) + "@lab.test", ProxyAddresses: ad.ParseProxyAddresses([]string{"SMTP:" + strings.ToLower(name) + "@lab.test"})}
	w.ad[strings.ToLower(r.DN)] = r
	return r
}

// addGroup adds a universal distribution group with members.
func (w *world) addGroup(n int, name string, members ...*ad.Recipient) *ad.Recipient {
	alias := strings.ToLower(strings.ReplaceAll(name, " ", ""))
	r := &ad.Recipient{DN: "CN=" + name + "," + syncOU, GUID: guidN(n), SID: fmt.Sprintf("S-1-5-21-1-2-3-%d", 1000+n), Kind: ad.KindGroup, Name: name,
		Mail: alias + "@lab.test", MailNickname: alias, LegacyExchangeDN: "/o=Lab/cn=Recipients/cn=" + alias,
		ProxyAddresses: ad.ParseProxyAddresses([]string{"SMTP:" + alias + "@lab.test", "smtp:" + alias + "-old@lab.test"}),
		GroupType:      &ad.GroupType{Raw: 8, Scope: ad.ScopeUniversal}}
	for _, m := range members {
		r.Members = append(r.Members, m.DN)
	}
	w.ad[strings.ToLower(r.DN)] = r
	return r
}

func (w *world) copyOf(r *ad.Recipient) *ad.Recipient {
	c := *r
	c.ProxyAddresses = ad.ParseProxyAddresses(r.ProxyAddresses.Raw())
	c.Members = slices.Clone(r.Members)
	c.ExtensionAttributes = maps.Clone(r.ExtensionAttributes)
	return &c
}

var errNotFound = retry.New("fake", retry.NotFound, errors.New("not found"))

// --- Directory ---

var fakeDC = ad.DC{Server: "CN=NTDS Settings,CN=DC1,CN=Servers,CN=Site,CN=Sites,CN=Configuration," + base, InvocationID: guidN(99)}

func (w *world) FindByGUIDOnDC(_ context.Context, guid string) (*ad.Recipient, ad.DC, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.ad {
		if strings.EqualFold(r.GUID, guid) {
			return w.copyOf(r), fakeDC, nil
		}
	}
	return nil, fakeDC, errNotFound
}

// ReadMembers streams the recipients whose DN the group at groupDN lists
// (the world keeps no memberOf), as one search.
func (w *world) ReadMembers(_ context.Context, groupDN string, fn func(*ad.Recipient) error) error {
	w.mu.Lock()
	if err := w.fail("ReadMembers"); err != nil {
		w.mu.Unlock()
		return err
	}
	w.memberSearches++
	g, ok := w.ad[strings.ToLower(groupDN)]
	var out []*ad.Recipient
	if ok {
		for _, dn := range g.Members {
			if r, ok := w.ad[strings.ToLower(dn)]; ok {
				out = append(out, w.copyOf(r))
			}
		}
	}
	w.mu.Unlock()
	for _, r := range out {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (w *world) ReadRecipient(_ context.Context, dn string) (*ad.Recipient, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.recipientDirReads++
	if r, ok := w.ad[strings.ToLower(dn)]; ok {
		return w.copyOf(r), nil
	}
	return nil, errNotFound
}

func (w *world) FindByAddress(_ context.Context, addr string) (*ad.Recipient, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.ad {
		if strings.EqualFold(r.Mail, addr) || slices.ContainsFunc(r.ProxyAddresses.Values, func(p ad.ProxyAddress) bool { return strings.EqualFold(p.Address, addr) }) {
			return w.copyOf(r), nil
		}
	}
	return nil, errNotFound
}

func (w *world) MemberGroups(_ context.Context, dn string) ([]*ad.Recipient, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.fail("MemberGroups"); err != nil {
		return nil, err
	}
	g, ok := w.ad[strings.ToLower(dn)]
	if !ok {
		return nil, errNotFound
	}
	var out []*ad.Recipient
	for _, m := range g.Members {
		if r, ok := w.ad[strings.ToLower(m)]; ok && r.Kind == ad.KindGroup && r.MailEnabled() {
			out = append(out, w.copyOf(r))
		}
	}
	return out, nil
}

func (w *world) Move(_ context.Context, dn, parent string) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.fail("Move"); err != nil {
		return "", err
	}
	r, ok := w.ad[strings.ToLower(dn)]
	if !ok {
		return "", errNotFound
	}
	rdn := strings.SplitN(dn, ",", 2)[0]
	nd := rdn + "," + parent
	if _, taken := w.ad[strings.ToLower(nd)]; taken {
		return "", retry.New("fake.Move", retry.Conflict, errors.New("entry exists"))
	}
	delete(w.ad, strings.ToLower(dn))
	r.DN = nd
	w.ad[strings.ToLower(nd)] = r
	w.follow(dn, nd)
	return nd, nil
}

func (w *world) Modify(_ context.Context, dn string, changes ...ad.Change) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.fail("Modify"); err != nil {
		return err
	}
	r, ok := w.ad[strings.ToLower(dn)]
	if !ok {
		return errNotFound
	}
	for _, ch := range changes {
		w.apply(r, ch)
	}
	return nil
}

func (w *world) apply(r *ad.Recipient, ch ad.Change) {
	one := func() string {
		if len(ch.Values) > 0 {
			return ch.Values[0]
		}
		return ""
	}
	switch ch.Attr {
	case "mail":
		switch ch.Op {
		case ad.DeleteValues:
			r.Mail = ""
		default:
			r.Mail = one()
		}
	case "mailNickname":
		r.MailNickname = one()
	case "legacyExchangeDN":
		r.LegacyExchangeDN = one()
	case "targetAddress":
		r.TargetAddress = one()
	case "proxyAddresses":
		switch ch.Op {
		case ad.AddValues:
			r.ProxyAddresses = ad.ParseProxyAddresses(append(r.ProxyAddresses.Raw(), ch.Values...))
		case ad.DeleteValues:
			r.ProxyAddresses = ad.ParseProxyAddresses(slices.DeleteFunc(r.ProxyAddresses.Raw(), func(v string) bool { return slices.Contains(ch.Values, v) }))
		default:
			r.ProxyAddresses = ad.ParseProxyAddresses(ch.Values)
		}
	case "msExchDynamicDLFilter":
		r.DynamicFilter = one()
	case "msExchDynamicDLBaseDN":
		r.DynamicBaseDN = one()
	case "member":
		switch ch.Op {
		case ad.AddValues:
			r.Members = append(r.Members, ch.Values...)
		case ad.DeleteValues:
			r.Members = slices.DeleteFunc(r.Members, func(m string) bool {
				return slices.ContainsFunc(ch.Values, func(v string) bool { return ad.EqualDN(v, m) })
			})
		}
	case "msExchHideFromAddressLists":
		r.HiddenFromGAL = one() == "TRUE"
	default:
		if isLink(ch.Attr) {
			w.applyLink(r.DN, ch)
		}
		if strings.HasPrefix(ch.Attr, "extensionAttribute") {
			if r.ExtensionAttributes == nil {
				r.ExtensionAttributes = map[string]string{}
			}
			if v := one(); v != "" {
				r.ExtensionAttributes[ch.Attr] = v
			} else {
				delete(r.ExtensionAttributes, ch.Attr)
			}
		}
	}
}

func (w *world) Add(_ context.Context, dn string, attrs []ad.Attribute) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.fail("Add"); err != nil {
		return err
	}
	if _, taken := w.ad[strings.ToLower(dn)]; taken {
		return retry.New("fake.Add", retry.Conflict, errors.New("entry exists"))
	}
	r := &ad.Recipient{DN: dn, GUID: guidN(5000 + len(w.ad)), Name: strings.TrimPrefix(strings.SplitN(dn, ",", 2)[0], "CN=")}
	for _, a := range attrs {
		if a.Name == "objectClass" {
			r.ObjectClass = a.Values
			r.Kind = ad.KindOf(a.Values)
			continue
		}
		w.apply(r, ad.Change{Op: ad.ReplaceValues, Attr: a.Name, Values: a.Values})
	}
	w.ad[strings.ToLower(dn)] = r
	return nil
}

func (w *world) Delete(_ context.Context, dn string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.fail("Delete"); err != nil {
		return err
	}
	if _, ok := w.ad[strings.ToLower(dn)]; !ok {
		return errNotFound
	}
	delete(w.ad, strings.ToLower(dn))
	w.follow(dn, "")
	return nil
}

func (w *world) ProtectedFromDeletion(_ context.Context, dn string) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.protect[strings.ToLower(dn)], nil
}

// --- the sync engine ---

// sync runs one cycle: every mail-enabled group in scope has a synced twin
// (created or restored), every twin whose group left the scope is deleted;
// cloud-managed groups are left alone.
func (w *world) sync() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.syncs++
	for id, o := range w.objs {
		if !o.OnPremisesSyncEnabled || w.soa[id] {
			continue
		}
		var src *ad.Recipient
		for _, r := range w.ad {
			if r.SID == o.OnPremisesSID {
				src = r
			}
		}
		if src == nil || !w.scope.Contains(src.DN) || !src.MailEnabled() {
			delete(w.objs, id)
			delete(w.dgs, id)
			delete(w.members, id)
			w.dropCloudRefs(id)
		}
	}
	for _, r := range w.ad {
		if r.Kind != ad.KindGroup || !r.MailEnabled() || !w.scope.Contains(r.DN) {
			continue
		}
		var twin *cloud.Object
		for id, o := range w.objs {
			if o.OnPremisesSID == r.SID {
				twin = w.objs[id]
			}
		}
		if twin == nil {
			w.nextID++
			twin = &cloud.Object{Kind: cloud.KindGroup, ID: fmt.Sprintf("c%04d", w.nextID), OnPremisesSID: r.SID, OnPremisesSyncEnabled: true, MailEnabled: true}
			w.objs[twin.ID] = twin
		}
		if w.soa[twin.ID] {
			continue
		}
		twin.DisplayName, twin.Mail, twin.MailNickname, twin.ProxyAddresses = r.Name, r.Mail, r.MailNickname, r.ProxyAddresses.Raw()
		p, _ := r.ProxyAddresses.PrimarySMTP()
		dg := &cloud.DistributionGroup{ExoRecipient: cloud.ExoRecipient{Identity: r.Name, ExternalDirectoryObjectID: twin.ID, Name: r.Name, Alias: r.MailNickname,
			PrimarySMTPAddress: p.Address, EmailAddresses: r.ProxyAddresses.Raw(), RecipientTypeDetails: "MailUniversalDistributionGroup",
			IsDirSynced: true, LegacyExchangeDN: "/o=ExchangeLabs/cn=Recipients/cn=" + twin.ID}}
		w.dgs[twin.ID] = dg
		var ms []string
		for _, m := range r.Members {
			if u, ok := w.ad[strings.ToLower(m)]; ok {
				ms = append(ms, u.GUID)
			}
		}
		w.members[twin.ID] = ms
	}
}

func (w *world) Trigger(context.Context) error {
	if w.noSync {
		return nil
	}
	w.sync()
	return nil
}

// --- Graph ---

func (w *world) List(_ context.Context, kind cloud.Kind, opts cloud.ListOptions, fn func(*cloud.Object) error) (cloud.ReadResult, error) {
	w.mu.Lock()
	var out []*cloud.Object
	for _, o := range w.objs {
		if o.Kind == kind && (opts.Filter == "" || strings.Contains(opts.Filter, "'"+o.OnPremisesSID+"'")) {
			c := *o
			out = append(out, &c)
		}
	}
	w.mu.Unlock()
	for _, o := range out {
		if err := fn(o); err != nil {
			return cloud.ReadResult{}, err
		}
	}
	return cloud.ReadResult{Complete: true, Objects: len(out)}, nil
}

func (w *world) Get(_ context.Context, _ cloud.Kind, id string) (*cloud.Object, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if o, ok := w.objs[id]; ok {
		c := *o
		return &c, nil
	}
	return nil, errNotFound
}

func (w *world) Lookup(ctx context.Context, kind cloud.Kind, id string) (*cloud.Object, error) {
	return w.Get(ctx, kind, id)
}

func (w *world) GroupSyncBehavior(_ context.Context, id string) (cloud.SyncBehavior, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.objs[id]; !ok {
		return cloud.SyncBehavior{}, errNotFound
	}
	return cloud.SyncBehavior{IsCloudManaged: w.soa[id]}, nil
}

func (w *world) SetGroupSyncBehavior(_ context.Context, id string, b cloud.SyncBehavior) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.fail("SetGroupSyncBehavior"); err != nil {
		return err
	}
	o, ok := w.objs[id]
	if !ok {
		return errNotFound
	}
	w.soa[id] = b.IsCloudManaged
	// Graph and Exchange follow at once here; a real tenant takes a while
	// (await-cloud-managed).
	o.OnPremisesSyncEnabled = !b.IsCloudManaged
	if dg := w.dgs[id]; dg != nil {
		dg.IsDirSynced = !b.IsCloudManaged
	}
	return nil
}

// --- Exchange ---

func (w *world) AcceptedDomains(context.Context) ([]cloud.AcceptedDomain, error) {
	var out []cloud.AcceptedDomain
	for _, d := range w.domains {
		out = append(out, cloud.AcceptedDomain{DomainName: d})
	}
	return out, nil
}

// find returns the id of the list or recipient identity names.
func (w *world) findDG(identity string) (string, bool) {
	for id, g := range w.dgs {
		if strings.EqualFold(id, identity) || strings.EqualFold(g.Alias, identity) || strings.EqualFold(g.PrimarySMTPAddress, identity) {
			return id, true
		}
	}
	return "", false
}

func (w *world) GetRecipient(_ context.Context, identity string) (*cloud.ExoRecipient, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.recipientReads++
	for _, r := range w.ad {
		if r.Kind == ad.KindUser && (strings.EqualFold(r.Mail, identity) || r.GUID == identity) && w.scope.Contains(r.DN) {
			return &cloud.ExoRecipient{ExternalDirectoryObjectID: r.GUID, Name: r.Name, PrimarySMTPAddress: r.Mail, IsDirSynced: true}, nil
		}
	}
	for _, g := range w.dgs {
		if strings.EqualFold(g.PrimarySMTPAddress, identity) || slices.ContainsFunc(g.EmailAddresses, func(a string) bool {
			_, addr, _ := strings.Cut(a, ":")
			return strings.EqualFold(addr, identity)
		}) {
			x := g.ExoRecipient
			return &x, nil
		}
	}
	return nil, errNotFound
}

// ListRecipients lists what GetRecipient finds: the synced users in scope
// and the lists, users first, by DN; with the filter Name -eq 'X', those
// of that name.
func (w *world) ListRecipients(_ context.Context, filter string, fn func(*cloud.ExoRecipient) error) (cloud.ReadResult, error) {
	if name, ok := strings.CutPrefix(filter, "Name -eq "); ok {
		return w.listByName(name, fn)
	}
	w.mu.Lock()
	if err := w.fail("ListRecipients"); err != nil {
		w.mu.Unlock()
		return cloud.ReadResult{}, err
	}
	if filter != "" {
		w.mu.Unlock()
		return cloud.ReadResult{}, retry.New("fake.ListRecipients", retry.Terminal, errors.New("filters are not supported"))
	}
	w.listings++
	var out []cloud.ExoRecipient
	for _, dn := range slices.Sorted(maps.Keys(w.ad)) {
		r := w.ad[dn]
		if r.Kind == ad.KindUser && w.scope.Contains(r.DN) {
			out = append(out, cloud.ExoRecipient{ExternalDirectoryObjectID: r.GUID, Name: r.Name, PrimarySMTPAddress: r.Mail,
				EmailAddresses: []string{"SMTP:" + r.Mail}, IsDirSynced: true})
		}
	}
	for _, id := range slices.Sorted(maps.Keys(w.dgs)) {
		out = append(out, w.dgs[id].ExoRecipient)
	}
	w.mu.Unlock()
	res := cloud.ReadResult{Requests: 1}
	for i := range out {
		if err := fn(&out[i]); err != nil {
			return res, err
		}
		res.Objects++
	}
	res.Complete = true
	return res, nil
}

func (w *world) GetDistributionGroup(_ context.Context, identity string) (*cloud.DistributionGroup, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if id, ok := w.findDG(identity); ok {
		c := *w.dgs[id]
		c.EmailAddresses = slices.Clone(c.EmailAddresses)
		// Exchange Online lists these recipients by Name.
		for _, l := range []*[]string{&c.ManagedBy, &c.ModeratedBy, &c.BypassModeration, &c.AcceptMessagesOnlyFrom, &c.RejectMessagesFrom, &c.GrantSendOnBehalfTo} {
			*l = w.names(*l)
		}
		return &c, nil
	}
	return nil, errNotFound
}

// names are the Names of the users and lists with the given ids.
func (w *world) names(ids []string) []string {
	var out []string
	for _, id := range ids {
		n := id
		for _, r := range w.ad {
			if r.GUID == id {
				n = r.Name
			}
		}
		if g, ok := w.dgs[id]; ok {
			n = g.Name
		}
		out = append(out, n)
	}
	return out
}

func (w *world) held(addr, except string) bool {
	for id, g := range w.dgs {
		if id == except {
			continue
		}
		if slices.ContainsFunc(g.EmailAddresses, func(a string) bool { return strings.EqualFold(a[strings.Index(a, ":")+1:], addr) }) {
			return true
		}
	}
	return false
}

func (w *world) NewDistributionGroup(_ context.Context, g cloud.NewDistributionGroup) (*cloud.DistributionGroup, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.fail("NewDistributionGroup"); err != nil {
		return nil, err
	}
	if _, ok := w.findDG(g.Alias); ok {
		return nil, retry.New("fake.New", retry.Conflict, errors.New("already exists"))
	}
	w.nextID++
	id := fmt.Sprintf("c%04d", w.nextID)
	dg := &cloud.DistributionGroup{ExoRecipient: cloud.ExoRecipient{ExternalDirectoryObjectID: id, Name: g.Name, Alias: g.Alias,
		PrimarySMTPAddress: g.PrimarySMTPAddress, EmailAddresses: []string{"SMTP:" + g.PrimarySMTPAddress}, LegacyExchangeDN: "/o=ExchangeLabs/cn=Recipients/cn=" + id},
		ManagedBy: g.ManagedBy}
	w.dgs[id] = dg
	w.objs[id] = &cloud.Object{Kind: cloud.KindGroup, ID: id, MailEnabled: true}
	w.members[id] = slices.Clone(g.Members)
	c := *dg
	return &c, nil
}

func (w *world) SetDistributionGroup(_ context.Context, identity string, ch cloud.GroupChanges) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.fail("SetDistributionGroup"); err != nil {
		return err
	}
	id, ok := w.findDG(identity)
	if !ok {
		return errNotFound
	}
	g := w.dgs[id]
	if g.IsDirSynced {
		return retry.New("fake.Set", retry.Terminal, errors.New("is being synchronized from your on-premises organization"))
	}
	if ch.EmailAddresses != nil {
		for _, a := range *ch.EmailAddresses {
			if w.held(a[strings.Index(a, ":")+1:], id) {
				return retry.New("fake.Set", retry.Conflict, fmt.Errorf("%s is already being used by the proxy addresses", a))
			}
		}
		g.EmailAddresses = slices.Clone(*ch.EmailAddresses)
	}
	if ch.PrimarySMTPAddress != nil {
		g.PrimarySMTPAddress = *ch.PrimarySMTPAddress
	}
	set := func(dst *[]string, v *[]string) {
		if v != nil {
			*dst = slices.Clone(*v)
		}
	}
	if ch.Name != nil {
		g.Name = *ch.Name
	}
	if ch.Alias != nil {
		g.Alias = *ch.Alias
	}
	if ch.HiddenFromAddressLists != nil {
		g.HiddenFromAddressLists = *ch.HiddenFromAddressLists
	}
	if ch.ModerationEnabled != nil {
		g.ModerationEnabled = *ch.ModerationEnabled
	}
	if ch.RequireSenderAuthentication != nil {
		g.RequireSenderAuthentication = *ch.RequireSenderAuthentication
	}
	set(&g.ManagedBy, ch.ManagedBy)
	set(&g.ModeratedBy, ch.ModeratedBy)
	set(&g.BypassModeration, ch.BypassModeration)
	set(&g.AcceptMessagesOnlyFrom, ch.AcceptMessagesOnlyFrom)
	set(&g.RejectMessagesFrom, ch.RejectMessagesFrom)
	set(&g.GrantSendOnBehalfTo, ch.GrantSendOnBehalfTo)
	return nil
}

func (w *world) RemoveDistributionGroup(_ context.Context, identity string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	id, ok := w.findDG(identity)
	if !ok {
		return errNotFound
	}
	delete(w.dgs, id)
	delete(w.objs, id)
	delete(w.members, id)
	return nil
}

func (w *world) GroupMembers(_ context.Context, identity string) ([]cloud.ExoRecipient, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	id, ok := w.findDG(identity)
	if !ok {
		return nil, errNotFound
	}
	var out []cloud.ExoRecipient
	for _, m := range w.members[id] {
		out = append(out, cloud.ExoRecipient{ExternalDirectoryObjectID: m})
	}
	return out, nil
}

func (w *world) ReplaceGroupMembers(_ context.Context, identity string, members []string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.fail("ReplaceGroupMembers"); err != nil {
		return err
	}
	id, ok := w.findDG(identity)
	if !ok {
		return errNotFound
	}
	w.members[id] = slices.Clone(members)
	return nil
}
