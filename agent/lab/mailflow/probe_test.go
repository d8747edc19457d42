package mailflow

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// stepClock moves on by the wait asked for, at once.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *stepClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- now
	return ch
}

func TestProbeLongestOutage(t *testing.T) {
	t0 := time.Date(2025, 7, 5, 18, 0, 0, 0, time.UTC)
	clk := &stepClock{now: t0}
	const interval = 500 * time.Millisecond
	done := make(chan struct{})
	var once sync.Once
	deliverable := Resolution{Deliverable: []Recipient{{ID: "x"}}}
	resolve := func(ctx context.Context, side Side, addr string) (Resolution, error) {
		el := clk.Now().Sub(t0)
		if el >= 10*time.Second {
			once.Do(func() { close(done) })
			<-ctx.Done()
			return Resolution{}, ctx.Err()
		}
		switch {
		case addr == "a@x" && side == OnPremises && el >= 2*time.Second && el < 5*time.Second:
			return Resolution{}, nil // three seconds reaching nobody
		case addr == "a@x" && side == OnPremises && el >= 6*time.Second && el < 7*time.Second:
			return Resolution{}, nil // one more second
		case addr == "a@x" && side == Cloud && el >= 3*time.Second && el < 4*time.Second:
			return Resolution{}, errors.New("throttled") // unknown: neither begins nor ends a window
		case addr == "b@x" && side == Cloud && el >= 8*time.Second:
			return Resolution{}, nil // still reaching nobody at the end
		}
		return deliverable, nil
	}
	p := StartProbe(context.Background(), resolve, []string{"a@x", "b@x"}, interval, clk)
	<-done
	rep := p.Stop()
	if rep.Rounds < 20 {
		t.Errorf("%d rounds", rep.Rounds)
	}
	check := func(addr string, side Side, longest time.Duration, start time.Duration, errs int) {
		t.Helper()
		ar, ok := rep.Find(addr, side)
		if !ok {
			t.Fatalf("no report for %s %s", addr, side)
		}
		if ar.LongestOutage != longest || (longest > 0 && !ar.OutageStart.Equal(t0.Add(start))) || ar.Errors != errs {
			t.Errorf("%s %s: longest %s from %s, %d errors; want %s from %s, %d errors", addr, side, ar.LongestOutage,
				ar.OutageStart.Sub(t0), ar.Errors, longest, start, errs)
		}
	}
	check("a@x", OnPremises, 3*time.Second, 2*time.Second, 0)
	check("a@x", Cloud, 0, 0, 2)
	check("b@x", OnPremises, 0, 0, 0)
	// Open at the end: counted to Stop.
	if ar, _ := rep.Find("b@x", Cloud); ar.LongestOutage < 2*time.Second || ar.Undelivered < 4 {
		t.Errorf("b@x cloud: %+v", ar)
	}
}
