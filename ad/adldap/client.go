package adldap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/go-ldap/ldap/v3/gssapi"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// conn is the part of *ldap.Conn the client uses; tests substitute fakes
// (the auto-ranged reply shape of Windows AD cannot be produced by Samba).
type conn interface {
	SearchAsync(ctx context.Context, req *ldap.SearchRequest, bufferSize int) ldap.Response
	Add(req *ldap.AddRequest) error
	Modify(req *ldap.ModifyRequest) error
	ModifyDN(req *ldap.ModifyDNRequest) error
	Del(req *ldap.DelRequest) error
	Close() error
	IsClosing() bool
}

// dialFunc opens and binds one connection, returning it and the URL of the
// DC it reached.
type dialFunc func(ctx context.Context) (conn, string, error)

// Client is a connection to one AD domain, safe for concurrent use. It holds
// at most one LDAP connection, re-dialled (with failover across Config.URLs)
// after a network error.
type Client struct {
	cfg  Config
	dial dialFunc

	mu     sync.Mutex
	conn   conn
	url    string
	closed bool
	// gen numbers the connections: it grows each time one is dialled, so
	// that a caller can tell whether two requests went over the same one.
	gen uint64
	// dc is the identity of connection dcGen's DC, read once per
	// connection (see DCOf).
	dc    ad.DC
	dcGen uint64
}

// Dial validates cfg, connects to the first reachable DC in cfg.URLs and
// binds. Failures name every DC tried. A dial that failed only for transient
// reasons is retried under cfg.Retry; bad credentials or a certificate that
// does not verify fail at once.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	const op = "ad.Dial"
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	cl := &Client{cfg: c}
	cl.dial = cl.dialAny
	err := retry.Do(ctx, *c.Retry, op, func(ctx context.Context) error {
		_, err := cl.connection(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return cl, nil
}

// newWithConn builds a client around an existing connection (tests).
func newWithConn(cfg Config, cn conn) *Client {
	c := cfg.withDefaults()
	return &Client{cfg: c, conn: cn, url: "test://", dial: func(context.Context) (conn, string, error) {
		return nil, "", retry.New("ad.dial", retry.Terminal, errors.New("test client cannot re-dial"))
	}}
}

// BaseDN returns the configured naming context.
func (c *Client) BaseDN() string { return c.cfg.BaseDN }

// PageSize returns the paged-results size in use.
func (c *Client) PageSize() int { return c.cfg.PageSize }

// ServerURL returns the URL of the DC the client is connected to, or "" when
// it is between connections.
func (c *Client) ServerURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.url
}

// Close closes the connection. Requests made afterwards fail with a
// terminal error; the client never re-dials once closed.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn, c.url = nil, ""
	return err
}

// connection returns the live connection, dialling once (every URL in
// turn, each bounded by Config.Timeout) when there is none. It does not
// retry: the operation that needs the connection does, so retries never
// nest. The lock is held while dialling, so concurrent callers share one
// dial instead of racing to open several connections.
func (c *Client) connection(ctx context.Context) (conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, retry.New("ad.connect", retry.Terminal, errors.New("client is closed"))
	}
	if c.conn != nil && !c.conn.IsClosing() {
		return c.conn, nil
	}
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn, c.url = nil, ""
	}
	cn, url, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	c.conn, c.url = cn, url
	c.gen++
	c.cfg.Logger.Debug("ad: connected", "server_url", url)
	return cn, nil
}

// drop forgets cn after a network error so the next call re-dials. It is a
// no-op when another goroutine already replaced cn.
func (c *Client) drop(cn conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == cn {
		_ = cn.Close()
		c.cfg.Logger.Warn("ad: connection lost; will re-dial", "server_url", c.url)
		c.conn, c.url = nil, ""
	}
}

// dialAny tries each URL in order and returns the first bound connection.
// The error names every DC and why it failed. Its class is retryable when
// any DC failed transiently, terminal otherwise (so a wrong password or CA
// is not retried against the same DCs).
func (c *Client) dialAny(ctx context.Context) (conn, string, error) {
	const op = "ad.connect"
	var (
		errs      []error
		retryable bool
	)
	for _, u := range c.cfg.URLs {
		if err := ctx.Err(); err != nil {
			return nil, "", retry.New(op, retry.Terminal, err)
		}
		cn, err := c.dialOne(ctx, u)
		if err == nil {
			return cn, u, nil
		}
		if retry.ClassOf(err) == retry.Retryable {
			retryable = true
		}
		errs = append(errs, fmt.Errorf("%s: %w", u, err))
	}
	class := retry.Terminal
	if retryable {
		class = retry.Retryable
	}
	return nil, "", retry.New(op, class, fmt.Errorf("no domain controller reachable: %w", errors.Join(errs...)))
}

// dialOne connects to one DC, secures the connection and binds.
func (c *Client) dialOne(ctx context.Context, rawURL string) (conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, retry.New("ad.dial", retry.Terminal, err)
	}
	host := u.Hostname()
	tlsCfg, err := c.cfg.tlsConfig(host)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: c.cfg.Timeout}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d.Timeout {
		d.Deadline = dl
	}
	scheme := strings.ToLower(u.Scheme)
	var lc *ldap.Conn
	if scheme == "ldaps" {
		lc, err = ldap.DialURL(rawURL, ldap.DialWithTLSDialer(tlsCfg, d))
	} else {
		lc, err = ldap.DialURL(rawURL, ldap.DialWithDialer(d))
	}
	if err != nil {
		return nil, classify("ad.dial", err)
	}
	lc.SetTimeout(c.cfg.Timeout)
	secure := scheme == "ldaps"
	if scheme == "ldap" && c.cfg.StartTLS {
		if err := lc.StartTLS(tlsCfg); err != nil {
			lc.Close()
			return nil, classify("ad.starttls", err)
		}
		secure = true
	}
	if err := c.bind(lc, host, secure); err != nil {
		lc.Close()
		return nil, err
	}
	return lc, nil
}

// bind authenticates a fresh connection.
func (c *Client) bind(lc *ldap.Conn, host string, secure bool) error {
	switch c.cfg.Method {
	case BindKerberos:
		const op = "ad.bind.kerberos"
		kc, err := gssapi.NewClientWithKeytab(c.cfg.Principal, c.cfg.Realm, c.cfg.Keytab, c.cfg.Krb5Conf)
		if err != nil {
			return retry.New(op, retry.Terminal, fmt.Errorf("load keytab %s / krb5.conf %s: %w", c.cfg.Keytab, c.cfg.Krb5Conf, err))
		}
		defer kc.Close()
		spn := c.cfg.spnFor(host)
		if err := lc.GSSAPIBind(kc, spn, ""); err != nil {
			return classifyBind(op, fmt.Errorf("GSSAPI bind as %s@%s to %s: %w", c.cfg.Principal, c.cfg.Realm, spn, err))
		}
		return nil
	default:
		const op = "ad.bind.simple"
		if !secure && !c.cfg.AllowPlaintext {
			return retry.New(op, retry.Terminal, errors.New("refusing a simple bind without TLS (plaintext binds are not allowed by the configuration)"))
		}
		pw, err := c.cfg.Password()
		if err != nil {
			return retry.New(op, retry.Terminal, fmt.Errorf("read bind password: %w", err))
		}
		if pw == "" {
			// An empty password is an unauthenticated bind (RFC 4513
			// §5.1.2) that "succeeds" anonymously; refuse it.
			return retry.New(op, retry.Terminal, errors.New("bind password is empty"))
		}
		if err := lc.Bind(c.cfg.BindDN, pw); err != nil {
			return classifyBind(op, fmt.Errorf("bind as %s: %w", c.cfg.BindDN, err))
		}
		return nil
	}
}

// classifyBind is classify, except that invalidCredentials says so in words.
func classifyBind(op string, err error) error {
	if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		return retry.New(op, retry.Terminal, fmt.Errorf("invalid credentials (wrong password, expired or locked account): %w", err))
	}
	return classify(op, err)
}

// observe reports one request to the configured observer.
func (c *Client) observe(op string, start time.Time, err error) {
	if c.cfg.Observe == nil {
		return
	}
	result := "success"
	if err != nil {
		result = retry.ClassOf(err).String()
	}
	c.cfg.Observe(op, result, time.Since(start))
}

// write runs one modifying request once. Writes are not retried here. When
// the connection fails mid-request the outcome is unknown: the error is a
// Conflict (re-read, then decide), and the connection is dropped so the next
// request re-dials. A dial failure before the request was sent is Retryable.
func (c *Client) write(ctx context.Context, op string, fn func(conn) error) error {
	start := time.Now()
	cn, err := c.connection(ctx)
	if err != nil {
		c.observe(op, start, err)
		return fmt.Errorf("%s: %w: %w", op, ad.ErrNotSent, err)
	}
	return c.writeOn(op, start, cn, fn)
}

// writeOn sends one modifying request over cn; see write.
func (c *Client) writeOn(op string, start time.Time, cn conn, fn func(conn) error) error {
	err := fn(cn)
	if isNetworkError(err) {
		c.drop(cn)
		// The request may or may not have been applied. That is a
		// conflict in our terms (re-read, then decide), never something
		// to resend blindly.
		err = retry.New(op, retry.Conflict, fmt.Errorf("%w (connection lost, or no answer in time): re-read before retrying: %w", ad.ErrOutcomeUnknown, err))
	}
	err = classify(op, err)
	c.observe(op, start, err)
	return err
}
