package plan

// table is an open-addressing hash index (linear probing) whose keys live
// elsewhere: each slot holds 16 bits of the key's hash, a 16-bit value the
// user chooses (which of an object's values the key is) and a 32-bit
// reference (an index, plus one). A lookup walks the slots from the key's
// home, skipping slots whose hash bits differ, and the caller compares the
// key the reference names with the one looked for. It holds no pointers,
// so the collector never scans it, and it costs 8 bytes a slot: Go maps
// keyed by lower-cased strings cost a string per entry on top.
type table struct {
	slots []uint64
	n     int
	// warmed keeps warm's reads from being optimised away.
	warmed uint64
}

// newTable returns a table for at most n entries, with 3 slots for 2
// entries so that walks stay short.
func newTable(n int) table {
	return table{slots: make([]uint64, n+n/2+8)}
}

// probe is a walk along the slots that may hold a key.
type probe struct {
	t   *table
	i   int
	tag uint64
	// first is true until the first call to next.
	first bool
}

func (t *table) home(h uint64) int { return int((h & 0xffffffff) * uint64(len(t.slots)) >> 32) }

func (t *table) probe(h uint64) probe {
	return probe{t: t, i: t.home(h), tag: h >> 48, first: true}
}

// warm reads the slot where the walk for h starts. A table is too big for
// the processor's caches and its slots are read in random order, so each
// walk starts with a wait for memory; warming the walks of a batch of keys
// first lets those waits overlap, the reads being independent.
func (t *table) warm(h uint64) {
	t.warmed += t.slots[t.home(h)]
}

// next returns the next slot whose hash bits match: its reference and
// value. ok is false at the first empty slot, where add can insert.
func (p *probe) next() (ref int, val uint16, ok bool) {
	for {
		if !p.first {
			p.i++
			if p.i == len(p.t.slots) {
				p.i = 0
			}
		}
		p.first = false
		s := p.t.slots[p.i]
		if s == 0 {
			return 0, 0, false
		}
		if s>>48 == p.tag {
			return int(uint32(s)) - 1, uint16(s >> 32), true
		}
	}
}

// add stores ref and val in the empty slot where next stopped.
func (p *probe) add(ref int, val uint16) {
	t := p.t
	if t.n+1 >= len(t.slots) {
		panic("plan: table sized too small") // walks would never end
	}
	t.slots[p.i] = p.tag<<48 | uint64(val)<<32 | uint64(uint32(ref+1))
	t.n++
}

// set makes the slot where next stopped, which holds an entry, refer to
// ref instead.
func (p *probe) set(ref int) {
	s := &p.t.slots[p.i]
	*s = *s&^0xffffffff | uint64(uint32(ref+1))
}
