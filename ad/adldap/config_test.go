package adldap

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/internal/retry"
)

func staticPassword() (string, error) { return "secret", nil }

func validSimple() Config {
	return Config{
		URLs:     []string{"ldaps://dc1.example.com"},
		BaseDN:   "DC=example,DC=com",
		Method:   BindSimple,
		BindDN:   "CN=svc,OU=Service,DC=example,DC=com",
		Password: staticPassword,
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	c := Config{
		URLs:     []string{"http://dc1.example.com", "ldap://dc2.example.com", "not a url", "ldaps://"},
		BaseDN:   "garbage",
		Method:   BindSimple,
		BindDN:   "",
		Password: nil,
	}
	err := c.validate()
	if err == nil {
		t.Fatal("validate() = nil, want an error")
	}
	if retry.ClassOf(err) != retry.Terminal {
		t.Errorf("class = %v, want terminal", retry.ClassOf(err))
	}
	msg := err.Error()
	for _, want := range []string{
		`"http://dc1.example.com" has scheme "http"`,
		`"ldap://dc2.example.com" would send the bind password in clear text`,
		`"not a url" is not ldaps://host[:port]`,
		`"ldaps://" is not ldaps://host[:port]`,
		`base DN "garbage"`,
		"simple bind needs a bind DN",
		"simple bind needs a password source",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("validate() error does not mention %q:\n%s", want, msg)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(*Config)
		wantErr []string // empty: valid
	}{
		{"ldaps simple", func(*Config) {}, nil},
		{"several DCs", func(c *Config) { c.URLs = []string{"ldaps://dc1.example.com:636", "LDAPS://DC2.example.com"} }, nil},
		{"ldap with StartTLS", func(c *Config) { c.URLs = []string{"ldap://dc1.example.com:389"}; c.StartTLS = true }, nil},
		{"ldap plaintext allowed", func(c *Config) { c.URLs = []string{"ldap://dc1.example.com"}; c.AllowPlaintext = true }, nil},
		{"empty base DN allowed", func(c *Config) { c.BaseDN = "" }, nil},
		{"ldap plaintext refused", func(c *Config) { c.URLs = []string{"ldap://dc1.example.com"} }, []string{"clear text"}},
		{"no URLs", func(c *Config) { c.URLs = nil }, []string{"no domain controller URL given"}},
		{"bad scheme", func(c *Config) { c.URLs = []string{"https://dc1.example.com"} }, []string{`scheme "https"; want ldaps or ldap`}},
		{"unknown method", func(c *Config) { c.Method = "ntlm" }, []string{`unknown bind method "ntlm"`}},
		{"kerberos missing everything", func(c *Config) { c.Method = BindKerberos }, []string{
			"kerberos bind needs a principal", "kerberos bind needs a realm",
			"kerberos bind needs a keytab", "kerberos bind needs a krb5.conf",
		}},
		{"kerberos missing keytab", func(c *Config) {
			c.Method = BindKerberos
			c.Principal, c.Realm, c.Krb5Conf = "svc", "EXAMPLE.COM", "/etc/krb5.conf"
		}, []string{"kerberos bind needs a keytab"}},
		{"kerberos over ldaps", func(c *Config) {
			c.Method = BindKerberos
			c.Principal, c.Realm, c.Keytab, c.Krb5Conf = "svc", "EXAMPLE.COM", "/etc/svc.keytab", "/etc/krb5.conf"
			c.BindDN, c.Password = "", nil
		}, nil},
		{"kerberos over ldap with StartTLS", func(c *Config) {
			c.Method = BindKerberos
			c.URLs, c.StartTLS = []string{"ldap://dc1.example.com"}, true
			c.Principal, c.Realm, c.Keytab, c.Krb5Conf = "svc", "EXAMPLE.COM", "/etc/svc.keytab", "/etc/krb5.conf"
			c.BindDN, c.Password = "", nil
		}, nil},
		{"kerberos over ldap plaintext allowed", func(c *Config) {
			c.Method = BindKerberos
			c.URLs, c.AllowPlaintext = []string{"ldap://dc1.example.com"}, true
			c.Principal, c.Realm, c.Keytab, c.Krb5Conf = "svc", "EXAMPLE.COM", "/etc/svc.keytab", "/etc/krb5.conf"
			c.BindDN, c.Password = "", nil
		}, nil},
		// The GSSAPI bind runs without a SASL security layer ("integrity
		// and privacy come from TLS"), and Config.URLs documents ldap:// as
		// "StartTLS unless AllowPlaintext and StartTLS is false": an
		// ldap:// URL without StartTLS or AllowPlaintext would leave the
		// whole session unencrypted and unsigned, so it must be refused
		// whatever the bind method (agent/config refuses it too).
		{"kerberos over ldap without StartTLS refused", func(c *Config) {
			c.Method = BindKerberos
			c.URLs = []string{"ldap://dc1.example.com"}
			c.Principal, c.Realm, c.Keytab, c.Krb5Conf = "svc", "EXAMPLE.COM", "/etc/svc.keytab", "/etc/krb5.conf"
			c.BindDN, c.Password = "", nil
		}, []string{`"ldap://dc1.example.com"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validSimple()
			tc.mutate(&c)
			err := c.validate()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("validate() = nil, want an error mentioning %q", tc.wantErr)
			}
			if !errors.Is(err, retry.ErrTerminal) {
				t.Errorf("error is not terminal: %v", err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestConfigWithDefaults(t *testing.T) {
	c := Config{PageSize: 5000}
	d := c.withDefaults()
	if d.Method != BindSimple || d.PageSize != MaxPageSize || d.Timeout != 30*time.Second ||
		d.MinTLSVersion != tls.VersionTLS12 || d.Retry == nil || d.Logger == nil {
		t.Errorf("withDefaults() = %+v", d)
	}
	if d.Retry.MaxAttempts != retry.DefaultPolicy().MaxAttempts {
		t.Errorf("default retry policy = %+v", *d.Retry)
	}
	if c.Retry != nil {
		t.Error("withDefaults modified its receiver")
	}
	p := retry.Policy{MaxAttempts: 1}
	c2 := Config{PageSize: 200, Timeout: time.Second, Retry: &p, MinTLSVersion: tls.VersionTLS13}
	d2 := c2.withDefaults()
	if d2.PageSize != 200 || d2.Timeout != time.Second || d2.Retry != &p || d2.MinTLSVersion != tls.VersionTLS13 {
		t.Errorf("withDefaults overrode explicit settings: %+v", d2)
	}
	if got := (&Config{PageSize: -3}).withDefaults().PageSize; got != MaxPageSize {
		t.Errorf("negative PageSize defaulted to %d", got)
	}
}

// writeTestCA writes a self-signed CA certificate as PEM.
func writeTestCA(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "hybridsync unit test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	writeTestCA(t, ca)
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("this is not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("system pool, host as server name", func(t *testing.T) {
		c := validSimple()
		c = c.withDefaults()
		cfg, err := c.tlsConfig("dc1.example.com")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.ServerName != "dc1.example.com" || cfg.RootCAs != nil || cfg.InsecureSkipVerify || cfg.MinVersion != tls.VersionTLS12 {
			t.Errorf("tlsConfig = ServerName %q RootCAs %v Insecure %v MinVersion %x", cfg.ServerName, cfg.RootCAs, cfg.InsecureSkipVerify, cfg.MinVersion)
		}
	})
	t.Run("ServerName override", func(t *testing.T) {
		c := validSimple()
		c.ServerName = "dc1.example.com"
		cfg, err := c.tlsConfig("10.0.0.5")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.ServerName != "dc1.example.com" {
			t.Errorf("ServerName = %q, want the override", cfg.ServerName)
		}
	})
	t.Run("CA file", func(t *testing.T) {
		c := validSimple()
		c.CAFile = ca
		cfg, err := c.tlsConfig("dc1.example.com")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.RootCAs == nil || cfg.InsecureSkipVerify {
			t.Errorf("RootCAs = %v, InsecureSkipVerify = %v", cfg.RootCAs, cfg.InsecureSkipVerify)
		}
	})
	t.Run("missing CA file", func(t *testing.T) {
		c := validSimple()
		c.CAFile = filepath.Join(dir, "absent.pem")
		cfg, err := c.tlsConfig("dc1.example.com")
		if err == nil {
			t.Fatalf("tlsConfig = %+v, want an error", cfg)
		}
		if retry.ClassOf(err) != retry.Terminal {
			t.Errorf("class = %v, want terminal", retry.ClassOf(err))
		}
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "read CA file") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("CA file without PEM", func(t *testing.T) {
		c := validSimple()
		c.CAFile = notPEM
		_, err := c.tlsConfig("dc1.example.com")
		if err == nil {
			t.Fatal("tlsConfig = nil error, want one")
		}
		if retry.ClassOf(err) != retry.Terminal {
			t.Errorf("class = %v, want terminal", retry.ClassOf(err))
		}
		if !strings.Contains(err.Error(), "holds no PEM certificate") || !strings.Contains(err.Error(), notPEM) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestSPNFor(t *testing.T) {
	cases := []struct {
		name, spn, serverName, host, want string
	}{
		{"host", "", "", "dc1.example.com", "ldap/dc1.example.com"},
		{"server name wins over host", "", "dc1.example.com", "10.0.0.5", "ldap/dc1.example.com"},
		{"explicit SPN wins", "ldap/dc.example.com@EXAMPLE.COM", "dc1.example.com", "10.0.0.5", "ldap/dc.example.com@EXAMPLE.COM"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{SPN: tc.spn, ServerName: tc.serverName}
			if got := c.spnFor(tc.host); got != tc.want {
				t.Errorf("spnFor(%q) = %q, want %q", tc.host, got, tc.want)
			}
		})
	}
}
