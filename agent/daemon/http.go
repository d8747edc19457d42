package daemon

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/agent/config"
	"github.com/hybridsync/hybridsync/agent/metrics"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

func (a *agent) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.HandleFunc("GET /status", a.status)
	return mux
}

// readyWindow is how recent the last successful read of each source must
// be for /readyz: two intervals (and a minute for a slow full read).
func (a *agent) readyWindow(cfg *config.Config) time.Duration {
	return 2*a.interval(cfg) + time.Minute
}

// readyz answers 200 when the last read of AD (and of the tenant, when
// the config has one) succeeded within readyWindow, 503 otherwise; the
// body says why for each source.
func (a *agent) readyz(w http.ResponseWriter, _ *http.Request) {
	cfg, _ := a.config()
	window := a.readyWindow(cfg)
	sources := []metrics.Source{metrics.SourceAD}
	if !cfg.Cloud.IsZero() {
		sources = append(sources, metrics.SourceCloud)
	}
	now := time.Now()
	ready := true
	var lines []string
	a.mu.Lock()
	for _, src := range sources {
		s := a.sources[src]
		switch {
		case s == nil:
			ready = false
			lines = append(lines, fmt.Sprintf("%s: not read yet", src))
		case !s.OK:
			ready = false
			lines = append(lines, fmt.Sprintf("%s: failing since %s: %s", src, s.LastAttempt.Format(time.RFC3339), s.Error))
		case now.Sub(s.LastSuccess) > window:
			ready = false
			lines = append(lines, fmt.Sprintf("%s: last success %s ago (more than %s)", src, now.Sub(s.LastSuccess).Round(time.Second), window))
		default:
			lines = append(lines, fmt.Sprintf("%s: ok (last success %s ago)", src, now.Sub(s.LastSuccess).Round(time.Second)))
		}
	}
	a.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, strings.Join(lines, "\n"))
}

// Status is /status's JSON document.
type Status struct {
	Version       string                   `json:"version"`
	Started       time.Time                `json:"started"`
	ConfigVersion string                   `json:"configVersion"`
	ConfigLoaded  time.Time                `json:"configLoaded"`
	LastReload    reloadStatus             `json:"lastReload"`
	Mode          string                   `json:"mode"`
	Staging       bool                     `json:"staging"`
	Sources       map[string]sourceStatus  `json:"sources"`
	LastRuns      []runStatus              `json:"lastRuns"`
	Findings      map[plan.FindingKind]int `json:"pendingFindings"`
	Actions       int                      `json:"pendingActions"`
	JournalIntent int                      `json:"journalIntentsPending"`
	// Migrations says where each configured migration (and each
	// unfinished one no longer configured) is.
	Migrations []MigrationStatus `json:"migrations"`
}

func (a *agent) status(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	st := Status{
		Version: a.opts.Version, Started: a.started, ConfigVersion: a.version, ConfigLoaded: a.loadedAt,
		LastReload: a.lastReload, Mode: a.cfg.Reconcile.Mode, Staging: a.cfg.Staging,
		Sources: map[string]sourceStatus{}, LastRuns: slices.Clone(a.runs),
		Findings: map[plan.FindingKind]int{}, Actions: a.actions, JournalIntent: a.pending,
		Migrations: slices.Clone(a.migrationRows),
	}
	if st.Migrations == nil {
		st.Migrations = []MigrationStatus{}
		for _, g := range a.cfg.Migrations.Groups {
			st.Migrations = append(st.Migrations, MigrationStatus{Group: g.Group, State: string(metrics.MigrationPending), Status: "pending"})
		}
	}
	for src, s := range a.sources {
		st.Sources[string(src)] = *s
	}
	for k, n := range a.findings {
		st.Findings[k] = n
	}
	a.mu.Unlock()
	slices.Reverse(st.LastRuns) // newest first
	if st.LastRuns == nil {
		st.LastRuns = []runStatus{}
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(st)
}
