package migrate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/journal"
)

// Hybrid mail flow after the fact: a list already living in Exchange
// Online, migrated by any tool without the on-premises objects that keep
// hybrid mail flow working, gets them: a routing contact targeting the
// list's tenant routing address (outside the sync scope), and a dynamic
// distribution list with the list's name and addresses whose filter
// reaches that contact alone. What DLConversionV2
// (https://github.com/timmcmic/DLConversionV2) left behind is recognised
// and adopted rather than duplicated.

// StepHybridMailFlow is the step name the journal entries of
// `migrate hybrid-mail-flow` carry.
const StepHybridMailFlow Step = "hybrid-mail-flow"

// DLConversionV2's markers: its routing contact (new-RoutingContact.ps1)
// and its retired original group (Disable-OriginalDL.ps1) both get
// extensionAttribute1 "MigratedByScript"; the contact's
// extensionAttribute2 is the cloud list's ExternalDirectoryObjectId, its
// name and mailNickname the group's with "-MigratedByScript" appended,
// its mail <local part>-MigratedByScript@<domain>. The retired group is
// renamed with a "!" appended (Set-NewDLName.ps1).
const (
	MarkerDLConversion = "MigratedByScript"
	dlConversionSuffix = "-MigratedByScript"
)

// Searcher finds directory objects by LDAP filter (the agent adapts
// *adldap.Client to it).
type Searcher interface {
	SearchRecipients(ctx context.Context, base, filter string) ([]*ad.Recipient, error)
}

// HybridFlowRequest names the cloud list and where new objects go.
type HybridFlowRequest struct {
	// List is the cloud list's address (or identity).
	List string
	// NoSyncOU is where a new routing contact and dynamic list are made;
	// it must lie outside the sync scope.
	NoSyncOU string
	// BaseDN is where existing objects are looked for (the domain).
	BaseDN string
}

// HybridFlowAction is one write the command will make.
type HybridFlowAction struct {
	// Kind is stable: add-routing-address, release-addresses,
	// create-contact, repair-contact, create-dynamic-list,
	// repair-dynamic-list.
	Kind string `json:"kind"`
	// Object is the DN (on premises) or the list's id (cloud).
	Object string `json:"object"`
	// What says what changes, for the admin.
	What string `json:"what"`
	// run carries the action out, journalled under the run's saga.
	run func(ctx context.Context, s *Saga) error
}

// HybridFlowPlan is what `migrate hybrid-mail-flow` found and will do.
type HybridFlowPlan struct {
	List           string `json:"list"`
	ListID         string `json:"listID,omitempty"`
	Name           string `json:"name,omitempty"`
	Primary        string `json:"primary,omitempty"`
	RoutingAddress string `json:"routingAddress,omitempty"`
	// Addresses are what the on-premises dynamic list holds.
	Addresses []string `json:"addresses,omitempty"`
	// Found lists, one line each, what is already on premises.
	Found []string `json:"found"`
	// ContactDN and DynamicListDN are the objects as they will be.
	ContactDN     string             `json:"contactDN,omitempty"`
	DynamicListDN string             `json:"dynamicListDN,omitempty"`
	Problems      []Problem          `json:"problems"`
	Actions       []HybridFlowAction `json:"actions"`
	// contactMarker and contactKey are the contact's extensionAttribute1
	// and 2, which the dynamic list's filter names.
	contactMarker, contactKey string
}

// Ready reports whether nothing stops the command.
func (p *HybridFlowPlan) Ready() bool { return len(p.Problems) == 0 }

func (p *HybridFlowPlan) problem(code, format string, args ...any) {
	p.Problems = append(p.Problems, Problem{Code: code, Message: fmt.Sprintf(format, args...)})
}

func (p *HybridFlowPlan) found(format string, args ...any) {
	p.Found = append(p.Found, fmt.Sprintf(format, args...))
}

// action plans the journalled write w.
func (e *Env) action(p *HybridFlowPlan, kind, object, what string, w write) {
	p.Actions = append(p.Actions, HybridFlowAction{Kind: kind, Object: object, What: what,
		run: func(ctx context.Context, s *Saga) error { return e.perform(ctx, s, w, false) }})
}

// PlanHybridFlow reads the cloud list and what is on premises, and says
// what is missing or wrong and how it will be made right; it writes
// nothing. Problems (bad input, an address held on premises by an object
// that is not a recognised leftover, several candidate contacts) stop the
// command. An error means a read failed.
func (e *Env) PlanHybridFlow(ctx context.Context, dir Searcher, req HybridFlowRequest) (*HybridFlowPlan, error) {
	p := &HybridFlowPlan{List: req.List, Found: []string{}, Problems: []Problem{}, Actions: []HybridFlowAction{}}
	if strings.Contains(req.List, "@") {
		// An address in a domain the tenant does not accept names no
		// cloud list: say so, rather than "not found".
		if err := e.checkHybridDomains(ctx, p, req.List, nil); err != nil || !p.Ready() {
			return p, err
		}
	}
	g, err := e.Exchange.GetDistributionGroup(ctx, req.List)
	switch {
	case notFound(err):
		p.problem("not-in-cloud", "Exchange Online has no distribution list %s: hybrid mail flow is made for a list that already lives in the cloud", req.List)
		return p, nil
	case err != nil:
		return nil, fmt.Errorf("migrate: read the cloud list %s: %w", req.List, err)
	}
	p.ListID = strings.ToLower(cmpOr(g.ExternalDirectoryObjectID, g.GUID))
	p.Name, p.Primary = cmpOr(g.Name, g.Alias), g.PrimarySMTPAddress
	switch {
	case g.IsDirSynced:
		p.problem("still-synced", "%s is still synced from on premises (IsDirSynced true): it is not migrated yet; migrate it with `hybridsync migrate run`", g.PrimarySMTPAddress)
	case p.ListID == "":
		p.problem("not-in-cloud", "%s has no ExternalDirectoryObjectId", g.PrimarySMTPAddress)
	case g.Alias == "" || g.PrimarySMTPAddress == "":
		p.problem("not-in-cloud", "%s has no alias or primary SMTP address", req.List)
	}
	// The addresses must be in accepted domains (the check of migrate
	// plan, over the cloud list's addresses).
	if err := e.checkHybridDomains(ctx, p, g.PrimarySMTPAddress, g.EmailAddresses); err != nil {
		return nil, err
	}
	if req.NoSyncOU == "" {
		p.problem("nosync-in-scope", "no no-sync OU is configured (migrations.defaults.nosync_ou): the routing contact must be made outside the sync scope")
	} else if e.Scope.Contains(ad.ChildDN("CN", "probe", req.NoSyncOU)) {
		p.problem("nosync-in-scope", "the no-sync OU %s is inside the sync scope: a routing contact there would be synced", req.NoSyncOU)
	}
	if !p.Ready() {
		return p, nil
	}

	// The tenant routing address: on the list already, or added.
	p.RoutingAddress = g.Alias + "@" + e.routingDomain()
	for _, v := range g.EmailAddresses {
		if pa, err := ad.ParseProxyAddress(v); err == nil && pa.IsSMTP() && hasDomainFold(pa.Address, e.routingDomain()) {
			p.RoutingAddress = pa.Address
			break
		}
	}
	if !slices.ContainsFunc(g.EmailAddresses, func(v string) bool { return strings.EqualFold(v, "smtp:"+p.RoutingAddress) }) {
		addr, id := "smtp:"+p.RoutingAddress, p.ListID
		p.Actions = append(p.Actions, HybridFlowAction{Kind: "add-routing-address", Object: id,
			What: "add the tenant routing address " + p.RoutingAddress + " to the cloud list",
			run:  func(ctx context.Context, s *Saga) error { return e.addCloudAddress(ctx, s, id, addr) }})
	}
	p.Addresses = onPremAddresses(g.PrimarySMTPAddress, g.EmailAddresses, e.routingDomain())

	// Who holds the list's addresses on premises.
	var ddl *ad.Recipient
	for _, v := range p.Addresses {
		pa, err := ad.ParseProxyAddress(v)
		if err != nil || !pa.IsSMTP() {
			continue
		}
		r, err := dir.SearchRecipients(ctx, req.BaseDN, "(|(mail="+ad.EscapeFilter(pa.Address)+")(proxyAddresses=smtp:"+ad.EscapeFilter(pa.Address)+"))")
		if err != nil {
			return nil, fmt.Errorf("migrate: find the holder of %s on premises: %w", pa.Address, err)
		}
		for _, h := range r {
			switch {
			case h.Kind == ad.KindDynamicDL && (ddl == nil || ad.EqualDN(ddl.DN, h.DN)):
				ddl = h
			case h.Kind == ad.KindDynamicDL:
				p.problem("address-held", "%s is held by the dynamic list %s, and other addresses of the list by %s: remove one of them", pa.Address, h.DN, ddl.DN)
			case h.Kind == ad.KindGroup && recognisedLeftover(h):
				if !slices.ContainsFunc(p.Actions, func(x HybridFlowAction) bool { return x.Kind == "release-addresses" && ad.EqualDN(x.Object, h.DN) }) {
					p.found("%s: the original group, retired by %s but still holding %s (extensionAttribute1 %q): its addresses move to the dynamic list",
						h.DN, leftoverTool(h), pa.Address, h.ExtensionAttributes["extensionAttribute1"])
					e.planRelease(p, h)
				}
			default:
				p.problem("address-held", "%s is still held on premises by the %s %s (not a recognised leftover of a migration: no \"!\"-renamed group marked extensionAttribute1=%s): mail-disable it or remove the address first",
					pa.Address, h.Kind, h.DN, MarkerDLConversion)
			}
		}
	}
	if err := e.reportRetired(ctx, dir, p, req.BaseDN); err != nil {
		return nil, err
	}
	if err := e.planContact(ctx, dir, p, g.Alias, req); err != nil {
		return nil, err
	}
	if !p.Ready() {
		p.Actions = []HybridFlowAction{}
		return p, nil
	}
	if err := e.planDynamicList(ctx, dir, p, ddl, g.DisplayName, g.Alias, g.HiddenFromAddressLists, req); err != nil {
		return nil, err
	}
	if !p.Ready() {
		p.Actions = []HybridFlowAction{}
	}
	return p, nil
}

// reportRetired reports the list's retired original groups that hold
// none of its addresses (marked by DLConversionV2 or hybridsync with the
// list's address as extensionAttribute2): left as they are.
func (e *Env) reportRetired(ctx context.Context, dir Searcher, p *HybridFlowPlan, baseDN string) error {
	rs, err := dir.SearchRecipients(ctx, baseDN, "(&(objectClass=group)(|(extensionAttribute1="+ad.EscapeFilter(MarkerDLConversion)+
		")(extensionAttribute1="+ad.EscapeFilter(MarkerMigrated)+"))(extensionAttribute2="+ad.EscapeFilter(p.Primary)+"))")
	if err != nil {
		return fmt.Errorf("migrate: look for the retired group of %s: %w", p.Primary, err)
	}
	for _, r := range rs {
		if !slices.ContainsFunc(p.Actions, func(a HybridFlowAction) bool { return ad.EqualDN(a.Object, r.DN) }) {
			p.found("%s: the original group, retired by %s (extensionAttribute1 %q) and holding none of the list's addresses: left as it is",
				r.DN, leftoverTool(r), r.ExtensionAttributes["extensionAttribute1"])
		}
	}
	return nil
}

// checkHybridDomains reports the addresses in domains the tenant does not
// accept, by migrate plan's check.
func (e *Env) checkHybridDomains(ctx context.Context, p *HybridFlowPlan, mail string, proxies []string) error {
	a := &Assessment{}
	if err := e.checkDomains(ctx, a, &Capture{Group: GroupImage{Mail: mail, ProxyAddresses: proxies}}); err != nil {
		return err
	}
	p.Problems = append(p.Problems, a.Problems...)
	return nil
}

// recognisedLeftover reports whether the group holding a list's addresses
// is the original group a migration retired, safe to take them from: it
// carries DLConversionV2's marker and its "!" rename, or hybridsync's own
// retired marker.
func recognisedLeftover(r *ad.Recipient) bool {
	switch r.ExtensionAttributes["extensionAttribute1"] {
	case MarkerMigrated:
		return true
	case MarkerDLConversion:
		return strings.HasSuffix(r.Name, "!") || strings.HasPrefix(r.Name, "!")
	}
	return false
}

func leftoverTool(r *ad.Recipient) string {
	if r.ExtensionAttributes["extensionAttribute1"] == MarkerMigrated {
		return "hybridsync"
	}
	return "DLConversionV2"
}

// planRelease mail-disables a recognised leftover holding the list's
// addresses; its legacyExchangeDN is kept on the dynamic list as an X500
// address, so replies to old mail still resolve.
func (e *Env) planRelease(p *HybridFlowPlan, h *ad.Recipient) {
	if h.LegacyExchangeDN != "" {
		addUnique(&p.Addresses, "X500:"+h.LegacyExchangeDN)
	}
	for _, v := range h.ProxyAddresses.Raw() {
		if pa, err := ad.ParseProxyAddress(v); err == nil && pa.Type() == ad.TypeX500 {
			addUnique(&p.Addresses, v)
		}
	}
	dn, ch := h.DN, mailDisableChanges()
	e.action(p, "release-addresses", dn, "mail-disable the retired group (clear mail, mailNickname, proxyAddresses, legacyExchangeDN; its markers stay)",
		write{op: "ad.Modify", target: journal.TargetAD, object: dn, intent: ch, before: imageOf(h),
			do: func(ctx context.Context) error { return e.Dir.Modify(ctx, dn, ch...) },
			check: func(ctx context.Context) (bool, error) {
				r, err := e.Dir.ReadRecipient(ctx, dn)
				if err != nil {
					return false, err
				}
				return !r.MailEnabled(), nil
			}})
}

// planContact finds the routing contact (hybridsync's, DLConversionV2's,
// or any contact targeting the routing address), and plans its repair, or
// a new one.
func (e *Env) planContact(ctx context.Context, dir Searcher, p *HybridFlowPlan, alias string, req HybridFlowRequest) error {
	local, dom, _ := strings.Cut(p.Primary, "@")
	filters := []string{
		ad.MarkerFilter(MarkerRouting, p.ListID),
		ad.MarkerFilter(MarkerDLConversion, p.ListID),
		"(&(objectClass=contact)(|(mail=" + ad.EscapeFilter(local+dlConversionSuffix+"@"+dom) + ")(targetAddress=smtp:" + ad.EscapeFilter(p.RoutingAddress) + ")))",
	}
	var found []*ad.Recipient
	for _, f := range filters {
		rs, err := dir.SearchRecipients(ctx, req.BaseDN, f)
		if err != nil {
			return fmt.Errorf("migrate: look for a routing contact of %s: %w", p.Primary, err)
		}
		for _, r := range rs {
			if !slices.ContainsFunc(found, func(x *ad.Recipient) bool { return ad.EqualDN(x.DN, r.DN) }) {
				found = append(found, r)
			}
		}
	}
	if len(found) > 1 {
		dns := make([]string, len(found))
		for i, r := range found {
			dns[i] = r.DN
		}
		p.problem("ambiguous-contact", "%d contacts could be the routing contact of %s: %s; keep one (delete the others) and run again",
			len(found), p.Primary, strings.Join(dns, "; "))
		return nil
	}
	want := "SMTP:" + p.RoutingAddress
	if len(found) == 0 {
		dn := ad.ChildDN("CN", routingContactName(p.ListID), req.NoSyncOU)
		if taken, err := e.exists(ctx, dn); err != nil || taken {
			if taken {
				p.problem("name-taken", "%s exists but is not a routing contact of %s: rename or remove it", dn, p.Primary)
			}
			return err
		}
		p.ContactDN, p.contactMarker, p.contactKey = dn, MarkerRouting, p.ListID
		attrs := routingContactAttrs(cmpOr(p.Name, alias), p.RoutingAddress, p.ListID)
		e.action(p, "create-contact", dn, "create the routing contact, targetAddress "+want+", hidden, outside the sync scope",
			write{op: "ad.Add", target: journal.TargetAD, object: dn, intent: attrs, before: absent(dn),
				do:    func(ctx context.Context) error { return e.Dir.Add(ctx, dn, attrs) },
				check: func(ctx context.Context) (bool, error) { return e.exists(ctx, dn) }})
		return nil
	}
	c := found[0]
	p.ContactDN = c.DN
	made := "hybridsync"
	if c.ExtensionAttributes["extensionAttribute1"] == MarkerDLConversion || strings.HasSuffix(c.Name, dlConversionSuffix) {
		made = "DLConversionV2"
	} else if c.ExtensionAttributes["extensionAttribute1"] != MarkerRouting {
		made = "another tool (it targets the routing address)"
	}
	p.found("%s: the routing contact, made by %s, targetAddress %s", c.DN, made, orNone(c.TargetAddress))
	if e.Scope.Contains(c.DN) {
		p.found("%s is inside the sync scope: it is adopted where it is (other synced groups may list it as a member)", c.DN)
	}
	var ch []ad.Change
	var what []string
	if !strings.EqualFold(c.TargetAddress, want) {
		ch = append(ch, ad.Change{Op: ad.ReplaceValues, Attr: "targetAddress", Values: []string{want}})
		what = append(what, fmt.Sprintf("targetAddress %s -> %s", orNone(c.TargetAddress), want))
	}
	// The dynamic list's filter names the contact's markers: kept when
	// they are a known tool's and reach the contact alone (a contact
	// hybridsync's saga made carries the saga's id), set otherwise.
	p.contactMarker, p.contactKey = c.ExtensionAttributes["extensionAttribute1"], c.ExtensionAttributes["extensionAttribute2"]
	keep := (p.contactMarker == MarkerDLConversion || p.contactMarker == MarkerRouting) && p.contactKey != ""
	if keep {
		base, _ := ad.ParentDN(c.DN)
		got, err := e.resolveDynamic(ctx, dir, base, ad.MarkerFilter(p.contactMarker, p.contactKey))
		if err != nil {
			return err
		}
		keep = len(got) == 1 && ad.EqualDN(got[0], c.DN)
	}
	if !keep {
		if p.contactMarker != MarkerDLConversion && p.contactMarker != MarkerRouting {
			p.contactMarker = MarkerRouting
			ch = append(ch, ad.Change{Op: ad.ReplaceValues, Attr: "extensionAttribute1", Values: []string{MarkerRouting}})
			what = append(what, "extensionAttribute1 -> "+MarkerRouting)
		}
		p.contactKey = p.ListID
		ch = append(ch, ad.Change{Op: ad.ReplaceValues, Attr: "extensionAttribute2", Values: []string{p.ListID}})
		what = append(what, "extensionAttribute2 -> "+p.ListID+" (the cloud list's id, which the dynamic list's filter names)")
	}
	if len(ch) == 0 {
		return nil
	}
	dn, before := c.DN, map[string]any{"targetAddress": c.TargetAddress, "extensionAttributes": c.ExtensionAttributes}
	marker, key := p.contactMarker, p.contactKey
	e.action(p, "repair-contact", dn, "repair the routing contact: "+strings.Join(what, "; "),
		write{op: "ad.Modify", target: journal.TargetAD, object: dn, intent: ch, before: before,
			do: func(ctx context.Context) error { return e.Dir.Modify(ctx, dn, ch...) },
			check: func(ctx context.Context) (bool, error) {
				r, err := e.Dir.ReadRecipient(ctx, dn)
				if err != nil {
					return false, err
				}
				return strings.EqualFold(r.TargetAddress, want) && r.ExtensionAttributes["extensionAttribute1"] == marker &&
					r.ExtensionAttributes["extensionAttribute2"] == key, nil
			}})
	return nil
}

// planDynamicList adopts the dynamic list holding the addresses (repairing
// its filter or addresses), or plans a new one.
func (e *Env) planDynamicList(ctx context.Context, dir Searcher, p *HybridFlowPlan, ddl *ad.Recipient, display, alias string, hidden bool, req HybridFlowRequest) error {
	filter, base := ad.MarkerFilter(p.contactMarker, p.contactKey), req.NoSyncOU
	if parent, err := ad.ParentDN(p.ContactDN); err == nil {
		base = parent
	}
	if ddl == nil {
		dn := ad.ChildDN("CN", p.Name, req.NoSyncOU)
		if taken, err := e.exists(ctx, dn); err != nil || taken {
			if taken {
				p.problem("name-taken", "%s exists but does not hold the list's addresses: rename or remove it", dn)
			}
			return err
		}
		p.DynamicListDN = dn
		attrs := dynamicListAttrs(dynamicList{DisplayName: cmpOr(display, p.Name), Primary: p.Primary, Alias: alias,
			ProxyAddresses: p.Addresses, Filter: filter, BaseDN: base, Key: p.ListID, Hidden: hidden})
		e.action(p, "create-dynamic-list", dn, fmt.Sprintf("create the dynamic list with %d addresses, reaching the routing contact alone", len(p.Addresses)),
			write{op: "ad.Add", target: journal.TargetAD, object: dn, intent: attrs, before: absent(dn),
				do:    func(ctx context.Context) error { return e.Dir.Add(ctx, dn, attrs) },
				check: func(ctx context.Context) (bool, error) { return e.exists(ctx, dn) }})
		return nil
	}
	p.DynamicListDN = ddl.DN
	p.found("%s: a dynamic list holding the list's addresses, filter %s", ddl.DN, orNone(ddl.DynamicFilter))
	var ch []ad.Change
	var what []string
	reaches := ddl.DynamicFilter == filter && ad.EqualDN(ddl.DynamicBaseDN, base)
	if !reaches && ddl.DynamicFilter != "" && !slices.ContainsFunc(p.Actions, func(a HybridFlowAction) bool { return a.Kind == "create-contact" || a.Kind == "repair-contact" }) {
		got, err := e.resolveDynamic(ctx, dir, ddl.DynamicBaseDN, ddl.DynamicFilter)
		if err != nil {
			return err
		}
		reaches = len(got) == 1 && ad.EqualDN(got[0], p.ContactDN)
	}
	if !reaches {
		ch = append(ch, ad.Change{Op: ad.ReplaceValues, Attr: "msExchDynamicDLFilter", Values: []string{filter}},
			ad.Change{Op: ad.ReplaceValues, Attr: "msExchDynamicDLBaseDN", Values: []string{base}})
		what = append(what, "filter -> "+filter+" under "+base)
	}
	var missing []string
	for _, v := range p.Addresses {
		pa, err := ad.ParseProxyAddress(v)
		if err != nil {
			continue
		}
		if !slices.ContainsFunc(ddl.ProxyAddresses.Raw(), func(x string) bool {
			q, err := ad.ParseProxyAddress(x)
			return err == nil && q.Type() == pa.Type() && strings.EqualFold(q.Address, pa.Address)
		}) {
			missing = append(missing, v)
		}
	}
	if !strings.EqualFold(ddl.Mail, p.Primary) {
		ch = append(ch, ad.Change{Op: ad.ReplaceValues, Attr: "mail", Values: []string{p.Primary}})
		what = append(what, "mail -> "+p.Primary)
	}
	if len(missing) > 0 {
		if slices.ContainsFunc(ddl.ProxyAddresses.Raw(), func(x string) bool { return strings.HasPrefix(x, "SMTP:") }) {
			for i, v := range missing {
				if strings.HasPrefix(v, "SMTP:") {
					missing[i] = "smtp:" + v[len("SMTP:"):] // one primary only
				}
			}
		}
		ch = append(ch, ad.Change{Op: ad.AddValues, Attr: "proxyAddresses", Values: missing})
		what = append(what, "add addresses "+strings.Join(missing, ", "))
	}
	if len(ch) == 0 {
		return nil
	}
	dn, before := ddl.DN, map[string]any{"msExchDynamicDLFilter": ddl.DynamicFilter, "msExchDynamicDLBaseDN": ddl.DynamicBaseDN,
		"mail": ddl.Mail, "proxyAddresses": ddl.ProxyAddresses.Raw()}
	e.action(p, "repair-dynamic-list", dn, "repair the dynamic list: "+strings.Join(what, "; "),
		write{op: "ad.Modify", target: journal.TargetAD, object: dn, intent: ch, before: before,
			do: func(ctx context.Context) error { return e.Dir.Modify(ctx, dn, ch...) },
			check: func(ctx context.Context) (bool, error) {
				r, err := e.Dir.ReadRecipient(ctx, dn)
				if err != nil {
					return false, err
				}
				done := strings.EqualFold(r.Mail, p.Primary) && (reaches || r.DynamicFilter == filter)
				for _, v := range missing {
					done = done && slices.ContainsFunc(r.ProxyAddresses.Raw(), func(x string) bool { return strings.EqualFold(x, v) })
				}
				return done, nil
			}})
	return nil
}

// resolveDynamic returns the DNs a dynamic list's filter matches.
func (e *Env) resolveDynamic(ctx context.Context, dir Searcher, base, filter string) ([]string, error) {
	rs, err := dir.SearchRecipients(ctx, base, filter)
	if err != nil {
		return nil, fmt.Errorf("migrate: resolve the dynamic list filter %s: %w", filter, err)
	}
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.DN
	}
	return out, nil
}

// absent is the before-image of an object a write creates.
func absent(dn string) map[string]any { return map[string]any{"dn": dn, "exists": false} }

func (e *Env) exists(ctx context.Context, dn string) (bool, error) {
	_, err := e.Dir.ReadRecipient(ctx, dn)
	if notFound(err) {
		return false, nil
	}
	return err == nil, err
}

// onPremAddresses are the addresses the on-premises dynamic list holds:
// the list's primary and its other SMTP and X500 addresses, but not those
// in the tenant's onmicrosoft.com domains or the routing domain (mail to
// them must leave for the cloud), nor Exchange Online's own X500 values
// (/o=ExchangeLabs/..., which only cloud senders' cached entries name).
func onPremAddresses(primary string, emails []string, routingDomain string) []string {
	out := []string{"SMTP:" + primary}
	for _, v := range emails {
		pa, err := ad.ParseProxyAddress(v)
		if err != nil {
			continue
		}
		_, dom, _ := strings.Cut(pa.Address, "@")
		switch {
		case pa.IsSMTP() && (strings.EqualFold(pa.Address, primary) || strings.EqualFold(dom, routingDomain) ||
			strings.HasSuffix(strings.ToLower(dom), ".onmicrosoft.com")):
		case pa.IsSMTP():
			addUnique(&out, "smtp:"+pa.Address)
		case pa.Type() == ad.TypeX500 && !strings.HasPrefix(strings.ToLower(pa.Address), "/o=exchangelabs/"):
			addUnique(&out, v)
		}
	}
	return out
}

func addUnique(list *[]string, v string) {
	if !slices.ContainsFunc(*list, func(x string) bool { return strings.EqualFold(x, v) }) {
		*list = append(*list, v)
	}
}

func hasDomainFold(addr, domain string) bool {
	_, d, ok := strings.Cut(addr, "@")
	return ok && strings.EqualFold(d, domain)
}

// HybridFlowResult is what ApplyHybridFlow did.
type HybridFlowResult struct {
	Done []HybridFlowAction `json:"done"`
	// Reaches are the DNs the dynamic list's filter resolves to (the
	// routing contact alone).
	Reaches []string `json:"reaches"`
}

// ApplyHybridFlow carries out a ready plan's actions, in order, each
// journalled (intent and before-image first, outcome after), then checks
// the dynamic list reaches the routing contact alone. Entries an
// interrupted earlier run left pending for this list are settled first.
func (e *Env) ApplyHybridFlow(ctx context.Context, dir Searcher, p *HybridFlowPlan) (*HybridFlowResult, error) {
	if !p.Ready() {
		return nil, fmt.Errorf("migrate: hybrid mail flow for %s: %d problems; nothing written", p.List, len(p.Problems))
	}
	now := e.clock().Now().UTC()
	s := &Saga{ID: p.ListID, Group: p.List, Step: StepHybridMailFlow, State: StateRunning,
		RunID: "hybrid-mail-flow-" + short(p.ListID) + "-" + now.Format("20060102T150405Z"), Started: now}
	if err := e.settleHybridFlow(p); err != nil {
		return nil, err
	}
	res := &HybridFlowResult{Done: []HybridFlowAction{}}
	for _, a := range p.Actions {
		if err := a.run(ctx, s); err != nil {
			return res, fmt.Errorf("migrate: hybrid mail flow for %s: %s %s: %w", p.List, a.Kind, a.Object, err)
		}
		res.Done = append(res.Done, a)
	}
	got, err := e.resolveDynamicOf(ctx, dir, p.DynamicListDN)
	if err != nil {
		return res, err
	}
	res.Reaches = got
	if len(got) != 1 || !ad.EqualDN(got[0], p.ContactDN) {
		return res, retry.New("migrate.hybrid-mail-flow", retry.Terminal,
			fmt.Errorf("the dynamic list %s reaches %q, not the routing contact %s alone", p.DynamicListDN, got, p.ContactDN))
	}
	return res, nil
}

func (e *Env) resolveDynamicOf(ctx context.Context, dir Searcher, dn string) ([]string, error) {
	r, err := e.Dir.ReadRecipient(ctx, dn)
	if err != nil {
		return nil, fmt.Errorf("migrate: read the dynamic list %s: %w", dn, err)
	}
	if r.DynamicFilter == "" {
		return nil, nil
	}
	return e.resolveDynamic(ctx, dir, r.DynamicBaseDN, r.DynamicFilter)
}

// settleHybridFlow settles the journal entries an interrupted earlier run
// for the same list left pending. The plan was made from a re-read of
// both directories, so it already shows whether each write happened; an
// entry sent less than SettleAfter ago may still apply, and blocks the
// run until then.
func (e *Env) settleHybridFlow(p *HybridFlowPlan) error {
	pending, err := e.Journal.Pending()
	if err != nil {
		return fmt.Errorf("migrate: read the journal: %w", err)
	}
	prefix := "hybrid-mail-flow-" + short(p.ListID) + "-"
	for _, en := range pending {
		if !strings.HasPrefix(en.RunID, prefix) {
			continue
		}
		switch {
		case en.Sent.IsZero():
			err = e.Journal.Fail(en.ID, errors.New("recovery: never sent"))
		case e.clock().Now().Sub(en.Sent) >= e.settleAfter():
			err = e.Journal.MarkSuperseded(en.ID, errors.New("recovery: settled by a later run, planned from a re-read of both directories"))
		default:
			return fmt.Errorf("%w: journal entry %s (%s) of an earlier run was sent at %s without an answer; run again after %s",
				ErrBlocked, en.ID, en.Operation, en.Sent.UTC().Format(time.RFC3339), en.Sent.Add(e.settleAfter()).UTC().Format(time.RFC3339))
		}
		if err != nil {
			return fmt.Errorf("migrate: settle journal entry %s: %w", en.ID, err)
		}
	}
	return nil
}
