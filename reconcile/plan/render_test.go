package plan

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/hybridsync/hybridsync/cloud"
)

func renderFixture(t *testing.T) Plan {
	jane := user("Jane Doe", 1, "jane@contoso.com", "jane.doe@contoso.com", "SMTP:jdoe@contoso.com")
	a := license(adSnap(jane), jane)
	c := simulateSync(t, a, cloudSnap())
	c.Objects = append(c.Objects, &cloud.Object{Kind: cloud.KindGroup, ID: "g-old", DisplayName: "Old Team",
		OnPremisesSyncEnabled: true, OnPremisesImmutableID: "b2xkdGVhbQ==", OnPremisesDN: "CN=Old Team," + scopeOU})
	return build(t, a, c, Options{})
}

var update = flag.Bool("update", false, "rewrite testdata/render.golden")

func TestRenderGolden(t *testing.T) {
	got := render(t, renderFixture(t))
	path := filepath.Join("testdata", "render.golden")
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
		t.Errorf("Render:\n%s\nwant (%s):\n%s", got, path, want)
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
}
