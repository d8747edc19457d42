package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/hybridsync/hybridsync/reconcile/migrate"
)

func (a *app) migrateAddressCmd() *cobra.Command {
	var cfgPath, primary, alias string
	cmd := &cobra.Command{
		Use:   "address -c CONFIG GROUP --primary NEW [--alias ALIAS]",
		Short: "Change a migrated list's primary address (and alias) in the cloud and on premises together",
		Long: `Changes the primary SMTP address of a list migrated by hybridsync (GROUP is
the group as configured, its objectGUID, or its current primary address):
first the cloud list (the old primary kept as a secondary smtp: address,
the alias set with --alias), then the on-premises dynamic list's mail,
proxyAddresses (the new SMTP:, the old kept as smtp:) and mailNickname, and
the routing contact's addresses where they carry the old primary, so that
on-premises senders keep reaching the list. Every write is journalled with
its before-image first, and the change is recorded in the saga.

Refused before anything is written: a malformed address or alias, a domain
the tenant does not accept, an address another recipient holds in either
directory, a group hybridsync has not migrated. When the on-premises write
fails after the cloud write, the cloud write is undone and the command
exits non-zero saying so: nothing is left half-changed. A write whose
outcome is not known (a connection lost) leaves the change unfinished
(migrate status says so): run the same command again to finish it.

A list migrated by soa has no dynamic list: its cloud list (and the routing
contact, if it carries the old address) changes; the on-premises group
keeps its addresses. A later migrate rollback discards the change (the
group returns with its own addresses) and so needs --force.

Exit codes: 0 changed, 1 refused or failed (nothing changed, unless the
message says the change is unfinished).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlag("config", cfgPath); err != nil {
				return err
			}
			if err := requireFlag("primary", primary); err != nil {
				return err
			}
			ctx := cmd.Context()
			m, err := a.openMigration(ctx, cfgPath, true, migrate.Observer{})
			if err != nil {
				return fmt.Errorf("migrate address: %w", err)
			}
			defer m.close()
			if m.st.Staging {
				return fmt.Errorf("migrate address: %s sets staging: true, so the agent writes nothing; nothing written", cfgPath)
			}
			s, err := findSaga(ctx, m, args[0])
			if err != nil {
				return fmt.Errorf("migrate address: %w", err)
			}
			if s == nil {
				return fmt.Errorf("migrate address: %s was never migrated by hybridsync (no saga in %s); nothing written", args[0], m.j.Path())
			}
			s, rep, err := m.env.ChangeAddress(ctx, s, primary, alias)
			if rep != nil {
				for _, n := range rep.Notes {
					fmt.Fprintf(a.stdout, "%s: note: %s\n", args[0], n)
				}
			}
			switch {
			case errors.Is(err, migrate.ErrBadAddress):
				return fmt.Errorf("migrate address: %w; nothing written", err)
			case err != nil:
				return fmt.Errorf("migrate address: %w", err)
			}
			fmt.Fprintf(a.stdout, "%s: primary address %s (alias %s), was %s (kept as a secondary address): the cloud list %s", args[0],
				rep.Change.ToPrimary, rep.Change.ToAlias, rep.Change.FromPrimary, rep.Cloud)
			if rep.DynamicList != "" {
				fmt.Fprintf(a.stdout, ", the dynamic list %s", rep.DynamicList)
			}
			if rep.Contact != "" {
				fmt.Fprintf(a.stdout, ", the routing contact %s", rep.Contact)
			}
			fmt.Fprintf(a.stdout, "\n%s: %s\n", args[0], migrate.Describe(s, time.Now()))
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file")
	cmd.Flags().StringVar(&primary, "primary", "", "the new primary SMTP address")
	cmd.Flags().StringVar(&alias, "alias", "", "the new alias (mailNickname); kept when not given")
	return cmd
}
