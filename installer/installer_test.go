package installer

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/hybridsync/hybridsync/agent/svc"
)

// The version every package in these tests is built with, and what
// installer/version.sh makes of it.
const (
	testVersion = "v1.2.3-4-gabcdef1"
	debVersion  = "1.2.3+git4.gabcdef1"
	msiVersion  = "1.2.3"
)

var (
	repoRoot string // the repository (this package's parent)
	distDir  string // DIST for every make run, removed after the tests
)

func TestMain(m *testing.M) {
	var err error
	if repoRoot, err = filepath.Abs(".."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if distDir, err = os.MkdirTemp("", "hybridsync-dist-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(distDir)
	os.Exit(code)
}

// requireTool returns a tool's path. Without it the test is skipped, or
// fails when HYBRIDSYNC_REQUIRE_LAB=1 (scripts/test.sh, whose setup
// installs every tool).
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

// target is one make target, run at most once per test binary (the
// builds are the slow part: a cold cross-compile takes minutes).
type target struct {
	once sync.Once
	out  []byte
	err  error
}

var makeBuild, makeBuildWindows, makeDeb, makeMSI target

// run runs `make NAME` in the repository with DIST and VERSION set, once,
// and fails the test if it failed (then and on every later call).
func (tg *target) run(t *testing.T, name string) {
	t.Helper()
	requireTool(t, "make")
	tg.once.Do(func() {
		cmd := exec.Command("make", "-C", repoRoot, name, "DIST="+distDir, "VERSION="+testVersion)
		tg.out, tg.err = cmd.CombinedOutput()
	})
	if tg.err != nil {
		t.Fatalf("make %s: %v\n%s", name, tg.err, tg.out)
	}
}

func linuxBinary(t *testing.T) string {
	makeBuild.run(t, "build")
	return filepath.Join(distDir, "linux-amd64", "hybridsync")
}

func windowsExe(t *testing.T) string {
	makeBuildWindows.run(t, "build-windows")
	return filepath.Join(distDir, "windows-amd64", "hybridsync.exe")
}

func debPackage(t *testing.T) string {
	requireTool(t, "dpkg-deb")
	requireTool(t, "fakeroot")
	linuxBinary(t)
	makeDeb.run(t, "deb")
	return filepath.Join(distDir, "hybridsync_"+debVersion+"_amd64.deb")
}

func msiPackage(t *testing.T) string {
	requireTool(t, "wixl")
	requireTool(t, "msibuild")
	requireTool(t, "msiinfo")
	requireTool(t, "msiextract")
	windowsExe(t)
	makeMSI.run(t, "msi")
	return filepath.Join(distDir, "hybridsync-"+msiVersion+"-x64.msi")
}

// command runs name args and returns its stdout; it fails the test with
// the output when the command fails.
func command(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return string(out)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// packagedUnit is the unit the .deb must ship: agent/svc's, rendered for
// the packaged paths.
func packagedUnit(t *testing.T) string {
	t.Helper()
	unit, err := svc.Unit(svc.Spec{Name: svc.Name, Executable: "/usr/bin/hybridsync", ConfigPath: "/etc/hybridsync/hybridsync.yaml", User: svc.DefaultUser})
	if err != nil {
		t.Fatal(err)
	}
	return unit
}

func TestVersionScript(t *testing.T) {
	for _, tc := range []struct{ in, deb, msi string }{
		{"v1.2.3", "1.2.3", "1.2.3"},
		{testVersion, debVersion, msiVersion},
		{"v2.0.1-rc1", "2.0.1~rc1", "2.0.1"},
		{"08f57b5", "0.0.0+git08f57b5", "0.0.0"},
		{"dev", "0.0.0+gitdev", "0.0.0"},
	} {
		for kind, want := range map[string]string{"deb": tc.deb, "msi": tc.msi} {
			got := strings.TrimSpace(command(t, "sh", filepath.Join(repoRoot, "installer", "version.sh"), kind, tc.in))
			if got != want {
				t.Errorf("version.sh %s %s = %q, want %q", kind, tc.in, got, want)
			}
		}
	}
}

// TestCLI runs the built binary's service commands that change nothing.
func TestCLI(t *testing.T) {
	bin := linuxBinary(t)
	help := command(t, bin, "service", "--help")
	for _, verb := range []string{"install", "uninstall", "start", "stop", "status"} {
		if !strings.Contains(help, "\n  "+verb+" ") {
			t.Errorf("service --help lacks %s:\n%s", verb, help)
		}
	}
	if v := command(t, bin, "version"); !strings.Contains(v, "hybridsync "+testVersion+" ") {
		t.Errorf("version = %q, want the make VERSION", v)
	}
	// Refused before anything is written: a binary under /tmp is hidden
	// from the unit by its sandbox (PrivateTmp=).
	out, err := exec.Command(bin, "service", "install", "-c", "/etc/hybridsync/hybridsync.yaml").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "hybridsync: service install: service: the executable path "+bin+" is under /tmp") {
		t.Errorf("service install from a temporary directory: %v\n%s", err, out)
	}
}

// controlFields parses `dpkg-deb -f` output.
func controlFields(t *testing.T, deb string) map[string]string {
	t.Helper()
	fields := map[string]string{}
	var last string
	for _, line := range strings.Split(command(t, "dpkg-deb", "-f", deb), "\n") {
		if strings.HasPrefix(line, " ") {
			fields[last] += "\n" + line
			continue
		}
		if k, v, ok := strings.Cut(line, ": "); ok {
			fields[k], last = v, k
		}
	}
	return fields
}

// TestDeb builds the .deb through `make deb` and checks its control data,
// its file list (modes, owners) and the files themselves.
func TestDeb(t *testing.T) {
	deb := debPackage(t)
	f := controlFields(t, deb)
	for k, want := range map[string]string{
		"Package":      "hybridsync",
		"Version":      debVersion,
		"Architecture": "amd64",
		"Depends":      "adduser",
		"Section":      "admin",
	} {
		if f[k] != want {
			t.Errorf("control %s = %q, want %q", k, f[k], want)
		}
	}
	if f["Maintainer"] == "" || f["Installed-Size"] == "" || !strings.Contains(f["Description"], "systemctl start hybridsync") {
		t.Errorf("control = %q", f)
	}

	// Contents: "-rwxr-xr-x root/root 123 2026-01-01 00:00 ./usr/bin/hybridsync".
	want := map[string]string{
		"./usr/bin/hybridsync":                    "-rwxr-xr-x",
		"./lib/systemd/system/hybridsync.service": "-rw-r--r--",
		"./etc/hybridsync/":                       "drwxr-x---",
		"./etc/hybridsync/hybridsync.yaml":        "-rw-r-----",
		"./usr/share/doc/hybridsync/README.md":    "-rw-r--r--",
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(command(t, "dpkg-deb", "-c", deb)), "\n") {
		fs := strings.Fields(line)
		if len(fs) < 6 {
			t.Fatalf("dpkg-deb -c line %q", line)
		}
		mode, owner, path := fs[0], fs[1], fs[5]
		if owner != "root/root" {
			t.Errorf("%s is owned by %s, want root/root", path, owner)
		}
		if m, ok := want[path]; ok {
			seen[path] = true
			if mode != m {
				t.Errorf("%s has mode %s, want %s", path, mode, m)
			}
		}
	}
	for p := range want {
		if !seen[p] {
			t.Errorf("the package lacks %s", p)
		}
	}

	ctrl := t.TempDir()
	command(t, "dpkg-deb", "-e", deb, ctrl)
	if got := strings.TrimSpace(string(readFile(t, filepath.Join(ctrl, "conffiles")))); got != "/etc/hybridsync/hybridsync.yaml" {
		t.Errorf("conffiles = %q", got)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		p := filepath.Join(ctrl, s)
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v, %v", s, fi, err)
			continue
		}
		command(t, "sh", "-n", p)
	}
	postinst := string(readFile(t, filepath.Join(ctrl, "postinst")))
	if strings.Contains(postinst, "systemctl start") || strings.Contains(postinst, "deb-systemd-invoke start") {
		t.Errorf("postinst starts the service; the admin must edit the config first")
	}

	data := t.TempDir()
	command(t, "dpkg-deb", "-x", deb, data)
	if got, want := string(readFile(t, filepath.Join(data, "lib/systemd/system/hybridsync.service"))), packagedUnit(t); got != want {
		t.Errorf("the packaged unit is not agent/svc's unit:\n%s", got)
	}
	if !bytes.Equal(readFile(t, filepath.Join(data, "etc/hybridsync/hybridsync.yaml")), readFile(t, filepath.Join(repoRoot, "configs/hybridsync.example.yaml"))) {
		t.Errorf("the packaged config is not configs/hybridsync.example.yaml")
	}
	if !bytes.Equal(readFile(t, filepath.Join(data, "usr/bin/hybridsync")), readFile(t, linuxBinary(t))) {
		t.Errorf("the packaged binary is not make build's")
	}

	// lintian is not part of the setup: use it where it is installed.
	if lintian, err := exec.LookPath("lintian"); err == nil {
		out, _ := exec.Command(lintian, "--no-tag-display-limit", deb).CombinedOutput()
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "E: ") {
				t.Errorf("lintian: %s", line)
			} else if line != "" {
				t.Logf("lintian: %s", line)
			}
		}
	} else {
		t.Log("lintian is not installed; skipped")
	}
}

// fileInfo returns path's permission bits and its owner's and group's
// names.
func fileInfo(t *testing.T, path string) (os.FileMode, string, string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	u, err := user.LookupId(fmt.Sprint(st.Uid))
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroupId(fmt.Sprint(st.Gid))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm(), u.Username, g.Name
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// TestDebInstall installs the .deb into this machine with dpkg, checks what
// the maintainer scripts did, upgrades it over an edited config, removes
// and purges it, and checks the machine is as before (the system user,
// which Debian keeps on purge, is deleted by the test when it created it).
//
// A real install rather than dpkg --root or dpkg -x: the maintainer
// scripts are the part to prove (user creation, permissions, enabling the
// unit through deb-systemd-helper, purge), and dpkg --root runs them
// chrooted into a root that would need a whole system. It runs only as
// root and only when no hybridsync package is installed, and the test
// purges whatever it installed, also when it fails.
func TestDebInstall(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("HYBRIDSYNC_REQUIRE_LAB") == "1" {
			t.Fatal("installing the .deb needs root (HYBRIDSYNC_REQUIRE_LAB=1)")
		}
		t.Skip("installing the .deb needs root")
	}
	requireTool(t, "dpkg")
	if out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", "hybridsync").Output(); strings.Contains(string(out), "installed") {
		t.Skipf("a hybridsync package is installed on this machine (%s); not touching it", out)
	}
	deb := debPackage(t)
	_, errUser := user.Lookup("hybridsync")
	_, errGroup := user.LookupGroup("hybridsync")
	createdUser, createdGroup := errUser != nil, errGroup != nil
	dpkg := func(args ...string) {
		t.Helper()
		cmd := exec.Command("dpkg", append([]string{"--force-confold"}, args...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() {
		_ = exec.Command("dpkg", "--purge", "hybridsync").Run()
		if createdUser {
			_ = exec.Command("userdel", "hybridsync").Run()
		}
		if createdGroup {
			_ = exec.Command("groupdel", "hybridsync").Run()
		}
	})

	dpkg("-i", deb)
	u, err := user.Lookup("hybridsync")
	if err != nil {
		t.Fatalf("postinst made no user: %v", err)
	}
	if pw := command(t, "getent", "passwd", "hybridsync"); !strings.HasSuffix(strings.TrimSpace(pw), ":/var/lib/hybridsync:/usr/sbin/nologin") {
		t.Errorf("passwd entry %q: want home /var/lib/hybridsync, shell nologin", pw)
	}
	var uid int
	fmt.Sscan(u.Uid, &uid)
	if uid >= 1000 || uid == 0 {
		t.Errorf("uid %d is not a system uid", uid)
	}
	for path, want := range map[string]string{
		"/etc/hybridsync":                 "750 root:hybridsync",
		"/etc/hybridsync/hybridsync.yaml": "640 root:hybridsync",
		"/var/lib/hybridsync":             "750 hybridsync:hybridsync",
		"/usr/bin/hybridsync":             "755 root:root",
	} {
		m, o, g := fileInfo(t, path)
		if got := fmt.Sprintf("%o %s:%s", m, o, g); got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
	unit := "/lib/systemd/system/hybridsync.service"
	if got := string(readFile(t, unit)); got != packagedUnit(t) {
		t.Errorf("installed unit differs from agent/svc's")
	}
	wants := "/etc/systemd/system/multi-user.target.wants/hybridsync.service"
	if target, err := os.Readlink(wants); err != nil || target != unit {
		t.Errorf("not enabled: %s -> %q, %v", wants, target, err)
	}
	// The real unit, with the real binary and user in place, passes
	// systemd's own check.
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		out, err := exec.Command(sa, "verify", "--man=no", unit).CombinedOutput()
		if err != nil || strings.Contains(string(out), "hybridsync") {
			t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
		}
	}
	// The CLI sees the package's unit and leaves it to the package.
	st := command(t, "/usr/bin/hybridsync", "service", "status")
	if !strings.HasPrefix(st, "service hybridsync: stopped (linux-systemd") || !strings.Contains(st, "\nunit: "+unit+" (enabled)\n") {
		t.Errorf("service status after install:\n%s", st)
	}
	out, err := exec.Command("/usr/bin/hybridsync", "service", "install").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "package already installed "+unit) {
		t.Errorf("service install over the package: %v\n%s", err, out)
	}

	// An upgrade (here: the same version again) keeps the admin's config
	// and its permissions.
	cfg := "/etc/hybridsync/hybridsync.yaml"
	edited := append(readFile(t, cfg), []byte("# edited by the admin\n")...)
	if err := os.WriteFile(cfg, edited, 0o640); err != nil {
		t.Fatal(err)
	}
	dpkg("-i", deb)
	if !bytes.Equal(readFile(t, cfg), edited) {
		t.Errorf("the upgrade replaced the admin's config")
	}
	if m, o, g := fileInfo(t, cfg); fmt.Sprintf("%o %s:%s", m, o, g) != "640 root:hybridsync" {
		t.Errorf("after the upgrade %s is %o %s:%s", cfg, m, o, g)
	}

	// The agent's state, which purge must remove.
	if err := os.WriteFile("/var/lib/hybridsync/journal.db", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	dpkg("--remove", "hybridsync")
	for _, p := range []string{"/usr/bin/hybridsync", unit} {
		if exists(p) {
			t.Errorf("%s left after remove", p)
		}
	}
	for _, p := range []string{cfg, "/var/lib/hybridsync/journal.db"} {
		if !exists(p) {
			t.Errorf("remove (not purge) deleted %s", p)
		}
	}
	dpkg("--purge", "hybridsync")
	for _, p := range []string{"/etc/hybridsync", "/var/lib/hybridsync", wants, "/etc/systemd/system/hybridsync.service"} {
		if exists(p) {
			t.Errorf("%s left after purge", p)
		}
	}
	if _, err := user.Lookup("hybridsync"); err != nil {
		t.Errorf("purge removed the system user (Debian keeps it): %v", err)
	}
}

// TestWindowsBuild cross-compiles the binary for Windows through `make
// build-windows`.
func TestWindowsBuild(t *testing.T) {
	exe := windowsExe(t)
	if b := readFile(t, exe); len(b) < 2 || string(b[:2]) != "MZ" {
		t.Errorf("%s is not a Windows executable", exe)
	}
}

// msiTable is one table of an .msi, as msiinfo export prints it.
type msiTable []map[string]string

func exportTable(t *testing.T, msi, name string) msiTable {
	t.Helper()
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(command(t, "msiinfo", "export", msi, name), "\r\n", "\n"), "\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("msiinfo export %s: %q", name, lines)
	}
	cols := strings.Split(lines[0], "\t")
	var tab msiTable
	for _, line := range lines[3:] {
		vals := strings.Split(line, "\t")
		row := map[string]string{}
		for i, c := range cols {
			if i < len(vals) {
				row[c] = vals[i]
			}
		}
		tab = append(tab, row)
	}
	return tab
}

// find returns the rows whose column col is val.
func (tab msiTable) find(col, val string) []map[string]string {
	var rows []map[string]string
	for _, r := range tab {
		if r[col] == val {
			rows = append(rows, r)
		}
	}
	return rows
}

// one returns the only row whose column col is val.
func (tab msiTable) one(t *testing.T, table, col, val string) map[string]string {
	t.Helper()
	rows := tab.find(col, val)
	if len(rows) != 1 {
		t.Fatalf("%s: %d rows with %s=%s, want 1: %v", table, len(rows), col, val, tab)
	}
	return rows[0]
}

func checkRow(t *testing.T, table string, row map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if row[k] != v {
			t.Errorf("%s.%s = %q, want %q", table, k, row[k], v)
		}
	}
}

// TestMSI builds the .msi through `make msi` and checks its tables: the
// files and where they go, the service (the same as "hybridsync service
// install" creates, not started on install, stopped and removed on
// uninstall), its delayed start and recovery, the Event Log source, the
// config's NeverOverwrite and Permanent, and the major upgrade; and that the
// embedded files are the built ones.
func TestMSI(t *testing.T) {
	msi := msiPackage(t)
	tables := command(t, "msiinfo", "tables", msi)
	for _, name := range []string{"File", "Component", "Directory", "ServiceInstall", "ServiceControl", "MsiServiceConfig", "MsiServiceConfigFailureActions", "Registry", "Upgrade", "InstallExecuteSequence"} {
		if !strings.Contains("\n"+tables, "\n"+name+"\n") {
			t.Errorf("no %s table; tables:\n%s", name, tables)
		}
	}
	exe := windowsExe(t)
	exeInfo, _ := os.Stat(exe)
	cfgInfo, _ := os.Stat(filepath.Join(repoRoot, "configs/hybridsync.example.yaml"))

	files := exportTable(t, msi, "File")
	checkRow(t, "File", files.one(t, "File", "FileName", "hybridsync.exe"), map[string]string{"Component_": "Agent", "FileSize": fmt.Sprint(exeInfo.Size())})
	checkRow(t, "File", files.one(t, "File", "FileName", "hybridsync.yaml"), map[string]string{"Component_": "Config", "FileSize": fmt.Sprint(cfgInfo.Size())})

	dirs := exportTable(t, msi, "Directory")
	checkRow(t, "Directory", dirs.one(t, "Directory", "Directory", "INSTALLDIR"), map[string]string{"Directory_Parent": "ProgramFiles64Folder", "DefaultDir": "hybridsync"})
	checkRow(t, "Directory", dirs.one(t, "Directory", "Directory", "DATADIR"), map[string]string{"Directory_Parent": "CommonAppDataFolder", "DefaultDir": "hybridsync"})

	comps := exportTable(t, msi, "Component")
	checkRow(t, "Component", comps.one(t, "Component", "Component", "Agent"), map[string]string{"Directory_": "INSTALLDIR", "Attributes": "256", "KeyPath": "hybridsync.exe"})
	// 16 Permanent | 128 NeverOverwrite.
	checkRow(t, "Component", comps.one(t, "Component", "Component", "Config"), map[string]string{"Directory_": "DATADIR", "Attributes": "144", "KeyPath": "hybridsync.yaml"})

	// The same service as agent/svc's Config for Windows.
	args := strings.Join(svc.Arguments(`"[CommonAppDataFolder]hybridsync\hybridsync.yaml"`), " ")
	si := exportTable(t, msi, "ServiceInstall")
	checkRow(t, "ServiceInstall", si.one(t, "ServiceInstall", "Name", svc.Name), map[string]string{
		"DisplayName":  svc.DisplayName,
		"Description":  svc.Description,
		"ServiceType":  "16", // SERVICE_WIN32_OWN_PROCESS
		"StartType":    "2",  // SERVICE_AUTO_START
		"ErrorControl": "1",  // SERVICE_ERROR_NORMAL
		"StartName":    "",   // LocalSystem
		"Arguments":    args,
		"Component_":   "Agent",
	})
	// 2 stop on install, 32 stop on uninstall, 128 delete on uninstall; no
	// start (1, 16): the admin starts it after editing the config.
	sc := exportTable(t, msi, "ServiceControl")
	checkRow(t, "ServiceControl", sc.one(t, "ServiceControl", "Name", svc.Name), map[string]string{"Event": "162", "Wait": "1", "Component_": "Agent"})

	// ConfigType 3: delayed automatic start; events 1 install | 4 reinstall.
	cfg := exportTable(t, msi, "MsiServiceConfig")
	checkRow(t, "MsiServiceConfig", cfg.one(t, "MsiServiceConfig", "Name", svc.Name), map[string]string{"Event": "5", "ConfigType": "3", "Argument": "1", "Component_": "Agent"})
	fa := exportTable(t, msi, "MsiServiceConfigFailureActions")
	checkRow(t, "MsiServiceConfigFailureActions", fa.one(t, "MsiServiceConfigFailureActions", "Name", svc.Name), map[string]string{
		"Event":        "5",
		"ResetPeriod":  fmt.Sprint(int(svc.FailureResetPeriod.Seconds())),
		"Actions":      "1", // SC_ACTION_RESTART, repeated for every failure
		"DelayActions": fmt.Sprint(svc.RestartDelay.Milliseconds()),
		"Component_":   "Agent",
	})
	seq := exportTable(t, msi, "InstallExecuteSequence")
	order := map[string]int{}
	for _, a := range []string{"InstallServices", "MsiConfigureServices", "StartServices", "StopServices", "DeleteServices", "RemoveExistingProducts", "InstallValidate"} {
		var n int
		fmt.Sscan(seq.one(t, "InstallExecuteSequence", "Action", a)["Sequence"], &n)
		order[a] = n
	}
	if !(order["InstallServices"] < order["MsiConfigureServices"] && order["MsiConfigureServices"] < order["StartServices"]) {
		t.Errorf("MsiConfigureServices is not between InstallServices and StartServices: %v", order)
	}
	if order["RemoveExistingProducts"] <= order["InstallValidate"] {
		t.Errorf("RemoveExistingProducts before InstallValidate: %v", order)
	}

	reg := exportTable(t, msi, "Registry")
	key := `SYSTEM\CurrentControlSet\Services\EventLog\Application\hybridsync`
	for name, val := range map[string]string{"EventMessageFile": "[System64Folder]EventCreate.exe", "TypesSupported": "#7", "CustomSource": "#1"} {
		checkRow(t, "Registry", reg.one(t, "Registry", "Name", name), map[string]string{"Root": "2", "Key": key, "Value": val, "Component_": "EventSource"})
	}

	props := exportTable(t, msi, "Property")
	upgradeCode := props.one(t, "Property", "Property", "UpgradeCode")["Value"]
	checkRow(t, "Property", props.one(t, "Property", "Property", "ProductVersion"), map[string]string{"Value": msiVersion})
	if upgradeCode != "{7F30BEE3-14B2-4BB3-8808-A1E671255FEC}" {
		t.Errorf("UpgradeCode %s: it must never change, or upgrades install side by side", upgradeCode)
	}
	up := exportTable(t, msi, "Upgrade")
	if len(up.find("ActionProperty", "WIX_UPGRADE_DETECTED")) != 1 || len(up.find("ActionProperty", "WIX_DOWNGRADE_DETECTED")) != 1 {
		t.Errorf("Upgrade table lacks the major upgrade's rows: %v", up)
	}

	// The embedded files are the built ones.
	x := t.TempDir()
	command(t, "msiextract", "-C", x, msi)
	var gotExe, gotCfg []byte
	filepath.Walk(x, func(p string, fi os.FileInfo, err error) error {
		switch {
		case err != nil || fi.IsDir():
		case fi.Name() == "hybridsync.exe":
			gotExe = readFile(t, p)
		case fi.Name() == "hybridsync.yaml":
			gotCfg = readFile(t, p)
		}
		return nil
	})
	if !bytes.Equal(gotExe, readFile(t, exe)) {
		t.Errorf("the embedded hybridsync.exe is not make build-windows's")
	}
	if !bytes.Equal(gotCfg, readFile(t, filepath.Join(repoRoot, "configs/hybridsync.example.yaml"))) {
		t.Errorf("the embedded config is not configs/hybridsync.example.yaml")
	}
}
