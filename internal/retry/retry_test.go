package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/internal/clock"
)

// fakeClock records every wait Do asks for. When fire is true After fires at
// once; otherwise its channel never fires (to test cancellation mid-wait).
type fakeClock struct {
	mu    sync.Mutex
	waits []time.Duration
	fire  bool
	// waiting is closed on the first call to After (if non-nil).
	waiting chan struct{}
	once    sync.Once
}

func newFiringClock() *fakeClock { return &fakeClock{fire: true} }

func (c *fakeClock) Now() time.Time { return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC) }

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	if c.waiting != nil {
		c.once.Do(func() { close(c.waiting) })
	}
	ch := make(chan time.Time, 1)
	if c.fire {
		ch <- c.Now().Add(d)
	}
	return ch
}

func (c *fakeClock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// testPolicy is deterministic: no jitter unless a test sets it.
func testPolicy(clock clock.Clock) Policy {
	return Policy{
		MaxAttempts:   4,
		Initial:       100 * time.Millisecond,
		Max:           time.Second,
		MaxRetryAfter: time.Minute,
		Jitter:        0,
		Clock:         clock,
		Rand:          func() float64 { return 0.5 },
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDoRetryableGivesUpAfterMaxAttempts(t *testing.T) {
	for _, max := range []int{1, 2, 4, 6} {
		t.Run(fmt.Sprintf("max=%d", max), func(t *testing.T) {
			clock := newFiringClock()
			p := testPolicy(clock)
			p.MaxAttempts = max
			var retries []int
			p.OnRetry = func(attempt int, wait time.Duration, err error) {
				retries = append(retries, attempt)
				if ClassOf(err) != Retryable {
					t.Errorf("OnRetry got class %v, want retryable", ClassOf(err))
				}
			}
			cause := errors.New("server busy")
			calls := 0
			err := Do(context.Background(), p, "test.op", func(context.Context) error {
				calls++
				return New("ldap.search", Retryable, cause)
			})
			if err == nil {
				t.Fatal("Do returned nil, want an error")
			}
			if calls != max {
				t.Errorf("fn called %d times, want %d", calls, max)
			}
			want := fmt.Sprintf("gave up after %d attempts", max)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
			if !strings.HasPrefix(err.Error(), "test.op: ") {
				t.Errorf("error %q does not start with the op name", err)
			}
			if !errors.Is(err, ErrRetryable) {
				t.Errorf("errors.Is(err, ErrRetryable) = false for %v", err)
			}
			if !errors.Is(err, cause) {
				t.Errorf("error does not wrap the cause: %v", err)
			}
			if ClassOf(err) != Retryable {
				t.Errorf("ClassOf = %v, want retryable", ClassOf(err))
			}
			// Waits between attempts: Backoff(1..max-1), no jitter.
			var wantWaits []time.Duration
			d := 100 * time.Millisecond
			for i := 1; i < max; i++ {
				wantWaits = append(wantWaits, min(d, time.Second))
				d *= 2
			}
			if got := clock.recorded(); !equalDurations(got, wantWaits) {
				t.Errorf("waits = %v, want %v", got, wantWaits)
			}
			if len(retries) != max-1 {
				t.Errorf("OnRetry called %d times, want %d", len(retries), max-1)
			}
			for i, a := range retries {
				if a != i+1 {
					t.Errorf("OnRetry call %d got attempt %d, want %d", i, a, i+1)
				}
			}
		})
	}
}

func TestDoZeroMaxAttemptsMeansOneTry(t *testing.T) {
	clock := newFiringClock()
	p := testPolicy(clock)
	p.MaxAttempts = 0
	calls := 0
	err := Do(context.Background(), p, "op", func(context.Context) error {
		calls++
		return New("op", Retryable, errors.New("busy"))
	})
	if calls != 1 {
		t.Errorf("fn called %d times, want 1", calls)
	}
	if err == nil || !strings.Contains(err.Error(), "gave up after 1 attempts") {
		t.Errorf("err = %v, want gave up after 1 attempts", err)
	}
	if w := clock.recorded(); len(w) != 0 {
		t.Errorf("waits = %v, want none", w)
	}
}

func TestDoSucceedsAfterRetries(t *testing.T) {
	clock := newFiringClock()
	p := testPolicy(clock)
	calls := 0
	err := Do(context.Background(), p, "op", func(context.Context) error {
		calls++
		if calls < 3 {
			return New("op", Retryable, errors.New("busy"))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Do = %v, want nil", err)
	}
	if calls != 3 {
		t.Errorf("fn called %d times, want 3", calls)
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}
	if got := clock.recorded(); !equalDurations(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
}

func TestDoDoesNotRetryOtherClasses(t *testing.T) {
	plain := errors.New("something odd")
	cases := []struct {
		name string
		err  error
	}{
		{"terminal", New("op", Terminal, errors.New("bad credentials"))},
		{"conflict", New("op", Conflict, errors.New("entry exists"))},
		{"not_found", New("op", NotFound, errors.New("no such object"))},
		{"unknown class", New("op", Unknown, errors.New("?"))},
		{"unclassified", plain},
		{"wrapped terminal", fmt.Errorf("outer: %w", New("op", Terminal, errors.New("rights")))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFiringClock()
			calls := 0
			err := Do(context.Background(), testPolicy(clock), "op", func(context.Context) error {
				calls++
				return tc.err
			})
			if calls != 1 {
				t.Errorf("fn called %d times, want 1", calls)
			}
			if err != tc.err {
				t.Errorf("Do returned %v, want the original error %v unchanged", err, tc.err)
			}
			if w := clock.recorded(); len(w) != 0 {
				t.Errorf("waits = %v, want none", w)
			}
		})
	}
}

func TestDoRetryAfterReplacesBackoff(t *testing.T) {
	clock := newFiringClock()
	p := testPolicy(clock)
	p.MaxAttempts = 5
	var onRetryWaits []time.Duration
	p.OnRetry = func(_ int, wait time.Duration, _ error) { onRetryWaits = append(onRetryWaits, wait) }
	// Attempt 1 carries Retry-After 3s, attempt 2 none (backoff 200ms),
	// attempt 3 Retry-After 45s, attempt 4 succeeds.
	calls := 0
	err := Do(context.Background(), p, "op", func(context.Context) error {
		calls++
		switch calls {
		case 1:
			return &Error{Op: "op", Class: Retryable, RetryAfter: 3 * time.Second, Err: errors.New("throttled")}
		case 2:
			return New("op", Retryable, errors.New("busy"))
		case 3:
			return fmt.Errorf("wrapped: %w", &Error{Op: "op", Class: Retryable, RetryAfter: 45 * time.Second, Err: errors.New("throttled")})
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Do = %v", err)
	}
	want := []time.Duration{3 * time.Second, 200 * time.Millisecond, 45 * time.Second}
	if got := clock.recorded(); !equalDurations(got, want) {
		t.Errorf("clock waits = %v, want %v", got, want)
	}
	if !equalDurations(onRetryWaits, want) {
		t.Errorf("OnRetry waits = %v, want %v", onRetryWaits, want)
	}
}

func TestDoRetryAfterWithoutCap(t *testing.T) {
	clock := newFiringClock()
	p := testPolicy(clock)
	p.MaxRetryAfter = 0 // no cap
	calls := 0
	err := Do(context.Background(), p, "op", func(context.Context) error {
		calls++
		if calls == 1 {
			return &Error{Class: Retryable, RetryAfter: time.Hour, Err: errors.New("throttled")}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Do = %v", err)
	}
	if got, want := clock.recorded(), []time.Duration{time.Hour}; !equalDurations(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
}

func TestDoRetryAfterAboveMaxGivesUp(t *testing.T) {
	clock := newFiringClock()
	p := testPolicy(clock)
	p.MaxRetryAfter = time.Minute
	cause := errors.New("throttled")
	calls := 0
	err := Do(context.Background(), p, "exo.Set", func(context.Context) error {
		calls++
		return &Error{Op: "exo", Class: Retryable, RetryAfter: 5 * time.Minute, Err: cause}
	})
	if err == nil {
		t.Fatal("Do = nil, want an error")
	}
	if calls != 1 {
		t.Errorf("fn called %d times, want 1", calls)
	}
	if w := clock.recorded(); len(w) != 0 {
		t.Errorf("waits = %v, want none", w)
	}
	for _, s := range []string{"5m0s", "1m0s", "exo.Set"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
	if !errors.Is(err, cause) || !errors.Is(err, ErrRetryable) {
		t.Errorf("error %v does not wrap the cause and its class", err)
	}
}

func TestDoCancelDuringWait(t *testing.T) {
	clock := &fakeClock{fire: false, waiting: make(chan struct{})}
	p := testPolicy(clock)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	cause := errors.New("busy")
	done := make(chan error, 1)
	go func() {
		done <- Do(ctx, p, "op", func(context.Context) error {
			calls++
			return New("op", Retryable, cause)
		})
	}()
	select {
	case <-clock.waiting:
	case <-time.After(5 * time.Second):
		t.Fatal("Do never started waiting")
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Errorf("Do took %v to notice cancellation", elapsed)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled in the chain", err)
		}
		if !strings.Contains(err.Error(), "busy") {
			t.Errorf("err %q does not mention the last failure", err)
		}
		if calls != 1 {
			t.Errorf("fn called %d times, want 1", calls)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Do did not return after ctx was cancelled")
	}
}

func TestDoContextAlreadyDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	err := Do(ctx, testPolicy(newFiringClock()), "op", func(context.Context) error {
		calls++
		return nil
	})
	if calls != 0 {
		t.Errorf("fn called %d times, want 0", calls)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestBackoffDoublesUpToMax(t *testing.T) {
	p := Policy{Initial: 100 * time.Millisecond, Max: time.Second}
	cases := []struct {
		n    int
		want time.Duration
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second},
		{6, time.Second},
		{50, time.Second},
		{1000, time.Second},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("n=%d", tc.n), func(t *testing.T) {
			if got := p.Backoff(tc.n); got != tc.want {
				t.Errorf("Backoff(%d) = %v, want %v", tc.n, got, tc.want)
			}
		})
	}
	t.Run("initial above max is capped", func(t *testing.T) {
		p := Policy{Initial: 5 * time.Second, Max: time.Second}
		if got := p.Backoff(1); got != time.Second {
			t.Errorf("Backoff(1) = %v, want 1s", got)
		}
	})
}

func TestBackoffJitter(t *testing.T) {
	t.Run("exact values", func(t *testing.T) {
		cases := []struct {
			r    float64
			want time.Duration
		}{
			{0, 400 * time.Millisecond},
			{0.5, 360 * time.Millisecond},
			{0.25, 380 * time.Millisecond},
		}
		for _, tc := range cases {
			p := Policy{Initial: 100 * time.Millisecond, Max: time.Second, Jitter: 0.2, Rand: func() float64 { return tc.r }}
			if got := p.Backoff(3); got != tc.want {
				t.Errorf("r=%v: Backoff(3) = %v, want %v", tc.r, got, tc.want)
			}
		}
	})
	t.Run("within [d*(1-j), d]", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, j := range []float64{0.1, 0.2, 0.5, 1} {
			p := Policy{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Jitter: j, Rand: rng.Float64}
			for n := 1; n <= 8; n++ {
				d := Policy{Initial: p.Initial, Max: p.Max}.Backoff(n)
				lo := time.Duration(float64(d) * (1 - j))
				for i := 0; i < 200; i++ {
					got := p.Backoff(n)
					if got < lo || got > d {
						t.Fatalf("j=%v n=%d: Backoff = %v, want in [%v, %v]", j, n, got, lo, d)
					}
				}
			}
		}
	})
	t.Run("jitter applied in Do", func(t *testing.T) {
		clock := newFiringClock()
		p := testPolicy(clock)
		p.MaxAttempts = 3
		p.Jitter = 0.5
		p.Rand = func() float64 { return 0.5 } // removes 25%
		_ = Do(context.Background(), p, "op", func(context.Context) error {
			return New("op", Retryable, errors.New("busy"))
		})
		want := []time.Duration{75 * time.Millisecond, 150 * time.Millisecond}
		if got := clock.recorded(); !equalDurations(got, want) {
			t.Errorf("waits = %v, want %v", got, want)
		}
	})
}

func TestDefaultPolicy(t *testing.T) {
	p := DefaultPolicy()
	if p.MaxAttempts != 5 || p.Initial != 500*time.Millisecond || p.Max != 30*time.Second ||
		p.MaxRetryAfter != 2*time.Minute || p.Jitter != 0.2 {
		t.Errorf("DefaultPolicy = %+v", p)
	}
}

func TestClassOfAndRetryAfterOfThroughWrapping(t *testing.T) {
	base := &Error{Op: "exo", Class: Retryable, RetryAfter: 7 * time.Second, Err: errors.New("throttled")}
	cases := []struct {
		name      string
		err       error
		wantClass Class
		wantRA    time.Duration
	}{
		{"nil", nil, Unknown, 0},
		{"plain", errors.New("x"), Unknown, 0},
		{"direct", base, Retryable, 7 * time.Second},
		{"wrapped once", fmt.Errorf("a: %w", base), Retryable, 7 * time.Second},
		{"wrapped twice", fmt.Errorf("b: %w", fmt.Errorf("a: %w", base)), Retryable, 7 * time.Second},
		{"joined", errors.Join(errors.New("other"), base), Retryable, 7 * time.Second},
		{"not found wrapped", fmt.Errorf("a: %w", New("op", NotFound, errors.New("gone"))), NotFound, 0},
		{"outermost wins", New("outer", Terminal, fmt.Errorf("x: %w", New("inner", Retryable, errors.New("busy")))), Terminal, 0},
		{"%v does not wrap", fmt.Errorf("a: %v", base), Unknown, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ClassOf(tc.err); got != tc.wantClass {
				t.Errorf("ClassOf = %v, want %v", got, tc.wantClass)
			}
			if got := RetryAfterOf(tc.err); got != tc.wantRA {
				t.Errorf("RetryAfterOf = %v, want %v", got, tc.wantRA)
			}
		})
	}
}

func TestSentinels(t *testing.T) {
	sentinels := map[Class]error{
		Retryable: ErrRetryable,
		Conflict:  ErrConflict,
		NotFound:  ErrNotFound,
		Terminal:  ErrTerminal,
	}
	for _, c := range []Class{Unknown, Retryable, Conflict, NotFound, Terminal} {
		t.Run(c.String(), func(t *testing.T) {
			cause := errors.New("cause")
			err := fmt.Errorf("outer: %w", New("op", c, cause))
			for sc, s := range sentinels {
				if got, want := errors.Is(err, s), sc == c; got != want {
					t.Errorf("errors.Is(%v err, %v sentinel) = %v, want %v", c, sc, got, want)
				}
			}
			if !errors.Is(err, cause) {
				t.Error("classified error does not unwrap to its cause")
			}
		})
	}
	t.Run("plain error matches no sentinel", func(t *testing.T) {
		for _, s := range sentinels {
			if errors.Is(errors.New("x"), s) {
				t.Errorf("plain error matched %v", s)
			}
		}
	})
}

func TestClassString(t *testing.T) {
	cases := map[Class]string{
		Unknown: "unknown", Retryable: "retryable", Conflict: "conflict",
		NotFound: "not_found", Terminal: "terminal", Class(99): "unknown",
	}
	for c, want := range cases {
		if got := c.String(); got != want {
			t.Errorf("Class(%d).String() = %q, want %q", int(c), got, want)
		}
	}
	if got := ErrNotFound.Error(); got != "not_found" {
		t.Errorf("ErrNotFound.Error() = %q", got)
	}
}

func TestErrorMessage(t *testing.T) {
	if got := New("ad.Search", Retryable, errors.New("busy")).Error(); got != "ad.Search: busy" {
		t.Errorf("with op: %q", got)
	}
	if got := New("", Conflict, errors.New("exists")).Error(); got != "conflict: exists" {
		t.Errorf("without op: %q", got)
	}
}

// One parser for every client: delay seconds (fractions too), HTTP dates
// relative to the clock, and nothing for what is missing, bad or past.
func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-4", 0},
		{"5", 5 * time.Second},
		{" 2.25 ", 2250 * time.Millisecond},
		{"0.5", 500 * time.Millisecond},
		{now.Add(90 * time.Second).Format(time.RFC850), 90 * time.Second},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(30 * time.Second).Format(time.ANSIC), 30 * time.Second},
		{"Thu, 03 Dec 2026 10:00:60 GMT", 0},
		{"soon", 0},
		{"NaN", 0},
		{"99999999999", 1e7 * time.Second},
	}
	for _, tc := range cases {
		if got := ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
		// The dates are read as net/http reads them.
		if ht, err := http.ParseTime(tc.in); err == nil {
			if want := max(ht.Sub(now), 0); ParseRetryAfter(tc.in, now) != want {
				t.Errorf("ParseRetryAfter(%q) = %v, net/http reads %v", tc.in, ParseRetryAfter(tc.in, now), want)
			}
		}
	}
}
