package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hybridsync/hybridsync/agent/lab"
)

func (a *app) labCmd() *cobra.Command {
	cmd := groupCmd("lab", "Run the lab: a Samba AD domain controller on loopback with a seeded organisation")
	var (
		dir  string
		size int
		seed uint64
		ip   string
	)
	up := &cobra.Command{
		Use:   "up --dir DIR",
		Short: "Provision (or restart) the lab in DIR and write DIR/lab.env and DIR/hybridsync.yaml",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlag("dir", dir); err != nil {
				return err
			}
			st, err := lab.Up(cmd.Context(), lab.Options{Dir: dir, Size: size, Seed: seed, IP: ip, Logger: a.logger()})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "lab is up: DC %s at %s (base DN %s)\n", st.DCName, st.IP, st.BaseDN)
			fmt.Fprintf(a.stdout, "environment: %s\nconfig:      %s\n", lab.EnvFile(st.Dir), st.Env()[lab.EnvConfig])
			return nil
		},
	}
	up.Flags().StringVar(&dir, "dir", "", "lab directory (created if missing)")
	up.Flags().IntVar(&size, "size", 5000, "number of bulk users to seed (minimum 5000; use tens of thousands for benchmarks)")
	up.Flags().Uint64Var(&seed, "seed", 1, "seed for the generated organisation")
	up.Flags().StringVar(&ip, "ip", "", "loopback IPv4 address for the DC (default: a free 127.11.0.N)")

	down := &cobra.Command{
		Use:   "down --dir DIR",
		Short: "Stop the lab's DC by its recorded pid and release its loopback address",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlag("dir", dir); err != nil {
				return err
			}
			if err := lab.Down(cmd.Context(), dir); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "lab is down")
			return nil
		},
	}
	down.Flags().StringVar(&dir, "dir", "", "lab directory")

	status := &cobra.Command{
		Use:   "status --dir DIR",
		Short: "Show whether the lab's DC is running, as JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlag("dir", dir); err != nil {
				return err
			}
			st, err := lab.LoadState(dir)
			if err != nil {
				return err
			}
			pid, running := lab.Running(dir)
			out := map[string]any{"running": running, "pid": pid, "state": st}
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(out); err != nil {
				return err
			}
			if !running {
				return &exitError{3, fmt.Errorf("lab in %s is not running", dir)}
			}
			return nil
		},
	}
	status.Flags().StringVar(&dir, "dir", "", "lab directory")
	cmd.AddCommand(up, down, status)
	return cmd
}
