package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/hybridsync/hybridsync/internal/retry"
)

func TestKnownClouds(t *testing.T) {
	for c, want := range map[Cloud][3]string{
		Global:    {"https://login.microsoftonline.com/", "https://graph.microsoft.com/.default", "https://outlook.office365.com/.default"},
		USGovHigh: {"https://login.microsoftonline.us/", "https://graph.microsoft.us/.default", "https://outlook.office365.us/.default"},
		USGovDoD:  {"https://login.microsoftonline.us/", "https://dod-graph.microsoft.us/.default", "https://webmail.apps.mil/.default"},
		China:     {"https://login.chinacloudapi.cn/", "https://microsoftgraph.chinacloudapi.cn/.default", "https://partner.outlook.cn/.default"},
	} {
		ep, err := Known(c)
		if err != nil {
			t.Fatal(err)
		}
		if got := [3]string{ep.Authority, ep.GraphScope(), ep.ExchangeScope()}; got != want {
			t.Errorf("%s: %v, want %v", c, got, want)
		}
	}
	if _, err := Known("mars"); err == nil {
		t.Fatal("unknown cloud accepted")
	}
}

func secret(s string) func() (string, error) { return func() (string, error) { return s, nil } }

func TestNewSessionRules(t *testing.T) {
	base := Config{TenantID: "t", ClientID: "c", ClientSecret: secret("s")}
	for name, tc := range map[string]struct {
		mut  func(*Config)
		want string
	}{
		"no tenant":        {func(c *Config) { c.TenantID = "" }, "tenant id and client id are required"},
		"no credential":    {func(c *Config) { c.ClientSecret = nil }, "no credential"},
		"both credentials": {func(c *Config) { c.Certificate = func() ([]byte, error) { return nil, nil } }, "not both"},
		"unknown cloud":    {func(c *Config) { c.Cloud = "mars" }, "unknown national cloud"},
		"unreadable secret": {func(c *Config) {
			c.ClientSecret = func() (string, error) { return "", errors.New("env HYBRIDSYNC_SECRET is not set") }
		}, "HYBRIDSYNC_SECRET"},
		"bad certificate": {func(c *Config) {
			c.ClientSecret = nil
			c.Certificate = func() ([]byte, error) { return []byte("not a certificate"), nil }
		}, "parse client certificate"},
		"missing CA file": {func(c *Config) { c.CAFile = "/nonexistent/ca.pem" }, "read CA file"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := base
			tc.mut(&cfg)
			_, err := NewSession(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, retry.ErrTerminal) {
				t.Fatalf("err = %v, want a terminal error containing %q", err, tc.want)
			}
		})
	}
}

func TestOverridesKeepAudiences(t *testing.T) {
	s, err := NewSession(Config{TenantID: "t", ClientID: "c", ClientSecret: secret("s"), Cloud: USGovHigh,
		Override: Endpoints{Authority: "https://127.0.0.1:8443", Graph: "https://127.0.0.1:8443", Exchange: "https://127.0.0.1:8443"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Endpoints.Graph != "https://127.0.0.1:8443" || s.Endpoints.Authority != "https://127.0.0.1:8443/" {
		t.Fatalf("endpoints %+v", s.Endpoints)
	}
	// Tokens are still asked for the cloud's real audiences.
	if s.Scopes.GraphScope() != "https://graph.microsoft.us/.default" || s.Scopes.ExchangeScope() != "https://outlook.office365.us/.default" {
		t.Fatalf("scopes %+v", s.Scopes)
	}
}

// A PFX as OpenSSL 3 and current Windows write them (AES-256, SHA-256
// MAC), which golang.org/x/crypto/pkcs12 cannot read.
func TestModernPFXCertificate(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "hybridsync app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pfx, err := pkcs12.Modern.Encode(key, cert, nil, "pfx-Pa55")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{TenantID: "t", ClientID: "c", Certificate: func() ([]byte, error) { return pfx, nil }, CertificatePassword: secret("pfx-Pa55")}
	if _, err := NewSession(cfg); err != nil {
		t.Fatalf("modern PFX with its password: %v", err)
	}
	cfg.CertificatePassword = secret("wrong")
	if _, err := NewSession(cfg); err == nil || !strings.Contains(err.Error(), "PKCS#12") {
		t.Fatalf("wrong PFX password: %v", err)
	}
}
