// Package retry holds the error classes every directory client in hybridsync
// maps its failures to (retryable, conflict, not found, terminal) and the one
// bounded backoff loop that acts on them.
//
// The contract follows controller-runtime's reconcile loop: a terminal error
// is never retried, a retryable one is retried with exponential backoff and
// jitter, a server's Retry-After wins over the computed delay, every wait
// selects on ctx.Done(), and the number of attempts is always bounded.
package retry

import (
	"errors"
	"fmt"
	"time"
)

// Class says what a caller may do about an error.
type Class int

const (
	// Unknown is the class of an error no client classified. Do treats it
	// as terminal: retrying what we do not understand is how loops start.
	Unknown Class = iota
	// Retryable errors are transient: busy or unavailable servers, throttling,
	// network failures. The same request may succeed later.
	Retryable
	// Conflict errors mean the target changed under us or already holds the
	// value (entry exists, value exists, value already gone). Re-read, then
	// decide.
	Conflict
	// NotFound errors mean the object does not exist (or is not visible yet).
	NotFound
	// Terminal errors will not go away by retrying: bad credentials,
	// insufficient rights, schema violations, malformed input.
	Terminal
)

func (c Class) String() string {
	switch c {
	case Retryable:
		return "retryable"
	case Conflict:
		return "conflict"
	case NotFound:
		return "not_found"
	case Terminal:
		return "terminal"
	default:
		return "unknown"
	}
}

// Sentinels let callers test a class with errors.Is(err, retry.ErrNotFound).
var (
	ErrRetryable = classSentinel{Retryable}
	ErrConflict  = classSentinel{Conflict}
	ErrNotFound  = classSentinel{NotFound}
	ErrTerminal  = classSentinel{Terminal}
)

type classSentinel struct{ c Class }

func (s classSentinel) Error() string { return s.c.String() }

// Error is a classified error. Op names the operation that failed
// ("ad.Search", "exo.InvokeCommand Set-DistributionGroup"); Err is the cause.
type Error struct {
	Op    string
	Class Class
	// RetryAfter is the server's requested wait, zero when it sent none.
	RetryAfter time.Duration
	// Throttled is true when the server said it was throttling the caller
	// (HTTP 429, or a throttling message), as opposed to failing.
	Throttled bool
	Err       error
}

func (e *Error) Error() string {
	if e.Op == "" {
		return fmt.Sprintf("%s: %v", e.Class, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Op, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's class.
func (e *Error) Is(target error) bool {
	s, ok := target.(classSentinel)
	return ok && s.c == e.Class
}

// New returns a classified error.
func New(op string, class Class, err error) *Error {
	return &Error{Op: op, Class: class, Err: err}
}

// ClassOf returns the class of the outermost classified error in err's
// chain, or Unknown.
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return Unknown
}

// IsThrottled reports whether the outermost classified error in err's
// chain is a throttling answer.
func IsThrottled(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Throttled
}

// ResultOf is the result label for a request's metrics: "success" for nil,
// "throttled" for a throttling answer, otherwise the class name.
func ResultOf(err error) string {
	switch {
	case err == nil:
		return "success"
	case IsThrottled(err):
		return "throttled"
	}
	return ClassOf(err).String()
}

// RetryAfterOf returns the server-requested wait carried by err, if any.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
