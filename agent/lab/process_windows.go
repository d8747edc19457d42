//go:build windows

package lab

// The lab needs Samba and runs only on Linux; these let the binary, which
// carries the lab commands, compile for Windows.

import (
	"os"
	"syscall"
)

// newSessionAttr starts a daemon with the default attributes.
func newSessionAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

// killGroup kills the process (Windows has no process groups to signal).
func killGroup(pid int, hard bool) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}
