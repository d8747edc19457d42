// Package auth turns hybridsync's cloud settings into Microsoft Entra
// credentials (azidentity) and the endpoints of the national cloud the
// tenant lives in: Graph, Exchange Online and the token authority.
//
// Refs: https://learn.microsoft.com/graph/deployments (Graph national cloud
// endpoints) and https://learn.microsoft.com/powershell/exchange/connect-to-exo-powershell
// (ExchangeEnvironmentName endpoints).
package auth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azcloud "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/hybridsync/hybridsync/internal/retry"
)

// Cloud names a national cloud.
type Cloud string

const (
	Global    Cloud = "global"
	USGovHigh Cloud = "usgovhigh" // GCC High
	USGovDoD  Cloud = "usgovdod"  // DoD
	China     Cloud = "china"     // operated by 21Vianet
)

// Endpoints are the base URLs of one cloud. Graph and Exchange are
// origins (scheme://host[:port]) without a path.
type Endpoints struct {
	Authority string // e.g. https://login.microsoftonline.com/
	Graph     string // e.g. https://graph.microsoft.com
	Exchange  string // e.g. https://outlook.office365.com
}

// GraphScope is the client-credentials scope for Graph.
func (e Endpoints) GraphScope() string { return strings.TrimRight(e.Graph, "/") + "/.default" }

// ExchangeScope is the client-credentials scope for the Exchange admin API.
// The audience is always the cloud's public Exchange host, also when
// Exchange is reached at another address (a lab).
func (e Endpoints) ExchangeScope() string { return strings.TrimRight(e.Exchange, "/") + "/.default" }

// Known returns the endpoints of a national cloud.
func Known(c Cloud) (Endpoints, error) {
	switch c {
	case Global, "":
		return Endpoints{"https://login.microsoftonline.com/", "https://graph.microsoft.com", "https://outlook.office365.com"}, nil
	case USGovHigh:
		return Endpoints{"https://login.microsoftonline.us/", "https://graph.microsoft.us", "https://outlook.office365.us"}, nil
	case USGovDoD:
		return Endpoints{"https://login.microsoftonline.us/", "https://dod-graph.microsoft.us", "https://webmail.apps.mil"}, nil
	case China:
		return Endpoints{"https://login.chinacloudapi.cn/", "https://microsoftgraph.chinacloudapi.cn", "https://partner.outlook.cn"}, nil
	}
	return Endpoints{}, fmt.Errorf("unknown national cloud %q (want global, usgovhigh, usgovdod or china)", c)
}

// Config holds what a credential needs. Secrets come as functions so they
// are read (from env or file) only when the credential is built.
type Config struct {
	TenantID string
	ClientID string
	Cloud    Cloud
	// Override, when its fields are set, replaces Known(Cloud)'s endpoints
	// (the lab's tenant emulator). Scopes keep the cloud's audiences
	// unless OverrideScopes is set.
	Override       Endpoints
	OverrideScopes bool
	// CAFile trusts an extra CA (the lab's) besides the system roots.
	CAFile string

	// Exactly one of ClientSecret and Certificate is set.
	ClientSecret func() (string, error)
	// Certificate returns a PEM (certificate and private key) or PKCS#12
	// (.pfx) file's bytes; CertificatePassword the PFX password, if any.
	Certificate         func() ([]byte, error)
	CertificatePassword func() (string, error)

	Timeout time.Duration // per HTTP request; default 60s
}

// Session is an authenticated view of one tenant: its endpoints, an HTTP
// client that trusts the configured CAs, and token sources per audience.
type Session struct {
	Endpoints  Endpoints
	Scopes     Endpoints // audiences (Graph and Exchange scopes derive from these)
	TenantID   string
	HTTPClient *http.Client
	Credential azcore.TokenCredential
}

// NewSession builds the credential. It does not contact the authority;
// use Session.Token to check the credential works.
func NewSession(cfg Config) (*Session, error) {
	const op = "auth.NewSession"
	fail := func(err error) (*Session, error) { return nil, retry.New(op, retry.Terminal, err) }
	if cfg.TenantID == "" || cfg.ClientID == "" {
		return fail(errors.New("tenant id and client id are required"))
	}
	known, err := Known(cfg.Cloud)
	if err != nil {
		return fail(err)
	}
	ep := known
	if cfg.Override.Authority != "" {
		ep.Authority = cfg.Override.Authority
	}
	if cfg.Override.Graph != "" {
		ep.Graph = cfg.Override.Graph
	}
	if cfg.Override.Exchange != "" {
		ep.Exchange = cfg.Override.Exchange
	}
	scopes := known
	if cfg.OverrideScopes {
		scopes = ep
	}
	if !strings.HasSuffix(ep.Authority, "/") {
		ep.Authority += "/"
	}
	hc, err := httpClient(cfg.CAFile, cfg.Timeout)
	if err != nil {
		return fail(err)
	}
	opts := azcore.ClientOptions{
		Cloud:     azcloud.Configuration{ActiveDirectoryAuthorityHost: ep.Authority},
		Transport: hc,
		Retry:     policy.RetryOptions{MaxRetries: 3, MaxRetryDelay: 30 * time.Second},
	}
	// Instance discovery asks login.microsoftonline.com whether the
	// authority is known; it is only disabled for an overridden authority.
	disableDiscovery := cfg.Override.Authority != ""
	var cred azcore.TokenCredential
	switch {
	case cfg.ClientSecret != nil && cfg.Certificate != nil:
		return fail(errors.New("set a client secret or a certificate, not both"))
	case cfg.ClientSecret != nil:
		secret, err := cfg.ClientSecret()
		if err != nil {
			return fail(fmt.Errorf("read client secret: %w", err))
		}
		cred, err = azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, secret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: disableDiscovery})
		if err != nil {
			return fail(fmt.Errorf("client secret credential: %w", err))
		}
	case cfg.Certificate != nil:
		data, err := cfg.Certificate()
		if err != nil {
			return fail(fmt.Errorf("read client certificate: %w", err))
		}
		var pw []byte
		if cfg.CertificatePassword != nil {
			p, err := cfg.CertificatePassword()
			if err != nil {
				return fail(fmt.Errorf("read certificate password: %w", err))
			}
			pw = []byte(p)
		}
		certs, key, err := parseCertificate(data, pw)
		if err != nil {
			return fail(fmt.Errorf("parse client certificate (PEM with key, or PFX): %w", err))
		}
		cred, err = azidentity.NewClientCertificateCredential(cfg.TenantID, cfg.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: disableDiscovery})
		if err != nil {
			return fail(fmt.Errorf("client certificate credential: %w", err))
		}
	default:
		return fail(errors.New("no credential: set a client secret or a certificate"))
	}
	return &Session{Endpoints: ep, Scopes: scopes, TenantID: cfg.TenantID, HTTPClient: hc, Credential: cred}, nil
}

// Token returns a bearer token for scope. Authority errors (AADSTS...) are
// terminal: a wrong secret does not heal by retrying.
func (s *Session) Token(ctx context.Context, scope string) (string, error) {
	tok, err := s.Credential.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		class := retry.Terminal
		var authErr *azidentity.AuthenticationFailedError
		if errors.As(err, &authErr) && authErr.RawResponse != nil && authErr.RawResponse.StatusCode >= 500 {
			class = retry.Retryable
		}
		return "", retry.New("auth.Token", class, fmt.Errorf("get token for %s: %w", scope, err))
	}
	return tok.Token, nil
}

// httpClient returns a client trusting the system roots plus caFile.
func httpClient(caFile string, timeout time.Duration) (*http.Client, error) {
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	// Keep a connection per concurrent call (the Exchange client runs up
	// to 64 member calls at once) instead of the default 2, which would
	// open a new TLS connection for most calls.
	tr.MaxIdleConnsPerHost = 64
	if caFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// parseCertificate reads a PEM bundle (certificate and private key) or a
// PKCS#12 file. azidentity.ParseCertificates reads PKCS#12 with
// golang.org/x/crypto/pkcs12, which rejects files made by OpenSSL 3 and
// current Windows exports (AES, SHA-256 MAC); go-pkcs12 reads those too, so
// PFX files are decoded with it and PEM with azidentity.
func parseCertificate(data, password []byte) ([]*x509.Certificate, crypto.PrivateKey, error) {
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return azidentity.ParseCertificates(data, password)
	}
	key, leaf, chain, err := pkcs12.DecodeChain(data, string(password))
	if err != nil {
		return nil, nil, fmt.Errorf("PKCS#12: %w", err)
	}
	return append([]*x509.Certificate{leaf}, chain...), key, nil
}
