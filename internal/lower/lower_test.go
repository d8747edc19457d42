package lower

import (
	"hash/maphash"
	"math/rand"
	"strings"
	"testing"
)

func randomString(r *rand.Rand, pieces []string, n int) string {
	var b strings.Builder
	for ; n > 0; n-- {
		b.WriteString(pieces[r.Intn(len(pieces))])
	}
	return b.String()
}

// Equal, Compare and Hash agree with strings.ToLower, Unicode included.
func TestAgreesWithToLower(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	seed := maphash.MakeSeed()
	pieces := []string{"a", "A", "b", "B", "@", ".", "\u212a", "k", "K", "é", "É", "ſ", "s", "S", "İ", "i", "\xff", "user0000001"}
	for i := 0; i < 200_000; i++ {
		a, b := randomString(r, pieces, r.Intn(5)), randomString(r, pieces, r.Intn(5))
		la, lb := strings.ToLower(a), strings.ToLower(b)
		if got, want := Equal(a, b), la == lb; got != want {
			t.Fatalf("Equal(%q, %q) = %v, want %v", a, b, got, want)
		}
		if got, want := Compare(a, b), strings.Compare(la, lb); got != want {
			t.Fatalf("Compare(%q, %q) = %d, want %d", a, b, got, want)
		}
		if la == lb && Hash(seed, a) != Hash(seed, b) {
			t.Fatalf("Hash(%q) != Hash(%q)", a, b)
		}
	}
	long := strings.Repeat("Ab", 100) // longer than Hash's buffer
	if Hash(seed, long) != Hash(seed, strings.ToLower(long)) {
		t.Error("Hash of a long string")
	}
}
