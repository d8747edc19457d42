// Package setup turns a loaded config into what the commands and the
// service work with, once: the AD client's config, the cloud session, the
// sync scope, the planner's options, the applier's options and the journal.
// Nothing downstream reads the config file's sections again; the CLI and the
// service hand a *Setup down instead, so that a plan and an apply mean the
// same thing in both.
package setup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/agent/config"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/cloud/auth"
	"github.com/hybridsync/hybridsync/cloud/exo"
	"github.com/hybridsync/hybridsync/cloud/graph"
	"github.com/hybridsync/hybridsync/internal/failpoint"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/apply"
	"github.com/hybridsync/hybridsync/reconcile/journal"
	"github.com/hybridsync/hybridsync/reconcile/migrate"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// JournalLockTimeout is how long a command or the service waits for
// another hybridsync to release the journal (the service holds it only
// while it writes).
const JournalLockTimeout = 30 * time.Second

// exchangeTimeout bounds one Exchange admin API request: the service lets
// a cmdlet run for up to 15 minutes, as ExchangeOnlineManagement v3 allows.
const exchangeTimeout = 16 * time.Minute

// Observers receive one call per request of each client; any may be nil.
type Observers struct {
	LDAP, Graph, Exchange func(op, result string, d time.Duration)
	// LDAPRetry, GraphRetry and ExchangeRetry are called before each retry
	// wait.
	LDAPRetry, GraphRetry, ExchangeRetry func(attempt int, wait time.Duration, err error)
}

// Setup is what a config describes, built once by New.
type Setup struct {
	// Path is the config file's path, for messages.
	Path string
	// AD is the LDAP client's config.
	AD adldap.Config
	// BaseDN is ad.base_dn: where the AD reads look.
	BaseDN string
	// Scope is the sync engine's scope (config.AD.SyncScope).
	Scope ad.SyncScope
	// HasCloud is false when the config has no cloud section.
	HasCloud bool
	// InitialDomain is the tenant's initial domain.
	InitialDomain string
	// Anchor is reconcile.source_anchor.
	Anchor plan.SourceAnchor
	// Limit is reconcile.limits.max_changes over its window.
	Limit apply.ChangeLimit
	// Resolve settles writes whose outcome is unknown.
	Resolve apply.ResolveOptions
	// Concurrency is reconcile.concurrency.
	Concurrency int
	// StateDir holds the journal and the instance lock.
	StateDir string
	// Staging and Enforcing are the config's modes.
	Staging, Enforcing bool

	// Migrations are the groups to migrate, with their options.
	Migrations []Migration
	// defaultMigration are migrations.defaults' options.
	defaultMigration migrate.Options

	planOptions plan.Options
	noDeletes   bool
	migSync     config.MigrationSync
	routing     string
	// MigrationConcurrency is how many groups of a wave migrate at once.
	MigrationConcurrency int
	// memberConcurrency is migrations.member_concurrency.
	memberConcurrency int
	adTimeout         time.Duration
	narrow            config.ReconcileScope
	cloud             config.Cloud
	log               *slog.Logger
	obs               Observers
}

// New builds the Setup of cfg, loaded from path. Errors name the config
// key.
func New(cfg *config.Config, path string, log *slog.Logger, obs Observers) (*Setup, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	anchor, err := plan.ParseSourceAnchor(cfg.Reconcile.SourceAnchor)
	if err != nil {
		return nil, fmt.Errorf("%s: reconcile.source_anchor: %w", path, err)
	}
	s := &Setup{
		Path: path, AD: adConfig(cfg, log, obs), BaseDN: cfg.AD.BaseDN, Scope: cfg.AD.SyncScope(),
		HasCloud: !cfg.Cloud.IsZero(), InitialDomain: cfg.Cloud.InitialDomain, Anchor: anchor,
		Limit:       apply.ChangeLimit{Max: cfg.Reconcile.Limits.MaxChanges, Window: cfg.Reconcile.Limits.ChangeWindow.Duration},
		Resolve:     apply.ResolveOptions{SettleAfter: apply.SettleAfter(cfg.AD.Timeout.Duration)},
		Concurrency: max(cfg.Reconcile.Concurrency, 1), StateDir: cfg.StateDir,
		Staging: cfg.Staging, Enforcing: cfg.Enforcing(),
		narrow: cfg.Reconcile.Scope, cloud: cfg.Cloud, log: log, obs: obs,
		migSync: cfg.Migrations.Sync, routing: cfg.Migrations.RoutingDomain, MigrationConcurrency: cfg.Migrations.Concurrency,
		memberConcurrency: cfg.Migrations.MemberConcurrency, adTimeout: cfg.AD.Timeout.Duration,
	}
	for _, g := range cfg.Migrations.Groups {
		s.Migrations = append(s.Migrations, migrationOf(g))
	}
	s.defaultMigration = migrationOf(config.MigrationGroup{MigrationOptions: cfg.Migrations.Defaults}).Options
	if s.planOptions, err = planOptions(cfg, anchor); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m := cfg.Reconcile.Limits.MaxDeletes; m != nil && *m == 0 {
		s.noDeletes = true
	}
	return s, nil
}

// adConfig turns the file's AD section into the client's config.
func adConfig(c *config.Config, log *slog.Logger, obs Observers) adldap.Config {
	a := c.AD
	method := adldap.BindSimple
	if a.Bind.Method == "kerberos" {
		method = adldap.BindKerberos
	}
	cfg := adldap.Config{
		URLs:           a.URLs,
		BaseDN:         a.BaseDN,
		CAFile:         a.TLS.CAFile,
		ServerName:     a.TLS.ServerName,
		StartTLS:       a.TLS.UseStartTLS(),
		MinTLSVersion:  a.TLS.MinTLSVersion(),
		Method:         method,
		BindDN:         a.Bind.DN,
		Password:       a.Bind.Password.Resolve,
		AllowPlaintext: a.Bind.AllowPlaintext,
		Principal:      a.Bind.Kerberos.Principal,
		Realm:          a.Bind.Kerberos.Realm,
		Keytab:         a.Bind.Kerberos.Keytab,
		Krb5Conf:       a.Bind.Kerberos.Krb5Conf,
		SPN:            a.Bind.Kerberos.SPN,
		PageSize:       a.PageSize,
		Timeout:        a.Timeout.Duration,
		Logger:         log,
		Observe:        obs.LDAP,
	}
	cfg.Retry = policy(obs.LDAPRetry)
	return cfg
}

// DialAD connects to the first DC of the config that answers.
func (s *Setup) DialAD(ctx context.Context) (*adldap.Client, error) {
	return adldap.Dial(ctx, s.AD)
}

// DialEachDC binds to each DC of the config in turn and reports each
// result (config validate).
func (s *Setup) DialEachDC(ctx context.Context, report func(url string, err error)) {
	for _, u := range s.AD.URLs {
		one := s.AD
		one.URLs = []string{u}
		c, err := adldap.Dial(ctx, one)
		if err == nil {
			_ = c.Close()
		}
		report(u, err)
	}
}

// session builds the azidentity session of the config's cloud section.
func (s *Setup) session() (*auth.Session, error) {
	if !s.HasCloud {
		return nil, fmt.Errorf("%s has no cloud section", s.Path)
	}
	cc := s.cloud
	ac := auth.Config{
		TenantID: cc.TenantID, ClientID: cc.ClientID, Cloud: auth.Cloud(cc.NationalCloud),
		Override: auth.Endpoints{Authority: cc.Endpoints.Authority, Graph: cc.Endpoints.Graph, Exchange: cc.Endpoints.Exchange},
		CAFile:   cc.CAFile, Timeout: cc.Timeout.Duration,
	}
	if cc.Credential.ClientSecret != "" {
		ac.ClientSecret = cc.Credential.ClientSecret.Resolve
	} else {
		file := cc.Credential.Certificate.File
		ac.Certificate = func() ([]byte, error) { return os.ReadFile(file) }
		if cc.Credential.Certificate.Password != "" {
			ac.CertificatePassword = cc.Credential.Certificate.Password.Resolve
		}
	}
	return auth.NewSession(ac)
}

// CheckTokens asks the token endpoint for a Graph and an Exchange token
// with the config's credential: what `config validate` calls reachability
// of the tenant. It returns the token endpoint's authority.
func (s *Setup) CheckTokens(ctx context.Context) (string, error) {
	sess, err := s.session()
	if err != nil {
		return "", err
	}
	for _, scope := range []string{sess.Scopes.GraphScope(), sess.Scopes.ExchangeScope()} {
		if _, err := sess.Token(ctx, scope); err != nil {
			return sess.Endpoints.Authority, fmt.Errorf("token for %s: %w", scope, err)
		}
	}
	return sess.Endpoints.Authority, nil
}

// Tenant builds the Graph and Exchange clients of the config's cloud
// section.
func (s *Setup) Tenant() (cloud.Tenant, error) {
	sess, err := s.session()
	if err != nil {
		return nil, err
	}
	// Exchange cmdlets may run for up to 15 minutes on the server: the
	// Exchange client keeps its own (longer) timeout over the session's
	// transport, which trusts the configured CAs.
	ex, err := exo.New(exo.Config{
		BaseURL: sess.Endpoints.Exchange, TenantID: s.cloud.TenantID, InitialDomain: s.InitialDomain,
		HTTPClient: &http.Client{Transport: sess.HTTPClient.Transport, Timeout: exchangeTimeout},
		Logger:     s.log, Observe: s.obs.Exchange, Retry: policy(s.obs.ExchangeRetry), MemberConcurrency: s.memberConcurrency,
		Token: func(ctx context.Context) (string, error) { return sess.Token(ctx, sess.Scopes.ExchangeScope()) },
	})
	if err != nil {
		return nil, err
	}
	return graph.New(graph.Config{Session: sess, Exchange: ex, Logger: s.log, Observe: s.obs.Graph, Retry: policy(s.obs.GraphRetry)})
}

// policy is the default retry policy reporting to onRetry, or nil (the
// client's default) when onRetry is nil.
func policy(onRetry func(attempt int, wait time.Duration, err error)) *retry.Policy {
	if onRetry == nil {
		return nil
	}
	p := retry.DefaultPolicy()
	p.OnRetry = onRetry
	return &p
}

// JournalPath is the journal's file in the state directory.
func (s *Setup) JournalPath() string { return filepath.Join(s.StateDir, journal.FileName) }

// OpenJournal opens the journal, creating the state directory (0700) and
// the journal when create is set; without create a missing journal is
// reported as os.ErrNotExist.
func (s *Setup) OpenJournal(create bool) (*journal.Journal, error) {
	return s.OpenJournalWithin(create, JournalLockTimeout)
}

// OpenJournalWithin is OpenJournal waiting at most lockTimeout for another
// process to release the journal (journal.ErrLocked past it): for the
// commands that only read it and have somewhere else to look.
func (s *Setup) OpenJournalWithin(create bool, lockTimeout time.Duration) (*journal.Journal, error) {
	path := s.JournalPath()
	if create {
		if err := os.MkdirAll(s.StateDir, 0o700); err != nil {
			return nil, fmt.Errorf("create state_dir %s: %w", s.StateDir, err)
		}
	} else if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	return journal.Open(journal.Options{Path: path, LockTimeout: lockTimeout, Logger: s.log})
}

// Applier is the applier of one run of kind ("apply", "undo", "agent")
// over dir and j: run id, source anchor and recovery rules from the config.
// fp is nil but in crash tests.
func (s *Setup) Applier(dir apply.Directory, j *journal.Journal, kind string, fp failpoint.Hook) *apply.Applier {
	return &apply.Applier{Dir: dir, Journal: j, RunID: apply.NewRunID(kind, time.Now()), Anchor: s.Anchor,
		Resolve: s.Resolve, Logger: s.log, Failpoint: fp}
}

// Allow are the command line's overrides of the limits.
type Allow struct{ Deletes, Changes bool }

// PlanOptions are the planner's options, with allow's overrides.
func (s *Setup) PlanOptions(allow Allow) plan.Options {
	o := s.planOptions
	o.AllowDeletes, o.AllowChanges = allow.Deletes, allow.Changes
	return o
}

// planOptions are the plan.Options the config's reconcile section asks
// for.
func planOptions(cfg *config.Config, anchor plan.SourceAnchor) (plan.Options, error) {
	r := cfg.Reconcile
	o := plan.Options{
		DeletePercent:   float64(r.Limits.MaxDeletePercent),
		ChangeThreshold: r.Limits.MaxChanges,
		ChangePercent:   float64(r.Limits.MaxChangePercent),
		Anchor:          anchor,
	}
	if r.Limits.MaxDeletes != nil {
		switch n := *r.Limits.MaxDeletes; {
		case n < 0:
			o.DeleteThreshold = -1
		case n > 0:
			o.DeleteThreshold = n
		}
		// 0 (no deletes at all) is checked by CheckNoDeletes: plan counts
		// 0 as its default.
	}
	if attr := r.CertificateUserIDsAttribute; attr != "" {
		key, ok := extensionAttribute(attr)
		if !ok {
			return o, fmt.Errorf("reconcile.certificate_user_ids_attribute %s: this version reads certificateUserIds sources from extensionAttribute1 to extensionAttribute15 only", attr)
		}
		o.CertificateUserIDsAttr = key
		o.CertificateUserIDs = func(rc *ad.Recipient) []string {
			if v := rc.ExtensionAttributes[key]; v != "" {
				return []string{v}
			}
			return nil
		}
	}
	return o, nil
}

// extensionAttribute returns the canonical extensionAttributeN name.
func extensionAttribute(attr string) (string, bool) {
	for i := 1; i <= 15; i++ {
		name := fmt.Sprintf("extensionAttribute%d", i)
		if strings.EqualFold(attr, name) {
			return name, true
		}
	}
	return "", false
}

// errNoDeletes is the refusal of reconcile.limits.max_deletes: 0.
var errNoDeletes = errors.New("reconcile.limits.max_deletes is 0 (no deletes at all)")

// CheckNoDeletes refuses a plan that deletes anything when
// reconcile.limits.max_deletes is 0, unless allowed.
func (s *Setup) CheckNoDeletes(p plan.Plan, allow Allow) error {
	if s.noDeletes && p.Summary.Deletes > 0 && !allow.Deletes {
		return fmt.Errorf("%w: %w, and the next sync would delete %d cloud objects (--allow-deletes accepts it)", plan.ErrLimitExceeded, errNoDeletes, p.Summary.Deletes)
	}
	return nil
}

// Narrow returns the reconcile.scope predicate over a plan's findings, or
// nil when it narrows nothing: an object is kept when it lies under one of
// scope.ous, is of one of scope.kinds and has its mail in one of
// scope.domains (each only when set). Objects the AD read does not hold
// (cloud orphans) are judged by their DN alone.
func (s *Setup) Narrow(as plan.ADSnapshot) func(dn, guid string) bool {
	sc := s.narrow
	allKinds := len(sc.Kinds) == 0 || len(sc.Kinds) == 3
	if len(sc.OUs) == 0 && allKinds && len(sc.Domains) == 0 {
		return nil
	}
	ous := ad.NewSyncScope(sc.OUs, nil)
	byGUID := make(map[string]*ad.Recipient, len(as.Objects))
	for _, r := range as.Objects {
		byGUID[strings.ToLower(r.GUID)] = r
	}
	return func(dn, guid string) bool {
		r := byGUID[strings.ToLower(guid)]
		if r != nil {
			dn = r.DN
		}
		if len(sc.OUs) > 0 && (dn == "" || !ous.Contains(dn)) {
			return false
		}
		if r == nil {
			return true
		}
		if !allKinds && !slices.Contains(sc.Kinds, string(r.Kind)) {
			return false
		}
		if len(sc.Domains) > 0 {
			_, dom, _ := strings.Cut(strings.ToLower(r.Mail), "@")
			return slices.Contains(sc.Domains, dom)
		}
		return true
	}
}

// DescribeNarrow names reconcile.scope for messages.
func (s *Setup) DescribeNarrow() string {
	sc := s.narrow
	return fmt.Sprintf("ous %s; kinds %s; domains %s", orAll(sc.OUs), orAll(sc.Kinds), orAll(sc.Domains))
}

func orAll(v []string) string {
	if len(v) == 0 {
		return "all"
	}
	return strings.Join(v, ", ")
}

// Migration is one group to migrate.
type Migration struct {
	// Group is the group as configured: its address or objectGUID.
	Group string
	// Source is where the config lists it (FILE:LINE).
	Source string
	// NotBefore is the earliest start; zero means any time.
	NotBefore time.Time
	Options   migrate.Options
}

// migrationOf is g's migration. Load completes every option; one left
// unset (a config built in code) takes the built-in default.
func migrationOf(g config.MigrationGroup) Migration {
	or := func(p *bool, def bool) bool {
		if p == nil {
			return def
		}
		return *p
	}
	return Migration{Group: g.Group, Source: g.Source.String(), NotBefore: g.NotBefore.Time, Options: migrate.Options{
		Method: g.Method, NoSyncOU: g.NoSyncOU, HybridMailFlow: or(g.HybridMailFlow, true), KeepOriginal: or(g.KeepOnPremisesGroup, false),
		SkipNestedGroupCheck: or(g.SkipNestedGroupCheck, false), GroupType: g.GroupType}}
}

// Migration returns the configured migration of group (matched as
// configured, case-insensitively), or one with the defaults' options for a
// group the config does not list.
func (s *Setup) Migration(group string) (Migration, bool) {
	for _, m := range s.Migrations {
		if strings.EqualFold(m.Group, group) || strings.EqualFold(strings.Trim(m.Group, "{}"), strings.Trim(group, "{}")) {
			return m, true
		}
	}
	return Migration{Group: group, Options: s.defaultMigration}, false
}

// The engine reads a big group's members with one search when the
// directory can (a silent fallback would be one read per member).
var _ migrate.MemberReader = (*adldap.Client)(nil)

// MigrationEnv is the migration engine's environment over dir, tenant and
// j: the scope, the tenant's domains, the sync trigger and waits of
// migrations.sync. fp is nil but in crash tests.
func (s *Setup) MigrationEnv(dir *adldap.Client, tenant cloud.Tenant, j *journal.Journal, fp failpoint.Hook, obs migrate.Observer) *migrate.Env {
	e := &migrate.Env{Dir: dir, Graph: tenant, Exchange: tenant.Exchange(), Journal: j, Scope: s.Scope,
		InitialDomain: s.InitialDomain, RoutingDomain: s.routing, Wait: s.migSync.Wait.Duration, Poll: s.migSync.PollInterval.Duration,
		SettleAfter: apply.SettleAfter(s.adTimeout), Failpoint: fp, Logger: s.log, Observe: obs}
	if s.migSync.Trigger == config.SyncTriggerCommand {
		e.Sync = &commandTrigger{argv: s.migSync.Command, timeout: s.migSync.CommandTimeout.Duration, log: s.log}
	}
	return e
}
