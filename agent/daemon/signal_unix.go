//go:build !windows

package daemon

import (
	"os"
	"os/signal"
	"syscall"
)

// hangups delivers SIGHUP (systemd's ExecReload sends it).
func hangups() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	return ch, func() { signal.Stop(ch) }
}
