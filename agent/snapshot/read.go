// Package snapshot reads both directories into the planner's snapshots:
// in full (Read), or incrementally between full reads (State, for the
// service), and builds the plan of a Setup from them. The CLI and the
// service share it, so a plan means the same thing in both.
package snapshot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/agent/setup"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// Read reads both sides for a plan: every user and group (mail-enabled or
// not) and every mail-enabled contact under the sync scope, and every
// user, group and contact of the tenant, with the tenant's accepted
// domains and which users are Exchange Online mailboxes (the "licensed"
// half of KB 3190357, read from Get-Recipient).
func Read(ctx context.Context, s *setup.Setup, dir *adldap.Client, tenant cloud.Tenant) (plan.ADSnapshot, plan.CloudSnapshot, error) {
	as := plan.ADSnapshot{Scope: s.Scope, Complete: true}
	var cs plan.CloudSnapshot
	var err error
	for _, base := range s.Scope.OUs() {
		res, err := dir.StreamSyncCandidates(ctx, base, func(r *ad.Recipient) error {
			if s.Scope.Contains(r.DN) {
				as.Objects = append(as.Objects, r)
			}
			return nil
		})
		if err != nil {
			return as, cs, fmt.Errorf("read AD under %s: %w", base, err)
		}
		as.Complete = as.Complete && res.Complete
	}
	if as.Routing, err = readRouting(ctx, dir); err != nil {
		return as, cs, err
	}
	cs.Complete = true
	for _, kind := range []cloud.Kind{cloud.KindUser, cloud.KindGroup, cloud.KindContact} {
		res, err := tenant.List(ctx, kind, cloud.ListOptions{}, func(o *cloud.Object) error {
			cs.Objects = append(cs.Objects, o)
			return nil
		})
		if err != nil {
			return as, cs, fmt.Errorf("read the tenant's %ss: %w", kind, err)
		}
		cs.Complete = cs.Complete && res.Complete
	}
	ex, err := readExchange(ctx, tenant)
	if err != nil {
		return as, cs, err
	}
	cs.AcceptedDomains, cs.InitialDomain = ex.domains, s.InitialDomain
	cs.Complete = cs.Complete && ex.complete
	as.Licensed = licensed(as.Objects, cs.Objects, ex.mailboxes, s.Anchor)
	return as, cs, nil
}

// readRouting reads the routing contacts and on-premises dynamic lists
// that migrations by hybridsync made, under the whole base DN (the
// contacts are in the no-sync OU, the dynamic lists where the groups
// were): few objects, read in full at every plan.
func readRouting(ctx context.Context, dir *adldap.Client) ([]*ad.Recipient, error) {
	var out []*ad.Recipient
	filter := adldap.And(adldap.Eq("extensionAttribute1", ad.RoutingMarker),
		adldap.Or(adldap.Eq("objectClass", "contact"), adldap.Eq("objectClass", "msExchDynamicDistributionList")))
	res, err := dir.SearchRecipients(ctx, "", filter, func(r *ad.Recipient) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the routing contacts and dynamic lists of migrated lists: %w", err)
	}
	if !res.Complete {
		return nil, errors.New("read the routing contacts and dynamic lists of migrated lists: the read ended early")
	}
	return out, nil
}

// exchangeFacts are what a plan needs from Exchange Online besides Graph.
type exchangeFacts struct {
	// domains are the tenant's accepted domains.
	domains []string
	// mailboxes holds the Entra object ids of the Exchange Online
	// mailboxes (the "licensed" half of KB 3190357).
	mailboxes map[string]bool
	// complete is false when the recipient listing was cut short.
	complete bool
}

// readExchange reads the accepted domains and which users are mailboxes.
func readExchange(ctx context.Context, tenant cloud.Tenant) (exchangeFacts, error) {
	var f exchangeFacts
	ds, err := tenant.Exchange().AcceptedDomains(ctx)
	if err != nil {
		return f, fmt.Errorf("read accepted domains: %w", err)
	}
	for _, d := range ds {
		f.domains = append(f.domains, d.DomainName)
	}
	f.mailboxes = map[string]bool{}
	res, err := tenant.Exchange().ListRecipients(ctx, "", func(r *cloud.ExoRecipient) error {
		if strings.HasSuffix(r.RecipientTypeDetails, "Mailbox") {
			f.mailboxes[r.ExternalDirectoryObjectID] = true
		}
		return nil
	})
	if err != nil {
		return f, fmt.Errorf("read Exchange recipients: %w", err)
	}
	f.complete = res.Complete
	return f, nil
}

// BuildPlan reads both sides and builds the plan s asks for, narrowed to
// reconcile.scope. A *plan.LimitError is returned with the plan (whose
// Refused says why); any other error without one.
func BuildPlan(ctx context.Context, s *setup.Setup, dir *adldap.Client, tenant cloud.Tenant, allow setup.Allow) (plan.Plan, plan.ADSnapshot, error) {
	as, cs, err := Read(ctx, s, dir, tenant)
	if err != nil {
		return plan.Plan{}, as, err
	}
	if len(as.Objects) == 0 {
		return plan.Plan{}, as, fmt.Errorf("no user, group or contact under %s: check ad.sync_ous and ad.base_dn in %s", strings.Join(s.Scope.OUs(), "; "), s.Path)
	}
	return finishPlan(s, as, cs, allow)
}

// finishPlan builds the plan of two snapshots and applies the config's
// no-deletes limit and reconcile.scope.
func finishPlan(s *setup.Setup, as plan.ADSnapshot, cs plan.CloudSnapshot, allow setup.Allow) (plan.Plan, plan.ADSnapshot, error) {
	keep := s.Narrow(as)
	if keep != nil && !slices.ContainsFunc(as.Objects, func(r *ad.Recipient) bool { return keep(r.DN, r.GUID) }) {
		return plan.Plan{}, as, fmt.Errorf("reconcile.scope (%s) matches none of the %d recipients read: check it against ad.sync_ous",
			s.DescribeNarrow(), len(as.Objects))
	}
	p, err := plan.Build(as, cs, s.PlanOptions(allow))
	if err != nil && !errors.Is(err, plan.ErrLimitExceeded) {
		return p, as, err
	}
	if err == nil {
		if err = s.CheckNoDeletes(p, allow); err != nil {
			p.Refused = err.Error()
		}
	}
	if keep != nil {
		p = p.Narrow(keep)
	}
	return p, as, err
}
