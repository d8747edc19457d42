package migrate

import (
	"fmt"
	"time"
)

// Describe is the one line that says where a saga is, for `migrate
// status`, `migrate run` and the service's /status.
func Describe(s *Saga, now time.Time) string {
	pos := func() string {
		i := 0
		for j, st := range s.Steps {
			if st == s.Step {
				i = j + 1
			}
		}
		return fmt.Sprintf("step %d/%d %s", i, len(s.Steps), s.Step)
	}
	switch s.State {
	case StateMigrated:
		line := fmt.Sprintf("migrated (%s, %d sync cycles)", s.Method, s.Made.SyncCycles)
		if n := len(s.Made.AddressChanges); n > 0 {
			switch c := s.Made.AddressChanges[n-1]; c.State {
			case AddressDone:
				line += "; address changed to " + c.ToPrimary + " (alias " + c.ToAlias + ")"
			case AddressStarted:
				line += "; address change to " + c.ToPrimary + " NOT FINISHED: run migrate address again with the same --primary and --alias"
			case AddressFailed:
				line += "; address change to " + c.ToPrimary + " FAILED: " + c.Error
			}
		}
		return line
	case StateRolledBack:
		return "rolled back: " + s.Error
	case StateFailed:
		return fmt.Sprintf("failed at %s: %s", pos(), cmpOr(s.Blocked, s.Error))
	case StateCompensating:
		return fmt.Sprintf("compensating (%s) at %s", s.Error, pos())
	}
	line := fmt.Sprintf("running %s, %s for %s", s.Method, pos(), now.Sub(s.StepStarted).Round(time.Second))
	if w := s.Waiting; w != nil {
		line = fmt.Sprintf("waiting (%s) for %s since %s until %s", pos(), w.For, w.Since.Format(time.RFC3339), w.Deadline.Format(time.RFC3339))
		if w.Overdue {
			line = "WAITING TOO LONG: " + line
		}
	}
	if s.Blocked != "" {
		line += "; blocked: " + s.Blocked
	}
	return line
}
