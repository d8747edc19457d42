package exo

import (
	"context"
	"sync"
	"time"

	"github.com/hybridsync/hybridsync/internal/retry"
)

// throttleGate holds every request of a Client back while the service has
// asked one of them to wait: when several member calls run at once and
// one is throttled, the others would otherwise keep sending requests the
// service refuses, each adding to the tenant's throttling budget.
type throttleGate struct {
	mu    sync.Mutex
	until time.Time
}

// holdForThrottle makes requests wait d from now (the wait a throttled
// request was told to take), unless a longer hold is already in place,
// and returns the end of the hold now in place.
func (c *Client) holdForThrottle(d time.Duration) time.Time {
	t := c.policy.Clock.Now().Add(d)
	c.throttle.mu.Lock()
	defer c.throttle.mu.Unlock()
	if t.After(c.throttle.until) {
		c.throttle.until = t
	}
	return c.throttle.until
}

// waitForThrottle waits out the current hold unless it ends no later than
// *waited (a hold this request already waited for), bounded by the
// policy's MaxRetryAfter; it returns ctx's error as soon as ctx ends.
func (c *Client) waitForThrottle(ctx context.Context, waited *time.Time) error {
	c.throttle.mu.Lock()
	until := c.throttle.until
	c.throttle.mu.Unlock()
	if !until.After(*waited) {
		return nil
	}
	d := until.Sub(c.policy.Clock.Now())
	*waited = until
	if d <= 0 {
		return nil
	}
	if max := c.policy.MaxRetryAfter; max > 0 && d > max {
		d = max
	}
	return retry.Sleep(ctx, c.policy.Clock, d)
}
