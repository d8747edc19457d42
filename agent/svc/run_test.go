package svc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// eventLog is a service.Logger that records what it is sent, standing in
// for the Windows Event Log.
type eventLog struct {
	mu    sync.Mutex
	lines []string // "LEVEL text"
}

func (l *eventLog) add(level string, v ...any) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, level+" "+fmt.Sprint(v...))
	return nil
}
func (l *eventLog) Error(v ...any) error   { return l.add("ERROR", v...) }
func (l *eventLog) Warning(v ...any) error { return l.add("WARNING", v...) }
func (l *eventLog) Info(v ...any) error    { return l.add("INFO", v...) }
func (l *eventLog) Errorf(f string, a ...any) error {
	return l.add("ERROR", fmt.Sprintf(f, a...))
}
func (l *eventLog) Warningf(f string, a ...any) error {
	return l.add("WARNING", fmt.Sprintf(f, a...))
}
func (l *eventLog) Infof(f string, a ...any) error { return l.add("INFO", fmt.Sprintf(f, a...)) }

func (l *eventLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// syncBuffer is a bytes.Buffer safe for the program's goroutine and the
// test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type harness struct {
	log   *syncBuffer
	event *eventLog
	exits chan int
	p     *Program
}

func newHarness(ctx context.Context, run RunFunc, stopTimeout time.Duration) *harness {
	h := &harness{log: &syncBuffer{}, event: &eventLog{}, exits: make(chan int, 1)}
	h.p = NewProgram(ctx, run, ProgramOptions{
		Logger:       slog.New(slog.NewTextHandler(h.log, nil)),
		SystemLogger: h.event,
		StopTimeout:  stopTimeout,
		Exit:         func(code int) { h.exits <- code },
	})
	return h
}

func (h *harness) noExit(t *testing.T) {
	t.Helper()
	select {
	case code := <-h.exits:
		t.Errorf("the program exited with %d", code)
	default:
	}
}

// TestProgramStartStop: Start returns at once while the agent runs; Stop
// cancels the agent's context and returns once it returned.
func TestProgramStartStop(t *testing.T) {
	running := make(chan struct{})
	cancelled := make(chan struct{})
	h := newHarness(context.Background(), func(ctx context.Context, _ *slog.Logger) error {
		close(running)
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond) // some cleanup
		close(cancelled)
		return nil
	}, time.Minute)

	t0 := time.Now()
	if err := h.p.Start(nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("Start took %v", d)
	}
	<-running
	if err := h.p.Start(nil); err == nil {
		t.Errorf("a second Start succeeded")
	}
	if err := h.p.Stop(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cancelled:
	default:
		t.Errorf("Stop returned before the agent returned")
	}
	h.noExit(t)
	if got := h.event.all(); !equal(got, []string{"INFO hybridsync service started", "INFO hybridsync service stopped"}) {
		t.Errorf("event log = %q", got)
	}
	if out := h.log.String(); !strings.Contains(out, `msg="service started"`) || !strings.Contains(out, `msg="service stopped"`) {
		t.Errorf("log = %s", out)
	}
}

func equal(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

// TestProgramStopTimeout: an agent that ignores cancellation does not hold
// Stop beyond the stop timeout.
func TestProgramStopTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	h := newHarness(context.Background(), func(ctx context.Context, _ *slog.Logger) error {
		<-release
		return nil
	}, 50*time.Millisecond)
	if err := h.p.Start(nil); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	err := h.p.Stop(nil)
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("Stop took %v", d)
	}
	if err == nil || !strings.HasPrefix(err.Error(), "service stop: the agent did not stop within 50ms") {
		t.Errorf("Stop = %v", err)
	}
	h.noExit(t)
	if got := h.event.all(); len(got) != 2 || !strings.HasPrefix(got[1], "ERROR service stop: the agent did not stop") {
		t.Errorf("event log = %q", got)
	}
}

// TestProgramFailure: an agent that returns on its own, with an error or
// without one, is reported as fatal (Event Log included) and the process
// exits with status 1 so that the service manager restarts it.
func TestProgramFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"error", errors.New("load config: no such file"), "load config: no such file"},
		{"nil", nil, "returned without being asked to stop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(context.Background(), func(ctx context.Context, _ *slog.Logger) error { return tc.err }, time.Minute)
			if err := h.p.Start(nil); err != nil {
				t.Fatal(err)
			}
			select {
			case code := <-h.exits:
				if code != 1 {
					t.Errorf("exit code %d", code)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the program did not exit")
			}
			ev := h.event.all()
			if len(ev) != 2 || ev[1] != "ERROR hybridsync agent failed: "+errOrMsg(tc.err, tc.want) {
				t.Errorf("event log = %q", ev)
			}
			if out := h.log.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, tc.want) {
				t.Errorf("log = %s", out)
			}
		})
	}
}

func errOrMsg(err error, msg string) string {
	if err != nil {
		return err.Error()
	}
	return "the agent " + msg
}

// TestProgramParentCancelled: when the CLI's context is cancelled (SIGTERM
// in the foreground path) the agent stops without being reported as failed.
func TestProgramParentCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan struct{})
	h := newHarness(ctx, func(ctx context.Context, _ *slog.Logger) error {
		<-ctx.Done()
		close(returned)
		return nil
	}, time.Minute)
	if err := h.p.Start(nil); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-returned
	if err := h.p.Stop(nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	h.noExit(t)
}

// TestProgramLogsToEventLog: what the agent logs at Warn and above also
// reaches the system logger, as "msg key=value" without time or level;
// Info does not; the agent's own logger gets everything.
func TestProgramLogsToEventLog(t *testing.T) {
	h := newHarness(context.Background(), func(ctx context.Context, log *slog.Logger) error {
		log.Info("reconcile done", "objects", 3)
		log = log.With("component", "ldap")
		log.Warn("DC unreachable", "url", "ldaps://dc1:636")
		log.WithGroup("bind").Error("bind failed", "method", "kerberos")
		<-ctx.Done()
		return nil
	}, time.Minute)
	if err := h.p.Start(nil); err != nil {
		t.Fatal(err)
	}
	if err := h.p.Stop(nil); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"INFO hybridsync service started",
		`WARNING msg="DC unreachable" component=ldap url=ldaps://dc1:636`,
		`ERROR msg="bind failed" component=ldap bind.method=kerberos`,
		"INFO hybridsync service stopped",
	}
	if got := h.event.all(); !equal(got, want) {
		t.Errorf("event log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	out := h.log.String()
	for _, s := range []string{`msg="reconcile done" objects=3`, `component=ldap url=ldaps://dc1:636`, `bind.method=kerberos`} {
		if !strings.Contains(out, s) {
			t.Errorf("agent log lacks %q:\n%s", s, out)
		}
	}
}

// TestRunUnderKardianos runs Run through kardianos/service's real Run on
// this platform (here: Start, wait for a signal or the context, Stop):
// cancelling the context stops the agent and Run returns nil.
func TestRunUnderKardianos(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	stopped := make(chan struct{})
	var logBuf syncBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, "hybridsync-test", func(ctx context.Context, l *slog.Logger) error {
			if l != log {
				t.Errorf("on Linux the agent logs through the caller's logger unchanged")
			}
			close(started)
			<-ctx.Done()
			close(stopped)
			return nil
		}, log)
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not start")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the context was cancelled")
	}
	<-stopped
	if out := logBuf.String(); !strings.Contains(out, `msg="service started"`) || !strings.Contains(out, `msg="service stopped"`) {
		t.Errorf("log = %s", out)
	}
}
