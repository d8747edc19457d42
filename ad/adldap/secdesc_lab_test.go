package adldap_test

import (
	"errors"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// Protection from accidental deletion, turned on and off on a group of the
// lab and read back from the DC's own descriptor. (The DC does not stop
// an administrator from deleting the group with it alone: whoever may
// delete the parent's children may delete it, which is why ADUC also
// denies that on the parent. What matters here is what AD reports.)
func TestLabProtectedFromDeletion(t *testing.T) {
	l := labtest.Get(t)
	t.Parallel()
	ou := l.OU(t)
	c := l.Client(t)
	ctx := ctxT(t)
	dn := ad.ChildDN("CN", "Protected DL", ou)
	if err := c.Add(ctx, dn, []ad.Attribute{{Name: "objectClass", Values: []string{"top", "group"}}, {Name: "groupType", Values: []string{"8"}},
		{Name: "mail", Values: []string{"protected-dl@" + l.Manifest.MailDomain}}}); err != nil {
		t.Fatal(err)
	}
	if p, err := c.ProtectedFromDeletion(ctx, dn); err != nil || p {
		t.Fatalf("new group: protected %v, %v", p, err)
	}
	if err := c.SetProtectedFromDeletion(ctx, dn, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The OU's cleanup cannot delete a protected group.
		if err := c.SetProtectedFromDeletion(ctxT(t), dn, false); err != nil {
			t.Errorf("unprotect: %v", err)
		}
	})
	if p, err := c.ProtectedFromDeletion(ctx, dn); err != nil || !p {
		t.Fatalf("after protecting: protected %v, %v", p, err)
	}
	// Protecting again writes nothing and keeps one entry.
	if err := c.SetProtectedFromDeletion(ctx, dn, true); err != nil {
		t.Fatal(err)
	}
	sd, err := c.ReadDACL(ctx, dn)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range sd.ACEs {
		if a.Type == ad.AceTypeAccessDenied && a.SID == ad.SIDEveryone {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d deny-Everyone entries after protecting twice, want 1", n)
	}
	// The entry survives other changes to the group.
	if err := c.Modify(ctx, dn, ad.Change{Op: ad.ReplaceValues, Attr: "displayName", Values: []string{"Protected DL (renamed)"}}); err != nil {
		t.Fatal(err)
	}
	if p, err := c.ProtectedFromDeletion(ctx, dn); err != nil || !p {
		t.Fatalf("after another change: protected %v, %v", p, err)
	}
	if err := c.SetProtectedFromDeletion(ctx, dn, false); err != nil {
		t.Fatal(err)
	}
	if p, err := c.ProtectedFromDeletion(ctx, dn); err != nil || p {
		t.Fatalf("after unprotecting: protected %v, %v", p, err)
	}
	if _, err := c.ProtectedFromDeletion(ctx, ad.ChildDN("CN", "Nobody", ou)); !errors.Is(err, retry.ErrNotFound) {
		t.Errorf("missing object: %v, want not found", err)
	}
}
