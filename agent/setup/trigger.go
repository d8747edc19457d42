package setup

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/internal/retry"
)

// commandTrigger runs migrations.sync.command to start a delta sync cycle
// (a remote Start-ADSyncSyncCycle -PolicyType Delta, or the lab's
// `hybridsync lab sync`), bounded by its timeout. No shell is involved.
type commandTrigger struct {
	argv    []string
	timeout time.Duration
	log     *slog.Logger
}

// maxOutput bounds what of the command's output an error quotes.
const maxOutput = 2000

func (t *commandTrigger) Trigger(ctx context.Context) error {
	const op = "migrate.sync-trigger"
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, t.argv[0], t.argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		text := strings.TrimSpace(out.String())
		if len(text) > maxOutput {
			text = text[len(text)-maxOutput:]
		}
		class := retry.Terminal
		if ctx.Err() != nil {
			class = retry.Retryable
			err = fmt.Errorf("no answer within migrations.sync.command_timeout (%s): %w", t.timeout, err)
		}
		return retry.New(op, class, fmt.Errorf("%s: %w: %s", t.argv[0], err, text))
	}
	t.log.Info("migrate: sync cycle triggered", "command", t.argv[0], "duration_seconds", d.Seconds())
	return nil
}
