package svc

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// parseUnit returns a unit's settings as section -> key -> values (a key
// may repeat).
func parseUnit(t *testing.T, unit string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	var section string
	sc := bufio.NewScanner(strings.NewReader(unit))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("unit line %q is not key=value in a section", line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

func productSpec() Spec {
	return Spec{Name: Name, Executable: "/usr/bin/hybridsync", ConfigPath: "/etc/hybridsync/hybridsync.yaml", User: DefaultUser}
}

// TestUnitSettings checks the rendered unit holds the command line and every
// hardening setting the agent relies on, with the values the rest of the
// package assumes (stop timeout, restart delay).
func TestUnitSettings(t *testing.T) {
	unit, err := Unit(productSpec())
	if err != nil {
		t.Fatal(err)
	}
	u := parseUnit(t, unit)
	svc := u["Service"]
	want := map[string]string{
		"ExecStart":               `/usr/bin/hybridsync "run" "-c" "/etc/hybridsync/hybridsync.yaml"`,
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"User":                    "hybridsync",
		"Group":                   "hybridsync",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"StateDirectory":          "hybridsync",
		"ConfigurationDirectory":  "hybridsync",
		"CapabilityBoundingSet":   "",
		"AmbientCapabilities":     "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"Restart":                 "on-failure",
		"RestartSec":              "30s",
		"TimeoutStopSec":          "35s",
		"MemoryDenyWriteExecute":  "yes",
		"SystemCallArchitectures": "native",
	}
	for k, v := range want {
		if got := svc[k]; len(got) != 1 || got[0] != v {
			t.Errorf("[Service] %s = %q, want exactly %q", k, got, v)
		}
	}
	if got := u["Unit"]["Description"]; !reflect.DeepEqual(got, []string{Description}) {
		t.Errorf("Description = %q", got)
	}
	if got := u["Install"]["WantedBy"]; !reflect.DeepEqual(got, []string{"multi-user.target"}) {
		t.Errorf("WantedBy = %q", got)
	}
	ro := strings.Fields(strings.Join(svc["ReadOnlyPaths"], " "))
	for _, p := range []string{"/etc/hybridsync", "-/etc/krb5.conf", "-/etc/krb5.conf.d", "-/etc/krb5.keytab"} {
		if !contains(ro, p) {
			t.Errorf("ReadOnlyPaths %q lacks %s", ro, p)
		}
	}
	for _, k := range []string{"ReadWritePaths", "LogsDirectory"} {
		if svc[k] != nil {
			t.Errorf("%s = %q: the only writable path must be the state directory", k, svc[k])
		}
	}
	// The unit's timings and the package's constants agree.
	stopSec, _ := time.ParseDuration(svc["TimeoutStopSec"][0])
	if stopSec <= StopTimeout || stopSec > StopTimeout+15*time.Second {
		t.Errorf("TimeoutStopSec %v is not slightly above StopTimeout %v", stopSec, StopTimeout)
	}
	if d, _ := time.ParseDuration(svc["RestartSec"][0]); d != RestartDelay {
		t.Errorf("RestartSec %v != RestartDelay %v", d, RestartDelay)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestUnitQuoting checks spaces in paths survive the way kardianos/service
// renders them, and that Unit refuses what Check refuses.
func TestUnitQuoting(t *testing.T) {
	s := productSpec()
	s.Executable = "/opt/hybrid sync/hybridsync"
	s.ConfigPath = "/etc/hybridsync/my config.yaml"
	unit, err := Unit(s)
	if err != nil {
		t.Fatal(err)
	}
	u := parseUnit(t, unit)
	if got, want := u["Service"]["ExecStart"][0], `/opt/hybrid\x20sync/hybridsync "run" "-c" "/etc/hybridsync/my config.yaml"`; got != want {
		t.Errorf("ExecStart = %s, want %s", got, want)
	}
	s.ConfigPath = "/etc/%H.yaml"
	if _, err := Unit(s); err == nil {
		t.Errorf("Unit accepted a %% in the config path")
	}
}

// writeVerifiableUnit renders the unit for an executable that exists (a copy
// of /bin/true) and writes it as NAME.service in a temporary directory.
func writeVerifiableUnit(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	exe := filepath.Join(dir, "hybridsync")
	data, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	s := productSpec()
	s.Executable = exe // in a temporary directory, which Check refuses
	unit, err := renderUnit(s)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "hybridsync-verify.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestUnitVerify runs systemd-analyze verify on the unit: systemd itself
// parses every setting. verify exits 0 on unknown keys and bad values
// ("..., ignoring"), so any message about the unit fails the test.
func TestUnitVerify(t *testing.T) {
	sa := requireTool(t, "systemd-analyze")
	path := writeVerifiableUnit(t)
	out, err := exec.Command(sa, "verify", "--man=no", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.Contains(line, "hybridsync-verify") {
			t.Errorf("systemd-analyze verify: %s", line)
		} else if line != "" {
			t.Logf("systemd-analyze verify (about another unit): %s", line)
		}
	}
}

// TestUnitSecurity scores the unit's sandbox with systemd-analyze security
// (offline): the overall exposure must stay at most 2.0 ("OK"; 10 is a
// unit with no hardening at all).
func TestUnitSecurity(t *testing.T) {
	sa := requireTool(t, "systemd-analyze")
	path := writeVerifiableUnit(t)
	out, err := exec.Command(sa, "security", "--offline=true", "--threshold=20", "--no-pager", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security --threshold=20 (exposure above 2.0?): %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "Overall exposure level") {
			t.Log(strings.TrimSpace(line))
		}
	}
}
