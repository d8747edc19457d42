package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/lab"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
)

// labConfig writes a config for the lab with the given overrides.
func labConfig(t *testing.T, l *labtest.Lab, url, caFile, passwordFile string) string {
	t.Helper()
	cfg := fmt.Sprintf(`ad:
  urls: [%q]
  base_dn: %q
  tls:
    ca_file: %s
    server_name: %s
  bind:
    dn: %q
    password: file:%s
`, url, l.State.BaseDN, caFile, l.Env[lab.EnvServerName], l.Env[lab.EnvBindDN], passwordFile)
	return labtest.WriteConfig(t, cfg)
}

func TestLabADExport(t *testing.T) {
	l := labtest.Get(t)
	out := filepath.Join(t.TempDir(), "export.jsonl")
	code, _, errOut := runCLI(t, "ad", "export", "-c", l.Env[lab.EnvConfig], "--base", l.Manifest.SyncOU, "-o", out)
	if code != 0 {
		t.Fatalf("export exited %d: %s", code, errOut)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type line struct {
		DN             string   `json:"dn"`
		GUID           string   `json:"objectGUID"`
		Class          string   `json:"class"`
		Mail           string   `json:"mail"`
		ProxyAddresses []string `json:"proxyAddresses"`
		Members        []string `json:"members"`
	}
	byDN := map[string]line{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		var ln line
		if err := json.Unmarshal(sc.Bytes(), &ln); err != nil {
			t.Fatalf("line %d is not JSON: %v", len(byDN)+1, err)
		}
		if ln.DN == "" || ln.GUID == "" || ln.Class == "" {
			t.Fatalf("line without dn/objectGUID/class: %s", sc.Text())
		}
		byDN[ad.CanonicalDN(ln.DN)] = ln
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	// Same count as the recipients the seed put under the sync OU.
	c := l.Client(t)
	want := 0
	if _, err := c.StreamRecipients(t.Context(), l.Manifest.SyncOU, func(*ad.Recipient) error { want++; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(byDN) != want || want == 0 {
		t.Fatalf("export has %d recipients, directory has %d", len(byDN), want)
	}
	big, ok := byDN[ad.CanonicalDN(l.Manifest.BigDL)]
	if !ok || len(big.Members) != l.Manifest.BigDLMembers {
		t.Fatalf("big DL exported with %d members, want %d", len(big.Members), l.Manifest.BigDLMembers)
	}
	for _, dn := range l.Manifest.SpecialNames {
		if _, ok := byDN[ad.CanonicalDN(dn)]; !ok {
			t.Errorf("special-character object %s missing from export", dn)
		}
	}
	for _, dn := range l.Manifest.NoSyncObjects {
		if _, ok := byDN[ad.CanonicalDN(dn)]; ok {
			t.Errorf("%s is outside --base but was exported", dn)
		}
	}
	if !strings.Contains(errOut, "complete=true") {
		t.Errorf("summary log missing: %q", errOut)
	}
	if got := dirNames(t, filepath.Dir(out)); len(got) != 1 || got[0] != filepath.Base(out) {
		t.Errorf("output directory holds %q, want only %s", got, filepath.Base(out))
	}
}

// An export whose read fails after the output file was opened (here: the
// search base does not exist) leaves neither FILE nor a temporary file.
// (TestADExportFailureLeavesNoFile covers an unreachable DC.)
func TestLabADExportFailureLeavesNoFile(t *testing.T) {
	l := labtest.Get(t)
	dir := t.TempDir()
	code, _, errOut := runCLI(t, "ad", "export", "-c", l.Env[lab.EnvConfig],
		"--base", "OU=No Such OU,"+l.State.BaseDN, "-o", filepath.Join(dir, "export.jsonl"))
	if code == 0 || !strings.Contains(errOut, "read incomplete") {
		t.Fatalf("exit %d; stderr %q; want a failed read", code, errOut)
	}
	if got := dirNames(t, dir); len(got) != 0 {
		t.Fatalf("failed export left %q; stderr %q", got, errOut)
	}
}

func TestLabADExportErrors(t *testing.T) {
	l := labtest.Get(t)
	dir := t.TempDir()
	wrongPw := filepath.Join(dir, "wrong.password")
	if err := os.WriteFile(wrongPw, []byte("Wrong-Password-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	otherCA := labtest.OtherCA(t)
	url, ca, pw := l.Env[lab.EnvLDAPURL], l.Env[lab.EnvCAFile], l.Env[lab.EnvPasswordFile]
	for _, tc := range []struct {
		name string
		cfg  string
		want []string
	}{
		{"missing config file", filepath.Join(dir, "nope.yaml"), []string{"nope.yaml", "no such file"}},
		{"invalid config", labtest.WriteConfig(t, "ad:\n  urls: [ldaps://x]\n  base_dn: DC=x\n  colour: blue\n"), []string{"colour", ":4:"}},
		{"wrong password", labConfig(t, l, url, ca, wrongPw), []string{"invalid credentials"}},
		{"certificate not trusted", labConfig(t, l, url, otherCA, pw), []string{"certificate"}},
		{"DC unreachable", labConfig(t, l, "ldaps://127.0.0.1:1", ca, pw), []string{"no domain controller reachable", "127.0.0.1:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "ad", "export", "-c", tc.cfg)
			if code == 0 {
				t.Fatalf("exit 0; stderr %q", errOut)
			}
			if out != "" {
				t.Fatalf("wrote output on failure: %q", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q does not mention %q", errOut, w)
				}
			}
			if strings.Contains(errOut, "Wrong-Password-123") {
				t.Error("stderr leaks the password")
			}
		})
	}
}

func TestLabConfigValidate(t *testing.T) {
	l := labtest.Get(t)
	code, out, errOut := runCLI(t, "config", "validate", "-c", l.Env[lab.EnvConfig])
	if code != 0 || !strings.Contains(out, "DC "+l.Env[lab.EnvLDAPURL]+": bound") || !strings.Contains(out, "Graph and Exchange tokens issued") {
		t.Fatalf("code %d out %q err %q", code, out, errOut)
	}

	// An unreachable second DC and a wrong client secret are each named.
	base, err := os.ReadFile(l.Env[lab.EnvConfig])
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(base), "    - "+l.Env[lab.EnvLDAPURL]+"\n", "    - "+l.Env[lab.EnvLDAPURL]+"\n    - ldaps://127.0.0.1:1\n", 1)
	secret := filepath.Join(t.TempDir(), "wrong.secret")
	if err := os.WriteFile(secret, []byte("not-the-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	text = regexp.MustCompile(`client_secret: .*`).ReplaceAllString(text, "client_secret: \"file:"+secret+"\"")
	code, out, errOut = runCLI(t, "config", "validate", "-c", labtest.WriteConfig(t, text))
	if code != 1 || !strings.Contains(out, "DC "+l.Env[lab.EnvLDAPURL]+": bound") || !strings.Contains(out, "DC ldaps://127.0.0.1:1: FAILED") ||
		!strings.Contains(out, "token endpoint") || !strings.Contains(errOut, "cannot reach ldaps://127.0.0.1:1, the token endpoint") {
		t.Fatalf("code %d out %q err %q", code, out, errOut)
	}
	if strings.Contains(out+errOut, "not-the-secret") {
		t.Fatal("the output leaks the secret")
	}
}
