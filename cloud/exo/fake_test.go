package exo

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/internal/clock"
	"github.com/hybridsync/hybridsync/internal/retry"
)

const (
	testTenant  = "11111111-2222-3333-4444-555555555555"
	testDomain  = "contoso.onmicrosoft.com"
	testToken   = "eyJ0eXAiOiJKV1QiLCJTECRET"
	testAnchor  = "UPN:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@" + testDomain
	invokePath  = "/adminapi/beta/" + testTenant + "/InvokeCommand"
	jsonHeaders = "application/json; odata.metadata=minimal"
)

// call is one request the fake endpoint received.
type call struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   string
	Cmdlet string
	Params map[string]any
}

// reply is what the fake answers.
type reply struct {
	Status int
	Header map[string]string
	Body   string
}

// fakeEXO is an httptest TLS server standing in for the InvokeCommand
// endpoint; handle decides each answer (n counts calls from 0).
type fakeEXO struct {
	t      *testing.T
	srv    *httptest.Server
	handle func(n int, c call) reply

	mu    sync.Mutex
	calls []call
}

func newFake(t *testing.T, handle func(n int, c call) reply) *fakeEXO {
	t.Helper()
	f := &fakeEXO{t: t, handle: handle}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeEXO) serve(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	c := call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(data)}
	var in struct {
		CmdletInput struct {
			CmdletName string         `json:"CmdletName"`
			Parameters map[string]any `json:"Parameters"`
		} `json:"CmdletInput"`
	}
	if err := json.Unmarshal(data, &in); err == nil {
		c.Cmdlet, c.Params = in.CmdletInput.CmdletName, in.CmdletInput.Parameters
	}
	f.mu.Lock()
	n := len(f.calls)
	f.calls = append(f.calls, c)
	f.mu.Unlock()

	rep := f.handle(n, c)
	for k, v := range rep.Header {
		w.Header().Set(k, v)
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", jsonHeaders)
	}
	if rep.Status == 0 {
		rep.Status = http.StatusOK
	}
	w.WriteHeader(rep.Status)
	_, _ = io.WriteString(w, rep.Body)
}

func (f *fakeEXO) recorded() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// fakeClock records every wait. When fire is set After fires at once;
// otherwise never, and waiting is closed on the first wait.
type fakeClock struct {
	mu      sync.Mutex
	waits   []time.Duration
	fire    bool
	waiting chan struct{}
	once    sync.Once
}

var clockNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func (c *fakeClock) Now() time.Time { return clockNow }

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	if c.waiting != nil {
		c.once.Do(func() { close(c.waiting) })
	}
	ch := make(chan time.Time, 1)
	if c.fire {
		ch <- clockNow.Add(d)
	}
	return ch
}

func (c *fakeClock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// testPolicy: 4 attempts, 100ms doubling to 1s, no jitter.
func testPolicy(clock clock.Clock) *retry.Policy {
	return &retry.Policy{
		MaxAttempts:   4,
		Initial:       100 * time.Millisecond,
		Max:           time.Second,
		MaxRetryAfter: time.Minute,
		Clock:         clock,
	}
}

// newTestClient returns a client of f with a firing fake clock; mod may
// adjust the config first.
func newTestClient(t *testing.T, f *fakeEXO, mod func(*Config)) (*Client, *fakeClock) {
	t.Helper()
	clock := &fakeClock{fire: true}
	cfg := Config{
		BaseURL:       f.srv.URL,
		TenantID:      testTenant,
		InitialDomain: testDomain,
		Token:         func(context.Context) (string, error) { return testToken, nil },
		HTTPClient:    f.srv.Client(),
		Retry:         testPolicy(clock),
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, clock
}

// ok is a successful page.
func ok(nextLink string, rows ...any) reply {
	body := map[string]any{"value": rows}
	if rows == nil {
		body["value"] = []any{}
	}
	if nextLink != "" {
		body["@odata.nextLink"] = nextLink
	}
	data, _ := json.Marshal(body)
	return reply{Status: http.StatusOK, Body: string(data)}
}

// exoError is an InvokeCommand failure with the detail message in the
// JSON form the endpoint uses.
func exoError(status int, typeName, message string) reply {
	detail, _ := json.Marshal(map[string]any{"Message": message, "TypeName": typeName, "StackTrace": nil})
	body, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code":    http.StatusText(status),
		"message": "Error executing cmdlet",
		"details": []any{map[string]any{"code": "Context", "target": "", "message": string(detail)}},
	}})
	return reply{Status: status, Body: string(body)}
}
