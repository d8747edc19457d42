package lab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// The lab's long-running processes (the Samba DC, the tenant emulator) are
// started in their own session, so they outlive `lab up` and can be
// stopped as a group, and are recorded by pid plus start time. They are
// only ever found again through that record, never by name.

// startDaemon starts cmd detached, logging to logPath, and records it.
func startDaemon(name string, cmd *exec.Cmd, logPath, pidFile string) (int, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("lab: %w", err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = newSessionAttr()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("lab: start %s: %w", name, err)
	}
	pid := cmd.Process.Pid
	// Reap it if it dies while we are still running; after we exit, init does.
	go func() { _ = cmd.Wait() }()
	start, err := procStartTime(pid)
	if err == nil {
		err = os.WriteFile(pidFile, []byte(fmt.Sprintf("%d %d\n", pid, start)), 0o644)
	}
	if err != nil {
		killGroup(pid, true)
		return 0, fmt.Errorf("lab: record %s pid: %w", name, err)
	}
	return pid, nil
}

// procStat returns the fields of /proc/PID/stat after the command name.
func procStat(pid int) ([]string, error) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(st, ')')
	if i < 0 {
		return nil, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	return strings.Fields(string(st[i+1:])), nil
}

// procStartTime returns the process start time in clock ticks since boot
// (field 22 of /proc/PID/stat).
func procStartTime(pid int) (uint64, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	if len(f) < 20 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// daemonPid returns the pid recorded in pidFile if that process is alive
// and is the one recorded: same start time, an executable isExe accepts,
// not a zombie. Processes may rewrite their command line (samba does), so
// the executable and start time identify them.
func daemonPid(pidFile string, isExe func(string) bool) (int, bool) {
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, false
	}
	fields := strings.Fields(string(data))
	if len(fields) != 2 {
		return 0, false
	}
	pid, err := strconv.Atoi(fields[0])
	if err != nil || pid <= 1 {
		return 0, false
	}
	want, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		return 0, false
	}
	f, err := procStat(pid)
	if err != nil || len(f) < 20 || f[0] == "Z" || f[19] != strconv.FormatUint(want, 10) {
		return 0, false
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil || !isExe(exe) {
		return 0, false
	}
	return pid, true
}

// stopDaemon stops the recorded process group: SIGTERM, then SIGKILL after
// timeout. A stale record is removed.
func stopDaemon(name, pidFile string, isExe func(string) bool, timeout time.Duration) error {
	pid, ok := daemonPid(pidFile, isExe)
	if !ok {
		_ = os.Remove(pidFile)
		return nil
	}
	killGroup(pid, false)
	if waitGone(pidFile, isExe, timeout) {
		return nil
	}
	killGroup(pid, true)
	if waitGone(pidFile, isExe, 5*time.Second) {
		return nil
	}
	return fmt.Errorf("lab: %s (pid %d) did not stop", name, pid)
}

// waitGone waits up to d for the recorded process to be gone, and then
// removes its record; it reports whether it is gone.
func waitGone(pidFile string, isExe func(string) bool, d time.Duration) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(100 * time.Millisecond) {
		if _, ok := daemonPid(pidFile, isExe); !ok {
			_ = os.Remove(pidFile)
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}
