package emulator

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestThrottleEverything(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Faults = Faults{ThrottleRate: 1, RetryAfter: 1500 * time.Millisecond} })
	for _, r := range []resp{h.get("/v1.0/users"), h.cmdlet("Get-AcceptedDomain", nil)} {
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "2" {
			t.Errorf("status %d Retry-After %q", r.status, r.header.Get("Retry-After"))
		}
	}
	// Token requests are never throttled.
	r := h.do(http.MethodPost, "/"+testTenant+"/oauth2/v2.0/token", "", map[string]any{}, nil)
	if r.status == http.StatusTooManyRequests {
		t.Error("token endpoint throttled")
	}
	// $batch items are throttled one by one.
	b := h.do(http.MethodPost, "/v1.0/$batch", h.graph, nil, nil)
	if b.status != http.StatusTooManyRequests {
		t.Errorf("batch itself: %d", b.status)
	}
	st := h.e.Stats()
	if st.Throttled["graph.list"] != 1 || st.Throttled["exo"] != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestThrottleFractionAndBatchItems(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Rand = nil // the default source, seeded with Faults.Seed
		c.Faults = Faults{ThrottleRate: 0.3, UnavailableRate: 0.1, Seed: 42}
	})
	e := h.e
	const n = 2000
	counts := map[int]int{}
	for i := 0; i < n; i++ {
		counts[h.get("/v1.0/users").status]++
	}
	if f := float64(counts[429]) / n; f < 0.26 || f > 0.34 {
		t.Errorf("throttled fraction %.3f, want about 0.3 (%v)", f, counts)
	}
	if f := float64(counts[503]) / n; f < 0.07 || f > 0.13 {
		t.Errorf("unavailable fraction %.3f, want about 0.1 (%v)", f, counts)
	}
	st := e.Stats()
	if st.Requests["graph.list"] != n || int(st.Throttled["graph.list"]) != counts[429] || int(st.Unavailable["graph.list"]) != counts[503] {
		t.Errorf("stats %+v vs counts %v", st, counts)
	}
	// Per-item throttling inside $batch.
	e.SetFaults(Faults{ThrottleRate: 0.5})
	var reqs []map[string]any
	for i := 0; i < 20; i++ {
		reqs = append(reqs, map[string]any{"id": fmt.Sprint(i), "method": "GET", "url": "/users"})
	}
	itemStatus := map[float64]int{}
	for tries := 0; tries < 20; tries++ {
		r := h.do(http.MethodPost, "/v1.0/$batch", h.graph, map[string]any{"requests": reqs}, nil)
		if r.status != 200 {
			continue
		}
		for _, x := range r.json(t)["responses"].([]any) {
			m := x.(map[string]any)
			itemStatus[m["status"].(float64)]++
			if m["status"].(float64) == 429 {
				if hd, _ := m["headers"].(map[string]any); hd["Retry-After"] == nil {
					t.Errorf("throttled item without Retry-After: %v", m)
				}
			}
		}
		break
	}
	if itemStatus[429] == 0 || itemStatus[200] == 0 {
		t.Errorf("batch item statuses = %v", itemStatus)
	}
}

func TestFaultsDeterministic(t *testing.T) {
	run := func() []int {
		h := newHarness(t, func(c *Config) { c.Rand = nil; c.Faults = Faults{ThrottleRate: 0.5, Seed: 7} })
		var out []int
		for i := 0; i < 50; i++ {
			out = append(out, h.get("/v1.0/users").status)
		}
		return out
	}
	a, b := run(), run()
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("same seed, different faults:\n%v\n%v", a, b)
	}
}

func TestLatency(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Faults.Latency = 50 * time.Millisecond })
	start := time.Now()
	h.get("/v1.0/users")
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("request took %v, want >= 50ms", d)
	}
}
