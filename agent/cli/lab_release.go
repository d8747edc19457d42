//go:build !lab

package cli

import "github.com/spf13/cobra"

// labCmds is empty in the release build: the lab, its tenant emulator (a
// fake OAuth authority) and the Samba provisioning code are built into the
// development binary only (go build -tags lab; see lab.go).
func (a *app) labCmds() []*cobra.Command { return nil }
