// Package mailflow resolves an SMTP address the way each side of a hybrid
// organisation would route mail sent to it, and probes a set of addresses
// over time (Probe), so that tests and the lab can measure how long an
// address reached nobody while a distribution list moved to the cloud.
//
// On premises (what Exchange Server's categorizer does with the directory):
// the AD object holding the address in mail or proxyAddresses is found; a
// mail-enabled user is deliverable (a mailbox, or, with targetAddress, a
// remote mailbox or mail user routed to it; the lab models on-premises
// mailboxes without Exchange's mailbox attributes, so a mail-enabled user
// counts as one); a group expands to its members, recursively; a dynamic
// distribution list expands to what its msExchDynamicDLFilter (the LDAP
// filter Exchange keeps there) matches under msExchDynamicDLBaseDN; a
// contact routes to its targetAddress, resolved in Exchange Online when a
// cloud recipient holds it, delivered outside when its domain is not one
// of the tenant's, and bouncing otherwise.
//
// In Exchange Online: the recipient Get-Recipient finds for the address;
// distribution groups expand through Get-DistributionGroupMember,
// recursively; mailboxes, mail users, mail contacts and Microsoft 365
// groups are deliverable.
//
// The package is part of the lab (development build only).
package mailflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// Side is the side of the organisation an address is resolved from.
type Side string

const (
	OnPremises Side = "on-premises"
	Cloud      Side = "cloud"
)

// Sides are both sides, in the order a Probe resolves them.
var Sides = []Side{OnPremises, Cloud}

// Recipient is one recipient a resolution reached.
type Recipient struct {
	Side Side `json:"side"`
	// ID is the DN on premises, the ExternalDirectoryObjectId (else Guid)
	// in Exchange Online, the address itself for an external one.
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Type is the ad.Kind on premises ("user", "group", "contact",
	// "dynamicDistributionList"), RecipientTypeDetails in Exchange Online,
	// "external" for an address outside the organisation.
	Type string `json:"type"`
}

// Hop is one recipient a resolution went through, with the one that led
// to it (Parent is "" for the address's holder).
type Hop struct {
	Recipient
	Parent string `json:"parent,omitempty"`
}

// Resolution is where mail to an address goes when sent from one side.
type Resolution struct {
	Address string `json:"address"`
	Side    Side   `json:"side"`
	// Holder is the recipient holding the address; nil when none does.
	Holder *Recipient `json:"holder,omitempty"`
	// Deliverable are the recipients the mail ends at (mailboxes, mail
	// users, remote mailboxes, mail contacts, external addresses), each
	// once, in the order they were reached.
	Deliverable []Recipient `json:"deliverable"`
	// Via are the recipients expanded or routed through on the way
	// (groups, dynamic DLs, contacts), in the order they were reached.
	Via []Hop `json:"via,omitempty"`
	// Problems say why a branch delivered nothing: no holder, an
	// ambiguous address, an empty group, a target no one holds, a loop.
	Problems []string `json:"problems,omitempty"`
}

// Delivers reports whether the mail reaches at least one deliverable
// recipient.
func (r Resolution) Delivers() bool { return len(r.Deliverable) > 0 }

// Directory is what the on-premises side reads AD through
// (*adldap.Client).
type Directory interface {
	SearchRecipients(ctx context.Context, base, filter string, fn func(*ad.Recipient) error) (adldap.ReadResult, error)
	ReadRecipient(ctx context.Context, dn string) (*ad.Recipient, error)
}

var _ Directory = (*adldap.Client)(nil)

// defaultMaxDepth bounds nesting, as Exchange bounds expansion.
const defaultMaxDepth = 20

// Resolver resolves addresses on both sides. It is safe for concurrent use.
type Resolver struct {
	// AD and BaseDN are where on-premises holders are looked for (the
	// domain).
	AD     Directory
	BaseDN string
	// Exchange is the tenant's Exchange Online organisation.
	Exchange cloud.Exchange
	// MaxDepth bounds group nesting; 0 means 20.
	MaxDepth int

	mu       sync.Mutex
	accepted map[string]bool // the tenant's accepted domains, read once
}

// Resolve resolves addr from side. An error means the resolution could not
// be made (a directory read failed), not that the address reaches nobody.
func (r *Resolver) Resolve(ctx context.Context, side Side, addr string) (Resolution, error) {
	switch side {
	case OnPremises:
		return r.OnPremises(ctx, addr)
	case Cloud:
		return r.Cloud(ctx, addr)
	}
	return Resolution{}, fmt.Errorf("mailflow: unknown side %q", side)
}

// walk is one resolution's state.
type walk struct {
	r    *Resolver
	res  *Resolution
	seen map[string]bool
}

func (r *Resolver) newWalk(addr string, side Side) *walk {
	return &walk{r: r, res: &Resolution{Address: addr, Side: side, Deliverable: []Recipient{}}, seen: map[string]bool{}}
}

func (r *Resolver) maxDepth() int {
	if r.MaxDepth > 0 {
		return r.MaxDepth
	}
	return defaultMaxDepth
}

func (w *walk) problem(format string, a ...any) {
	w.res.Problems = append(w.res.Problems, fmt.Sprintf(format, a...))
}

func (w *walk) deliver(rc Recipient) {
	k := string(rc.Side) + "\x00" + strings.ToLower(rc.ID)
	if w.seen["d\x00"+k] {
		return
	}
	w.seen["d\x00"+k] = true
	w.res.Deliverable = append(w.res.Deliverable, rc)
}

// visit records rc as reached from parent and reports whether it is new
// (a recipient reached twice is expanded once: a loop, or two paths).
func (w *walk) visit(rc Recipient, parent string, depth int) bool {
	if depth == 0 {
		h := rc
		w.res.Holder = &h
	}
	k := "v\x00" + string(rc.Side) + "\x00" + strings.ToLower(rc.ID)
	if w.seen[k] {
		return false
	}
	w.seen[k] = true
	if depth > w.r.maxDepth() {
		w.problem("%s is nested more than %d levels deep; not expanded", rc.Name, w.r.maxDepth())
		return false
	}
	return true
}

// OnPremises resolves addr as Exchange on premises would route it.
func (r *Resolver) OnPremises(ctx context.Context, addr string) (Resolution, error) {
	w := r.newWalk(addr, OnPremises)
	filter := adldap.And(adldap.MailEnabledFilter(), adldap.Or(adldap.Eq("proxyAddresses", "smtp:"+addr), adldap.Eq("mail", addr)))
	var holders []*ad.Recipient
	res, err := r.AD.SearchRecipients(ctx, r.BaseDN, filter, func(rc *ad.Recipient) error {
		holders = append(holders, rc)
		return nil
	})
	if err != nil {
		return Resolution{}, fmt.Errorf("mailflow: on premises, find the holder of %s: %w", addr, err)
	}
	if !res.Complete {
		return Resolution{}, fmt.Errorf("mailflow: on premises, find the holder of %s: the search did not complete", addr)
	}
	switch len(holders) {
	case 0:
		w.problem("no object in Active Directory holds %s", addr)
		return *w.res, nil
	case 1:
	default:
		w.problem("%d objects in Active Directory hold %s: the address is ambiguous and mail to it is not delivered", len(holders), addr)
		return *w.res, nil
	}
	if err := w.onPremises(ctx, holders[0], "", 0); err != nil {
		return Resolution{}, err
	}
	return *w.res, nil
}

func adRecipient(rc *ad.Recipient) Recipient {
	return Recipient{Side: OnPremises, ID: rc.DN, Name: rc.Name, Type: string(rc.Kind)}
}

func (w *walk) onPremises(ctx context.Context, rc *ad.Recipient, parent string, depth int) error {
	me := adRecipient(rc)
	if !w.visit(me, parent, depth) {
		return nil
	}
	switch rc.Kind {
	case ad.KindUser:
		if !rc.MailEnabled() {
			w.problem("%s is a user without mail attributes: not a recipient", rc.Name)
			return nil
		}
		w.deliver(me)
		return nil
	case ad.KindContact:
		w.res.Via = append(w.res.Via, Hop{Recipient: me, Parent: parent})
		target := rc.TargetAddress
		if p, a, ok := strings.Cut(target, ":"); ok && strings.EqualFold(p, "smtp") {
			target = a
		}
		if target == "" {
			w.problem("contact %s has no targetAddress: mail to it goes nowhere", rc.Name)
			return nil
		}
		return w.route(ctx, target, me.ID, depth+1)
	case ad.KindGroup:
		w.res.Via = append(w.res.Via, Hop{Recipient: me, Parent: parent})
		if !rc.MailEnabled() {
			w.problem("group %s is not mail-enabled: Exchange does not expand it", rc.Name)
			return nil
		}
		if len(rc.Members) == 0 {
			w.problem("group %s has no members", rc.Name)
		}
		for _, m := range rc.Members {
			mr, err := w.r.AD.ReadRecipient(ctx, m)
			if errors.Is(err, retry.ErrNotFound) {
				w.problem("member %s of %s does not exist", m, rc.Name)
				continue
			}
			if err != nil {
				return fmt.Errorf("mailflow: on premises, read member %s of %s: %w", m, rc.DN, err)
			}
			if err := w.onPremises(ctx, mr, me.ID, depth+1); err != nil {
				return err
			}
		}
		return nil
	case ad.KindDynamicDL:
		w.res.Via = append(w.res.Via, Hop{Recipient: me, Parent: parent})
		if rc.DynamicFilter == "" {
			w.problem("dynamic distribution list %s has no msExchDynamicDLFilter", rc.Name)
			return nil
		}
		base := rc.DynamicBaseDN
		if base == "" {
			base = w.r.BaseDN
		}
		var matched []*ad.Recipient
		res, err := w.r.AD.SearchRecipients(ctx, base, rc.DynamicFilter, func(m *ad.Recipient) error {
			matched = append(matched, m)
			return nil
		})
		if err != nil {
			return fmt.Errorf("mailflow: on premises, evaluate the filter of %s: %w", rc.DN, err)
		}
		if !res.Complete {
			return fmt.Errorf("mailflow: on premises, evaluate the filter of %s: the search did not complete", rc.DN)
		}
		if len(matched) == 0 {
			w.problem("the filter of dynamic distribution list %s matches nothing", rc.Name)
		}
		for _, m := range matched {
			if err := w.onPremises(ctx, m, me.ID, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	w.problem("%s is not a recipient (%s)", rc.Name, rc.Kind)
	return nil
}

// route sends mail on to target: to the Exchange Online recipient holding
// it, outside when its domain is not the tenant's, else nowhere (Exchange
// Online would bounce it).
func (w *walk) route(ctx context.Context, target, parent string, depth int) error {
	rec, err := w.r.Exchange.GetRecipient(ctx, target)
	if err == nil {
		return w.cloud(ctx, *rec, parent, depth)
	}
	if !errors.Is(err, retry.ErrNotFound) {
		return fmt.Errorf("mailflow: find the Exchange Online recipient of %s: %w", target, err)
	}
	_, dom, _ := strings.Cut(target, "@")
	ours, err := w.r.isAccepted(ctx, dom)
	if err != nil {
		return err
	}
	if ours {
		w.problem("no Exchange Online recipient holds %s, in the tenant's domain %s: mail to it bounces", target, dom)
		return nil
	}
	w.deliver(Recipient{Side: Cloud, ID: target, Name: target, Type: "external"})
	return nil
}

// isAccepted reports whether domain is one of the tenant's accepted
// domains (read once).
func (r *Resolver) isAccepted(ctx context.Context, domain string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.accepted == nil {
		ds, err := r.Exchange.AcceptedDomains(ctx)
		if err != nil {
			return false, fmt.Errorf("mailflow: read the tenant's accepted domains: %w", err)
		}
		r.accepted = make(map[string]bool, len(ds))
		for _, d := range ds {
			r.accepted[strings.ToLower(d.DomainName)] = true
		}
	}
	return r.accepted[strings.ToLower(domain)], nil
}

// Cloud resolves addr as Exchange Online would route it.
func (r *Resolver) Cloud(ctx context.Context, addr string) (Resolution, error) {
	w := r.newWalk(addr, Cloud)
	rec, err := r.Exchange.GetRecipient(ctx, addr)
	if errors.Is(err, retry.ErrNotFound) {
		w.problem("no Exchange Online recipient holds %s", addr)
		return *w.res, nil
	}
	if err != nil {
		return Resolution{}, fmt.Errorf("mailflow: in Exchange Online, find the holder of %s: %w", addr, err)
	}
	if err := w.cloud(ctx, *rec, "", 0); err != nil {
		return Resolution{}, err
	}
	return *w.res, nil
}

func cloudRecipient(rc cloud.ExoRecipient) Recipient {
	id := rc.ExternalDirectoryObjectID
	if id == "" {
		id = rc.GUID
	}
	return Recipient{Side: Cloud, ID: id, Name: rc.Name, Type: rc.RecipientTypeDetails}
}

func (w *walk) cloud(ctx context.Context, rc cloud.ExoRecipient, parent string, depth int) error {
	me := cloudRecipient(rc)
	if !w.visit(me, parent, depth) {
		return nil
	}
	switch rc.RecipientTypeDetails {
	case "MailUniversalDistributionGroup", "MailUniversalSecurityGroup", "MailNonUniversalGroup", "RoomList":
		w.res.Via = append(w.res.Via, Hop{Recipient: me, Parent: parent})
		members, err := w.r.Exchange.GroupMembers(ctx, me.ID)
		if err != nil {
			return fmt.Errorf("mailflow: in Exchange Online, list the members of %s: %w", rc.Name, err)
		}
		if len(members) == 0 {
			w.problem("group %s has no members", rc.Name)
		}
		for _, m := range members {
			if err := w.cloud(ctx, m, me.ID, depth+1); err != nil {
				return err
			}
		}
		return nil
	case "", "User", "DisabledUser":
		w.problem("%s is not mail-enabled in Exchange Online", rc.Name)
		return nil
	case "DynamicDistributionGroup":
		w.problem("%s is a cloud dynamic distribution group, which this resolver does not expand", rc.Name)
		return nil
	}
	// Mailboxes of every kind, mail users, mail contacts, Microsoft 365
	// groups.
	w.deliver(me)
	return nil
}
