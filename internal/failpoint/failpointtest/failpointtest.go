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

// LogEnv names the environment variable holding a file to which every
// point reached is appended, one per line (a test's first run learns the
// points it then kills at).
const LogEnv = "HYBRIDSYNC_TEST_FAILPOINT_LOG"

// FromEnv returns a Hook that kills the process (SIGKILL: no deferred
// function runs, no file is closed) at the point named in Env, and logs
// every point reached to the file named in LogEnv; nil when neither is
// set.
func FromEnv() failpoint.Hook {
	want, log := os.Getenv(Env), os.Getenv(LogEnv)
	if want == "" && log == "" {
		return nil
	}
	return func(point string) {
		if log != "" {
			if f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
				_, _ = f.WriteString(point + "\n")
				_ = f.Close()
			}
		}
		if point != want {
			return
		}
		if proc, err := os.FindProcess(os.Getpid()); err == nil {
			_ = proc.Kill()
		}
		select {}
	}
}
