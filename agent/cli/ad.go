package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/agent/setup"
)

func (a *app) adCmd() *cobra.Command {
	cmd := groupCmd("ad", "Read on-premises Active Directory")
	var cfgPath, out, base string
	var showQuery bool
	export := &cobra.Command{
		Use:   "export -c CONFIG",
		Short: "Write one JSON object per mail-enabled recipient (users, groups, contacts, dynamic DLs)",
		Long: `Streams every mail-enabled recipient under the base DN (or --base) as JSON
lines: DN, objectGUID, class, mail, mailNickname, proxyAddresses, targetAddress
and, for groups, the complete member list (ranged retrieval for large groups).
The last line on stderr says how many recipients were read; the exit code is
non-zero if the read was not complete. With -o FILE, the export is written to
a temporary file that replaces FILE only when the read completed: a failed
export leaves FILE as it was (absent, or the previous export).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if showQuery {
				fmt.Fprintf(a.stdout, "filter: %s\nattributes: %s\n", adldap.MailEnabledFilter(), strings.Join(adldap.RecipientAttributes(), " "))
				return nil
			}
			st, err := a.setup(cfgPath, setup.Observers{})
			if err != nil {
				return err
			}
			log := a.logger()
			ctx := cmd.Context()
			c, err := st.DialAD(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			w, commit, abort, err := a.openExportOutput(out)
			if err != nil {
				return fmt.Errorf("ad export: %w", err)
			}
			bw := bufio.NewWriterSize(w, 256<<10)
			enc := json.NewEncoder(bw)
			start := time.Now()
			res, err := c.StreamRecipients(ctx, base, func(r *ad.Recipient) error {
				return enc.Encode(r.ExportView())
			})
			if ferr := bw.Flush(); err == nil && ferr != nil {
				err = ferr
			}
			if err != nil {
				abort()
				return fmt.Errorf("ad export: read incomplete after %d recipients: %w", res.Entries, err)
			}
			if !res.Complete {
				abort()
			} else if err := commit(); err != nil {
				return fmt.Errorf("ad export: %w", err)
			}
			log.Info("ad export done", "recipients", res.Entries, "pages", res.Pages, "complete", res.Complete,
				"server_url", res.Server, "duration_seconds", time.Since(start).Seconds())
			if !res.Complete {
				return fmt.Errorf("ad export: read incomplete after %d recipients", res.Entries)
			}
			return nil
		},
	}
	export.Flags().StringVarP(&cfgPath, "config", "c", "", "config file")
	export.Flags().StringVarP(&out, "output", "o", "-", "output file (- for stdout)")
	export.Flags().StringVar(&base, "base", "", "search base (default: the config's base_dn)")
	export.Flags().BoolVar(&showQuery, "show-query", false, "print the LDAP filter and attributes the export asks for, and exit")
	cmd.AddCommand(export)
	return cmd
}

// openExportOutput returns where `ad export` writes its output. For "" or
// "-" that is stdout, written as recipients are read; commit and abort do
// nothing. Otherwise it is a new file PATH.tmp-<random> in PATH's
// directory: commit syncs and closes it and renames it to PATH (replacing
// any file there), abort closes and removes it. Exactly one of them must be called,
// so PATH only ever holds a complete export and no temporary file is left.
func (a *app) openExportOutput(path string) (w io.Writer, commit func() error, abort func(), err error) {
	if path == "" || path == "-" {
		return a.stdout, func() error { return nil }, func() {}, nil
	}
	tmp := path + ".tmp-" + rand.Text()
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return nil, nil, nil, err
	}
	commit = func() error {
		err := f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp, path)
		}
		if err != nil {
			_ = os.Remove(tmp)
		}
		return err
	}
	abort = func() {
		_ = f.Close()
		_ = os.Remove(tmp)
	}
	return f, commit, abort, nil
}

func (a *app) configCmd() *cobra.Command {
	cmd := groupCmd("config", "Work with the configuration file")
	var cfgPath string
	var offline bool
	validate := &cobra.Command{
		Use:   "validate -c CONFIG",
		Short: "Check the config's syntax and rules, then that every DC accepts the bind and the tenant issues tokens",
		Long: `Loads the config strictly (unknown keys, wrong types and every rule the JSON
Schema configs/hybridsync.schema.json states, plus the cross-field rules it
cannot), reporting every problem with its line. Then, unless --offline, binds
to each domain controller in ad.urls in turn and asks the cloud's token
endpoint for a Graph and an Exchange token with the configured credential,
reporting each result. Exits 1 when anything fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.setup(cfgPath, setup.Observers{})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s: syntax and rules OK\n", cfgPath)
			if offline {
				return nil
			}
			return a.checkReachable(cmd.Context(), st)
		},
	}
	validate.Flags().StringVarP(&cfgPath, "config", "c", "", "config file")
	validate.Flags().BoolVar(&offline, "offline", false, "check syntax and rules only; contact neither the DCs nor the token endpoint")
	cmd.AddCommand(validate)
	return cmd
}

// checkReachable binds to every DC and gets cloud tokens, reporting each.
func (a *app) checkReachable(ctx context.Context, st *setup.Setup) error {
	var failed []string
	st.DialEachDC(ctx, func(u string, err error) {
		if err != nil {
			fmt.Fprintf(a.stdout, "%s: DC %s: FAILED: %v\n", st.Path, u, err)
			failed = append(failed, u)
			return
		}
		fmt.Fprintf(a.stdout, "%s: DC %s: bound\n", st.Path, u)
	})
	if st.HasCloud {
		authority, err := st.CheckTokens(ctx)
		if err != nil {
			fmt.Fprintf(a.stdout, "%s: token endpoint %s: FAILED: %v\n", st.Path, authority, err)
			failed = append(failed, "the token endpoint")
		} else {
			fmt.Fprintf(a.stdout, "%s: token endpoint %s: Graph and Exchange tokens issued\n", st.Path, authority)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("config validate: %s: cannot reach %s", st.Path, strings.Join(failed, ", "))
	}
	return nil
}
