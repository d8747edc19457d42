//go:build lab

package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/hybridsync/hybridsync/agent/lab"
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
		Short: "Run one sync cycle of the lab's simulated Entra Connect now and print its report (exit 0 only when a cycle ran)",
		Long: `Run one sync cycle of the lab's simulated Entra Connect now and print its report.

It exits 0 only when a cycle ran and applied its changes. With lab faults
--sync-delay D the cycle starts D late and the command returns when it has
run; while the sync is paused (lab faults --sync-paused) no cycle runs and
the command fails at once.`,
		Args: cobra.NoArgs,
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

	var faults lab.Faults
	faultsCmd := &cobra.Command{
		Use:   "faults --dir DIR [--throttle F] [--unavailable F] [--retry-after D] [--latency D] [--visibility-delay D] [--sync-paused] [--sync-delay D]",
		Short: "Set the faults the lab injects into Graph, Exchange Online and its simulated Entra Connect (no flags: none)",
		Long: `Set the faults the lab injects; each call replaces all of them, so a call
without flags clears every fault.

Graph and Exchange Online requests alike: --throttle and --unavailable answer
that fraction of requests 429 or 503 with Retry-After; --latency delays every
request; --visibility-delay hides new objects from reads for that long.

The simulated Entra Connect: --sync-paused stops every sync cycle, the
scheduled ones and those lab sync asks for (which then fails), until the faults
are set again without it: a sync cycle that never comes. --sync-delay makes
every cycle start that much late.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlag("dir", dir); err != nil {
				return err
			}
			if faults.ThrottleRate < 0 || faults.ThrottleRate > 1 || faults.UnavailableRate < 0 || faults.UnavailableRate > 1 ||
				faults.ThrottleRate+faults.UnavailableRate > 1 {
				return &exitError{2, fmt.Errorf("--throttle and --unavailable are fractions between 0 and 1 that add up to at most 1")}
			}
			if faults.Latency < 0 || faults.VisibilityDelay < 0 || faults.RetryAfter < 0 || faults.SyncDelay < 0 {
				return &exitError{2, fmt.Errorf("--retry-after, --latency, --visibility-delay and --sync-delay must not be negative")}
			}
			got, err := lab.SetFaults(cmd.Context(), dir, faults)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "faults set: throttle %g, unavailable %g, retry-after %s, latency %s, visibility-delay %s, sync paused %t, sync delay %s\n",
				got.ThrottleRate, got.UnavailableRate, got.RetryAfter, got.Latency, got.VisibilityDelay, got.SyncPaused, got.SyncDelay)
			return nil
		},
	}
	faultsCmd.Flags().StringVar(&dir, "dir", "", "lab directory")
	faultsCmd.Flags().Float64Var(&faults.ThrottleRate, "throttle", 0, "fraction of Graph and Exchange requests answered 429 with Retry-After")
	faultsCmd.Flags().Float64Var(&faults.UnavailableRate, "unavailable", 0, "fraction of Graph and Exchange requests answered 503")
	faultsCmd.Flags().DurationVar(&faults.RetryAfter, "retry-after", 2*time.Second, "Retry-After sent with 429 and 503")
	faultsCmd.Flags().DurationVar(&faults.Latency, "latency", 0, "latency added to every Graph and Exchange request")
	faultsCmd.Flags().DurationVar(&faults.VisibilityDelay, "visibility-delay", 0, "how long new objects stay invisible to reads (eventual consistency)")
	faultsCmd.Flags().BoolVar(&faults.SyncPaused, "sync-paused", false, "stop every sync cycle of the simulated Entra Connect (lab sync fails) until set again without it")
	faultsCmd.Flags().DurationVar(&faults.SyncDelay, "sync-delay", 0, "start every sync cycle this much late")
	cmd.AddCommand(up, down, status, serve, syncCmd, faultsCmd)
	return cmd
}
