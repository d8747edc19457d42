package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/cloud/emulator"
	"github.com/hybridsync/hybridsync/cloud/emulator/syncsim"
)

// The lab's cloud half: the tenant emulator (cloud/emulator) served over
// HTTPS with the lab CA on the DC's loopback address, and the sync-engine
// simulator (syncsim) projecting the lab AD into it, in one background
// process (`hybridsync lab serve-emulator`) recorded in DIR/emulator.pid.

const (
	emulatorPort  = 8443
	initialDomain = "hslab.onmicrosoft.com"
)

func emulatorPidFile(dir string) string   { return filepath.Join(dir, "emulator.pid") }
func emulatorLog(dir string) string       { return filepath.Join(dir, "emulator.log") }
func clientSecretFile(dir string) string  { return filepath.Join(dir, "client.secret") }
func triggerTokenFile(dir string) string  { return filepath.Join(dir, "emulator", "trigger.token") }
func emulatorStateFile(dir string) string { return filepath.Join(dir, "emulator", "state.json") }

// EmulatorURL is the origin the emulator serves Graph, Exchange and the
// token authority on.
func (s *State) EmulatorURL() string {
	return "https://" + net.JoinHostPort(s.IP, strconv.Itoa(s.EmulatorPort))
}

// isHybridsyncExe accepts the hybridsync binary (bin/hybridsync or an
// installed one), also after it was rebuilt in place.
func isHybridsyncExe(exe string) bool {
	return strings.HasPrefix(filepath.Base(strings.TrimSuffix(exe, " (deleted)")), "hybridsync")
}

func newGUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// ensureCloudIdentity gives the lab a tenant, an app registration with a
// client secret (DIR/client.secret, 0600) and the emulator's trigger
// token, once.
func ensureCloudIdentity(s *State) error {
	if s.TenantID != "" {
		return nil
	}
	var err error
	if s.TenantID, err = newGUID(); err != nil {
		return err
	}
	if s.ClientID, err = newGUID(); err != nil {
		return err
	}
	s.InitialDomain, s.EmulatorPort = initialDomain, emulatorPort
	secret, err := genPassword()
	if err != nil {
		return err
	}
	if err := os.WriteFile(clientSecretFile(s.Dir), []byte(secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(triggerTokenFile(s.Dir)), 0o700); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	token, err := genPassword()
	if err != nil {
		return err
	}
	if err := os.WriteFile(triggerTokenFile(s.Dir), []byte(token+"\n"), 0o600); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return s.save()
}

// startEmulator starts `hybridsync lab serve-emulator` for the lab and
// waits until it answers, then runs a first sync cycle.
func startEmulator(ctx context.Context, s *State, log *slog.Logger) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("lab: find own executable: %w", err)
	}
	cmd := exec.Command(exe, "lab", "serve-emulator", "--dir", s.Dir)
	if _, err := startDaemon("emulator", cmd, emulatorLog(s.Dir), emulatorPidFile(s.Dir)); err != nil {
		return err
	}
	client, err := labHTTPClient(s)
	if err != nil {
		return err
	}
	probe := s.EmulatorURL() + "/" + s.TenantID + "/v2.0/.well-known/openid-configuration"
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, ok := daemonPid(emulatorPidFile(s.Dir), isHybridsyncExe); !ok {
			return fmt.Errorf("lab: the tenant emulator exited during start-up; see %s", emulatorLog(s.Dir))
		}
		preq, _ := http.NewRequestWithContext(ctx, http.MethodGet, probe, nil)
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := client.Do(preq.WithContext(pctx))
		pcancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab: the tenant emulator did not answer within 30s (%v); see %s", err, emulatorLog(s.Dir))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	rep, err := TriggerSync(ctx, s.Dir)
	if err != nil {
		return fmt.Errorf("lab: first sync cycle: %w", err)
	}
	log.Info("lab: tenant emulator up, first sync done", "url", s.EmulatorURL(), "created", rep.Created, "export_errors", len(rep.ExportErrors))
	return nil
}

func stopEmulator(dir string) error {
	return stopDaemon("emulator", emulatorPidFile(dir), isHybridsyncExe, 15*time.Second)
}

// labHTTPClient trusts the lab CA only.
func labHTTPClient(s *State) (*http.Client, error) {
	pem, err := os.ReadFile(filepath.Join(s.Dir, "tls", "ca.pem"))
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("lab: tls/ca.pem holds no certificate")
	}
	return &http.Client{Timeout: 10 * time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}, nil
}

// ErrSyncPaused is TriggerSync's error while the lab's simulated Entra
// Connect is paused (Faults.SyncPaused): no cycle ran.
var ErrSyncPaused = errors.New("the lab's simulated Entra Connect is paused (hybridsync lab faults --sync-paused): no sync cycle ran")

// Faults are the failures `hybridsync lab faults` injects: the tenant
// emulator's, into Graph and Exchange Online requests alike, and the
// simulated Entra Connect's. Setting them replaces all of them.
type Faults struct {
	emulator.Faults
	// SyncPaused stops every sync cycle, scheduled or triggered (a trigger
	// fails with ErrSyncPaused), until the faults are set without it: a
	// sync cycle that never comes. A cycle already running finishes.
	SyncPaused bool `json:"SyncPaused,omitempty"`
	// SyncDelay makes every sync cycle, scheduled or triggered, start this
	// late (a trigger returns when its late cycle has run).
	SyncDelay time.Duration `json:"SyncDelay,omitempty"`
}

// check reports the first value out of range.
func (f Faults) check() error {
	switch {
	case f.ThrottleRate < 0 || f.ThrottleRate > 1 || f.UnavailableRate < 0 || f.UnavailableRate > 1:
		return errors.New("the throttling and unavailability rates must be fractions between 0 and 1")
	case f.ThrottleRate+f.UnavailableRate > 1:
		return errors.New("the throttling and unavailability rates must add up to at most 1")
	case f.Latency < 0 || f.VisibilityDelay < 0 || f.RetryAfter < 0 || f.SyncDelay < 0:
		return errors.New("durations must not be negative")
	}
	return nil
}

// statusError is a control endpoint's refusal.
type statusError struct {
	path   string
	status int
	body   string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("lab: %s: HTTP %d: %s", e.path, e.status, e.body)
}

// labRequest POSTs body as JSON to a /lab/ control endpoint of the
// emulator, authenticated with the trigger token, and decodes the answer.
func labRequest(ctx context.Context, dir, path string, body, out any) error {
	s, err := LoadState(dir)
	if err != nil {
		return err
	}
	if s.TenantID == "" {
		return errors.New("lab: this lab has no tenant emulator (it predates it): run lab down and lab up")
	}
	token, err := readSecretFile(triggerTokenFile(s.Dir))
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	client, err := labHTTPClient(s)
	if err != nil {
		return err
	}
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.EmulatorURL()+path, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("lab: %s: %w", path, err)
	}
	defer client.CloseIdleConnections()
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode != http.StatusOK {
		return &statusError{path: path, status: resp.StatusCode, body: strings.TrimSpace(string(raw))}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// TriggerSync runs one sync cycle in the lab's emulator now (with
// Faults.SyncDelay, that much later) and returns its report. It returns an
// error, and no report, unless a cycle ran and applied its changes: while
// the sync is paused the error wraps ErrSyncPaused.
func TriggerSync(ctx context.Context, dir string) (syncsim.Report, error) {
	var rep syncsim.Report
	err := labRequest(ctx, dir, "/lab/sync", struct{}{}, &rep)
	var se *statusError
	if errors.As(err, &se) && se.status == http.StatusConflict {
		return syncsim.Report{}, fmt.Errorf("lab: %w", ErrSyncPaused)
	}
	if err == nil && !rep.Complete {
		return rep, fmt.Errorf("lab: the sync cycle did not complete: %s", rep.Error)
	}
	return rep, err
}

// SetFaults replaces the faults the lab injects and returns those now in
// effect (defaults filled in).
func SetFaults(ctx context.Context, dir string, f Faults) (Faults, error) {
	if err := f.check(); err != nil {
		return Faults{}, fmt.Errorf("lab: %w", err)
	}
	var got Faults
	err := labRequest(ctx, dir, "/lab/faults", f, &got)
	return got, err
}

// Stats returns what the lab's emulator served since it started or since
// the last Stats with reset, and zeroes the counters when reset is set.
func Stats(ctx context.Context, dir string, reset bool) (emulator.Stats, error) {
	var st emulator.Stats
	err := labRequest(ctx, dir, "/lab/stats", map[string]bool{"reset": reset}, &st)
	return st, err
}

// ServeEmulator runs the lab's tenant emulator and sync simulator until ctx
// ends: `hybridsync lab serve-emulator`. interval is the sync cycle
// (Entra Connect's is 30 minutes; the lab's default is short).
func ServeEmulator(ctx context.Context, dir string, interval time.Duration, log *slog.Logger) error {
	s, err := LoadState(dir)
	if err != nil {
		return err
	}
	if s.TenantID == "" || s.Manifest == nil {
		return errors.New("lab: no finished lab with a tenant in " + dir)
	}
	secret, err := readSecretFile(clientSecretFile(s.Dir))
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	token, err := readSecretFile(triggerTokenFile(s.Dir))
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	// The lab's tenant holds thousands of objects (megabytes of state): it
	// is saved every second, and when the emulator stops (lab down sends
	// SIGTERM), rather than after each change, so that a list's thousands
	// of member writes measure the client and not the emulator's rewrites
	// of the whole state (each fsync'd, one at a time).
	const saveEvery = time.Second
	em, err := emulator.New(emulator.Config{
		TenantID: s.TenantID, ClientID: s.ClientID, ClientSecret: secret,
		InitialDomain: s.InitialDomain, AcceptedDomains: []string{s.MailDomain},
		StateFile: emulatorStateFile(s.Dir), SaveEvery: saveEvery, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("lab: emulator: %w", err)
	}
	defer func() {
		if err := em.Flush(); err != nil {
			log.Error("lab: saving the emulator's state at exit failed", "error", err)
		}
	}()
	// Everything that can fail at start-up comes before the sync loop, so
	// a bad certificate or a busy port ends the process with its error.
	cert, err := tls.LoadX509KeyPair(filepath.Join(s.Dir, "tls", "server.pem"), filepath.Join(s.Dir, "tls", "server.key"))
	if err != nil {
		return fmt.Errorf("lab: emulator certificate: %w", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(s.IP, strconv.Itoa(s.EmulatorPort)))
	if err != nil {
		return fmt.Errorf("lab: emulator: %w", err)
	}
	adc, err := adldap.Dial(ctx, s.ADConfig())
	if err != nil {
		ln.Close()
		return fmt.Errorf("lab: emulator: %w", err)
	}
	defer adc.Close()
	ctx, cancel := context.WithCancel(ctx)
	loop := syncsim.NewLoop(adc, em, syncsim.Config{
		Scope: syncScope(s.Manifest), Exclude: []string{s.Manifest.NoSyncOU},
		LicenseGroupDN: s.Manifest.LicenseGroup, SourceAnchor: s.SourceAnchor, Logger: log,
	}, interval)
	loop.Start(ctx)
	defer loop.Wait()
	defer cancel()

	mux := controlMux(em, loop, token, log)
	mux.Handle("/", em.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	log.Info("lab: tenant emulator serving", "url", s.EmulatorURL(), "sync_interval", interval.String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shut)
	}
}

// syncScope is the OUs the lab's simulated Entra Connect synchronises.
func syncScope(m *Manifest) []string {
	if m.SyncTestsOU == "" { // labs made before the Sync Tests OU existed
		return []string{m.SyncOU}
	}
	return []string{m.SyncOU, m.SyncTestsOU}
}

// controlMux serves the lab's control endpoints, authenticated with the
// trigger token: POST /lab/sync (one cycle now: 200 and its report, 409
// while the sync is paused, 500 when the cycle failed) and POST
// /lab/faults (replace the faults; 200 and those in effect, 400 for bad
// values).
func controlMux(em *emulator.Emulator, loop *syncsim.Loop, token string, log *slog.Logger) *http.ServeMux {
	want := []byte("Bearer " + token)
	authorized := func(r *http.Request) bool {
		return subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) == 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /lab/sync", func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		rep, err := loop.Trigger(r.Context())
		w.Header().Set("Content-Type", "application/json")
		switch {
		case errors.Is(err, syncsim.ErrPaused):
			w.WriteHeader(http.StatusConflict)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": err.Error()})
			return
		case err != nil:
			w.WriteHeader(http.StatusInternalServerError)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": err.Error(), "report": rep})
			return
		}
		_ = json.NewEncoder(w).Encode(rep)
	})
	mux.HandleFunc("POST /lab/stats", func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		var req struct {
			Reset bool `json:"reset"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<10)).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		st := em.Stats()
		if req.Reset {
			em.ResetStats()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	})
	mux.HandleFunc("POST /lab/faults", func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		var f Faults
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&f); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := f.check(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		em.SetFaults(f.Faults)
		loop.SetFaults(syncsim.Faults{Paused: f.SyncPaused, Delay: f.SyncDelay})
		log.Info("lab: faults set", "throttle", f.ThrottleRate, "unavailable", f.UnavailableRate, "latency", f.Latency,
			"visibility_delay", f.VisibilityDelay, "sync_paused", f.SyncPaused, "sync_delay", f.SyncDelay)
		sf := loop.Faults()
		_ = json.NewEncoder(w).Encode(Faults{Faults: em.Faults(), SyncPaused: sf.Paused, SyncDelay: sf.Delay})
	})
	return mux
}
