// Package exo implements cloud.Exchange over the Exchange Online admin REST
// endpoint that the ExchangeOnlineManagement v3 PowerShell module uses:
//
//	POST {BaseURL}/adminapi/beta/{tenant}/InvokeCommand
//	{"CmdletInput":{"CmdletName":"Get-Recipient","Parameters":{...}}}
//
// Results come back as {"value":[...]} and, for long listings, an
// "@odata.nextLink" to which the same body is POSTed for the next page.
// Failures come back as {"error":{"code","message","details":[{"message"}]}},
// where a detail message is either "|ExceptionType|text" or a JSON object
// {"Message","TypeName"}; classifyResponse turns them into internal/retry
// classes.
//
// Only standard-library HTTP is used: the caller wires the bearer token
// (azidentity, scope https://outlook.office365.com/.default or the national
// cloud's) through Config.Token.
package exo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/clock"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// TokenSource returns a bearer token for the Exchange scope
// (https://outlook.office365.com/.default or the national cloud's); the
// caller wires azidentity. It is called before every request, so it should
// cache (azidentity credentials do).
type TokenSource func(ctx context.Context) (string, error)

// systemMailboxFormat is the app-only anchor mailbox the v3 module uses:
// app-only tokens have no mailbox of their own to route on.
const systemMailboxFormat = "UPN:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@%s"

const (
	defaultPageSize    = 1000 // the server's maximum odata.maxpagesize
	defaultMemberChunk = 500
	// defaultMemberConcurrency is how many Add- or
	// Remove-DistributionGroupMember calls run at once by default.
	defaultMemberConcurrency = 8
	// MaxMemberConcurrency bounds Config.MemberConcurrency.
	MaxMemberConcurrency = 64
	// defaultHTTPTimeout matches the v3 module: one minute more than the
	// server's own 15-minute cmdlet timeout.
	defaultHTTPTimeout = 16 * time.Minute
	// maxResponseBytes bounds one response body (a page of 1,000 groups
	// is a few MB).
	maxResponseBytes = 64 << 20
	// maxPages bounds one listing even against a server that hands out
	// fresh nextLinks forever (100 million rows at 1,000 a page).
	maxPages = 100_000
	// clientApplication is the X-ClientApplication value of the v3 module;
	// the endpoint tailors its responses to that client.
	clientApplication = "ExoManagementModule"
	userAgent         = "hybridsync-exo"
)

// Config configures a Client.
type Config struct {
	// BaseURL is the Exchange endpoint, e.g. https://outlook.office365.com
	// (national clouds differ: outlook.office365.us, partner.outlook.cn…),
	// or an emulator's URL in tests.
	BaseURL  string
	TenantID string
	// AnchorMailbox is sent as X-AnchorMailbox. When empty it is the
	// app-only system mailbox of InitialDomain:
	// UPN:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@<InitialDomain>.
	AnchorMailbox string
	// InitialDomain is the tenant's *.onmicrosoft.com domain.
	InitialDomain string
	Token         TokenSource
	// HTTPClient defaults to a client with a 16-minute timeout.
	HTTPClient *http.Client
	// Retry bounds retries of throttled and unavailable requests; default
	// retry.DefaultPolicy().
	Retry *retry.Policy
	// PageSize is sent as Prefer: odata.maxpagesize (1..1000, default 1000).
	PageSize int
	// MemberChunk (default 500) is how many members one call that sets a
	// whole list may carry: NewDistributionGroup sends up to that many with
	// the group and adds the rest one Add-DistributionGroupMember call
	// each; ReplaceGroupMembers fills an empty group with one
	// Update-DistributionGroupMember call only when the list fits.
	MemberChunk int
	// MemberConcurrency (default 8, at most MaxMemberConcurrency) is how
	// many single-member calls (Add- and Remove-DistributionGroupMember)
	// run at once, for the members that do not fit in one call. Each call
	// goes through the same retry and Retry-After handling as any other;
	// a throttled call waits on its own, and the others keep at most
	// MemberConcurrency requests in flight.
	MemberConcurrency int
	Logger            *slog.Logger
	// Observe, when set, is told about every HTTP request: op is the cmdlet
	// name, result "success", "throttled" (429 or a throttling message) or
	// the retry class of the failure (retry.ResultOf).
	Observe func(op, result string, d time.Duration)
}

// Client runs Exchange Online cmdlets over REST. It is safe for concurrent
// use.
type Client struct {
	cfg      Config
	base     *url.URL
	endpoint string
	anchor   string
	policy   retry.Policy
	http     *http.Client
	log      *slog.Logger
	throttle throttleGate
}

var _ cloud.Exchange = (*Client)(nil)

// New validates cfg, fills in defaults and returns a Client. It makes no
// request.
func New(cfg Config) (*Client, error) {
	const op = "exo.New"
	var problems []string
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	switch {
	case cfg.BaseURL == "":
		problems = append(problems, "BaseURL is required")
	case err != nil:
		problems = append(problems, fmt.Sprintf("BaseURL: %v", err))
	case base.Scheme != "https" && base.Scheme != "http", base.Host == "":
		problems = append(problems, fmt.Sprintf("BaseURL %q is not an absolute http(s) URL", cfg.BaseURL))
	}
	if strings.TrimSpace(cfg.TenantID) == "" {
		problems = append(problems, "TenantID is required")
	}
	if cfg.Token == nil {
		problems = append(problems, "Token is required")
	}
	if cfg.AnchorMailbox == "" && cfg.InitialDomain == "" {
		problems = append(problems, "AnchorMailbox or InitialDomain is required")
	}
	if cfg.PageSize < 0 || cfg.PageSize > defaultPageSize {
		problems = append(problems, fmt.Sprintf("PageSize %d is outside 1..%d", cfg.PageSize, defaultPageSize))
	}
	if cfg.MemberChunk < 0 {
		problems = append(problems, fmt.Sprintf("MemberChunk %d is negative", cfg.MemberChunk))
	}
	if cfg.MemberConcurrency < 0 || cfg.MemberConcurrency > MaxMemberConcurrency {
		problems = append(problems, fmt.Sprintf("MemberConcurrency %d is outside 1..%d", cfg.MemberConcurrency, MaxMemberConcurrency))
	}
	if len(problems) > 0 {
		return nil, retry.New(op, retry.Terminal, errors.New(strings.Join(problems, "; ")))
	}

	if cfg.PageSize == 0 {
		cfg.PageSize = defaultPageSize
	}
	if cfg.MemberChunk == 0 {
		cfg.MemberChunk = defaultMemberChunk
	}
	if cfg.MemberConcurrency == 0 {
		cfg.MemberConcurrency = defaultMemberConcurrency
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		cfg:    cfg,
		base:   base,
		anchor: cfg.AnchorMailbox,
		http:   cfg.HTTPClient,
		log:    cfg.Logger.With("component", "exo", "tenant_id", cfg.TenantID),
	}
	if c.anchor == "" {
		c.anchor = fmt.Sprintf(systemMailboxFormat, cfg.InitialDomain)
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if cfg.Retry != nil {
		c.policy = *cfg.Retry
	} else {
		c.policy = retry.DefaultPolicy()
	}
	c.policy.Clock = clock.Or(c.policy.Clock)
	c.endpoint = base.String() + "/adminapi/beta/" + url.PathEscape(cfg.TenantID) + "/InvokeCommand"
	return c, nil
}

// Endpoint returns the InvokeCommand URL requests are sent to.
func (c *Client) Endpoint() string { return c.endpoint }

// AnchorMailbox returns the X-AnchorMailbox value in use.
func (c *Client) AnchorMailbox() string { return c.anchor }

// page is one InvokeCommand response.
type page struct {
	Value    []json.RawMessage `json:"value"`
	NextLink string            `json:"@odata.nextLink"`
	Warnings json.RawMessage   `json:"@adminapi.warnings"`
}

// Invoke runs one cmdlet and streams result rows (raw JSON) to fn, following
// @odata.nextLink (the same body POSTed to the nextLink URL). Each request
// is retried under Config.Retry when it failed with a retryable error,
// honouring Retry-After: 429 and 503 and throttling messages for every
// cmdlet; other 5xx and network failures for reads (Get-*) only. For a
// cmdlet that changes something those leave the outcome unknown, so they
// are a Conflict ("outcome unknown; re-read before retrying"), never
// retried.
//
// The ReadResult says whether every page was read; on any error Complete is
// false and the rows already given to fn are all that was read. An error
// returned by fn stops the listing and is returned as is. A nextLink that
// repeats an earlier one, or that points away from the Exchange host, is a
// terminal error. Errors name the cmdlet and the identity, never the token.
func (c *Client) Invoke(ctx context.Context, cmdlet string, params map[string]any, fn func(json.RawMessage) error) (cloud.ReadResult, error) {
	var res cloud.ReadResult
	op := opName(cmdlet, params)
	if params == nil {
		params = map[string]any{}
	}
	body, err := json.Marshal(map[string]any{
		"CmdletInput": map[string]any{"CmdletName": cmdlet, "Parameters": params},
	})
	if err != nil {
		return res, retry.New(op, retry.Terminal, fmt.Errorf("encoding parameters: %w", err))
	}
	requestID := newRequestID()
	log := c.log.With("cmdlet", cmdlet, "client_request_id", requestID)

	target := c.endpoint
	seen := map[string]bool{target: true}
	for n := 1; ; n++ {
		var pg page
		var final *url.URL
		policy := c.policy
		userOnRetry := policy.OnRetry
		// heldUntil is the end of the last throttle hold this request
		// has waited out (its own retry wait included), so that it waits
		// for each hold once.
		var heldUntil time.Time
		policy.OnRetry = func(attempt int, wait time.Duration, err error) {
			if retry.IsThrottled(err) {
				heldUntil = c.holdForThrottle(wait)
			}
			log.Warn("exo request failed, retrying", "attempt", attempt, "wait", wait, "page", n, "error", err)
			if userOnRetry != nil {
				userOnRetry(attempt, wait, err)
			}
		}
		err := retry.Do(ctx, policy, op, func(ctx context.Context) error {
			if err := c.waitForThrottle(ctx, &heldUntil); err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
			res.Requests++
			var err error
			pg, final, err = c.post(ctx, op, cmdlet, target, body, requestID)
			return err
		})
		if err != nil {
			return res, err
		}
		if len(pg.Warnings) > 0 && string(pg.Warnings) != "null" && string(pg.Warnings) != "[]" {
			log.Warn("exo cmdlet warning", "warnings", truncate(string(pg.Warnings), 2000))
		}
		for _, row := range pg.Value {
			if len(row) == 0 || string(row) == "null" {
				continue
			}
			if err := fn(row); err != nil {
				return res, err
			}
			res.Objects++
		}
		if pg.NextLink == "" {
			res.Complete = true
			return res, nil
		}
		next, err := c.resolveNext(final, pg.NextLink)
		if err != nil {
			return res, retry.New(op, retry.Terminal, err)
		}
		if seen[next] {
			return res, retry.New(op, retry.Terminal, fmt.Errorf("server returned a nextLink already followed (page %d); the listing would never end", n))
		}
		if n >= maxPages {
			return res, retry.New(op, retry.Terminal, fmt.Errorf("more than %d pages; giving up", maxPages))
		}
		seen[next] = true
		target = next
		log.Debug("exo following nextLink", "page", n+1)
	}
}

// resolveNext turns a nextLink into an absolute URL and refuses one that
// would carry the bearer token to another host or scheme.
func (c *Client) resolveNext(from *url.URL, link string) (string, error) {
	u, err := url.Parse(link)
	if err != nil {
		return "", fmt.Errorf("server returned an unusable nextLink: %v", err)
	}
	ref := from
	if ref == nil {
		ref = c.base
	}
	u = ref.ResolveReference(u)
	sameHost := strings.EqualFold(u.Host, c.base.Host) || (from != nil && strings.EqualFold(u.Host, from.Host))
	if u.Scheme != c.base.Scheme || !sameHost {
		return "", fmt.Errorf("server returned a nextLink to %s://%s, not the Exchange endpoint; refusing to send the token there", u.Scheme, u.Host)
	}
	return u.String(), nil
}

// post sends one request and decodes a successful response. It returns the
// URL that finally answered (after redirects) for resolving nextLinks.
func (c *Client) post(ctx context.Context, op, cmdlet, target string, body []byte, requestID string) (page, *url.URL, error) {
	start := time.Now()
	pg, final, err := c.postOnce(ctx, op, cmdlet, target, body, requestID)
	if c.cfg.Observe != nil && ctx.Err() == nil {
		c.cfg.Observe(cmdlet, retry.ResultOf(err), time.Since(start))
	}
	return pg, final, err
}

func (c *Client) postOnce(ctx context.Context, op, cmdlet, target string, body []byte, requestID string) (page, *url.URL, error) {
	var pg page
	token, err := c.cfg.Token(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return pg, nil, fmt.Errorf("%s: %w", op, ctx.Err())
		}
		if retry.ClassOf(err) != retry.Unknown {
			return pg, nil, fmt.Errorf("acquiring Exchange token: %w", err)
		}
		return pg, nil, retry.New(op, retry.Terminal, fmt.Errorf("acquiring Exchange token: %w", err))
	}
	// A fresh reader per attempt: the body is replayed on every retry and
	// (through GetBody) on a 307/308 redirect.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return pg, nil, retry.New(op, retry.Terminal, err)
	}
	h := req.Header
	h.Set("Authorization", "Bearer "+token)
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Accept", "application/json")
	h.Set("Accept-Charset", "UTF-8")
	h.Set("X-AnchorMailbox", c.anchor)
	h.Set("X-CmdletName", cmdlet)
	h.Set("X-ClientApplication", clientApplication)
	h.Set("X-ResponseFormat", "json")
	h.Set("X-SerializationLevel", "Partial")
	h.Set("Prefer", fmt.Sprintf("odata.maxpagesize=%d", c.cfg.PageSize))
	h.Set("client-request-id", requestID)
	h.Set("User-Agent", userAgent)

	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return pg, nil, fmt.Errorf("%s: %w", op, ctx.Err())
		}
		return pg, nil, transportError(op, cmdlet, stripURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return pg, nil, fmt.Errorf("%s: %w", op, ctx.Err())
		}
		return pg, nil, transportError(op, cmdlet, fmt.Errorf("reading response: %w", err))
	}
	if len(data) > maxResponseBytes {
		return pg, nil, retry.New(op, retry.Terminal, fmt.Errorf("response larger than %d bytes", maxResponseBytes))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return pg, nil, classifyResponse(op, cmdlet, resp.StatusCode, resp.Header, data, c.policy.Clock.Now())
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return pg, resp.Request.URL, nil
	}
	if err := json.Unmarshal(data, &pg); err != nil {
		return pg, nil, retry.New(op, retry.Terminal, fmt.Errorf("decoding HTTP %d response: %v", resp.StatusCode, err))
	}
	return pg, resp.Request.URL, nil
}

// transportError classifies a request that got no HTTP answer. Reading is
// safe to repeat; for a cmdlet that changes something the outcome is
// unknown, so the caller is told to re-read and decide (Conflict), as
// package ad does for writes.
func transportError(op, cmdlet string, err error) error {
	if isReadCmdlet(cmdlet) {
		return retry.New(op, retry.Retryable, err)
	}
	return outcomeUnknown(op, err)
}

// stripURLError drops the URL from a *url.Error (it is logged elsewhere and
// a nextLink can be long) and keeps the cause.
func stripURLError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return fmt.Errorf("%s request: %w", uerr.Op, uerr.Err)
	}
	return err
}

func isReadCmdlet(cmdlet string) bool {
	return strings.HasPrefix(strings.ToLower(cmdlet), "get-")
}

// opName is the operation named in errors: the cmdlet and the identity it
// acted on.
func opName(cmdlet string, params map[string]any) string {
	for _, k := range []string{"Identity", "Name", "Alias", "PrimarySmtpAddress"} {
		if s, ok := params[k].(string); ok && s != "" {
			return fmt.Sprintf("exo %s %q", cmdlet, s)
		}
	}
	return "exo " + cmdlet
}

// newRequestID returns a random UUID (version 4) for client-request-id.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
