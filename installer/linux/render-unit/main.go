// Command render-unit prints the systemd unit the .deb ships as
// /lib/systemd/system/hybridsync.service: agent/svc's embedded template
// rendered exactly as "hybridsync service install" renders it, for the
// packaged paths (/usr/bin/hybridsync, /etc/hybridsync/hybridsync.yaml) and
// the package's system user hybridsync.
package main

import (
	"fmt"
	"os"

	"github.com/hybridsync/hybridsync/agent/svc"
)

func main() {
	unit, err := svc.Unit(svc.Spec{
		Name:       svc.Name,
		Executable: "/usr/bin/hybridsync",
		ConfigPath: svc.DefaultConfigPath("linux"),
		User:       svc.DefaultUser,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "render-unit: %v\n", err)
		os.Exit(1)
	}
	fmt.Print(unit)
}
