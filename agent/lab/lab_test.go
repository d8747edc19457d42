package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/agent/config"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

func TestRewriteGlobal(t *testing.T) {
	p := filepath.Join(t.TempDir(), "smb.conf")
	in := "# Global parameters\n[global]\n\tserver services = s3fs, rpc, ldap\n\tworkgroup = HSLAB\n\n[sysvol]\n\tpath = /x\n"
	if err := os.WriteFile(p, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rewriteGlobal(p, map[string]string{"server services": "ldap, kdc", "tls enabled": "yes"}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	want := "# Global parameters\n[global]\n\tserver services = ldap, kdc\n\tworkgroup = HSLAB\n\n\ttls enabled = yes\n\n[sysvol]\n\tpath = /x\n"
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestShellQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", "with space", "it's", `a\b`, "OU=R&D\\, Europe (Zoë+Ops),DC=x", "'''"} {
		q := shellQuote(s)
		back, err := shellUnquote(q)
		if err != nil || back != s {
			t.Errorf("%q -> %q -> %q (%v)", s, q, back, err)
		}
	}
}

func TestReadEnvFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lab.env")
	os.WriteFile(p, []byte("# comment\nA='x y'\nB='it'\\''s'\n\n"), 0o644)
	env, err := ReadEnvFile(p)
	if err != nil || env["A"] != "x y" || env["B"] != "it's" {
		t.Fatalf("%v %v", env, err)
	}
	os.WriteFile(p, []byte("NOEQUALS\n"), 0o644)
	if _, err := ReadEnvFile(p); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Fatalf("err = %v, want line number", err)
	}
}

func TestSamName(t *testing.T) {
	for in, want := range map[string]string{
		"jane.doe7":                      "janedoe7",
		"bartholomew.vanderberg-smith12": "bartholomewvanderb12",
		"bulk004999":                     "bulk004999",
	} {
		if got := samName(in); got != want || len(got) > 20 {
			t.Errorf("samName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRealmDN(t *testing.T) {
	if got := realmDN("LAB.HYBRIDSYNC.TEST"); got != "DC=lab,DC=hybridsync,DC=test" {
		t.Fatal(got)
	}
}

func TestExchangeAttributesAreConsistent(t *testing.T) {
	names, oids, links := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, d := range exchangeAttributes() {
		if names[d.ldapName] || oids[d.oid] {
			t.Errorf("duplicate %s / %s", d.ldapName, d.oid)
		}
		names[d.ldapName], oids[d.oid] = true, true
		if isNumber(d.linkID) {
			if links[d.linkID] {
				t.Errorf("duplicate linkID %s", d.linkID)
			}
			links[d.linkID] = true
		}
	}
	for _, d := range exchangeAttributes() {
		if isBackLinkByName(d) && !names[d.linkID] {
			t.Errorf("%s is a back link of unknown %s", d.ldapName, d.linkID)
		}
	}
	// Spot checks against Microsoft's published values.
	want := map[string]string{
		"mailNickname": "1.2.840.113556.1.2.447", "targetAddress": "1.2.840.113556.1.2.352",
		"extensionAttribute1": "1.2.840.113556.1.2.423", "extensionAttribute10": "1.2.840.113556.1.2.432",
		"extensionAttribute11": "1.2.840.113556.1.2.599", "extensionAttribute15": "1.2.840.113556.1.2.603",
		"authOrig": "1.2.840.113556.1.2.129", "msExchRecipientTypeDetails": "1.2.840.113556.1.4.7000.102.50855",
	}
	for _, d := range exchangeAttributes() {
		if w, ok := want[d.ldapName]; ok && w != d.oid {
			t.Errorf("%s has OID %s, want %s", d.ldapName, d.oid, w)
		}
		delete(want, d.ldapName)
	}
	if len(want) > 0 {
		t.Errorf("missing attributes: %v", want)
	}
}

// A pid file naming a process that is not our samba (here: this test
// process) must never be treated as the DC, so `lab down` cannot signal it.
func TestRunningPidIgnoresOtherProcesses(t *testing.T) {
	dir := t.TempDir()
	p := pathsFor(dir)
	start, err := procStartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, content := range []string{
		fmt.Sprintf("%d %d\n", os.Getpid(), start),   // alive, not samba
		fmt.Sprintf("%d %d\n", os.Getpid(), start+1), // recycled pid
		"999999999 1\n", // no such process
		"garbage\n",
	} {
		os.WriteFile(p.pidFile, []byte(content), 0o644)
		if pid, ok := runningPid(p); ok {
			t.Errorf("pid file %q: treated pid %d as the lab's samba", content, pid)
		}
	}
	if err := stopSamba(p, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.pidFile); !os.IsNotExist(err) {
		t.Fatal("stale pid file not removed")
	}
}

// After a samba package upgrade the running DC's /proc/PID/exe reads
// "/usr/sbin/samba (deleted)"; it is still the lab's DC.
func TestIsSambaExe(t *testing.T) {
	for exe, want := range map[string]bool{
		"/usr/sbin/samba":            true,
		"/usr/sbin/samba (deleted)":  true,
		"/opt/samba/sbin/samba":      true,
		"/usr/bin/samba-tool":        false,
		"/usr/sbin/smbd (deleted)":   false,
		"/usr/bin/python3.11":        false,
		"/usr/sbin/samba (deleted)x": false,
		"":                           false,
	} {
		if got := isSambaExe(exe); got != want {
			t.Errorf("isSambaExe(%q) = %v, want %v", exe, got, want)
		}
	}
}

// The generated hybridsync.yaml must stay valid YAML, and point at the
// lab's files, whatever characters the lab directory's path holds.
func TestWriteEnvConfigLoadsWithAwkwardDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a: b #c")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	base := realmDN(realm)
	st := &State{
		Dir: dir, IP: "127.11.0.99", Realm: realm, NetBIOS: netbios, HostName: hostName,
		DCName: hostName + "." + strings.ToLower(realm), BaseDN: base, MailDomain: mailDomain,
		Manifest: &Manifest{SyncOU: "OU=Sync,OU=Lab," + base, NoSyncOU: "OU=NoSync,OU=Lab," + base, TestsOU: "OU=Tests,OU=Lab," + base},
	}
	// config.Load checks that the CA and password files exist.
	if _, _, _, err := writeCA(dir, []string{st.DCName}, []net.IP{net.ParseIP(st.IP)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(adminPasswordFile(dir), []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeEnv(st); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(st.Env()[EnvConfig])
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "tls", "ca.pem"); cfg.AD.TLS.CAFile != want {
		t.Errorf("ca_file = %q, want %q", cfg.AD.TLS.CAFile, want)
	}
	if want := "file:" + adminPasswordFile(dir); string(cfg.AD.Bind.Password) != want {
		t.Errorf("password = %q, want %q", cfg.AD.Bind.Password, want)
	}
	if len(cfg.AD.SyncOUs) != 1 || cfg.AD.SyncOUs[0] != st.Manifest.SyncOU || cfg.AD.BaseDN != base {
		t.Errorf("sync_ous = %q, base_dn = %q", cfg.AD.SyncOUs, cfg.AD.BaseDN)
	}
}

// A directory where `lab up` failed holds a lab.json without a Manifest:
// `lab down` works on it, and `lab up` refuses it, saying why, without
// removing anything.
func TestFailedUpDirectory(t *testing.T) {
	dir := t.TempDir()
	st := &State{Dir: dir, IP: "127.11.0.254", Realm: realm, BaseDN: realmDN(realm)}
	if err := st.save(); err != nil {
		t.Fatal(err)
	}
	if err := Down(context.Background(), dir); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if err := requireTools(); err != nil {
		if os.Getenv("HYBRIDSYNC_REQUIRE_LAB") == "1" {
			t.Fatalf("lab up needs the Samba tools and root: %v", err)
		}
		t.Skipf("lab up needs the Samba tools and root (run scripts/test.sh): %v", err)
	}
	_, err := Up(context.Background(), Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "previous `lab up`") || !strings.Contains(err.Error(), "remove the directory") {
		t.Fatalf("Up on a failed lab's directory: %v", err)
	}
	if _, err := LoadState(dir); err != nil {
		t.Fatalf("Up removed the failed lab's state: %v", err)
	}
}

// A lab made with --source-anchor mS-DS-ConsistencyGuid gives the agent
// the same source anchor; the default lab leaves the config's default.
func TestWriteEnvConfigSourceAnchor(t *testing.T) {
	for _, tc := range []struct {
		anchor plan.SourceAnchor
		want   string
	}{{"", config.SourceAnchorObjectGUID}, {plan.AnchorObjectGUID, config.SourceAnchorObjectGUID}, {plan.AnchorConsistencyGUID, config.SourceAnchorConsistencyGUID}} {
		dir := t.TempDir()
		base := realmDN(realm)
		st := &State{
			Dir: dir, IP: "127.11.0.99", Realm: realm, NetBIOS: netbios, HostName: hostName,
			DCName: hostName + "." + strings.ToLower(realm), BaseDN: base, MailDomain: mailDomain, SourceAnchor: tc.anchor,
			Manifest: &Manifest{SyncOU: "OU=Sync,OU=Lab," + base, NoSyncOU: "OU=NoSync,OU=Lab," + base, TestsOU: "OU=Tests,OU=Lab," + base},
		}
		if _, _, _, err := writeCA(dir, []string{st.DCName}, []net.IP{net.ParseIP(st.IP)}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(adminPasswordFile(dir), []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := writeEnv(st); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(st.Env()[EnvConfig])
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Reconcile.SourceAnchor != tc.want {
			t.Errorf("lab source anchor %q: config source_anchor %q, want %q", tc.anchor, cfg.Reconcile.SourceAnchor, tc.want)
		}
	}
}

// Entra Connect's source anchor is chosen at installation: an existing lab
// refuses another one, and an unknown one is refused before anything is
// done.
func TestUpRefusesAnotherSourceAnchor(t *testing.T) {
	if _, err := Up(context.Background(), Options{Dir: t.TempDir(), SourceAnchor: "employeeID"}); err == nil || !strings.Contains(err.Error(), "--source-anchor") {
		t.Fatalf("Up with an unknown source anchor: %v", err)
	}
	if err := requireTools(); err != nil {
		if os.Getenv("HYBRIDSYNC_REQUIRE_LAB") == "1" {
			t.Fatalf("lab up needs the Samba tools and root: %v", err)
		}
		t.Skipf("lab up needs the Samba tools and root (run scripts/test.sh): %v", err)
	}
	dir := t.TempDir()
	st := &State{Dir: dir, IP: "127.11.0.254", Realm: realm, BaseDN: realmDN(realm), Manifest: &Manifest{}}
	if err := st.save(); err != nil {
		t.Fatal(err)
	}
	_, err := Up(context.Background(), Options{Dir: dir, SourceAnchor: string(plan.AnchorConsistencyGUID)})
	if err == nil || !strings.Contains(err.Error(), "syncs with source anchor objectGUID") {
		t.Fatalf("Up with another source anchor for an existing lab: %v", err)
	}
}

func TestSambaBuildOption(t *testing.T) {
	out := []byte("Samba version: 4.17.12-Debian\nBuild environment:\nPaths:\n   BINDIR: /usr/bin\n   SETUPDIR: /usr/share/samba/setup\n   SBINDIR: /usr/sbin\n")
	if got, ok := sambaBuildOption(out, "SETUPDIR"); !ok || got != "/usr/share/samba/setup" {
		t.Errorf("SETUPDIR = %q, %v", got, ok)
	}
	if got, ok := sambaBuildOption(out, "MODULESDIR"); ok {
		t.Errorf("MODULESDIR = %q, want not found", got)
	}
}

func TestCheckProvisionSchema(t *testing.T) {
	dir := t.TempDir()
	err := checkProvisionSchema(dir)
	if err == nil || !strings.Contains(err.Error(), "install Debian package samba-ad-provision") || !strings.Contains(err.Error(), "AD_DS_Attributes__Windows_Server_2012_R2.ldf") {
		t.Fatalf("empty setup directory: %v, want the missing file and its package named", err)
	}
	path := filepath.Join(dir, filepath.FromSlash(provisionSchemaFile))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("dn: CN=x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkProvisionSchema(dir); err != nil {
		t.Fatalf("with the schema file: %v", err)
	}
}

// The schema check passes on a machine the README's set-up prepared (the
// lab's own): it finds Samba's setup directory through `samba -b`.
func TestRequireProvisionSchema(t *testing.T) {
	if err := requireTools(); err != nil {
		if os.Getenv("HYBRIDSYNC_REQUIRE_LAB") == "1" {
			t.Fatalf("the Samba tools are required (HYBRIDSYNC_REQUIRE_LAB=1): %v", err)
		}
		t.Skipf("lab up needs the Samba tools and root: %v", err)
	}
	if err := requireProvisionSchema(context.Background()); err != nil {
		t.Fatalf("requireProvisionSchema: %v", err)
	}
}

// A lab with a tenant gives the agent a migrations.sync that triggers the
// lab's sync cycle with this very binary, with a wait and polling suited
// to a 30-second cycle, and no groups.
func TestWriteEnvConfigMigrationSync(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lab dir")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	base := realmDN(realm)
	st := &State{
		Dir: dir, IP: "127.11.0.99", Realm: realm, NetBIOS: netbios, HostName: hostName,
		DCName: hostName + "." + strings.ToLower(realm), BaseDN: base, MailDomain: mailDomain,
		Manifest: &Manifest{SyncOU: "OU=Sync,OU=Lab," + base, NoSyncOU: "OU=NoSync,OU=Lab," + base, TestsOU: "OU=Tests,OU=Lab," + base},
		TenantID: "6f2e3a44-5b1c-4d8e-9a7f-0c1d2e3f4a5b", ClientID: "0b9c8d7e-6f5a-4b3c-8d2e-1f0a9b8c7d6e",
		InitialDomain: initialDomain, EmulatorPort: emulatorPort,
	}
	if _, _, _, err := writeCA(dir, []string{st.DCName}, []net.IP{net.ParseIP(st.IP)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{adminPasswordFile(dir), clientSecretFile(dir)} {
		if err := os.WriteFile(f, []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeEnv(st); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(st.Env()[EnvConfig])
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ms := cfg.Migrations.Sync
	if ms.Trigger != config.SyncTriggerCommand || !slices.Equal(ms.Command, []string{exe, "lab", "sync", "--dir", dir}) {
		t.Errorf("migrations.sync trigger %q command %q", ms.Trigger, ms.Command)
	}
	if ms.Wait.Duration != 10*time.Minute || ms.PollInterval.Duration != time.Second {
		t.Errorf("migrations.sync wait %s poll_interval %s", ms.Wait.Duration, ms.PollInterval.Duration)
	}
	if len(cfg.Migrations.Groups) != 0 {
		t.Errorf("groups %v, want none", cfg.Migrations.Groups)
	}
}
