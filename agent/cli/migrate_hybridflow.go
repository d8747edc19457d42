package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/reconcile/migrate"
)

// searcher adapts the LDAP client to migrate.Searcher.
type searcher struct{ c *adldap.Client }

func (s searcher) SearchRecipients(ctx context.Context, base, filter string) ([]*ad.Recipient, error) {
	var out []*ad.Recipient
	_, err := s.c.SearchRecipients(ctx, base, filter, func(r *ad.Recipient) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// hybridFlowReport is what `migrate hybrid-mail-flow --json` prints.
type hybridFlowReport struct {
	Plan   *migrate.HybridFlowPlan   `json:"plan"`
	Result *migrate.HybridFlowResult `json:"result,omitempty"`
	// Outcome is "nothing-to-do", "not-approved", "done", "failed" (a
	// write or the final check failed: Result says what was done) or
	// "problems".
	Outcome string `json:"outcome"`
}

func (a *app) migrateHybridFlowCmd() *cobra.Command {
	var cfgPath string
	var autoApprove, asJSON bool
	cmd := &cobra.Command{
		Use:   "hybrid-mail-flow -c CONFIG GROUP [--auto-approve]",
		Short: "Create (or repair) the routing contact and dynamic list of a list already migrated to Exchange Online without them",
		Long: `For a distribution list that already lives in Exchange Online (GROUP is its
address) and was migrated, by any tool, without the on-premises objects that
keep hybrid mail flow working, makes them: a routing contact in the no-sync
OU (migrations.defaults.nosync_ou) whose targetAddress is the list's tenant
routing address (added to the cloud list when it lacks one), and a dynamic
distribution list with the list's name and addresses whose filter reaches
that contact alone, so that on-premises senders reach the cloud list.

What DLConversionV2 left is adopted, never duplicated: its routing contact
(<name>-MigratedByScript, extensionAttribute1 MigratedByScript) is reused,
and its targetAddress and markers repaired when wrong; a dynamic list
holding the list's addresses is reused and its filter repaired. An
on-premises object still holding one of the list's addresses stops the
command, naming it, unless it is the retired original group (renamed with
"!" and marked extensionAttribute1 MigratedByScript by DLConversionV2, or
hybridsync-migrated by hybridsync): that one is mail-disabled and its
addresses go to the dynamic list.

Without --auto-approve it shows what it found and what it would do, and
writes nothing. Every write is journalled. Run again, it finds nothing to do.

Exit codes: 0 done or nothing to do, 2 problems (nothing written), 1 an
error or not approved.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlag("config", cfgPath); err != nil {
				return err
			}
			ctx := cmd.Context()
			m, err := a.openMigration(ctx, cfgPath, autoApprove, migrate.Observer{})
			if err != nil {
				return fmt.Errorf("migrate hybrid-mail-flow: %w", err)
			}
			defer m.close()
			if autoApprove && m.st.Staging {
				return fmt.Errorf("migrate hybrid-mail-flow: %s sets staging: true, so the agent writes nothing; nothing written", cfgPath)
			}
			g, _ := m.st.Migration(args[0])
			dir := searcher{m.dir}
			p, err := m.env.PlanHybridFlow(ctx, dir, migrate.HybridFlowRequest{List: args[0], NoSyncOU: g.Options.NoSyncOU, BaseDN: m.st.BaseDN})
			if err != nil {
				return fmt.Errorf("migrate hybrid-mail-flow: %w", err)
			}
			rep := &hybridFlowReport{Plan: p}
			switch {
			case !p.Ready():
				rep.Outcome = "problems"
			case len(p.Actions) == 0:
				rep.Outcome = "nothing-to-do"
			case !autoApprove:
				rep.Outcome = "not-approved"
			default:
				rep.Result, err = m.env.ApplyHybridFlow(ctx, dir, p)
				if err != nil {
					rep.Outcome = "failed"
					a.renderHybridFlow(rep, asJSON)
					return fmt.Errorf("migrate hybrid-mail-flow: %w", err)
				}
				rep.Outcome = "done"
			}
			a.renderHybridFlow(rep, asJSON)
			switch rep.Outcome {
			case "problems":
				return &exitError{2, fmt.Errorf("migrate hybrid-mail-flow: %d problems; nothing written", len(p.Problems))}
			case "not-approved":
				return &exitError{1, errors.New("migrate hybrid-mail-flow: not approved, nothing written: review the above, then run with --auto-approve")}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file")
	cmd.Flags().BoolVar(&autoApprove, "auto-approve", false, "make the changes shown (the plan was reviewed)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// renderHybridFlow prints the report: the list, what was found, the
// problems, and what will be (or was) done.
func (a *app) renderHybridFlow(rep *hybridFlowReport, asJSON bool) {
	if asJSON {
		_ = writeJSON(a.stdout, rep)
		return
	}
	p, w := rep.Plan, a.stdout
	fmt.Fprintf(w, "# %s\n", p.List)
	if p.ListID != "" {
		fmt.Fprintf(w, "  cloud list:       %s (%s), primary %s\n", p.Name, p.ListID, p.Primary)
	}
	if p.RoutingAddress != "" {
		fmt.Fprintf(w, "  routing address:  %s\n", p.RoutingAddress)
	}
	for _, f := range p.Found {
		fmt.Fprintf(w, "  found:            %s\n", f)
	}
	for _, pr := range p.Problems {
		fmt.Fprintf(w, "  problem:          [%s] %s\n", pr.Code, pr.Message)
	}
	if !p.Ready() {
		fmt.Fprintln(w, "Nothing written.")
		return
	}
	for i, act := range p.Actions {
		verb := "will"
		switch {
		case rep.Result != nil && i < len(rep.Result.Done):
			verb = "did"
		case rep.Result != nil:
			verb = "not done"
		}
		fmt.Fprintf(w, "  %-18s[%s] %s: %s\n", verb, act.Kind, act.Object, act.What)
	}
	switch rep.Outcome {
	case "nothing-to-do":
		fmt.Fprintf(w, "Nothing to do: the routing contact %s and the dynamic list %s are in place.\n", p.ContactDN, p.DynamicListDN)
	case "not-approved":
		fmt.Fprintf(w, "%s; nothing written without --auto-approve.\n", changes(len(p.Actions)))
	case "done":
		fmt.Fprintf(w, "Done: %s, journalled. The dynamic list %s reaches %s alone.\n", changes(len(p.Actions)), p.DynamicListDN, p.ContactDN)
	}
}

func changes(n int) string {
	if n == 1 {
		return "1 change"
	}
	return fmt.Sprintf("%d changes", n)
}
