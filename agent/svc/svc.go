// Package svc makes hybridsync an operating-system service through
// github.com/kardianos/service.
//
// It builds the service definition (Config: a hardened systemd unit on
// Linux, rendered from the embedded template hybridsync.service.tmpl; a
// Windows service with recovery actions and delayed auto start), installs
// and controls it on this machine (Manager), and runs the agent under the
// service manager (Run, with Program as the kardianos/service glue).
//
// The service's command line is always "EXECUTABLE run -c CONFIG"
// (Arguments). The .deb and .msi packages in installer/ install the same
// definition: the .deb ships Unit's output, the .msi's ServiceInstall row
// carries the same name, arguments and recovery settings.
package svc

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/kardianos/service"
)

// The service's identity and its fixed settings. The packages in installer/
// use the same values; their tests check that they do.
const (
	// Name is the service name: the systemd unit Name+".service" and the
	// Windows service Name.
	Name = "hybridsync"
	// DisplayName is the Windows service's display name.
	DisplayName = "hybridsync directory agent"
	// Description is the unit's Description= and the Windows service's
	// description.
	Description = "hybridsync agent: reconciles on-premises Active Directory with Entra ID and Exchange Online"
	// DefaultUser is the Linux user (and group) the unit runs as. The .deb
	// creates it as a system user.
	DefaultUser = "hybridsync"
	// StopTimeout bounds how long Program.Stop waits for the agent to return
	// after cancelling it. The unit's TimeoutStopSec is a little longer.
	StopTimeout = 30 * time.Second
	// RestartDelay is how long the service manager waits before restarting
	// a failed agent: systemd's RestartSec and the Windows recovery delay.
	RestartDelay = 30 * time.Second
	// FailureResetPeriod is how long the agent must run without failing for
	// Windows to reset its failure count.
	FailureResetPeriod = 24 * time.Hour
)

// Spec says what to install.
type Spec struct {
	// Name is the service name; empty means Name. Tests install under
	// other names so they never collide with a real installation.
	Name string
	// Executable is the absolute path of the hybridsync binary the service
	// runs; empty means the running executable (symlinks resolved).
	Executable string
	// ConfigPath is the absolute path of the config file the service runs
	// with ("run -c ConfigPath"); empty means DefaultConfigPath.
	ConfigPath string
	// User is the Linux user the unit runs as (its group must have the
	// same name); empty means DefaultUser. Windows ignores it: the service
	// runs as LocalSystem.
	User string
}

// DefaultConfigPath returns the config file a service uses unless told
// otherwise: /etc/hybridsync/hybridsync.yaml, or on Windows
// %ProgramData%\hybridsync\hybridsync.yaml (C:\ProgramData when the
// variable is unset).
func DefaultConfigPath(goos string) string {
	if goos == "windows" {
		pd := os.Getenv("ProgramData")
		if pd == "" {
			pd = `C:\ProgramData`
		}
		return strings.TrimRight(pd, `\`) + `\hybridsync\hybridsync.yaml`
	}
	return "/etc/hybridsync/hybridsync.yaml"
}

// Arguments returns the service's arguments after the executable:
// run -c configPath.
func Arguments(configPath string) []string {
	return []string{"run", "-c", configPath}
}

// WithDefaults returns s with every empty field set to its default for
// goos. It fails only when the running executable cannot be found.
func (s Spec) WithDefaults(goos string) (Spec, error) {
	if s.Name == "" {
		s.Name = Name
	}
	if s.ConfigPath == "" {
		s.ConfigPath = DefaultConfigPath(goos)
	}
	if s.User == "" && goos != "windows" {
		s.User = DefaultUser
	}
	if s.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return s, fmt.Errorf("service: find the running executable: %w", err)
		}
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		s.Executable = exe
	}
	return s, nil
}

// unsafeUnitChars are characters systemd would expand or unquote in
// ExecStart= ('%' specifiers, '$' variables, '\' escapes, '"' quoting) and
// control characters, which kardianos/service does not escape.
var unsafeUnitChars = regexp.MustCompile(`[%$\\"\x00-\x1f\x7f]`)

// hiddenFromUnit are trees the unit's sandbox hides (ProtectHome=yes,
// PrivateTmp=yes): a binary or config there is invisible to the service.
var hiddenFromUnit = []string{"/home", "/root", "/run/user", "/tmp", "/var/tmp"}

var userName = regexp.MustCompile(`^[a-z_][a-z0-9_-]*$`)

// Check reports the first reason s (with defaults applied) cannot be
// installed on goos: a relative path; on Linux, a path under a tree the
// unit's sandbox hides (/home, /root, /run/user, /tmp, /var/tmp), a
// character systemd would expand, or a user that is not a plain lower-case
// name or is root (the agent never runs as root).
func (s Spec) Check(goos string) error {
	for _, p := range []struct{ what, path string }{{"executable", s.Executable}, {"config", s.ConfigPath}} {
		if !isAbs(goos, p.path) {
			return fmt.Errorf("service: the %s path %q is not absolute", p.what, p.path)
		}
		if goos == "windows" {
			continue
		}
		if unsafeUnitChars.MatchString(p.path) {
			return fmt.Errorf("service: the %s path %q holds a character systemd would expand (%%, $, \\, \" or a control character)", p.what, p.path)
		}
		clean := path.Clean(p.path)
		for _, h := range hiddenFromUnit {
			if clean == h || strings.HasPrefix(clean, h+"/") {
				return fmt.Errorf("service: the %s path %s is under %s, which the unit's sandbox hides from the service (ProtectHome=, PrivateTmp=); install it elsewhere, such as /usr/local/bin or /etc/hybridsync", p.what, p.path, h)
			}
		}
	}
	if goos != "windows" {
		if !userName.MatchString(s.User) {
			return fmt.Errorf("service: user %q is not a valid user name", s.User)
		}
		if s.User == "root" {
			return errors.New("service: the agent does not run as root; use an unprivileged user such as " + DefaultUser)
		}
	}
	return nil
}

// isAbs reports whether p is absolute on goos, whatever the running OS.
func isAbs(goos, p string) bool {
	if goos != "windows" {
		return strings.HasPrefix(p, "/")
	}
	if strings.HasPrefix(p, `\\`) {
		return true
	}
	return len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') &&
		('a' <= p[0] && p[0] <= 'z' || 'A' <= p[0] && p[0] <= 'Z')
}

// Config returns the kardianos/service configuration for s (defaults
// applied, see WithDefaults) on goos ("windows"; anything else means
// Linux with systemd). It does not Check s.
//
// Linux: the unit is the embedded template (option SystemdScript), run as
// s.User. Windows: automatic start, delayed (DelayedAutoStart), run as
// LocalSystem, restarted RestartDelay after every failure (OnFailure),
// with the failure count reset after FailureResetPeriod.
func Config(s Spec, goos string) *service.Config {
	c := &service.Config{
		Name:        s.Name,
		DisplayName: DisplayName,
		Description: Description,
		Executable:  s.Executable,
		Arguments:   Arguments(s.ConfigPath),
	}
	if goos == "windows" {
		c.Option = service.KeyValue{
			"StartType":              "automatic",
			"DelayedAutoStart":       true,
			"OnFailure":              "restart",
			"OnFailureDelayDuration": RestartDelay.String(),
			"OnFailureResetPeriod":   int(FailureResetPeriod / time.Second),
		}
		return c
	}
	c.UserName = s.User
	c.Option = service.KeyValue{"SystemdScript": UnitTemplate()}
	return c
}
