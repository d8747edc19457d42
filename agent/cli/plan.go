package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/config"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// snapshots reads both sides for a plan: every mail-enabled recipient
// under the config's sync OUs (the base DN when none) except the no-sync
// OU, and every user, group and contact of the tenant, with the tenant's
// accepted domains and which users are Exchange Online mailboxes (the
// "licensed" half of KB 3190357, read from Get-Recipient).
func snapshots(ctx context.Context, cfg *config.Config, log *slog.Logger) (plan.ADSnapshot, plan.CloudSnapshot, error) {
	var (
		as plan.ADSnapshot
		cs plan.CloudSnapshot
	)
	c, err := ad.Dial(ctx, adConfig(cfg, log))
	if err != nil {
		return as, cs, err
	}
	defer c.Close()
	as.Scope = cfg.AD.SyncOUs
	if len(as.Scope) == 0 {
		as.Scope = []string{cfg.AD.BaseDN}
	}
	if cfg.AD.NoSyncOU != "" {
		as.Exclude = []string{cfg.AD.NoSyncOU}
	}
	as.Complete = true
	for _, base := range as.Scope {
		res, err := c.StreamRecipients(ctx, base, func(r *ad.Recipient) error {
			if cfg.AD.NoSyncOU != "" && ad.IsUnder(r.DN, cfg.AD.NoSyncOU) {
				return nil
			}
			as.Objects = append(as.Objects, r)
			return nil
		})
		if err != nil {
			return as, cs, fmt.Errorf("read AD under %s: %w", base, err)
		}
		as.Complete = as.Complete && res.Complete
	}
	tenant, err := cloudTenant(cfg, log, nil)
	if err != nil {
		return as, cs, err
	}
	cs.Complete = true
	for _, kind := range []cloud.Kind{cloud.KindUser, cloud.KindGroup, cloud.KindContact} {
		res, err := tenant.List(ctx, kind, cloud.ListOptions{}, func(o *cloud.Object) error {
			cs.Objects = append(cs.Objects, o)
			return nil
		})
		if err != nil {
			return as, cs, fmt.Errorf("read the tenant's %ss: %w", kind, err)
		}
		cs.Complete = cs.Complete && res.Complete
	}
	domains, err := tenant.Exchange().AcceptedDomains(ctx)
	if err != nil {
		return as, cs, fmt.Errorf("read accepted domains: %w", err)
	}
	for _, d := range domains {
		cs.AcceptedDomains = append(cs.AcceptedDomains, d.DomainName)
	}
	cs.InitialDomain = cfg.Cloud.InitialDomain
	mailboxes := map[string]bool{}
	res, err := tenant.Exchange().ListRecipients(ctx, "", func(r *cloud.ExoRecipient) error {
		if strings.HasSuffix(r.RecipientTypeDetails, "Mailbox") {
			mailboxes[r.ExternalDirectoryObjectID] = true
		}
		return nil
	})
	if err != nil {
		return as, cs, fmt.Errorf("read Exchange recipients: %w", err)
	}
	cs.Complete = cs.Complete && res.Complete
	byAnchor := map[string]string{}
	for _, o := range cs.Objects {
		if o.Kind == cloud.KindUser && o.OnPremisesImmutableID != "" {
			byAnchor[o.OnPremisesImmutableID] = o.ID
		}
	}
	as.Licensed = map[string]bool{}
	for _, r := range as.Objects {
		if r.Kind != ad.KindUser {
			continue
		}
		anchor, err := plan.ImmutableID(r.GUID)
		if err == nil && mailboxes[byAnchor[anchor]] {
			as.Licensed[plan.DNKey(r.DN)] = true
		}
	}
	return as, cs, nil
}

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
			if err := requireFlag("config", cfgPath); err != nil {
				return err
			}
			cfg, err := config.Load(cfgPath)
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
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(p); err != nil {
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
