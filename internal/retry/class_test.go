package retry

import (
	"errors"
	"fmt"
	"testing"
)

func TestResultOf(t *testing.T) {
	throttled := New("graph.List user", Retryable, errors.New("HTTP 429"))
	throttled.Throttled = true
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "success"},
		{throttled, "throttled"},
		{fmt.Errorf("list: %w", throttled), "throttled"},
		{New("ad.Search", Retryable, errors.New("busy")), "retryable"},
		{New("ad.Modify", Conflict, errors.New("exists")), "conflict"},
		{errors.New("plain"), Unknown.String()},
	} {
		if got := ResultOf(tc.err); got != tc.want {
			t.Errorf("ResultOf(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
