package plan

import (
	"hash/maphash"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
)

// The planner compares addresses, GUIDs and DNs as their strings.ToLower
// forms compare. Lower-casing a million objects' values allocates a
// million strings, so these helpers compare and hash the lower-cased forms
// without building them whenever the strings are ASCII (nearly always),
// and fall back to strings.ToLower otherwise. Lower-casing maps an ASCII
// prefix to the same bytes whatever follows it, so a comparison decided
// within an ASCII prefix is decided for the whole strings.

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalLower reports whether strings.ToLower(a) == strings.ToLower(b).
func equalLower(a, b string) bool {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		x, y := a[i], b[i]
		if x >= 0x80 || y >= 0x80 {
			return strings.ToLower(a) == strings.ToLower(b)
		}
		if x != y && lowerASCII(x) != lowerASCII(y) {
			return false
		}
	}
	// An ASCII common prefix equal once lower-cased: the longer string
	// lower-cases to something longer (lower-casing never empties a
	// non-empty rest).
	return len(a) == len(b)
}

// compareLower is strings.Compare(strings.ToLower(a), strings.ToLower(b)).
func compareLower(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		x, y := a[i], b[i]
		if x >= 0x80 || y >= 0x80 {
			return strings.Compare(strings.ToLower(a), strings.ToLower(b))
		}
		if x != y {
			if lx, ly := lowerASCII(x), lowerASCII(y); lx != ly {
				if lx < ly {
					return -1
				}
				return 1
			}
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// hashSeed seeds every hash of one process; tables are rebuilt per Build.
var hashSeed = maphash.MakeSeed()

// hashLower hashes strings.ToLower(s).
func hashLower(s string) uint64 {
	var buf [128]byte
	if len(s) <= len(buf) {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c >= 0x80 {
				return maphash.String(hashSeed, strings.ToLower(s))
			}
			buf[i] = lowerASCII(c)
		}
		return maphash.Bytes(hashSeed, buf[:len(s)])
	}
	return maphash.String(hashSeed, strings.ToLower(s))
}

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
		return lowerASCII(k.s[i])
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
