package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hybridsync/hybridsync/agent/svc"
)

// serviceCmd is `hybridsync service install|uninstall|start|stop|status`:
// the agent as a systemd unit or a Windows service (agent/svc).
func (a *app) serviceCmd() *cobra.Command {
	cmd := groupCmd("service", "Install and control the agent as a system service (systemd unit or Windows service)")
	cmd.Long = `Install and control hybridsync as a system service. The service runs
"hybridsync run -c CONFIG".

On Linux it is a hardened systemd unit (/etc/systemd/system/hybridsync.service)
running as an unprivileged user (default hybridsync, which must exist); the
.deb package installs the same unit itself. On Windows it is a service running
as LocalSystem with delayed automatic start and restart on failure, logging
its start, stop and failures to the Application Event Log; the .msi installs
the same service itself.

Installing does not start the service: edit the config first, then run
"hybridsync service start". All verbs but status need root (Administrator).`

	var configPath, user string
	install := &cobra.Command{
		Use:   "install [-c CONFIG] [--user USER]",
		Short: "Register the service (enabled at boot, not started)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runtime.GOOS == "windows" && cmd.Flags().Changed("user") {
				return &exitError{2, errors.New("service install: --user is for Linux; the Windows service runs as LocalSystem")}
			}
			if configPath == "" {
				return requireFlag("config", configPath)
			}
			abs, err := filepath.Abs(configPath)
			if err != nil {
				return fmt.Errorf("service install: %w", err)
			}
			m, err := svc.NewManager(svc.Spec{ConfigPath: abs, User: user})
			if err != nil {
				return err
			}
			if err := m.Install(); err != nil {
				return err
			}
			spec := m.Spec()
			if _, err := os.Stat(spec.ConfigPath); err != nil {
				a.logger().Warn("the service's config file does not exist yet; create it before starting the service", "config", spec.ConfigPath)
			}
			fmt.Fprintf(a.stdout, "installed service %s (%s): %s %s\n", spec.Name, m.Platform(), spec.Executable, strings.Join(svc.Arguments(spec.ConfigPath), " "))
			if runtime.GOOS != "windows" {
				fmt.Fprintf(a.stdout, "runs as user %s; enabled at boot, not started\n", spec.User)
			}
			fmt.Fprintf(a.stdout, "edit %s, then run: hybridsync service start\n", spec.ConfigPath)
			return nil
		},
	}
	install.Flags().StringVarP(&configPath, "config", "c", svc.DefaultConfigPath(runtime.GOOS), "config file the service runs with (made absolute)")
	install.Flags().StringVar(&user, "user", svc.DefaultUser, "Linux: user (and same-name group) the unit runs as")

	control := func(verb, short, done string, do func(*svc.Manager) error) *cobra.Command {
		return &cobra.Command{
			Use:   verb,
			Short: short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				m, err := svc.NewManager(svc.Spec{})
				if err != nil {
					return err
				}
				if err := do(m); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "service %s %s\n", m.Spec().Name, done)
				return nil
			},
		}
	}
	uninstall := control("uninstall", "Stop the service if it runs and unregister it", "uninstalled", (*svc.Manager).Uninstall)
	start := control("start", "Start the installed service", "started", (*svc.Manager).Start)
	stop := control("stop", "Stop the service", "stopped", (*svc.Manager).Stop)

	status := &cobra.Command{
		Use:   "status",
		Short: "Show whether the service is installed, enabled and running",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := svc.NewManager(svc.Spec{})
			if err != nil {
				return err
			}
			st, err := m.Status()
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "service %s: %s (%s)\n", m.Spec().Name, st.State, m.Platform())
			if st.UnitPath != "" {
				enabled := "disabled"
				if st.Enabled {
					enabled = "enabled"
				}
				fmt.Fprintf(a.stdout, "unit: %s (%s)\n", st.UnitPath, enabled)
			}
			return nil
		},
	}
	cmd.AddCommand(install, uninstall, start, stop, status)
	return cmd
}
