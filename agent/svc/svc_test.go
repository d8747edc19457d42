package svc

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// requireTool returns the path of a tool the test needs. Without it the
// test is skipped, or fails when HYBRIDSYNC_REQUIRE_LAB=1 (the full suite,
// scripts/test.sh, which installs every tool).
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("HYBRIDSYNC_REQUIRE_LAB") == "1" {
			t.Fatalf("%s is required (HYBRIDSYNC_REQUIRE_LAB=1): %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

func TestConfigWindows(t *testing.T) {
	s := Spec{Name: Name, Executable: `C:\Program Files\hybridsync\hybridsync.exe`, ConfigPath: `C:\ProgramData\hybridsync\hybridsync.yaml`}
	c := Config(s, "windows")
	if c.Name != Name || c.DisplayName != DisplayName || c.Description != Description || c.Executable != s.Executable {
		t.Errorf("identity: %+v", c)
	}
	if want := []string{"run", "-c", s.ConfigPath}; !reflect.DeepEqual(c.Arguments, want) {
		t.Errorf("Arguments = %q, want %q", c.Arguments, want)
	}
	if c.UserName != "" {
		t.Errorf("UserName = %q, want LocalSystem (empty)", c.UserName)
	}
	// The option keys and value types kardianos/service reads on Windows
	// (a value of another type is silently replaced by the default).
	want := map[string]any{
		"StartType":              "automatic",
		"DelayedAutoStart":       true,
		"OnFailure":              "restart",
		"OnFailureDelayDuration": "30s",
		"OnFailureResetPeriod":   86400,
	}
	if !reflect.DeepEqual(map[string]any(c.Option), want) {
		t.Errorf("Option = %#v, want %#v", c.Option, want)
	}
	if d, err := time.ParseDuration(c.Option["OnFailureDelayDuration"].(string)); err != nil || d != RestartDelay {
		t.Errorf("OnFailureDelayDuration = %v (%v), want %v", d, err, RestartDelay)
	}
	if err := s.Check("windows"); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestConfigLinux(t *testing.T) {
	s := Spec{Name: Name, Executable: "/usr/bin/hybridsync", ConfigPath: "/etc/hybridsync/hybridsync.yaml", User: "svcuser"}
	c := Config(s, "linux")
	if c.UserName != "svcuser" {
		t.Errorf("UserName = %q", c.UserName)
	}
	if got, _ := c.Option["SystemdScript"].(string); got != UnitTemplate() || got == "" {
		t.Errorf("SystemdScript is not the embedded template")
	}
	if want := []string{"run", "-c", s.ConfigPath}; !reflect.DeepEqual(c.Arguments, want) {
		t.Errorf("Arguments = %q, want %q", c.Arguments, want)
	}
}

func TestDefaults(t *testing.T) {
	if got := DefaultConfigPath("linux"); got != "/etc/hybridsync/hybridsync.yaml" {
		t.Errorf("linux default config = %s", got)
	}
	t.Setenv("ProgramData", `D:\PD\`)
	if got := DefaultConfigPath("windows"); got != `D:\PD\hybridsync\hybridsync.yaml` {
		t.Errorf("windows default config = %s", got)
	}
	t.Setenv("ProgramData", "")
	if got := DefaultConfigPath("windows"); got != `C:\ProgramData\hybridsync\hybridsync.yaml` {
		t.Errorf("windows default config without ProgramData = %s", got)
	}
	s, err := Spec{}.WithDefaults("linux")
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	if s.Name != Name || s.User != DefaultUser || s.ConfigPath != DefaultConfigPath("linux") || s.Executable != exe {
		t.Errorf("WithDefaults = %+v", s)
	}
	if w, _ := (Spec{}).WithDefaults("windows"); w.User != "" {
		t.Errorf("windows user = %q, want empty (LocalSystem)", w.User)
	}
}

func TestCheck(t *testing.T) {
	good := Spec{Name: Name, Executable: "/usr/local/bin/hybridsync", ConfigPath: "/etc/hybridsync/my config.yaml", User: "hybridsync"}
	if err := good.Check("linux"); err != nil {
		t.Fatalf("good spec: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Spec)
		want   string
	}{
		{"relative executable", func(s *Spec) { s.Executable = "bin/hybridsync" }, "not absolute"},
		{"relative config", func(s *Spec) { s.ConfigPath = "hybridsync.yaml" }, "not absolute"},
		{"home", func(s *Spec) { s.Executable = "/home/admin/hybridsync" }, "under /home"},
		{"root home", func(s *Spec) { s.ConfigPath = "/root/hybridsync.yaml" }, "under /root"},
		{"tmp", func(s *Spec) { s.Executable = "/tmp/x/hybridsync" }, "under /tmp"},
		{"var tmp", func(s *Spec) { s.ConfigPath = "/var/tmp/../tmp/h.yaml" }, "under /var/tmp"},
		{"specifier", func(s *Spec) { s.ConfigPath = "/etc/hybridsync/%i.yaml" }, "expand"},
		{"variable", func(s *Spec) { s.ConfigPath = "/etc/$HOME.yaml" }, "expand"},
		{"quote", func(s *Spec) { s.Executable = `/opt/"h"/hybridsync` }, "expand"},
		{"newline", func(s *Spec) { s.ConfigPath = "/etc/h\nExecStartPre=/bin/sh" }, "expand"},
		{"root user", func(s *Spec) { s.User = "root" }, "does not run as root"},
		{"bad user", func(s *Spec) { s.User = "a b" }, "not a valid user name"},
	} {
		s := good
		tc.change(&s)
		err := s.Check("linux")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Check = %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	w := Spec{Executable: `C:\Program Files\hybridsync\hybridsync.exe`, ConfigPath: `hybridsync.yaml`}
	if err := w.Check("windows"); err == nil {
		t.Errorf("windows relative config accepted")
	}
	w.ConfigPath = `\\server\share\h.yaml`
	if err := w.Check("windows"); err != nil {
		t.Errorf("windows UNC config: %v", err)
	}
}

// TestWindowsVet type-checks and vets this package for Windows, where
// kardianos/service's Windows backend and the Event Log logger compile.
// (installer's TestWindowsBuild cross-compiles the whole binary.)
func TestWindowsVet(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(gobin, "vet", ".")
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=windows go vet: %v\n%s", err, out)
	}
}
