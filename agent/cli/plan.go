package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hybridsync/hybridsync/reconcile/plan"
)

func (a *app) planCmd() *cobra.Command {
	var (
		cfgPath, out     string
		asJSON, detailed bool
		allowDeletes     bool
		allowChanges     bool
	)
	cmd := &cobra.Command{
		Use:   "plan -c CONFIG",
		Short: "Read AD and the tenant, explain address problems and propose the fixes that are safe to automate",
		Long: `Reads the mail-enabled recipients under the sync OUs and the tenant's users,
groups and contacts, predicts what Entra ID's proxy calculation (KB 3190357)
will make of each object, and prints findings grouped by kind, each with the
object, attribute, evidence, rule and a suggested fix, then the actions it
proposes (today: the dual-write fix that makes proxyAddresses follow a changed
mail) and a one-line summary. Nothing is written.

Exit codes with --detailed-exitcode: 0 nothing to do, 2 actions pending,
1 error (as without the flag).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			if cfg.Cloud.IsZero() {
				return fmt.Errorf("plan: %s has no cloud section: a plan compares AD with the tenant", cfgPath)
			}
			p, _, err := buildPlan(cmd.Context(), cfg, cfgPath, a.logger(), allowDeletes, allowChanges)
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
			if asJSON {
				if err := writeJSON(a.stdout, p); err != nil {
					return err
				}
			} else if err := p.Render(a.stdout); err != nil {
				return err
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
	cmd.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 2 when actions are pending, 0 when there is nothing to do")
	cmd.Flags().StringVarP(&out, "out", "o", "", "also save the plan as JSON to this file (for a later apply)")
	cmd.Flags().BoolVar(&allowDeletes, "allow-deletes", false, "accept a plan whose deletions exceed the configured limits")
	cmd.Flags().BoolVar(&allowChanges, "allow-changes", false, "accept a plan whose changes exceed the configured limits")
	return cmd
}
