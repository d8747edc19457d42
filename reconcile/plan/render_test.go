package plan

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// golden compares got with testdata/name, rewriting the file first with
// -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test ./reconcile/plan -run %s -update rewrites it):\n%s", path, t.Name(), got)
	}
}

func renderFixture(t *testing.T) Plan {
	jane := user("Jane Doe", 1, "jane@contoso.com", "jane.doe@contoso.com", "SMTP:jdoe@contoso.com")
	a := license(adSnap(jane), jane)
	c := simulateSync(t, a, cloudSnap())
	c.Objects = append(c.Objects, &cloud.Object{Kind: cloud.KindGroup, ID: "g-old", DisplayName: "Old Team",
		OnPremisesSyncEnabled: true, OnPremisesImmutableID: "b2xkdGVhbQ==", OnPremisesDN: "CN=Old Team," + scopeOU})
	return build(t, a, c, Options{})
}

// kindsFixture has most kinds: a fix proposed and a fix blocked, dropped
// values of three severities, a duplicate shared with a cloud-only
// object, drift, a type mismatch, an object missing in the cloud, two
// objects with the same name in different OUs.
func kindsFixture(t *testing.T) Plan {
	jane := user("Jane Doe", 1, "jane@contoso.com", "jane.doe@contoso.com", "SMTP:jdoe@contoso.com")
	away := user("Away", 2, "away@contoso.com", "away@elsewhere.org", "SMTP:away@contoso.com")
	legacy := user("Legacy", 3, "legacy@contoso.com", "legacy@contoso.com", "SMTP:legacy@contoso.com",
		"X400:c=US;a= ;p=Contoso;o=Exchange;s=legacy;", "smtp:legacy@acquired.example", "smtp:legacy@contoso.onmicrosoft.com")
	sales1 := user("Sales", 4, "sales1@contoso.com", "sales@contoso.com", "SMTP:sales@contoso.com")
	sales2 := user("Sales", 5, "sales2@contoso.com", "sales2@contoso.com", "SMTP:sales2@contoso.com", "smtp:sales@contoso.com")
	sales2.DN = "CN=Sales,OU=Europe," + scopeOU
	drifted := user("Drifted", 6, "drifted@contoso.com", "drifted@contoso.com", "SMTP:drifted@contoso.com")
	vendor := obj(ad.KindContact, "Vendor", 7, "vendor@example.org")
	newbie := user("Newbie", 8, "newbie@contoso.com", "newbie@contoso.com", "SMTP:newbie@contoso.com")
	a := license(adSnap(jane, away, legacy, sales1, sales2, drifted, vendor), jane, legacy)
	c := simulateSync(t, a, cloudSnap(&cloud.Object{Kind: cloud.KindUser, ID: "u-shared", DisplayName: "Shared Mailbox",
		Mail: "shared@contoso.com", ProxyAddresses: []string{"SMTP:shared@contoso.com", "smtp:legacy@contoso.com"}}))
	for _, o := range c.Objects {
		switch o.OnPremisesDN {
		case drifted.DN:
			o.ProxyAddresses = append(o.ProxyAddresses, "smtp:old-drifted@contoso.com")
		case vendor.DN:
			o.Kind = cloud.KindUser
		}
	}
	a.Objects = append(a.Objects, newbie)
	return build(t, a, c, Options{})
}

func renderVerbose(t testing.TB, p Plan) string {
	t.Helper()
	var buf bytes.Buffer
	if err := p.RenderVerbose(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestRenderGolden(t *testing.T) {
	golden(t, "render.golden", render(t, renderFixture(t)))
}

// The verbose rendering is the detailed one hybridsync printed before the
// compact one: testdata/render-verbose.golden is that output, unchanged.
func TestRenderVerboseGolden(t *testing.T) {
	golden(t, "render-verbose.golden", renderVerbose(t, renderFixture(t)))
}

func TestRenderKindsGolden(t *testing.T) {
	p := kindsFixture(t)
	for _, k := range []FindingKind{MailNotPrimary, AddressDropped, DuplicateAddress, AddressDrift, UPNSecondaryByDesign,
		MissingInCloud, TypeMismatch} {
		if p.Summary.ByKind[k] == 0 {
			t.Errorf("the fixture has no %s finding: %q", k, kinds(p))
		}
	}
	golden(t, "render-kinds.golden", render(t, p))
	golden(t, "render-kinds-verbose.golden", renderVerbose(t, p))
}

// TestRenderCompactOnTheDefaultLabShape: the default lab's plan holds ten
// MailNotPrimary findings of one shape (a user whose proxyAddresses holds
// only an x500 value, its mail changed or about to): the compact rendering
// says what they mean once and gives each one line; the verbose rendering
// keeps every object's detail.
func TestRenderCompactOnTheDefaultLabShape(t *testing.T) {
	var users []*ad.Recipient
	for i := range 10 {
		alias := fmt.Sprintf("x500only%02d", i)
		users = append(users, user(fmt.Sprintf("X500 Only %02d", i), 10+i, alias+"@contoso.com", alias+"@contoso.com"))
	}
	a := license(adSnap(users...), users...)
	c := simulateSync(t, a, cloudSnap()) // synced with mail only
	for _, u := range users {
		// Exchange hybrid writes an x500 value back.
		u.ProxyAddresses = ad.ParseProxyAddresses([]string{"x500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=" + u.SAMAccountName})
	}
	c = simulateSync(t, a, c) // the cloud takes the x500 value and keeps its primary
	p := build(t, a, c, Options{})
	if n := p.Summary.ByKind[MailNotPrimary]; n != 10 || len(p.Findings) != 10 || len(p.Actions) != 10 {
		t.Fatalf("findings %q, %d actions; want 10 MailNotPrimary and 10 actions", kinds(p), len(p.Actions))
	}

	out := render(t, p)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	// The head (2 lines), the kind's explanation, fix and source (at most
	// 8), one line per object, the action count and the summary (4).
	if len(lines) > 10+14 {
		t.Errorf("compact rendering of 10 findings is %d lines, want at most 24:\n%s", len(lines), out)
	}
	if n := strings.Count(out, "Why: "); n != 1 {
		t.Errorf("the kind's explanation is printed %d times, want once:\n%s", n, out)
	}
	for _, u := range users {
		var line string
		for _, l := range lines {
			if strings.Contains(l, " "+u.Name+" ") {
				if line != "" {
					t.Errorf("%s is on two lines:\n%s\n%s", u.Name, line, l)
				}
				line = l
			}
		}
		want := []string{"warning", "mail " + u.Mail, "no SMTP: value (x500 only)", "cloud primary = mail", "~ fix: add SMTP:" + u.Mail}
		for _, w := range want {
			if !strings.Contains(line, w) {
				t.Errorf("the line of %s lacks %q: %q", u.Name, w, line)
			}
		}
		if strings.Contains(out, u.DN) {
			t.Errorf("the compact rendering prints the DN %s", u.DN)
		}
	}

	verbose := renderVerbose(t, p)
	for _, f := range p.Findings {
		for _, w := range []string{f.ObjectDN, f.Evidence, f.Explanation, f.Fix} {
			if !strings.Contains(verbose, w) {
				t.Errorf("the verbose rendering lacks %q", w)
			}
		}
	}
	if n := strings.Count(verbose, "\n"); n < 10*7 {
		t.Errorf("verbose rendering is %d lines, want every object's detail", n)
	}
}

// A plan read back from its JSON (plan -o, then apply) renders the same:
// the facts are in the JSON.
func TestRenderFromJSON(t *testing.T) {
	p := kindsFixture(t)
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Plan
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if got, want := render(t, back), render(t, p); got != want {
		t.Errorf("rendered from JSON:\n%s\nwant\n%s", got, want)
	}
}

// Every finding kind has its kind-level text, and every finding Build
// makes has facts its line is built from.
func TestEveryKindHasItsText(t *testing.T) {
	for _, k := range FindingKinds() {
		if doc := kindText(k); doc.explanation == "" || doc.fix == "" {
			t.Errorf("%s: no kind text", k)
		}
	}
	for _, f := range kindsFixture(t).Findings {
		if f.Facts.text() == nil || f.Name == "" {
			t.Errorf("%s %s: no facts or no name", f.Kind, f.ObjectDN)
		}
	}
}

func TestRenderNoChanges(t *testing.T) {
	u := user("Quiet", 1, "quiet@contoso.com", "quiet@contoso.com", "SMTP:quiet@contoso.com")
	a := adSnap(u)
	p := build(t, a, simulateSync(t, a, cloudSnap()), Options{})
	want := "AD read: complete. Cloud read: complete.\n\nNo changes. AD and the cloud agree.\nPlan: 0 to change, 0 findings (0 errors, 0 warnings, 0 info).\n"
	if got := render(t, p); got != want {
		t.Errorf("Render:\n%q\nwant\n%q", got, want)
	}
	if got := renderVerbose(t, p); got != want {
		t.Errorf("RenderVerbose:\n%q\nwant\n%q", got, want)
	}
}
