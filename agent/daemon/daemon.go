// Package daemon runs the agent: it loads the config, reconciles on a
// schedule and serves /metrics, /healthz, /readyz and /status until its
// context is cancelled.
//
// The schedule: a full read of both sides first and then at least every
// reconcile.full_interval, incremental reads (AD by uSNChanged, the tenant
// by Graph delta) every reconcile.interval in between, each interval
// stretched by up to reconcile.jitter. A run that fails (a DC or the
// tenant unreachable) is retried after a backoff that starts at 10 seconds
// and doubles up to the interval, without stopping the process. In
// reconcile.mode enforce (and not staging) the run applies the plan's safe
// fixes through the journal; intents a crash left pending are resolved
// first. Nothing here depends on a clean stop.
//
// The config file is re-read when it changes (checked every few seconds)
// and on SIGHUP; a new config that does not load is rejected, logged and
// counted, and the old one keeps running.
package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/hybridsync/hybridsync/agent/config"
	"github.com/hybridsync/hybridsync/agent/metrics"
)

// Options configure Run.
type Options struct {
	// ConfigPath is the config file; it is reloaded on change and on
	// SIGHUP (where the platform has one).
	ConfigPath string
	// Listen, when set, overrides the config's http.listen.
	Listen string
	// Logger receives the agent's logs; nil means slog.Default().
	Logger *slog.Logger
	// Version and Revision are the build's, reported in
	// hybridsync_build_info and /status.
	Version, Revision string

	// Interval, when set, replaces reconcile.interval, below the config's
	// one-minute floor if need be (tests).
	Interval time.Duration
	// RetryBase is the first backoff after a failed run; 0 means 10s.
	RetryBase time.Duration
	// ReloadEvery is how often the config file is checked for changes; 0
	// means 5s.
	ReloadEvery time.Duration
	// MigrationPoll, when set, replaces migrations.sync.poll_interval
	// (tests).
	MigrationPoll time.Duration
	// OnListen, when set, is called with the HTTP address once listening
	// (tests listen on port 0).
	OnListen func(addr string)
}

// LockFile is the instance lock's name in the state directory.
const LockFile = "hybridsync.lock"

// stopTimeout bounds the HTTP server's shutdown.
const stopTimeout = 10 * time.Second

// Run runs the agent until ctx is cancelled; it returns nil then. It
// returns an error when the first config cannot be loaded, the HTTP
// listener cannot be opened, or another instance holds the state
// directory's lock.
func Run(ctx context.Context, opts Options) error {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg, version, err := load(opts.ConfigPath)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("run: create state_dir %s: %w", cfg.StateDir, err)
	}
	lock := flock.New(filepath.Join(cfg.StateDir, LockFile))
	locked, err := lock.TryLock()
	if err != nil {
		return fmt.Errorf("run: lock %s: %w", lock.Path(), err)
	}
	if !locked {
		return fmt.Errorf("run: another hybridsync is running with state_dir %s (it holds %s); one instance per state directory", cfg.StateDir, lock.Path())
	}
	defer lock.Unlock()

	m := metrics.New(metrics.BuildInfo{Version: opts.Version, Revision: opts.Revision})
	a := &agent{opts: opts, log: log, metrics: m, started: time.Now(), stateDir: cfg.StateDir}
	a.setConfig(cfg, version, time.Now())
	m.ConfigReloaded(true, time.Now())

	listen := cfg.HTTP.Listen
	if opts.Listen != "" {
		listen = opts.Listen
	}
	// SIGHUP is caught from before the agent says it is up, so that a
	// reload signal never finds the default action (exit) in place.
	hup, stopHup := hangups()
	defer stopHup()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("run: listen on %s: %w", listen, err)
	}
	srv := &http.Server{Handler: a.routes(), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() {
		var err error
		if cfg.HTTP.TLS.Enabled() {
			err = srv.ServeTLS(ln, cfg.HTTP.TLS.CertFile, cfg.HTTP.TLS.KeyFile)
		} else {
			err = srv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	}()
	log.Info("run: agent started", "listen", ln.Addr().String(), "config", opts.ConfigPath,
		"config_version", version, "mode", cfg.Reconcile.Mode, "staging", cfg.Staging, "state_dir", cfg.StateDir)
	if opts.OnListen != nil {
		opts.OnListen(ln.Addr().String())
	}

	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); a.watchConfig(runCtx, hup) }()
	go func() { defer wg.Done(); a.schedule(runCtx) }()
	go func() { defer wg.Done(); a.migrations(runCtx) }()

	var result error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		result = fmt.Errorf("run: HTTP server: %w", err)
	}
	cancel()
	shutCtx, done := context.WithTimeout(context.Background(), stopTimeout)
	defer done()
	_ = srv.Shutdown(shutCtx)
	// The scheduler's reads and writes all take runCtx, so they end
	// promptly; the journal covers a write cut short.
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-shutCtx.Done():
		log.Warn("run: work did not stop in time; exiting anyway (the journal resolves interrupted writes at the next start)")
	}
	log.Info("run: agent stopped")
	return result
}

// load reads and checks the config file and returns it with its version:
// the first 12 hex digits of the file's SHA-256.
func load(path string) (*config.Config, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("run: read config: %w", err)
	}
	// The version is of the bytes read before parsing: a file changed
	// while it is parsed is a newer version, loaded at the next check.
	version := versionOf(data, groupsDigest(config.MigrationsFile(path, data)))
	cfg, err := config.Parse(path, data, filepath.Dir(path))
	if err != nil {
		return nil, version, err
	}
	return cfg, version, nil
}

// versionOf is a config's version: the first 12 hex digits of the SHA-256
// of its file and, when it names a migrations file, of that file's digest,
// so that editing the groups file is a new version, reloaded.
func versionOf(data []byte, groupsFileDigest string) string {
	h := sha256.New()
	h.Write(data)
	if groupsFileDigest != "" {
		h.Write([]byte{0})
		h.Write([]byte(groupsFileDigest))
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
}

// groupsDigest is the SHA-256 of the migrations file at path ("" for
// none; a file that cannot be read has a digest of its own, so that the
// config is loaded again, and fails, when it becomes readable).
func groupsDigest(path string) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// fileVersion is the version load would give the config file at path now.
func fileVersion(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return versionOf(data, groupsDigest(config.MigrationsFile(path, data))), nil
}

// jittered stretches d by up to frac of itself.
func jittered(d time.Duration, frac float64) time.Duration {
	if frac <= 0 || d <= 0 {
		return d
	}
	return d + time.Duration(rand.Float64()*frac*float64(d))
}

// sleep waits d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-wake:
		return true
	case <-t.C:
		return true
	}
}
