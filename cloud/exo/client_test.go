package exo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// collect runs Invoke and gathers the rows.
func collect(t *testing.T, c *Client, cmdlet string, params map[string]any) ([]string, cloud.ReadResult, error) {
	t.Helper()
	var rows []string
	res, err := c.Invoke(context.Background(), cmdlet, params, func(row json.RawMessage) error {
		rows = append(rows, string(row))
		return nil
	})
	return rows, res, err
}

func TestNewValidates(t *testing.T) {
	tok := func(context.Context) (string, error) { return "", nil }
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"empty", Config{}, []string{"BaseURL is required", "TenantID is required", "Token is required", "AnchorMailbox or InitialDomain"}},
		{"relative URL", Config{BaseURL: "outlook.office365.com", TenantID: "t", Token: tok, InitialDomain: "d"}, []string{"not an absolute"}},
		{"page size", Config{BaseURL: "https://x", TenantID: "t", Token: tok, InitialDomain: "d", PageSize: 5000}, []string{"PageSize 5000"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil {
				t.Fatal("New = nil error")
			}
			if !errors.Is(err, retry.ErrTerminal) {
				t.Errorf("error %v is not terminal", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestRequestShape(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok("", map[string]any{"Identity": "alice"}) })
	c, _ := newTestClient(t, f, nil)
	rows, res, err := collect(t, c, "Get-Recipient", map[string]any{"Identity": "alice@contoso.com"})
	if err != nil || res.Objects != 1 || !res.Complete || res.Requests != 1 || len(rows) != 1 {
		t.Fatalf("Invoke = rows %v objects %d complete %v requests %d err %v", rows, res.Objects, res.Complete, res.Requests, err)
	}
	calls := f.recorded()
	if len(calls) != 1 {
		t.Fatalf("%d calls, want 1", len(calls))
	}
	got := calls[0]
	if got.Method != http.MethodPost || got.Path != invokePath {
		t.Errorf("request = %s %s, want POST %s", got.Method, got.Path, invokePath)
	}
	wantHeaders := map[string]string{
		"Authorization":       "Bearer " + testToken,
		"X-AnchorMailbox":     testAnchor,
		"X-CmdletName":        "Get-Recipient",
		"X-ClientApplication": "ExoManagementModule",
		"Prefer":              "odata.maxpagesize=1000",
		"Content-Type":        "application/json; charset=utf-8",
		"Accept":              "application/json",
	}
	for k, v := range wantHeaders {
		if g := got.Header.Get(k); g != v {
			t.Errorf("header %s = %q, want %q", k, g, v)
		}
	}
	if id := got.Header.Get("client-request-id"); len(id) != 36 {
		t.Errorf("client-request-id = %q, want a UUID", id)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(got.Body), &body); err != nil {
		t.Fatalf("body %q: %v", got.Body, err)
	}
	want := map[string]any{"CmdletInput": map[string]any{
		"CmdletName": "Get-Recipient",
		"Parameters": map[string]any{"Identity": "alice@contoso.com"},
	}}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body = %v, want %v", body, want)
	}
}

func TestRequestShapeOverrides(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok("") })
	c, _ := newTestClient(t, f, func(cfg *Config) {
		cfg.AnchorMailbox = "UPN:admin@contoso.com"
		cfg.PageSize = 50
		cfg.BaseURL += "/"
	})
	if _, _, err := collect(t, c, "Get-AcceptedDomain", nil); err != nil {
		t.Fatal(err)
	}
	got := f.recorded()[0]
	if got.Path != invokePath {
		t.Errorf("path = %q", got.Path)
	}
	if a := got.Header.Get("X-AnchorMailbox"); a != "UPN:admin@contoso.com" {
		t.Errorf("anchor = %q", a)
	}
	if p := got.Header.Get("Prefer"); p != "odata.maxpagesize=50" {
		t.Errorf("Prefer = %q", p)
	}
	if !strings.Contains(got.Body, `"Parameters":{}`) {
		t.Errorf("nil params sent as %s, want {}", got.Body)
	}
}

func TestPagingThreePages(t *testing.T) {
	var f *fakeEXO
	f = newFake(t, func(n int, c call) reply {
		switch c.Query {
		case "":
			return ok(f.srv.URL+invokePath+"?$skiptoken=p2", 1, 2, 3)
		case "$skiptoken=p2":
			// A relative link resolves against the endpoint.
			return ok(invokePath+"?$skiptoken=p3", 4, 5, 6)
		case "$skiptoken=p3":
			return ok("", 7, 8)
		}
		return reply{Status: 400, Body: "unexpected " + c.Query}
	})
	c, _ := newTestClient(t, f, nil)
	rows, res, err := collect(t, c, "Get-Recipient", map[string]any{"ResultSize": "Unlimited"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"1", "2", "3", "4", "5", "6", "7", "8"}; !reflect.DeepEqual(rows, want) {
		t.Errorf("rows = %v, want %v", rows, want)
	}
	if !res.Complete || res.Objects != 8 || res.Requests != 3 {
		t.Errorf("complete %v objects %d requests %d, want true 8 3", res.Complete, res.Objects, res.Requests)
	}
	calls := f.recorded()
	for i, cl := range calls {
		if cl.Body != calls[0].Body || cl.Method != http.MethodPost || cl.Header.Get("Authorization") != "Bearer "+testToken {
			t.Errorf("page %d: %s with body %s, want POST of the first body", i+1, cl.Method, cl.Body)
		}
	}
}

func TestPageFailingAfterRetriesIsIncomplete(t *testing.T) {
	var f *fakeEXO
	f = newFake(t, func(n int, c call) reply {
		if c.Query == "" {
			return ok(f.srv.URL+invokePath+"?$skiptoken=p2", "a", "b")
		}
		return reply{Status: http.StatusServiceUnavailable, Body: "backend down"}
	})
	c, clock := newTestClient(t, f, nil)
	rows, res, err := collect(t, c, "Get-Recipient", nil)
	if err == nil {
		t.Fatal("Invoke = nil error")
	}
	if res.Complete {
		t.Error("Complete = true after a failed page")
	}
	if !errors.Is(err, retry.ErrRetryable) || !strings.Contains(err.Error(), "gave up after 4 attempts") {
		t.Errorf("err = %v, want retryable, gave up after 4 attempts", err)
	}
	if !reflect.DeepEqual(rows, []string{`"a"`, `"b"`}) || res.Objects != 2 {
		t.Errorf("rows = %v (objects %d), want the first page once", rows, res.Objects)
	}
	if res.Requests != 5 || len(f.recorded()) != 5 {
		t.Errorf("requests = %d (server saw %d), want 1 + 4", res.Requests, len(f.recorded()))
	}
	if w := clock.recorded(); !reflect.DeepEqual(w, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}) {
		t.Errorf("waits = %v", w)
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	f := newFake(t, func(n int, c call) reply {
		switch n {
		case 0:
			return reply{Status: http.StatusTooManyRequests, Header: map[string]string{"Retry-After": "7"}}
		case 1:
			return reply{Status: http.StatusServiceUnavailable, Header: map[string]string{"Retry-After": clockNow.Add(30 * time.Second).Format(http.TimeFormat)}}
		case 2:
			return reply{Status: http.StatusGatewayTimeout} // no header: backoff(3)
		}
		return ok("", "done")
	})
	var observed []string
	var mu sync.Mutex
	c, clock := newTestClient(t, f, func(cfg *Config) {
		cfg.Observe = func(op, result string, d time.Duration) {
			mu.Lock()
			observed = append(observed, op+"="+result)
			mu.Unlock()
		}
	})
	rows, res, err := collect(t, c, "Get-AcceptedDomain", nil)
	if err != nil || !res.Complete || len(rows) != 1 || res.Requests != 4 {
		t.Fatalf("rows %v complete %v requests %d err %v", rows, res.Complete, res.Requests, err)
	}
	want := []time.Duration{7 * time.Second, 30 * time.Second, 400 * time.Millisecond}
	if got := clock.recorded(); !reflect.DeepEqual(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
	wantObs := []string{"Get-AcceptedDomain=throttled", "Get-AcceptedDomain=retryable", "Get-AcceptedDomain=retryable", "Get-AcceptedDomain=success"}
	if !reflect.DeepEqual(observed, wantObs) {
		t.Errorf("observed = %v, want %v", observed, wantObs)
	}
}

func TestRetryAfterBeyondPolicyGivesUp(t *testing.T) {
	f := newFake(t, func(int, call) reply {
		return reply{Status: http.StatusTooManyRequests, Header: map[string]string{"Retry-After": "3600"}}
	})
	c, clock := newTestClient(t, f, nil)
	_, res, err := collect(t, c, "Get-Recipient", nil)
	if err == nil || res.Complete || res.Requests != 1 {
		t.Fatalf("err %v complete %v requests %d, want an error after one request", err, res.Complete, res.Requests)
	}
	if len(clock.recorded()) != 0 {
		t.Errorf("waited %v", clock.recorded())
	}
}

func TestBoundedAttempts(t *testing.T) {
	for _, max := range []int{1, 3, 6} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			f := newFake(t, func(int, call) reply { return reply{Status: http.StatusInternalServerError, Body: "oops"} })
			c, _ := newTestClient(t, f, func(cfg *Config) { cfg.Retry.MaxAttempts = max })
			_, res, err := collect(t, c, "Get-Recipient", nil)
			if err == nil || res.Complete {
				t.Fatalf("err %v complete %v", err, res.Complete)
			}
			if got := len(f.recorded()); got != max || res.Requests != max {
				t.Errorf("server saw %d requests, result says %d, want %d", got, res.Requests, max)
			}
		})
	}
}

func TestNoRetryOnTerminalConflictNotFound(t *testing.T) {
	cases := []struct {
		name  string
		rep   reply
		class retry.Class
	}{
		{"unauthorized", reply{Status: 401, Body: `{"error":{"code":"Unauthorized","message":"invalid audience"}}`}, retry.Terminal},
		{"forbidden", reply{Status: 403}, retry.Terminal},
		{"conflict", exoError(400, "Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException", "The object 'CN=sales' already exists."), retry.Conflict},
		{"accepted domain", exoError(400, "Microsoft.Exchange.Data.DataValidationException", "The address 'sales@fabrikam.com' isn't an accepted domain."), retry.Terminal},
		{"dir synced", exoError(400, "Microsoft.Exchange.Configuration.Tasks.TaskException", "The action 'Set-DistributionGroup', 'DisplayName', can't be performed on the object 'sales' because the object is being synchronized from your on-premises organization."), retry.Terminal},
		{"not found", exoError(404, "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException", "The operation couldn't be performed because object 'sales' couldn't be found on 'AM0PR01A001DC01.EURPR01A001.prod.outlook.com'."), retry.NotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(int, call) reply { return tc.rep })
			c, clock := newTestClient(t, f, nil)
			_, res, err := collect(t, c, "Set-DistributionGroup", map[string]any{"Identity": "sales@contoso.com", "DisplayName": "Sales"})
			if err == nil || res.Complete {
				t.Fatalf("err %v complete %v", err, res.Complete)
			}
			if res.Requests != 1 || len(f.recorded()) != 1 || len(clock.recorded()) != 0 {
				t.Errorf("requests %d, waits %v: want one request, no wait", res.Requests, clock.recorded())
			}
			if got := retry.ClassOf(err); got != tc.class {
				t.Errorf("class = %v, want %v (%v)", got, tc.class, err)
			}
			for _, w := range []string{"Set-DistributionGroup", `"sales@contoso.com"`} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error %q leaks the token", err)
			}
		})
	}
}

func TestNextLinkLoopIsAnError(t *testing.T) {
	var f *fakeEXO
	f = newFake(t, func(n int, c call) reply {
		if n > 10 {
			return reply{Status: 500, Body: "runaway"}
		}
		if c.Query == "" {
			return ok(f.srv.URL+invokePath+"?$skiptoken=A", n)
		}
		return ok(f.srv.URL+invokePath+"?$skiptoken=A", n) // repeats itself
	})
	c, _ := newTestClient(t, f, nil)
	_, res, err := collect(t, c, "Get-Recipient", nil)
	if err == nil || res.Complete || !errors.Is(err, retry.ErrTerminal) || !strings.Contains(err.Error(), "nextLink") {
		t.Fatalf("err %v complete %v, want a terminal nextLink error", err, res.Complete)
	}
	if res.Requests != 2 {
		t.Errorf("requests = %d, want 2", res.Requests)
	}
}

func TestNextLinkToAnotherHostIsRefused(t *testing.T) {
	f := newFake(t, func(n int, c call) reply {
		return ok("https://evil.example.com"+invokePath+"?$skiptoken=2", 1)
	})
	c, _ := newTestClient(t, f, nil)
	_, res, err := collect(t, c, "Get-Recipient", nil)
	if err == nil || res.Complete || res.Objects != 1 || !errors.Is(err, retry.ErrTerminal) {
		t.Fatalf("err %v complete %v objects %d", err, res.Complete, res.Objects)
	}
	if !strings.Contains(err.Error(), "evil.example.com") {
		t.Errorf("error %q does not name the host", err)
	}
}

func TestCallbackErrorStops(t *testing.T) {
	var f *fakeEXO
	f = newFake(t, func(n int, c call) reply { return ok(f.srv.URL+invokePath+"?$skiptoken=2", 1, 2) })
	c, _ := newTestClient(t, f, nil)
	stop := errors.New("stop")
	res, err := c.Invoke(context.Background(), "Get-Recipient", nil, func(json.RawMessage) error { return stop })
	if !errors.Is(err, stop) || res.Complete || res.Objects != 0 || len(f.recorded()) != 1 {
		t.Errorf("res %+v err %v calls %d", res, err, len(f.recorded()))
	}
}

func TestTokenErrorIsTerminalAndNotRetried(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok("") })
	c, _ := newTestClient(t, f, func(cfg *Config) {
		cfg.Token = func(context.Context) (string, error) { return "", errors.New("AADSTS7000215: invalid client secret") }
	})
	_, res, err := collect(t, c, "Get-Recipient", nil)
	if !errors.Is(err, retry.ErrTerminal) || res.Requests != 1 || len(f.recorded()) != 0 {
		t.Errorf("err %v attempts %d server calls %d", err, res.Requests, len(f.recorded()))
	}
}

func TestTransportErrorClasses(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok("") })
	f.srv.Close() // nothing listens any more
	c, clock := newTestClient(t, f, nil)
	_, res, err := collect(t, c, "Get-Recipient", nil)
	if !errors.Is(err, retry.ErrRetryable) || res.Requests != 4 || len(clock.recorded()) != 3 {
		t.Errorf("read: err %v attempts %d", err, res.Requests)
	}
	_, res, err = collect(t, c, "Set-DistributionGroup", map[string]any{"Identity": "x"})
	if !errors.Is(err, retry.ErrConflict) || res.Requests != 1 || !strings.Contains(err.Error(), "outcome unknown") {
		t.Errorf("write: err %v attempts %d, want one conflict", err, res.Requests)
	}
}

func TestCancelDuringWait(t *testing.T) {
	f := newFake(t, func(int, call) reply {
		return reply{Status: http.StatusTooManyRequests, Header: map[string]string{"Retry-After": "30"}}
	})
	clock := &fakeClock{waiting: make(chan struct{})}
	c, _ := newTestClient(t, f, func(cfg *Config) { cfg.Retry = testPolicy(clock) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		complete bool
		err      error
	}
	done := make(chan result, 1)
	go func() {
		res, err := c.Invoke(ctx, "Get-Recipient", nil, func(json.RawMessage) error { return nil })
		done <- result{res.Complete, err}
	}()
	select {
	case <-clock.waiting:
	case <-time.After(5 * time.Second):
		t.Fatal("Invoke never waited")
	}
	start := time.Now()
	cancel()
	select {
	case r := <-done:
		if time.Since(start) > time.Second {
			t.Errorf("took %v to notice cancellation", time.Since(start))
		}
		if !errors.Is(r.err, context.Canceled) || r.complete {
			t.Errorf("err %v complete %v, want context.Canceled, incomplete", r.err, r.complete)
		}
		if got := clock.recorded(); !reflect.DeepEqual(got, []time.Duration{30 * time.Second}) {
			t.Errorf("waits = %v, want [30s]", got)
		}
		if len(f.recorded()) != 1 {
			t.Errorf("server saw %d requests, want 1", len(f.recorded()))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Invoke did not return after cancel")
	}
}

// A write whose request failed with a 5xx other than 503 may have been
// applied: it is not retried, and the caller is told to re-read.
func TestWriteNotRetriedOnServerFailure(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			f := newFake(t, func(int, call) reply {
				return reply{Status: status, Header: map[string]string{"Retry-After": "1"}, Body: "<html>upstream timed out</html>"}
			})
			c, clock := newTestClient(t, f, nil)
			_, err := c.NewDistributionGroup(context.Background(), cloud.NewDistributionGroup{Name: "Sales", Alias: "sales"})
			if got := len(f.recorded()); got != 1 {
				t.Errorf("server saw %d requests, want exactly 1", got)
			}
			if len(clock.recorded()) != 0 {
				t.Errorf("waited %v", clock.recorded())
			}
			if !errors.Is(err, retry.ErrConflict) || retry.ClassOf(err) != retry.Conflict {
				t.Fatalf("err = %v (class %v), want a conflict", err, retry.ClassOf(err))
			}
			for _, w := range []string{"outcome unknown; re-read before retrying", "New-DistributionGroup", `"Sales"`, fmt.Sprintf("HTTP %d", status)} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// 429 and 503 mean the request was not processed: writes retry on them.
func TestWriteRetriedWhenNotProcessed(t *testing.T) {
	f := newFake(t, func(n int, c call) reply {
		switch n {
		case 0:
			return reply{Status: http.StatusTooManyRequests, Header: map[string]string{"Retry-After": "2"}}
		case 1:
			return reply{Status: http.StatusServiceUnavailable}
		}
		return ok("", map[string]any{"Name": "Sales"})
	})
	c, clock := newTestClient(t, f, nil)
	g, err := c.NewDistributionGroup(context.Background(), cloud.NewDistributionGroup{Name: "Sales"})
	if err != nil || g.Name != "Sales" {
		t.Fatalf("NewDistributionGroup = %+v, %v", g, err)
	}
	if got := len(f.recorded()); got != 3 {
		t.Errorf("server saw %d requests, want 3", got)
	}
	if w := clock.recorded(); !reflect.DeepEqual(w, []time.Duration{2 * time.Second, 200 * time.Millisecond}) {
		t.Errorf("waits = %v", w)
	}
}

func TestReadRetriedOnGatewayTimeout(t *testing.T) {
	f := newFake(t, func(n int, c call) reply {
		if n == 0 {
			return reply{Status: http.StatusGatewayTimeout, Body: "<html>gateway timeout</html>"}
		}
		return ok("", map[string]any{"Identity": "alice", "PrimarySmtpAddress": "alice@contoso.com"})
	})
	c, clock := newTestClient(t, f, nil)
	r, err := c.GetRecipient(context.Background(), "alice")
	if err != nil || r.PrimarySMTPAddress != "alice@contoso.com" {
		t.Fatalf("GetRecipient = %+v, %v", r, err)
	}
	calls := f.recorded()
	if len(calls) != 2 || calls[0].Cmdlet != "Get-Recipient" || calls[1].Cmdlet != "Get-Recipient" {
		t.Errorf("calls = %d, want Get-Recipient twice", len(calls))
	}
	if w := clock.recorded(); !reflect.DeepEqual(w, []time.Duration{100 * time.Millisecond}) {
		t.Errorf("waits = %v, want one backoff", w)
	}
}
