package snapshot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/agent/setup"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// Sources named by ReadError.
const (
	SourceAD    = "ad"
	SourceCloud = "cloud"
)

// ReadError is a failed read of one side.
type ReadError struct {
	// Source is SourceAD or SourceCloud.
	Source string
	Err    error
}

func (e *ReadError) Error() string { return e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

func adErr(format string, args ...any) error {
	return &ReadError{Source: SourceAD, Err: fmt.Errorf(format, args...)}
}

func cloudErr(format string, args ...any) error {
	return &ReadError{Source: SourceCloud, Err: fmt.Errorf(format, args...)}
}

// MaxIncrementalGets is the most changed cloud objects an incremental read
// re-reads one by one; more changes than that make it a full read.
const MaxIncrementalGets = 500

// cloudKinds are the kinds a State reads.
var cloudKinds = [...]cloud.Kind{cloud.KindUser, cloud.KindGroup, cloud.KindContact}

// State holds both sides between reads, so that the service can read only
// what changed: AD by uSNChanged watermark (ad.StreamChanges), the tenant
// by Graph delta links. A read that fails leaves the State as it was: the
// next read starts from the same watermark and links.
type State struct {
	ad        map[string]*ad.Recipient // by lower-case objectGUID
	watermark *adldap.Watermark
	cloud     map[string]*cloud.Object // by object id
	links     map[cloud.Kind]string
	// mailboxes are the ids of users Exchange Online has as mailboxes,
	// refreshed at full reads.
	mailboxes map[string]bool
	domains   []string
	// routing are the migrated lists' routing contacts and dynamic lists,
	// read in full at every read (plan.ADSnapshot.Routing).
	routing []*ad.Recipient
	// FullAt is when the last full read finished.
	FullAt time.Time
}

// Loaded reports whether a full read has filled the State.
func (s *State) Loaded() bool { return s != nil && s.ad != nil && s.cloud != nil }

// ReadStats counts one read.
type ReadStats struct {
	Full bool
	// Reason says why the read was full.
	Reason string
	// ADObjects and CloudObjects count the objects read (changed objects
	// for an incremental read); ByKind splits them by source and kind.
	ADObjects, CloudObjects int
	ADByKind, CloudByKind   map[string]int
}

// Read brings the State up to date: a full read of both sides when full is
// set or the State is empty, otherwise only what changed since the last
// read (which may still turn full, and says why). The AD read covers the
// whole base DN, so that objects outside the sync scope explain orphans.
// Errors are *ReadError, naming the side and the step; the State is
// unchanged by a failed read.
func (s *State) Read(ctx context.Context, set *setup.Setup, dir *adldap.Client, tenant cloud.Tenant, full bool) (ReadStats, error) {
	st := ReadStats{ADByKind: map[string]int{}, CloudByKind: map[string]int{}}
	full = full || !s.Loaded()
	if full {
		st.Full, st.Reason = true, "scheduled full read"
		if !s.Loaded() {
			st.Reason = "first read"
		}
	}

	// AD: every change since the watermark, or every recipient.
	var since *adldap.Watermark
	if !full {
		since = s.watermark
	}
	changed := map[string]*ad.Recipient{}
	res, err := dir.StreamChanges(ctx, set.BaseDN, since, func(r *ad.Recipient) error {
		changed[strings.ToLower(r.GUID)] = r
		return nil
	})
	if err != nil {
		return st, adErr("read AD: %w", err)
	}
	if !res.Complete {
		return st, adErr("read AD: the read of %s ended early", set.BaseDN)
	}
	adNext := maps.Clone(s.ad) // replaced below on a full read
	if res.Full || full {
		if res.Full && !full {
			st.Full, st.Reason = true, res.Reason
		}
		adNext = map[string]*ad.Recipient{}
	}
	for guid, r := range changed {
		st.ADByKind[string(r.Kind)]++
		if r.Deleted || !r.InScope(set.BaseDN) {
			delete(adNext, guid)
			continue
		}
		adNext[guid] = r
	}
	st.ADObjects = len(changed)

	// Cloud: a delta round per kind. A new round (no link, or an expired
	// one) is a full read of that kind.
	cloudNext := maps.Clone(s.cloud)
	if cloudNext == nil {
		cloudNext = map[string]*cloud.Object{}
	}
	links := map[cloud.Kind]string{}
	var gets []cloud.Object
	fullCloud := full
	for _, kind := range cloudKinds {
		link := ""
		if !full {
			link = s.links[kind]
		}
		var seen []*cloud.Object
		collect := func(o *cloud.Object) error {
			seen = append(seen, o)
			return nil
		}
		dres, err := tenant.Delta(ctx, kind, link, collect)
		if err == nil && dres.Restarted {
			// Objects seen before the restart may be gone: read the whole
			// kind again, once, from scratch.
			seen = nil
			dres, err = tenant.Delta(ctx, kind, "", collect)
			if err == nil && dres.Restarted {
				err = errors.New("the delta round restarted twice")
			}
		}
		if err != nil {
			return st, cloudErr("read the tenant's %ss: %w", kind, err)
		}
		if !dres.Complete || dres.DeltaLink == "" {
			return st, cloudErr("read the tenant's %ss: the delta round ended early", kind)
		}
		links[kind] = dres.DeltaLink
		st.CloudByKind[string(kind)] += len(seen)
		st.CloudObjects += len(seen)
		if dres.Full {
			if !full {
				fullCloud = true
				st.Full, st.Reason = true, fmt.Sprintf("%s delta restarted: %s", kind, dres.Reason)
			}
			// Every object of the kind was seen: drop those that were not.
			for id, o := range cloudNext {
				if o.Kind == kind {
					delete(cloudNext, id)
				}
			}
			for _, o := range seen {
				if o.Removed == nil {
					cloudNext[o.ID] = o
				}
			}
			continue
		}
		for _, o := range seen {
			if o.Removed != nil {
				delete(cloudNext, o.ID)
				continue
			}
			// A delta change carries at least the changed properties:
			// re-read the whole object.
			gets = append(gets, cloud.Object{Kind: kind, ID: o.ID})
		}
	}
	if len(gets) > MaxIncrementalGets {
		// Cheaper and safer as a full read.
		return s.Read(ctx, set, dir, tenant, true)
	}
	// Re-read the changed objects, reconcile.concurrency at a time.
	fetched := make([]*cloud.Object, len(gets))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(set.Concurrency)
	for i, want := range gets {
		g.Go(func() error {
			o, err := tenant.Get(gctx, want.Kind, want.ID)
			if err != nil {
				return cloudErr("re-read the tenant's %s %s: %w", want.Kind, want.ID, err)
			}
			fetched[i] = o
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return st, err
	}
	for _, o := range fetched {
		cloudNext[o.ID] = o
	}

	mailboxes, domains := s.mailboxes, s.domains
	if fullCloud || mailboxes == nil {
		ex, err := readExchange(ctx, tenant)
		if err != nil {
			return st, cloudErr("%w", err)
		}
		if !ex.complete {
			return st, cloudErr("read Exchange recipients: the listing ended early")
		}
		mailboxes, domains = ex.mailboxes, ex.domains
	}

	routing, err := readRouting(ctx, dir)
	if err != nil {
		return st, adErr("%w", err)
	}
	s.ad, s.cloud, s.links, s.mailboxes, s.domains, s.routing = adNext, cloudNext, links, mailboxes, domains, routing
	next := res.Next
	s.watermark = &next
	if full {
		// Only a read that was full on both sides from the start counts
		// as the scheduled full read.
		s.FullAt = time.Now()
	}
	return st, nil
}

// Snapshots returns the State as plan snapshots for set's scope, with the
// licensed users found by set's source anchor. Both are complete: a State
// holds only complete reads.
func (s *State) Snapshots(set *setup.Setup) (plan.ADSnapshot, plan.CloudSnapshot) {
	as := plan.ADSnapshot{Complete: true, Scope: set.Scope, Routing: slices.Clone(s.routing)}
	for _, r := range s.ad {
		as.Objects = append(as.Objects, r)
	}
	slices.SortFunc(as.Objects, func(a, b *ad.Recipient) int { return cmp.Compare(a.GUID, b.GUID) })
	cs := plan.CloudSnapshot{Complete: true, AcceptedDomains: slices.Clone(s.domains), InitialDomain: set.InitialDomain}
	for _, o := range s.cloud {
		cs.Objects = append(cs.Objects, o)
	}
	slices.SortFunc(cs.Objects, func(a, b *cloud.Object) int { return cmp.Compare(a.ID, b.ID) })
	as.Licensed = licensed(as.Objects, cs.Objects, s.mailboxes, set.Anchor)
	return as, cs
}

// licensed returns the DN keys of the AD users whose cloud twin, found by
// its anchor, is an Exchange Online mailbox (the "licensed" half of KB
// 3190357).
func licensed(adObjs []*ad.Recipient, cloudObjs []*cloud.Object, mailboxes map[string]bool, anchor plan.SourceAnchor) map[string]bool {
	byAnchor := map[string]string{}
	for _, o := range cloudObjs {
		if o.Kind == cloud.KindUser && o.OnPremisesImmutableID != "" {
			byAnchor[o.OnPremisesImmutableID] = o.ID
		}
	}
	out := map[string]bool{}
	for _, r := range adObjs {
		if r.Kind != ad.KindUser {
			continue
		}
		iid, err := anchor.ImmutableID(r)
		if err == nil && mailboxes[byAnchor[iid]] {
			out[plan.DNKey(r.DN)] = true
		}
	}
	return out
}

// Plan builds the plan of the State's snapshots with set's limits and
// scope, as BuildPlan does for a fresh read. The AD snapshot is returned
// for the caller's metrics.
func (s *State) Plan(set *setup.Setup) (plan.Plan, plan.ADSnapshot, error) {
	as, cs := s.Snapshots(set)
	return finishPlan(set, as, cs, setup.Allow{})
}
