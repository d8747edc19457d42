// Package clock is the one clock hybridsync's packages take: the time now
// and a timer. Production code passes System (or nil, which means System);
// tests pass a fake that they move on by hand.
package clock

import "time"

// Clock is the part of time the product uses.
type Clock interface {
	Now() time.Time
	// After behaves like time.After.
	After(d time.Duration) <-chan time.Time
}

// System is the real clock.
type System struct{}

func (System) Now() time.Time                         { return time.Now() }
func (System) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Or returns c, or System when c is nil.
func Or(c Clock) Clock {
	if c == nil {
		return System{}
	}
	return c
}

// Funcs is a Clock made of two functions; a nil one is the system's. Tests
// replace the part they control.
type Funcs struct {
	NowFunc   func() time.Time
	AfterFunc func(time.Duration) <-chan time.Time
}

func (f Funcs) Now() time.Time {
	if f.NowFunc == nil {
		return time.Now()
	}
	return f.NowFunc()
}

func (f Funcs) After(d time.Duration) <-chan time.Time {
	if f.AfterFunc == nil {
		return time.After(d)
	}
	return f.AfterFunc(d)
}
