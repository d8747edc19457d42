package lab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// sambaPaths are the files of one lab DC.
type sambaPaths struct {
	target  string // --targetdir of the provision
	conf    string // smb.conf
	pidFile string // our record of the samba pid
	log     string
}

func pathsFor(dir string) sambaPaths {
	target := filepath.Join(dir, "samba")
	return sambaPaths{
		target:  target,
		conf:    filepath.Join(target, "etc", "smb.conf"),
		pidFile: filepath.Join(dir, "samba.pid"),
		log:     filepath.Join(dir, "samba.log"),
	}
}

// requireTools checks that the Samba tools are installed and we are root.
func requireTools() error {
	var missing []string
	for _, t := range []string{"samba", "samba-tool", "ip"} {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("lab: %s not found: install Debian packages samba samba-ad-dc samba-ad-provision krb5-user ldb-tools ldap-utils winbind iproute2 (the README's commands do this)", strings.Join(missing, ", "))
	}
	if os.Geteuid() != 0 {
		return errors.New("lab: a Samba AD DC must run as root")
	}
	return nil
}

// provisionSchemaFile is one of the AD schema files samba-tool domain
// provision reads from Samba's setup directory. Debian ships them in
// samba-ad-provision, only a Recommends of samba-ad-dc.
const provisionSchemaFile = "ad-schema/AD_DS_Attributes__Windows_Server_2012_R2.ldf"

// requireProvisionSchema checks, before a new lab is provisioned, that
// the AD schema files are in Samba's setup directory (SETUPDIR in
// `samba -b`), so that a missing package is named before anything is
// written.
func requireProvisionSchema(ctx context.Context) error {
	out, err := run(ctx, "samba", "-b")
	if err != nil {
		return fmt.Errorf("lab: read Samba's build options: %w", err)
	}
	setupDir, ok := sambaBuildOption(out, "SETUPDIR")
	if !ok {
		return errors.New("lab: `samba -b` names no SETUPDIR, so the AD schema files cannot be found")
	}
	return checkProvisionSchema(setupDir)
}

// checkProvisionSchema checks that setupDir holds the AD schema files.
func checkProvisionSchema(setupDir string) error {
	path := filepath.Join(setupDir, filepath.FromSlash(provisionSchemaFile))
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("lab: %s, which samba-tool domain provision reads, is missing: install Debian package samba-ad-provision (the README's commands do this): %w", path, err)
	}
	return nil
}

// sambaBuildOption returns the value of a "   NAME: value" line of
// `samba -b` output.
func sambaBuildOption(out []byte, name string) (string, bool) {
	for line := range strings.Lines(string(out)) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && k == name {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// run runs a command, returning its combined output in the error.
func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(redactArgs(args), " "), err, tail(out, 2000))
	}
	return out, nil
}

// redactArgs hides password arguments in error messages.
func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.HasPrefix(a, "--adminpass=") || strings.HasPrefix(a, "--newpassword=") {
			a = a[:strings.IndexByte(a, '=')+1] + "REDACTED"
		}
		out[i] = a
	}
	return out
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// loopbackAddrs lists the IPv4 addresses on the loopback interface.
func loopbackAddrs() (map[string]bool, error) {
	ifc, err := net.InterfaceByName("lo")
	if err != nil {
		return nil, fmt.Errorf("lab: loopback interface: %w", err)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return nil, fmt.Errorf("lab: loopback addresses: %w", err)
	}
	out := map[string]bool{}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			out[ipn.IP.String()] = true
		}
	}
	return out, nil
}

// pickIP chooses a free address 127.11.0.N for a new lab: one not yet on
// lo, so that several labs (the README's demo and the test suite) can run
// side by side, each DC on its own address with the standard ports.
func pickIP() (string, error) {
	used, err := loopbackAddrs()
	if err != nil {
		return "", err
	}
	for n := 2; n < 255; n++ {
		ip := fmt.Sprintf("127.11.0.%d", n)
		if !used[ip] {
			return ip, nil
		}
	}
	return "", errors.New("lab: no free address in 127.11.0.0/24")
}

// addLoopbackIP puts ip on lo (Samba only binds addresses it finds on an
// interface). It is a no-op if the address is already there.
func addLoopbackIP(ctx context.Context, ip string) error {
	used, err := loopbackAddrs()
	if err != nil {
		return err
	}
	if used[ip] {
		return nil
	}
	_, err = run(ctx, "ip", "addr", "add", ip+"/32", "dev", "lo")
	return err
}

func removeLoopbackIP(ctx context.Context, ip string) error {
	if ip == "" || ip == "127.0.0.1" {
		return nil
	}
	used, err := loopbackAddrs()
	if err != nil {
		return err
	}
	if !used[ip] {
		return nil
	}
	_, err = run(ctx, "ip", "addr", "del", ip+"/32", "dev", "lo")
	return err
}

// provision runs samba-tool domain provision and rewrites smb.conf for the
// lab: loopback only, LDAP and KDC only, schema updates allowed, our TLS
// certificate, logs and pid under dir, a replaced password rejected at
// once. adminPass is visible on samba-tool's command line while it runs, so
// it must be a throwaway that the caller replaces.
func provision(ctx context.Context, p sambaPaths, s *State, adminPass, certFile, keyFile, caFile string) error {
	args := []string{"domain", "provision",
		"--targetdir=" + p.target,
		"--realm=" + s.Realm,
		"--domain=" + s.NetBIOS,
		"--server-role=dc",
		"--dns-backend=NONE",
		"--host-name=" + s.HostName,
		"--host-ip=" + s.IP,
		"--adminpass=" + adminPass,
		"--option=interfaces=" + s.IP,
		"--option=bind interfaces only=yes",
	}
	if _, err := run(ctx, "samba-tool", args...); err != nil {
		return fmt.Errorf("lab: provision: %w", err)
	}
	logDir := filepath.Join(p.target, "log")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	return rewriteGlobal(p.conf, map[string]string{
		"server services":            "ldap, kdc",
		"dsdb:schema update allowed": "true",
		"tls enabled":                "yes",
		"tls certfile":               certFile,
		"tls keyfile":                keyFile,
		"tls cafile":                 caFile,
		"log file":                   filepath.Join(logDir, "log.%m"),
		"pid directory":              p.target,
		// Simple binds only inside TLS (as a hardened AD); SASL GSSAPI
		// binds over TLS need no sign/seal layer, as on Windows AD.
		// Samba 4.17 with "yes" rejects them even over LDAPS.
		"ldap server require strong auth": "allow_sasl_over_tls",
		// Up replaces the administrator's provisioning password; by
		// default Samba keeps accepting a replaced password for 60
		// minutes (simple binds included).
		"old password allowed period": "0",
	})
}

// rewriteGlobal sets keys in smb.conf's [global] section, replacing
// existing values and appending the rest.
func rewriteGlobal(path string, set map[string]string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("lab: read %s: %w", path, err)
	}
	var out bytes.Buffer
	done := map[string]bool{}
	inGlobal := false
	flush := func() {
		keys := make([]string, 0, len(set))
		for k := range set {
			if !done[k] {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&out, "\t%s = %s\n", k, set[k])
			done[k] = true
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "[") {
			if inGlobal {
				flush()
				out.WriteString("\n")
			}
			inGlobal = strings.EqualFold(trim, "[global]")
		} else if inGlobal {
			if k, _, ok := strings.Cut(trim, "="); ok {
				k = strings.ToLower(strings.TrimSpace(k))
				if v, ok := set[k]; ok {
					fmt.Fprintf(&out, "\t%s = %s\n", k, v)
					done[k] = true
					continue
				}
			}
		}
		out.WriteString(line + "\n")
	}
	if inGlobal {
		flush()
	}
	return os.WriteFile(path, out.Bytes(), 0o644)
}

// startSamba starts the DC in its own session (so it outlives this
// process and can be stopped as a group) and records its pid together with
// the process's start time, so that a recycled pid is never mistaken for it.
func startSamba(p sambaPaths) (int, error) {
	cmd := exec.Command("samba", "-s", p.conf, "--foreground", "--no-process-group", "-M", "single", "--debug-stdout", "-d", "1")
	return startDaemon("samba", cmd, p.log, p.pidFile)
}

// runningPid returns the recorded samba pid if that process is alive and is
// the one we started (see daemonPid).
func runningPid(p sambaPaths) (int, bool) { return daemonPid(p.pidFile, isSambaExe) }

// isSambaExe reports whether exe, the target of a /proc/PID/exe link, is a
// samba binary. When the file a process runs was replaced or removed since
// it started (a samba package upgrade), the kernel appends " (deleted)" to
// the path; that samba is still the lab's DC.
func isSambaExe(exe string) bool {
	return filepath.Base(strings.TrimSuffix(exe, " (deleted)")) == "samba"
}

// stopSamba stops the recorded samba process group.
func stopSamba(p sambaPaths, timeout time.Duration) error {
	return stopDaemon("samba", p.pidFile, isSambaExe, timeout)
}
