package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hybridsync/hybridsync/agent/setup"
	"github.com/hybridsync/hybridsync/agent/snapshot"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

func (a *app) planCmd() *cobra.Command {
	var (
		cfgPath, out     string
		asJSON, detailed bool
		verbose          bool
		allowDeletes     bool
		allowChanges     bool
	)
	cmd := &cobra.Command{
		Use:   "plan -c CONFIG",
		Short: "Read AD and the tenant, explain address problems and propose the fixes that are safe to automate",
		Long: `Reads the mail-enabled recipients under the sync OUs and the tenant's users,
groups and contacts, predicts what Entra ID's proxy calculation (KB 3190357)
will make of each object, and prints the findings grouped by kind: each kind's
explanation and fix once, then one line per object with its name, the values
that matter and the action (today the one automatic fix is the dual write that
makes proxyAddresses follow a changed mail, marked "~ fix"), then a one-line
summary. --verbose prints every object's DN, evidence, rule, explanation and fix
and every action's values; --json prints all of it as JSON. Nothing is written.

Exit codes with --detailed-exitcode: 0 nothing to do, 2 actions pending,
1 error (as without the flag).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.setup(cfgPath, setup.Observers{})
			if err != nil {
				return err
			}
			if !st.HasCloud {
				return fmt.Errorf("plan: %s has no cloud section: a plan compares AD with the tenant", cfgPath)
			}
			p, err := a.plan(cmd.Context(), st, setup.Allow{Deletes: allowDeletes, Changes: allowChanges})
			if err != nil && !errors.Is(err, plan.ErrLimitExceeded) {
				return fmt.Errorf("plan: %w", err)
			}
			refused := err
			if out != "" {
				w, commit, abort, oerr := a.openExportOutput(out)
				if oerr != nil {
					return fmt.Errorf("plan: %w", oerr)
				}
				if eerr := json.NewEncoder(w).Encode(p); eerr != nil {
					abort()
					return fmt.Errorf("plan: write %s: %w", out, eerr)
				}
				if cerr := commit(); cerr != nil {
					return fmt.Errorf("plan: %w", cerr)
				}
			}
			switch {
			case asJSON:
				if err := writeJSON(a.stdout, p); err != nil {
					return err
				}
			case verbose:
				if err := p.RenderVerbose(a.stdout); err != nil {
					return err
				}
			default:
				if err := p.Render(a.stdout); err != nil {
					return err
				}
			}
			if refused != nil {
				return fmt.Errorf("plan: %w", refused)
			}
			if detailed && len(p.Actions) > 0 {
				return &exitError{2, fmt.Errorf("%d actions pending", len(p.Actions))}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print every object's full detail (DN, evidence, rule, explanation, fix) and every action's values")
	cmd.MarkFlagsMutuallyExclusive("json", "verbose")
	cmd.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 2 when actions are pending, 0 when there is nothing to do")
	cmd.Flags().StringVarP(&out, "out", "o", "", "also save the plan as JSON to this file (for a later apply)")
	cmd.Flags().BoolVar(&allowDeletes, "allow-deletes", false, "accept a plan whose deletions exceed the configured limits")
	cmd.Flags().BoolVar(&allowChanges, "allow-changes", false, "accept a plan whose changes exceed the configured limits")
	return cmd
}

// plan connects to both sides and builds the plan of st.
func (a *app) plan(ctx context.Context, st *setup.Setup, allow setup.Allow) (plan.Plan, error) {
	dir, err := st.DialAD(ctx)
	if err != nil {
		return plan.Plan{}, err
	}
	defer dir.Close()
	tenant, err := st.Tenant()
	if err != nil {
		return plan.Plan{}, err
	}
	p, _, err := snapshot.BuildPlan(ctx, st, dir, tenant, allow)
	return p, err
}
