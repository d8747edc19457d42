package lab

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hybridsync/hybridsync/ad/adldap"
)

// KillDC kills the lab's domain controller at once (SIGKILL to its
// process group), as a crash or a power cut would, and returns when it is
// gone. Fault tests use it with StartDC to restart the DC under a running
// agent.
func KillDC(dir string) error {
	p := pathsFor(dir)
	pid, ok := runningPid(p)
	if !ok {
		return errors.New("lab: the DC is not running in " + dir)
	}
	killGroup(pid, true)
	if !waitGone(p.pidFile, isSambaExe, 15*time.Second) {
		return fmt.Errorf("lab: samba (pid %d) still runs 15s after SIGKILL", pid)
	}
	return nil
}

// StartDC starts the lab's domain controller again, if it is not running,
// and returns once it answers LDAPS.
func StartDC(ctx context.Context, dir string) error {
	st, err := LoadState(dir)
	if err != nil {
		return err
	}
	p := pathsFor(st.Dir)
	if _, ok := runningPid(p); !ok {
		if _, err := startSamba(p); err != nil {
			return err
		}
	}
	return withDC(ctx, st, func(*adldap.Client) error { return nil })
}
