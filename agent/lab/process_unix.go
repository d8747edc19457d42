//go:build !windows

package lab

import "syscall"

// newSessionAttr starts a daemon in its own session, so that it outlives
// the command that started it and its group can be signalled.
func newSessionAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

// killGroup signals the daemon's process group: SIGTERM, or SIGKILL when
// hard.
func killGroup(pid int, hard bool) {
	sig := syscall.SIGTERM
	if hard {
		sig = syscall.SIGKILL
	}
	_ = syscall.Kill(-pid, sig)
}
