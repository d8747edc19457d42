package svc

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/kardianos/service"
)

// TestInstallRoundTrip installs a unit through kardianos/service under a
// throwaway name, checks what it wrote and what the service manager reports,
// and uninstalls it.
//
// Where systemd is running this is the real thing (the unit is loaded,
// enabled and reported stopped; it is never started). Where it is installed
// but not running (this repository's test container: PID 1 is not systemd,
// and kardianos/service on its own would pick its SysV backend), the
// Manager works offline and the test proves the same install: the unit
// file kardianos/service rendered is byte for byte Unit's output (so the
// .deb, which ships Unit's output, ships the same unit), systemctl enable
// made the multi-user.target.wants link, status reports it installed and
// enabled, start refuses with ErrSystemdOffline, and uninstall removes both.
func TestInstallRoundTrip(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the round trip runs on Linux; the Windows service is covered by Config's test and the .msi's")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("HYBRIDSYNC_REQUIRE_LAB") == "1" {
			t.Fatal("installing a unit needs root (HYBRIDSYNC_REQUIRE_LAB=1)")
		}
		t.Skip("installing a unit needs root")
	}
	requireTool(t, "systemctl")
	// NewManager sets SYSTEMD_OFFLINE=1 when systemd is not running;
	// t.Setenv restores it afterwards.
	t.Setenv("SYSTEMD_OFFLINE", os.Getenv("SYSTEMD_OFFLINE"))
	t.Logf("kardianos/service's own choice of service manager here: %s", service.Platform())

	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "hybridsync-test-" + hex.EncodeToString(b[:])
	spec := Spec{
		Name: name,
		// Any executable outside the trees the sandbox hides; it never runs.
		Executable: "/bin/true",
		ConfigPath: "/etc/" + name + "/hybridsync.yaml",
		// An unprivileged user and same-name group every Debian system has.
		User: "daemon",
	}
	unitPath := filepath.Join(unitDir, name+".service")
	wantsLink := filepath.Join(unitDir, "multi-user.target.wants", name+".service")
	t.Cleanup(func() {
		// Only matters when the test failed half way.
		_ = os.Remove(wantsLink)
		_ = os.Remove(unitPath)
	})

	m, err := NewManager(spec)
	if err != nil {
		t.Fatal(err)
	}
	online := isDir(systemdRunDir)
	t.Logf("Manager platform: %s", m.Platform())
	if !strings.HasPrefix(m.Platform(), "linux-systemd") || strings.Contains(m.Platform(), "offline") == online {
		t.Fatalf("platform %q with systemd running=%v", m.Platform(), online)
	}
	if st, err := m.Status(); err != nil || st.State != StateNotInstalled {
		t.Fatalf("status before install = %+v, %v", st, err)
	}

	if err := m.Install(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatalf("install wrote no unit: %v", err)
	}
	want, err := Unit(m.Spec())
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("kardianos/service wrote a unit that differs from Unit's:\n--- installed\n%s\n--- Unit\n%s", got, want)
	}
	if target, err := os.Readlink(wantsLink); err != nil || target != unitPath {
		t.Errorf("enable: %s -> %q, %v; want a link to %s", wantsLink, target, err, unitPath)
	}
	st, err := m.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateStopped || !st.Enabled || st.UnitPath != unitPath || st.Offline == online {
		t.Errorf("status after install = %+v, want stopped, enabled, %s, offline=%v", st, unitPath, !online)
	}
	if err := m.Install(); err == nil || !strings.Contains(err.Error(), "already installed") {
		t.Errorf("second install = %v, want already installed", err)
	}
	if !online {
		if err := m.Start(); !errors.Is(err, ErrSystemdOffline) {
			t.Errorf("offline start = %v, want ErrSystemdOffline", err)
		}
	}

	if err := m.Uninstall(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{unitPath, wantsLink} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after uninstall %s: %v, want it gone", p, err)
		}
	}
	if st, err := m.Status(); err != nil || st.State != StateNotInstalled {
		t.Errorf("status after uninstall = %+v, %v", st, err)
	}
	if err := m.Uninstall(); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("second uninstall = %v, want ErrNotInstalled", err)
	}
}

// TestInstallRefusals checks what Install refuses before touching anything:
// a spec Check rejects, a missing user, and a unit the .deb installed.
func TestInstallRefusals(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	requireTool(t, "systemctl")
	t.Setenv("SYSTEMD_OFFLINE", os.Getenv("SYSTEMD_OFFLINE"))
	dir := t.TempDir()
	oldUnit, oldPackaged := unitDir, packagedUnitDirs
	unitDir, packagedUnitDirs = filepath.Join(dir, "etc"), []string{filepath.Join(dir, "lib")}
	t.Cleanup(func() { unitDir, packagedUnitDirs = oldUnit, oldPackaged })
	for _, d := range []string{unitDir, packagedUnitDirs[0]} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	base := Spec{Name: "hybridsync-refuse", Executable: "/bin/true", ConfigPath: "/etc/hybridsync/hybridsync.yaml"}

	for _, tc := range []struct {
		name string
		spec Spec
		want string
	}{
		{"home", Spec{Name: base.Name, Executable: "/home/u/hybridsync", ConfigPath: base.ConfigPath, User: "daemon"}, "sandbox hides"},
		{"no such user", Spec{Name: base.Name, Executable: base.Executable, ConfigPath: base.ConfigPath, User: "no-such-user-hs"}, "user no-such-user-hs does not exist"},
	} {
		m, err := NewManager(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		err = m.Install()
		if err == nil || !strings.HasPrefix(err.Error(), "service install: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Install = %v, want %q", tc.name, err, tc.want)
		}
	}

	// A mask, as a removed (not purged) package leaves, is not touched.
	mask := filepath.Join(unitDir, "hybridsync-masked.service")
	if err := os.Symlink("/dev/null", mask); err != nil {
		t.Fatal(err)
	}
	masked := base
	masked.Name, masked.User = "hybridsync-masked", "daemon"
	m, err := NewManager(masked)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Install(); err == nil || !strings.Contains(err.Error(), "not a unit file") {
		t.Errorf("install over a mask = %v", err)
	}
	if target, err := os.Readlink(mask); err != nil || target != "/dev/null" {
		t.Errorf("the mask was changed: %q, %v", target, err)
	}

	packaged := filepath.Join(packagedUnitDirs[0], base.Name+".service")
	if err := os.WriteFile(packaged, []byte("[Unit]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := base
	s.User = "daemon"
	m, err = NewManager(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Install(); err == nil || !strings.Contains(err.Error(), "package already installed") {
		t.Errorf("install over a packaged unit = %v", err)
	}
	if err := m.Uninstall(); err == nil || !strings.Contains(err.Error(), "belongs to the hybridsync package") {
		t.Errorf("uninstall of a packaged unit = %v", err)
	}
	st, err := m.Status()
	if err != nil || st.UnitPath != packaged || st.State == StateNotInstalled {
		t.Errorf("status of a packaged unit = %+v, %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(unitDir, base.Name+".service")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused install wrote a unit: %v", err)
	}
}
