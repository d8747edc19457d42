package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/agent/config"
	"github.com/hybridsync/hybridsync/agent/metrics"
	"github.com/hybridsync/hybridsync/agent/setup"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/reconcile/journal"
	"github.com/hybridsync/hybridsync/reconcile/migrate"
)

// reassessEvery is how often the service reads a group again whose
// migration has problems (it reports them meanwhile).
const reassessEvery = 5 * time.Minute

// MigrationStatus is one row of /status's migrations.
type MigrationStatus struct {
	Group string `json:"group"`
	// State is a metrics.MigrationState.
	State string `json:"state"`
	// Status is the line `hybridsync migrate status` prints.
	Status string `json:"status"`
	// Problems are what stops a pending group, as `migrate plan` says.
	Problems []migrate.Problem `json:"problems,omitempty"`
}

// migrator is the service's migration worker: it owns its own clients, so
// that a long migration never holds the scheduler's.
type migrator struct {
	a        *agent
	version  string
	st       *setup.Setup
	dir      *adldap.Client
	tenant   cloud.Tenant
	assessed map[string]assessed
	// batch is the configured groups' waves, planned again when the
	// config changes and every reassessEvery (planned at).
	batch     *migrate.Batch
	plannedAt time.Time
}

type assessed struct {
	at       time.Time
	problems []migrate.Problem
}

// migrations runs the configured distribution-list migrations until ctx
// ends, every migrations.sync.poll_interval: it opens the journal, carries
// each due group's saga one look further (the engine in Once mode, so that
// waits do not hold the journal), and closes it. A group removed from the
// config while its saga is unfinished is finished, never abandoned.
// Nothing runs with staging: true.
func (a *agent) migrations(ctx context.Context) {
	m := &migrator{a: a, assessed: map[string]assessed{}}
	defer m.closeClients()
	for ctx.Err() == nil {
		cfg, version := a.config()
		poll := cfg.Migrations.Sync.PollInterval.Duration
		if a.opts.MigrationPoll > 0 {
			poll = a.opts.MigrationPoll
		}
		m.tick(ctx, cfg, version)
		if !sleep(ctx, poll, nil) {
			return
		}
	}
}

func (m *migrator) closeClients() {
	if m.dir != nil {
		_ = m.dir.Close()
	}
	m.dir, m.tenant, m.st = nil, nil, nil
}

func (m *migrator) tick(ctx context.Context, cfg *config.Config, version string) {
	a := m.a
	if cfg.Cloud.IsZero() {
		return
	}
	if m.version != version {
		m.closeClients()
		m.version = version
		m.assessed = map[string]assessed{}
		m.batch = nil
	}
	if m.st == nil {
		st, err := setup.New(cfg, a.opts.ConfigPath, a.log, setup.Observers{
			LDAP: a.metrics.ObserveLDAP, Graph: a.metrics.ObserveGraph, Exchange: a.metrics.ObserveExchange,
		})
		if err != nil {
			a.log.Error("migrate: the config cannot drive migrations", "error", err)
			return
		}
		m.st = st
	}
	j, err := m.st.OpenJournal(true)
	if err != nil {
		a.log.Warn("migrate: journal busy; migrations wait for the next poll", "error", err)
		return
	}
	defer j.Close()
	sagas, err := migrate.List(j)
	if err != nil {
		a.log.Error("migrate: the journal's migrations cannot be read; none is run", "error", err)
		return
	}
	work := workList(m.st.Migrations, sagas)
	var env *migrate.Env
	if !cfg.Staging && len(work) > 0 {
		if env, err = m.env(ctx, j); err != nil {
			a.log.Warn("migrate: directories unreachable; migrations wait for the next poll", "error", err)
			m.closeClients()
		}
	}
	b := m.plan(ctx, env, sagas)
	current := currentWave(b, sagas)
	rows := make([]MigrationStatus, 0, len(work))
	now := time.Now()
	// The groups to carry one look further, together: the sagas under way
	// and those of the current wave that can start.
	var run []*migrate.Saga
	var runRow []int
	for _, g := range work {
		row := MigrationStatus{Group: g.Group, State: string(metrics.MigrationPending), Status: "pending"}
		s := sagaOf(sagas, g.Group)
		fresh := s == nil || s.State == migrate.StateRolledBack
		switch {
		case s != nil && s.State.Terminal():
		case !g.NotBefore.IsZero() && now.Before(g.NotBefore) && s == nil:
			row.Status = "pending, not before " + g.NotBefore.Format(time.RFC3339)
		case env == nil:
			if cfg.Staging && s == nil {
				row.Status = "pending (staging: nothing runs)"
			}
		case fresh && b != nil && b.BlockedOf(g.Group) != nil:
			bg := b.BlockedOf(g.Group)
			row.Problems, row.Status = []migrate.Problem{{Code: bg.Reason, Message: bg.Describe()}}, "blocked by problems (see migrate plan)"
		case fresh && b != nil && b.WaveOf(g.Group) > current:
			row.Status = fmt.Sprintf("pending: wave %d, after wave %d (its child groups)", b.WaveOf(g.Group)+1, current+1)
		default:
			ac := migrate.AssessContext{Migrated: sagas}
			if b != nil {
				ac = b.AssessContext(g.Group, sagas)
			}
			if s = m.start(ctx, env, g, s, &row, ac); s != nil {
				run = append(run, s)
				runRow = append(runRow, len(rows))
			}
		}
		if s != nil {
			row.State, row.Status = string(metrics.MigrationStateOf(s)), migrate.Describe(s, now)
		}
		rows = append(rows, row)
	}
	if len(run) > 0 {
		res := env.RunWave(ctx, run, m.st.MigrationConcurrency, func(ctx context.Context, e *migrate.Env, s *migrate.Saga) (*migrate.Saga, error) {
			return e.Run(ctx, s)
		})
		for i, s := range res.Sagas {
			switch err := res.Errs[i]; {
			case err == nil, errors.Is(err, migrate.ErrWaiting):
			case errors.Is(err, migrate.ErrOverdue), errors.Is(err, migrate.ErrBlocked):
				a.log.Warn("migrate: group cannot go on for now", "group", s.Group, "error", err)
			default:
				a.log.Error("migrate: run failed", "group", s.Group, "error", err)
			}
			r := &rows[runRow[i]]
			r.State, r.Status = string(metrics.MigrationStateOf(s)), migrate.Describe(s, time.Now())
		}
	}
	byState := map[metrics.MigrationState]int{}
	for _, r := range rows {
		byState[metrics.MigrationState(r.State)]++
	}
	a.metrics.SetMigrations(byState)
	a.mu.Lock()
	a.migrationRows = rows
	a.mu.Unlock()
}

// env connects the worker's clients, if need be, and returns the engine.
func (m *migrator) env(ctx context.Context, j *journal.Journal) (*migrate.Env, error) {
	if m.dir == nil {
		dir, err := m.st.DialAD(ctx)
		if err != nil {
			return nil, err
		}
		m.dir = dir
	}
	if m.tenant == nil {
		t, err := m.st.Tenant()
		if err != nil {
			return nil, err
		}
		m.tenant = t
	}
	e := m.st.MigrationEnv(m.dir, m.tenant, j, nil, m.a.metrics.MigrationObserver())
	e.Once = true
	return e, nil
}

// plan returns the configured groups' waves, planned again when the
// config changed and every reassessEvery; nil when they cannot be read
// now (every group then waits).
func (m *migrator) plan(ctx context.Context, e *migrate.Env, sagas []*migrate.Saga) *migrate.Batch {
	if e == nil || len(m.st.Migrations) == 0 {
		return nil
	}
	if m.batch != nil && time.Since(m.plannedAt) < reassessEvery {
		return m.batch
	}
	in := make([]migrate.BatchGroup, len(m.st.Migrations))
	for i, g := range m.st.Migrations {
		in[i] = migrate.BatchGroup{Group: g.Group, SkipNestedGroupCheck: g.Options.SkipNestedGroupCheck}
	}
	b, err := e.PlanBatchFrom(ctx, in, sagas)
	if err != nil {
		m.a.log.Warn("migrate: cannot read the groups' nesting; groups not started wait", "error", err)
		return m.batch
	}
	m.batch, m.plannedAt = b, time.Now()
	return b
}

// currentWave is the first wave with a group not migrated yet: its groups
// may start; later ones wait for it. With no batch, every group may start
// (-1 stands for "no wave").
func currentWave(b *migrate.Batch, sagas []*migrate.Saga) int {
	if b == nil {
		return -1
	}
	for i, w := range b.Waves {
		for _, g := range w.Groups {
			if s := sagaOf(sagas, g); s == nil || s.State != migrate.StateMigrated {
				return i
			}
		}
	}
	return len(b.Waves)
}

// start starts g's saga when it has none (or it was rolled back), after
// assessing it in the batch's context, and returns the saga to carry on
// (nil when it cannot start).
func (m *migrator) start(ctx context.Context, e *migrate.Env, g setup.Migration, s *migrate.Saga, row *MigrationStatus, ac migrate.AssessContext) *migrate.Saga {
	a := m.a
	if s == nil || s.State == migrate.StateRolledBack {
		key := strings.ToLower(g.Group)
		if last, ok := m.assessed[key]; ok && time.Since(last.at) < reassessEvery {
			row.Problems, row.Status = last.problems, "blocked by problems (see migrate plan)"
			return nil
		}
		as, err := e.AssessWith(ctx, g.Group, g.Options, ac)
		if err != nil {
			a.log.Warn("migrate: cannot check group", "group", g.Group, "error", err)
			row.Status = "pending: " + err.Error()
			return nil
		}
		if !as.Ready() {
			m.assessed[key] = assessed{at: time.Now(), problems: as.Problems}
			row.Problems, row.Status = as.Problems, "blocked by problems (see migrate plan)"
			a.log.Warn("migrate: group has problems; not started", "group", g.Group, "problems", len(as.Problems))
			return nil
		}
		delete(m.assessed, key)
		if s, err = e.Start(as, g.Group, g.Options); err != nil {
			a.log.Error("migrate: cannot start", "group", g.Group, "error", err)
			return nil
		}
	}
	return s
}

// workList is what the worker looks at: the configured groups, then every
// unfinished saga of a group no longer configured, with the options it was
// started with, so that it is finished (or compensated), never abandoned.
func workList(configured []setup.Migration, sagas []*migrate.Saga) []setup.Migration {
	work := slices.Clone(configured)
	for _, s := range sagas {
		if s.State.Terminal() || slices.ContainsFunc(configured, func(g setup.Migration) bool { return matches(s, g.Group) }) {
			continue
		}
		work = append(work, setup.Migration{Group: s.Group, Options: s.Options})
	}
	return work
}

func sagaOf(sagas []*migrate.Saga, group string) *migrate.Saga {
	for _, s := range sagas {
		if matches(s, group) {
			return s
		}
	}
	return nil
}

func matches(s *migrate.Saga, group string) bool {
	return strings.EqualFold(s.Group, group) || strings.EqualFold(s.ID, strings.Trim(group, "{}"))
}
