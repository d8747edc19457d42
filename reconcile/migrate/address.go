package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/journal"
	"github.com/hybridsync/hybridsync/reconcile/proxycalc"
)

// StepAddress names the writes of an address change of a migrated list
// (ChangeAddress) in the journal's intent records. It is not a step of a
// path: a migrated saga has no current step.
const StepAddress Step = "address"

// States of an AddressChange.
const (
	// AddressStarted: recorded before the first write; a change left
	// started (a crash, an unknown outcome) is finished by running the
	// same change again.
	AddressStarted = "started"
	// AddressDone: both directories carry the new address.
	AddressDone = "done"
	// AddressCompensated: the on-premises write failed and the cloud
	// write was undone: nothing changed.
	AddressCompensated = "compensated"
	// AddressFailed: a write failed and what was written could not be
	// undone; Error says what is left where.
	AddressFailed = "failed"
)

// AddressChange is one change of a migrated list's primary address and
// alias, as recorded in its saga (Made.AddressChanges) before anything is
// written.
type AddressChange struct {
	// RunID groups the change's journal entries (not the saga's RunID, so
	// that a rollback's recovery never takes them for its own).
	RunID       string    `json:"runID"`
	At          time.Time `json:"at"`
	FromPrimary string    `json:"fromPrimary"`
	ToPrimary   string    `json:"toPrimary"`
	FromAlias   string    `json:"fromAlias"`
	ToAlias     string    `json:"toAlias"`
	State       string    `json:"state"`
	Error       string    `json:"error,omitempty"`
}

// Primary is the list's primary SMTP address now: the last address change
// done, or the group's own.
func (s *Saga) Primary() string {
	for i := len(s.Made.AddressChanges) - 1; i >= 0; i-- {
		if c := s.Made.AddressChanges[i]; c.State == AddressDone {
			return c.ToPrimary
		}
	}
	if s.Capture == nil {
		return ""
	}
	return s.Capture.Primary
}

// Alias is the list's alias now (see Primary).
func (s *Saga) Alias() string {
	for i := len(s.Made.AddressChanges) - 1; i >= 0; i-- {
		if c := s.Made.AddressChanges[i]; c.State == AddressDone {
			return c.ToAlias
		}
	}
	if s.Capture == nil {
		return ""
	}
	return s.Capture.Alias
}

// ErrBadAddress is wrapped by ChangeAddress's error when the request is
// refused before anything is written: a malformed address or alias, a
// domain the tenant does not accept, an address another recipient holds,
// a group not migrated.
var ErrBadAddress = errors.New("migrate: address change refused")

// ErrAddressCompensated is wrapped by ChangeAddress's error when the
// on-premises write failed after the cloud write, and the cloud write was
// undone: nothing changed.
var ErrAddressCompensated = errors.New("migrate: address change undone")

// AddressReport says what ChangeAddress did.
type AddressReport struct {
	Change AddressChange
	// Cloud is the cloud list's id; DynamicList and Contact the
	// on-premises objects written ("" when there is none, or nothing
	// needed writing).
	Cloud       string
	DynamicList string
	Contact     string
	// Notes say what was left alone, and why (an SOA list's on-premises
	// group).
	Notes []string
}

func badAddress(format string, args ...any) error {
	return retry.New("migrate.address", retry.Terminal, fmt.Errorf("%w: %s", ErrBadAddress, fmt.Sprintf(format, args...)))
}

// validAlias is Exchange's rule for an alias: RFC 5322 atext and dots,
// no leading, trailing or double dot, at most 64 characters.
func validAlias(a string) bool {
	if a == "" || len(a) > 64 || strings.HasPrefix(a, ".") || strings.HasSuffix(a, ".") || strings.Contains(a, "..") {
		return false
	}
	for _, c := range a {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", c):
		default:
			return false
		}
	}
	return true
}

// withPrimary returns addrs with addr as the one SMTP: value, the old
// primary kept as a secondary smtp: value, and every other value kept.
func withPrimary(addrs []string, addr string) []string {
	out := []string{"SMTP:" + addr}
	for _, v := range addrs {
		prefix, a, ok := strings.Cut(v, ":")
		switch {
		case !ok:
			out = append(out, v)
		case strings.EqualFold(prefix, "smtp") && strings.EqualFold(a, addr):
			// the new primary, already first
		case prefix == "SMTP":
			out = append(out, "smtp:"+a)
		default:
			out = append(out, v)
		}
	}
	return out
}

// smtpPrimary returns the SMTP: value's address of addrs, or "".
func smtpPrimary(addrs []string) string {
	for _, v := range addrs {
		if a, ok := strings.CutPrefix(v, "SMTP:"); ok {
			return a
		}
	}
	return ""
}

// ChangeAddress changes the primary SMTP address (the old one kept as a
// secondary) and the alias of the migrated list s, in both directories:
// first the cloud list, then the on-premises dynamic list's mail,
// proxyAddresses and mailNickname (recreate with hybrid mail flow), and
// the routing contact's addresses where they carry the old primary. Each
// write is journalled with its before-image and intent first, and the
// change is recorded in the saga before anything is written. alias ""
// keeps the alias.
//
// Everything is checked before anything is written (ErrBadAddress). When
// the on-premises write fails after the cloud write, the cloud write is
// undone, journalled too (ErrAddressCompensated). A write whose outcome is
// unknown leaves the change started (ErrBlocked): running the same change
// again finishes it, since every write first checks whether its effect is
// in place.
//
// An SOA list has no dynamic list: its on-premises group, no longer the
// source of the cloud list, keeps its addresses, so that a rollback (which
// hands the group back to the sync engine) restores the list as it was
// before the migration; the report says so.
func (e *Env) ChangeAddress(ctx context.Context, s *Saga, primary, alias string) (*Saga, *AddressReport, error) {
	s = s.clone()
	s.Made.AddressChanges = slices.Clone(s.Made.AddressChanges)
	if s.State != StateMigrated {
		return s, nil, badAddress("%s is not migrated (its migration is %s); an address change is for a migrated list", s.Group, s.State)
	}
	if s.Made.CloudListID == "" || s.Capture == nil {
		return s, nil, badAddress("the saga of %s names no cloud list", s.Group)
	}
	oldPrimary, oldAlias := s.Primary(), s.Alias()
	primary = strings.TrimSpace(primary)
	if err := proxycalc.ValidateAddress(primary); err != nil {
		return s, nil, badAddress("%q is not an email address: %v", primary, err)
	}
	if alias == "" {
		alias = oldAlias
	}
	if !validAlias(alias) {
		return s, nil, badAddress("%q is not an alias Exchange Online takes (letters, digits, !#$%%&'*+-/=?^_`{|}~ and single dots inside, at most 64 characters)", alias)
	}
	// A change left started by an earlier run is finished first.
	var ch *AddressChange
	if n := len(s.Made.AddressChanges); n > 0 && s.Made.AddressChanges[n-1].State == AddressStarted {
		last := &s.Made.AddressChanges[n-1]
		if !strings.EqualFold(last.ToPrimary, primary) || last.ToAlias != alias {
			return s, nil, badAddress("the change of %s to %s (alias %s) is not finished: run migrate address with --primary %s --alias %s first",
				s.Group, last.ToPrimary, last.ToAlias, last.ToPrimary, last.ToAlias)
		}
		ch, oldPrimary, oldAlias = last, last.FromPrimary, last.FromAlias
	} else if strings.EqualFold(primary, oldPrimary) && alias == oldAlias {
		return s, nil, badAddress("%s already has the primary address %s and the alias %s", s.Group, oldPrimary, oldAlias)
	}
	if err := e.checkNewAddress(ctx, s, primary, oldPrimary); err != nil {
		return s, nil, err
	}
	id := s.Made.CloudListID
	g, err := e.Exchange.GetDistributionGroup(ctx, id)
	if err != nil {
		return s, nil, fmt.Errorf("migrate: read the cloud list of %s: %w", s.Group, err)
	}
	var dl, contact *ad.Recipient
	if s.Made.DynamicListDN != "" {
		if dl, err = e.Dir.ReadRecipient(ctx, s.Made.DynamicListDN); err != nil {
			return s, nil, fmt.Errorf("migrate: read the dynamic list %s: %w", s.Made.DynamicListDN, err)
		}
	}
	if s.Made.ContactDN != "" {
		if contact, err = e.Dir.ReadRecipient(ctx, s.Made.ContactDN); err != nil {
			return s, nil, fmt.Errorf("migrate: read the routing contact %s: %w", s.Made.ContactDN, err)
		}
	}

	now := e.clock().Now().UTC()
	if ch == nil {
		s.Made.AddressChanges = append(s.Made.AddressChanges, AddressChange{
			RunID: "address-" + s.ID[:8] + "-" + now.Format("20060102T150405.000Z"), At: now,
			FromPrimary: oldPrimary, ToPrimary: primary, FromAlias: oldAlias, ToAlias: alias, State: AddressStarted})
		ch = &s.Made.AddressChanges[len(s.Made.AddressChanges)-1]
	}
	// The change is in the journal before anything is written.
	if err := e.save(s); err != nil {
		return s, nil, err
	}
	w := s.clone() // the saga as perform sees it: the change's run, its step
	w.RunID, w.Step = ch.RunID, StepAddress
	if err := e.settleAddress(ctx, w, ch, dl, contact); err != nil {
		return s, nil, err
	}
	rep := &AddressReport{Cloud: id}
	finish := func(state string, cause error) (*Saga, *AddressReport, error) {
		ch.State = state
		if cause != nil {
			ch.Error = cause.Error()
		}
		rep.Change = *ch
		if err := e.save(s); err != nil {
			return s, rep, err
		}
		return s, rep, cause
	}

	// 1. The cloud list.
	cloudBefore := g.EmailAddresses
	if smtpPrimary(cloudBefore) == "" && g.PrimarySMTPAddress != "" {
		cloudBefore = withPrimary(cloudBefore, g.PrimarySMTPAddress)
	}
	if !(strings.EqualFold(g.PrimarySMTPAddress, primary) && strings.EqualFold(g.Alias, alias)) {
		want := withPrimary(g.EmailAddresses, primary)
		changes := cloud.GroupChanges{PrimarySMTPAddress: &primary, Alias: &alias, EmailAddresses: &want}
		err := e.perform(ctx, w, write{op: "exo.Set-DistributionGroup", target: journal.TargetExchange, object: id,
			intent: changes, before: map[string]any{"primary": g.PrimarySMTPAddress, "alias": g.Alias, "emailAddresses": g.EmailAddresses},
			do:    func(ctx context.Context) error { return e.Exchange.SetDistributionGroup(ctx, id, changes) },
			check: func(ctx context.Context) (bool, error) { return e.cloudAddressIs(ctx, id, primary, alias) }}, false)
		if err != nil {
			if errors.Is(err, ErrBlocked) {
				return s, nil, fmt.Errorf("the cloud write's outcome is not known yet; run the same change again to finish it: %w", err)
			}
			return finish(AddressFailed, fmt.Errorf("migrate: the cloud list refused the address change; nothing was written on premises: %w", err))
		}
	} else {
		// Done by an earlier run of this change: the before-image is the
		// change's own.
		cloudBefore = withPrimary(slices.DeleteFunc(slices.Clone(g.EmailAddresses), func(v string) bool {
			return strings.EqualFold(v, "smtp:"+primary)
		}), oldPrimary)
	}

	// 2. On premises: the dynamic list, then the routing contact.
	var adErr error
	if dl != nil {
		rep.DynamicList = dl.DN
		adErr = e.rewriteAddress(ctx, w, dl, oldPrimary, primary, oldAlias, alias, true)
	}
	if adErr == nil && contact != nil && carries(contact, oldPrimary) {
		rep.Contact = contact.DN
		adErr = e.rewriteAddress(ctx, w, contact, oldPrimary, primary, "", "", false)
	}
	if dl == nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%s has no on-premises dynamic list (%s path): its on-premises group keeps its addresses", s.Group, s.Method))
	}
	if adErr == nil {
		if b := s.Made.Baseline; b != nil {
			// The change is hybridsync's own: rollback names it (see
			// CloudChanges) rather than as an address added in the cloud.
			if g, err := e.Exchange.GetDistributionGroup(ctx, id); err == nil {
				b.Addresses = slices.Clone(g.EmailAddresses)
			}
		}
		return finish(AddressDone, nil)
	}
	if errors.Is(adErr, ad.ErrOutcomeUnknown) {
		return s, rep, fmt.Errorf("the on-premises write's outcome is not known yet; run the same change again to finish it: %w", adErr)
	}

	// 3. The on-premises write failed: undo the cloud write.
	if uerr := e.undoCloudAddress(ctx, w, id, cloudBefore, oldPrimary, oldAlias); uerr != nil {
		return finish(AddressFailed, fmt.Errorf("migrate: the on-premises write failed (%w), and undoing the cloud write failed too (%v): the cloud list has %s, on premises has %s; run the same change again to finish it",
			adErr, uerr, primary, oldPrimary))
	}
	// The routing contact is written after the dynamic list: a refused
	// contact leaves the dynamic list changed. Put it back as well.
	if dl != nil && rep.Contact != "" {
		if uerr := e.restoreAddress(ctx, w, dl, primary); uerr != nil {
			return finish(AddressFailed, fmt.Errorf("migrate: the routing contact's write failed (%w), and putting the dynamic list back failed (%v)", adErr, uerr))
		}
	}
	return finish(AddressCompensated, fmt.Errorf("%w: the on-premises write failed, so the cloud list was set back to %s: nothing changed: %w", ErrAddressCompensated, oldPrimary, adErr))
}

// checkNewAddress refuses an address in a domain the tenant does not
// accept, or held by another recipient in either directory.
func (e *Env) checkNewAddress(ctx context.Context, s *Saga, primary, oldPrimary string) error {
	_, dom, _ := strings.Cut(primary, "@")
	ds, err := e.Exchange.AcceptedDomains(ctx)
	if err != nil {
		return fmt.Errorf("migrate: read the accepted domains: %w", err)
	}
	accepted := strings.EqualFold(dom, e.InitialDomain)
	for _, d := range ds {
		accepted = accepted || strings.EqualFold(d.DomainName, dom)
	}
	if !accepted {
		return badAddress("%s is in %s, which is not an accepted domain of the tenant (Get-AcceptedDomain)", primary, dom)
	}
	if strings.EqualFold(primary, oldPrimary) {
		return nil
	}
	x, err := e.Exchange.GetRecipient(ctx, primary)
	switch {
	case err == nil && !strings.EqualFold(x.ExternalDirectoryObjectID, s.Made.CloudListID):
		return badAddress("%s is already used by %s in Exchange Online", primary, cmpOr(x.Name, x.PrimarySMTPAddress))
	case err != nil && !notFound(err):
		return fmt.Errorf("migrate: look %s up in Exchange Online: %w", primary, err)
	}
	r, err := e.Dir.FindByAddress(ctx, primary)
	switch {
	case err == nil && !ad.EqualDN(r.DN, s.Made.DynamicListDN) && !ad.EqualDN(r.DN, s.Made.ContactDN):
		return badAddress("%s is already used on premises by %s", primary, r.DN)
	case err != nil && retry.ClassOf(err) == retry.Conflict:
		return badAddress("%s is already used on premises by more than one object: %v", primary, err)
	case err != nil && !notFound(err):
		return fmt.Errorf("migrate: look %s up on premises: %w", primary, err)
	}
	return nil
}

// cloudAddressIs reports whether the cloud list has primary and alias.
func (e *Env) cloudAddressIs(ctx context.Context, id, primary, alias string) (bool, error) {
	g, err := e.Exchange.GetDistributionGroup(ctx, id)
	if err != nil {
		return false, err
	}
	return strings.EqualFold(g.PrimarySMTPAddress, primary) && strings.EqualFold(g.Alias, alias), nil
}

// carries reports whether r holds addr as mail, a proxy address or its
// target address.
func carries(r *ad.Recipient, addr string) bool {
	if strings.EqualFold(r.Mail, addr) {
		return true
	}
	if _, t, ok := strings.Cut(r.TargetAddress, ":"); ok && strings.EqualFold(t, addr) {
		return true
	}
	return slices.ContainsFunc(r.ProxyAddresses.Values, func(p ad.ProxyAddress) bool { return p.IsSMTP() && strings.EqualFold(p.Address, addr) })
}

// addressChanges is the LDAP modify that moves r's primary address from
// old to new: mail's old value deleted and the new one added (AD refuses
// the whole modify if mail changed since it was read), proxyAddresses'
// values deleted before they are added (AD compares them without case),
// old kept as a secondary smtp: value; mailNickname replaced when alias
// is set, targetAddress when it named old.
func addressChanges(r *ad.Recipient, old, new, alias string) []ad.Change {
	var out []ad.Change
	if r.Mail != "" {
		out = append(out, ad.Change{Op: ad.DeleteValues, Attr: "mail", Values: []string{r.Mail}})
	}
	out = append(out, ad.Change{Op: ad.AddValues, Attr: "mail", Values: []string{new}})
	var del, add []string
	for _, v := range r.ProxyAddresses.Raw() {
		prefix, a, _ := strings.Cut(v, ":")
		if !strings.EqualFold(prefix, "smtp") {
			continue
		}
		switch {
		case strings.EqualFold(a, new):
			del = append(del, v)
		case prefix == "SMTP":
			del = append(del, v)
			add = append(add, "smtp:"+a)
		}
	}
	if !slices.ContainsFunc(add, func(v string) bool { return strings.EqualFold(v, "smtp:"+old) }) &&
		!slices.ContainsFunc(r.ProxyAddresses.Raw(), func(v string) bool { return v == "smtp:"+old }) {
		add = append(add, "smtp:"+old)
	}
	add = append(add, "SMTP:"+new)
	if len(del) > 0 {
		out = append(out, ad.Change{Op: ad.DeleteValues, Attr: "proxyAddresses", Values: del})
	}
	out = append(out, ad.Change{Op: ad.AddValues, Attr: "proxyAddresses", Values: add})
	if alias != "" && alias != r.MailNickname {
		out = append(out, ad.Change{Op: ad.ReplaceValues, Attr: "mailNickname", Values: []string{alias}})
	}
	if _, t, ok := strings.Cut(r.TargetAddress, ":"); ok && strings.EqualFold(t, old) {
		out = append(out, ad.Change{Op: ad.ReplaceValues, Attr: "targetAddress", Values: []string{"SMTP:" + new}})
	}
	return out
}

// hasPrimary reports whether r's mail and SMTP: value are addr.
func hasPrimary(r *ad.Recipient, addr string) bool {
	p, ok := r.ProxyAddresses.PrimarySMTP()
	return ok && strings.EqualFold(r.Mail, addr) && strings.EqualFold(p.Address, addr)
}

// rewriteAddress is the journalled write of addressChanges on r; its
// check re-reads r. withAlias sets mailNickname too.
func (e *Env) rewriteAddress(ctx context.Context, w *Saga, r *ad.Recipient, old, new, oldAlias, alias string, withAlias bool) error {
	done := func(ctx context.Context) (bool, error) {
		cur, err := e.Dir.ReadRecipient(ctx, r.DN)
		if err != nil {
			return false, err
		}
		return hasPrimary(cur, new) && (!withAlias || cur.MailNickname == alias), nil
	}
	if hasPrimary(r, new) && (!withAlias || r.MailNickname == alias) {
		return nil
	}
	if !withAlias {
		alias = ""
	}
	changes := addressChanges(r, old, new, alias)
	return e.perform(ctx, w, write{op: "ad.Modify", target: journal.TargetAD, object: r.DN, intent: changes,
		before: map[string]any{"mail": r.Mail, "mailNickname": r.MailNickname, "proxyAddresses": r.ProxyAddresses.Raw(), "targetAddress": r.TargetAddress, "fromAlias": oldAlias},
		do:     func(ctx context.Context) error { return e.Dir.Modify(ctx, r.DN, changes...) },
		check:  done}, false)
}

// restoreAddress gives r back the mail, proxyAddresses and mailNickname
// it had when read (journalled as an undo); changed is the address the
// change gave it, to tell whether there is anything to undo.
func (e *Env) restoreAddress(ctx context.Context, w *Saga, r *ad.Recipient, changed string) error {
	cur, err := e.Dir.ReadRecipient(ctx, r.DN)
	if err != nil {
		return err
	}
	if !strings.EqualFold(cur.Mail, changed) {
		return nil // the write did not happen
	}
	changes := []ad.Change{{Op: ad.ReplaceValues, Attr: "mail", Values: []string{r.Mail}},
		{Op: ad.ReplaceValues, Attr: "proxyAddresses", Values: r.ProxyAddresses.Raw()},
		{Op: ad.ReplaceValues, Attr: "mailNickname", Values: []string{r.MailNickname}}}
	return e.perform(ctx, w, write{op: "ad.Modify", target: journal.TargetAD, object: r.DN, intent: changes,
		before: map[string]any{"mail": cur.Mail, "mailNickname": cur.MailNickname, "proxyAddresses": cur.ProxyAddresses.Raw()},
		do:     func(ctx context.Context) error { return e.Dir.Modify(ctx, r.DN, changes...) },
		check: func(ctx context.Context) (bool, error) {
			x, err := e.Dir.ReadRecipient(ctx, r.DN)
			return err == nil && strings.EqualFold(x.Mail, r.Mail), err
		}}, true)
}

// undoCloudAddress sets the cloud list back to its addresses before the
// change (journalled as an undo).
func (e *Env) undoCloudAddress(ctx context.Context, w *Saga, id string, addrs []string, primary, alias string) error {
	changes := cloud.GroupChanges{PrimarySMTPAddress: &primary, Alias: &alias, EmailAddresses: &addrs}
	return e.perform(ctx, w, write{op: "exo.Set-DistributionGroup", target: journal.TargetExchange, object: id,
		intent: changes, before: nil,
		do:    func(ctx context.Context) error { return e.Exchange.SetDistributionGroup(ctx, id, changes) },
		check: func(ctx context.Context) (bool, error) { return e.cloudAddressIs(ctx, id, primary, alias) }}, true)
}

// settleAddress settles the journal entries an interrupted run of change
// ch left pending, from what the directories show: never sent, not done;
// sent, done when the object holds what that write set (the new address,
// or the old one for an undo), not done otherwise. The writes are then
// made again from what the directories hold, each checking first whether
// it is needed.
func (e *Env) settleAddress(ctx context.Context, w *Saga, ch *AddressChange, dl, contact *ad.Recipient) error {
	pending, err := e.Journal.Pending()
	if err != nil {
		return fmt.Errorf("migrate: read the journal: %w", err)
	}
	for _, en := range pending {
		if en.RunID != ch.RunID {
			continue
		}
		if en.Sent.IsZero() {
			if err := e.Journal.Fail(en.ID, errors.New("recovery: never sent")); err != nil {
				return err
			}
			continue
		}
		var in intentRecord
		if err := json.Unmarshal(en.Intent, &in); err != nil {
			return retry.New("migrate.address", retry.Terminal, fmt.Errorf("journal entry %s: %w", en.ID, err))
		}
		want := ch.ToPrimary
		if in.Undo {
			want = ch.FromPrimary
		}
		var done bool
		switch en.Target {
		case journal.TargetExchange:
			g, err := e.Exchange.GetDistributionGroup(ctx, en.Object)
			if err != nil {
				return fmt.Errorf("%w: settle journal entry %s: %w", ErrBlocked, en.ID, err)
			}
			done = strings.EqualFold(g.PrimarySMTPAddress, want)
		default:
			r, err := e.Dir.ReadRecipient(ctx, en.Object)
			if err != nil {
				return fmt.Errorf("%w: settle journal entry %s: %w", ErrBlocked, en.ID, err)
			}
			done = hasPrimary(r, want)
		}
		if done {
			err = e.Journal.Done(en.ID, nil)
		} else {
			err = e.Journal.Fail(en.ID, errors.New("recovery: the re-read shows the write did not happen"))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// addressChangeNotes lists the address changes done since the migration,
// which a rollback discards: the list returns with the group's own
// addresses.
func addressChangeNotes(s *Saga) []string {
	var out []string
	for _, c := range s.Made.AddressChanges {
		if c.State == AddressDone {
			out = append(out, fmt.Sprintf("primary address changed by migrate address on %s from %s to %s (a rollback gives the group back %s)",
				c.At.Format(time.RFC3339), c.FromPrimary, c.ToPrimary, s.Capture.Primary))
		}
	}
	return out
}

// restoreSOAAddress gives a converted (SOA) list back the addresses and
// alias the group had (its twin's, plus the routing address, which the
// routing-address step's undo removes), as an address change of its own,
// recorded and journalled like one. A rollback does this before handing
// the group back to the sync engine, so that the list is back at the
// before-image whatever the sync engine then writes.
func (e *Env) restoreSOAAddress(ctx context.Context, s *Saga) error {
	c, id := s.Capture, s.Made.CloudListID
	now := e.clock().Now().UTC()
	s.Made.AddressChanges = append(slices.Clone(s.Made.AddressChanges), AddressChange{
		RunID: "address-" + s.ID[:8] + "-" + now.Format("20060102T150405.000Z"), At: now,
		FromPrimary: s.Primary(), ToPrimary: c.Primary, FromAlias: s.Alias(), ToAlias: c.Alias, State: AddressStarted})
	ch := &s.Made.AddressChanges[len(s.Made.AddressChanges)-1]
	if err := e.save(s); err != nil {
		return err
	}
	w := s.clone()
	w.RunID, w.Step = ch.RunID, StepAddress
	if err := e.settleAddress(ctx, w, ch, nil, nil); err != nil {
		return err
	}
	want := slices.Clone(c.TwinAddresses)
	if r := "smtp:" + e.routingAddr(s); !slices.ContainsFunc(want, func(v string) bool { return strings.EqualFold(v, r) }) {
		want = append(want, r)
	}
	g, err := e.Exchange.GetDistributionGroup(ctx, id)
	if err != nil {
		return err
	}
	if !(strings.EqualFold(g.PrimarySMTPAddress, c.Primary) && sameFold(g.EmailAddresses, want)) {
		changes := cloud.GroupChanges{PrimarySMTPAddress: &c.Primary, Alias: &c.Alias, EmailAddresses: &want}
		if err := e.perform(ctx, w, write{op: "exo.Set-DistributionGroup", target: journal.TargetExchange, object: id,
			intent: changes, before: map[string]any{"primary": g.PrimarySMTPAddress, "alias": g.Alias, "emailAddresses": g.EmailAddresses},
			do:    func(ctx context.Context) error { return e.Exchange.SetDistributionGroup(ctx, id, changes) },
			check: func(ctx context.Context) (bool, error) { return e.cloudAddressIs(ctx, id, c.Primary, c.Alias) }}, true); err != nil {
			return err
		}
	}
	ch.State = AddressDone
	return e.save(s)
}
