package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/hybridsync/hybridsync/agent/setup"
	"github.com/hybridsync/hybridsync/cloud"
)

// requestCounter counts the HTTP requests the cloud clients make.
type requestCounter struct{ n int }

func (r *requestCounter) observe(string, string, time.Duration) { r.n++ }

// cloudExportRecord is one line of `cloud export`.
type cloudExportRecord struct {
	*cloud.Object
	Members []string `json:"members,omitempty"`
}

func (a *app) cloudCmd() *cobra.Command {
	cmd := groupCmd("cloud", "Read the Microsoft 365 tenant (Entra ID through Graph, Exchange Online)")
	var cfgPath, out string
	export := &cobra.Command{
		Use:   "export -c CONFIG",
		Short: "Write one JSON object per mail-enabled recipient as the tenant sees it",
		Long: `Lists users, groups (with their direct members) and organisational contacts
through Microsoft Graph and writes one JSON object per line for each that has
a mail address: id, type, displayName, mail, mailNickname, userPrincipalName,
proxyAddresses, group type, onPremisesSyncEnabled, onPremisesImmutableId and
member ids. The exit code is non-zero if any listing was incomplete; with
-o FILE the file is replaced only by a complete export.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var count requestCounter
			st, err := a.setup(cfgPath, setup.Observers{Graph: count.observe, Exchange: count.observe})
			if err != nil {
				return err
			}
			log := a.logger()
			tenant, err := st.Tenant()
			if err != nil {
				return fmt.Errorf("cloud export: %w", err)
			}
			w, commit, abort, err := a.openExportOutput(out)
			if err != nil {
				return fmt.Errorf("cloud export: %w", err)
			}
			bw := bufio.NewWriterSize(w, 256<<10)
			enc := json.NewEncoder(bw)
			start := time.Now()
			objects, written := 0, 0
			for _, kind := range []cloud.Kind{cloud.KindUser, cloud.KindGroup, cloud.KindContact} {
				res, err := tenant.List(cmd.Context(), kind, cloud.ListOptions{Members: kind == cloud.KindGroup}, func(o *cloud.Object) error {
					objects++
					if o.Mail == "" && len(o.ProxyAddresses) == 0 {
						return nil
					}
					rec := cloudExportRecord{Object: o}
					for _, m := range o.Members {
						rec.Members = append(rec.Members, m.ID)
					}
					written++
					return enc.Encode(rec)
				})
				if err == nil && !res.Complete {
					err = fmt.Errorf("listing of %s was not complete", kind)
				}
				if err != nil {
					abort()
					return fmt.Errorf("cloud export: %w", err)
				}
			}
			if err := bw.Flush(); err != nil {
				abort()
				return fmt.Errorf("cloud export: %w", err)
			}
			if err := commit(); err != nil {
				return fmt.Errorf("cloud export: %w", err)
			}
			perK := 0.0
			if objects > 0 {
				perK = float64(count.n) * 1000 / float64(objects)
			}
			log.Info("cloud export done", "recipients", written, "objects_read", objects, "requests", count.n,
				"requests_per_1000_objects", perK, "duration_seconds", time.Since(start).Seconds())
			return nil
		},
	}
	export.Flags().StringVarP(&cfgPath, "config", "c", "", "config file")
	export.Flags().StringVarP(&out, "output", "o", "-", "output file (- for stdout)")
	cmd.AddCommand(export)
	return cmd
}

const exchangeTimeout = 16 * time.Minute
