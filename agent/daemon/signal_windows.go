//go:build windows

package daemon

import "os"

// hangups: Windows has no SIGHUP; the config file is watched instead.
func hangups() (<-chan os.Signal, func()) { return nil, func() {} }
