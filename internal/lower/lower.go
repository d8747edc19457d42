// Package lower compares and hashes strings as their strings.ToLower forms
// compare, without building those forms while the strings are ASCII
// (nearly always for addresses, GUIDs and DNs), falling back to
// strings.ToLower otherwise. Lower-casing maps an ASCII prefix to the same
// bytes whatever follows it, so a comparison decided within an ASCII
// prefix is decided for the whole strings.
package lower

import (
	"hash/maphash"
	"strings"
)

// Byte lower-cases an ASCII letter; other bytes are returned unchanged.
func Byte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// Equal reports whether strings.ToLower(a) == strings.ToLower(b).
func Equal(a, b string) bool {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		x, y := a[i], b[i]
		if x >= 0x80 || y >= 0x80 {
			return strings.ToLower(a) == strings.ToLower(b)
		}
		if x != y && Byte(x) != Byte(y) {
			return false
		}
	}
	// An ASCII common prefix equal once lower-cased: the longer string
	// lower-cases to something longer (lower-casing never empties a
	// non-empty rest).
	return len(a) == len(b)
}

// Compare is strings.Compare(strings.ToLower(a), strings.ToLower(b)).
func Compare(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		x, y := a[i], b[i]
		if x >= 0x80 || y >= 0x80 {
			return strings.Compare(strings.ToLower(a), strings.ToLower(b))
		}
		if x != y {
			if lx, ly := Byte(x), Byte(y); lx != ly {
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

// Hash is maphash.String(seed, strings.ToLower(s)).
func Hash(seed maphash.Seed, s string) uint64 {
	var buf [128]byte
	if len(s) <= len(buf) {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c >= 0x80 {
				return maphash.String(seed, strings.ToLower(s))
			}
			buf[i] = Byte(c)
		}
		return maphash.Bytes(seed, buf[:len(s)])
	}
	return maphash.String(seed, strings.ToLower(s))
}
