// Package graph implements cloud.Tenant over Microsoft Graph with
// msgraph-sdk-go. It is the only package of hybridsync that imports the
// SDK, and it imports only the SDK's subpackages it needs (users, groups,
// contacts, reports, models), never the root client, whose request builders
// for the whole API make builds take minutes ("Issue with the size of the
// API surface of the models package",
// https://github.com/microsoftgraph/msgraph-sdk-go/issues/129).
//
// Reads ask for the fields hybridsync uses ($select) in pages of 999
// ($top), follow @odata.nextLink, and say whether they completed. Delta
// rounds follow nextLink to a deltaLink and restart from scratch once on
// 410 Gone. Every request is retried under one bounded policy: throttling
// (429) and server errors (5xx) are retried, after the server's Retry-After
// when it sends one; other errors are classified with internal/retry and
// returned.
//
// Refs: https://learn.microsoft.com/graph/paging,
// https://learn.microsoft.com/graph/delta-query-overview,
// https://learn.microsoft.com/graph/throttling.
package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abs "github.com/microsoft/kiota-abstractions-go"
	kauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/cloud/auth"
	"github.com/hybridsync/hybridsync/internal/clock"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// Config wires a Client.
type Config struct {
	Session *auth.Session
	// Exchange is returned by Client.Exchange (the cloud/exo client).
	Exchange cloud.Exchange
	// Retry bounds every request; default retry.DefaultPolicy().
	Retry *retry.Policy
	// NotFoundRetries is how many times Get re-reads an object that is
	// not found before reporting it missing: Graph is eventually
	// consistent, and an object created moments ago may not be readable
	// yet. Default 3 (waits of about 1, 2 and 4 seconds).
	NotFoundRetries int
	// PageSize is $top for listings; default and maximum 999.
	PageSize int
	Logger   *slog.Logger
	// Observe, when set, is told about every HTTP request: the operation,
	// its result ("success", "throttled" for a 429, or the retry class of
	// the failure; see retry.ResultOf) and duration.
	Observe func(op, result string, d time.Duration)
}

// Client is a cloud.Tenant over Microsoft Graph.
type Client struct {
	cfg     Config
	adapter *msgraphcore.GraphRequestAdapterBase
	v1      string // Graph origin + /v1.0
	beta    string // Graph origin + /beta
}

var _ cloud.Tenant = (*Client)(nil)

// New builds a client. It does not contact Graph.
func New(cfg Config) (*Client, error) {
	const op = "graph.New"
	if cfg.Session == nil {
		return nil, retry.New(op, retry.Terminal, errors.New("no session"))
	}
	if cfg.Retry == nil {
		p := retry.DefaultPolicy()
		cfg.Retry = &p
	}
	if cfg.NotFoundRetries == 0 {
		cfg.NotFoundRetries = 3
	}
	if cfg.PageSize <= 0 || cfg.PageSize > 999 {
		cfg.PageSize = 999
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	origin := strings.TrimRight(cfg.Session.Endpoints.Graph, "/")
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return nil, retry.New(op, retry.Terminal, fmt.Errorf("bad Graph URL %q", origin))
	}
	authProvider, err := kauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(
		cfg.Session.Credential, []string{cfg.Session.Scopes.GraphScope()}, []string{u.Hostname()})
	if err != nil {
		return nil, retry.New(op, retry.Terminal, err)
	}
	// Our own retry loop replaces Kiota's RetryHandler (so waits are
	// bounded and counted once); redirects are not followed.
	hc := &http.Client{
		Timeout: cfg.Session.HTTPClient.Timeout,
		Transport: khttp.NewCustomTransportWithParentTransport(cfg.Session.HTTPClient.Transport,
			khttp.NewParametersNameDecodingHandler(), khttp.NewUserAgentHandler()),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	adapter, err := msgraphcore.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		authProvider, msgraphcore.GraphClientOptions{GraphServiceVersion: "v1.0", GraphServiceLibraryVersion: "hybridsync"},
		jsonser.NewJsonParseNodeFactory(), jsonser.NewJsonSerializationWriterFactory(), hc)
	if err != nil {
		return nil, retry.New(op, retry.Terminal, err)
	}
	c := &Client{cfg: cfg, adapter: adapter, v1: origin + "/v1.0", beta: origin + "/beta"}
	adapter.SetBaseUrl(c.v1)
	return c, nil
}

// Exchange returns the Exchange Online client the Client was built with.
func (c *Client) Exchange() cloud.Exchange { return c.cfg.Exchange }

// do runs one request under the retry policy, classifying its error.
func (c *Client) do(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	return retry.Do(ctx, *c.cfg.Retry, "graph."+op, func(ctx context.Context) error {
		start := time.Now()
		err := classify("graph."+op, fn(ctx), c.clock().Now())
		if c.cfg.Observe != nil {
			c.cfg.Observe(op, retry.ResultOf(err), time.Since(start))
		}
		return err
	})
}

// statusOf returns the HTTP status carried by an SDK error, or 0.
func statusOf(err error) (int, *abs.ResponseHeaders) {
	var api abs.ApiErrorable
	if errors.As(err, &api) {
		return api.GetStatusCode(), api.GetResponseHeaders()
	}
	return 0, nil
}

// classify maps a Graph error to a retry class. 429, 503 and 504 (and
// other 5xx) are retryable and carry Retry-After; 404 is not-found; 409 and
// 412 are conflicts; the rest (400, 401, 403, ...) are terminal. Transport
// failures (no status) are retryable.
func classify(op string, err error, now time.Time) error {
	if err == nil {
		return nil
	}
	var already *retry.Error
	if errors.As(err, &already) {
		return err
	}
	status, headers := statusOf(err)
	msg := errorMessage(err)
	// Token failures surface from the authentication provider with no
	// Graph status: the authority refused the credential (terminal) or
	// was unavailable (retryable).
	var authErr *azidentity.AuthenticationFailedError
	if status == 0 && errors.As(err, &authErr) {
		if authErr.RawResponse != nil && authErr.RawResponse.StatusCode >= 500 {
			return retry.New(op, retry.Retryable, fmt.Errorf("token request failed: %w", err))
		}
		return retry.New(op, retry.Terminal, fmt.Errorf("token request refused: %w", err))
	}
	switch {
	case status == 0:
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return retry.New(op, retry.Terminal, err)
		}
		return retry.New(op, retry.Retryable, fmt.Errorf("%s: %w", msg, err))
	case status == http.StatusTooManyRequests || status >= 500:
		e := retry.New(op, retry.Retryable, fmt.Errorf("HTTP %d: %s: %w", status, msg, err))
		e.RetryAfter = retryAfter(headers, now)
		e.Throttled = status == http.StatusTooManyRequests
		return e
	case status == http.StatusNotFound:
		return retry.New(op, retry.NotFound, fmt.Errorf("HTTP 404: %s: %w", msg, err))
	case status == http.StatusConflict || status == http.StatusPreconditionFailed:
		return retry.New(op, retry.Conflict, fmt.Errorf("HTTP %d: %s: %w", status, msg, err))
	default:
		return retry.New(op, retry.Terminal, fmt.Errorf("HTTP %d: %s: %w", status, msg, err))
	}
}

// errorMessage extracts Graph's error code and message when the SDK
// decoded an OData error body.
func errorMessage(err error) string {
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) && oe.GetErrorEscaped() != nil {
		e := oe.GetErrorEscaped()
		return deref(e.GetCode()) + ": " + deref(e.GetMessage())
	}
	return err.Error()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// retryAfter reads a response's Retry-After header.
func retryAfter(h *abs.ResponseHeaders, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	for _, v := range h.Get("Retry-After") {
		if d := retry.ParseRetryAfter(v, now); d > 0 {
			return d
		}
	}
	return 0
}

// clock is the client's clock (its retry policy's).
func (c *Client) clock() clock.Clock { return clock.Or(c.cfg.Retry.Clock) }

// errorMappings decode Graph's error bodies for raw requests, as the
// generated request builders do.
func errorMappings() abs.ErrorMappings {
	return abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}
}

// Quote renders s as an OData string literal for $filter, doubling single
// quotes (OData ABNF, SQUOTE-in-string): Quote("O'Brien") is 'O”Brien'.
// Build every $filter literal with it, exactly once. It is cloud.Quote,
// kept here for callers that already import this package.
func Quote(s string) string { return cloud.Quote(s) }
