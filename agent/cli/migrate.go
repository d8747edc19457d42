package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
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
	cmd.AddCommand(a.migrateHybridFlowCmd())
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
		Long: `Plans the groups (the configured ones, or those named by address or
objectGUID) as one batch: it reads their nesting from AD (mail-enabled child
groups, to any depth) and orders them in waves, children before parents,
the groups of a wave sharing one sync cycle; it reports every nesting cycle
with its path, and a group whose child group is not in the batch (unless
skip_nested_group_check). Then it reads each group
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
			b, err := batchOf(ctx, m, groups, sagas)
			if err != nil {
				return fmt.Errorf("migrate plan: %w", err)
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
				as, err := m.env.AssessWith(ctx, g.Group, g.Options, b.AssessContext(g.Group, sagas))
				if err != nil {
					return fmt.Errorf("migrate plan: %w", err)
				}
				as.Wave = b.WaveOf(g.Group) + 1
				if bg := b.BlockedOf(g.Group); bg != nil {
					// The batch says it once, with the cycle's path or the
					// child outside the batch.
					as.Problems = slices.DeleteFunc(as.Problems, func(p migrate.Problem) bool { return p.Code == "nested" })
					as.Problems = append(as.Problems, migrate.Problem{Code: bg.Reason, Message: bg.Describe()})
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
				renderBatch(a, b)
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
	if as.Wave > 0 {
		fmt.Fprintf(a.stdout, "  wave:     %d\n", as.Wave)
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

// renderBatch prints the batch's waves and the nesting cycles that reach
// it.
func renderBatch(a *app, b *migrate.Batch) {
	if len(b.Waves) == 0 && len(b.Cycles) == 0 {
		return
	}
	fmt.Fprintf(a.stdout, "\n# Batch: %d waves, children before parents; the groups of a wave share one sync cycle\n", len(b.Waves))
	for i, w := range b.Waves {
		fmt.Fprintf(a.stdout, "  wave %d:   %s\n", i+1, strings.Join(w.Groups, ", "))
	}
	for _, c := range b.Cycles {
		fmt.Fprintf(a.stdout, "  cycle:    %s\n", c)
	}
	for _, bg := range b.Blocked {
		fmt.Fprintf(a.stdout, "  blocked:  %s: %s\n", bg.Group, bg.Describe())
	}
}

func (a *app) migrateRunCmd() *cobra.Command {
	var cfgPath string
	var autoApprove bool
	var retryBlocked time.Duration
	cmd := &cobra.Command{
		Use:   "run -c CONFIG [GROUP...] --auto-approve",
		Short: "Run (or resume) the migrations as one batch, in waves, showing each step",
		Long: `Migrates the groups (the configured ones, or those named) as one batch, in
the waves migrate plan shows: the groups of a wave run together (at most
migrations.concurrency at once) and share one sync cycle; a wave starts
when the one before it is done. Each group is checked as migrate plan does,
its saga recorded with the before-images in the journal, and its steps
carried out, each journalled, printing the step, the time taken and what it
waits for. A saga an earlier run left unfinished (interrupted, waiting,
blocked) is resumed where it is. A step that fails for good is compensated:
the group returns to where it was. A sync wait that passes
migrations.sync.wait leaves the group waiting, overdue (run again to wait
another migrations.sync.wait). A group that cannot go on for now (a
directory unreachable or throttling past its retries, a write of an
interrupted run not settled yet) is tried again, with backoff, for
--retry-blocked, then left blocked. A wave with a group left unfinished
stops the batch there: the later waves hold its parents. A group whose not_before has not come yet is left for later.

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
			unfinished, err := a.runBatch(ctx, m, groups, retryBlocked, progress)
			if err != nil {
				return fmt.Errorf("migrate run: %w", err)
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
	// Wave is the group's wave in the last batch run (1 first); 0 when
	// it was not in one.
	Wave int `json:"wave,omitempty"`
}

// waveLines describes the progress of the last batch run, a line per
// wave: its state, how many of its groups are migrated, the sync cycles
// it asked for.
func waveLines(b *migrate.Batch, sagas []*migrate.Saga) []string {
	out := []string{fmt.Sprintf("Batch %s (%d waves, last run %s):", b.ID, len(b.Waves), b.Updated.Format(time.RFC3339))}
	for i, w := range b.Waves {
		done := 0
		for _, g := range w.Groups {
			if s := sagaOfGroup(sagas, g); s != nil && s.State == migrate.StateMigrated {
				done++
			}
		}
		line := fmt.Sprintf("  wave %d: %s, %d of %d migrated, %d sync cycles asked for", i+1, w.State, done, len(w.Groups), w.SyncCycles)
		if !w.Started.IsZero() && !w.Ended.IsZero() {
			line += fmt.Sprintf(", took %s", w.Ended.Sub(w.Started).Round(time.Second))
		}
		out = append(out, line+": "+strings.Join(w.Groups, ", "))
	}
	for _, bg := range b.Blocked {
		out = append(out, fmt.Sprintf("  not in a wave: %s: %s", bg.Group, bg.Describe()))
	}
	return out
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
			sagas, batch, note, err := readMigrations(st)
			if err != nil {
				return fmt.Errorf("migrate status: %w", err)
			}
			if note != "" {
				fmt.Fprintf(a.stderr, "migrate status: %s\n", note)
			}
			rows := statusRows(st, sagas, time.Now())
			if batch != nil {
				for i := range rows {
					rows[i].Wave = batch.WaveOf(rows[i].Group) + 1
				}
			}
			if asJSON {
				return writeJSON(a.stdout, rows)
			}
			for _, r := range rows {
				fmt.Fprintf(a.stdout, "%-40s %s\n", r.Group, r.Line)
			}
			if batch != nil {
				for _, line := range waveLines(batch, sagas) {
					fmt.Fprintln(a.stdout, line)
				}
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
