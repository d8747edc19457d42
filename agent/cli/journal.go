package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hybridsync/hybridsync/agent/setup"
	"github.com/hybridsync/hybridsync/reconcile/apply"
	"github.com/hybridsync/hybridsync/reconcile/journal"
)

func (a *app) journalCmd() *cobra.Command {
	cmd := groupCmd("journal", "Show the journal of writes (what was changed, from what, and whether it finished)")
	var (
		cfgPath, state, run string
		limit               int
		asJSON              bool
	)
	list := &cobra.Command{
		Use:   "list -c CONFIG",
		Short: "List journal entries, newest first",
		Long: `Lists the writes hybridsync made or began, newest first: the entry ID (for
journal show and undo), its state (pending: the outcome is not known yet;
done; failed: nothing was applied; rolled_back; undone; superseded: the object
changed since, so the outcome could not be told and the object was left as it
is), the operation and the object. Reads the journal in the config's
state_dir; writes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlag("config", cfgPath); err != nil {
				return err
			}
			if state != "" && !slices.Contains([]journal.State{journal.Pending, journal.Done, journal.Failed, journal.RolledBack, journal.Undone, journal.Superseded}, journal.State(state)) {
				return &exitError{2, fmt.Errorf("journal list: --state %q: use pending, done, failed, rolled_back, undone or superseded", state)}
			}
			j, err := a.openJournalForRead(cfgPath)
			if err != nil {
				return err
			}
			if j == nil {
				if asJSON {
					return writeJSON(a.stdout, []journal.Entry{})
				}
				return nil
			}
			defer j.Close()
			entries, err := j.List(journal.ListFilter{State: journal.State(state), RunID: run, Limit: limit})
			if err != nil {
				return fmt.Errorf("journal list: %w", err)
			}
			if asJSON {
				if entries == nil {
					entries = []journal.Entry{}
				}
				return writeJSON(a.stdout, entries)
			}
			if len(entries) == 0 {
				fmt.Fprintln(a.stdout, "No journal entries.")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tSTARTED\tOPERATION\tOBJECT\tNOTE")
			for _, e := range entries {
				note := ""
				switch {
				case e.UndoOf != "":
					note = "undoes " + e.UndoOf
				case e.UndoneBy != "" && e.State == journal.Undone:
					note = "undone by " + e.UndoneBy
				case e.Error != "":
					note = firstLine(e.Error)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.State, e.Started.Format(time.RFC3339), e.Operation, e.Object, note)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVarP(&cfgPath, "config", "c", "", "config file")
	list.Flags().StringVar(&state, "state", "", "only entries in this state: pending, done, failed, rolled_back, undone, superseded")
	list.Flags().StringVar(&run, "run", "", "only entries of this run ID")
	list.Flags().IntVar(&limit, "limit", 0, "at most this many entries (0: all)")
	list.Flags().BoolVar(&asJSON, "json", false, "print the entries as JSON")

	var showCfg string
	var showJSON bool
	show := &cobra.Command{
		Use:   "show -c CONFIG ID",
		Short: "Show one journal entry: its intent, before-image and after-image",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlag("config", showCfg); err != nil {
				return err
			}
			j, err := a.openJournalForRead(showCfg)
			if err != nil {
				return err
			}
			if j == nil {
				return fmt.Errorf("journal show: no entry %s: the journal is empty", args[0])
			}
			defer j.Close()
			e, err := j.Get(args[0])
			if err != nil {
				return fmt.Errorf("journal show: %w", err)
			}
			if showJSON {
				return writeJSON(a.stdout, e)
			}
			return renderEntry(a.stdout, e)
		},
	}
	show.Flags().StringVarP(&showCfg, "config", "c", "", "config file")
	show.Flags().BoolVar(&showJSON, "json", false, "print the entry as JSON")
	cmd.AddCommand(list, show)
	return cmd
}

// openJournalForRead opens the config's journal; it returns nil, nil (after
// saying so) when nothing was ever written.
func (a *app) openJournalForRead(cfgPath string) (*journal.Journal, error) {
	st, err := a.setup(cfgPath, setup.Observers{})
	if err != nil {
		return nil, err
	}
	j, err := st.OpenJournal(false)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(a.stderr, "No journal in %s yet: hybridsync has written nothing with this config.\n", st.StateDir)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return j, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return s
}

// renderEntry prints an entry for an admin: the header, then for AD
// proxyAddresses changes the values removed and added, then the raw images.
func renderEntry(w io.Writer, e journal.Entry) error {
	field := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%-11s %s\n", k+":", v)
		}
	}
	field("Entry", e.ID)
	field("State", string(e.State))
	field("Run", e.RunID)
	field("Target", string(e.Target))
	field("Operation", e.Operation)
	field("Object", e.Object)
	field("Started", e.Started.Format(time.RFC3339Nano))
	if !e.Finished.IsZero() {
		field("Finished", e.Finished.Format(time.RFC3339Nano))
	}
	field("Undoes", e.UndoOf)
	field("Undone by", e.UndoneBy)
	field("Error", e.Error)
	if in, err := apply.IntentOf(e); err == nil {
		var before, after apply.Image
		_ = json.Unmarshal(e.Before, &before)
		_ = json.Unmarshal(e.After, &after)
		fmt.Fprintf(w, "\nChange to %s (value by value):\n", in.Action.Attribute)
		for _, v := range in.Action.Delete {
			fmt.Fprintf(w, "  - %s\n", v)
		}
		for _, v := range in.Action.Add {
			fmt.Fprintf(w, "  + %s\n", v)
		}
		fmt.Fprintf(w, "\nBefore (uSNChanged %d, mail %s):\n", before.USNChanged, before.Mail)
		for _, v := range before.ProxyAddresses {
			fmt.Fprintf(w, "  %s\n", v)
		}
		label := "After (expected)"
		if e.State != journal.Pending && after.USNChanged != 0 {
			label = fmt.Sprintf("After (read back, uSNChanged %d)", after.USNChanged)
		}
		fmt.Fprintf(w, "\n%s:\n", label)
		for _, v := range after.ProxyAddresses {
			fmt.Fprintf(w, "  %s\n", v)
		}
		return nil
	}
	for _, part := range []struct {
		name string
		raw  json.RawMessage
	}{{"Intent", e.Intent}, {"Before", e.Before}, {"After", e.After}} {
		if len(part.raw) > 0 {
			fmt.Fprintf(w, "\n%s:\n  %s\n", part.name, part.raw)
		}
	}
	return nil
}

func (a *app) undoCmd() *cobra.Command {
	var (
		cfgPath string
		force   bool
	)
	cmd := &cobra.Command{
		Use:   "undo -c CONFIG ID",
		Short: "Reverse a journalled write, restoring the object's before-image",
		Long: `Reverses the write recorded in journal entry ID (see journal list): the values it
added are deleted and the values it deleted are added back, in one value-level
LDAP modify that is journalled like any other write. Values others changed
since are kept; undo refuses, writing nothing, when the entry's own values
are no longer in place, unless --force reverses only those still in place.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.setup(cfgPath, setup.Observers{})
			if err != nil {
				return err
			}
			if st.Staging {
				return fmt.Errorf("undo: %s sets staging: true, so the agent writes nothing; nothing written", cfgPath)
			}
			ctx := cmd.Context()
			j, err := st.OpenJournal(false)
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("undo: no journal in %s: there is no entry %s", st.StateDir, args[0])
			}
			if err != nil {
				return fmt.Errorf("undo: %w", err)
			}
			defer j.Close()
			dir, err := st.DialAD(ctx)
			if err != nil {
				return fmt.Errorf("undo: %w; nothing written", err)
			}
			defer dir.Close()
			ap := st.Applier(dir, j, "undo", a.failpoint)
			ap.OnRecover = a.printRecovered
			if rep, err := ap.Recover(ctx); err != nil {
				return fmt.Errorf("undo: recover the journal: %w", err)
			} else if !rep.Clean() {
				return fmt.Errorf("undo: recover the journal: %w", &apply.UnresolvedError{Report: rep})
			}
			res, err := ap.Undo(ctx, args[0], force)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Undone: entry %s reversed by entry %s on %s.\n", args[0], res.Entry.ID, res.Now.DN)
			if res.Restored {
				fmt.Fprintln(a.stdout, "proxyAddresses are back to the before-image exactly.")
				return nil
			}
			fmt.Fprintln(a.stdout, "proxyAddresses differ from the before-image because of changes made since; they were kept:")
			for _, v := range res.Now.ProxyAddresses {
				mark := " "
				if !slices.Contains(res.Before.ProxyAddresses, v) {
					mark = "+"
				}
				fmt.Fprintf(a.stdout, "  %s %s\n", mark, v)
			}
			for _, v := range res.Before.ProxyAddresses {
				if !slices.Contains(res.Now.ProxyAddresses, v) {
					fmt.Fprintf(a.stdout, "  - %s\n", v)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file")
	cmd.Flags().BoolVar(&force, "force", false, "reverse only the entry's values still in place when others changed them since")
	return cmd
}
