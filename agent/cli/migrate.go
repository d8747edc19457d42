package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/agent/setup"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/journal"
	"github.com/hybridsync/hybridsync/reconcile/migrate"
)

func (a *app) migrateCmd() *cobra.Command {
	cmd := groupCmd("migrate", "Move distribution lists from AD to Exchange Online, crash-safe, with hybrid mail flow kept working")
	cmd.AddCommand(a.migratePlanCmd(), a.migrateRunCmd(), a.migrateStatusCmd(), a.migrateRollbackCmd())
	cmd.AddCommand(a.migrateAddressCmd())
	return cmd
}

// migration is what the migrate commands work with: the setup, both
// directories and the journal.
type migration struct {
	st     *setup.Setup
	dir    *adldap.Client
	tenant cloud.Tenant
	j      *journal.Journal
	env    *migrate.Env
}

func (m *migration) close() {
	if m.j != nil {
		_ = m.j.Close()
	}
	if m.dir != nil {
		_ = m.dir.Close()
	}
}

// openMigration loads the config and connects to both sides; with
// journal set it opens (or creates) the journal too.
func (a *app) openMigration(ctx context.Context, cfgPath string, withJournal bool, obs migrate.Observer) (*migration, error) {
	st, err := a.setup(cfgPath, setup.Observers{})
	if err != nil {
		return nil, err
	}
	if !st.HasCloud {
		return nil, fmt.Errorf("%s has no cloud section: a migration moves groups to the tenant", cfgPath)
	}
	m := &migration{st: st}
	if m.dir, err = st.DialAD(ctx); err != nil {
		return nil, err
	}
	if m.tenant, err = st.Tenant(); err != nil {
		m.close()
		return nil, err
	}
	if withJournal {
		if m.j, err = st.OpenJournal(true); err != nil {
			m.close()
			return nil, err
		}
	}
	m.env = st.MigrationEnv(m.dir, m.tenant, m.j, a.failpoint, obs)
	return m, nil
}

// selected returns the groups a command works on: those named, or every
// configured one.
func selected(st *setup.Setup, args []string) ([]setup.Migration, error) {
	if len(args) == 0 {
		if len(st.Migrations) == 0 {
			return nil, fmt.Errorf("%s lists no group under migrations, and none is named", st.Path)
		}
		return st.Migrations, nil
	}
	var out []setup.Migration
	for _, g := range args {
		m, _ := st.Migration(g)
		out = append(out, m)
	}
	return out, nil
}

func (a *app) migratePlanCmd() *cobra.Command {
	var cfgPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "plan -c CONFIG [GROUP...]",
		Short: "Check each group and show how it would move, and the exact steps; writes nothing",
		Long: `Reads each group (the configured ones, or those named by address or objectGUID)
and its cloud twin, resolves every member, owner, moderator and restricted
sender to a cloud recipient, and reports every problem that would stop the
migration, all of them: a group that does not exist or is not a universal
mail-enabled group, is not synced, is protected from accidental deletion,
names a recipient with no cloud twin, has an address in a domain the tenant
does not accept, has mail-enabled child groups, a name over 64 characters,
or a no-sync OU inside the sync scope. Then it shows the method chosen (and
why) and the steps. A group whose migration has started (and not been
rolled back) is not assessed again: its line says where it is, and a
failed one (its rollback could not finish) is a problem. While a migrate run
holds the journal, plan reads what that run last reported. Nothing is
written.

Exit codes: 0 every group is ready (or under way), 2 problems were found,
1 an error.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlag("config", cfgPath); err != nil {
				return err
			}
			ctx := cmd.Context()
			m, err := a.openMigration(ctx, cfgPath, false, migrate.Observer{})
			if err != nil {
				return fmt.Errorf("migrate plan: %w", err)
			}
			defer m.close()
			groups, err := selected(m.st, args)
			if err != nil {
				return fmt.Errorf("migrate plan: %w", err)
			}
			var all []*migrate.Assessment
			problems := 0
			sagas, note, err := readSagas(m.st)
			if err != nil {
				return fmt.Errorf("migrate plan: %w", err)
			}
			if note != "" {
				fmt.Fprintf(a.stderr, "migrate plan: %s\n", note)
			}
			for _, g := range groups {
				if s := sagaOfGroup(sagas, g.Group); s != nil && s.State != migrate.StateRolledBack {
					// Under way or done: its saga says where it is.
					as := &migrate.Assessment{Group: g.Group, ID: s.ID, Method: s.Method, Reason: s.Reason, Problems: []migrate.Problem{},
						Status: migrate.Describe(s, time.Now())}
					if s.Capture != nil {
						as.DN = s.Capture.Group.DN
					}
					if s.State == migrate.StateFailed {
						// Its compensation could not finish: an admin's turn.
						as.Problems = append(as.Problems, migrate.Problem{Code: "failed",
							Message: fmt.Sprintf("the migration failed and could not be rolled back (%s); see migrate status, then migrate rollback", s.Error)})
						problems++
					}
					all = append(all, as)
					if !asJSON {
						renderAssessment(a, as, g)
					}
					continue
				}
				as, err := m.env.Assess(ctx, g.Group, g.Options)
				if err != nil {
					return fmt.Errorf("migrate plan: %w", err)
				}
				all = append(all, as)
				problems += len(as.Problems)
				if !asJSON {
					renderAssessment(a, as, g)
				}
			}
			if asJSON {
				if err := writeJSON(a.stdout, all); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.stdout, "\nMigrate plan: %d groups, %d problems.\n", len(all), problems)
			}
			if problems > 0 {
				return &exitError{2, fmt.Errorf("migrate plan: %d problems found; nothing written", problems)}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the assessments as JSON")
	return cmd
}

func renderAssessment(a *app, as *migrate.Assessment, g setup.Migration) {
	where := ""
	if g.Source != "" {
		where = " (" + g.Source + ")"
	}
	fmt.Fprintf(a.stdout, "\n# %s%s\n", as.Group, where)
	if as.DN != "" {
		fmt.Fprintf(a.stdout, "  object:   %s\n", as.DN)
	}
	if as.Method != "" {
		fmt.Fprintf(a.stdout, "  method:   %s (%s)\n", as.Method, as.Reason)
	}
	if as.Status != "" {
		fmt.Fprintf(a.stdout, "  status:   %s (see migrate status; migrate rollback undoes it)\n", as.Status)
		for _, p := range as.Problems {
			fmt.Fprintf(a.stdout, "  problem:  [%s] %s\n", p.Code, p.Message)
		}
		return
	}
	if len(as.Problems) == 0 {
		fmt.Fprintln(a.stdout, "  ready:    nothing stops the migration")
	}
	for _, p := range as.Problems {
		fmt.Fprintf(a.stdout, "  problem:  [%s] %s\n", p.Code, p.Message)
	}
	if len(as.Steps) > 0 {
		names := make([]string, len(as.Steps))
		for i, s := range as.Steps {
			names[i] = string(s)
		}
		fmt.Fprintf(a.stdout, "  steps:    %s\n", strings.Join(names, " -> "))
	}
	if !g.NotBefore.IsZero() {
		fmt.Fprintf(a.stdout, "  not before: %s\n", g.NotBefore.Format(time.RFC3339))
	}
}

func (a *app) migrateRunCmd() *cobra.Command {
	var cfgPath string
	var autoApprove bool
	var retryBlocked time.Duration
	cmd := &cobra.Command{
		Use:   "run -c CONFIG [GROUP...] --auto-approve",
		Short: "Run (or resume) the migrations, one group at a time, showing each step",
		Long: `Migrates each group (the configured ones, or those named), one at a time:
checks it as migrate plan does, records the saga with the before-images in
the journal, and carries out its steps, each journalled, printing the step,
the time taken and what it waits for. A saga an earlier run left unfinished
(interrupted, waiting, blocked) is resumed where it is. A step that fails
for good is compensated: the group returns to where it was. A sync wait
that passes migrations.sync.wait leaves the group waiting, overdue (run
again to wait another migrations.sync.wait). A group that cannot go on for now (a directory unreachable or
throttling past its retries, a write of an interrupted run not settled
yet) is tried again, with backoff, for --retry-blocked, then left blocked.
A group whose not_before has not come yet is left for later.

Exit codes: 0 every group migrated, 2 a group has problems or was left
waiting or blocked, 1 an error.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlag("config", cfgPath); err != nil {
				return err
			}
			if !autoApprove {
				return &exitError{1, errors.New("migrate run: not approved, nothing written: review `hybridsync migrate plan`, then run with --auto-approve")}
			}
			ctx := cmd.Context()
			progress := a.progress()
			m, err := a.openMigration(ctx, cfgPath, true, migrate.Observer{Progress: progress.saga})
			if err != nil {
				return fmt.Errorf("migrate run: %w", err)
			}
			defer m.close()
			progress.keepIn(m.st, m.j)
			defer progress.close()
			if m.st.Staging {
				return fmt.Errorf("migrate run: %s sets staging: true, so the agent writes nothing; nothing written", cfgPath)
			}
			groups, err := selected(m.st, args)
			if err != nil {
				return fmt.Errorf("migrate run: %w", err)
			}
			if retryBlocked < 0 {
				return &exitError{1, errors.New("migrate run: --retry-blocked must not be negative")}
			}
			unfinished := 0
			for _, g := range groups {
				if err := a.runOne(ctx, m, g, retryBlocked); err != nil {
					if ctx.Err() != nil {
						return err
					}
					unfinished++
					fmt.Fprintf(a.stderr, "%s: %v\n", g.Group, err)
				}
			}
			if unfinished > 0 {
				return &exitError{2, fmt.Errorf("migrate run: %d of %d groups are not migrated (see above; `hybridsync migrate status` shows where each is)", unfinished, len(groups))}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file")
	cmd.Flags().BoolVar(&autoApprove, "auto-approve", false, "run without asking (the plan was reviewed)")
	cmd.Flags().DurationVar(&retryBlocked, "retry-blocked", 5*time.Minute, "how long to keep trying a group that is blocked for now before leaving it blocked (0: leave it at once)")
	return cmd
}

// runOne starts (or resumes) one group's saga and runs it; a saga blocked
// for now is run again, with the project's backoff, until retryBlocked has
// passed since it was first blocked.
func (a *app) runOne(ctx context.Context, m *migration, g setup.Migration, retryBlocked time.Duration) error {
	if !g.NotBefore.IsZero() && time.Now().Before(g.NotBefore) {
		fmt.Fprintf(a.stdout, "%s: not before %s; left for later\n", g.Group, g.NotBefore.Format(time.RFC3339))
		return nil
	}
	s, err := findSaga(ctx, m, g.Group)
	if err != nil {
		return err
	}
	if s != nil && s.State == migrate.StateMigrated {
		fmt.Fprintf(a.stdout, "%s: already migrated (%s)\n", g.Group, s.Method)
		return nil
	}
	if s == nil || s.State == migrate.StateRolledBack {
		as, err := m.env.Assess(ctx, g.Group, g.Options)
		if err != nil {
			return err
		}
		if !as.Ready() {
			renderAssessment(a, as, g)
			return fmt.Errorf("%d problems; nothing written", len(as.Problems))
		}
		if s, err = m.env.Start(as, g.Group, g.Options); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%s: migrating by %s (%s)\n", g.Group, s.Method, s.Reason)
	} else {
		fmt.Fprintf(a.stdout, "%s: resuming at %s (%s)\n", g.Group, s.Step, s.State)
	}
	start := time.Now()
	var blockedSince time.Time
	backoff := retry.DefaultPolicy()
	for attempt := 1; ; attempt++ {
		s, err = m.env.Run(ctx, s)
		if !errors.Is(err, migrate.ErrBlocked) || ctx.Err() != nil {
			break
		}
		if blockedSince.IsZero() {
			blockedSince = time.Now()
		}
		wait := backoff.Backoff(attempt)
		if time.Since(blockedSince)+wait > retryBlocked {
			break
		}
		fmt.Fprintf(a.stdout, "  %s  blocked for now; trying again in %s (until %s)\n", time.Now().UTC().Format("15:04:05"),
			wait.Round(100*time.Millisecond), blockedSince.Add(retryBlocked).UTC().Format("15:04:05"))
		if err := retry.Sleep(ctx, nil, wait); err != nil {
			return err
		}
	}
	switch {
	case err != nil:
		return err
	case s.State == migrate.StateRolledBack:
		return fmt.Errorf("rolled back after step %s failed: %s", s.FailedStep, s.Error)
	}
	took := time.Since(start)
	fmt.Fprintf(a.stdout, "%s: migrated by %s in %s: %s waiting for %d sync cycles and the directories, %s of its own work\n",
		g.Group, s.Method, took.Round(100*time.Millisecond), s.Made.Waited.Round(100*time.Millisecond), s.Made.SyncCycles,
		(took - s.Made.Waited).Round(100*time.Millisecond))
	return nil
}

// findSaga returns the saga of group in the migration's journal, or nil.
func findSaga(_ context.Context, m *migration, group string) (*migrate.Saga, error) {
	sagas, err := migrate.List(m.j)
	if err != nil {
		return nil, err
	}
	return sagaOfGroup(sagas, group), nil
}

// sagaOfGroup returns the saga of group (its address as configured, or
// its objectGUID), or nil.
func sagaOfGroup(sagas []*migrate.Saga, group string) *migrate.Saga {
	for _, s := range sagas {
		if strings.EqualFold(s.Group, group) || strings.EqualFold(s.ID, strings.Trim(group, "{}")) || strings.EqualFold(s.Primary(), group) {
			return s
		}
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// groupStatus is one row of `migrate status --json`.
type groupStatus struct {
	Group  string        `json:"group"`
	Source string        `json:"source,omitempty"`
	State  string        `json:"state"`
	Line   string        `json:"status"`
	Saga   *migrate.Saga `json:"saga,omitempty"`
}

func (a *app) migrateStatusCmd() *cobra.Command {
	var cfgPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status -c CONFIG",
		Short: "Show where every configured group is: pending, running step N/M, waiting on what until when, migrated, rolled back, failed",
		Long: `Reads the journal (not the directories) and prints one line per configured
group, and per saga of a group no longer configured: pending (not started),
running (the step and for how long), waiting (for what, since when, until
when; WAITING TOO LONG past the deadline), blocked (why), migrated, rolled
back, or failed (the cause). While a migrate run or rollback holds the
journal, it prints what that run last reported (in state_dir's
migrations-progress.json), saying so on stderr.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlag("config", cfgPath); err != nil {
				return err
			}
			st, err := a.setup(cfgPath, setup.Observers{})
			if err != nil {
				return err
			}
			sagas, note, err := readSagas(st)
			if err != nil {
				return fmt.Errorf("migrate status: %w", err)
			}
			if note != "" {
				fmt.Fprintf(a.stderr, "migrate status: %s\n", note)
			}
			rows := statusRows(st, sagas, time.Now())
			if asJSON {
				return writeJSON(a.stdout, rows)
			}
			for _, r := range rows {
				fmt.Fprintf(a.stdout, "%-40s %s\n", r.Group, r.Line)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

// statusRows pairs the configured groups with their sagas.
func statusRows(st *setup.Setup, sagas []*migrate.Saga, now time.Time) []groupStatus {
	used := map[*migrate.Saga]bool{}
	var rows []groupStatus
	for _, g := range st.Migrations {
		row := groupStatus{Group: g.Group, Source: g.Source, State: "pending", Line: "pending"}
		if !g.NotBefore.IsZero() && now.Before(g.NotBefore) {
			row.Line = "pending, not before " + g.NotBefore.Format(time.RFC3339)
		}
		for _, s := range sagas {
			if strings.EqualFold(s.Group, g.Group) || strings.EqualFold(s.ID, strings.Trim(g.Group, "{}")) {
				row.State, row.Line, row.Saga = string(s.State), migrate.Describe(s, now), s
				used[s] = true
			}
		}
		rows = append(rows, row)
	}
	for _, s := range sagas {
		if !used[s] {
			rows = append(rows, groupStatus{Group: s.Group + " (not in the config)", State: string(s.State), Line: migrate.Describe(s, now), Saga: s})
		}
	}
	return rows
}

func (a *app) migrateRollbackCmd() *cobra.Command {
	var cfgPath string
	var force bool
	cmd := &cobra.Command{
		Use:   "rollback -c CONFIG GROUP [--force]",
		Short: "Return a migrated (or half-migrated) group to where it was, from the before-images",
		Long: `Undoes the group's migration step by step, in reverse, each undo journalled:
SOA: the group is handed back to on premises and the routing contact
removed; recreate: the on-premises group gets back its OU, name and
addresses, the routing contact and the dynamic list are removed, the cloud
list is deleted, and the sync engine restores the synced twin (waited for).
When the cloud list was changed since the migration (members, owners or
addresses), rollback lists what it would discard and writes nothing, unless
--force.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlag("config", cfgPath); err != nil {
				return err
			}
			ctx := cmd.Context()
			progress := a.progress()
			m, err := a.openMigration(ctx, cfgPath, true, migrate.Observer{Progress: progress.saga})
			if err != nil {
				return fmt.Errorf("migrate rollback: %w", err)
			}
			defer m.close()
			progress.keepIn(m.st, m.j)
			defer progress.close()
			if m.st.Staging {
				return fmt.Errorf("migrate rollback: %s sets staging: true, so the agent writes nothing; nothing written", cfgPath)
			}
			s, err := findSaga(ctx, m, args[0])
			if err != nil {
				return fmt.Errorf("migrate rollback: %w", err)
			}
			if s == nil {
				return fmt.Errorf("migrate rollback: %s was never migrated by hybridsync (no saga in %s); nothing written", args[0], m.j.Path())
			}
			s, err = m.env.Rollback(ctx, s, force)
			if err != nil {
				return fmt.Errorf("migrate rollback: %w", err)
			}
			fmt.Fprintf(a.stdout, "%s: %s\n", args[0], migrate.Describe(s, time.Now()))
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file")
	cmd.Flags().BoolVar(&force, "force", false, "roll back even when it discards changes made in the cloud since the migration")
	return cmd
}

func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || retry.ClassOf(err) == retry.NotFound
}
