package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/config"
	"github.com/hybridsync/hybridsync/agent/metrics"
	"github.com/hybridsync/hybridsync/agent/reconciler"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/reconcile/apply"
	"github.com/hybridsync/hybridsync/reconcile/journal"
	"github.com/hybridsync/hybridsync/reconcile/plan"
	"github.com/hybridsync/hybridsync/reconcile/retry"
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
	// refused remembers the actions the DC refused, by objectGUID and the
	// uSNChanged they were planned from, so enforce mode does not retry
	// (and journal) them every run until the object changes (the
	// scheduler's own).
	refused map[string]int64

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

	// Owned by the scheduler: rebuilt when the config changes or a read
	// fails.
	dir     *ad.Client
	tenant  cloud.Tenant
	state   *reconciler.State
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
	// The migration engine has not landed: every configured group waits.
	a.metrics.SetMigrations(map[metrics.MigrationState]int{metrics.MigrationPending: len(cfg.Migrations.Groups)})
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
		a.rejected, _ = fileVersion(a.opts.ConfigPath)
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
			base := a.opts.RetryBase
			if base <= 0 {
				base = 10 * time.Second
			}
			backoff := base << min(failures-1, 16)
			wait = jittered(min(backoff, interval), cfg.Reconcile.JitterFraction())
			a.log.Warn("reconcile: run failed; retrying", "error", err, "failures", failures, "retry_in", wait.Round(time.Second).String())
		} else {
			failures = 0
		}
		if !sleep(ctx, wait, a.reloaded) {
			return
		}
	}
}

// ensureClients builds the AD and cloud clients for the current config.
func (a *agent) ensureClients(ctx context.Context, cfg *config.Config, version string) error {
	if a.clients != version {
		a.closeClients()
		a.state = nil
	}
	if a.state == nil {
		a.state = &reconciler.State{}
	}
	a.clients = version
	if a.dir == nil {
		adc := reconciler.ADConfig(cfg, a.log, a.metrics.ObserveLDAP)
		pol := retry.DefaultPolicy()
		pol.OnRetry = a.metrics.RetryObserver(metrics.SubsystemAD)
		adc.Retry = &pol
		dir, err := ad.Dial(ctx, adc)
		if err != nil {
			return &sourceError{metrics.SourceAD, err}
		}
		a.dir = dir
	}
	if a.tenant == nil && !cfg.Cloud.IsZero() {
		t, err := reconciler.Tenant(cfg, a.log, reconciler.Observers{
			Graph: a.metrics.ObserveGraph, Exchange: a.metrics.ObserveExchange,
			GraphRetry:    a.metrics.RetryObserver(metrics.SubsystemGraph),
			ExchangeRetry: a.metrics.RetryObserver(metrics.SubsystemExchange),
		})
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
	if err := a.recoverJournal(ctx, cfg); err != nil {
		a.log.Warn("reconcile: journal recovery incomplete", "error", err)
	}

	st, err := a.state.Read(ctx, cfg, a.dir, a.tenant, full)
	rs.Reason, rs.ADRead, rs.Cloud = st.Reason, st.ADObjects, st.CloudObjects
	if st.Full {
		rs.Kind = metrics.RunFull
	}
	now := time.Now()
	if err != nil {
		var re *reconciler.ReadError
		if errors.As(err, &re) {
			a.markSource(metrics.Source(re.Source), err, now)
			if re.Source == reconciler.SourceAD {
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

	p, _, perr := a.state.Plan(cfg)
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
		return nil
	}
	a.log.Info("reconcile: run done", "kind", string(rs.Kind), "ad_objects_read", st.ADObjects,
		"cloud_objects_read", st.CloudObjects, "findings", len(p.Findings), "actions", len(p.Actions))
	if !cfg.Enforcing() || len(p.Actions) == 0 {
		return nil
	}
	todo := p.Actions[:0:0]
	for _, act := range p.Actions {
		if usn, ok := a.refused[strings.ToLower(act.ObjectGUID)]; ok && usn == act.USNChanged {
			continue // refused before, and unchanged since
		}
		todo = append(todo, act)
	}
	if len(todo) == 0 {
		return nil
	}
	p.Actions = todo
	applied, err := a.applyActions(ctx, cfg, p)
	rs.Applied = applied
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

// openJournal opens the journal for one write phase: the lock is held only
// meanwhile, so that `hybridsync journal list` works while the service runs.
func (a *agent) openJournal() (*journal.Journal, error) {
	return journal.Open(journal.Options{Path: filepath.Join(a.stateDir, journal.FileName), LockTimeout: 30 * time.Second, Logger: a.log})
}

// recoverJournal resolves pending intents and updates the pending gauge.
func (a *agent) recoverJournal(ctx context.Context, cfg *config.Config) error {
	path := filepath.Join(a.stateDir, journal.FileName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		a.metrics.SetJournalPending(0, time.Time{})
		return nil
	}
	j, err := a.openJournal()
	if err != nil {
		return err
	}
	defer j.Close()
	pending, err := j.Pending()
	// Resolving reads only, but it is part of writing: only an agent that
	// may write does it (observe and staging just report the count).
	if err == nil && len(pending) > 0 && cfg.Enforcing() {
		rep, rerr := j.Recover(ctx, apply.Resolver(a.dir))
		a.log.Info("journal: recovered interrupted writes", "done", len(rep.Done), "not_applied", len(rep.NotApplied),
			"superseded", len(rep.Superseded), "unresolved", len(rep.Unresolved))
		err = rerr
		pending, _ = j.Pending()
	}
	var oldest time.Time
	if len(pending) > 0 {
		oldest = pending[0].Started
	}
	a.metrics.SetJournalPending(len(pending), oldest)
	a.mu.Lock()
	a.pending = len(pending)
	a.mu.Unlock()
	return err
}

// applyActions applies the plan's actions in enforce mode.
func (a *agent) applyActions(ctx context.Context, cfg *config.Config, p plan.Plan) (int, error) {
	j, err := a.openJournal()
	if err != nil {
		return 0, fmt.Errorf("reconcile: apply: %w", err)
	}
	defer j.Close()
	ap := &apply.Applier{Dir: a.dir, Journal: j, RunID: "agent-" + time.Now().UTC().Format("20060102T150405Z"), Fingerprint: p.Fingerprint, Logger: a.log}
	outcomes, err := ap.Apply(ctx, p.Actions)
	applied := 0
	for _, o := range outcomes {
		a.metrics.ActionApplied(string(o.Result))
		if o.Result == apply.Applied {
			applied++
		} else {
			if o.Result == apply.Refused {
				if a.refused == nil {
					a.refused = map[string]int64{}
				}
				a.refused[strings.ToLower(o.Action.ObjectGUID)] = o.Action.USNChanged
			}
			a.log.Warn("reconcile: fix not applied", "result", string(o.Result), "entry_id", o.EntryID, "error", o.Err)
		}
	}
	pending, _ := j.Pending()
	a.metrics.SetJournalPending(len(pending), oldestStart(pending))
	a.log.Info("reconcile: applied fixes; the next sync cycle carries them to the cloud", "applied", applied, "of", len(p.Actions))
	if err != nil {
		return applied, fmt.Errorf("reconcile: apply: %w", err)
	}
	return applied, nil
}

func oldestStart(es []journal.Entry) time.Time {
	if len(es) == 0 {
		return time.Time{}
	}
	return es[0].Started
}
