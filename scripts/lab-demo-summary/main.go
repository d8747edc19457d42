// Command lab-demo-summary prints what scripts/lab-demo.sh did on the lab:
// the findings of the plan before and after, the fixes applied and
// verified, and the journal entries of the apply run. It reads the JSON
// that hybridsync wrote into DIR:
//
//	plan-before.json  hybridsync plan -o, before apply
//	apply.json        hybridsync apply --json
//	journal.json      hybridsync journal list --run RUN --json
//	plan-after.json   hybridsync plan -o, after apply and one sync cycle
//	migrate-status.json  hybridsync migrate status --json, after the
//	                  migration (optional)
//
// It exits 1 when a finding that apply fixed is still in the second plan,
// the second plan still proposes fixes, or a listed group is not migrated,
// and 2 when a file cannot be read.
//
//	go run ./scripts/lab-demo-summary DIR
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/reconcile/apply"
	"github.com/hybridsync/hybridsync/reconcile/journal"
	"github.com/hybridsync/hybridsync/reconcile/migrate"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// applyReport is the part of `hybridsync apply --json` the summary reads.
type applyReport struct {
	RunID         string               `json:"runID"`
	Outcomes      []apply.Outcome      `json:"outcomes"`
	Verifications []apply.Verification `json:"verifications"`
}

// groupStatus is one row of `hybridsync migrate status --json`.
type groupStatus struct {
	Group string        `json:"group"`
	State string        `json:"state"`
	Saga  *migrate.Saga `json:"saga,omitempty"`
}

// demoRun is what the demo's commands wrote.
type demoRun struct {
	before, after plan.Plan
	applied       applyReport
	entries       []journal.Entry
	// migrations is nil when the demo did not migrate.
	migrations []groupStatus
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/lab-demo-summary DIR")
		os.Exit(2)
	}
	run, err := load(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "lab-demo-summary: %v\n", err)
		os.Exit(2)
	}
	if err := summarise(os.Stdout, run); err != nil {
		fmt.Fprintf(os.Stderr, "lab-demo: %v\n", err)
		os.Exit(1)
	}
}

func load(dir string) (demoRun, error) {
	var r demoRun
	for name, v := range map[string]any{
		"plan-before.json": &r.before,
		"apply.json":       &r.applied,
		"journal.json":     &r.entries,
		"plan-after.json":  &r.after,
	} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return r, err
		}
		if err := json.Unmarshal(b, v); err != nil {
			return r, fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
		}
	}
	name := filepath.Join(dir, "migrate-status.json")
	b, err := os.ReadFile(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return r, nil
	case err != nil:
		return r, err
	}
	r.migrations = []groupStatus{}
	if err := json.Unmarshal(b, &r.migrations); err != nil {
		return r, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}

// findingKey identifies a finding of one kind on one object across plans.
type findingKey struct {
	kind   plan.FindingKind
	object string // objectGUID, or the DN's key when there is none
}

func keyOf(f plan.Finding) findingKey {
	if f.ObjectGUID != "" {
		return findingKey{f.Kind, strings.ToLower(f.ObjectGUID)}
	}
	return findingKey{f.Kind, plan.DNKey(f.ObjectDN)}
}

// summarise writes the summary and returns an error when the second plan
// still shows a finding that apply fixed, or still proposes fixes.
func summarise(w io.Writer, r demoRun) error {
	fmt.Fprintf(w, "Findings before:  %s; fixes proposed: %d\n", countByKind(r.before.Findings), len(r.before.Actions))

	applied := map[string]bool{} // objectGUIDs whose fix apply wrote
	for _, o := range r.applied.Outcomes {
		if o.Result == apply.Applied {
			applied[strings.ToLower(o.Action.ObjectGUID)] = true
		}
	}
	verified := 0
	for _, v := range r.applied.Verifications {
		if v.Verified {
			verified++
		}
	}
	fmt.Fprintf(w, "Fixes applied:    %d of %d (run %s); verified in the tenant: %d\n", len(applied), len(r.applied.Outcomes), r.applied.RunID, verified)

	states := map[journal.State]int{}
	var order []journal.State
	for _, e := range r.entries {
		if states[e.State] == 0 {
			order = append(order, e.State)
		}
		states[e.State]++
	}
	var parts []string
	for _, s := range order {
		parts = append(parts, fmt.Sprintf("%d %s", states[s], s))
	}
	fmt.Fprintf(w, "Journal entries:  %d for the run (%s)\n", len(r.entries), orNone(strings.Join(parts, ", ")))

	fmt.Fprintf(w, "Findings after:   %s; fixes proposed: %d\n", countByKind(r.after.Findings), len(r.after.Actions))

	// The findings whose object apply fixed, and those of them still there.
	fixed := map[findingKey]plan.Finding{}
	for _, f := range r.before.Findings {
		if f.Action != nil && applied[strings.ToLower(f.Action.ObjectGUID)] {
			fixed[keyOf(f)] = f
		}
	}
	var still, gone []plan.Finding
	stillKeys := map[findingKey]bool{}
	for _, f := range r.after.Findings {
		if _, ok := fixed[keyOf(f)]; ok {
			still = append(still, f)
			stillKeys[keyOf(f)] = true
		}
	}
	for k, f := range fixed {
		if !stillKeys[k] {
			gone = append(gone, f)
		}
	}
	fmt.Fprintf(w, "Fixed and gone:   %s\n", countByKind(gone))
	if len(r.after.Findings) > 0 && len(r.after.Actions) == 0 {
		fmt.Fprintf(w, "Left to an admin: %d findings with no automatic fix (each names its fix in the plan)\n", len(r.after.Findings))
	}

	var problems []string
	for _, g := range r.migrations {
		sg := g.Saga
		if sg == nil || sg.State != migrate.StateMigrated {
			fmt.Fprintf(w, "Migration:        %s: %s\n", g.Group, g.State)
			problems = append(problems, fmt.Sprintf("%s is not migrated: %s", g.Group, g.State))
			continue
		}
		name := g.Group
		if sg.Capture != nil && sg.Capture.Primary != "" {
			name = sg.Capture.Primary
		}
		fmt.Fprintf(w, "Migration:        %s: migrated by %s (%s), %d sync cycles waited for (%s waiting)\n",
			name, sg.Method, sg.Reason, sg.Made.SyncCycles, sg.Made.Waited.Round(100*time.Millisecond))
	}
	for _, f := range still {
		problems = append(problems, fmt.Sprintf("%s on %s is still in the second plan although apply fixed it", f.Kind, f.ObjectDN))
	}
	if n := len(r.after.Actions); n > 0 {
		problems = append(problems, fmt.Sprintf("the second plan still proposes %d fixes", n))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "\nlab-demo: "))
	}
	return nil
}

// countByKind is "41 (MailNotPrimary 10, AddressDropped 31)" in the
// plan's order of kinds, or "none".
func countByKind(fs []plan.Finding) string {
	n := map[plan.FindingKind]int{}
	for _, f := range fs {
		n[f.Kind]++
	}
	var parts []string
	for _, k := range plan.FindingKinds() {
		if n[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, n[k]))
			delete(n, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(n)) { // kinds this build does not know
		parts = append(parts, fmt.Sprintf("%s %d", k, n[k]))
	}
	if len(fs) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d (%s)", len(fs), strings.Join(parts, ", "))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
