package migrate

import (
	"context"
	"slices"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// The fake world's linked attributes besides member, and the Exchange
// cmdlets the re-pointing of references uses.

func isLink(attr string) bool {
	return slices.ContainsFunc(referenceAttrs, func(a referenceAttr) bool { return a.name == attr && a.name != "member" })
}

// applyLink applies ch to the linked attribute of the object at dn
// (w.mu held).
func (w *world) applyLink(dn string, ch ad.Change) {
	key := strings.ToLower(dn)
	if w.links[key] == nil {
		w.links[key] = map[string][]string{}
	}
	cur := w.links[key][ch.Attr]
	switch ch.Op {
	case ad.ReplaceValues:
		cur = slices.Clone(ch.Values)
	case ad.AddValues:
		cur = append(cur, ch.Values...)
	case ad.DeleteValues:
		cur = slices.DeleteFunc(cur, func(v string) bool { return containsDN(ch.Values, v) })
	}
	w.links[key][ch.Attr] = cur
}

// follow makes every link to from name to instead, as the DC does for a
// moved object; an empty to drops them, as for a deleted one (w.mu held).
func (w *world) follow(from, to string) {
	fix := func(vals []string) []string {
		var out []string
		for _, v := range vals {
			switch {
			case !ad.EqualDN(v, from):
				out = append(out, v)
			case to != "":
				out = append(out, to)
			}
		}
		return out
	}
	for _, r := range w.ad {
		r.Members = fix(r.Members)
	}
	if l, ok := w.links[strings.ToLower(from)]; ok && to != "" {
		delete(w.links, strings.ToLower(from))
		w.links[strings.ToLower(to)] = l
	}
	for _, attrs := range w.links {
		for a, vals := range attrs {
			attrs[a] = fix(vals)
		}
	}
}

// SearchDNs understands the filters captureReferences builds:
// (|(attr=escaped DN)...).
func (w *world) SearchDNs(_ context.Context, filter string) ([]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	inner, ok := strings.CutPrefix(filter, "(|")
	if !ok {
		return nil, retry.New("fake.SearchDNs", retry.Terminal, errNotFound)
	}
	var out []string
	for _, term := range strings.Split(strings.TrimSuffix(strings.TrimSuffix(inner, ")"), ")"), ")") {
		attr, val, ok := strings.Cut(strings.TrimPrefix(term, "("), "=")
		if !ok {
			return nil, retry.New("fake.SearchDNs", retry.Terminal, errNotFound)
		}
		for key, r := range w.ad {
			vals := w.links[key][attr]
			if attr == "member" {
				vals = r.Members
			}
			if slices.ContainsFunc(vals, func(v string) bool { return strings.EqualFold(ad.EscapeFilter(v), val) }) && !slices.Contains(out, r.DN) {
				out = append(out, r.DN)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

func (w *world) ReadAttributes(_ context.Context, dn string, attrs ...string) (map[string][]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r, ok := w.ad[strings.ToLower(dn)]
	if !ok {
		return nil, errNotFound
	}
	out := map[string][]string{}
	for _, a := range attrs {
		vals := w.links[strings.ToLower(dn)][a]
		if a == "member" {
			vals = r.Members
		}
		if len(vals) > 0 {
			out[a] = slices.Clone(vals)
		}
	}
	return out, nil
}

// dropCloudRefs removes a deleted recipient from every list's members and
// recipient lists, as Exchange Online does (w.mu held).
func (w *world) dropCloudRefs(id string) {
	for gid, ms := range w.members {
		w.members[gid] = slices.DeleteFunc(ms, func(m string) bool { return m == id })
	}
	delete(w.sendAs, id)
	for r, ts := range w.sendAs {
		w.sendAs[r] = slices.DeleteFunc(ts, func(t string) bool { return t == id })
	}
	for mb, to := range w.forwards {
		if to == id {
			delete(w.forwards, mb)
		}
	}
	for _, g := range w.dgs {
		for _, l := range []*[]string{&g.ManagedBy, &g.ModeratedBy, &g.BypassModeration, &g.AcceptMessagesOnlyFrom, &g.RejectMessagesFrom, &g.GrantSendOnBehalfTo} {
			*l = slices.DeleteFunc(*l, func(v string) bool { return v == id })
		}
	}
}

func (w *world) ListDistributionGroups(ctx context.Context, filter string, fn func(*cloud.DistributionGroup) error) (cloud.ReadResult, error) {
	w.mu.Lock()
	var ids []string
	for id, g := range w.dgs {
		if filter != "IsDirSynced -eq $false" || !g.IsDirSynced {
			ids = append(ids, id)
		}
	}
	w.mu.Unlock()
	slices.Sort(ids)
	for _, id := range ids {
		g, err := w.GetDistributionGroup(ctx, id)
		if err != nil {
			return cloud.ReadResult{}, err
		}
		if err := fn(g); err != nil {
			return cloud.ReadResult{}, err
		}
	}
	return cloud.ReadResult{Complete: true}, nil
}

// resolveID finds a list or a user by identity (w.mu held).
func (w *world) resolveID(identity string) (string, bool) {
	if id, ok := w.findDG(identity); ok {
		return id, true
	}
	for _, r := range w.ad {
		if r.GUID == identity || strings.EqualFold(r.Mail, identity) {
			return r.GUID, true
		}
	}
	return "", false
}

func (w *world) ChangeGroupRecipients(_ context.Context, identity, param string, add, remove []string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.fail("ChangeGroupRecipients"); err != nil {
		return err
	}
	id, ok := w.findDG(identity)
	if !ok {
		return errNotFound
	}
	g := w.dgs[id]
	var l *[]string
	switch param {
	case "ManagedBy":
		l = &g.ManagedBy
	case "BypassModerationFromSendersOrMembers":
		l = &g.BypassModeration
	case "AcceptMessagesOnlyFromSendersOrMembers":
		l = &g.AcceptMessagesOnlyFrom
	case "RejectMessagesFromSendersOrMembers":
		l = &g.RejectMessagesFrom
	case "GrantSendOnBehalfTo":
		l = &g.GrantSendOnBehalfTo
	default:
		return retry.New("fake.ChangeGroupRecipients", retry.Terminal, errNotFound)
	}
	for _, r := range remove {
		rid, ok := w.resolveID(r)
		if !ok {
			return errNotFound
		}
		*l = slices.DeleteFunc(*l, func(v string) bool { return v == rid })
	}
	for _, a := range add {
		aid, ok := w.resolveID(a)
		if !ok {
			return errNotFound
		}
		if !slices.Contains(*l, aid) {
			*l = append(*l, aid)
		}
	}
	return nil
}

func (w *world) AddGroupMember(_ context.Context, identity, member string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.fail("AddGroupMember"); err != nil {
		return err
	}
	id, ok := w.findDG(identity)
	mid, mok := w.resolveID(member)
	if !ok || !mok {
		return errNotFound
	}
	if !slices.Contains(w.members[id], mid) {
		w.members[id] = append(w.members[id], mid)
	}
	return nil
}

func (w *world) RemoveGroupMember(_ context.Context, identity, member string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	id, ok := w.findDG(identity)
	mid, mok := w.resolveID(member)
	if !ok || !mok {
		return errNotFound
	}
	w.members[id] = slices.DeleteFunc(w.members[id], func(m string) bool { return m == mid })
	return nil
}

// addCloudList adds a cloud-only list (not synced) with members and
// recipient lists given by id.
func (w *world) addCloudList(name string, members []string, lists func(g *cloud.DistributionGroup)) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.nextID++
	id := "cl" + strings.ToLower(name)
	g := &cloud.DistributionGroup{ExoRecipient: cloud.ExoRecipient{ExternalDirectoryObjectID: id, Name: name, Alias: strings.ToLower(name),
		PrimarySMTPAddress: strings.ToLower(name) + "@lab.test", EmailAddresses: []string{"SMTP:" + strings.ToLower(name) + "@lab.test"}}}
	if lists != nil {
		lists(g)
	}
	w.dgs[id] = g
	w.objs[id] = &cloud.Object{Kind: cloud.KindGroup, ID: id, MailEnabled: true}
	w.members[id] = slices.Clone(members)
	return id
}

// mailbox returns the mailbox of the user with identity (w.mu held).
func (w *world) mailbox(identity string) (*cloud.Mailbox, bool) {
	for _, r := range w.ad {
		if r.Kind == ad.KindUser && (r.GUID == identity || strings.EqualFold(r.Mail, identity)) {
			m := &cloud.Mailbox{ExoRecipient: cloud.ExoRecipient{ExternalDirectoryObjectID: r.GUID, Name: r.Name, PrimarySMTPAddress: r.Mail}}
			if to, ok := w.forwards[r.GUID]; ok {
				m.ForwardingAddress = w.names([]string{to})[0]
			}
			return m, true
		}
	}
	return nil, false
}

func (w *world) GetMailbox(_ context.Context, identity string) (*cloud.Mailbox, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if m, ok := w.mailbox(identity); ok {
		return m, nil
	}
	return nil, errNotFound
}

func (w *world) ListMailboxes(_ context.Context, filter string, fn func(*cloud.Mailbox) error) (cloud.ReadResult, error) {
	w.mu.Lock()
	var out []*cloud.Mailbox
	for guid := range w.forwards {
		if m, ok := w.mailbox(guid); ok {
			out = append(out, m)
		}
	}
	w.mu.Unlock()
	for _, m := range out {
		if err := fn(m); err != nil {
			return cloud.ReadResult{}, err
		}
	}
	return cloud.ReadResult{Complete: true}, nil
}

func (w *world) SetMailboxForwarding(_ context.Context, identity, to string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.fail("SetMailboxForwarding"); err != nil {
		return err
	}
	m, ok := w.mailbox(identity)
	if !ok {
		return errNotFound
	}
	if to == "" {
		delete(w.forwards, m.ExternalDirectoryObjectID)
		return nil
	}
	id, ok := w.resolveID(to)
	if !ok {
		return errNotFound
	}
	w.forwards[m.ExternalDirectoryObjectID] = id
	return nil
}

// address is how the fake's Get-RecipientPermission names a recipient:
// by an address GetRecipient resolves (w.mu held).
func (w *world) address(id string) string {
	if g, ok := w.dgs[id]; ok {
		return g.PrimarySMTPAddress
	}
	for _, r := range w.ad {
		if r.GUID == id {
			return r.Mail
		}
	}
	return id
}

func (w *world) RecipientPermissions(_ context.Context, identity, trustee string) ([]cloud.RecipientPermission, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	on, tid := "", ""
	if identity != "" {
		id, ok := w.resolveID(identity)
		if !ok {
			return nil, errNotFound
		}
		on = id
	}
	if trustee != "" {
		id, ok := w.resolveID(trustee)
		if !ok {
			return nil, errNotFound
		}
		tid = id
	}
	var out []cloud.RecipientPermission
	for r, ts := range w.sendAs {
		if on != "" && r != on {
			continue
		}
		for _, t := range ts {
			if tid == "" || t == tid {
				// Identity by Name, as Exchange Online has it (which
				// GetRecipient here does not resolve: the lookup by
				// Name is exercised); a trustee by address.
				out = append(out, cloud.RecipientPermission{Identity: w.names([]string{r})[0], Trustee: w.address(t), AccessRights: []string{"SendAs"}})
			}
		}
	}
	return out, nil
}

func (w *world) changeSendAs(identity, trustee string, grant bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.fail("SendAs"); err != nil {
		return err
	}
	on, ok := w.resolveID(identity)
	t, tok := w.resolveID(trustee)
	if !ok || !tok {
		return errNotFound
	}
	cur := slices.DeleteFunc(w.sendAs[on], func(x string) bool { return x == t })
	if grant {
		cur = append(cur, t)
	}
	w.sendAs[on] = cur
	return nil
}

func (w *world) GrantSendAs(_ context.Context, identity, trustee string) error {
	return w.changeSendAs(identity, trustee, true)
}

func (w *world) RevokeSendAs(_ context.Context, identity, trustee string) error {
	return w.changeSendAs(identity, trustee, false)
}

// listByName is ListRecipients with the filter Name -eq 'X' (name is
// what follows "Name -eq ").
func (w *world) listByName(name string, fn func(*cloud.ExoRecipient) error) (cloud.ReadResult, error) {
	name = strings.ReplaceAll(strings.Trim(name, "'"), "''", "'")
	w.mu.Lock()
	var out []*cloud.ExoRecipient
	for _, r := range w.ad {
		if r.Kind == ad.KindUser && strings.EqualFold(r.Name, name) {
			out = append(out, &cloud.ExoRecipient{ExternalDirectoryObjectID: r.GUID, Name: r.Name, PrimarySMTPAddress: r.Mail})
		}
	}
	for _, g := range w.dgs {
		if strings.EqualFold(g.Name, name) {
			x := g.ExoRecipient
			out = append(out, &x)
		}
	}
	w.mu.Unlock()
	for _, x := range out {
		if err := fn(x); err != nil {
			return cloud.ReadResult{}, err
		}
	}
	return cloud.ReadResult{Complete: true}, nil
}
