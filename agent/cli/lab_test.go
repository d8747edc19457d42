//go:build lab

package cli

import (
	"strings"
	"testing"
)

// The development build has the lab's commands; each needs its directory.
func TestLabCommandsNeedADir(t *testing.T) {
	for _, args := range [][]string{{"lab", "up"}, {"lab", "down"}, {"lab", "status"}, {"lab", "sync"}, {"lab", "faults"}} {
		code, _, errOut := runCLI(t, args...)
		if code != 2 || !strings.Contains(errOut, "--dir is required") {
			t.Errorf("%v: code %d stderr %q; want 2 and --dir is required", args, code, errOut)
		}
	}
}
