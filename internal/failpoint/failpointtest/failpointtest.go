// Package failpointtest builds the failpoint.Hook of crash tests: a child
// process started by a test kills itself, as a power cut would, when it
// reaches the point named in its environment. Only tests import it; the
// release build does not link it (a test asserts that).
package failpointtest

import (
	"os"
	"strconv"
	"sync/atomic"

	"github.com/hybridsync/hybridsync/internal/failpoint"
)

// Env names the environment variable holding the point to die at.
const Env = "HYBRIDSYNC_TEST_FAILPOINT"

// NthEnv names the environment variable holding a count N: the process
// dies at the Nth point it reaches, whichever it is (a crash test picks N
// at random, with a seed it logs, for runs whose points interleave, such
// as a wave's groups migrating at once).
const NthEnv = "HYBRIDSYNC_TEST_FAILPOINT_NTH"

// LogEnv names the environment variable holding a file to which every
// point reached is appended, one per line (a test's first run learns the
// points it then kills at).
const LogEnv = "HYBRIDSYNC_TEST_FAILPOINT_LOG"

// FromEnv returns a Hook that kills the process (SIGKILL: no deferred
// function runs, no file is closed) at the point named in Env or at the
// Nth point reached (NthEnv), and logs every point reached to the file
// named in LogEnv; nil when none is set. The hook may be called
// concurrently.
func FromEnv() failpoint.Hook {
	want, log := os.Getenv(Env), os.Getenv(LogEnv)
	nth, _ := strconv.ParseInt(os.Getenv(NthEnv), 10, 64)
	if want == "" && log == "" && nth <= 0 {
		return nil
	}
	var reached atomic.Int64
	return func(point string) {
		n := reached.Add(1)
		if log != "" {
			if f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
				_, _ = f.WriteString(point + "\n")
				_ = f.Close()
			}
		}
		if point != want && (nth <= 0 || n != nth) {
			return
		}
		if proc, err := os.FindProcess(os.Getpid()); err == nil {
			_ = proc.Kill()
		}
		select {}
	}
}
