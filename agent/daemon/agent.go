package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/agent/config"
	"github.com/hybridsync/hybridsync/agent/metrics"
	"github.com/hybridsync/hybridsync/agent/setup"
	"github.com/hybridsync/hybridsync/agent/snapshot"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/apply"
	"github.com/hybridsync/hybridsync/reconcile/journal"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// maxRuns is how many recent runs /status keeps.
const maxRuns = 10

// agent is one running agent. mu guards the fields from cfg to pending;
// the clients and the State belong to the scheduler goroutine alone.
type agent struct {
	opts Options
	log  *slog.Logger
	// stateDir is state_dir as the agent started: the instance lock is
	// held there, so a reload does not move it.
	stateDir string
	metrics  *metrics.Metrics
	started  time.Time
	// reloaded wakes the scheduler after a new config was taken.
	reloaded chan struct{}
	// rejected is the version of the last config file that did not load
	// (the watcher goroutine's own).
	rejected string

	mu         sync.Mutex
	cfg        *config.Config
	version    string
	loadedAt   time.Time
	lastReload reloadStatus
	sources    map[metrics.Source]*sourceStatus
	runs       []runStatus
	findings   map[plan.FindingKind]int
	actions    int
	pending    int
	// migrationRows are the migrations as the worker last saw them.
	migrationRows []MigrationStatus

	// Owned by the scheduler: rebuilt when the config changes or a read
	// fails.
	dir     *adldap.Client
	tenant  cloud.Tenant
	setup   *setup.Setup
	state   *snapshot.State
	clients string // config version the clients were built from
}

type reloadStatus struct {
	At    time.Time `json:"at"`
	OK    bool      `json:"ok"`
	Error string    `json:"error,omitempty"`
}

type sourceStatus struct {
	LastAttempt time.Time `json:"lastAttempt"`
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	OK          bool      `json:"ok"`
	Error       string    `json:"error,omitempty"`
}

type runStatus struct {
	Kind     metrics.RunKind   `json:"kind"`
	Started  time.Time         `json:"started"`
	Duration string            `json:"duration"`
	Result   metrics.RunResult `json:"result"`
	Reason   string            `json:"reason,omitempty"`
	Error    string            `json:"error,omitempty"`
	ADRead   int               `json:"adObjectsRead"`
	Cloud    int               `json:"cloudObjectsRead"`
	Findings int               `json:"findings"`
	Actions  int               `json:"actions"`
	Applied  int               `json:"applied,omitempty"`
}

func (a *agent) setConfig(cfg *config.Config, version string, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cfg, a.version, a.loadedAt = cfg, version, at
	a.lastReload = reloadStatus{At: at, OK: true}
	if a.sources == nil {
		a.sources = map[metrics.Source]*sourceStatus{}
	}
	if a.reloaded == nil {
		a.reloaded = make(chan struct{}, 1)
	}
	a.metrics.SetReconcileInterval(a.interval(cfg))
	if a.migrationRows == nil {
		// Until the migration worker has looked: every configured group
		// waits.
		a.metrics.SetMigrations(map[metrics.MigrationState]int{metrics.MigrationPending: len(cfg.Migrations.Groups)})
	}
}

func (a *agent) config() (*config.Config, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg, a.version
}

func (a *agent) interval(cfg *config.Config) time.Duration {
	if a.opts.Interval > 0 {
		return a.opts.Interval
	}
	return cfg.Reconcile.Interval.Duration
}

// reload re-reads the config file; a file that does not load leaves the
// running config in place.
func (a *agent) reload(why string) {
	_, old := a.config()
	if why != "SIGHUP" {
		// Report a rejected file once, not at every check.
		if v, err := fileVersion(a.opts.ConfigPath); err == nil && (v == old || v == a.rejected) {
			return
		}
	}
	cfg, version, err := load(a.opts.ConfigPath)
	now := time.Now()
	if err != nil {
		a.rejected = version // the files as load read them
		a.metrics.ConfigReloaded(false, now)
		a.mu.Lock()
		a.lastReload = reloadStatus{At: now, Error: err.Error()}
		a.mu.Unlock()
		a.log.Error("config: the new config is rejected; the running one stays", "trigger", why, "config_version", old, "error", err)
		return
	}
	if version == old {
		return
	}
	oldCfg, _ := a.config()
	if cfg.StateDir != oldCfg.StateDir || cfg.HTTP != oldCfg.HTTP {
		a.log.Warn("config: state_dir and http take effect at the next restart", "trigger", why)
	}
	cfg.StateDir = a.stateDir
	a.setConfig(cfg, version, now)
	a.metrics.ConfigReloaded(true, now)
	a.log.Info("config: reloaded", "trigger", why, "config_version", version, "previous_version", old, "mode", cfg.Reconcile.Mode)
	select {
	case a.reloaded <- struct{}{}:
	default:
	}
}

// watchConfig reloads on hup (SIGHUP) and when the file's content changes.
func (a *agent) watchConfig(ctx context.Context, hup <-chan os.Signal) {
	every := a.opts.ReloadEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			a.reload("SIGHUP")
		case <-t.C:
			a.reload("file changed")
		}
	}
}

// schedule runs reconciles until ctx ends, then closes its clients.
func (a *agent) schedule(ctx context.Context) {
	defer a.closeClients()
	failures := 0
	for ctx.Err() == nil {
		cfg, _ := a.config()
		err := a.runOnce(ctx)
		interval := a.interval(cfg)
		wait := jittered(interval, cfg.Reconcile.JitterFraction())
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			wait = a.backoff(interval, cfg.Reconcile.JitterFraction()).Backoff(failures)
			a.log.Warn("reconcile: run failed; retrying", "error", err, "failures", failures, "retry_in", wait.Round(time.Second).String())
		} else {
			failures = 0
		}
		if !sleep(ctx, wait, a.reloaded) {
			return
		}
	}
}

// backoff is the wait after failed runs: from Options.RetryBase (10s by
// default), doubling up to the interval, jittered like the interval.
func (a *agent) backoff(interval time.Duration, jitter float64) retry.Policy {
	base := a.opts.RetryBase
	if base <= 0 {
		base = 10 * time.Second
	}
	return retry.Policy{Initial: base, Max: max(interval, base), Jitter: jitter}
}

// ensureClients builds the Setup of the current config, then the AD and
// cloud clients.
func (a *agent) ensureClients(ctx context.Context, cfg *config.Config, version string) error {
	if a.clients != version {
		a.closeClients()
		a.state, a.setup = nil, nil
	}
	if a.setup == nil {
		st, err := setup.New(cfg, a.opts.ConfigPath, a.log, setup.Observers{
			LDAP: a.metrics.ObserveLDAP, Graph: a.metrics.ObserveGraph, Exchange: a.metrics.ObserveExchange,
			LDAPRetry:     a.metrics.RetryObserver(metrics.SubsystemAD),
			GraphRetry:    a.metrics.RetryObserver(metrics.SubsystemGraph),
			ExchangeRetry: a.metrics.RetryObserver(metrics.SubsystemExchange),
		})
		if err != nil {
			return err
		}
		a.setup = st
	}
	if a.state == nil {
		a.state = &snapshot.State{}
	}
	a.clients = version
	if a.dir == nil {
		dir, err := a.setup.DialAD(ctx)
		if err != nil {
			return &sourceError{metrics.SourceAD, err}
		}
		a.dir = dir
	}
	if a.tenant == nil && a.setup.HasCloud {
		t, err := a.setup.Tenant()
		if err != nil {
			return &sourceError{metrics.SourceCloud, err}
		}
		a.tenant = t
	}
	return nil
}

func (a *agent) closeClients() {
	if a.dir != nil {
		_ = a.dir.Close()
		a.dir = nil
	}
	a.tenant = nil
}

// sourceError says which side a failure came from.
type sourceError struct {
	source metrics.Source
	err    error
}

func (e *sourceError) Error() string { return fmt.Sprintf("%s: %v", e.source, e.err) }
func (e *sourceError) Unwrap() error { return e.err }

func (a *agent) markSource(src metrics.Source, err error, at time.Time) {
	a.mu.Lock()
	s := a.sources[src]
	if s == nil {
		s = &sourceStatus{}
		a.sources[src] = s
	}
	s.LastAttempt = at
	s.OK = err == nil
	s.Error = ""
	if err == nil {
		s.LastSuccess = at
	} else {
		s.Error = err.Error()
	}
	a.mu.Unlock()
	a.metrics.SetSourceUp(src, err == nil, at)
}

// runOnce is one reconcile: read, plan, report, and in enforce mode apply.
func (a *agent) runOnce(ctx context.Context) (err error) {
	cfg, version := a.config()
	start := time.Now()
	full := a.state == nil || !a.state.Loaded() || a.clients != version ||
		time.Since(a.state.FullAt) >= cfg.Reconcile.FullInterval.Duration
	rs := runStatus{Kind: metrics.RunIncremental, Started: start}
	if full {
		rs.Kind = metrics.RunFull
	}
	defer func() {
		end := time.Now()
		rs.Duration = end.Sub(start).Round(time.Millisecond).String()
		if err != nil {
			rs.Error = err.Error()
			if rs.Result == "" {
				rs.Result = metrics.RunFailure
			}
		} else if rs.Result == "" {
			rs.Result = metrics.RunSuccess
		}
		a.metrics.ReconcileRun(rs.Kind, rs.Result, start, end)
		a.mu.Lock()
		a.runs = append(a.runs, rs)
		if len(a.runs) > maxRuns {
			a.runs = a.runs[len(a.runs)-maxRuns:]
		}
		a.mu.Unlock()
	}()

	if err := a.ensureClients(ctx, cfg, version); err != nil {
		var se *sourceError
		if errors.As(err, &se) {
			a.markSource(se.source, se.err, time.Now())
		}
		return fmt.Errorf("reconcile: %w", err)
	}
	if cfg.Cloud.IsZero() {
		// Nothing to compare with: the run checks that AD answers.
		_, err := a.dir.ReadWatermark(ctx)
		a.markSource(metrics.SourceAD, err, time.Now())
		if err != nil {
			a.dropAD()
			return fmt.Errorf("reconcile: read AD: %w", err)
		}
		return nil
	}
	st, err := a.state.Read(ctx, a.setup, a.dir, a.tenant, full)
	rs.Reason, rs.ADRead, rs.Cloud = st.Reason, st.ADObjects, st.CloudObjects
	if st.Full {
		rs.Kind = metrics.RunFull
	}
	now := time.Now()
	if err != nil {
		var re *snapshot.ReadError
		if errors.As(err, &re) {
			a.markSource(metrics.Source(re.Source), err, now)
			if re.Source == snapshot.SourceAD {
				a.dropAD()
			}
		}
		return fmt.Errorf("reconcile: %w", err)
	}
	a.markSource(metrics.SourceAD, nil, now)
	a.markSource(metrics.SourceCloud, nil, now)
	for kind, n := range st.ADByKind {
		a.metrics.SetObjectsRead(rs.Kind, metrics.SourceAD, objectKind(kind), n)
	}
	for kind, n := range st.CloudByKind {
		a.metrics.SetObjectsRead(rs.Kind, metrics.SourceCloud, objectKind(kind), n)
	}

	p, _, perr := a.state.Plan(a.setup)
	if perr != nil && !errors.Is(perr, plan.ErrLimitExceeded) {
		return fmt.Errorf("reconcile: plan: %w", perr)
	}
	a.metrics.SetFindings(p.Findings)
	a.metrics.SetActionsPending(len(p.Actions))
	byKind := map[plan.FindingKind]int{}
	for _, f := range p.Findings {
		byKind[f.Kind]++
	}
	rs.Findings, rs.Actions = len(p.Findings), len(p.Actions)
	a.mu.Lock()
	a.findings, a.actions = byKind, len(p.Actions)
	a.mu.Unlock()
	if perr != nil {
		rs.Result = metrics.RunRefused
		a.log.Warn("reconcile: plan refused by the limits; nothing applied", "reason", perr.Error())
	} else {
		a.log.Info("reconcile: run done", "kind", string(rs.Kind), "ad_objects_read", st.ADObjects,
			"cloud_objects_read", st.CloudObjects, "findings", len(p.Findings), "actions", len(p.Actions))
	}
	if !cfg.Enforcing() {
		return a.countPending()
	}
	actions := p.Actions
	if perr != nil {
		actions = nil // recovery only
	}
	applied, refused, err := a.enforce(ctx, actions, p.Fingerprint)
	rs.Applied = applied
	if refused && rs.Result == "" {
		rs.Result = metrics.RunRefused
	}
	return err
}

func (a *agent) dropAD() {
	if a.dir != nil {
		_ = a.dir.Close()
		a.dir = nil
	}
}

func objectKind(k string) metrics.ObjectKind {
	switch k {
	case string(cloud.KindGroup):
		return metrics.ObjectGroup
	case string(cloud.KindContact), string(ad.KindContact):
		return metrics.ObjectContact
	}
	return metrics.ObjectUser
}

// countPending updates the pending-intents gauge without resolving
// anything: observe and staging mode only report. The journal is opened
// only meanwhile, so that `hybridsync journal list` works while the
// service runs.
func (a *agent) countPending() error {
	j, err := a.setup.OpenJournal(false)
	if errors.Is(err, os.ErrNotExist) {
		a.setPending(nil)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	defer j.Close()
	pending, err := j.Pending()
	if err != nil {
		return fmt.Errorf("reconcile: count pending journal entries: %w", err)
	}
	a.setPending(pending)
	return nil
}

func (a *agent) setPending(pending []journal.Entry) {
	var oldest time.Time
	if len(pending) > 0 {
		oldest = pending[0].Started
	}
	a.metrics.SetJournalPending(len(pending), oldest)
	a.mu.Lock()
	a.pending = len(pending)
	a.mu.Unlock()
}

// enforce settles interrupted writes and applies actions through
// apply.Run as the service (apply.Enforcing): fixes an admin undid or the
// DC refused are held until their object changes, objects whose earlier
// writes are unsettled are skipped, and a journal that cannot be read, or
// a change limit reached within its window, stops the whole apply. It
// returns how many fixes were applied and whether the run was refused.
func (a *agent) enforce(ctx context.Context, actions []plan.Action, fingerprint string) (int, bool, error) {
	j, err := a.setup.OpenJournal(true)
	if err != nil {
		return 0, false, fmt.Errorf("reconcile: apply: %w", err)
	}
	defer j.Close()
	ap := a.setup.Applier(a.dir, j, "agent", nil)
	ap.OnRecover = func(rep journal.RecoverReport) {
		if len(rep.Done)+len(rep.NotApplied)+len(rep.RolledBack)+len(rep.Superseded)+len(rep.Unresolved) > 0 {
			a.log.Info("journal: recovered interrupted writes", "done", len(rep.Done), "not_applied", len(rep.NotApplied),
				"superseded", len(rep.Superseded), "unresolved", len(rep.Unresolved))
		}
	}
	rep, err := ap.Run(ctx, apply.Request{Actions: actions, Fingerprint: fingerprint, Approval: apply.Enforcing,
		Limit: a.setup.Limit})
	applied := 0
	for _, h := range rep.Held {
		a.metrics.ActionApplied(string(apply.Held))
		a.log.Info("reconcile: fix held", "entry_id", h.EntryID, "reason", h.Reason)
	}
	for _, o := range rep.Outcomes {
		a.metrics.ActionApplied(string(o.Result))
		if o.Result == apply.Applied {
			applied++
			continue
		}
		a.log.Warn("reconcile: fix not applied", "result", string(o.Result), "entry_id", o.EntryID, "error", o.Err)
	}
	if pending, perr := j.Pending(); perr == nil {
		a.setPending(pending)
	}
	if len(rep.Outcomes) > 0 {
		a.log.Info("reconcile: applied fixes; the next sync cycle carries them to the cloud", "applied", applied, "of", len(rep.Outcomes))
	}
	if errors.Is(err, plan.ErrLimitExceeded) {
		a.log.Warn("reconcile: fixes not applied: the change limit is reached", "reason", err.Error())
		return applied, true, nil
	}
	if err != nil {
		return applied, false, fmt.Errorf("reconcile: %w", err)
	}
	return applied, false, nil
}
