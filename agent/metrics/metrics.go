// Package metrics holds the agent's Prometheus metrics and serves them.
//
// New builds a Metrics with its own registry (never the global one) holding
// the Go and process collectors and every hybridsync_* metric; Handler
// serves that registry. The other methods are what the agent's parts call:
// ObserveLDAP, ObserveGraph and ObserveExchange have the signature of the
// Observe hooks of adldap.Config, graph.Config and exo.Config, and
// RetryObserver returns a retry.Policy.OnRetry.
//
// Names follow hybridsync_<subsystem>_<name>_<unit>: counters end in
// _total, durations are _seconds histograms, timestamps are Unix seconds.
// Every label has a fixed set of values; a value outside it (an unknown
// operation, a misspelt source) is recorded as "other" (see Other), so no
// bug can create series without bound. No label ever holds an address, DN,
// object name or id.
//
// Every method is safe for concurrent use, and every method of a nil
// *Metrics does nothing, so code can be run without metrics. docs/metrics.md
// lists the metrics; configs/prometheus and configs/grafana use them.
package metrics

import (
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hybridsync/hybridsync/reconcile/migrate"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

const namespace = "hybridsync"

// BuildInfo describes the running build, for hybridsync_build_info. Empty
// fields are reported as "unknown", except GoVersion, which defaults to
// runtime.Version().
type BuildInfo struct {
	Version   string
	Revision  string
	GoVersion string
}

// requestBuckets are the buckets, in seconds, of one LDAP, Graph or
// Exchange request: from a millisecond write to a page of 1000 entries, up
// to the longest request timeout the agent allows (10m).
func requestBuckets() []float64 {
	return []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 600}
}

// runBuckets are the buckets, in seconds, of one reconcile run: a few
// seconds for an incremental one, over an hour for a full run of a million
// objects.
func runBuckets() []float64 {
	return []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400}
}

// stepBuckets are the buckets, in seconds, of one migration step, waits
// for directory synchronisation and cloud deletion included.
func stepBuckets() []float64 {
	return []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200}
}

// Metrics is the agent's set of metrics and the registry that holds them.
// Build it with New.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler
	labels  labelSets
	// mu serialises the setters that write several series at once, so
	// that two of them cannot interleave.
	mu sync.Mutex

	configReloads          *prometheus.CounterVec
	configLastSuccess      prometheus.Gauge
	configLastSuccessful   prometheus.Gauge
	runs                   *prometheus.CounterVec
	runDuration            *prometheus.HistogramVec
	runLastSuccess         prometheus.Gauge
	runInterval            prometheus.Gauge
	objectsRead            *prometheus.GaugeVec
	findings               *prometheus.GaugeVec
	actionsPending         prometheus.Gauge
	actionsApplied         *prometheus.CounterVec
	ldapRequests           *prometheus.CounterVec
	ldapDuration           *prometheus.HistogramVec
	cloudRequests          *prometheus.CounterVec
	cloudDuration          *prometheus.HistogramVec
	cloudThrottled         *prometheus.CounterVec
	retries                *prometheus.CounterVec
	journalPending         prometheus.Gauge
	journalOldestPending   prometheus.Gauge
	sourceUp               *prometheus.GaugeVec
	sourceLastSuccess      *prometheus.GaugeVec
	migrations             *prometheus.GaugeVec
	migrationStepDurations *prometheus.HistogramVec
	migrationSyncWaits     *prometheus.CounterVec
	migrationSyncWaitTime  prometheus.Histogram
	migrationFailures      *prometheus.CounterVec
	migrationCompensations *prometheus.CounterVec
}

// New returns a Metrics whose registry holds the Go and process collectors,
// hybridsync_build_info for build and every metric of this package. Series
// with a fixed, always meaningful set of label values (run results,
// finding kinds, migration states...) start at 0 so dashboards and alerts
// see them before the first event; per-source and per-operation series
// appear when first recorded.
func New(build BuildInfo) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), labels: newLabelSets()}
	counter := func(subsystem, name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: subsystem, Name: name, Help: help}, labels)
	}
	gauge := func(subsystem, name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Subsystem: subsystem, Name: name, Help: help})
	}
	gaugeVec := func(subsystem, name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Subsystem: subsystem, Name: name, Help: help}, labels)
	}
	histogram := func(subsystem, name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Subsystem: subsystem, Name: name, Help: help, Buckets: buckets}, labels)
	}

	goVersion := build.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help: "Always 1; the labels describe the running build.",
		ConstLabels: prometheus.Labels{
			"version": orUnknown(build.Version), "revision": orUnknown(build.Revision), "goversion": goVersion,
		},
	})
	buildInfo.Set(1)

	m.configReloads = counter("config", "reloads_total",
		"Configuration loads (the first one included) by result: success or failure.", "result")
	m.configLastSuccess = gauge("config", "last_reload_success_timestamp_seconds",
		"Unix time of the last successful configuration load.")
	m.configLastSuccessful = gauge("config", "last_reload_successful",
		"1 if the last configuration load succeeded, 0 if it failed (the agent then runs on the previous configuration).")
	m.runs = counter("reconcile", "runs_total",
		"Reconcile runs by kind (full, incremental) and result (success, failure, refused).", "kind", "result")
	m.runDuration = histogram("reconcile", "run_duration_seconds",
		"Duration of reconcile runs of every result, by kind.", runBuckets(), "kind")
	m.runLastSuccess = gauge("reconcile", "last_success_timestamp_seconds",
		"Unix time at which the last successful reconcile run (of either kind) ended; 0 before the first.")
	m.runInterval = gauge("reconcile", "interval_seconds",
		"Configured time between scheduled reconcile runs; 0 when runs are not scheduled.")
	m.objectsRead = gaugeVec("reconcile", "objects_read",
		"Objects read by the last run of each kind (run: full, incremental), by source (ad, cloud) and object kind (user, group, contact).",
		"run", "source", "kind")
	m.findings = gaugeVec("reconcile", "findings",
		"Findings of the latest plan by finding kind and severity.", "kind", "severity")
	m.actionsPending = gauge("reconcile", "actions_pending",
		"Actions of the latest plan not yet applied.")
	m.actionsApplied = counter("reconcile", "actions_applied_total",
		"Actions of a plan by what became of them (applied, stale, refused, not_applied, superseded, unknown, skipped, held).", "result")
	m.ldapRequests = counter("ldap", "requests_total",
		"LDAP requests by operation and result (success or the retry class of the failure).", "operation", "result")
	m.ldapDuration = histogram("ldap", "request_duration_seconds",
		"Duration of LDAP requests by operation.", requestBuckets(), "operation")
	m.cloudRequests = counter("cloud", "requests_total",
		"Microsoft Graph and Exchange Online requests by api (graph, exchange), operation and result (success, throttled or the retry class of the failure).",
		"api", "operation", "result")
	m.cloudDuration = histogram("cloud", "request_duration_seconds",
		"Duration of Microsoft Graph and Exchange Online requests by api and operation.", requestBuckets(), "api", "operation")
	m.cloudThrottled = counter("cloud", "throttled_requests_total",
		"Requests the cloud refused for throttling, by api.", "api")
	m.retries = counter("", "retries_total",
		"Retries (waits before another attempt) by subsystem (ad, graph, exchange).", "subsystem")
	m.journalPending = gauge("journal", "intents_pending",
		"Journal entries whose outcome is unknown (the write may or may not have happened).")
	m.journalOldestPending = gauge("journal", "oldest_pending_intent_timestamp_seconds",
		"Unix time at which the oldest pending journal entry was begun; 0 when none is pending.")
	m.sourceUp = gaugeVec("source", "up",
		"1 if the last attempt to reach the source (ad, cloud) succeeded, 0 if it failed.", "source")
	m.sourceLastSuccess = gaugeVec("source", "last_success_timestamp_seconds",
		"Unix time of the last successful attempt to reach the source.", "source")
	m.migrations = gaugeVec("", "migrations",
		"Configured distribution-list migrations (and unfinished ones no longer configured) by state.", "state")
	m.migrationStepDurations = histogram("migration", "step_duration_seconds",
		"Duration of the distribution-list migration steps done, by method and step.", stepBuckets(), "method", "step")
	m.migrationSyncWaits = counter("migration", "sync_waits_total",
		"Waits of a migration for a sync cycle by result: satisfied, or timeout (past the configured wait).", "result")
	m.migrationSyncWaitTime = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "migration",
		Name: "sync_wait_duration_seconds", Help: "How long migrations waited for sync cycles (satisfied waits and timeouts).", Buckets: stepBuckets()})
	m.migrationFailures = counter("migration", "failures_total",
		"Migration steps that failed for good (the saga then compensates), by step.", "step")
	m.migrationCompensations = counter("migration", "compensations_total",
		"Migration steps undone by a compensation or a rollback, by step.", "step")

	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
		m.configReloads, m.configLastSuccess, m.configLastSuccessful,
		m.runs, m.runDuration, m.runLastSuccess, m.runInterval, m.objectsRead,
		m.findings, m.actionsPending, m.actionsApplied,
		m.ldapRequests, m.ldapDuration,
		m.cloudRequests, m.cloudDuration, m.cloudThrottled, m.retries,
		m.journalPending, m.journalOldestPending,
		m.sourceUp, m.sourceLastSuccess,
		m.migrations, m.migrationStepDurations, m.migrationSyncWaits, m.migrationSyncWaitTime,
		m.migrationFailures, m.migrationCompensations,
	)

	// Series that exist from the start.
	for _, r := range []string{"success", "failure"} {
		m.configReloads.WithLabelValues(r)
	}
	for _, k := range runKinds() {
		for _, r := range runResults() {
			m.runs.WithLabelValues(string(k), string(r))
		}
		m.runDuration.WithLabelValues(string(k))
	}
	for _, k := range plan.FindingKinds() {
		for _, s := range severities() {
			m.findings.WithLabelValues(string(k), string(s))
		}
	}
	for _, r := range actionResults() {
		m.actionsApplied.WithLabelValues(r)
	}
	for _, a := range apis() {
		m.cloudThrottled.WithLabelValues(a)
	}
	for _, s := range subsystems() {
		m.retries.WithLabelValues(s)
	}
	for _, s := range migrationStates() {
		m.migrations.WithLabelValues(string(s))
	}
	for _, r := range []string{"satisfied", "timeout"} {
		m.migrationSyncWaits.WithLabelValues(r)
	}

	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return m
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Handler serves the registry in the Prometheus exposition formats. The
// same handler is returned on every call; on a nil *Metrics it answers 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return m.handler
}

// ConfigReloaded records one configuration load at time at: ok says
// whether it succeeded. Call it for the first load too.
func (m *Metrics) ConfigReloaded(ok bool, at time.Time) {
	if m == nil {
		return
	}
	if !ok {
		m.configReloads.WithLabelValues("failure").Inc()
		m.configLastSuccessful.Set(0)
		return
	}
	m.configReloads.WithLabelValues("success").Inc()
	m.configLastSuccessful.Set(1)
	m.configLastSuccess.Set(unix(at))
}

// ReconcileRun records one reconcile run that started at start and ended
// at end. A successful run also sets the last-success timestamp to end.
func (m *Metrics) ReconcileRun(kind RunKind, result RunResult, start, end time.Time) {
	if m == nil {
		return
	}
	k := m.labels.runKinds.clamp(string(kind))
	r := m.labels.runResults.clamp(string(result))
	m.runs.WithLabelValues(k, r).Inc()
	m.runDuration.WithLabelValues(k).Observe(max(end.Sub(start).Seconds(), 0))
	if r == string(RunSuccess) {
		m.runLastSuccess.Set(unix(end))
	}
}

// SetReconcileInterval records the configured time between scheduled runs,
// the shortest one (the config's reconcile.interval, between incremental
// runs); 0 means runs are not scheduled. The alert on missing successes
// compares the time since the last success with twice this.
func (m *Metrics) SetReconcileInterval(d time.Duration) {
	if m == nil {
		return
	}
	m.runInterval.Set(max(d.Seconds(), 0))
}

// SetObjectsRead records that the last run of kind run read n objects of
// kind from source. Each run kind keeps its own series: an incremental run
// reads only what changed, a full run everything in scope.
func (m *Metrics) SetObjectsRead(run RunKind, source Source, kind ObjectKind, n int) {
	if m == nil {
		return
	}
	m.objectsRead.WithLabelValues(m.labels.runKinds.clamp(string(run)),
		m.labels.sources.clamp(string(source)), m.labels.objectKinds.clamp(string(kind))).Set(float64(n))
}

// SetFindings replaces the findings gauge with the counts of the latest
// plan's findings by kind and severity. Every known kind and severity is
// set, to 0 when absent; unknown ones are counted under "other".
func (m *Metrics) SetFindings(findings []plan.Finding) {
	if m == nil {
		return
	}
	type key struct{ kind, severity string }
	counts := map[key]int{}
	for _, f := range findings {
		counts[key{m.labels.findingKinds.clamp(string(f.Kind)), m.labels.severities.clamp(string(f.Severity))}]++
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	kinds := append(plan.FindingKinds(), Other)
	sevs := append(severities(), Other)
	for _, k := range kinds {
		for _, s := range sevs {
			kk := key{string(k), string(s)}
			if n := counts[kk]; n > 0 || (kk.kind != Other && kk.severity != Other) {
				m.findings.WithLabelValues(kk.kind, kk.severity).Set(float64(n))
			} else {
				m.findings.DeleteLabelValues(kk.kind, kk.severity)
			}
		}
	}
}

// SetActionsPending records how many actions of the latest plan are not
// applied yet.
func (m *Metrics) SetActionsPending(n int) {
	if m == nil {
		return
	}
	m.actionsPending.Set(float64(n))
}

// ActionApplied records what became of one action of a plan: result is a
// reconcile/apply Result ("applied", "stale", "refused", "not_applied",
// "superseded", "unknown", "skipped"); other values count as "other".
func (m *Metrics) ActionApplied(result string) {
	if m == nil {
		return
	}
	m.actionsApplied.WithLabelValues(m.labels.actionResults.clamp(result)).Inc()
}

// ObserveLDAP records one LDAP request; it has the signature of
// adldap.Config.Observe. op is clamped to the operations adldap.Client reports,
// result to "success" and the retry classes.
func (m *Metrics) ObserveLDAP(op, result string, d time.Duration) {
	if m == nil {
		return
	}
	op = m.labels.ldapOps.clamp(op)
	m.ldapRequests.WithLabelValues(op, m.labels.requestResults.clamp(result)).Inc()
	m.ldapDuration.WithLabelValues(op).Observe(max(d.Seconds(), 0))
}

// ObserveGraph records one Microsoft Graph request; it has the signature
// of graph.Config.Observe. A result of "throttled" also counts in
// hybridsync_cloud_throttled_requests_total.
func (m *Metrics) ObserveGraph(op, result string, d time.Duration) {
	if m == nil {
		return
	}
	m.observeCloud(apiGraph, m.labels.graphOps.clamp(op), result, d)
}

// ObserveExchange records one Exchange Online request; it has the
// signature of exo.Config.Observe (op is the cmdlet). A result of
// "throttled" also counts in hybridsync_cloud_throttled_requests_total.
func (m *Metrics) ObserveExchange(op, result string, d time.Duration) {
	if m == nil {
		return
	}
	m.observeCloud(apiExchange, m.labels.exchangeOps.clamp(op), result, d)
}

func (m *Metrics) observeCloud(api, op, result string, d time.Duration) {
	result = m.labels.requestResults.clamp(result)
	m.cloudRequests.WithLabelValues(api, op, result).Inc()
	m.cloudDuration.WithLabelValues(api, op).Observe(max(d.Seconds(), 0))
	if result == resultThrottled {
		m.cloudThrottled.WithLabelValues(api).Inc()
	}
}

// RetryObserver returns a function for retry.Policy.OnRetry that counts
// each retry of subsystem (SubsystemAD, SubsystemGraph, SubsystemExchange;
// others are counted as "other"). On a nil *Metrics it returns nil, which
// OnRetry allows.
func (m *Metrics) RetryObserver(subsystem string) func(attempt int, wait time.Duration, err error) {
	if m == nil {
		return nil
	}
	c := m.retries.WithLabelValues(m.labels.subsystems.clamp(subsystem))
	return func(int, time.Duration, error) { c.Inc() }
}

// SetJournalPending records the journal's pending intents: n of them, the
// oldest begun at oldest (ignored when n is 0; pass the zero time when
// unknown).
func (m *Metrics) SetJournalPending(n int, oldest time.Time) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.journalPending.Set(float64(n))
	if n == 0 {
		oldest = time.Time{}
	}
	m.journalOldestPending.Set(unix(oldest))
}

// SetSourceUp records an attempt at time at to reach source: up says
// whether it succeeded, and a success also sets the source's last-success
// timestamp. Call it only for the sources the configuration uses (an agent
// without a cloud section reports no cloud series).
func (m *Metrics) SetSourceUp(source Source, up bool, at time.Time) {
	if m == nil {
		return
	}
	s := m.labels.sources.clamp(string(source))
	if !up {
		m.sourceUp.WithLabelValues(s).Set(0)
		return
	}
	m.sourceUp.WithLabelValues(s).Set(1)
	m.sourceLastSuccess.WithLabelValues(s).Set(unix(at))
}

// SetMigrations replaces the migrations gauge with the count of migrations
// in each state; a known state missing from byState is set to 0, unknown
// states are added up under "other". For the migration work.
func (m *Metrics) SetMigrations(byState map[MigrationState]int) {
	if m == nil {
		return
	}
	counts := map[string]int{}
	for s, n := range byState {
		counts[m.labels.migrationStates.clamp(string(s))] += n
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range migrationStates() {
		m.migrations.WithLabelValues(string(s)).Set(float64(counts[string(s)]))
	}
	if n, ok := counts[Other]; ok {
		m.migrations.WithLabelValues(Other).Set(float64(n))
	} else {
		m.migrations.DeleteLabelValues(Other)
	}
}

// MigrationObserver returns the migration engine's observer that records
// its steps and sync waits.
func (m *Metrics) MigrationObserver() migrate.Observer {
	if m == nil {
		return migrate.Observer{
			Step:     func(migrate.Method, migrate.Step, string, time.Duration) {},
			SyncWait: func(migrate.Step, time.Duration, bool) {},
		}
	}
	return migrate.Observer{
		Step: func(method migrate.Method, st migrate.Step, outcome string, d time.Duration) {
			step := m.labels.migrationSteps.clamp(string(st))
			switch outcome {
			case "done":
				m.migrationStepDurations.WithLabelValues(m.labels.migrationMethods.clamp(string(method)), step).Observe(max(d.Seconds(), 0))
			case "failed":
				m.migrationFailures.WithLabelValues(step).Inc()
			case "compensated":
				m.migrationCompensations.WithLabelValues(step).Inc()
			}
		},
		SyncWait: func(_ migrate.Step, d time.Duration, timedOut bool) {
			result := "satisfied"
			if timedOut {
				result = "timeout"
			}
			m.migrationSyncWaits.WithLabelValues(result).Inc()
			m.migrationSyncWaitTime.Observe(max(d.Seconds(), 0))
		},
	}
}

// unix returns t as Unix seconds with sub-second precision, 0 for the zero
// time.
func unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
