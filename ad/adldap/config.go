package adldap

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// BindMethod selects how the client authenticates.
type BindMethod string

const (
	// BindSimple is an LDAP simple bind with a DN (or user@realm) and a
	// password, only ever sent inside TLS unless AllowPlaintext is set.
	BindSimple BindMethod = "simple"
	// BindKerberos is a SASL GSSAPI bind with a ticket obtained from a
	// keytab (RFC 4752), without a security layer: integrity and privacy
	// come from TLS.
	BindKerberos BindMethod = "kerberos"
)

// Config is everything the client needs to reach and bind to AD. The agent
// builds it from the YAML config; tests build it from the lab's lab.env.
type Config struct {
	// URLs lists domain controllers in order of preference:
	// ldaps://host[:636] or ldap://host[:389] (StartTLS unless
	// AllowPlaintext and StartTLS is false).
	URLs []string
	// BaseDN is the naming context searched by default.
	BaseDN string

	// CAFile is a PEM bundle of the CAs that may sign DC certificates;
	// empty uses the system pool.
	CAFile string
	// ServerName overrides the name verified in the DC's certificate
	// (useful when URLs use IP addresses).
	ServerName string
	// StartTLS upgrades ldap:// URLs with the StartTLS extended operation.
	StartTLS bool
	// MinTLSVersion is tls.VersionTLS12 when zero.
	MinTLSVersion uint16

	Method BindMethod
	// BindDN is the simple-bind identity: a DN, user@REALM or DOMAIN\user.
	BindDN string
	// Password returns the simple-bind password. It is called at each
	// bind so a rotated secret file is picked up.
	Password func() (string, error)
	// AllowPlaintext permits an ldap:// URL without StartTLS: a simple bind
	// would send the password in clear text, and a Kerberos bind (no SASL
	// security layer) would leave the session without integrity. Off by
	// default.
	AllowPlaintext bool

	// Kerberos settings, used when Method is BindKerberos.
	Principal string
	Realm     string
	Keytab    string
	Krb5Conf  string
	// SPN is the LDAP service principal; default "ldap/" + the server
	// name (ServerName or the URL host).
	SPN string

	// PageSize is the paged-results size, 1..1000 (AD's MaxPageSize);
	// default 1000.
	PageSize int
	// Timeout bounds dialling and each request; default 30s.
	Timeout time.Duration
	// Retry bounds re-dials and retried reads; default retry.DefaultPolicy.
	Retry *retry.Policy

	Logger *slog.Logger
	// Observe, when set, is told about every request: operation, result
	// ("success", or the retry class of the failure) and duration. The
	// agent's metrics hang off it.
	Observe func(op, result string, d time.Duration)
}

// MaxPageSize is the largest page Active Directory serves by default
// (the MaxPageSize LDAP policy).
const MaxPageSize = 1000

func (c *Config) withDefaults() Config {
	out := *c
	if out.Method == "" {
		out.Method = BindSimple
	}
	if out.PageSize <= 0 || out.PageSize > MaxPageSize {
		out.PageSize = MaxPageSize
	}
	if out.Timeout <= 0 {
		out.Timeout = 30 * time.Second
	}
	if out.MinTLSVersion < tls.VersionTLS12 {
		out.MinTLSVersion = tls.VersionTLS12
	}
	if out.Retry == nil {
		p := retry.DefaultPolicy()
		out.Retry = &p
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out
}

// validate checks what can be checked without the network and reports
// every problem at once.
func (c *Config) validate() error {
	const op = "ad.Config.validate"
	var problems []string
	if len(c.URLs) == 0 {
		problems = append(problems, "no domain controller URL given")
	}
	for _, raw := range c.URLs {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			problems = append(problems, fmt.Sprintf("URL %q is not ldaps://host[:port] or ldap://host[:port]", raw))
			continue
		}
		switch strings.ToLower(u.Scheme) {
		case "ldaps":
		case "ldap":
			if !c.StartTLS && !c.AllowPlaintext {
				// Simple binds would expose the password; Kerberos binds
				// negotiate no SASL layer and rely on TLS for integrity.
				what := "would send the bind password in clear text"
				if c.Method == BindKerberos {
					what = "would carry the whole session without integrity or privacy"
				}
				problems = append(problems, fmt.Sprintf("URL %q %s: use ldaps://, enable StartTLS, or explicitly allow plaintext", raw, what))
			}
		default:
			problems = append(problems, fmt.Sprintf("URL %q has scheme %q; want ldaps or ldap", raw, u.Scheme))
		}
	}
	if c.BaseDN != "" {
		if _, err := ad.ParseDN(c.BaseDN); err != nil {
			problems = append(problems, fmt.Sprintf("base DN %q: %v", c.BaseDN, err))
		}
	}
	switch c.Method {
	case BindSimple:
		if c.BindDN == "" {
			problems = append(problems, "simple bind needs a bind DN")
		}
		if c.Password == nil {
			problems = append(problems, "simple bind needs a password source")
		}
	case BindKerberos:
		for _, f := range []struct{ name, v string }{{"principal", c.Principal}, {"realm", c.Realm}, {"keytab", c.Keytab}, {"krb5.conf", c.Krb5Conf}} {
			if f.v == "" {
				problems = append(problems, "kerberos bind needs a "+f.name)
			}
		}
	default:
		problems = append(problems, fmt.Sprintf("unknown bind method %q; want simple or kerberos", c.Method))
	}
	if len(problems) > 0 {
		return retry.New(op, retry.Terminal, fmt.Errorf("invalid AD configuration: %s", strings.Join(problems, "; ")))
	}
	return nil
}

// tlsConfig builds the verification settings for one DC host. Verification
// is never disabled: a DC whose certificate does not chain to CAFile, or does
// not name the host, is refused.
func (c *Config) tlsConfig(host string) (*tls.Config, error) {
	const op = "ad.tlsConfig"
	cfg := &tls.Config{MinVersion: c.MinTLSVersion, ServerName: host}
	if c.ServerName != "" {
		cfg.ServerName = c.ServerName
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, retry.New(op, retry.Terminal, fmt.Errorf("read CA file: %w", err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, retry.New(op, retry.Terminal, fmt.Errorf("CA file %s holds no PEM certificate", c.CAFile))
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// spnFor returns the Kerberos service principal for a DC host.
func (c *Config) spnFor(host string) string {
	if c.SPN != "" {
		return c.SPN
	}
	if c.ServerName != "" {
		return "ldap/" + c.ServerName
	}
	return "ldap/" + host
}
