package retry

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/internal/clock"
)

// Policy bounds a retry loop. The zero value is not useful; start from
// DefaultPolicy.
type Policy struct {
	// MaxAttempts counts the first try: 5 means one try and four retries.
	MaxAttempts int
	// Initial is the first backoff; each further one doubles up to Max.
	Initial time.Duration
	// Max caps each backoff; zero or less means no cap.
	Max time.Duration
	// MaxRetryAfter caps a server's Retry-After: a server asking for more
	// makes Do give up rather than sleep past what the caller budgeted.
	MaxRetryAfter time.Duration
	// Jitter is the fraction (0..1) of each computed backoff that is
	// randomised, so that many clients do not retry in step.
	Jitter float64
	// Clock times the waits; nil means the system clock.
	Clock clock.Clock
	// Rand returns a float in [0,1); nil uses math/rand/v2.
	Rand func() float64
	// OnRetry, when set, is called before each wait (for logs and metrics).
	OnRetry func(attempt int, wait time.Duration, err error)
}

// DefaultPolicy is five attempts, 500ms doubling to 30s, Retry-After honoured
// up to 2 minutes, 20% jitter.
func DefaultPolicy() Policy {
	return Policy{
		MaxAttempts:   5,
		Initial:       500 * time.Millisecond,
		Max:           30 * time.Second,
		MaxRetryAfter: 2 * time.Minute,
		Jitter:        0.2,
	}
}

// Backoff returns the wait before retry number n (1-based), without
// Retry-After.
func (p Policy) Backoff(n int) time.Duration {
	d := p.Initial
	for i := 1; i < n && (p.Max <= 0 || d < p.Max); i++ {
		d *= 2
	}
	if p.Max > 0 && d > p.Max {
		d = p.Max
	}
	if p.Jitter > 0 {
		r := p.Rand
		if r == nil {
			r = rand.Float64
		}
		// Spread over [d*(1-j), d]: never wait longer than the cap.
		d -= time.Duration(float64(d) * p.Jitter * r())
	}
	return d
}

// Do runs fn until it succeeds, fails with an error that is not Retryable,
// the attempts run out, or ctx ends. The error returned on exhaustion wraps
// the last failure and says how many attempts were made. A Retry-After
// longer than MaxRetryAfter ends the loop at once with that failure.
func Do(ctx context.Context, p Policy, op string, fn func(ctx context.Context) error) error {
	if p.MaxAttempts < 1 {
		p.MaxAttempts = 1
	}
	clk := clock.Or(p.Clock)
	var err error
	for attempt := 1; ; attempt++ {
		if cerr := ctx.Err(); cerr != nil {
			if err != nil {
				return fmt.Errorf("%s: %w (last error: %v)", op, cerr, err)
			}
			return fmt.Errorf("%s: %w", op, cerr)
		}
		err = fn(ctx)
		if err == nil {
			return nil
		}
		if ClassOf(err) != Retryable {
			return err
		}
		if attempt >= p.MaxAttempts {
			return fmt.Errorf("%s: gave up after %d attempts: %w", op, attempt, err)
		}
		wait := p.Backoff(attempt)
		if ra := RetryAfterOf(err); ra > 0 {
			if p.MaxRetryAfter > 0 && ra > p.MaxRetryAfter {
				return fmt.Errorf("%s: server asked to wait %s, more than the %s allowed: %w", op, ra, p.MaxRetryAfter, err)
			}
			wait = ra
		}
		if p.OnRetry != nil {
			p.OnRetry(attempt, wait, err)
		}
		if serr := Sleep(ctx, clk, wait); serr != nil {
			return fmt.Errorf("%s: %w (last error: %v)", op, serr, err)
		}
	}
}

// Sleep waits d on c (nil: the system clock), or returns ctx's error as
// soon as ctx ends.
func Sleep(ctx context.Context, c clock.Clock, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-clock.Or(c).After(d):
		return nil
	}
}

// ParseRetryAfter reads an HTTP Retry-After value (RFC 9110 §10.2.3):
// delay seconds (fractions tolerated: Exchange Online sends them) or an
// HTTP date, relative to now. Missing, malformed, zero and past values are
// 0, which lets the policy's backoff apply; absurd values are kept absurd
// (so that MaxRetryAfter refuses them) without overflowing. It is the one
// Retry-After parser of every hybridsync client.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || math.IsNaN(secs) {
			return 0
		}
		return time.Duration(min(secs, 1e7) * float64(time.Second))
	}
	// The three date formats HTTP/1.1 recipients accept (RFC 9110
	// §5.6.7), without net/http: this package is linked by pure ones.
	for _, layout := range []string{"Mon, 02 Jan 2006 15:04:05 GMT", time.RFC850, time.ANSIC} {
		if t, err := time.Parse(layout, v); err == nil {
			if d := t.Sub(now); d > 0 {
				return d
			}
			return 0
		}
	}
	return 0
}
