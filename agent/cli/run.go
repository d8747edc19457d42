package cli

import (
	"context"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/hybridsync/hybridsync/agent/config"
	"github.com/hybridsync/hybridsync/agent/daemon"
	"github.com/hybridsync/hybridsync/agent/svc"
)

func (a *app) runCmd() *cobra.Command {
	var cfgPath, listen string
	cmd := &cobra.Command{
		Use:   "run -c CONFIG [--listen ADDR]",
		Short: "Run the agent: reconcile on a schedule and serve /metrics, /healthz, /readyz and /status",
		Long: `Runs the agent in the foreground until interrupted (or under the service
manager, when started as the installed service). It reads AD and the tenant
on the config's schedule (full reads at least daily, incremental reads in
between), reports findings as metrics and in /status, and in reconcile.mode
enforce applies the safe fixes through the journal. The config file is
reloaded when it changes and on SIGHUP; a config that does not load is
rejected and the running one kept.

--listen overrides http.listen (default 127.0.0.1:9847).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlag("config", cfgPath); err != nil {
				return err
			}
			opts := daemon.Options{ConfigPath: cfgPath, Listen: listen, Version: version, Revision: commit}
			cfg, err := config.Load(cfgPath)
			if svc.Interactive() {
				if err != nil {
					return err
				}
				opts.Logger = a.configLogger(cmd, cfg)
				return daemon.Run(cmd.Context(), opts)
			}
			// Under the service manager a bad config must reach its log (the
			// Event Log on Windows): daemon.Run reports it from inside.
			log := a.logger()
			if err == nil {
				log = a.configLogger(cmd, cfg)
			}
			return svc.Run(cmd.Context(), svc.Name, func(ctx context.Context, log *slog.Logger) error {
				opts.Logger = log
				return daemon.Run(ctx, opts)
			}, log)
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file")
	cmd.Flags().StringVar(&listen, "listen", "", "HTTP listen address (host:port), overriding http.listen")
	return cmd
}

// configLogger is the logger the config's logging section asks for; the
// --log-level and --log-format flags win when given.
func (a *app) configLogger(cmd *cobra.Command, cfg *config.Config) *slog.Logger {
	level, format := cfg.Logging.Level, cfg.Logging.Format
	if f := cmd.Flag("log-level"); f != nil && f.Changed {
		level = a.logLevel
	}
	if f := cmd.Flag("log-format"); f != nil && f.Changed {
		format = a.logFormat
	}
	return newLogger(a.stderr, level, format)
}
