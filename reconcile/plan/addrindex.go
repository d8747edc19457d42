package plan

import (
	"cmp"
	"slices"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/lower"
)

// Indexes over every object of a run, kept small: table slots refer to the
// objects instead of holding lower-cased copies of their values.

// dnSet is a set of DNs compared as DNKey compares them.
type dnSet struct {
	keys []string // DNs, or their DNKey when not plain (see dnKey)
	fold []bool
	t    table
}

func (s *dnSet) key(i int) dnKey { return dnKey{s: s.keys[i], fold: s.fold[i]} }

// newDNSet holds the DNs m maps to true.
func newDNSet(m map[string]bool) dnSet {
	s := dnSet{keys: make([]string, 0, len(m)), fold: make([]bool, 0, len(m))}
	for dn, ok := range m {
		if ok {
			k := newDNKey(dn)
			s.keys, s.fold = append(s.keys, k.s), append(s.fold, k.fold)
		}
	}
	s.t = newTable(len(s.keys))
	var hs [64]uint64
	for from := 0; from < len(s.keys); from += len(hs) {
		batch := hs[:min(len(hs), len(s.keys)-from)]
		for i := range batch {
			batch[i] = s.key(from + i).hash()
			s.t.warm(batch[i])
		}
		for i, h := range batch {
			k := s.key(from + i)
			p := s.t.probe(h)
			for {
				ref, _, found := p.next()
				if !found {
					p.add(from+i, 0)
					break
				}
				if s.key(ref).equal(k) {
					break
				}
			}
		}
	}
	return s
}

// hasEach reports, for i from 0 to n-1, whether the set holds key(i);
// false where key answers false.
func (s *dnSet) hasEach(n int, key func(i int) (dnKey, bool)) []bool {
	out := make([]bool, n)
	if s.t.n == 0 {
		return out
	}
	var ks [64]dnKey
	var hs [64]uint64
	var is [64]int
	for i := 0; i < n; {
		// A batch of keys: their walks warmed, then walked.
		m := 0
		for ; i < n && m < len(ks); i++ {
			if k, ok := key(i); ok {
				ks[m], hs[m], is[m] = k, k.hash(), i
				s.t.warm(hs[m])
				m++
			}
		}
		for x := 0; x < m; x++ {
			p := s.t.probe(hs[x])
			for {
				ref, _, ok := p.next()
				if !ok {
					break
				}
				if s.key(ref).equal(ks[x]) {
					out[is[x]] = true
					break
				}
			}
		}
	}
	return out
}

// valueRef names one of an object's SMTP addresses in a table slot: 0 for
// mail, i+1 for the i'th proxyAddresses value; values from the 65,534th on
// share the last number and are searched.
func valueRef(i int) uint16 {
	return uint16(min(i+1, 0xffff))
}

// cloudAddrMatch reports whether o holds addr as the value ref names
// (strings.ToLower forms equal).
func cloudAddrMatch(o *cloud.Object, val uint16, addr string) bool {
	if val == 0 {
		return lower.Equal(o.Mail, addr)
	}
	for i := int(val) - 1; i < len(o.ProxyAddresses); i++ {
		if p, err := ad.ParseProxyAddress(o.ProxyAddresses[i]); err == nil && p.IsSMTP() && lower.Equal(p.Address, addr) {
			return true
		}
		if val != 0xffff {
			break
		}
	}
	return false
}

// moeraIndex finds the cloud objects holding an SMTP address (mail or
// proxyAddresses, as cloudSMTP lists them) in the initial domain.
type moeraIndex struct {
	objs    []*cloud.Object
	initial string
	t       table
}

func newMOERAIndex(objs []*cloud.Object, initial string) moeraIndex {
	x := moeraIndex{objs: objs, initial: initial}
	if initial == "" {
		return x // ProxyCalc makes no MOERA
	}
	n := 0
	for _, o := range objs {
		x.each(o, func(string, uint16) { n++ })
	}
	x.t = newTable(n)
	for i, o := range objs {
		x.each(o, func(addr string, val uint16) {
			p := x.t.probe(hashLower(addr))
			for {
				if _, _, ok := p.next(); !ok {
					break
				}
			}
			p.add(i, val)
		})
	}
	return x
}

// each calls fn with o's SMTP addresses in the initial domain.
func (x *moeraIndex) each(o *cloud.Object, fn func(addr string, val uint16)) {
	if o.Mail != "" && x.inInitial(o.Mail) {
		fn(o.Mail, 0)
	}
	for j, v := range o.ProxyAddresses {
		if p, err := ad.ParseProxyAddress(v); err == nil && p.IsSMTP() && x.inInitial(p.Address) {
			fn(p.Address, valueRef(j))
		}
	}
}

// inInitial reports whether addr's domain lower-cases to the initial
// domain's lower-case form. Two addresses equal once lower-cased have
// domains equal once lower-cased (lower-casing leaves '@' alone), so only
// such addresses can equal a MOERA.
func (x *moeraIndex) inInitial(addr string) bool {
	return lower.Equal(domainOf(addr), x.initial)
}

// heldByOther reports whether a cloud object other than twin holds addr.
func (x *moeraIndex) heldByOther(addr string, twin *cloud.Object) bool {
	if x.initial == "" || !x.inInitial(addr) {
		// Not a MOERA: not indexed; search.
		for _, o := range x.objs {
			if o == twin {
				continue
			}
			for a := range cloudSMTP(o) {
				if lower.Equal(a, addr) {
					return true
				}
			}
		}
		return false
	}
	p := x.t.probe(hashLower(addr))
	for {
		ref, val, ok := p.next()
		if !ok {
			return false
		}
		if o := x.objs[ref]; o != twin && cloudAddrMatch(o, val, addr) {
			return true
		}
	}
}

// takenMOERA is ProxyCalc's TakenMOERA for the subject whose twin is
// b.twin: another cloud object holds addr.
func (b *builder) takenMOERA(addr string) bool {
	return b.moeras.heldByOther(addr, b.twin)
}

// subjectAddrMatch reports whether subject i holds addr as the usable
// SMTP address val names (strings.ToLower forms equal).
func (b *builder) subjectAddrMatch(i int, val uint16, addr string) bool {
	r := b.j.rec(b.j.in[b.subs[i]].rec)
	if val == 0 {
		return lower.Equal(r.Mail, addr) // indexed only when usable
	}
	vals := r.ProxyAddresses.Values
	for k := int(val) - 1; k < len(vals); k++ {
		if p := vals[k]; p.IsSMTP() && lower.Equal(p.Address, addr) && (val != 0xffff || usableAddr(p.Address)) {
			return true
		}
		if val != 0xffff {
			break // the value indexed, usable
		}
	}
	return false
}

// heldByOtherSubject reports whether a subject other than i holds addr, a
// usable address.
func (b *builder) heldByOtherSubject(i int, addr string) bool {
	p := b.addrs.probe(hashLower(addr))
	for {
		ref, val, ok := p.next()
		if !ok {
			return false
		}
		if ref != i && b.subjectAddrMatch(ref, val, addr) {
			return true
		}
	}
}

// dupGroup is an address more than one object holds.
type dupGroup struct {
	key    string // lower-case
	clouds []*holder
}

// duplicates finds SMTP addresses held by more than one object: AD objects
// in scope (mail and proxyAddresses) and cloud objects the sync does not
// manage. It indexes every usable address of the subjects in b.addrs.
func (b *builder) duplicates() {
	// The table's size: each subject's distinct SMTP addresses, as far
	// as a quick look tells.
	n := 0
	var addrs []string
	for i := range b.subs {
		r := b.j.rec(b.j.in[b.subs[i]].rec)
		addrs = addrs[:0]
		if r.Mail != "" {
			addrs = append(addrs, r.Mail)
		}
		for _, p := range r.ProxyAddresses.Values {
			if p.IsSMTP() {
				addrs = append(addrs, p.Address)
			}
		}
		if len(addrs) > 8 {
			n += len(addrs)
			continue
		}
		for k, a := range addrs {
			if !slices.ContainsFunc(addrs[:k], func(b string) bool { return lower.Equal(a, b) }) {
				n++
			}
		}
	}
	b.addrs = newTable(n)
	groups := map[string]*dupGroup{}
	var order []*dupGroup
	group := func(addr string) *dupGroup {
		k := strings.ToLower(addr)
		g := groups[k]
		if g == nil {
			g = &dupGroup{key: k}
			groups[k] = g
			order = append(order, g)
		}
		return g
	}
	// Index the usable addresses, a batch at a time: see table.warm.
	type entry struct {
		i    int
		val  uint16
		h    uint64
		addr string
	}
	var batch []entry
	flush := func() {
		for _, e := range batch {
			b.addrs.warm(e.h)
		}
		for _, e := range batch {
			p := b.addrs.probe(e.h)
			other, held := false, false
			for {
				ref, v, ok := p.next()
				if !ok {
					break
				}
				if !b.subjectAddrMatch(ref, v, e.addr) {
					continue
				}
				if ref == e.i {
					held = true // the subject holds it already
					break
				}
				other = true
			}
			if held {
				continue
			}
			p.add(e.i, e.val)
			if other {
				group(e.addr)
			}
		}
		batch = batch[:0]
	}
	for i := range b.subs {
		r := b.j.rec(b.j.in[b.subs[i]].rec)
		// Mail is most often the SMTP: value too: index it once. (An
		// address equal to a usable mail once lower-cased is either the
		// same usable address or, not ASCII, not usable.)
		mailUsable := r.Mail != "" && usableAddr(r.Mail)
		if mailUsable {
			batch = append(batch, entry{i, 0, hashLower(r.Mail), r.Mail})
		}
		for k, p := range r.ProxyAddresses.Values {
			if p.IsSMTP() && !(mailUsable && lower.Equal(p.Address, r.Mail)) && usableAddr(p.Address) {
				batch = append(batch, entry{i, valueRef(k), hashLower(p.Address), p.Address})
			}
		}
		if len(batch) >= 64 {
			flush()
		}
	}
	flush()

	// Cloud objects the sync does not manage, for addresses a subject
	// holds.
	var clouds []*cloud.Object
	for m := range b.j.in {
		if e := &b.j.in[m]; e.kind == memberManaged {
			clouds = append(clouds, b.j.objs[e.twin])
		}
	}
	var cloudOnly []*cloud.Object
	b.j.leftovers(func(o *cloud.Object) { cloudOnly = append(cloudOnly, o) }, func(Orphan) {})
	clouds = append(cloudOnly, clouds...)
	slices.SortStableFunc(clouds, cloudCmp)
	for _, o := range clouds {
		var seen []string
		for addr := range cloudSMTP(o) {
			if slices.ContainsFunc(seen, func(s string) bool { return lower.Equal(s, addr) }) || !b.heldByOtherSubject(-1, addr) { // -1: any subject
				continue // only addresses an AD object also holds matter
			}
			seen = append(seen, addr)
			g := group(addr)
			g.clouds = append(g.clouds, &holder{o: o, addr: addr, attrs: []string{"proxyAddresses"}})
		}
	}

	for _, g := range order {
		b.duplicate(g)
	}
}

// duplicate reports the address of g on every subject holding it.
func (b *builder) duplicate(g *dupGroup) {
	// The subjects holding it, in subject order, with where they hold it.
	var subs []int
	p := b.addrs.probe(hashLower(g.key))
	for {
		ref, val, ok := p.next()
		if !ok {
			break
		}
		if b.subjectAddrMatch(ref, val, g.key) {
			subs = append(subs, ref)
		}
	}
	slices.Sort(subs)
	var hs []*holder
	for _, i := range subs {
		r := b.subject(i).r
		h := &holder{r: r}
		hold := func(addr, attr string) {
			if !usableAddr(addr) || !lower.Equal(addr, g.key) {
				return
			}
			if h.addr == "" {
				h.addr = addr
			}
			if !slices.Contains(h.attrs, attr) {
				h.attrs = append(h.attrs, attr)
			}
		}
		if r.Mail != "" {
			hold(r.Mail, "mail")
		}
		for _, p := range r.ProxyAddresses.Values {
			if p.IsSMTP() {
				hold(p.Address, "proxyAddresses")
			}
		}
		hs = append(hs, h)
	}
	hs = append(hs, g.clouds...)
	if len(hs) < 2 {
		return
	}
	k := g.key
	for _, h := range hs {
		if h.r == nil {
			continue
		}
		if b.dup[h.r] == nil {
			b.dup[h.r] = map[string]bool{}
		}
		b.dup[h.r][k] = true
		others := make([]Holder, 0, len(hs)-1)
		for _, o := range hs {
			switch {
			case o == h:
			case o.r != nil:
				others = append(others, Holder{DN: o.r.DN, Name: o.r.Name, Attributes: o.attrs})
			default:
				others = append(others, Holder{CloudKind: o.o.Kind, CloudID: o.o.ID, Name: cmp.Or(o.o.DisplayName, o.o.Mail), Attributes: o.attrs})
			}
		}
		sortHolders(others)
		b.add(Finding{
			Kind: DuplicateAddress, Severity: SeverityError,
			ObjectDN: h.r.DN, ObjectGUID: h.r.GUID, Name: h.r.Name, Attribute: strings.Join(h.attrs, ", "),
			Facts: Facts{DuplicateAddress: &DuplicateAddressFacts{Address: h.addr, Others: others}},
		})
	}
}
