// Command hybridsync is the hybrid Exchange/Entra directory agent.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/hybridsync/hybridsync/agent/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
