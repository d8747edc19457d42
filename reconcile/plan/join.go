package plan

import (
	"cmp"
	"slices"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
)

// Join methods recorded in Pair.By.
const (
	ByAnchor = "onPremisesImmutableId"
	BySID    = "onPremisesSecurityIdentifier"
	// ByAddress joins contacts: Graph's orgContact exposes no
	// onPremisesImmutableId, so a synced contact is matched on any SMTP
	// address (mail or proxyAddresses) it shares with the AD contact.
	ByAddress = "mail/proxyAddresses"
)

// Pair is an AD object in sync scope and its cloud twin.
type Pair struct {
	AD    *ad.Recipient
	Cloud *cloud.Object
	// ImmutableID is the AD object's anchor as the cloud stores it.
	ImmutableID string
	// By is ByAnchor, BySID or ByAddress (contacts).
	By string
}

// Orphan is a synced cloud object with no AD object in scope.
type Orphan struct {
	Cloud *cloud.Object
	// Source is the AD object with the same anchor (or, for a group, SID)
	// that is read but not synced, with the reason; nil and "" when none
	// was read.
	Source       *ad.Recipient
	SourceReason string
}

// AnchorError is an AD object in scope whose anchor cannot be computed.
type AnchorError struct {
	AD  *ad.Recipient
	Err error
}

// Join is the result of JoinSnapshots. Every list is sorted: AD objects by
// DN (as AD compares DNs), cloud objects by id.
type Join struct {
	// Pairs are AD objects in scope joined to a twin of the same type that
	// the sync engine manages.
	Pairs []Pair
	// ADOnly are AD objects in scope (live, mail-enabled, of a synced
	// type, under a Scope and not an Exclude DN) with no twin.
	ADOnly []*ad.Recipient
	// Orphans are cloud objects with onPremisesSyncEnabled whose source is
	// not in scope: the next sync deletes them.
	Orphans []Orphan
	// TypeMismatches are joins whose cloud object is of another type.
	TypeMismatches []Pair
	// CloudManaged are joins whose twin is no longer managed by the sync
	// engine (onPremisesSyncEnabled false, e.g. Source of Authority moved
	// to the cloud); the sync leaves them alone.
	CloudManaged []Pair
	// CloudOnly are cloud objects the sync engine does not manage
	// (onPremisesSyncEnabled false) and no AD object in scope is joined
	// to: cloud-created objects, or converted ones whose source is gone.
	CloudOnly []*cloud.Object
	// Unanchored are AD objects in scope without a usable anchor; they
	// cannot be joined, so their twins may look like orphans.
	Unanchored []AnchorError
	// InScope counts the AD objects in scope (after removing objects read
	// twice).
	InScope int
}

// adCmp orders AD objects by DN key, then DN, then higher USN first.
func adCmp(a, b *ad.Recipient) int {
	if c := cmp.Compare(DNKey(a.DN), DNKey(b.DN)); c != 0 {
		return c
	}
	if c := cmp.Compare(a.DN, b.DN); c != 0 {
		return c
	}
	if c := cmp.Compare(b.USNChanged, a.USNChanged); c != 0 {
		return c
	}
	return cmp.Compare(strings.ToLower(a.GUID), strings.ToLower(b.GUID))
}

func cloudCmp(a, b *cloud.Object) int {
	if c := cmp.Compare(a.ID, b.ID); c != 0 {
		return c
	}
	return cmp.Compare(a.Kind, b.Kind)
}

// JoinSnapshots joins a to c as Entra Connect does; see Join. The result
// does not depend on the order of the snapshots' objects.
func JoinSnapshots(a ADSnapshot, c CloudSnapshot, opts Options) Join {
	opts = opts.withDefaults()
	var j Join

	// AD objects, sorted, in scope or not, with their anchors.
	ads := make([]*ad.Recipient, 0, len(a.Objects))
	for _, r := range a.Objects {
		if r != nil {
			ads = append(ads, r)
		}
	}
	slices.SortStableFunc(ads, adCmp)
	type adEntry struct {
		r      *ad.Recipient
		iid    string
		reason string // "" when in scope
	}
	var inScope []adEntry
	outByIID := map[string]adEntry{} // not synced, for orphan reasons
	outBySID := map[string]adEntry{}
	seenIID := map[string]bool{}
	for _, r := range ads {
		reason := a.scopeReason(r)
		iid, err := opts.Anchor(r)
		if reason != "" {
			if err == nil {
				if _, ok := outByIID[iid]; !ok {
					outByIID[iid] = adEntry{r, iid, reason}
				}
			}
			if r.SID != "" && !r.Deleted {
				if _, ok := outBySID[strings.ToLower(r.SID)]; !ok {
					outBySID[strings.ToLower(r.SID)] = adEntry{r, iid, reason}
				}
			}
			continue
		}
		if err != nil {
			j.Unanchored = append(j.Unanchored, AnchorError{AD: r, Err: err})
			continue
		}
		if seenIID[iid] {
			continue // read twice (overlapping scopes): keep the first
		}
		seenIID[iid] = true
		inScope = append(inScope, adEntry{r: r, iid: iid})
	}
	j.InScope = len(inScope) + len(j.Unanchored)

	// Cloud objects, sorted, indexed by anchor and SID.
	objs := make([]*cloud.Object, 0, len(c.Objects))
	for _, o := range c.Objects {
		if o != nil && o.Removed == nil {
			objs = append(objs, o)
		}
	}
	slices.SortStableFunc(objs, cloudCmp)
	byIID := map[string][]*cloud.Object{}
	bySID := map[string][]*cloud.Object{}
	for _, o := range objs {
		if o.OnPremisesImmutableID != "" {
			byIID[o.OnPremisesImmutableID] = append(byIID[o.OnPremisesImmutableID], o)
		}
		if o.OnPremisesSID != "" && o.OnPremisesSyncEnabled {
			k := strings.ToLower(o.OnPremisesSID)
			bySID[k] = append(bySID[k], o)
		}
	}
	// Synced contacts without an anchor, by lower-cased SMTP address.
	contactByAddr := map[string][]*cloud.Object{}
	for _, o := range objs {
		if o.Kind != cloud.KindContact || !o.OnPremisesSyncEnabled || o.OnPremisesImmutableID != "" {
			continue
		}
		for _, addr := range contactAddresses(o.Mail, o.ProxyAddresses) {
			contactByAddr[addr] = append(contactByAddr[addr], o)
		}
	}
	used := map[*cloud.Object]bool{}
	first := func(list []*cloud.Object) *cloud.Object {
		for _, o := range list {
			if !used[o] {
				return o
			}
		}
		return nil
	}

	for _, e := range inScope {
		twin, by := first(byIID[e.iid]), ByAnchor
		if twin == nil && e.r.Kind == ad.KindGroup && e.r.SID != "" {
			twin, by = first(bySID[strings.ToLower(e.r.SID)]), BySID
		}
		if twin == nil && e.r.Kind == ad.KindContact {
			for _, addr := range contactAddresses(e.r.Mail, e.r.ProxyAddresses.Raw()) {
				if twin = first(contactByAddr[addr]); twin != nil {
					by = ByAddress
					break
				}
			}
		}
		if twin == nil {
			j.ADOnly = append(j.ADOnly, e.r)
			continue
		}
		used[twin] = true
		p := Pair{AD: e.r, Cloud: twin, ImmutableID: e.iid, By: by}
		want, _ := cloudKind(e.r.Kind)
		switch {
		case twin.Kind != want:
			j.TypeMismatches = append(j.TypeMismatches, p)
		case !twin.OnPremisesSyncEnabled:
			j.CloudManaged = append(j.CloudManaged, p)
		default:
			j.Pairs = append(j.Pairs, p)
		}
	}

	for _, o := range objs {
		if used[o] {
			continue
		}
		if !o.OnPremisesSyncEnabled {
			j.CloudOnly = append(j.CloudOnly, o) // the sync leaves it alone
			continue
		}
		orp := Orphan{Cloud: o}
		if e, ok := outByIID[o.OnPremisesImmutableID]; ok && o.OnPremisesImmutableID != "" {
			orp.Source, orp.SourceReason = e.r, e.reason
		} else if e, ok := outBySID[strings.ToLower(o.OnPremisesSID)]; ok && o.OnPremisesSID != "" && o.Kind == cloud.KindGroup {
			orp.Source, orp.SourceReason = e.r, e.reason
		}
		j.Orphans = append(j.Orphans, orp)
	}
	return j
}

// contactAddresses returns mail and the SMTP proxyAddresses, lower-cased
// and without their prefix, for joining contacts by address.
func contactAddresses(mail string, proxies []string) []string {
	var out []string
	if mail != "" {
		out = append(out, strings.ToLower(mail))
	}
	for _, p := range proxies {
		if len(p) > 5 && strings.EqualFold(p[:5], "smtp:") {
			out = append(out, strings.ToLower(p[5:]))
		}
	}
	return out
}
