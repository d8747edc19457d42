// Package failpointtest builds the failpoint.Hook of crash tests: a child
// process started by a test kills itself, as a power cut would, when it
// reaches the point named in its environment. Only tests import it; the
// release build does not link it (a test asserts that).
package failpointtest

import (
	"os"

	"github.com/hybridsync/hybridsync/internal/failpoint"
)

// Env names the environment variable holding the point to die at.
const Env = "HYBRIDSYNC_TEST_FAILPOINT"

// FromEnv returns a Hook that kills the process (SIGKILL: no deferred
// function runs, no file is closed) at the point named in Env, or nil when
// Env is unset.
func FromEnv() failpoint.Hook {
	want := os.Getenv(Env)
	if want == "" {
		return nil
	}
	return func(point string) {
		if point != want {
			return
		}
		if proc, err := os.FindProcess(os.Getpid()); err == nil {
			_ = proc.Kill()
		}
		select {}
	}
}
