package metrics

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/migrate"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

var update = flag.Bool("update", false, "rewrite testdata/metrics.golden from the current output")

// t0 is the fixed time the tests record events at.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// exercise records every metric at least once, with fixed values, so the
// exposition is the same on every run.
func exercise(m *Metrics) {
	m.ConfigReloaded(false, t0)
	m.ConfigReloaded(true, t0.Add(time.Minute))

	m.SetReconcileInterval(5 * time.Minute)
	m.ReconcileRun(RunFull, RunSuccess, t0, t0.Add(90*time.Second))
	m.ReconcileRun(RunIncremental, RunFailure, t0, t0.Add(3*time.Second))
	m.ReconcileRun(RunIncremental, RunRefused, t0, t0.Add(2*time.Second))
	m.SetObjectsRead(RunFull, SourceAD, ObjectUser, 1200)
	m.SetObjectsRead(RunFull, SourceAD, ObjectGroup, 80)
	m.SetObjectsRead(RunFull, SourceCloud, ObjectContact, 15)
	m.SetObjectsRead(RunIncremental, SourceCloud, ObjectUser, 3)
	m.SetFindings([]plan.Finding{
		{Kind: plan.MailNotPrimary, Severity: plan.SeverityError},
		{Kind: plan.MailNotPrimary, Severity: plan.SeverityError},
		{Kind: plan.AddressDrift, Severity: plan.SeverityWarning},
	})
	m.SetActionsPending(2)
	m.ActionApplied("applied")
	m.ActionApplied("applied")
	m.ActionApplied("stale")
	m.ActionApplied("unknown")

	m.ObserveLDAP("ad.Search", "success", 250*time.Millisecond)
	m.ObserveLDAP("ad.Modify", retry.Conflict.String(), 20*time.Millisecond)
	m.ObserveGraph("List user", "success", 1500*time.Millisecond)
	m.ObserveGraph("MembersBatch", "retryable", 400*time.Millisecond)
	m.ObserveGraph("Get group", "throttled", 30*time.Millisecond)
	m.ObserveExchange("Get-Recipient", "success", 2*time.Second)
	m.ObserveExchange("Set-DistributionGroup", "throttled", 100*time.Millisecond)
	if onRetry := m.RetryObserver(SubsystemGraph); onRetry != nil { // nil on a nil *Metrics
		onRetry(1, time.Second, errors.New("HTTP 429"))
	}

	m.SetJournalPending(1, t0.Add(-20*time.Minute))
	m.SetSourceUp(SourceAD, true, t0)
	m.SetSourceUp(SourceCloud, false, t0)

	m.SetMigrations(map[MigrationState]int{MigrationState(migrate.StateWaiting): 1, MigrationState(migrate.StateMigrated): 4, MigrationOverdue: 1})
	obs := m.MigrationObserver()
	obs.Step(migrate.MethodRecreate, migrate.StepTakeAddresses, "done", 42*time.Second)
	obs.Step(migrate.MethodRecreate, migrate.StepMove, "failed", time.Second)
	obs.Step(migrate.MethodRecreate, migrate.StepCreate, "compensated", time.Second)
	obs.SyncWait(migrate.StepAwaitTwinDeleted, 90*time.Second, false)
}

// exposition gathers m's registry in the text format, without the go_ and
// process_ families (their values change from run to run).
func exposition(t *testing.T, m *Metrics) string {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if name := mf.GetName(); strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			continue
		}
		if err := enc.Encode(mf); err != nil {
			t.Fatalf("Encode %s: %v", mf.GetName(), err)
		}
	}
	return buf.String()
}

func TestGolden(t *testing.T) {
	m := New(BuildInfo{Version: "1.2.3", Revision: "abcdef0", GoVersion: "go1.26.8"})
	exercise(m)
	got := exposition(t, m)
	golden := filepath.Join("testdata", "metrics.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./agent/metrics/ -run TestGolden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("exposition differs from %s (re-run with -update if the change is intended):\n%s", golden, lineDiff(string(want), got))
	}
}

// lineDiff lists the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for _, l := range w {
		if !slices.Contains(g, l) {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	return b.String()
}

// TestEveryMetricExercised guards the golden test: each hybridsync_ family
// must have a series that exercise changed from its starting value, so a
// metric added without a line in exercise fails here.
func TestEveryMetricExercised(t *testing.T) {
	fresh := families(t, New(BuildInfo{}))
	m := New(BuildInfo{})
	exercise(m)
	for name, mf := range families(t, m) {
		if !strings.HasPrefix(name, "hybridsync_") || name == "hybridsync_build_info" {
			continue
		}
		before, ok := fresh[name]
		if !ok {
			continue // no series before: exercise created them
		}
		if sum(mf) == sum(before) && len(mf.GetMetric()) == len(before.GetMetric()) {
			t.Errorf("%s is not exercised", name)
		}
	}
	names := registeredNames(t, m)
	for _, want := range []string{"hybridsync_build_info", "hybridsync_ldap_request_duration_seconds", "hybridsync_migrations"} {
		if !names[want] {
			t.Errorf("%s missing from the registry", want)
		}
	}
}

func families(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// sum adds up every value of a family, so that any change shows.
func sum(mf *dto.MetricFamily) float64 {
	var s float64
	for _, m := range mf.GetMetric() {
		s += m.GetCounter().GetValue() + m.GetGauge().GetValue() +
			float64(m.GetHistogram().GetSampleCount()) + m.GetHistogram().GetSampleSum()
	}
	return s
}

// registeredNames returns the sample names m exposes once exercised: each
// family's name, and for histograms and summaries the _bucket, _sum and
// _count series.
func registeredNames(t *testing.T, m *Metrics) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for name, mf := range families(t, m) {
		out[name] = true
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM:
			out[name+"_bucket"], out[name+"_sum"], out[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			out[name+"_sum"], out[name+"_count"] = true, true
		}
	}
	return out
}

// promtool returns the path of promtool, skipping the test when it is
// missing unless HYBRIDSYNC_REQUIRE_LAB=1 (then the test fails).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("HYBRIDSYNC_REQUIRE_LAB") == "1" {
			t.Fatalf("promtool not found and HYBRIDSYNC_REQUIRE_LAB=1: %v (install the prometheus package; scripts/setup-debian.sh does)", err)
		}
		t.Skipf("promtool not found: %v", err)
	}
	return p
}

// TestPromtoolCheckMetrics lints a live scrape of Handler, Go and process
// collectors included, with promtool check metrics: it must report nothing.
func TestPromtoolCheckMetrics(t *testing.T) {
	bin := promtool(t)
	m := New(BuildInfo{Version: "1.2.3", Revision: "abcdef0"})
	exercise(m)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"go_goroutines ", "process_start_time_seconds ", "hybridsync_build_info{"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestClampedLabels: values outside a label's fixed set are recorded as
// "other", so no caller can create series without bound.
func TestClampedLabels(t *testing.T) {
	m := New(BuildInfo{})
	for i := range 50 {
		op := fmt.Sprintf("ad.Search CN=user%d,DC=example,DC=com", i)
		m.ObserveLDAP(op, "success", time.Millisecond)
		m.ObserveLDAP("ad.Search", fmt.Sprintf("weird-%d", i), time.Millisecond)
		m.ObserveGraph(fmt.Sprintf("Get user%d", i), "success", time.Millisecond)
		m.ObserveExchange(fmt.Sprintf("Set-Mailbox-%d", i), "throttled", time.Millisecond)
		m.RetryObserver(fmt.Sprintf("sub%d", i))(1, time.Second, nil)
		m.MigrationObserver().Step(migrate.Method(fmt.Sprintf("m%d", i)), migrate.Step(fmt.Sprintf("step%d", i)), "done", time.Second)
		m.SetSourceUp(Source(fmt.Sprintf("dc%d.example.com", i)), true, t0)
		m.SetObjectsRead(RunKind(fmt.Sprintf("run%d", i)), Source("ldap://x"), ObjectKind("printer"), 1)
		m.ReconcileRun(RunKind("partial"), RunResult("maybe"), t0, t0)
		m.ActionApplied(fmt.Sprintf("CN=user%d failed", i))
	}
	m.SetFindings([]plan.Finding{{Kind: "NewKind", Severity: "fatal"}, {Kind: plan.LargeObject, Severity: "fatal"}})
	m.SetMigrations(map[MigrationState]int{"paused": 2, "stuck": 1})

	checks := []struct {
		family string
		want   []string // label sets (name=value,...) of series that must exist
		max    int      // at most this many series
	}{
		{"hybridsync_ldap_requests_total", []string{"operation=other,result=success", "operation=ad.Search,result=other"}, 2},
		{"hybridsync_cloud_requests_total", []string{"api=graph,operation=other,result=success", "api=exchange,operation=other,result=throttled"}, 2},
		{"hybridsync_cloud_throttled_requests_total", []string{"api=exchange"}, 2},
		{"hybridsync_retries_total", []string{"subsystem=other"}, len(subsystems()) + 1},
		{"hybridsync_migration_step_duration_seconds", []string{"method=other,step=other"}, 1},
		{"hybridsync_source_up", []string{"source=other"}, 1},
		{"hybridsync_source_last_success_timestamp_seconds", []string{"source=other"}, 1},
		{"hybridsync_reconcile_objects_read", []string{"kind=other,run=other,source=other"}, 1},
		{"hybridsync_reconcile_runs_total", []string{"kind=other,result=other"}, len(runKinds())*len(runResults()) + 1},
		{"hybridsync_reconcile_findings", []string{"kind=other,severity=other", "kind=LargeObject,severity=other"}, len(plan.FindingKinds())*len(severities()) + 2},
		{"hybridsync_migrations", []string{"state=other"}, len(migrationStates()) + 1},
		{"hybridsync_reconcile_actions_applied_total", []string{"result=other"}, len(actionResults()) + 1},
	}
	fams := families(t, m)
	for _, c := range checks {
		mf := fams[c.family]
		if mf == nil {
			t.Errorf("%s: no series", c.family)
			continue
		}
		got := map[string]bool{}
		for _, s := range mf.GetMetric() {
			var parts []string
			for _, lp := range s.GetLabel() {
				parts = append(parts, lp.GetName()+"="+lp.GetValue())
			}
			got[strings.Join(parts, ",")] = true
		}
		for _, w := range c.want {
			if !got[w] {
				t.Errorf("%s: no series {%s}; have %v", c.family, w, keys(got))
			}
		}
		if len(got) > c.max {
			t.Errorf("%s: %d series, want at most %d: %v", c.family, len(got), c.max, keys(got))
		}
	}
	// Unknown values are added up, not dropped.
	if v := fams["hybridsync_migrations"]; v != nil {
		for _, s := range v.GetMetric() {
			if s.GetLabel()[0].GetValue() == Other && s.GetGauge().GetValue() != 3 {
				t.Errorf(`hybridsync_migrations{state="other"} = %v, want 3`, s.GetGauge().GetValue())
			}
		}
	}

	// A later plan without unknown findings removes the "other" series.
	m.SetFindings(nil)
	m.SetMigrations(nil)
	fams = families(t, m)
	if n := len(fams["hybridsync_reconcile_findings"].GetMetric()); n != len(plan.FindingKinds())*len(severities()) {
		t.Errorf("findings after an empty plan: %d series, want %d", n, len(plan.FindingKinds())*len(severities()))
	}
	if n := len(fams["hybridsync_migrations"].GetMetric()); n != len(migrationStates()) {
		t.Errorf("migrations after SetMigrations(nil): %d series, want %d", n, len(migrationStates()))
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestKnownOperationsKeepTheirName: every operation the clients report is
// its own label value, not "other".
func TestKnownOperationsKeepTheirName(t *testing.T) {
	m := New(BuildInfo{})
	for _, op := range ldapOperations() {
		if got := m.labels.ldapOps.clamp(op); got != op {
			t.Errorf("LDAP %q -> %q", op, got)
		}
	}
	for _, op := range []string{"List user", "Get orgContact", "Delta group", "MembersBatch"} {
		if got := m.labels.graphOps.clamp(op); got != op {
			t.Errorf("Graph %q -> %q", op, got)
		}
	}
	for _, r := range []string{"success", "retryable", "conflict", "not_found", "terminal", "unknown", "throttled"} {
		if got := m.labels.requestResults.clamp(r); got != r {
			t.Errorf("result %q -> %q", r, got)
		}
	}
}

// TestNilMetrics: a nil *Metrics records nothing and does not panic, so
// code under test can run without metrics.
func TestNilMetrics(t *testing.T) {
	var m *Metrics
	exercise(m)
	if m.RetryObserver(SubsystemAD) != nil {
		t.Error("RetryObserver on nil: want a nil func")
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("nil Handler: %d, want 404", rec.Code)
	}
}

// TestRegistriesAreIndependent: two Metrics never share state (no global
// registry).
func TestRegistriesAreIndependent(t *testing.T) {
	a, b := New(BuildInfo{}), New(BuildInfo{})
	a.SetActionsPending(7)
	if v := families(t, b)["hybridsync_reconcile_actions_pending"].GetMetric()[0].GetGauge().GetValue(); v != 0 {
		t.Errorf("b sees a's value %v", v)
	}
}

// TestJournalOldestResets: the oldest-pending timestamp is 0 when nothing
// is pending.
func TestJournalOldestResets(t *testing.T) {
	m := New(BuildInfo{})
	m.SetJournalPending(2, t0)
	m.SetJournalPending(0, t0)
	if v := families(t, m)["hybridsync_journal_oldest_pending_intent_timestamp_seconds"].GetMetric()[0].GetGauge().GetValue(); v != 0 {
		t.Errorf("oldest = %v, want 0", v)
	}
}
