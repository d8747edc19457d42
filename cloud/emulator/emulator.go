// Package emulator is a Microsoft 365 tenant emulator: an in-memory Entra ID
// directory and Exchange Online organisation served over HTTPS with the
// wire protocols the real clients use, so that msgraph-sdk-go (with
// azidentity) and hybridsync's Exchange Online admin REST client can be run
// against it unchanged.
//
// It serves:
//   - the Microsoft identity platform's OpenID configuration, instance
//     discovery and client-credentials token endpoints
//     (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow);
//   - Microsoft Graph v1.0 and beta: users, groups, orgContacts, members,
//     delta, $batch, group Source of Authority, revokeSignInSessions and
//     the authentication-methods report
//     (https://learn.microsoft.com/graph/api/overview);
//   - the Exchange Online admin API's InvokeCommand endpoint with the
//     recipient and distribution-group cmdlets, Get-/Set-Mailbox
//     (forwarding) and Get-/Add-/Remove-RecipientPermission (Send-As)
//     (https://learn.microsoft.com/powershell/exchange/exchange-online-powershell-v2).
//
// A sync-engine simulator projects on-premises objects into it through
// Update and Tx. Faults (throttling, unavailability, latency, eventual
// consistency) are injected deterministically from the injected random
// source. The emulator has no package-level mutable state: every clock,
// random source and counter hangs off an *Emulator.
package emulator

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hybridsync/hybridsync/cloud"
)

// Config configures an Emulator.
type Config struct {
	// TenantID is the tenant's GUID (required).
	TenantID string
	// ClientID and ClientSecret are the one app registration allowed to
	// get tokens (ClientID required). ClientSecret may be empty when only
	// certificate credentials are used.
	ClientID     string
	ClientSecret string
	// ClientCertPEM is the app's certificate (PEM, CERTIFICATE block) for
	// client-assertion authentication; optional.
	ClientCertPEM []byte
	// InitialDomain is the tenant's *.onmicrosoft.com domain (required).
	InitialDomain string
	// AcceptedDomains are further Authoritative accepted domains; the first
	// is the default domain (else the initial domain is).
	AcceptedDomains []string
	// StateFile, when set, is loaded by New if it exists and rewritten
	// atomically after every change (or see SaveEvery).
	StateFile string
	// SaveEvery, when greater than zero, rewrites StateFile at most this
	// often instead of after every change, and Flush writes what is
	// pending: a tenant of tens of thousands of objects is megabytes of
	// state, which rewriting for each of 65,000 membership changes would
	// make the emulator, not the client, the bottleneck. A crash of the
	// emulator's process loses the changes of at most SaveEvery.
	SaveEvery time.Duration
	Faults    Faults
	// Clock defaults to time.Now.
	Clock func() time.Time
	// Rand is the random source for GUIDs, request ids and fault
	// decisions; it defaults to a PCG seeded with Faults.Seed. Bearer
	// tokens use crypto/rand.
	Rand   *rand.Rand
	Logger *slog.Logger
	// DeltaTokenLifetime is how long a delta token stays valid (Graph's
	// is 7 days, the default).
	DeltaTokenLifetime time.Duration
	// AccessTokenLifetime is the bearer tokens' lifetime (default 1 h).
	AccessTokenLifetime time.Duration
	// ExchangeServer is the server name in Exchange error texts (default
	// "EMULATOR").
	ExchangeServer string
}

// Faults are the failures the emulator injects into Graph and Exchange
// requests (not into the token endpoint).
type Faults struct {
	// ThrottleRate is the fraction of requests (and of $batch items)
	// answered 429 TooManyRequests with a Retry-After header.
	ThrottleRate float64
	// RetryAfter is the Retry-After sent with 429 and 503 (rounded up to
	// whole seconds, at least 1).
	RetryAfter time.Duration
	// UnavailableRate is the fraction of requests answered 503.
	UnavailableRate float64
	// Latency is added to every request, token requests included.
	Latency time.Duration
	// VisibilityDelay hides objects created less than this long ago from
	// Graph and Exchange reads (404 on GET by id, absent from lists and
	// delta) while writes see them, like Entra ID's replication delay
	// (https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/).
	VisibilityDelay time.Duration
	// MaxMembersPerUpdate is the most members one
	// Update-DistributionGroupMember call may replace (default 1000).
	MaxMembersPerUpdate int
	// Seed seeds the default random source when Config.Rand is nil.
	Seed uint64
}

// Emulator is one emulated tenant. Its methods are safe for concurrent use.
type Emulator struct {
	cfg           Config
	log           *slog.Logger
	clock         func() time.Time
	initialDomain string
	routingDomain string
	cert          *x509.Certificate

	mu sync.Mutex // serializes transactions on st
	st *state
	// unsaved and saveTimer (guarded by mu) batch the saves when
	// Config.SaveEvery is set.
	unsaved   bool
	saveTimer *time.Timer

	rmu sync.Mutex // guards rnd
	rnd *rand.Rand

	fmu    sync.Mutex // guards faults, tokens, stats
	faults Faults
	tokens map[string]accessToken
	stats  Stats
}

// Stats counts what the emulator served, by path class: "oauth",
// "graph.list", "graph.get", "graph.members", "graph.delta", "graph.batch",
// "graph.soa", "graph.revoke", "graph.reports", "graph.authmethods",
// "graph.other" (unknown Graph paths), "exo", "notfound". $batch items are
// counted under "batch:<class>". Requests refused with 401 are counted in
// Requests and in Unauthorized; divide by objects served for "requests per
// 1000 objects" in benchmarks.
type Stats struct {
	Requests    map[string]int64 `json:"requests"`
	Throttled   map[string]int64 `json:"throttled"`
	Unavailable map[string]int64 `json:"unavailable"`
	// Unauthorized counts requests refused with 401.
	Unauthorized int64 `json:"unauthorized"`
	// Cmdlets counts the Exchange requests by cmdlet (X-CmdletName), each
	// page of a listing and each retry included.
	Cmdlets map[string]int64 `json:"cmdlets"`
}

// Total sums a per-class counter map.
func Total(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func newStats() Stats {
	return Stats{Requests: map[string]int64{}, Throttled: map[string]int64{}, Unavailable: map[string]int64{}, Cmdlets: map[string]int64{}}
}

const stateVersion = 1

// New builds an Emulator, loading Config.StateFile when it exists.
func New(cfg Config) (*Emulator, error) {
	var errs []error
	if cfg.TenantID == "" {
		errs = append(errs, errors.New("TenantID is required"))
	}
	if cfg.ClientID == "" {
		errs = append(errs, errors.New("ClientID is required"))
	}
	if cfg.ClientSecret == "" && len(cfg.ClientCertPEM) == 0 {
		errs = append(errs, errors.New("ClientSecret or ClientCertPEM is required"))
	}
	if !strings.HasSuffix(strings.ToLower(cfg.InitialDomain), ".onmicrosoft.com") {
		errs = append(errs, fmt.Errorf("InitialDomain %q must end in .onmicrosoft.com", cfg.InitialDomain))
	}
	if cfg.Faults.ThrottleRate < 0 || cfg.Faults.UnavailableRate < 0 || cfg.Faults.ThrottleRate+cfg.Faults.UnavailableRate > 1 {
		errs = append(errs, errors.New("Faults.ThrottleRate and UnavailableRate must be >= 0 and sum to at most 1"))
	}
	e := &Emulator{cfg: cfg, initialDomain: strings.ToLower(cfg.InitialDomain), tokens: map[string]accessToken{}, stats: newStats()}
	e.routingDomain = RoutingDomain(e.initialDomain)
	if len(cfg.ClientCertPEM) > 0 {
		block, _ := pem.Decode(cfg.ClientCertPEM)
		if block == nil || block.Type != "CERTIFICATE" {
			errs = append(errs, errors.New("ClientCertPEM holds no CERTIFICATE block"))
		} else if c, err := x509.ParseCertificate(block.Bytes); err != nil {
			errs = append(errs, fmt.Errorf("ClientCertPEM: %w", err))
		} else {
			e.cert = c
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("emulator: invalid config: %w", errors.Join(errs...))
	}
	if e.cfg.DeltaTokenLifetime <= 0 {
		e.cfg.DeltaTokenLifetime = 7 * 24 * time.Hour
	}
	if e.cfg.AccessTokenLifetime <= 0 {
		e.cfg.AccessTokenLifetime = time.Hour
	}
	if e.cfg.ExchangeServer == "" {
		e.cfg.ExchangeServer = "EMULATOR"
	}
	e.clock = cfg.Clock
	if e.clock == nil {
		e.clock = time.Now
	}
	e.log = cfg.Logger
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.rnd = cfg.Rand
	if e.rnd == nil {
		e.rnd = rand.New(rand.NewPCG(cfg.Faults.Seed, cfg.Faults.Seed^0x9e3779b97f4a7c15))
	}
	e.faults = withFaultDefaults(cfg.Faults)

	st, err := e.load()
	if err != nil {
		return nil, err
	}
	e.st = st
	// Accepted domains from the config, and the routing domain every
	// Exchange Online organisation has, are added to loaded state too.
	if err := e.Update(func(tx *Tx) error {
		for _, d := range cfg.AcceptedDomains {
			tx.AddAcceptedDomain(d)
		}
		tx.AddAcceptedDomain(e.routingDomain)
		return nil
	}); err != nil {
		return nil, err
	}
	return e, nil
}

func withFaultDefaults(f Faults) Faults {
	if f.MaxMembersPerUpdate <= 0 {
		f.MaxMembersPerUpdate = 1000
	}
	if f.RetryAfter <= 0 {
		f.RetryAfter = time.Second
	}
	return f
}

func (e *Emulator) load() (*state, error) {
	if e.cfg.StateFile != "" {
		b, err := os.ReadFile(e.cfg.StateFile)
		switch {
		case err == nil:
			var st state
			if err := json.Unmarshal(b, &st); err != nil {
				return nil, fmt.Errorf("emulator: load %s: %w", e.cfg.StateFile, err)
			}
			if st.Version != stateVersion {
				return nil, fmt.Errorf("emulator: load %s: state version %d, want %d", e.cfg.StateFile, st.Version, stateVersion)
			}
			if st.Objects == nil {
				st.Objects = map[string]*Object{}
			}
			// State saved before recipients had a LegacyExchangeDN.
			for _, o := range st.Objects {
				if o.Exchange.LegacyExchangeDN == "" && o.RecipientTypeDetails() != "" {
					o.Exchange.LegacyExchangeDN = LegacyExchangeDN(o)
				}
			}
			st.rebuildIndexes()
			e.log.Info("emulator state loaded", "state_file", e.cfg.StateFile, "objects", len(st.Objects), "seq", st.Seq)
			return &st, nil
		case errors.Is(err, fs.ErrNotExist):
		default:
			return nil, fmt.Errorf("emulator: load state: %w", err)
		}
	}
	defaultInitial := len(e.cfg.AcceptedDomains) == 0
	st := &state{
		Version:    stateVersion,
		InstanceID: e.newGUID(),
		Objects:    map[string]*Object{},
		Domains: []cloud.AcceptedDomain{{
			DomainName: e.initialDomain, DomainType: "Authoritative", Default: defaultInitial, InitialDomain: true,
		}},
	}
	for i, d := range e.cfg.AcceptedDomains {
		st.Domains = append(st.Domains, cloud.AcceptedDomain{DomainName: strings.ToLower(d), DomainType: "Authoritative", Default: i == 0})
	}
	st.rebuildIndexes()
	return st, nil
}

// save writes the state to StateFile atomically (temporary file, fsync,
// rename). Called with e.mu held.
func (e *Emulator) save() error {
	if e.cfg.StateFile == "" {
		return nil
	}
	b, err := json.Marshal(e.st)
	if err != nil {
		return fmt.Errorf("emulator: save state: %w", err)
	}
	dir := filepath.Dir(e.cfg.StateFile)
	f, err := os.CreateTemp(dir, filepath.Base(e.cfg.StateFile)+".tmp*")
	if err != nil {
		return fmt.Errorf("emulator: save state: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, e.cfg.StateFile)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("emulator: save state: %w", werr)
	}
	return nil
}

// Update runs fn in a read-write transaction. Transactions are serialized.
// If fn returns an error (or saving the state fails) its changes are
// rolled back and the error is returned; otherwise the state is saved to
// StateFile when anything changed.
func (e *Emulator) Update(fn func(tx *Tx) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	tx := newTx(e, e.st, e.clock(), false)
	if err := fn(tx); err != nil {
		tx.rollback()
		return err
	}
	if tx.dirty {
		if e.cfg.SaveEvery > 0 && e.cfg.StateFile != "" {
			e.unsaved = true
			if e.saveTimer == nil {
				e.saveTimer = time.AfterFunc(e.cfg.SaveEvery, e.savePending)
			}
			return nil
		}
		if err := e.save(); err != nil {
			tx.rollback()
			return err
		}
	}
	return nil
}

// savePending saves the changes SaveEvery batched.
func (e *Emulator) savePending() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.saveTimer = nil
	if err := e.flushLocked(); err != nil {
		e.log.Error("emulator: batched save failed; retrying at the next change", "error", err)
	}
}

// Flush saves the changes not yet saved (with Config.SaveEvery); call it
// before the process ends.
func (e *Emulator) Flush() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.saveTimer != nil {
		e.saveTimer.Stop()
		e.saveTimer = nil
	}
	return e.flushLocked()
}

func (e *Emulator) flushLocked() error {
	if !e.unsaved {
		return nil
	}
	if err := e.save(); err != nil {
		return err
	}
	e.unsaved = false
	return nil
}

// View runs fn in a read-only transaction; writing through the Tx panics.
func (e *Emulator) View(fn func(tx *Tx) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return fn(newTx(e, e.st, e.clock(), true))
}

// SetFaults replaces the fault configuration (zero MaxMembersPerUpdate and
// RetryAfter take their defaults).
func (e *Emulator) SetFaults(f Faults) {
	e.fmu.Lock()
	defer e.fmu.Unlock()
	e.faults = withFaultDefaults(f)
}

// Faults returns the current fault configuration.
func (e *Emulator) Faults() Faults {
	e.fmu.Lock()
	defer e.fmu.Unlock()
	return e.faults
}

// Stats returns a copy of the request counters.
func (e *Emulator) Stats() Stats {
	e.fmu.Lock()
	defer e.fmu.Unlock()
	s := newStats()
	for k, v := range e.stats.Requests {
		s.Requests[k] = v
	}
	for k, v := range e.stats.Throttled {
		s.Throttled[k] = v
	}
	for k, v := range e.stats.Unavailable {
		s.Unavailable[k] = v
	}
	for k, v := range e.stats.Cmdlets {
		s.Cmdlets[k] = v
	}
	s.Unauthorized = e.stats.Unauthorized
	return s
}

// ResetStats zeroes the request counters.
func (e *Emulator) ResetStats() {
	e.fmu.Lock()
	defer e.fmu.Unlock()
	e.stats = newStats()
}

func (e *Emulator) randFloat() float64 {
	e.rmu.Lock()
	defer e.rmu.Unlock()
	return e.rnd.Float64()
}

// newGUID returns a random (version 4) GUID from the injected source.
func (e *Emulator) newGUID() string {
	e.rmu.Lock()
	hi, lo := e.rnd.Uint64(), e.rnd.Uint64()
	e.rmu.Unlock()
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(hi >> (8 * i))
		b[8+i] = byte(lo >> (8 * i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// TenantID returns the configured tenant id.
func (e *Emulator) TenantID() string { return e.cfg.TenantID }

// InitialDomain returns the tenant's *.onmicrosoft.com domain.
func (e *Emulator) InitialDomain() string { return e.initialDomain }

// RoutingDomain returns the tenant's routing domain,
// <tenant>.mail.onmicrosoft.com, an accepted domain of every Exchange
// Online organisation: hybrid mail flow routes to alias@ that domain.
func (e *Emulator) RoutingDomain() string { return e.routingDomain }

// RoutingDomain derives the routing domain from an initial domain:
// contoso.onmicrosoft.com gives contoso.mail.onmicrosoft.com.
func RoutingDomain(initialDomain string) string {
	d := strings.ToLower(initialDomain)
	return strings.TrimSuffix(d, ".onmicrosoft.com") + ".mail.onmicrosoft.com"
}

// visible reports whether reads may see o at now (eventual consistency).
func (e *Emulator) visible(o *Object, now time.Time, delay time.Duration) bool {
	return !o.Deleted() && (delay <= 0 || !now.Before(o.CreatedDateTime.Add(delay)))
}
