package adldap_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/agent/lab"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/internal/retry"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// noRetry keeps failure tests fast and proves terminal errors are not retried.
func noRetry(cfg adldap.Config) adldap.Config {
	p := retry.DefaultPolicy()
	p.MaxAttempts = 2
	p.Initial = 10 * time.Millisecond
	cfg.Retry = &p
	return cfg
}

func TestLabDialLDAPS(t *testing.T) {
	l := labtest.Get(t)
	c := l.Client(t)
	if got, want := c.ServerURL(), l.Env[lab.EnvLDAPURL]; got != want {
		t.Fatalf("ServerURL = %q, want %q", got, want)
	}
	w, err := c.ReadWatermark(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if w.USN <= 0 || w.InvocationID == "" || !strings.Contains(w.Server, "NTDS Settings") {
		t.Fatalf("watermark %+v", w)
	}
}

func TestLabDialStartTLS(t *testing.T) {
	l := labtest.Get(t)
	cfg := l.ADConfig()
	cfg.URLs = []string{l.Env[lab.EnvStartTLSURL]}
	cfg.StartTLS = true
	c := l.ClientWith(t, cfg)
	if _, err := c.ReadRecipient(ctxT(t), l.Manifest.BigDL); err != nil {
		t.Fatal(err)
	}
}

func TestLabPlaintextSimpleBindRefused(t *testing.T) {
	l := labtest.Get(t)
	cfg := noRetry(l.ADConfig())
	cfg.URLs = []string{l.Env[lab.EnvStartTLSURL]}
	cfg.StartTLS = false
	_, err := adldap.Dial(ctxT(t), cfg)
	if err == nil || !strings.Contains(err.Error(), "clear text") || retry.ClassOf(err) != retry.Terminal {
		t.Fatalf("plaintext bind without explicit permission: err = %v (class %v); want a terminal clear-text refusal", err, retry.ClassOf(err))
	}
	// Explicitly allowed, the client sends it, and the hardened DC refuses
	// (strongAuthRequired), as AD with LDAP signing required does.
	cfg.AllowPlaintext = true
	_, err = adldap.Dial(ctxT(t), cfg)
	if err == nil || retry.ClassOf(err) != retry.Terminal || adldap.ResultCode(err) != 8 {
		t.Fatalf("allowed plaintext bind: err = %v (code %d); want strongAuthRequired (8), terminal", err, adldap.ResultCode(err))
	}
}

func TestLabWrongPassword(t *testing.T) {
	l := labtest.Get(t)
	cfg := noRetry(l.ADConfig())
	cfg.Password = func() (string, error) { return "not-the-password-1A!", nil }
	start := time.Now()
	_, err := adldap.Dial(ctxT(t), cfg)
	if err == nil {
		t.Fatal("bind with a wrong password succeeded")
	}
	if retry.ClassOf(err) != retry.Terminal || !strings.Contains(err.Error(), "invalid credentials") {
		t.Fatalf("err = %v (class %v); want terminal invalid credentials", err, retry.ClassOf(err))
	}
	if strings.Contains(err.Error(), "not-the-password") {
		t.Fatal("error message contains the password")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("wrong password took %s: terminal errors must not be retried", d)
	}
}

func TestLabEmptyPasswordRefused(t *testing.T) {
	l := labtest.Get(t)
	cfg := noRetry(l.ADConfig())
	cfg.Password = func() (string, error) { return "", nil }
	_, err := adldap.Dial(ctxT(t), cfg)
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty password: err = %v; want a refusal (an empty simple bind is anonymous)", err)
	}
}

func TestLabWrongCA(t *testing.T) {
	l := labtest.Get(t)
	for _, tc := range []struct {
		name string
		url  string
		tls  bool
	}{
		{"ldaps", l.Env[lab.EnvLDAPURL], false},
		{"starttls", l.Env[lab.EnvStartTLSURL], true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := noRetry(l.ADConfig())
			cfg.URLs, cfg.StartTLS = []string{tc.url}, tc.tls
			cfg.CAFile = labtest.OtherCA(t)
			start := time.Now()
			_, err := adldap.Dial(ctxT(t), cfg)
			if err == nil {
				t.Fatal("connected to a DC whose certificate does not chain to the configured CA")
			}
			if retry.ClassOf(err) != retry.Terminal || !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("err = %v (class %v); want a terminal certificate error", err, retry.ClassOf(err))
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("took %s: certificate errors must not be retried", d)
			}
		})
	}
}

func TestLabWrongServerName(t *testing.T) {
	l := labtest.Get(t)
	cfg := noRetry(l.ADConfig())
	cfg.ServerName = "dc9.evil.example"
	_, err := adldap.Dial(ctxT(t), cfg)
	if err == nil || !strings.Contains(err.Error(), "dc9.evil.example") {
		t.Fatalf("err = %v; want a certificate name mismatch naming the expected host", err)
	}
}

func TestLabFailover(t *testing.T) {
	l := labtest.Get(t)
	cfg := noRetry(l.ADConfig())
	// Nothing listens on port 1: the first DC is down.
	cfg.URLs = []string{"ldaps://127.0.0.1:1", l.Env[lab.EnvLDAPURL]}
	c := l.ClientWith(t, cfg)
	if got := c.ServerURL(); got != l.Env[lab.EnvLDAPURL] {
		t.Fatalf("connected to %q, want the second DC %q", got, l.Env[lab.EnvLDAPURL])
	}
	// Every DC down: one error naming each, retryable (they may come back).
	cfg.URLs = []string{"ldaps://127.0.0.1:1", "ldaps://127.0.0.1:2"}
	_, err := adldap.Dial(ctxT(t), cfg)
	if err == nil || retry.ClassOf(err) != retry.Retryable {
		t.Fatalf("err = %v; want retryable", err)
	}
	for _, want := range []string{"no domain controller reachable", "127.0.0.1:1", "127.0.0.1:2", "gave up after 2 attempts"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestLabKerberosBind(t *testing.T) {
	l := labtest.Get(t)
	cfg := noRetry(l.ADConfig())
	cfg.Method = adldap.BindKerberos
	cfg.BindDN, cfg.Password = "", nil
	cfg.Principal = l.Env[lab.EnvKrbPrincipal]
	cfg.Realm = l.Env[lab.EnvRealm]
	cfg.Keytab = l.Env[lab.EnvKeytab]
	cfg.Krb5Conf = l.Env[lab.EnvKrb5Conf]
	// SPN derived from ServerName: ldap/<dc fqdn>.
	c := l.ClientWith(t, cfg)
	r, err := c.ReadRecipient(ctxT(t), l.Manifest.RestrictedDL)
	if err != nil {
		t.Fatalf("read after Kerberos bind: %v", err)
	}
	if r.Kind != ad.KindGroup {
		t.Fatalf("kind %q", r.Kind)
	}

	t.Run("wrong principal", func(t *testing.T) {
		bad := cfg
		bad.Principal = "nobody-here"
		_, err := adldap.Dial(ctxT(t), bad)
		if err == nil || retry.ClassOf(err) != retry.Terminal {
			t.Fatalf("err = %v (class %v); want terminal", err, retry.ClassOf(err))
		}
	})
	t.Run("missing keytab", func(t *testing.T) {
		bad := cfg
		bad.Keytab = filepath.Join(t.TempDir(), "none.keytab")
		_, err := adldap.Dial(ctxT(t), bad)
		if err == nil || !strings.Contains(err.Error(), "none.keytab") {
			t.Fatalf("err = %v; want it to name the keytab", err)
		}
	})
}

func TestLabContextCancelledBeforeDial(t *testing.T) {
	l := labtest.Get(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := adldap.Dial(ctx, l.ADConfig())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v; want context.Canceled", err)
	}
}
