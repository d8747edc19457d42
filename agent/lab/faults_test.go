package lab

import (
	"context"
	"encoding/pem"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/cloud/emulator"
	"github.com/hybridsync/hybridsync/cloud/emulator/syncsim"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// emptyAD is an AD with nothing in the sync scope.
type emptyAD struct{}

func (emptyAD) StreamSyncCandidates(context.Context, string, func(*ad.Recipient) error) (adldap.ReadResult, error) {
	return adldap.ReadResult{Complete: true, Pages: 1}, nil
}
func (emptyAD) ReadRecipient(_ context.Context, dn string) (*ad.Recipient, error) {
	return nil, retry.New("emptyAD", retry.NotFound, errors.New(dn+" not found"))
}
func (emptyAD) Modify(context.Context, string, ...ad.Change) error { return nil }

// controlLab serves the control endpoints of an emulator with an empty AD
// over TLS, and writes a lab directory pointing at them, so that the
// commands' own client (TriggerSync, SetFaults) is what the test drives.
func controlLab(t *testing.T) (dir string, em *emulator.Emulator, loop *syncsim.Loop) {
	t.Helper()
	em, err := emulator.New(emulator.Config{TenantID: "6f2e3a44-5b1c-4d8e-9a7f-0c1d2e3f4a5b", ClientID: "0b9c8d7e-6f5a-4b3c-8d2e-1f0a9b8c7d6e",
		ClientSecret: "s", InitialDomain: initialDomain})
	if err != nil {
		t.Fatal(err)
	}
	loop = syncsim.NewLoop(emptyAD{}, em, syncsim.Config{Scope: []string{"OU=Sync,DC=lab,DC=test"}}, time.Hour)
	const token = "trigger-token"
	srv := httptest.NewTLSServer(controlMux(em, loop, token, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	host, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	dir = t.TempDir()
	st := &State{Dir: dir, IP: host, TenantID: em.TenantID(), EmulatorPort: p}
	if err := st.save(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(dir, "tls", "ca.pem"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(triggerTokenFile(dir)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(triggerTokenFile(dir), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, em, loop
}

func TestFaultsPauseAndDelayTheSync(t *testing.T) {
	dir, em, loop := controlLab(t)
	ctx := context.Background()
	if rep, err := TriggerSync(ctx, dir); err != nil || !rep.Complete {
		t.Fatalf("TriggerSync = %+v, %v", rep, err)
	}

	got, err := SetFaults(ctx, dir, Faults{Faults: emulator.Faults{ThrottleRate: 0.5, Latency: time.Millisecond}, SyncPaused: true})
	if err != nil {
		t.Fatal(err)
	}
	if !got.SyncPaused || got.ThrottleRate != 0.5 || got.RetryAfter != time.Second || !loop.Faults().Paused || em.Faults().ThrottleRate != 0.5 {
		t.Errorf("faults in effect %+v, loop %+v, emulator %+v", got, loop.Faults(), em.Faults())
	}
	rep, err := TriggerSync(ctx, dir)
	if !errors.Is(err, ErrSyncPaused) || rep.Complete {
		t.Fatalf("TriggerSync while paused = %+v, %v; want ErrSyncPaused", rep, err)
	}
	if last, _ := loop.Last(); last.Started.IsZero() {
		t.Fatal("no cycle before the pause")
	}

	const delay = 300 * time.Millisecond
	if _, err := SetFaults(ctx, dir, Faults{SyncDelay: delay}); err != nil {
		t.Fatal(err)
	}
	if em.Faults().ThrottleRate != 0 || loop.Faults().Paused {
		t.Errorf("setting faults did not replace them all: emulator %+v, loop %+v", em.Faults(), loop.Faults())
	}
	start := time.Now()
	if rep, err := TriggerSync(ctx, dir); err != nil || !rep.Complete || time.Since(start) < delay {
		t.Errorf("delayed TriggerSync = %+v, %v after %s", rep, err, time.Since(start))
	}

	for _, bad := range []Faults{
		{Faults: emulator.Faults{ThrottleRate: 1.5}},
		{Faults: emulator.Faults{ThrottleRate: 0.6, UnavailableRate: 0.6}},
		{SyncDelay: -time.Second},
	} {
		if _, err := SetFaults(ctx, dir, bad); err == nil {
			t.Errorf("SetFaults(%+v) accepted", bad)
		}
	}
	// Refused by the server too, and without the token.
	st, _ := LoadState(dir)
	client, err := labHTTPClient(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, auth, body string
		want             int
	}{
		{"/lab/faults", "Bearer trigger-token", `{"ThrottleRate":2}`, http.StatusBadRequest},
		{"/lab/faults", "Bearer wrong", `{}`, http.StatusUnauthorized},
		{"/lab/sync", "", `{}`, http.StatusUnauthorized},
	} {
		req, _ := http.NewRequest(http.MethodPost, st.EmulatorURL()+tc.path, strings.NewReader(tc.body))
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s with %q: HTTP %d, want %d", tc.path, tc.auth, resp.StatusCode, tc.want)
		}
	}
}
