package migrate

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/internal/retry"
)

// A list of bulkResolveMin members or more is resolved with one listing
// of the tenant's recipients, not one Get-Recipient call per member; a
// member with no cloud recipient is still reported, by DN.
func TestAssessResolvesABigListWithOneListing(t *testing.T) {
	l := newLab(t)
	const n = bulkResolveMin + 500
	for i := range n {
		u := l.w.addUser(1000+i, fmt.Sprintf("Bulk%05d", i))
		l.group.Members = append(l.group.Members, u.DN)
	}
	// A member outside the sync scope has no cloud recipient.
	out := l.w.addUser(999, "Outside")
	delete(l.w.ad, strings.ToLower(out.DN))
	out.DN = "CN=Outside," + noSync
	l.w.ad[strings.ToLower(out.DN)] = out
	l.group.Members = append(l.group.Members, out.DN)
	l.w.sync()
	l.w.recipientReads, l.w.recipientDirReads = 0, 0

	a, err := l.env(nil).Assess(t.Context(), "sales@lab.test", l.options)
	if err != nil {
		t.Fatal(err)
	}
	if l.w.listings != 1 {
		t.Errorf("%d recipient listings, want 1", l.w.listings)
	}
	// One search for the members; the owner (not a member) read alone,
	// with the group itself and the twin checks' reads.
	if l.w.memberSearches != 1 || l.w.recipientDirReads > 5 {
		t.Errorf("%d member searches and %d single reads on premises, want 1 and a few", l.w.memberSearches, l.w.recipientDirReads)
	}
	if l.w.recipientReads != 0 {
		t.Errorf("%d Get-Recipient calls, want none: every address was in the listing", l.w.recipientReads)
	}
	if got, want := len(a.Capture.Members), 3+n+1; got != want {
		t.Fatalf("%d members captured, want %d", got, want)
	}
	var unresolved []string
	for _, p := range a.Problems {
		if p.Code == "unresolved" {
			unresolved = append(unresolved, p.Message)
		}
	}
	if len(unresolved) != 1 || !strings.Contains(unresolved[0], out.DN) {
		t.Errorf("unresolved problems %q, want one naming %s", unresolved, out.DN)
	}
	for _, m := range a.Capture.Members {
		if m.DN != out.DN && m.Cloud == "" {
			t.Errorf("member %s not resolved", m.DN)
		}
	}
	if owners := clouds(a.Capture.Owners); len(owners) != 1 || owners[0] != l.users[3].GUID {
		t.Errorf("owners %v, want the owner's cloud id", owners)
	}
}

// A small list is resolved address by address: no listing of the tenant.
func TestAssessResolvesASmallListByAddress(t *testing.T) {
	l := newLab(t)
	a, err := l.env(nil).Assess(t.Context(), "sales@lab.test", l.options)
	if err != nil || !a.Ready() {
		t.Fatalf("assess: %v %+v", err, a.Problems)
	}
	if l.w.listings != 0 || l.w.recipientReads < 4 || l.w.memberSearches != 0 {
		t.Errorf("%d listings, %d Get-Recipient calls and %d member searches, want none, one call per recipient, none",
			l.w.listings, l.w.recipientReads, l.w.memberSearches)
	}
}

// A listing that fails leaves the assessment failed, never members
// reported as unresolved from a partial read.
func TestAssessBigListListingFails(t *testing.T) {
	l := newLab(t)
	for i := range bulkResolveMin {
		u := l.w.addUser(1000+i, fmt.Sprintf("Bulk%05d", i))
		l.group.Members = append(l.group.Members, u.DN)
	}
	l.w.sync()
	l.w.failNext["ListRecipients"] = retry.New("fake", retry.Retryable, errors.New("503"))
	a, err := l.env(nil).Assess(t.Context(), "sales@lab.test", l.options)
	if err == nil || retry.ClassOf(err) != retry.Retryable {
		t.Fatalf("assess: %v, %+v; want the listing's retryable error", err, a)
	}
}
