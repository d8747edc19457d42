package migrate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/journal"
)

// compensate undoes the saga's done steps in reverse order, each undo
// journalled, until both directories are back at the before-images
// (rolled back). An undo that cannot finish leaves the saga failed, with
// what is left in Error; a later Run tries again.
func (e *Env) compensate(ctx context.Context, s *Saga) (*Saga, error) {
	s.State = StateCompensating
	// The step in progress may have written part of its effect before it
	// failed or the process died: it is undone first (each undo checks
	// whether there is anything to undo).
	if s.Step != "" && !slices.Contains(s.Done, s.Step) {
		s.Done = append(s.Done, s.Step)
		if err := e.save(s); err != nil {
			return s, err
		}
	}
	for len(s.Done) > 0 {
		st := s.Done[len(s.Done)-1]
		s.Step = st
		e.Failpoint.At("migrate.undo." + string(st))
		start := e.clock().Now()
		err := e.settlePending(ctx, s)
		if err == nil {
			err = e.undo(ctx, s, st)
		}
		if err != nil {
			if errors.Is(err, ErrOverdue) || errors.Is(err, ErrWaiting) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return s, err
			}
			blocked := errors.Is(err, ErrBlocked) || retry.ClassOf(err) == retry.Retryable
			if !blocked {
				s.State = StateFailed
			}
			s.Blocked = err.Error()
			if serr := e.save(s); serr != nil {
				return s, serr
			}
			return s, fmt.Errorf("migrate: undo %s of %s: %w", st, s.Group, err)
		}
		e.observeStep(s, st, "compensated", e.clock().Now().Sub(start))
		s.Done = s.Done[:len(s.Done)-1]
		s.Blocked, s.Waiting = "", nil
		s.State = StateCompensating
		if err := e.save(s); err != nil {
			return s, err
		}
	}
	s.State, s.Step = StateRolledBack, ""
	e.log().Info("migrate: rolled back", "saga", s.ID, "cause", s.Error)
	return s, e.save(s)
}

// undo reverses one done step; it first checks whether that is done
// already.
func (e *Env) undo(ctx context.Context, s *Saga, st Step) error {
	if ok, err := e.undone(ctx, s, st); err != nil || ok {
		return err
	}
	c := s.Capture
	switch st {
	case StepCapture, StepAwaitTwinDeleted, StepAwaitCloudManaged, StepVerify:
		return nil
	case StepRepointCloud, StepRepoint:
		return e.unpoint(ctx, s, st)
	case StepCreate:
		id := s.Made.CloudListID
		if id == "" { // made, but the process died before noting its id
			g, err := e.Exchange.GetDistributionGroup(ctx, tempAlias(s))
			if err != nil {
				return err
			}
			id = g.ExternalDirectoryObjectID
		}
		return e.perform(ctx, s, write{op: "exo.Remove-DistributionGroup", target: journal.TargetExchange, object: id,
			intent: map[string]string{"remove": id}, before: map[string]string{"alias": tempAlias(s)},
			do:    func(ctx context.Context) error { return e.Exchange.RemoveDistributionGroup(ctx, id) },
			check: func(ctx context.Context) (bool, error) { return e.undone(ctx, s, st) }}, true)
	case StepMove:
		parent, err := ad.ParentDN(c.Group.DN)
		if err != nil {
			return retry.New("migrate.undo", retry.Terminal, err)
		}
		r, err := e.group(ctx, s)
		if err != nil {
			return err
		}
		if err := e.perform(ctx, s, write{op: "ad.Move", target: journal.TargetAD, object: r.DN,
			intent: map[string]string{"from": r.DN, "to": parent}, before: map[string]string{"dn": r.DN},
			do:    func(ctx context.Context) error { _, err := e.Dir.Move(ctx, r.DN, parent); return err },
			check: func(ctx context.Context) (bool, error) { return e.inPlace(ctx, s) }}, true); err != nil {
			return err
		}
		return e.twinBack(ctx, s)
	case StepTakeAddresses:
		id := s.Made.CloudListID
		name, alias, primary, hidden := tempAlias(s), tempAlias(s), e.tempPrimary(s), true
		addrs := []string{"SMTP:" + primary}
		ch := cloud.GroupChanges{Name: &name, Alias: &alias, PrimarySMTPAddress: &primary, EmailAddresses: &addrs, HiddenFromAddressLists: &hidden}
		return e.perform(ctx, s, write{op: "exo.Set-DistributionGroup", target: journal.TargetExchange, object: id,
			intent: ch, before: map[string]string{"primary": c.Primary},
			do:    func(ctx context.Context) error { return e.Exchange.SetDistributionGroup(ctx, id, ch) },
			check: func(ctx context.Context) (bool, error) { return e.undone(ctx, s, st) }}, true)
	case StepRoutingContact:
		dn := routingContactDN(s)
		return e.perform(ctx, s, write{op: "ad.Delete", target: journal.TargetAD, object: dn,
			intent: map[string]string{"delete": dn}, before: map[string]string{"dn": dn},
			do:    func(ctx context.Context) error { return e.Dir.Delete(ctx, dn) },
			check: func(ctx context.Context) (bool, error) { return e.undone(ctx, s, st) }}, true)
	case StepContactMember:
		r, err := e.group(ctx, s)
		if err != nil {
			return err
		}
		ch := ad.Change{Op: ad.DeleteValues, Attr: "member", Values: []string{routingContactDN(s)}}
		return e.perform(ctx, s, write{op: "ad.Modify", target: journal.TargetAD, object: r.DN, intent: ch, before: nil,
			do:    func(ctx context.Context) error { return e.Dir.Modify(ctx, r.DN, ch) },
			check: func(ctx context.Context) (bool, error) { return e.undone(ctx, s, st) }}, true)
	case StepRetire:
		r, err := e.group(ctx, s)
		if err != nil {
			return err
		}
		ch := restoredChanges(c.Group)
		return e.perform(ctx, s, write{op: "ad.Modify", target: journal.TargetAD, object: r.DN, intent: ch, before: nil,
			do:    func(ctx context.Context) error { return e.Dir.Modify(ctx, r.DN, ch...) },
			check: func(ctx context.Context) (bool, error) { return e.undone(ctx, s, st) }}, true)
	case StepDynamicList:
		dn := c.Group.DN
		return e.perform(ctx, s, write{op: "ad.Delete", target: journal.TargetAD, object: dn,
			intent: map[string]string{"delete": dn}, before: map[string]string{"dn": dn},
			do:    func(ctx context.Context) error { return e.Dir.Delete(ctx, dn) },
			check: func(ctx context.Context) (bool, error) { return e.undone(ctx, s, st) }}, true)
	case StepDeleteOriginal:
		return retry.New("migrate.undo", retry.Terminal, fmt.Errorf(
			"%s was deleted on premises once the migration was complete; restore it from the AD Recycle Bin (its before-image is in the journal) before rolling back", c.Group.DN))
	case StepConvert:
		id := c.TwinID
		if err := e.perform(ctx, s, write{op: "graph.onPremisesSyncBehavior", target: journal.TargetCloud, object: id,
			intent: cloud.SyncBehavior{IsCloudManaged: false}, before: cloud.SyncBehavior{IsCloudManaged: true},
			do: func(ctx context.Context) error {
				return e.Graph.SetGroupSyncBehavior(ctx, id, cloud.SyncBehavior{IsCloudManaged: false})
			},
			check: func(ctx context.Context) (bool, error) { ok, err := e.cloudManaged(ctx, s); return !ok, err }}, true); err != nil {
			return err
		}
		return e.waitFor(ctx, s, "the sync cycle that hands "+c.Primary+" back to on premises", true,
			func(ctx context.Context) (bool, error) { return e.syncedState(ctx, s, true) })
	case StepRoutingAddress:
		id, addr := c.TwinID, "smtp:"+e.routingAddr(s)
		g, err := e.Exchange.GetDistributionGroup(ctx, id)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(c.TwinAddresses, func(v string) bool { return strings.EqualFold(v, addr) }) {
			return nil // the group had it before
		}
		addrs := slices.DeleteFunc(slices.Clone(g.EmailAddresses), func(v string) bool { return strings.EqualFold(v, addr) })
		return e.perform(ctx, s, write{op: "exo.Set-DistributionGroup", target: journal.TargetExchange, object: id,
			intent: map[string]string{"remove": addr}, before: g.EmailAddresses,
			do: func(ctx context.Context) error {
				return e.Exchange.SetDistributionGroup(ctx, id, cloud.GroupChanges{EmailAddresses: &addrs})
			},
			check: func(ctx context.Context) (bool, error) { return e.undone(ctx, s, st) }}, true)
	}
	return retry.New("migrate.undo", retry.Terminal, fmt.Errorf("unknown step %q", st))
}

// inPlace reports whether the group is back in its original OU.
func (e *Env) inPlace(ctx context.Context, s *Saga) (bool, error) {
	r, err := e.group(ctx, s)
	if err != nil {
		return false, err
	}
	return ad.EqualDN(r.DN, s.Capture.Group.DN), nil
}

// twinBack waits for the sync engine to give the group back its synced
// twin, holding its primary address.
func (e *Env) twinBack(ctx context.Context, s *Saga) error {
	c := s.Capture
	return e.waitFor(ctx, s, "the sync cycle that restores the synced twin of "+c.Primary, true, func(ctx context.Context) (bool, error) {
		var twin *cloud.Object
		_, err := e.Graph.List(ctx, cloud.KindGroup, cloud.ListOptions{Filter: "onPremisesSecurityIdentifier eq " + cloud.Quote(c.Group.SID)},
			func(o *cloud.Object) error { twin = o; return nil })
		if err != nil || twin == nil {
			return false, err
		}
		x, err := e.Exchange.GetRecipient(ctx, c.Primary)
		if notFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return x.IsDirSynced, nil
	})
}

// undone reports whether step st's effect is gone (for a retried undo and
// for recovery of an undo write).
func (e *Env) undone(ctx context.Context, s *Saga, st Step) (bool, error) {
	c := s.Capture
	switch st {
	case StepRepointCloud, StepRepoint:
		return false, nil // unpoint checks each reference before writing
	case StepCreate:
		if s.Made.CloudListID == "" {
			_, err := e.Exchange.GetDistributionGroup(ctx, tempAlias(s))
			return notFound(err), ignoreNotFound(err)
		}
		_, err := e.Exchange.GetDistributionGroup(ctx, s.Made.CloudListID)
		return notFound(err), ignoreNotFound(err)
	case StepMove:
		return false, nil // undo moves back, then waits for the twin
	case StepTakeAddresses:
		g, err := e.Exchange.GetDistributionGroup(ctx, s.Made.CloudListID)
		if notFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		// Undone once the list holds none of the group's addresses (not
		// just another primary: after migrate address, the group's
		// primary is a secondary of the list, and would keep the
		// restored twin from taking it).
		want := e.listAddresses(s)
		return !slices.ContainsFunc(g.EmailAddresses, func(v string) bool {
			return slices.ContainsFunc(want, func(w string) bool { return strings.EqualFold(v, w) })
		}), nil
	case StepRoutingContact:
		_, err := e.Dir.ReadRecipient(ctx, routingContactDN(s))
		return notFound(err), ignoreNotFound(err)
	case StepContactMember:
		r, err := e.group(ctx, s)
		if err != nil {
			return false, err
		}
		return !slices.ContainsFunc(r.Members, func(m string) bool { return ad.EqualDN(m, routingContactDN(s)) }), nil
	case StepRetire:
		r, err := e.group(ctx, s)
		if err != nil {
			return false, err
		}
		return strings.EqualFold(r.Mail, c.Group.Mail) && r.ExtensionAttributes["extensionAttribute1"] != MarkerMigrated, nil
	case StepDynamicList:
		r, err := e.Dir.ReadRecipient(ctx, c.Group.DN)
		if notFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		return r.Kind != ad.KindDynamicDL, nil
	case StepConvert:
		return false, nil // undo hands it back, then waits for the sync
	case StepRoutingAddress:
		g, err := e.Exchange.GetDistributionGroup(ctx, c.TwinID)
		if err != nil {
			return false, err
		}
		addr := "smtp:" + e.routingAddr(s)
		had := slices.ContainsFunc(c.TwinAddresses, func(v string) bool { return strings.EqualFold(v, addr) })
		has := slices.ContainsFunc(g.EmailAddresses, func(v string) bool { return strings.EqualFold(v, addr) })
		return had || !has, nil
	case StepDeleteOriginal:
		_, err := e.group(ctx, s)
		return err == nil, ignoreNotFound(err)
	}
	return true, nil
}

// stepDone says whether the effect of op, a write of step st, is in place
// (recovery of an interrupted write).
func (e *Env) stepDone(ctx context.Context, s *Saga, st Step, op string) (bool, error) {
	c := s.Capture
	switch {
	case st == StepCreate && op == "exo.New-DistributionGroup":
		_, err := e.Exchange.GetDistributionGroup(ctx, tempAlias(s))
		return err == nil, ignoreNotFound(err)
	case st == StepCreate:
		id := s.Made.CloudListID
		if id == "" {
			g, err := e.Exchange.GetDistributionGroup(ctx, tempAlias(s))
			if notFound(err) {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			id = g.ExternalDirectoryObjectID
		}
		if op == "exo.Update-DistributionGroupMember" {
			return e.membersAre(ctx, id, clouds(c.Members))
		}
		return e.settingsAre(ctx, id, c)
	case st == StepMove:
		r, err := e.group(ctx, s)
		if err != nil {
			return false, err
		}
		parent, _ := ad.ParentDN(r.DN)
		return ad.EqualDN(parent, s.Options.NoSyncOU), nil
	case st == StepTakeAddresses:
		g, err := e.Exchange.GetDistributionGroup(ctx, s.Made.CloudListID)
		if err != nil {
			return false, err
		}
		return hasAddresses(g, e.listAddresses(s)), nil
	case st == StepRoutingContact:
		_, err := e.Dir.ReadRecipient(ctx, routingContactDN(s))
		return err == nil, ignoreNotFound(err)
	case st == StepContactMember:
		ok, err := e.undone(ctx, s, st)
		return !ok, err
	case st == StepRetire:
		r, err := e.group(ctx, s)
		if err != nil {
			return false, err
		}
		return r.ExtensionAttributes["extensionAttribute1"] == MarkerMigrated, nil
	case st == StepDynamicList:
		ok, err := e.undone(ctx, s, st)
		return !ok, err
	case st == StepDeleteOriginal:
		_, err := e.group(ctx, s)
		return notFound(err), ignoreNotFound(err)
	case st == StepConvert:
		return e.cloudManaged(ctx, s)
	case st == StepRoutingAddress:
		g, err := e.Exchange.GetDistributionGroup(ctx, c.TwinID)
		if err != nil {
			return false, err
		}
		addr := "smtp:" + e.routingAddr(s)
		return slices.ContainsFunc(g.EmailAddresses, func(v string) bool { return strings.EqualFold(v, addr) }), nil
	}
	return false, retry.New("migrate.settle", retry.Terminal, fmt.Errorf("no check for %s of step %s", op, st))
}

func ignoreNotFound(err error) error {
	if notFound(err) {
		return nil
	}
	return err
}

// CloudChanges lists what changed in the cloud list since the migration
// ended (members, owners or addresses made in the cloud): what a rollback
// would discard.
func (e *Env) CloudChanges(ctx context.Context, s *Saga) ([]string, error) {
	b := s.Made.Baseline
	if s.State != StateMigrated || s.Made.CloudListID == "" || b == nil {
		return nil, nil
	}
	var out []string
	ms, err := e.Exchange.GroupMembers(ctx, s.Made.CloudListID)
	if err != nil {
		return nil, err
	}
	want := b.Members
	for _, m := range ms {
		id := cmpOr(m.ExternalDirectoryObjectID, m.GUID)
		if !slices.ContainsFunc(want, func(w string) bool { return strings.EqualFold(w, id) }) {
			out = append(out, "member added in the cloud: "+cmpOr(m.PrimarySMTPAddress, id))
		}
	}
	for _, w := range want {
		if !slices.ContainsFunc(ms, func(m cloud.ExoRecipient) bool {
			return strings.EqualFold(cmpOr(m.ExternalDirectoryObjectID, m.GUID), w)
		}) {
			out = append(out, "member removed in the cloud: "+w)
		}
	}
	g, err := e.Exchange.GetDistributionGroup(ctx, s.Made.CloudListID)
	if err != nil {
		return nil, err
	}
	for _, a := range g.EmailAddresses {
		if !slices.ContainsFunc(b.Addresses, func(k string) bool { return strings.EqualFold(k, a) }) {
			out = append(out, "address added in the cloud: "+a)
		}
	}
	for _, a := range b.Addresses {
		if !slices.ContainsFunc(g.EmailAddresses, func(k string) bool { return strings.EqualFold(k, a) }) {
			out = append(out, "address removed in the cloud: "+a)
		}
	}
	if !sameFold(g.ManagedBy, b.Owners) {
		out = append(out, "owners changed in the cloud")
	}
	return append(out, addressChangeNotes(s)...), nil
}

// Rollback compensates a saga that is running, waiting or migrated, back
// to the before-images. When the cloud list was changed since the
// migration and force is not set, it writes nothing and returns an
// error listing the changes.
func (e *Env) Rollback(ctx context.Context, s *Saga, force bool) (*Saga, error) {
	s = s.clone()
	if s.State == StateRolledBack {
		return s, nil
	}
	changes, err := e.CloudChanges(ctx, s)
	if err != nil {
		return s, fmt.Errorf("migrate: rollback %s: read the cloud list: %w", s.Group, err)
	}
	if len(changes) > 0 && !force {
		return s, fmt.Errorf("migrate: rollback %s would discard changes made in the cloud since the migration (%s); nothing written: run again with --force to accept that",
			s.Group, strings.Join(changes, "; "))
	}
	if s.Method == MethodSOA && s.State == StateMigrated && !strings.EqualFold(s.Primary(), s.Capture.Primary) {
		// The converted list keeps no before-image of its own: give it
		// back the group's addresses before it is handed back.
		if err := e.restoreSOAAddress(ctx, s); err != nil {
			return s, fmt.Errorf("migrate: rollback %s: give the list back its address %s: %w", s.Group, s.Capture.Primary, err)
		}
	}
	s.State, s.Error, s.FailedStep, s.Waiting = StateCompensating, "rollback requested", s.Step, nil
	if err := e.save(s); err != nil {
		return s, err
	}
	return e.compensate(ctx, s)
}
