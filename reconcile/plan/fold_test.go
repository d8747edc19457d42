package plan

import (
	"cmp"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/cloud"
)

func randomString(r *rand.Rand, pieces []string, n int) string {
	var b strings.Builder
	for ; n > 0; n-- {
		b.WriteString(pieces[r.Intn(len(pieces))])
	}
	return b.String()
}

// dnKey compares, tests and hashes as DNKey's results do.
func TestDNKey(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	pieces := []string{"CN=", "cn=", "OU=", "Jane", "jane", "JANE", ",", ", ", `\,`, "é", "DC=x", "dc=X", "+SN=a", "#"}
	for i := 0; i < 100_000; i++ {
		a, b := randomString(r, pieces, 1+r.Intn(5)), randomString(r, pieces, 1+r.Intn(5))
		ka, kb := newDNKey(a), newDNKey(b)
		if got, want := ka.compare(kb), cmp.Compare(DNKey(a), DNKey(b)); got != want {
			t.Fatalf("compare(%q, %q) = %d, want %d", a, b, got, want)
		}
		if got, want := ka.equal(kb), DNKey(a) == DNKey(b); got != want {
			t.Fatalf("equal(%q, %q) = %v, want %v", a, b, got, want)
		}
		if ka.String() != DNKey(a) {
			t.Fatalf("String(%q) = %q, want %q", a, ka.String(), DNKey(a))
		}
		if DNKey(a) == DNKey(b) && ka.hash() != kb.hash() {
			t.Fatalf("hash(%q) != hash(%q)", a, b)
		}
	}
}

func TestGUIDImmutableID(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for i := 0; i < 10_000; i++ {
		g := fmt.Sprintf("%08x-%04x-%04X-%04x-%012X", r.Uint32(), r.Intn(1<<16), r.Intn(1<<16), r.Intn(1<<16), r.Int63n(1<<48))
		if i%10 == 0 { // damage it
			b := []byte(g)
			b[r.Intn(len(b))] = "-xZ0 "[r.Intn(5)]
			g = string(b)
		}
		var buf [24]byte
		ok := guidImmutableID(g, &buf)
		want, err := ImmutableID(g)
		if ok != (err == nil) || ok && string(buf[:]) != want {
			t.Fatalf("%q: %q %v, want %q %v", g, buf, ok, want, err)
		}
	}
}

func TestTable(t *testing.T) {
	keys := make([]string, 5000)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i%3000) // duplicates
	}
	tab := newTable(len(keys))
	added := 0
	for i, k := range keys {
		p := tab.probe(hashLower(k))
		found := false
		for {
			ref, val, ok := p.next()
			if !ok {
				break
			}
			if keys[ref] == k {
				if val != uint16(ref%7) {
					t.Fatalf("value %d, want %d", val, ref%7)
				}
				found = true
				break
			}
		}
		if !found {
			p.add(i, uint16(i%7))
			added++
		}
	}
	if added != 3000 || tab.n != 3000 {
		t.Fatalf("added %d, n %d; want 3000", added, tab.n)
	}
}

func TestUsedSetSharesMarksOfCopies(t *testing.T) {
	a, b := &cloud.Object{ID: "1"}, &cloud.Object{ID: "1"}
	objs := []*cloud.Object{a, b, a, {ID: "2"}}
	u := newUsedSet(objs)
	u.set(2)
	if !u.has(0) || u.has(1) || !u.has(2) || u.has(3) {
		t.Errorf("marks %v %v %v %v, want true false true false", u.has(0), u.has(1), u.has(2), u.has(3))
	}
}
