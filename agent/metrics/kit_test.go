package metrics

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The monitoring kit checked here.
const (
	alertsFile     = "../../configs/prometheus/alerts.yml"
	alertTestsFile = "../../configs/prometheus/alerts_test.yml"
	dashboardFile  = "../../configs/grafana/hybridsync-dashboard.json"
)

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(promtool(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestPromtoolCheckRules(t *testing.T) {
	runPromtool(t, "check", "rules", alertsFile)
}

func TestPromtoolTestRules(t *testing.T) {
	runPromtool(t, "test", "rules", alertTestsFile)
}

type alertRule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadAlerts(t *testing.T) []alertRule {
	t.Helper()
	raw, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Name  string      `yaml:"name"`
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	var out []alertRule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no rules", alertsFile)
	}
	return out
}

// TestAlertRules: every alert has a severity and both annotations, uses only
// metrics the agent exposes (or up), and is unit-tested both firing and not
// firing in alerts_test.yml.
func TestAlertRules(t *testing.T) {
	known := exposedNames(t)
	rules := loadAlerts(t)

	raw, err := os.ReadFile(alertTestsFile)
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(raw, &tests); err != nil {
		t.Fatalf("%s: %v", alertTestsFile, err)
	}
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}

	for _, r := range rules {
		if r.Alert == "" {
			t.Errorf("recording rule %q in %s: the file holds alerts only", r.Record, alertsFile)
			continue
		}
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
		}
		for _, a := range []string{"summary", "description"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("%s: no %s annotation", r.Alert, a)
			}
		}
		names := metricNames(r.Expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric found in %q", r.Alert, r.Expr)
		}
		for _, n := range names {
			if !known[n] {
				t.Errorf("%s: metric %s is not exposed by the agent (expr %q)", r.Alert, n, r.Expr)
			}
		}
		if !firing[r.Alert] {
			t.Errorf("%s: %s has no test in which it fires", r.Alert, alertTestsFile)
		}
		if !quiet[r.Alert] {
			t.Errorf("%s: %s has no test in which it does not fire", r.Alert, alertTestsFile)
		}
	}
}

// dashPanel is the part of a Grafana panel the test reads.
type dashPanel struct {
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource *dashDatasource `json:"datasource"`
	Targets    []struct {
		Expr       string          `json:"expr"`
		Datasource *dashDatasource `json:"datasource"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"`
}

type dashDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// TestDashboard: the dashboard parses, takes its data source from the
// ${datasource} variable and has job and instance variables; every
// query is valid PromQL and uses only metrics the agent exposes; every
// hybridsync metric appears on some panel.
func TestDashboard(t *testing.T) {
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID           string      `json:"uid"`
		Title         string      `json:"title"`
		SchemaVersion int         `json:"schemaVersion"`
		Panels        []dashPanel `json:"panels"`
		Templating    struct {
			List []struct {
				Name       string          `json:"name"`
				Type       string          `json:"type"`
				Query      json.RawMessage `json:"query"`
				Datasource *dashDatasource `json:"datasource"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard needs a uid and a title")
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d, want 36 or later", d.SchemaVersion)
	}

	const dsVar = "${datasource}"
	checkDS := func(where string, ds *dashDatasource) {
		if ds == nil || ds.UID != dsVar {
			t.Errorf("%s: datasource %+v, want uid %s", where, ds, dsVar)
		}
	}
	var exprs []string // every query, variables included
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Type == "query" {
			checkDS("variable "+v.Name, v.Datasource)
			var q struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &q); err != nil {
				_ = json.Unmarshal(v.Query, &q.Query) // the older plain-string form
			}
			m := regexp.MustCompile(`^label_values\((.*),\s*\w+\)$`).FindStringSubmatch(strings.TrimSpace(q.Query))
			if m == nil {
				t.Errorf("variable %s: query %q is not label_values(<selector>, <label>)", v.Name, q.Query)
				continue
			}
			exprs = append(exprs, m[1])
		}
	}
	if vars["datasource"] != "datasource" {
		t.Errorf("no datasource variable of type datasource: %v", vars)
	}
	for _, v := range []string{"job", "instance"} {
		if vars[v] != "query" {
			t.Errorf("no %s query variable: %v", v, vars)
		}
	}

	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			checkDS(fmt.Sprintf("panel %q", p.Title), p.Datasource)
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				checkDS(fmt.Sprintf("panel %q query", p.Title), tg.Datasource)
				if !strings.Contains(tg.Expr, `job=~"$job"`) || !strings.Contains(tg.Expr, `instance=~"$instance"`) {
					t.Errorf("panel %q: query %q does not filter on $job and $instance", p.Title, tg.Expr)
				}
				exprs = append(exprs, tg.Expr)
			}
		}
	}
	walk(d.Panels)

	known := exposedNames(t)
	used := map[string]bool{}
	for _, e := range exprs {
		names := metricNames(e)
		if len(names) == 0 {
			t.Errorf("no metric found in %q", e)
		}
		for _, n := range names {
			used[n] = true
			if !known[n] {
				t.Errorf("metric %s is not exposed by the agent (query %q)", n, e)
			}
		}
	}
	m := New(BuildInfo{})
	exercise(m)
	for name := range families(t, m) {
		if !strings.HasPrefix(name, "hybridsync_") {
			continue
		}
		if !used[name] && !used[name+"_bucket"] && !used[name+"_sum"] && !used[name+"_count"] {
			t.Errorf("%s appears on no dashboard panel", name)
		}
	}

	// promtool validates the queries as PromQL: each becomes a recording
	// rule, with Grafana's variables replaced by plain values.
	subst := regexp.MustCompile(`\$\{?(\w+)\}?`)
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		q := subst.ReplaceAllStringFunc(e, func(v string) string {
			if strings.Contains(v, "__") {
				return "5m" // $__rate_interval, $__interval, $__range
			}
			return ".+"
		})
		enc, _ := json.Marshal(q) // a JSON string is a valid YAML scalar
		fmt.Fprintf(&b, "      - record: dashboard_query_%d\n        expr: %s\n", i, enc)
	}
	rules := filepath.Join(t.TempDir(), "dashboard_rules.yml")
	if err := os.WriteFile(rules, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, "check", "rules", rules)
}

// exposedNames is every sample name the agent's registry exposes (see
// registeredNames), plus up, which Prometheus adds to every scrape.
func exposedNames(t *testing.T) map[string]bool {
	t.Helper()
	m := New(BuildInfo{})
	exercise(m)
	names := registeredNames(t, m)
	names["up"] = true
	return names
}

var (
	promqlStrings  = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	promqlBraces   = regexp.MustCompile(`\{[^}]*\}`)
	promqlBrackets = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promqlKeywords = []string{"and", "or", "unless", "offset", "bool", "by", "without", "on", "ignoring",
		"group_left", "group_right", "atan2", "inf", "nan", "Inf", "NaN", "start", "end"}
)

// metricNames returns the metric names a PromQL expression selects. It is a
// small lexer, not a parser (promtool checks the syntax): it drops strings,
// label matchers, ranges and grouping clauses, then keeps the identifiers
// that are not keywords, function names (followed by "("), numbers' parts
// (1e3, the h of 6h) or Grafana variables.
func metricNames(expr string) []string {
	s := promqlStrings.ReplaceAllString(expr, `""`)
	s = promqlBraces.ReplaceAllString(s, " ")
	s = promqlBrackets.ReplaceAllString(s, " ")
	s = promqlGrouping.ReplaceAllString(s, " ")
	var out []string
	for _, loc := range promqlIdent.FindAllStringIndex(s, -1) {
		id := s[loc[0]:loc[1]]
		if loc[0] > 0 {
			if c := s[loc[0]-1]; c == '$' || c == '.' || (c >= '0' && c <= '9') {
				continue
			}
		}
		if slices.Contains(promqlKeywords, id) {
			continue
		}
		if rest := strings.TrimLeft(s[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // a function or an aggregation
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`up{job="hybridsync"} == 0`: {"up"},
		`absent(up{job="x"})`:       {"up"},
		`sum by (job, instance) (increase(hybridsync_reconcile_runs_total{result="failure"}[1h])) > 0 unless sum by (job) (increase(b_total[1h]))`: {"hybridsync_reconcile_runs_total", "b_total"},
		`time() - (a > 0 or process_start_time_seconds) > 2 * c`:                                                                                   {"a", "process_start_time_seconds", "c"},
		`1.2 * sum by (kind) (f{severity=~"error|warning"} offset 6h) + 1e3`:                                                                       {"f"},
		`histogram_quantile(0.95, sum by (le) (rate(x_bucket{a="{b}"}[$__rate_interval])))`:                                                        {"x_bucket"},
		`sum(rate(a[5m])) by (api) / on(api) group_left(x) b`:                                                                                      {"a", "b"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%q) = %v, want %v", expr, got, want)
		}
	}
}
