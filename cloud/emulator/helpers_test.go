package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/cloud"
)

const (
	testTenant = "11111111-2222-4333-8444-555555555555"
	testClient = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
	testSecret = "s3cret~value"
	testDomain = "contoso.onmicrosoft.com"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type harness struct {
	t     *testing.T
	e     *Emulator
	srv   *httptest.Server
	clock *fakeClock
	graph string // Graph token
	exo   string // Exchange token
}

func newHarness(t *testing.T, mutate ...func(*Config)) *harness {
	t.Helper()
	clock := &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	cfg := Config{
		TenantID: testTenant, ClientID: testClient, ClientSecret: testSecret,
		InitialDomain: testDomain, AcceptedDomains: []string{"contoso.com"},
		Clock: clock.Now, Rand: rand.New(rand.NewPCG(1, 2)),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewTLSServer(e.Handler())
	t.Cleanup(srv.Close)
	return &harness{t: t, e: e, srv: srv, clock: clock, graph: e.IssueToken(AudienceGraph), exo: e.IssueToken(AudienceExchange)}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON (status %d): %v: %s", r.status, err, r.body)
	}
	return m
}

func (r resp) errCode(t *testing.T) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (h *harness) do(method, path, token string, body any, hdr map[string]string) resp {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case url.Values:
		rd = strings.NewReader(b.Encode())
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	u := path
	if !strings.HasPrefix(u, "https://") {
		u = h.srv.URL + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if _, ok := body.(url.Values); ok {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (h *harness) get(path string, hdr ...map[string]string) resp {
	h.t.Helper()
	var m map[string]string
	if len(hdr) > 0 {
		m = hdr[0]
	}
	return h.do(http.MethodGet, path, h.graph, nil, m)
}

// cmdlet runs an InvokeCommand and returns the response.
func (h *harness) cmdlet(name string, params map[string]any, hdr ...map[string]string) resp {
	h.t.Helper()
	m := map[string]string{"X-AnchorMailbox": "UPN:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@" + testDomain}
	if len(hdr) > 0 {
		for k, v := range hdr[0] {
			m[k] = v
		}
	}
	if params == nil {
		params = map[string]any{}
	}
	return h.do(http.MethodPost, "/adminapi/beta/"+testTenant+"/InvokeCommand", h.exo,
		map[string]any{"CmdletInput": map[string]any{"CmdletName": name, "Parameters": params}}, m)
}

// exoMessage returns the details[0].message of an Exchange error.
func exoMessage(t *testing.T, r resp) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	d, _ := e["details"].([]any)
	if len(d) == 0 {
		return ""
	}
	m, _ := d[0].(map[string]any)["message"].(string)
	return m
}

func values(t *testing.T, r resp) []map[string]any {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	raw, _ := r.json(t)["value"].([]any)
	out := make([]map[string]any, len(raw))
	for i, v := range raw {
		out[i], _ = v.(map[string]any)
	}
	return out
}

// seedUsers creates n synced users u0000..; returns their ids in order.
func (h *harness) seedUsers(n int, mutate func(i int, o *Object)) []string {
	h.t.Helper()
	ids := make([]string, 0, n)
	err := h.e.Update(func(tx *Tx) error {
		for i := 0; i < n; i++ {
			o := &Object{
				Kind: cloud.KindUser, DisplayName: fmt.Sprintf("User %04d", i),
				UserPrincipalName: fmt.Sprintf("u%04d@contoso.com", i), MailNickname: fmt.Sprintf("u%04d", i),
				Mail: fmt.Sprintf("u%04d@contoso.com", i), ProxyAddresses: []string{fmt.Sprintf("SMTP:u%04d@contoso.com", i)},
				OnPremisesSyncEnabled: true, OnPremisesImmutableID: fmt.Sprintf("imm%04d", i),
				CreatedDateTime: h.clock.Now().Add(-time.Hour),
			}
			if mutate != nil {
				mutate(i, o)
			}
			s, err := tx.Put(o)
			if err != nil {
				return err
			}
			ids = append(ids, s.ID)
		}
		return nil
	})
	if err != nil {
		h.t.Fatalf("seed: %v", err)
	}
	return ids
}

func (h *harness) put(o *Object) *Object {
	h.t.Helper()
	var s *Object
	if err := h.e.Update(func(tx *Tx) error {
		var err error
		s, err = tx.Put(o)
		return err
	}); err != nil {
		h.t.Fatalf("put: %v", err)
	}
	return s
}

// collect follows @odata.nextLink from path and returns every item and
// the number of pages.
func (h *harness) collect(path string, hdr map[string]string) ([]map[string]any, int, map[string]any) {
	h.t.Helper()
	var all []map[string]any
	pages := 0
	var last map[string]any
	for next := path; next != ""; pages++ {
		r := h.get(next, hdr)
		all = append(all, values(h.t, r)...)
		last = r.json(h.t)
		next, _ = last["@odata.nextLink"].(string)
		if pages > 1000 {
			h.t.Fatal("too many pages")
		}
	}
	return all, pages, last
}
