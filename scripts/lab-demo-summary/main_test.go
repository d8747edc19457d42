package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/reconcile/apply"
	"github.com/hybridsync/hybridsync/reconcile/journal"
	"github.com/hybridsync/hybridsync/reconcile/migrate"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

const (
	guidA = "fee0e8ee-6e3c-4fac-b998-21988c3d4650"
	guidB = "9c629b19-164b-4b62-aba2-4d26af5e241a"
	dnA   = "CN=A,OU=Users,DC=lab,DC=test"
	dnB   = "CN=B,OU=Users,DC=lab,DC=test"
)

func dualWrite(dn, guid string) *plan.Action {
	return &plan.Action{Kind: plan.ActionDualWritePrimary, ObjectDN: dn, ObjectGUID: guid, Attribute: "proxyAddresses", Add: []string{"SMTP:a@lab.test"}, Mail: "a@lab.test"}
}

// demo is a run in which apply fixed A's MailNotPrimary finding; B has a
// finding with no automatic fix. after is the second plan's findings.
func demo(after ...plan.Finding) demoRun {
	act := dualWrite(dnA, guidA)
	return demoRun{
		before: plan.Plan{
			Findings: []plan.Finding{
				{Kind: plan.MailNotPrimary, ObjectDN: dnA, ObjectGUID: guidA, Action: act},
				{Kind: plan.AddressDropped, ObjectDN: dnB, ObjectGUID: guidB},
			},
			Actions: []plan.Action{*act},
		},
		applied: applyReport{
			RunID:         "apply-20261203T101836Z",
			Outcomes:      []apply.Outcome{{Action: *act, Result: apply.Applied, EntryID: "e1"}},
			Verifications: []apply.Verification{{Action: *act, Verified: true}},
		},
		entries: []journal.Entry{{ID: "e1", RunID: "apply-20261203T101836Z", State: journal.Done}},
		after:   plan.Plan{Findings: after},
	}
}

func TestSummariseFixedFindingGone(t *testing.T) {
	var out strings.Builder
	err := summarise(&out, demo(plan.Finding{Kind: plan.AddressDropped, ObjectDN: dnB, ObjectGUID: guidB}))
	if err != nil {
		t.Fatalf("summarise: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"Findings before:  2 (MailNotPrimary 1, AddressDropped 1); fixes proposed: 1\n",
		"Fixes applied:    1 of 1 (run apply-20261203T101836Z); verified in the tenant: 1\n",
		"Journal entries:  1 for the run (1 done)\n",
		"Findings after:   1 (AddressDropped 1); fixes proposed: 0\n",
		"Fixed and gone:   1 (MailNotPrimary 1)\n",
		"Left to an admin: 1 findings with no automatic fix",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}

// A fixed finding still in the second plan (here under another DN case:
// the object is matched by objectGUID) fails the demo, naming it.
func TestSummariseFixedFindingStillThere(t *testing.T) {
	var out strings.Builder
	err := summarise(&out, demo(plan.Finding{Kind: plan.MailNotPrimary, ObjectDN: strings.ToLower(dnA), ObjectGUID: strings.ToUpper(guidA)}))
	if err == nil || !strings.Contains(err.Error(), "MailNotPrimary on "+strings.ToLower(dnA)+" is still in the second plan") {
		t.Fatalf("summarise: %v, want the finding still there named\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "Fixed and gone:   none\n") {
		t.Errorf("summary:\n%s", out.String())
	}
}

func TestSummariseSecondPlanProposesFixes(t *testing.T) {
	r := demo()
	r.after.Actions = []plan.Action{*dualWrite(dnB, guidB)}
	var out strings.Builder
	if err := summarise(&out, r); err == nil || !strings.Contains(err.Error(), "the second plan still proposes 1 fixes") {
		t.Fatalf("summarise: %v", err)
	}
}

// load reads the files the demo writes, in the commands' own JSON.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	want := demo()
	writeDemo(t, dir, want, nil)
	got, err := load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.applied.RunID != want.applied.RunID || len(got.applied.Outcomes) != 1 || got.applied.Outcomes[0].Result != apply.Applied ||
		len(got.before.Findings) != 2 || got.before.Findings[0].Action == nil || len(got.entries) != 1 || got.entries[0].State != journal.Done {
		t.Fatalf("load = %+v", got)
	}
	if err := os.Remove(filepath.Join(dir, "journal.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := load(dir); err == nil || !strings.Contains(err.Error(), "journal.json") {
		t.Fatalf("load without journal.json: %v", err)
	}
}

// The migration's line names the list, its path and its sync cycles; a
// listed group not migrated fails the demo, naming it.
func TestSummariseMigration(t *testing.T) {
	r := demo(plan.Finding{Kind: plan.AddressDropped, ObjectDN: dnB, ObjectGUID: guidB})
	done := &migrate.Saga{State: migrate.StateMigrated, Method: migrate.MethodRecreate, Reason: "method: recreate in the config"}
	done.Capture = &migrate.Capture{Primary: "announcements@lab.test"}
	done.Made.SyncCycles = 1
	r.migrations = []groupStatus{{Group: "{" + guidA + "}", State: "migrated", Saga: done}}
	var out strings.Builder
	if err := summarise(&out, r); err != nil {
		t.Fatalf("summarise: %v\n%s", err, out.String())
	}
	if want := "Migration:        announcements@lab.test: migrated by recreate (method: recreate in the config), 1 sync cycles waited for"; !strings.Contains(out.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, out.String())
	}
	r.migrations = append(r.migrations, groupStatus{Group: "{" + guidB + "}", State: "waiting too long for a sync cycle"})
	out.Reset()
	if err := summarise(&out, r); err == nil || !strings.Contains(err.Error(), "{"+guidB+"} is not migrated: waiting too long") {
		t.Fatalf("summarise with a group not migrated: %v\n%s", err, out.String())
	}
}

// migrate-status.json is optional; when present it is read.
func TestLoadMigrationStatus(t *testing.T) {
	dir := t.TempDir()
	writeDemo(t, dir, demo(), []groupStatus{{Group: "g@lab.test", State: "migrated", Saga: &migrate.Saga{State: migrate.StateMigrated}}})
	got, err := load(dir)
	if err != nil || len(got.migrations) != 1 || got.migrations[0].Saga == nil || got.migrations[0].Saga.State != migrate.StateMigrated {
		t.Fatalf("load = %+v, %v", got.migrations, err)
	}
	if err := os.Remove(filepath.Join(dir, "migrate-status.json")); err != nil {
		t.Fatal(err)
	}
	if got, err := load(dir); err != nil || got.migrations != nil {
		t.Fatalf("load without migrate-status.json: %+v, %v", got.migrations, err)
	}
}

// writeDemo writes r as the demo's commands would into dir, with
// migrate-status.json when migrations is not nil.
func writeDemo(t *testing.T, dir string, r demoRun, migrations []groupStatus) {
	t.Helper()
	files := map[string]any{
		"plan-before.json": r.before,
		"apply.json":       r.applied,
		"journal.json":     r.entries,
		"plan-after.json":  r.after,
	}
	if migrations != nil {
		files["migrate-status.json"] = migrations
	}
	for name, v := range files {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
