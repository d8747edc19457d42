package plan

import (
	"hash/maphash"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/internal/lower"
)

// The planner compares addresses, GUIDs and DNs as their strings.ToLower
// forms compare (package internal/lower), without lower-casing a million
// objects' values into new strings.

// hashSeed seeds every hash of one process; tables are rebuilt per Build.
var hashSeed = maphash.MakeSeed()

// hashLower hashes strings.ToLower(s).
func hashLower(s string) uint64 { return lower.Hash(hashSeed, s) }

// dnKey is DNKey(dn) without building it for the common DN that needs no
// parsing (ad.IsPlainDN): s is then the DN itself, to be compared with its
// ASCII letters lower-cased (fold); otherwise s is DNKey(dn).
type dnKey struct {
	s    string
	fold bool
}

func newDNKey(dn string) dnKey {
	if ad.IsPlainDN(dn) {
		return dnKey{s: dn, fold: true}
	}
	return dnKey{s: DNKey(dn)}
}

// String returns DNKey(dn).
func (k dnKey) String() string {
	if k.fold {
		return strings.ToLower(k.s)
	}
	return k.s
}

// byteAt is the i'th byte of DNKey(dn); a plain DN is ASCII.
func (k dnKey) byteAt(i int) byte {
	if k.fold {
		return lower.Byte(k.s[i])
	}
	return k.s[i]
}

// compare is cmp.Compare(DNKey(x), DNKey(y)).
func (k dnKey) compare(o dnKey) int {
	if !k.fold && !o.fold {
		return strings.Compare(k.s, o.s)
	}
	n := min(len(k.s), len(o.s))
	for i := 0; i < n; i++ {
		if x, y := k.byteAt(i), o.byteAt(i); x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(k.s) < len(o.s):
		return -1
	case len(k.s) > len(o.s):
		return 1
	}
	return 0
}

func (k dnKey) equal(o dnKey) bool {
	return len(k.s) == len(o.s) && k.compare(o) == 0
}

// hash hashes DNKey(dn).
func (k dnKey) hash() uint64 {
	if k.fold {
		return hashLower(k.s) // ASCII: strings.ToLower lower-cases ASCII letters only
	}
	return maphash.String(hashSeed, k.s)
}
