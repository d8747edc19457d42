package exo

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"
)

// The single-member calls run MemberConcurrency at a time: never more,
// and (with enough members) that many.
func TestMemberWritesBoundedConcurrency(t *testing.T) {
	for _, limit := range []int{1, 3, 8} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			var (
				mu             sync.Mutex
				inFlight, peak int
				adds           = map[string]int{}
			)
			full := make(chan struct{})
			var once sync.Once
			f := memberFake(t, nil, func(c call) reply {
				if c.Cmdlet != "Add-DistributionGroupMember" {
					return ok("")
				}
				mu.Lock()
				inFlight++
				peak = max(peak, inFlight)
				adds[fmt.Sprint(c.Params["Member"])]++
				if inFlight == limit {
					once.Do(func() { close(full) })
				}
				mu.Unlock()
				// Hold each call until the limit was reached once, so
				// that a client running fewer at once shows as a peak
				// below the limit (bounded, should it never come).
				select {
				case <-full:
				case <-time.After(10 * time.Second):
				}
				mu.Lock()
				inFlight--
				mu.Unlock()
				return ok("")
			})
			c, _ := newTestClient(t, f, func(cfg *Config) { cfg.MemberChunk = 5; cfg.MemberConcurrency = limit })
			var members []string
			for i := range 60 {
				members = append(members, fmt.Sprintf("m%03d", i))
			}
			if err := c.ReplaceGroupMembers(context.Background(), "dl", members); err != nil {
				t.Fatal(err)
			}
			if peak != limit {
				t.Errorf("peak concurrent adds %d, want %d", peak, limit)
			}
			if len(adds) != 55 {
				t.Errorf("%d members added one by one, want 55 (60 less the 5 of the first call)", len(adds))
			}
			for m, n := range adds {
				if n != 1 {
					t.Errorf("%s added %d times", m, n)
				}
			}
			if w := unorderedWrites(t, f); w[0] != `Update-DistributionGroupMember ["m000","m001","m002","m003","m004"]` {
				t.Errorf("first write %s, want the first chunk in one Update", w[0])
			}
		})
	}
}

func TestMemberConcurrencyValidated(t *testing.T) {
	f := memberFake(t, nil, nil)
	for _, n := range []int{-1, MaxMemberConcurrency + 1} {
		cfg := Config{BaseURL: f.srv.URL, TenantID: testTenant, InitialDomain: testDomain,
			Token: func(context.Context) (string, error) { return testToken, nil }, MemberConcurrency: n}
		if _, err := New(cfg); err == nil {
			t.Errorf("MemberConcurrency %d accepted", n)
		}
	}
}

// A throttled member call holds the client's other requests back for the
// Retry-After it was given, once each; the throttled call itself waits
// once. Every member ends added exactly once.
func TestThrottleHoldsOtherRequests(t *testing.T) {
	var mu sync.Mutex
	adds := map[string]int{}
	throttled := false
	f := memberFake(t, nil, func(c call) reply {
		if c.Cmdlet != "Add-DistributionGroupMember" {
			return ok("")
		}
		mu.Lock()
		defer mu.Unlock()
		if !throttled {
			throttled = true
			return reply{Status: http.StatusTooManyRequests, Header: map[string]string{"Retry-After": "7"}}
		}
		adds[fmt.Sprint(c.Params["Member"])]++
		return ok("")
	})
	c, clock := newTestClient(t, f, func(cfg *Config) { cfg.MemberChunk = 1; cfg.MemberConcurrency = 1 })
	if err := c.ReplaceGroupMembers(context.Background(), "dl", []string{"a", "b", "c"}); err != nil {
		t.Fatal(err)
	}
	// The fake clock does not move, so the hold is still in force for
	// the next request (member c): it waits once, as would any request
	// sent during the hold; the throttled request (b) waited its own
	// Retry-After only.
	if got, want := clock.recorded(), []time.Duration{7 * time.Second, 7 * time.Second}; !reflect.DeepEqual(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
	if !reflect.DeepEqual(adds, map[string]int{"b": 1, "c": 1}) {
		t.Errorf("adds %v, want b and c once each", adds)
	}
}
