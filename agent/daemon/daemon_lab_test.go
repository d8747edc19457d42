//go:build !windows

package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/config"
	"github.com/hybridsync/hybridsync/agent/lab"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/reconcile/apply"
	"github.com/hybridsync/hybridsync/reconcile/journal"
)

// agentConfig writes the lab's config with its own state directory and the
// DC and tenant reached through proxies. It returns the config path and
// the two proxies.
func agentConfig(t *testing.T, l *labtest.Lab, extra string) (string, *labtest.Proxy, *labtest.Proxy) {
	t.Helper()
	base, err := os.ReadFile(l.Env[lab.EnvConfig])
	if err != nil {
		t.Fatal(err)
	}
	text := string(base)
	ldapURL := regexp.MustCompile(`ldaps://[0-9.]+:[0-9]+`).FindString(text)
	emuURL := regexp.MustCompile(`https://[0-9.]+:[0-9]+`).FindString(text)
	if ldapURL == "" || emuURL == "" {
		t.Fatalf("the lab config has no ldaps:// or https:// URL:\n%s", text)
	}
	lu, _ := url.Parse(ldapURL)
	eu, _ := url.Parse(emuURL)
	adp := labtest.StartProxy(t, lu.Hostname(), lu.Host)
	cp := labtest.StartProxy(t, eu.Hostname(), eu.Host)
	text = strings.ReplaceAll(text, ldapURL, "ldaps://"+adp.Addr())
	text = strings.ReplaceAll(text, emuURL, "https://"+cp.Addr())
	state := filepath.Join(t.TempDir(), "state")
	text = regexp.MustCompile(`(?m)^state_dir: .*$`).ReplaceAllLiteralString(text, fmt.Sprintf("state_dir: %q", state))
	text += extra
	return labtest.WriteConfig(t, text), adp, cp
}

// running is an agent started by startAgent.
type running struct {
	base, addr string
	// client and scheme are replaced for an agent serving TLS.
	client *http.Client
	scheme string
	done   chan error
	stop   context.CancelFunc
}

func startAgent(t *testing.T, cfgPath string, mods ...func(*Options)) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	r := &running{done: make(chan error, 1), stop: cancel, client: http.DefaultClient, scheme: "http"}
	opts := Options{
		ConfigPath: cfgPath, Listen: "127.0.0.1:0", Version: "test",
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Interval: 2 * time.Second, RetryBase: 500 * time.Millisecond, ReloadEvery: 200 * time.Millisecond,
		OnListen: func(a string) { addr <- a },
	}
	for _, m := range mods {
		m(&opts)
	}
	go func() { r.done <- Run(ctx, opts) }()
	select {
	case a := <-addr:
		r.base = "http://" + a
		r.addr = a
	case err := <-r.done:
		cancel()
		t.Fatalf("the agent did not start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("the agent did not listen within 30s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run returned %v after cancel", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("the agent did not stop within 20s of cancel")
		}
	})
	return r
}

func (r *running) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := r.client.Get(r.scheme + "://" + r.addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (r *running) status(t *testing.T) Status {
	t.Helper()
	code, body := r.get(t, "/status")
	var st Status
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("/status: %d %s", code, body)
	}
	return st
}

// eventually polls cond every 250ms for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for time.Now().Before(deadline) {
		ok, info := cond()
		if ok {
			return
		}
		last = info
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s; last: %s", what, d, last)
}

func metricValue(body, series string) string {
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, series+" ") {
			return strings.TrimPrefix(line, series+" ")
		}
	}
	return ""
}

func TestLabAgentReconcilesServesAndReloads(t *testing.T) {
	l := labtest.Get(t)
	cfg, _, _ := agentConfig(t, l, "")
	r := startAgent(t, cfg)

	if code, body := r.get(t, "/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("/healthz %d %q", code, body)
	}
	eventually(t, 60*time.Second, "ready after the first full read", func() (bool, string) {
		code, body := r.get(t, "/readyz")
		return code == 200, body
	})
	eventually(t, 30*time.Second, "an incremental run after the full one", func() (bool, string) {
		st := r.status(t)
		for _, run := range st.LastRuns {
			if run.Kind == "incremental" && run.Result == "success" {
				return true, ""
			}
		}
		b, _ := json.Marshal(st.LastRuns)
		return false, string(b)
	})
	st := r.status(t)
	full := st.LastRuns[len(st.LastRuns)-1]
	if full.Kind != "full" || full.ADRead == 0 || full.Cloud == 0 || st.Mode != "observe" {
		t.Fatalf("first run %+v, mode %s", full, st.Mode)
	}

	// The metrics pass promtool and say what happened.
	_, metrics := r.get(t, "/metrics")
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(metrics)
	if out, err := cmd.CombinedOutput(); err != nil {
		if errors.Is(err, exec.ErrNotFound) && os.Getenv("HYBRIDSYNC_REQUIRE_LAB") != "1" {
			t.Log("promtool not installed; metrics not linted")
		} else {
			t.Fatalf("promtool check metrics: %v\n%s", err, out)
		}
	}
	for _, series := range []string{
		`hybridsync_reconcile_runs_total{kind="full",result="success"}`,
		`hybridsync_source_up{source="ad"}`,
		`hybridsync_source_up{source="cloud"}`,
		`hybridsync_config_last_reload_successful`,
	} {
		if v := metricValue(metrics, series); v == "" || v == "0" {
			t.Errorf("%s = %q, want > 0", series, v)
		}
	}
	if !regexp.MustCompile(`hybridsync_ldap_requests_total\{operation="ad.Search",result="success"\} [1-9]`).MatchString(metrics) ||
		!regexp.MustCompile(`hybridsync_cloud_requests_total\{api="graph",operation="[^"]+",result="success"\} [1-9]`).MatchString(metrics) {
		t.Errorf("no successful LDAP or Graph requests counted:\n%s", grepLines(metrics, "requests_total"))
	}

	// A second instance on the same state directory is refused.
	err := Run(t.Context(), Options{ConfigPath: cfg, Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "another hybridsync is running") {
		t.Fatalf("second instance: %v", err)
	}

	// A bad new config is rejected and the running one kept.
	orig, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, append(orig, []byte("reconcile:\n  mode: sometimes\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the bad config rejected", func() (bool, string) {
		st := r.status(t)
		return !st.LastReload.OK && strings.Contains(st.LastReload.Error, "mode"), fmt.Sprintf("%+v", st.LastReload)
	})
	if st2 := r.status(t); st2.ConfigVersion != st.ConfigVersion {
		t.Fatalf("config version changed to %s after a rejected reload", st2.ConfigVersion)
	}
	if _, m := r.get(t, "/metrics"); metricValue(m, "hybridsync_config_last_reload_successful") != "0" ||
		metricValue(m, `hybridsync_config_reloads_total{result="failure"}`) == "0" {
		t.Errorf("a rejected reload is not in the metrics:\n%s", grepLines(m, "hybridsync_config"))
	}
	// A good one is taken.
	if err := os.WriteFile(cfg, append(orig, []byte("reconcile:\n  mode: observe\n  jitter: 0\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the good config taken", func() (bool, string) {
		st2 := r.status(t)
		return st2.LastReload.OK && st2.ConfigVersion != st.ConfigVersion, fmt.Sprintf("%+v", st2.LastReload)
	})
}

func grepLines(body, sub string) string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		if strings.Contains(line, sub) && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// With the DC or the tenant gone, the agent keeps running, turns unready,
// counts the failures, and recovers by itself when they return.
func TestLabAgentSurvivesOutages(t *testing.T) {
	l := labtest.Get(t)
	cfg, adp, cp := agentConfig(t, l, "")
	r := startAgent(t, cfg)
	ready := func() (bool, string) {
		code, body := r.get(t, "/readyz")
		return code == 200, body
	}
	eventually(t, 60*time.Second, "ready", ready)

	for _, tc := range []struct {
		name   string
		p      *labtest.Proxy
		source string
	}{{"DC stopped", adp, "ad"}, {"tenant stopped", cp, "cloud"}} {
		t.Run(tc.name, func(t *testing.T) {
			tc.p.Stop()
			eventually(t, 90*time.Second, "unready", func() (bool, string) {
				code, body := r.get(t, "/readyz")
				return code == 503 && strings.Contains(body, tc.source+": failing"), body
			})
			if code, _ := r.get(t, "/healthz"); code != 200 {
				t.Fatalf("/healthz %d during the outage", code)
			}
			_, m := r.get(t, "/metrics")
			if v := metricValue(m, fmt.Sprintf(`hybridsync_source_up{source=%q}`, tc.source)); v != "0" {
				t.Errorf("source_up{%s} = %q during the outage", tc.source, v)
			}
			if v := metricValue(m, `hybridsync_reconcile_runs_total{kind="incremental",result="failure"}`) + metricValue(m, `hybridsync_reconcile_runs_total{kind="full",result="failure"}`); strings.Trim(v, "0") == "" {
				t.Errorf("no failed run counted:\n%s", grepLines(m, "runs_total"))
			}
			tc.p.Start()
			eventually(t, 90*time.Second, "ready again", ready)
		})
	}
}

// A real Prometheus server scrapes the agent running against the lab and
// evaluates the shipped alert rules.
func TestLabPrometheusScrapesTheAgent(t *testing.T) {
	l := labtest.Get(t)
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("HYBRIDSYNC_REQUIRE_LAB") == "1" {
			t.Fatal("prometheus is not installed (scripts/setup-debian.sh installs it)")
		}
		t.Skip("prometheus is not installed")
	}
	cfg, _, _ := agentConfig(t, l, "")
	r := startAgent(t, cfg)
	rules, err := filepath.Abs("../../configs/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	promCfg := filepath.Join(dir, "prometheus.yml")
	target := strings.TrimPrefix(r.base, "http://")
	if err := os.WriteFile(promCfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: hybridsync
    static_configs:
      - targets: [%q]
`, rules, target)), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	promAddr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, prom, "--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })

	query := func(q string) (string, int) {
		resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return err.Error(), 0
		}
		defer resp.Body.Close()
		var out struct {
			Status string `json:"status"`
			Data   struct {
				Result []struct {
					Value []any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		b, _ := io.ReadAll(resp.Body)
		if json.Unmarshal(b, &out) != nil || out.Status != "success" || len(out.Data.Result) == 0 {
			return string(b), 0
		}
		return fmt.Sprint(out.Data.Result[0].Value[1]), len(out.Data.Result)
	}
	for _, q := range []string{
		`up{job="hybridsync"} == 1`,
		`hybridsync_build_info{version="test"}`,
		`hybridsync_reconcile_runs_total{kind="full",result="success"} > 0`,
		`hybridsync_source_up{source="ad"} == 1`,
		`hybridsync_source_up{source="cloud"} == 1`,
	} {
		eventually(t, 90*time.Second, "Prometheus has "+q, func() (bool, string) {
			v, n := query(q)
			return n > 0, v + "\n" + tail(logs.String(), 800)
		})
	}
	// The shipped rules load and evaluate without errors.
	eventually(t, 30*time.Second, "the alert rules evaluated", func() (bool, string) {
		resp, err := http.Get("http://" + promAddr + "/api/v1/rules")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		var out struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name      string `json:"name"`
						Health    string `json:"health"`
						LastError string `json:"lastError"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		b, _ := io.ReadAll(resp.Body)
		if json.Unmarshal(b, &out) != nil || len(out.Data.Groups) == 0 {
			return false, string(b)
		}
		for _, g := range out.Data.Groups {
			for _, rule := range g.Rules {
				if rule.Health != "ok" {
					return false, rule.Name + ": " + rule.Health + " " + rule.LastError
				}
			}
		}
		return true, ""
	})
	// And none fires against a healthy agent.
	if v, n := query(`ALERTS{alertstate="firing",alertname=~"Hybridsync.*"}`); n > 0 {
		t.Errorf("alerts fire against a healthy agent: %s", v)
	}
}

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// SIGHUP reloads the config at once (the file watch is made too slow to
// be the cause here).
func TestLabAgentReloadsOnSIGHUP(t *testing.T) {
	l := labtest.Get(t)
	cfg, _, _ := agentConfig(t, l, "")
	r := startAgent(t, cfg, func(o *Options) { o.ReloadEvery = time.Hour })
	before := r.status(t).ConfigVersion
	orig, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, append(orig, []byte("staging: true\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "reloaded on SIGHUP", func() (bool, string) {
		st := r.status(t)
		return st.ConfigVersion != before && st.Staging, fmt.Sprintf("%s staging=%v", st.ConfigVersion, st.Staging)
	})
}

// http.tls serves every endpoint over HTTPS.
func TestLabAgentServesTLS(t *testing.T) {
	l := labtest.Get(t)
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hybridsync-agent"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "agent.pem"), filepath.Join(dir, "agent.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, _ := agentConfig(t, l, fmt.Sprintf("http:\n  tls:\n    cert_file: %q\n    key_file: %q\n", certFile, keyFile))
	r := startAgent(t, cfg)
	// Plain HTTP is not served.
	if resp, err := http.Get("http://" + r.addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("the TLS listener answered plain HTTP")
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(mustParse(t, der))
	r.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	r.scheme = "https"
	if code, body := r.get(t, "/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("https /healthz: %d %q", code, body)
	}
	if code, body := r.get(t, "/metrics"); code != 200 || !strings.Contains(body, "hybridsync_build_info") {
		t.Fatalf("https /metrics: %d", code)
	}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// In enforce mode the agent applies the dual-write fix through the journal
// and the next plan is clean; with staging on it writes nothing.
func TestLabAgentEnforces(t *testing.T) {
	l := labtest.Get(t)
	ou := l.SyncedOU(t)
	user := l.X500OnlyMailChange(t, ou, "en")
	scope := fmt.Sprintf("reconcile:\n  mode: enforce\n  scope:\n    ous:\n      - %q\n", ou)

	// Staging: the fix is found and left alone.
	staged, _, _ := agentConfig(t, l, scope+"staging: true\n")
	r := startAgent(t, staged)
	eventually(t, 60*time.Second, "the fix found in staging", func() (bool, string) {
		st := r.status(t)
		return len(st.LastRuns) > 0 && st.Actions == 1 && st.Staging, fmt.Sprintf("%+v", st.LastRuns)
	})
	r.stop()
	got, err := l.Client(t).ReadRecipient(t.Context(), user.DN)
	if err != nil || slices.Contains(got.ProxyAddresses.Raw(), "SMTP:"+user.Mail) {
		t.Fatalf("staging wrote to AD: %v %q", err, got.ProxyAddresses.Raw())
	}

	cfg, _, _ := agentConfig(t, l, scope)
	r = startAgent(t, cfg)
	eventually(t, 60*time.Second, "the fix applied", func() (bool, string) {
		st := r.status(t)
		for _, run := range st.LastRuns {
			if run.Applied == 1 {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", st.LastRuns)
	})
	got, err = l.Client(t).ReadRecipient(t.Context(), user.DN)
	if err != nil || !slices.Contains(got.ProxyAddresses.Raw(), "SMTP:"+user.Mail) {
		t.Fatalf("AD does not hold SMTP:%s: %v %q", user.Mail, err, got.ProxyAddresses.Raw())
	}
	eventually(t, 30*time.Second, "no action pending after the fix", func() (bool, string) {
		st := r.status(t)
		return st.Actions == 0 && st.JournalIntent == 0, fmt.Sprintf("actions %d pending intents %d", st.Actions, st.JournalIntent)
	})
	_, m := r.get(t, "/metrics")
	if v := metricValue(m, `hybridsync_reconcile_actions_applied_total{result="applied"}`); v != "1" {
		t.Errorf("actions applied = %q, want 1", v)
	}

	// An admin undoes the fix while the agent runs: the agent proposes it
	// again but does not write it while the object stays as the undo left
	// it (the admin and the service must not overwrite each other).
	undoEntry := undoLatest(t, l, cfg)
	eventually(t, 60*time.Second, "the undone fix held by a later run", func() (bool, string) {
		_, m := r.get(t, "/metrics")
		v := metricValue(m, `hybridsync_reconcile_actions_applied_total{result="held"}`)
		return v != "" && v != "0", "held = " + v
	})
	got, err = l.Client(t).ReadRecipient(t.Context(), user.DN)
	if err != nil || slices.Contains(got.ProxyAddresses.Raw(), "SMTP:"+user.Mail) {
		t.Fatalf("the agent re-applied the fix an admin undid (entry %s): %v %q", undoEntry, err, got.ProxyAddresses.Raw())
	}
	// Once the object changes again, the fix is applied afresh.
	extra := "smtp:extra-" + user.SAMAccountName + "@" + l.Manifest.MailDomain
	if err := l.Client(t).Modify(t.Context(), user.DN, ad.Change{Op: ad.AddValues, Attr: "proxyAddresses", Values: []string{extra}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the fix applied again after the object changed", func() (bool, string) {
		got, err := l.Client(t).ReadRecipient(t.Context(), user.DN)
		return err == nil && slices.Contains(got.ProxyAddresses.Raw(), "SMTP:"+user.Mail), fmt.Sprintf("%v %q", err, got.ProxyAddresses.Raw())
	})
}

// undoLatest undoes the newest done entry of cfg's journal, as `hybridsync
// undo` would, while the agent runs (it holds the journal only while it
// writes), and returns the undo's entry id.
func undoLatest(t *testing.T, l *labtest.Lab, cfgPath string) string {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(journal.Options{Path: filepath.Join(cfg.StateDir, journal.FileName), LockTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	done, err := j.List(journal.ListFilter{State: journal.Done, Limit: 1})
	if err != nil || len(done) != 1 {
		t.Fatalf("done entries: %v %+v", err, done)
	}
	res, err := (&apply.Applier{Dir: l.Client(t), Journal: j}).Undo(t.Context(), done[0].ID, false)
	if err != nil || !res.Restored {
		t.Fatalf("undo %s: %v %+v", done[0].ID, err, res)
	}
	return res.Entry.ID
}

// Changes made between runs are seen by the incremental reads (AD by
// uSNChanged, the tenant by delta), without waiting for the daily full read.
func TestLabAgentSeesChangesIncrementally(t *testing.T) {
	l := labtest.Get(t)
	ou := l.SyncedOU(t)
	l.X500OnlyMailChange(t, ou, "ia")
	cfg, _, _ := agentConfig(t, l, fmt.Sprintf("reconcile:\n  scope:\n    ous:\n      - %q\n", ou))
	r := startAgent(t, cfg)
	eventually(t, 60*time.Second, "the first fix found by the full read", func() (bool, string) {
		st := r.status(t)
		return st.Actions == 1, fmt.Sprintf("%+v", st.LastRuns)
	})
	b := l.X500OnlyMailChange(t, ou, "ib")
	eventually(t, 60*time.Second, "the second fix found by an incremental read", func() (bool, string) {
		st := r.status(t)
		if len(st.LastRuns) == 0 {
			return false, "no runs"
		}
		last := st.LastRuns[0]
		return st.Actions == 2 && last.Kind == "incremental" && last.Result == "success", fmt.Sprintf("actions %d, last run %+v", st.Actions, last)
	})
	// A deletion is seen too (a tombstone in the incremental read).
	if err := l.Client(t).Delete(t.Context(), b.DN); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the deleted user's fix dropped by an incremental read", func() (bool, string) {
		st := r.status(t)
		last := st.LastRuns[0]
		return st.Actions == 1 && last.Kind == "incremental", fmt.Sprintf("actions %d, last run %+v", st.Actions, last)
	})
	for _, run := range r.status(t).LastRuns {
		if run.Kind == "full" && run.Reason != "first read" {
			t.Errorf("an unexpected full read: %+v", run)
		}
	}
}
