//go:build lab

package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/agent/lab"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/cloud/emulator"
	"github.com/hybridsync/hybridsync/cloud/emulator/emutest"
	"github.com/hybridsync/hybridsync/cloud/emulator/syncsim"
	"github.com/hybridsync/hybridsync/internal/failpoint"
	"github.com/hybridsync/hybridsync/reconcile/migrate"
)

// migrationTenant is a tenant emulator of the test's own, synced from the
// test's OU of the lab's AD by a simulated Entra Connect on its own
// schedule (a cycle every second; migrations.sync.trigger none), so that a
// test can throttle it, take it down or stop its sync cycles without
// touching the lab's tenant, which other tests use at the same time.
type migrationTenant struct {
	srv  *emutest.Server
	loop *syncsim.Loop
	ou   string
	lab  *labtest.Lab
	// cfg is the config config wrote last.
	cfg string
}

func newMigrationTenant(t *testing.T, l *labtest.Lab, configure func(*emulator.Config)) *migrationTenant {
	t.Helper()
	ou := l.OU(t) // outside the lab's own sync scope
	srv := emutest.Start(t, func(c *emulator.Config) {
		c.AcceptedDomains = []string{l.Manifest.MailDomain}
		if configure != nil {
			configure(c)
		}
	})
	loop := syncsim.NewLoop(l.Client(t), srv.Emulator, syncsim.Config{Scope: []string{ou}, Exclude: []string{l.Manifest.NoSyncOU},
		LicenseGroupDN: l.Manifest.LicenseGroup}, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	loop.Start(ctx)
	t.Cleanup(func() { cancel(); loop.Wait() })
	return &migrationTenant{srv: srv, loop: loop, ou: ou, lab: l}
}

// sync runs one cycle now.
func (m *migrationTenant) sync(t *testing.T) {
	t.Helper()
	if rep, err := m.loop.Trigger(t.Context()); err != nil || !rep.Complete {
		t.Fatalf("sync cycle: %v %+v", err, rep)
	}
}

// config is an agent config for the lab's AD (the test's OU as the only
// sync OU) and this tenant, migrating groups (each with its options),
// sync waits bounded by wait.
func (m *migrationTenant) config(t *testing.T, wait time.Duration, groups map[string]string) string {
	t.Helper()
	base, err := os.ReadFile(m.lab.Env[lab.EnvConfig])
	if err != nil {
		t.Fatal(err)
	}
	text := string(base)
	i, j, k := strings.Index(text, "  sync_ous:\n"), strings.Index(text, "  nosync_ou:"), strings.Index(text, "cloud:\n")
	if i < 0 || j < i || k < j {
		t.Fatalf("unexpected lab config:\n%s", text)
	}
	adSection := strings.Replace(text[j:k], "  timeout: 30s\n", "  timeout: 5s\n", 1)
	dir := t.TempDir()
	secret := filepath.Join(dir, "client.secret")
	if err := os.WriteFile(secret, []byte(emutest.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(text[:i] + "  sync_ous:\n    - " + strconvQuote(m.ou) + "\n" + adSection)
	b.WriteString("cloud:\n  tenant_id: " + emutest.TenantID + "\n  client_id: " + emutest.ClientID + "\n  national_cloud: global\n" +
		"  initial_domain: " + emutest.InitialDomain + "\n  credential:\n    client_secret: " + strconvQuote("file:"+secret) + "\n" +
		"  endpoints:\n    authority: " + m.srv.URL + "/\n    graph: " + m.srv.URL + "\n    exchange: " + m.srv.URL + "\n" +
		"  ca_file: " + strconvQuote(m.srv.CAFile) + "\n  timeout: 30s\n")
	fmt.Fprintf(&b, "migrations:\n  sync:\n    trigger: none\n    wait: %s\n    poll_interval: 1s\n  groups:\n", wait)
	for g, opts := range groups {
		fmt.Fprintf(&b, "    - group: %s\n", strconvQuote(g))
		for _, opt := range strings.Split(opts, ";") {
			if opt = strings.TrimSpace(opt); opt != "" {
				fmt.Fprintf(&b, "      %s\n", opt)
			}
		}
	}
	b.WriteString("state_dir: " + strconvQuote(filepath.Join(dir, "state")) + "\n")
	m.cfg = labtest.WriteConfig(t, b.String())
	return m.cfg
}

// exchange is this tenant's Exchange Online through the product's client.
func (m *migrationTenant) exchange(t *testing.T) cloud.Exchange {
	t.Helper()
	return tenantOf(t, m.cfg).Exchange()
}

// runCLIWith runs the CLI in this process with opts (a failpoint hook).
func runCLIWith(t *testing.T, opts Options, args ...string) (int, string, string) {
	t.Helper()
	var out, errb syncBuffer
	code := Run(context.Background(), args, &out, &errb, opts)
	return code, out.String(), errb.String()
}

// syncBuffer is a bytes.Buffer safe for the progress lines written while
// a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// at returns a hook calling fn once, the first time point is reached.
func at(point string, fn func()) failpoint.Hook {
	var once sync.Once
	return func(p string) {
		if p == point {
			once.Do(fn)
		}
	}
}

// both runs both hooks.
func both(a, b failpoint.Hook) failpoint.Hook {
	return func(p string) { a.At(p); b.At(p) }
}

// A throttling storm while the cloud list's members are written (seven in ten of
// Exchange's answers 429 with Retry-After, and one member per call): the
// clients wait as told, the saga goes on, and the list ends with every
// member.
func TestLabMigrateThrottlingStorm(t *testing.T) {
	l := labtest.Get(t)
	m := newMigrationTenant(t, l, func(c *emulator.Config) { c.Faults.MaxMembersPerUpdate = 5 })
	f := makeDLWith(t, l, m.ou, "ts", "Throttled", 30, false)
	m.sync(t)
	cfg := m.config(t, 2*time.Minute, map[string]string{f.primary: "method: recreate; keep_on_premises_group: true"})
	cleanupMigration(t, l, cfg, f)
	em := m.srv.Emulator
	storm := both(at("migrate.before.create", func() {
		em.SetFaults(emulator.Faults{ThrottleRate: 0.7, RetryAfter: time.Second, MaxMembersPerUpdate: 5})
	}), at("migrate.before.move", func() { em.SetFaults(emulator.Faults{MaxMembersPerUpdate: 5}) }))
	before := emulator.Total(em.Stats().Throttled)
	code, out, errOut := runCLIWith(t, Options{Failpoint: storm}, "migrate", "run", "-c", cfg, "--auto-approve")
	if code != 0 {
		t.Fatalf("migrate run: exit %d\n%s\n%s", code, out, errOut)
	}
	throttled := emulator.Total(em.Stats().Throttled) - before
	t.Logf("%d requests throttled during the storm\n%s", throttled, out)
	if throttled < 5 {
		t.Fatalf("only %d requests were throttled: no storm", throttled)
	}
	checkCloudListIn(t, l, m.exchange(t), f, migrate.MethodRecreate)
}

// The tenant down (every request 503) right after the synced twin is
// deleted, before the cloud list takes the addresses: a short outage is
// ridden out within the run; a long one leaves the group blocked, saying
// why, and the next run finishes it.
func TestLabMigrateTenantDown(t *testing.T) {
	l := labtest.Get(t)
	for _, tc := range []struct {
		name          string
		outage        time.Duration
		retryBlocked  string
		finishedFirst bool
	}{
		{"short", 15 * time.Second, "2m", true},
		{"long", 0, "5s", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMigrationTenant(t, l, nil)
			f := makeDLWith(t, l, m.ou, "td", "Down "+tc.name, 3, false)
			m.sync(t)
			cfg := m.config(t, 2*time.Minute, map[string]string{f.primary: "method: recreate; keep_on_premises_group: true"})
			cleanupMigration(t, l, cfg, f)
			em := m.srv.Emulator
			down := at("migrate.before.take-addresses", func() {
				em.SetFaults(emulator.Faults{UnavailableRate: 1, RetryAfter: time.Second})
				if tc.outage > 0 {
					time.AfterFunc(tc.outage, func() { em.SetFaults(emulator.Faults{}) })
				}
			})
			code, out, errOut := runCLIWith(t, Options{Failpoint: down}, "migrate", "run", "-c", cfg, "--auto-approve", "--retry-blocked", tc.retryBlocked)
			t.Logf("first run: exit %d\n%s\n%s", code, out, errOut)
			if tc.finishedFirst {
				if code != 0 || !strings.Contains(out, "blocked for now; trying again") {
					t.Fatalf("the run did not ride out a %s outage: exit %d", tc.outage, code)
				}
			} else {
				if code != 2 {
					t.Fatalf("migrate run with the tenant down: exit %d", code)
				}
				s := sagaOf(t, cfg, f.primary)
				if s == nil || s.State != migrate.StateRunning || s.Step != migrate.StepTakeAddresses || !strings.Contains(s.Blocked, "503") {
					t.Fatalf("saga after the outage: %+v", s)
				}
				_, status, _ := runCLI(t, "migrate", "status", "-c", cfg)
				if !strings.Contains(status, "blocked: ") {
					t.Errorf("migrate status does not say the group is blocked:\n%s", status)
				}
				em.SetFaults(emulator.Faults{})
				code, out, errOut = runCLI(t, "migrate", "run", "-c", cfg, "--auto-approve")
				if code != 0 {
					t.Fatalf("the run after the outage: exit %d\n%s\n%s", code, out, errOut)
				}
			}
			checkCloudListIn(t, l, m.exchange(t), f, migrate.MethodRecreate)
		})
	}
}

// A sync cycle that never comes: the wait ends at its deadline with the
// group left waiting, overdue, saying what for; when the cycles come back
// the next run goes on from there and waited for one cycle.
func TestLabMigrateSyncNeverComes(t *testing.T) {
	l := labtest.Get(t)
	m := newMigrationTenant(t, l, nil)
	f := makeDLWith(t, l, m.ou, "sn", "Never synced", 3, false)
	m.sync(t)
	// The shortest wait the config takes.
	cfg := m.config(t, time.Minute, map[string]string{f.primary: "method: recreate; keep_on_premises_group: true"})
	cleanupMigration(t, l, cfg, f)
	m.loop.SetFaults(syncsim.Faults{Paused: true})
	type result struct {
		code        int
		out, errOut string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := runCLI(t, "migrate", "run", "-c", cfg, "--auto-approve")
		done <- result{code, out, errOut}
	}()
	// While the run holds the journal, status (and plan) read what it
	// last reported, and say so.
	seen := false
	for deadline := time.Now().Add(50 * time.Second); !seen && time.Now().Before(deadline); {
		code, status, errOut := runCLI(t, "migrate", "status", "-c", cfg)
		seen = code == 0 && strings.Contains(status, "waiting (step") && strings.Contains(errOut, "in use by a running migration")
		if !seen {
			sleep(t, time.Second)
		}
	}
	if !seen {
		t.Error("migrate status did not show the running migration waiting")
	}
	if code, plan, errOut := runCLI(t, "migrate", "plan", "-c", cfg); code != 0 || !strings.Contains(plan, "status:   waiting") {
		t.Errorf("migrate plan while the run waits: exit %d\n%s\n%s", code, plan, errOut)
	}
	r := <-done
	code, out, errOut := r.code, r.out, r.errOut
	if code != 2 || !strings.Contains(out+errOut, "WAITING TOO LONG") {
		t.Fatalf("migrate run with no sync cycle: exit %d\n%s\n%s", code, out, errOut)
	}
	s := sagaOf(t, cfg, f.primary)
	if s == nil || s.State != migrate.StateWaiting || s.Waiting == nil || !s.Waiting.Overdue || s.Step != migrate.StepAwaitTwinDeleted {
		t.Fatalf("saga after the deadline: %+v", s)
	}
	_, status, _ := runCLI(t, "migrate", "status", "-c", cfg)
	if !strings.Contains(status, "WAITING TOO LONG") || !strings.Contains(status, "sync cycle") {
		t.Errorf("migrate status does not say what the group waits for:\n%s", status)
	}
	// The group is still synced, and still holds its addresses: nothing
	// was lost while waiting.
	if x, err := m.exchange(t).GetRecipient(t.Context(), f.primary); err != nil || !x.IsDirSynced {
		t.Errorf("while waiting, %s is held by %+v (%v)", f.primary, x, err)
	}
	m.loop.SetFaults(syncsim.Faults{})
	code, out, errOut = runCLI(t, "migrate", "run", "-c", cfg, "--auto-approve")
	if code != 0 {
		t.Fatalf("the run once the cycles came back: exit %d\n%s\n%s", code, out, errOut)
	}
	if s := sagaOf(t, cfg, f.primary); s.Made.SyncCycles != 1 {
		t.Errorf("sync cycles waited for: %d, want 1", s.Made.SyncCycles)
	}
	checkCloudListIn(t, l, m.exchange(t), f, migrate.MethodRecreate)
}
