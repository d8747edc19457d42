package svc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/kardianos/service"
)

// RunFunc runs the agent until ctx is cancelled and then returns nil
// (daemon.Run's contract). It logs through log.
type RunFunc func(ctx context.Context, log *slog.Logger) error

// Interactive reports whether this process runs from a terminal or a
// script rather than under the service manager, as kardianos/service
// detects it: on Windows, whether the service control manager did not
// start it; on Linux, whether its parent is not systemd (always true in a
// container). The run command calls Run when it is false.
func Interactive() bool { return service.Interactive() }

// Run runs run under the service manager until the manager stops the
// service or ctx is cancelled, and returns then. name is the service's
// name (Name unless it was installed under another).
//
// run starts in a goroutine as soon as the service manager asks for a
// start, so the start is reported at once; a stop cancels run's context and
// waits up to StopTimeout for it to return (the unit's TimeoutStopSec is a
// little longer). If run returns before it was asked to stop, with an error
// or not, Run logs a fatal error and exits the process with status 1, so
// that the service manager's failure handling (systemd Restart=on-failure,
// the Windows recovery actions) restarts the agent.
//
// On Windows, where a service's stderr goes nowhere, the start, stop and
// fatal messages go to the Application Event Log (source name, registered
// by "service install" and by the .msi), and the logger passed to run
// writes every record at Warn or above there too, besides log. On Linux log
// is passed unchanged: the unit's stderr is the journal.
func Run(ctx context.Context, name string, run RunFunc, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	opts := ProgramOptions{Logger: log}
	cfg := &service.Config{Name: name}
	if runtime.GOOS != "windows" {
		// kardianos/service waits for SIGTERM or SIGINT; also return when
		// ctx is cancelled (the CLI cancels it on the same signals).
		cfg.Option = service.KeyValue{"RunWait": func() {
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
			defer signal.Stop(sig)
			select {
			case <-sig:
			case <-ctx.Done():
			}
		}}
	}
	p := NewProgram(ctx, run, opts)
	s, err := service.New(p, cfg)
	if err != nil {
		return fmt.Errorf("service run: %w", err)
	}
	if runtime.GOOS == "windows" {
		sys, err := s.Logger(nil)
		if err != nil {
			log.Warn("service run: cannot open the Event Log; logging to stderr only", "service", name, "err", err)
		} else {
			p.opts.SystemLogger = sys
		}
	}
	if err := s.Run(); err != nil {
		return fmt.Errorf("service run: %w", err)
	}
	return nil
}

// ProgramOptions configure a Program.
type ProgramOptions struct {
	// Logger receives the program's messages; nil means slog.Default().
	Logger *slog.Logger
	// SystemLogger, when set, also receives the start, stop and fatal
	// messages, and every record at Warn or above that run logs (the
	// Windows Event Log, from service.Service.Logger).
	SystemLogger service.Logger
	// StopTimeout bounds Stop's wait; 0 means StopTimeout.
	StopTimeout time.Duration
	// Exit ends the process after run failed; nil means os.Exit.
	Exit func(code int)
}

// Program is the service.Interface that runs the agent: Start starts run
// in a goroutine and returns at once, Stop cancels it and waits a bounded
// time. Nothing depends on a clean stop: the journal makes an interrupted
// write safe to finish or undo.
type Program struct {
	parent context.Context
	run    RunFunc
	opts   ProgramOptions

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{} // closed when run returned
	stopped bool          // Stop was called
}

// NewProgram returns a Program that runs run with a context derived from
// ctx. See Run for the contract.
func NewProgram(ctx context.Context, run RunFunc, opts ProgramOptions) *Program {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = StopTimeout
	}
	if opts.Exit == nil {
		opts.Exit = os.Exit
	}
	return &Program{parent: ctx, run: run, opts: opts}
}

// Start starts run in a goroutine and returns nil at once. A second Start
// without a Stop in between fails.
func (p *Program) Start(s service.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil && !p.stopped {
		return errors.New("service start: already started")
	}
	ctx, cancel := context.WithCancel(p.parent)
	done := make(chan struct{})
	p.cancel, p.done, p.stopped = cancel, done, false
	log := p.opts.Logger
	if p.opts.SystemLogger != nil {
		log = slog.New(newTeeHandler(log.Handler(), p.opts.SystemLogger, slog.LevelWarn))
	}
	go func() {
		err := p.run(ctx, log)
		close(done)
		p.mu.Lock()
		asked := p.stopped || ctx.Err() != nil
		p.mu.Unlock()
		if asked {
			if err != nil {
				p.opts.Logger.Error("agent stopped with an error", "err", err)
			}
			return
		}
		if err == nil {
			err = errors.New("the agent returned without being asked to stop")
		}
		p.fatal(err)
	}()
	p.opts.Logger.Info("service started", "service", serviceName(s))
	if p.opts.SystemLogger != nil {
		_ = p.opts.SystemLogger.Info("hybridsync service started")
	}
	return nil
}

// fatal logs err and exits with status 1.
func (p *Program) fatal(err error) {
	p.opts.Logger.Error("agent failed; exiting so that the service manager restarts it", "err", err)
	if p.opts.SystemLogger != nil {
		_ = p.opts.SystemLogger.Errorf("hybridsync agent failed: %v", err)
	}
	p.opts.Exit(1)
}

// Stop cancels run and waits up to the stop timeout for it to return. It
// returns an error when run did not return in time (the process exits
// anyway after Run returns).
func (p *Program) Stop(s service.Service) error {
	p.mu.Lock()
	if p.done == nil {
		p.mu.Unlock()
		return nil
	}
	p.stopped = true
	cancel, done := p.cancel, p.done
	p.mu.Unlock()
	cancel()
	t := time.NewTimer(p.opts.StopTimeout)
	defer t.Stop()
	select {
	case <-done:
		p.opts.Logger.Info("service stopped", "service", serviceName(s))
		if p.opts.SystemLogger != nil {
			_ = p.opts.SystemLogger.Info("hybridsync service stopped")
		}
		return nil
	case <-t.C:
		err := fmt.Errorf("service stop: the agent did not stop within %s", p.opts.StopTimeout)
		p.opts.Logger.Error("service stop timed out; exiting anyway", "err", err, "timeout", p.opts.StopTimeout)
		if p.opts.SystemLogger != nil {
			_ = p.opts.SystemLogger.Error(err.Error())
		}
		return err
	}
}

func serviceName(s service.Service) string {
	if s == nil {
		return ""
	}
	return s.String()
}

// teeHandler passes every record to next and the records at min or above
// also to a service.Logger, as one "msg key=value ..." line (no time or
// level: the Event Log has its own).
type teeHandler struct {
	next slog.Handler
	text slog.Handler // writes into w
	w    *sysWriter
	min  slog.Level
}

// sysWriter sends each line the text handler writes to sys at the level of
// the record being handled.
type sysWriter struct {
	mu    sync.Mutex
	sys   service.Logger
	level slog.Level
}

func (w *sysWriter) Write(b []byte) (int, error) {
	line := string(bytes.TrimRight(b, "\n"))
	switch {
	case w.level >= slog.LevelError:
		_ = w.sys.Error(line)
	case w.level >= slog.LevelWarn:
		_ = w.sys.Warning(line)
	default:
		_ = w.sys.Info(line)
	}
	return len(b), nil
}

func newTeeHandler(next slog.Handler, sys service.Logger, min slog.Level) *teeHandler {
	w := &sysWriter{sys: sys}
	text := slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: min,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
				return slog.Attr{}
			}
			return a
		},
	})
	return &teeHandler{next: next, text: text, w: w, min: min}
}

func (h *teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min || h.next.Enabled(ctx, l)
}

func (h *teeHandler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.next.Enabled(ctx, r.Level) {
		err = h.next.Handle(ctx, r)
	}
	if r.Level >= h.min {
		h.w.mu.Lock()
		h.w.level = r.Level
		_ = h.text.Handle(ctx, r)
		h.w.mu.Unlock()
	}
	return err
}

func (h *teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &teeHandler{next: h.next.WithAttrs(as), text: h.text.WithAttrs(as), w: h.w, min: h.min}
}

func (h *teeHandler) WithGroup(name string) slog.Handler {
	return &teeHandler{next: h.next.WithGroup(name), text: h.text.WithGroup(name), w: h.w, min: h.min}
}
