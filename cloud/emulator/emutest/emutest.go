// Package emutest serves a tenant emulator over TLS for tests of the real
// cloud clients (msgraph-sdk-go, azidentity, the Exchange client) and
// builds authenticated sessions against it.
package emutest

import (
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/hybridsync/hybridsync/cloud/auth"
	"github.com/hybridsync/hybridsync/cloud/emulator"
)

// The test tenant's identity.
const (
	TenantID      = "6f2e3a44-5b1c-4d8e-9a7f-0c1d2e3f4a5b"
	ClientID      = "0b9c8d7e-6f5a-4b3c-8d2e-1f0a9b8c7d6e"
	Secret        = "emulator-secret-Value~1"
	InitialDomain = "hstest.onmicrosoft.com"
	MailDomain    = "hybridsync.test"
)

// Server is an emulator served over TLS for one test.
type Server struct {
	Emulator *emulator.Emulator
	URL      string
	// CAFile holds the server's certificate, for auth.Config.CAFile.
	CAFile string
}

// Start serves a new emulator (the test tenant, MailDomain accepted) until
// the test ends. configure, when given, adjusts the emulator config.
func Start(t testing.TB, configure func(*emulator.Config)) *Server {
	t.Helper()
	cfg := emulator.Config{TenantID: TenantID, ClientID: ClientID, ClientSecret: Secret,
		InitialDomain: InitialDomain, AcceptedDomains: []string{MailDomain}}
	if configure != nil {
		configure(&cfg)
	}
	em, err := emulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return Serve(t, em)
}

// Serve serves em over TLS until the test ends; an emulator may be served
// by several servers at once.
func Serve(t testing.TB, em *emulator.Emulator) *Server {
	t.Helper()
	srv := httptest.NewTLSServer(em.Handler())
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &Server{Emulator: em, URL: srv.URL, CAFile: ca}
}

// Session authenticates against the emulator with a client secret
// (secret != nil) or a certificate (cert != nil), as the product does.
func (s *Server) Session(t testing.TB, secret func() (string, error), cert func() ([]byte, error)) *auth.Session {
	t.Helper()
	sess, err := auth.NewSession(auth.Config{
		TenantID: TenantID, ClientID: ClientID, Cloud: auth.Global,
		Override: auth.Endpoints{Authority: s.URL + "/", Graph: s.URL, Exchange: s.URL},
		CAFile:   s.CAFile, ClientSecret: secret, Certificate: cert,
	})
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

// SecretFunc returns the test app's client secret.
func SecretFunc() (string, error) { return Secret, nil }
