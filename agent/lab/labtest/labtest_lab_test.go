package labtest_test

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
)

// DeleteTree deletes a tree holding users that delivery restrictions of a
// group point at, which Samba refuses unless the links go first.
func TestDeleteTreeWithRestrictionLinks(t *testing.T) {
	l := labtest.Get(t)
	c := l.Client(t)
	ctx := t.Context()
	ou, err := c.CreateOU(ctx, l.OU(t), "tree")
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	for _, n := range []string{"a", "b", "c", "d"} {
		dn := ad.ChildDN("CN", "u"+n, ou)
		if err := c.Add(ctx, dn, []ad.Attribute{
			{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "user"}},
			{Name: "sAMAccountName", Values: []string{"dt-" + n + suffix()}},
		}); err != nil {
			t.Fatal(err)
		}
		users = append(users, dn)
	}
	// The group stays outside the tree, as a migrated group moved to the
	// no-sync OU does.
	group := ad.ChildDN("CN", "restricted", l.OU(t))
	if err := c.Add(ctx, group, []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "group"}},
		{Name: "groupType", Values: []string{"8"}},
		{Name: "sAMAccountName", Values: []string{"dt-g" + suffix()}},
		{Name: "authOrig", Values: []string{users[0]}},
		{Name: "unauthOrig", Values: []string{users[1]}},
		{Name: "dLMemSubmitPerms", Values: []string{users[2]}},
		{Name: "dLMemRejectPerms", Values: []string{users[3]}},
		{Name: "member", Values: users},
	}); err != nil {
		t.Fatal(err)
	}
	if err := labtest.DeleteTree(ctx, c, ou); err != nil {
		t.Fatalf("DeleteTree: %v", err)
	}
	if _, err := c.ReadRecipient(ctx, users[0]); err == nil {
		t.Fatalf("%s is still there", users[0])
	}
	g, err := c.ReadRecipient(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Members) != 0 {
		t.Errorf("the group still has members %q", g.Members)
	}
}

func suffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
