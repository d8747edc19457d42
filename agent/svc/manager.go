package svc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/kardianos/service"
)

// ErrSystemdOffline is returned by Start and Stop on a Linux machine whose
// systemd is installed but not running (a container, a chroot, an image
// being built): the unit can be installed and enabled there, and starts at
// the next boot, but nothing can be started now.
var ErrSystemdOffline = errors.New("systemd is not running on this machine: an installed unit starts at the next boot")

// ErrNotInstalled is returned by Uninstall when the service is not
// installed.
var ErrNotInstalled = errors.New("the service is not installed")

// Where systemd units live. kardianos/service installs into unitDir; the
// .deb ships its unit in a packaged directory. Variables for tests.
var (
	unitDir          = "/etc/systemd/system"
	packagedUnitDirs = []string{"/lib/systemd/system", "/usr/lib/systemd/system"}
	// systemdRunDir exists when systemd is PID 1 (sd_booted).
	systemdRunDir = "/run/systemd/system"
)

// State is a service's state.
type State string

// The states Status reports.
const (
	StateRunning      State = "running"
	StateStopped      State = "stopped"
	StateFailed       State = "failed"
	StateNotInstalled State = "not installed"
)

// Status describes the installed service.
type Status struct {
	State State
	// Enabled (Linux): the unit starts at boot (systemctl is-enabled).
	Enabled bool
	// UnitPath (Linux): the unit file in use, installed by
	// "service install" in /etc/systemd/system or by the .deb.
	UnitPath string
	// Offline (Linux): systemd is not running here; State is then
	// StateStopped or StateNotInstalled.
	Offline bool
}

// Manager installs, removes, starts, stops and inspects the service on
// this machine through kardianos/service.
//
// On Linux it always uses kardianos/service's systemd backend: the agent is
// only installed as its hardened systemd unit, never as a SysV script
// (which would run it as root with no sandbox). When systemd is installed
// but not running (no /run/systemd/system: a container or an image build)
// the Manager works offline: systemctl is run with SYSTEMD_OFFLINE=1 (set in
// this process's environment), so Install writes and enables the unit
// without a daemon-reload, Uninstall disables and removes it, and Start and
// Stop return ErrSystemdOffline. Without systemctl, NewManager fails.
type Manager struct {
	spec     Spec
	goos     string
	svc      service.Service
	platform string
	offline  bool
}

// idle is the service.Interface of a Manager, which never runs the service.
type idle struct{}

func (idle) Start(service.Service) error { return nil }
func (idle) Stop(service.Service) error  { return nil }

// NewManager returns a Manager for spec (defaults applied, see
// WithDefaults) on this machine. It supports Linux with systemd and
// Windows.
func NewManager(spec Spec) (*Manager, error) {
	goos := runtime.GOOS
	spec, err := spec.WithDefaults(goos)
	if err != nil {
		return nil, err
	}
	m := &Manager{spec: spec, goos: goos}
	cfg := Config(spec, goos)
	switch goos {
	case "windows":
		if m.svc, err = service.New(idle{}, cfg); err != nil {
			return nil, fmt.Errorf("service: %w", err)
		}
		m.platform = m.svc.Platform()
	case "linux":
		sys, err := systemdBackend()
		if err != nil {
			return nil, err
		}
		if !isDir(systemdRunDir) {
			if _, err := exec.LookPath("systemctl"); err != nil {
				return nil, fmt.Errorf("service: systemd not found (kardianos/service would use %s): hybridsync installs only as a hardened systemd unit; on another init system, supervise %q yourself", service.Platform(), "hybridsync run -c CONFIG")
			}
			m.offline = true
			if err := os.Setenv("SYSTEMD_OFFLINE", "1"); err != nil {
				return nil, fmt.Errorf("service: %w", err)
			}
		}
		if m.svc, err = sys.New(idle{}, cfg); err != nil {
			return nil, fmt.Errorf("service: %w", err)
		}
		m.platform = m.svc.Platform()
		if m.offline {
			m.platform += " (offline: systemd is not running)"
		}
	default:
		return nil, fmt.Errorf("service: %s is not supported (Linux with systemd and Windows are)", goos)
	}
	return m, nil
}

// systemdBackend returns kardianos/service's systemd backend, whether or
// not it detected systemd as this machine's service manager.
func systemdBackend() (service.System, error) {
	for _, s := range service.AvailableSystems() {
		if s.String() == "linux-systemd" {
			return s, nil
		}
	}
	return nil, errors.New("service: kardianos/service has no linux-systemd backend")
}

// Platform names the service manager in use, such as "linux-systemd",
// "linux-systemd (offline: systemd is not running)" or "windows-service".
func (m *Manager) Platform() string { return m.platform }

// Spec returns the Manager's spec, defaults applied.
func (m *Manager) Spec() Spec { return m.spec }

// unitPath is where kardianos/service writes the unit.
func (m *Manager) unitPath() string { return filepath.Join(unitDir, m.spec.Name+".service") }

// packagedUnit returns the path of the unit a package installed, or "".
func (m *Manager) packagedUnit() string {
	for _, d := range packagedUnitDirs {
		p := filepath.Join(d, m.spec.Name+".service")
		if isFile(p) {
			return p
		}
	}
	return ""
}

// Install registers the service without starting it: on Linux it writes
// the unit to /etc/systemd/system and enables it (the admin edits the config
// first, then starts it); on Windows it creates the service (automatic,
// delayed start; recovery actions) and its Event Log source. It fails when
// the spec does not pass Check, when the service is already installed
// (also by a package), or on Linux when the user or its same-name group
// does not exist. A failed install removes what it wrote.
func (m *Manager) Install() error {
	if err := m.spec.Check(m.goos); err != nil {
		return fmt.Errorf("service install: %w", err)
	}
	if m.goos == "windows" {
		if _, err := m.svc.Status(); !errors.Is(err, service.ErrNotInstalled) {
			if err == nil {
				return errors.New("service install: already installed; run \"hybridsync service uninstall\" first")
			}
			return fmt.Errorf("service install: %w", err)
		}
		if err := m.svc.Install(); err != nil {
			// kardianos/service leaves the service behind when setting
			// its recovery actions fails.
			_ = m.svc.Uninstall()
			return fmt.Errorf("service install: %w", err)
		}
		return nil
	}
	if p := m.packagedUnit(); p != "" {
		return fmt.Errorf("service install: the hybridsync package already installed %s; edit its config and run \"hybridsync service start\"", p)
	}
	unit := m.unitPath()
	if isFile(unit) {
		return fmt.Errorf("service install: already installed (%s exists); run \"hybridsync service uninstall\" first", unit)
	}
	if _, err := os.Lstat(unit); err == nil {
		// Not a file: a mask (a link to /dev/null), such as the one a
		// removed but not purged package leaves.
		return fmt.Errorf("service install: %s exists and is not a unit file (a mask? see systemctl unmask, or purge the removed package)", unit)
	}
	if !nssHas("passwd", m.spec.User) {
		return fmt.Errorf("service install: user %s does not exist; create it first (the .deb does): useradd --system --user-group --home-dir /var/lib/hybridsync --shell /usr/sbin/nologin %s", m.spec.User, m.spec.User)
	}
	if !nssHas("group", m.spec.User) {
		return fmt.Errorf("service install: group %s does not exist (the unit runs with Group=%s)", m.spec.User, m.spec.User)
	}
	if err := m.svc.Install(); err != nil {
		// kardianos/service leaves the unit behind when enable or
		// daemon-reload fails.
		_ = m.svc.Uninstall()
		_ = os.Remove(unit)
		return fmt.Errorf("service install: %w", err)
	}
	return nil
}

// Uninstall stops the service if it runs and removes it. On Linux it
// disables and deletes the unit "service install" wrote; a unit installed
// by the .deb is the package's to remove. It returns an error wrapping
// ErrNotInstalled when there is nothing to remove.
func (m *Manager) Uninstall() error {
	if m.goos == "linux" && !isFile(m.unitPath()) {
		if p := m.packagedUnit(); p != "" {
			return fmt.Errorf("service uninstall: %s belongs to the hybridsync package; remove the package instead (apt remove hybridsync)", p)
		}
		return fmt.Errorf("service uninstall: %w", ErrNotInstalled)
	}
	if m.goos == "windows" {
		st, err := m.svc.Status()
		if errors.Is(err, service.ErrNotInstalled) {
			return fmt.Errorf("service uninstall: %w", ErrNotInstalled)
		}
		if err == nil && st == service.StatusRunning {
			if err := m.svc.Stop(); err != nil {
				return fmt.Errorf("service uninstall: stop: %w", err)
			}
		}
	} else if !m.offline {
		// systemctl disable leaves a running service running.
		if err := m.svc.Stop(); err != nil {
			return fmt.Errorf("service uninstall: stop: %w", err)
		}
	}
	if err := m.svc.Uninstall(); err != nil {
		return fmt.Errorf("service uninstall: %w", err)
	}
	return nil
}

// Start asks the service manager to start the service.
func (m *Manager) Start() error {
	if m.offline {
		return fmt.Errorf("service start: %w", ErrSystemdOffline)
	}
	if err := m.svc.Start(); err != nil {
		return fmt.Errorf("service start: %w", err)
	}
	return nil
}

// Stop asks the service manager to stop the service; the agent stops
// within StopTimeout.
func (m *Manager) Stop() error {
	if m.offline {
		return fmt.Errorf("service stop: %w", ErrSystemdOffline)
	}
	if err := m.svc.Stop(); err != nil {
		return fmt.Errorf("service stop: %w", err)
	}
	return nil
}

// Status reports whether the service is installed and running.
func (m *Manager) Status() (Status, error) {
	var st Status
	if m.goos == "linux" {
		st.Offline = m.offline
		switch {
		case isFile(m.unitPath()):
			st.UnitPath = m.unitPath()
		case m.packagedUnit() != "":
			st.UnitPath = m.packagedUnit()
		default:
			st.State = StateNotInstalled
			return st, nil
		}
		out, _ := exec.Command("systemctl", "is-enabled", m.spec.Name+".service").Output()
		st.Enabled = strings.TrimSpace(string(out)) == "enabled"
		if m.offline {
			st.State = StateStopped
			return st, nil
		}
	}
	s, err := m.svc.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		if m.goos == "linux" {
			// The unit file exists but systemd has not loaded it.
			st.State = StateStopped
		} else {
			st.State = StateNotInstalled
		}
	case err != nil && strings.Contains(err.Error(), "failed state"):
		st.State = StateFailed
	case err != nil:
		return st, fmt.Errorf("service status: %w", err)
	case s == service.StatusRunning:
		st.State = StateRunning
	default:
		st.State = StateStopped
	}
	return st, nil
}

// nssHas reports whether the user (db "passwd") or group (db "group")
// name exists. A static build's os/user reads only /etc/passwd and
// /etc/group, so getent is asked too: it sees directory users (sssd,
// winbind) as systemd will.
func nssHas(db, name string) bool {
	var err error
	if db == "passwd" {
		_, err = user.Lookup(name)
	} else {
		_, err = user.LookupGroup(name)
	}
	return err == nil || exec.Command("getent", db, name).Run() == nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
