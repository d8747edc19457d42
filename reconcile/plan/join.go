package plan

import (
	"cmp"
	"encoding/base64"
	"hash/maphash"
	"slices"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/lower"
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
	// ADOnly are AD objects in scope (live, synced by Entra Connect's
	// rules (NotSynced), under a Scope and not an Exclude DN) with no twin.
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
	jn := join(a, c, opts)
	j := Join{Unanchored: jn.unanchored, InScope: jn.inScope}
	for m := range jn.in {
		e := &jn.in[m]
		r := jn.rec(e.rec)
		if e.twin < 0 {
			j.ADOnly = append(j.ADOnly, r)
			continue
		}
		p := Pair{AD: r, Cloud: jn.objs[e.twin], ImmutableID: jn.pairIID(m), By: joinBy[e.by]}
		switch e.kind {
		case memberMismatch:
			j.TypeMismatches = append(j.TypeMismatches, p)
		case memberManaged:
			j.CloudManaged = append(j.CloudManaged, p)
		default:
			j.Pairs = append(j.Pairs, p)
		}
	}
	jn.leftovers(func(o *cloud.Object) { j.CloudOnly = append(j.CloudOnly, o) },
		func(o Orphan) { j.Orphans = append(j.Orphans, o) })
	return j
}

// joinBy names the join methods of member.by.
var joinBy = [...]string{ByAnchor, BySID, ByAddress}

// memberKind says what became of an AD object in scope.
type memberKind uint8

const (
	memberPair     memberKind = iota // Join.Pairs
	memberADOnly                     // Join.ADOnly
	memberMismatch                   // Join.TypeMismatches
	memberManaged                    // Join.CloudManaged
)

// member is an AD object in scope, anchored and read once.
type member struct {
	rec  int32 // in a.Objects
	twin int32 // in joined.objs, -1 when none
	kind memberKind
	by   uint8 // index in joinBy
}

// rec returns AD object i (an index in a.Objects).
func (j *joined) rec(i int32) *ad.Recipient { return j.a.Objects[i] }

// key returns DNKey of AD object i's DN.
func (j *joined) key(i int32) dnKey {
	if j.plain[i] {
		return dnKey{s: j.a.Objects[i].DN, fold: true}
	}
	return dnKey{s: j.canon[i]}
}

// recCmp is adCmp on AD objects x and y, with their DN keys computed once.
func (j *joined) recCmp(x, y int32) int {
	if c := j.key(x).compare(j.key(y)); c != 0 {
		return c
	}
	rx, ry := j.rec(x), j.rec(y)
	if c := cmp.Compare(rx.DN, ry.DN); c != 0 {
		return c
	}
	if c := cmp.Compare(ry.USNChanged, rx.USNChanged); c != 0 {
		return c
	}
	return lower.Compare(rx.GUID, ry.GUID)
}

// adEntry is an AD object not in scope, for orphan reasons.
type adEntry struct {
	r      *ad.Recipient
	reason string
}

// joined is the join in the compact form Build works on; JoinSnapshots
// turns it into a Join. Objects are referred to by index: AD objects in
// a.Objects, cloud objects in objs (sorted by cloudCmp).
type joined struct {
	a      ADSnapshot
	c      CloudSnapshot
	opts   Options
	custom bool // opts.Anchor is not objectGUID for every object

	// order lists the AD objects (not nil) as adCmp sorts them; plain
	// says which DNs are their own keys (ad.IsPlainDN), canon holds the
	// others' DNKey (nil when every DN is plain).
	order []int32
	plain []bool
	canon []string
	in    []member // AD objects in scope, in order
	iids  []string // custom anchors of in, when custom
	objs  []*cloud.Object
	used  usedSet // objs joined to an AD object in scope

	unanchored []AnchorError
	inScope    int
	outByIID   map[string]adEntry // not synced, for orphan reasons
	outBySID   map[string]adEntry
}

// anchorKey is an AD object's anchor: for the default anchor, the base64
// of objectGUID written into buf without allocating.
type anchorKey struct {
	buf   [24]byte
	s     string
	inBuf bool
}

func (k *anchorKey) hash() uint64 {
	if k.inBuf {
		return maphash.Bytes(hashSeed, k.buf[:])
	}
	return maphash.String(hashSeed, k.s)
}

// equal reports whether the anchor is s.
func (k *anchorKey) equal(s string) bool {
	if k.inBuf {
		return string(k.buf[:]) == s
	}
	return k.s == s
}

func (k *anchorKey) equalKey(o *anchorKey) bool {
	if o.inBuf {
		return k.equalBytes(o.buf[:])
	}
	return k.equal(o.s)
}

func (k *anchorKey) equalBytes(b []byte) bool {
	if k.inBuf {
		return k.buf == [24]byte(b)
	}
	return k.s == string(b)
}

func (k *anchorKey) String() string {
	if k.inBuf {
		return string(k.buf[:])
	}
	return k.s
}

// anchor computes r's anchor into k, as opts.Anchor does.
func (j *joined) anchor(r *ad.Recipient, k *anchorKey) error {
	if !j.custom && guidImmutableID(r.GUID, &k.buf) {
		k.inBuf = true
		return nil
	}
	k.inBuf = false
	s, err := j.opts.Anchor.ImmutableID(r)
	k.s = s
	return err
}

// memberAnchor is the anchor of in[m].
func (j *joined) memberAnchor(m int, k *anchorKey) {
	if j.custom {
		k.inBuf, k.s = false, j.iids[m]
		return
	}
	if err := j.anchor(j.rec(j.in[m].rec), k); err != nil {
		panic("plan: anchor of an anchored object failed: " + err.Error())
	}
}

// pairIID is Pair.ImmutableID for in[m]: its twin's anchor when joined by
// anchor (the same string), else computed.
func (j *joined) pairIID(m int) string {
	e := &j.in[m]
	if e.twin >= 0 && e.by == 0 {
		return j.objs[e.twin].OnPremisesImmutableID
	}
	var k anchorKey
	j.memberAnchor(m, &k)
	return k.String()
}

// guidImmutableID writes ImmutableID(guid) into buf and reports true, or
// false when guid is not a registry-form GUID (ImmutableID then fails).
func guidImmutableID(guid string, buf *[24]byte) bool {
	if len(guid) != 36 {
		return false
	}
	var raw [16]byte
	n := 0
	for i := 0; i < 36; i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if guid[i] != '-' {
				return false
			}
			continue
		}
		h, l := unhex(guid[i]), unhex(guid[i+1])
		if h > 15 || l > 15 {
			return false
		}
		raw[n] = h<<4 | l
		n++
		i++
	}
	// ad.GUIDBytes: the first three groups are little-endian.
	b := [16]byte{raw[3], raw[2], raw[1], raw[0], raw[5], raw[4], raw[7], raw[6],
		raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14], raw[15]}
	base64.StdEncoding.Encode(buf[:], b[:])
	return true
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	return 255
}

// notSyncedWhy returns "" when r is synced (Entra Connect's rules and the
// snapshot's scope), else why not; plain is ad.IsPlainDN(r.DN).
func notSyncedWhy(a *ADSnapshot, r *ad.Recipient, plain bool) string {
	if why := NotSynced(r); why != "" {
		return why
	}
	return a.Scope.WhyNot(r.DN, plain)
}

// usedSet marks the cloud objects joined. An object listed twice (the
// same pointer) is joined once: its copies share their mark.
type usedSet struct {
	mark  []bool
	canon []int32 // the index of each object's first copy; nil when none is listed twice
}

// newUsedSet returns an empty set for objs, sorted by cloudCmp: copies of
// an object are among the objects that compare equal to it.
func newUsedSet(objs []*cloud.Object) usedSet {
	u := usedSet{mark: make([]bool, len(objs))}
	for i := 0; i < len(objs); {
		k := i + 1
		for k < len(objs) && cloudCmp(objs[k-1], objs[k]) == 0 {
			k++
		}
		for x := i + 1; x < k; x++ {
			for y := i; y < x; y++ {
				if objs[x] != objs[y] {
					continue
				}
				if u.canon == nil {
					u.canon = make([]int32, len(objs))
					for n := range u.canon {
						u.canon[n] = int32(n)
					}
				}
				u.canon[x] = u.canon[y]
				break
			}
		}
		i = k
	}
	return u
}

func (u *usedSet) has(i int) bool {
	if u.canon != nil {
		i = int(u.canon[i])
	}
	return u.mark[i]
}

func (u *usedSet) set(i int) {
	if u.canon != nil {
		i = int(u.canon[i])
	}
	u.mark[i] = true
}

// chainIndex finds objects by a key; objects sharing a key are chained in
// objs order.
type chainIndex struct {
	t    table
	next []int32
}

// newChainIndex indexes the objs for which key returns ok, hashing keys
// with hash and comparing them with equal.
func newChainIndex(objs []*cloud.Object, key func(o *cloud.Object) (string, bool),
	hash func(string) uint64, equal func(a, b string) bool) chainIndex {
	n := 0
	for _, o := range objs {
		if _, ok := key(o); ok {
			n++
		}
	}
	ci := chainIndex{t: newTable(n)}
	if n == 0 {
		return ci
	}
	ci.next = make([]int32, len(objs))
	// Backwards, each object becoming the head of its chain.
	for i := len(objs) - 1; i >= 0; i-- {
		k, ok := key(objs[i])
		if !ok {
			continue
		}
		ci.next[i] = -1
		p := ci.t.probe(hash(k))
		for {
			ref, _, found := p.next()
			if !found {
				p.add(i, 0)
				break
			}
			if kk, _ := key(objs[ref]); equal(kk, k) {
				ci.next[i] = int32(ref)
				p.set(i)
				break
			}
		}
	}
	return ci
}

// first returns the first object of the chain whose head matches (as
// equal says), not yet used, or -1.
func (ci *chainIndex) first(h uint64, match func(ref int) bool, used *usedSet) int {
	if ci.t.n == 0 {
		return -1
	}
	p := ci.t.probe(h)
	for {
		ref, _, ok := p.next()
		if !ok {
			return -1
		}
		if !match(ref) {
			continue
		}
		for i := int32(ref); i >= 0; i = ci.next[i] {
			if !used.has(int(i)) {
				return int(i)
			}
		}
		return -1
	}
}

func iidKey(o *cloud.Object) (string, bool) {
	return o.OnPremisesImmutableID, o.OnPremisesImmutableID != ""
}

// sidKey indexes a synced cloud object by its onPremisesSecurityIdentifier.
func sidKey(o *cloud.Object) (string, bool) {
	return o.OnPremisesSID, o.OnPremisesSID != "" && o.OnPremisesSyncEnabled
}

// managedSIDKey indexes a cloud object the sync no longer manages by its
// onPremisesSecurityIdentifier: a group whose Source of Authority moved to
// the cloud keeps it (and a group has no onPremisesImmutableId), and joins
// as CloudManaged when its group has no synced twin.
func managedSIDKey(o *cloud.Object) (string, bool) {
	return o.OnPremisesSID, o.OnPremisesSID != "" && !o.OnPremisesSyncEnabled
}

func hashString(s string) uint64 { return maphash.String(hashSeed, s) }

func equalString(a, b string) bool { return a == b }

// join joins a to c; see JoinSnapshots.
func join(a ADSnapshot, c CloudSnapshot, opts Options) *joined {
	j := &joined{a: a, c: c, custom: !opts.Anchor.objectGUIDOnly(), opts: opts.withDefaults(),
		outByIID: map[string]adEntry{}, outBySID: map[string]adEntry{}}

	// Cloud objects, sorted, indexed by anchor and SID.
	j.objs = make([]*cloud.Object, 0, len(c.Objects))
	for _, o := range c.Objects {
		if o != nil && o.Removed == nil {
			j.objs = append(j.objs, o)
		}
	}
	slices.SortStableFunc(j.objs, cloudCmp)
	j.used = newUsedSet(j.objs)
	byIID := newChainIndex(j.objs, iidKey, hashString, equalString)
	bySID := [2]chainIndex{newChainIndex(j.objs, sidKey, hashLower, lower.Equal), newChainIndex(j.objs, managedSIDKey, hashLower, lower.Equal)}
	// Synced contacts without an anchor, by lower-cased SMTP address.
	contactByAddr := map[string][]int{}
	for i, o := range j.objs {
		if o.Kind != cloud.KindContact || !o.OnPremisesSyncEnabled || o.OnPremisesImmutableID != "" {
			continue
		}
		for _, addr := range contactAddresses(o.Mail, o.ProxyAddresses) {
			contactByAddr[addr] = append(contactByAddr[addr], i)
		}
	}

	// AD objects, sorted, in scope or not, with their anchors.
	j.order = make([]int32, 0, len(a.Objects))
	j.plain = make([]bool, len(a.Objects))
	for i, r := range a.Objects {
		if r == nil {
			continue
		}
		j.order = append(j.order, int32(i))
		if j.plain[i] = ad.IsPlainDN(r.DN); !j.plain[i] {
			if j.canon == nil {
				j.canon = make([]string, len(a.Objects))
			}
			j.canon[i] = DNKey(r.DN)
		}
	}
	// Sorted stably: ties keep the order of a.Objects, the index.
	if !slices.IsSortedFunc(j.order, j.recCmp) {
		slices.SortFunc(j.order, func(x, y int32) int { return cmp.Or(j.recCmp(x, y), cmp.Compare(x, y)) })
	}
	j.in = make([]member, 0, len(j.order))
	seen := newTable(len(j.order)) // anchors of j.in
	var k, k2 anchorKey
	for _, i := range j.order {
		r := j.rec(i)
		reason := notSyncedWhy(&a, r, j.plain[i])
		err := j.anchor(r, &k)
		if reason != "" {
			if err == nil {
				if iid := k.String(); j.outByIID[iid].r == nil {
					j.outByIID[iid] = adEntry{r, reason}
				}
			}
			if r.SID != "" && !r.Deleted {
				if sid := strings.ToLower(r.SID); j.outBySID[sid].r == nil {
					j.outBySID[sid] = adEntry{r, reason}
				}
			}
			continue
		}
		if err != nil {
			j.unanchored = append(j.unanchored, AnchorError{AD: r, Err: err})
			continue
		}
		// An object read twice (overlapping scopes): keep the first.
		h := k.hash()
		p := seen.probe(h)
		dup := false
		for {
			ref, _, ok := p.next()
			if !ok {
				break
			}
			if j.memberAnchor(ref, &k2); k.equalKey(&k2) {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		p.add(len(j.in), 0)
		if j.custom {
			j.iids = append(j.iids, k.s)
		}
		j.in = append(j.in, j.match(r, i, &k, h, &byIID, &bySID, contactByAddr))
	}
	j.inScope = len(j.in) + len(j.unanchored)
	return j
}

// match looks for the twin of AD object i in scope, r, whose anchor is k
// (hashed h): by anchor, for a group by SID, for a contact by address.
func (j *joined) match(r *ad.Recipient, i int32, k *anchorKey, h uint64, byIID *chainIndex, bySID *[2]chainIndex, contactByAddr map[string][]int) member {
	e := member{rec: i, twin: -1}
	twin, by := byIID.first(h, func(ref int) bool { return k.equal(j.objs[ref].OnPremisesImmutableID) }, &j.used), uint8(0)
	if twin < 0 && r.Kind == ad.KindGroup && r.SID != "" {
		// The synced twin first; a group no longer synced (its Source of
		// Authority moved to the cloud) only when there is none.
		for _, index := range bySID {
			if twin, by = index.first(hashLower(r.SID), func(ref int) bool { return lower.Equal(j.objs[ref].OnPremisesSID, r.SID) }, &j.used), 1; twin >= 0 {
				break
			}
		}
	}
	if twin < 0 && r.Kind == ad.KindContact {
		for _, addr := range contactAddresses(r.Mail, r.ProxyAddresses.Raw()) {
			for _, i := range contactByAddr[addr] {
				if !j.used.has(i) {
					twin = i
					break
				}
			}
			if twin >= 0 {
				by = 2
				break
			}
		}
	}
	if twin < 0 {
		e.kind = memberADOnly
		return e
	}
	j.used.set(twin)
	e.twin, e.by = int32(twin), by
	want, _ := CloudKind(r.Kind)
	switch o := j.objs[twin]; {
	case o.Kind != want:
		e.kind = memberMismatch
	case !o.OnPremisesSyncEnabled:
		e.kind = memberManaged
	default:
		e.kind = memberPair
	}
	return e
}

// leftovers reports, in objs order, the cloud objects no AD object in
// scope is joined to: those the sync leaves alone (Join.CloudOnly) and the
// orphans it deletes.
func (j *joined) leftovers(cloudOnly func(*cloud.Object), orphan func(Orphan)) {
	for i, o := range j.objs {
		if j.used.has(i) {
			continue
		}
		if !o.OnPremisesSyncEnabled {
			cloudOnly(o) // the sync leaves it alone
			continue
		}
		orp := Orphan{Cloud: o}
		if e, ok := j.outByIID[o.OnPremisesImmutableID]; ok && o.OnPremisesImmutableID != "" {
			orp.Source, orp.SourceReason = e.r, e.reason
		} else if e, ok := j.outBySID[strings.ToLower(o.OnPremisesSID)]; ok && o.OnPremisesSID != "" && o.Kind == cloud.KindGroup {
			orp.Source, orp.SourceReason = e.r, e.reason
		}
		orphan(orp)
	}
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
