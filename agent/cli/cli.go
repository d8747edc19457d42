// Package cli wires hybridsync's subcommands (`hybridsync <noun> <verb>`).
// Each command does its work through the product packages; this package
// only parses flags, sets up logging and maps errors to exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"

	"github.com/hybridsync/hybridsync/agent/config"
	"github.com/hybridsync/hybridsync/agent/setup"
	"github.com/hybridsync/hybridsync/internal/failpoint"
	"github.com/spf13/cobra"
)

// Build information, set with -ldflags "-X .../agent/cli.version=...".
var (
	version = "dev"
	commit  = ""
)

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// app holds what commands share; no package-level mutable state.
type app struct {
	stdout, stderr io.Writer
	logLevel       string
	logFormat      string
	// failpoint is Options.Failpoint.
	failpoint failpoint.Hook
}

// Options are what Run takes beyond the arguments.
type Options struct {
	// Failpoint is called at the failpoints of every journalled write.
	// The release binary (Main) never sets it: crash tests do, in the
	// child processes they kill.
	Failpoint failpoint.Hook
}

func (a *app) logger() *slog.Logger { return newLogger(a.stderr, a.logLevel, a.logFormat) }

// newLogger logs to w at level (debug, info, warn, error; info when not
// one of them) as text, or as JSON when format is "json".
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Main runs the CLI and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return Run(ctx, args, stdout, stderr, Options{})
}

// Run is Main with Options.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, opts Options) int {
	a := &app{stdout: stdout, stderr: stderr, failpoint: opts.Failpoint}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "hybridsync: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "hybridsync",
		Short: "Hybrid Exchange/Entra directory agent: read AD, diff with the cloud, migrate DLs safely",
		Long: `hybridsync reads on-premises Active Directory over LDAP, compares it with
Entra ID and Exchange Online, and carries out distribution-list migrations and
address fixes with a journal that can undo every write.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&a.logFormat, "log-format", "text", "log format: text or json")
	root.AddCommand(a.versionCmd(), a.adCmd(), a.cloudCmd(), a.planCmd(), a.applyCmd(), a.journalCmd(), a.undoCmd(), a.migrateCmd(), a.configCmd(), a.runCmd(), a.serviceCmd())
	root.AddCommand(a.labCmds()...)
	return root
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and build information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, c := version, commit
			goVersion := ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				goVersion = bi.GoVersion
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" && c == "" {
						c = s.Value
					}
				}
			}
			fmt.Fprintf(a.stdout, "hybridsync %s (commit %s, %s)\n", v, orUnknown(c), goVersion)
			return nil
		},
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// groupCmd is a noun with verbs under it: run alone it prints help, with
// an unknown verb it fails.
func groupCmd(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &exitError{2, fmt.Errorf("unknown command %q for %q; see %s --help", args[0], cmd.CommandPath(), cmd.CommandPath())}
			}
			return cmd.Help()
		},
	}
}

// setup loads the config file named by a command's --config flag and
// builds its Setup, once: the commands hand it down instead of the config.
func (a *app) setup(path string, obs setup.Observers) (*setup.Setup, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	return setup.New(cfg, path, a.logger(), obs)
}

// loadConfig loads the file named by a command's required --config flag.
func loadConfig(path string) (*config.Config, error) {
	if err := requireFlag("config", path); err != nil {
		return nil, err
	}
	return config.Load(path)
}

// requireFlag returns an error naming a missing required flag.
func requireFlag(name, value string) error {
	if value == "" {
		return &exitError{2, fmt.Errorf("--%s is required", name)}
	}
	return nil
}
