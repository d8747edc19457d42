//go:build lab

package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/hybridsync/hybridsync/agent/lab"
	"github.com/hybridsync/hybridsync/cloud/emulator"
)

// labCmds are the commands of the development build (go build -tags lab):
// the lab, its tenant emulator and its simulated Entra Connect. The release
// build has none of them (lab_release.go).
func (a *app) labCmds() []*cobra.Command { return []*cobra.Command{a.labCmd()} }

func (a *app) labCmd() *cobra.Command {
	cmd := groupCmd("lab", "Run the lab: a Samba AD domain controller on loopback with a seeded organisation")
	var (
		dir    string
		size   int
		seed   uint64
		ip     string
		anchor string
	)
	up := &cobra.Command{
		Use:   "up --dir DIR",
		Short: "Provision (or restart) the lab in DIR and write DIR/lab.env and DIR/hybridsync.yaml",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlag("dir", dir); err != nil {
				return err
			}
			st, err := lab.Up(cmd.Context(), lab.Options{Dir: dir, Size: size, Seed: seed, IP: ip, SourceAnchor: anchor, Logger: a.logger()})
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
	up.Flags().StringVar(&anchor, "source-anchor", "", "sourceAnchor of the lab's simulated Entra Connect for a new lab: objectGUID (default) or mS-DS-ConsistencyGuid (users anchored on it, objectGUID written back while it is empty)")

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
			if err := writeJSON(a.stdout, out); err != nil {
				return err
			}
			if !running {
				return &exitError{3, fmt.Errorf("lab in %s is not running", dir)}
			}
			return nil
		},
	}
	status.Flags().StringVar(&dir, "dir", "", "lab directory")
	var interval time.Duration
	serve := &cobra.Command{
		Use:    "serve-emulator --dir DIR",
		Short:  "Run the lab's tenant emulator and sync simulator in the foreground (lab up starts it)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlag("dir", dir); err != nil {
				return err
			}
			return lab.ServeEmulator(cmd.Context(), dir, interval, a.logger())
		},
	}
	serve.Flags().StringVar(&dir, "dir", "", "lab directory")
	serve.Flags().DurationVar(&interval, "interval", 30*time.Second, "sync cycle interval")

	syncCmd := &cobra.Command{
		Use:   "sync --dir DIR",
		Short: "Run one sync cycle of the lab's simulated Entra Connect now and print its report",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlag("dir", dir); err != nil {
				return err
			}
			rep, err := lab.TriggerSync(cmd.Context(), dir)
			if err != nil {
				return err
			}
			return writeJSON(a.stdout, rep)
		},
	}
	syncCmd.Flags().StringVar(&dir, "dir", "", "lab directory")

	var faults emulator.Faults
	faultsCmd := &cobra.Command{
		Use:   "faults --dir DIR [--throttle F] [--unavailable F] [--retry-after D] [--latency D] [--visibility-delay D]",
		Short: "Set the faults the lab's tenant emulator injects (all zero: none)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlag("dir", dir); err != nil {
				return err
			}
			if faults.ThrottleRate < 0 || faults.ThrottleRate > 1 || faults.UnavailableRate < 0 || faults.UnavailableRate > 1 {
				return &exitError{2, fmt.Errorf("--throttle and --unavailable are fractions between 0 and 1")}
			}
			if err := lab.SetFaults(cmd.Context(), dir, faults); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "faults set")
			return nil
		},
	}
	faultsCmd.Flags().StringVar(&dir, "dir", "", "lab directory")
	faultsCmd.Flags().Float64Var(&faults.ThrottleRate, "throttle", 0, "fraction of requests answered 429 with Retry-After")
	faultsCmd.Flags().Float64Var(&faults.UnavailableRate, "unavailable", 0, "fraction of requests answered 503")
	faultsCmd.Flags().DurationVar(&faults.RetryAfter, "retry-after", 2*time.Second, "Retry-After sent with 429 and 503")
	faultsCmd.Flags().DurationVar(&faults.Latency, "latency", 0, "latency added to every request")
	faultsCmd.Flags().DurationVar(&faults.VisibilityDelay, "visibility-delay", 0, "how long new objects stay invisible to reads (eventual consistency)")
	cmd.AddCommand(up, down, status, serve, syncCmd, faultsCmd)
	return cmd
}
