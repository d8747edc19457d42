package config

import (
	"path/filepath"
	"strings"
	"time"
)

// Defaults and limits. This file is the one place that fills in defaults;
// validate.go enforces the limits.
const (
	defaultPageSize = 1000
	maxPageSize     = 1000
	defaultTimeout  = 30 * time.Second
	maxTimeout      = 10 * time.Minute

	tlsVersion12 = "1.2"
	tlsVersion13 = "1.3"

	bindSimple   = "simple"
	bindKerberos = "kerberos"

	cloudGlobal          = "global"
	cloudUSGovHigh       = "usgovhigh"
	cloudUSGovDoD        = "usgovdod"
	cloudChina           = "china"
	defaultNationalCloud = cloudGlobal
	defaultCloudTimeout  = 60 * time.Second
	maxCloudTimeout      = 10 * time.Minute

	defaultLogLevel  = "info"
	defaultLogFormat = "text"

	defaultReconcileMode = ModeObserve
	defaultInterval      = 5 * time.Minute
	minInterval          = time.Minute
	maxInterval          = 24 * time.Hour
	defaultFullInterval  = 24 * time.Hour
	maxFullInterval      = 24 * time.Hour
	defaultJitter        = 0.1
	maxJitter            = 0.5
	defaultMaxDeletes    = 500 // Entra Connect's accidental-delete threshold
	maxPercent           = 100
	defaultSourceAnchor  = SourceAnchorObjectGUID
	defaultVerifyTimeout = 45 * time.Minute
	defaultChangeWindow  = 24 * time.Hour
	minChangeWindow      = time.Hour
	maxChangeWindow      = 30 * 24 * time.Hour
	maxVerifyTimeout     = 6 * time.Hour
	defaultConcurrency   = 4
	maxConcurrency       = 32
	// defaultMemberConcurrency and maxMemberConcurrency bound
	// migrations.member_concurrency (maxMemberConcurrency is
	// exo.MaxMemberConcurrency).
	defaultMemberConcurrency = 8
	maxMemberConcurrency     = 64
	defaultHybridMailFlow    = true
	defaultKeepOnPremises    = false
	// groupTypeKeepWord is how the file may spell GroupTypeKeep, to
	// override a default group type.
	groupTypeKeepWord = "keep"

	defaultSyncCommandTimeout = 5 * time.Minute
	maxSyncCommandTimeout     = 30 * time.Minute
	defaultSyncWait           = 45 * time.Minute
	// defaultMigrationConcurrency and maxMigrationConcurrency bound how
	// many groups of a wave migrate at once: each makes a few dozen
	// Exchange Online calls, and the tenant's throttling budget is shared.
	defaultMigrationConcurrency = 4
	maxMigrationConcurrency     = 16
	minSyncWait                 = time.Minute
	maxSyncWait                 = 24 * time.Hour
	defaultSyncPoll             = 5 * time.Second
	maxSyncPoll                 = 5 * time.Minute

	defaultHTTPListen = "127.0.0.1:9847"
)

// allKinds returns the object kinds, in the order scope.kinds defaults to.
func allKinds() []string {
	return []string{KindUser, KindGroup, KindContact}
}

// sourceAnchors returns the valid source anchors, in canonical spelling.
func sourceAnchors() []string {
	return []string{SourceAnchorObjectGUID, SourceAnchorConsistencyGUID}
}

// applyDefaults fills every unset field that has a default. It runs after
// decoding succeeded and before validate. l supplies the environment
// dependent defaults.
func applyDefaults(c *Config, l loader) {
	c.AD.setDefaults(l)
	c.Cloud.setDefaults()
	c.Reconcile.setDefaults()
	c.Migrations.setDefaults(c.AD.NoSyncOU)
	c.HTTP.setDefaults()
	c.Logging.setDefaults()
	if c.StateDir == "" {
		c.StateDir = l.stateDirDefault
	}
}

func (r *Reconcile) setDefaults() {
	if r.Mode == "" {
		r.Mode = defaultReconcileMode
	}
	if r.Interval.Duration == 0 {
		r.Interval.Duration = defaultInterval
	}
	if r.FullInterval.Duration == 0 {
		r.FullInterval.Duration = defaultFullInterval
	}
	if r.Jitter == nil {
		j := defaultJitter
		r.Jitter = &j
	}
	if len(r.Scope.Kinds) == 0 {
		r.Scope.Kinds = allKinds()
	}
	for i, d := range r.Scope.Domains {
		r.Scope.Domains[i] = strings.ToLower(d)
	}
	if r.Limits.MaxDeletes == nil {
		n := defaultMaxDeletes
		r.Limits.MaxDeletes = &n
	}
	if r.Limits.ChangeWindow.Duration == 0 {
		r.Limits.ChangeWindow.Duration = defaultChangeWindow
	}
	if r.SourceAnchor == "" {
		r.SourceAnchor = defaultSourceAnchor
	}
	for _, a := range sourceAnchors() {
		if strings.EqualFold(r.SourceAnchor, a) {
			r.SourceAnchor = a
		}
	}
	if r.VerifyTimeout.Duration == 0 {
		r.VerifyTimeout.Duration = defaultVerifyTimeout
	}
	if r.Concurrency == 0 {
		r.Concurrency = defaultConcurrency
	}
}

// setDefaults completes Defaults (adNoSyncOU is ad.nosync_ou) and then
// every group's unset options from Defaults.
func (m *Migrations) setDefaults(adNoSyncOU string) {
	if m.Sync.Trigger == "" {
		m.Sync.Trigger = SyncTriggerNone
	}
	if m.Sync.CommandTimeout.Duration == 0 {
		m.Sync.CommandTimeout.Duration = defaultSyncCommandTimeout
	}
	if m.Sync.Wait.Duration == 0 {
		m.Sync.Wait.Duration = defaultSyncWait
	}
	if m.Sync.PollInterval.Duration == 0 {
		m.Sync.PollInterval.Duration = defaultSyncPoll
	}
	m.RoutingDomain = strings.ToLower(m.RoutingDomain)
	if m.Concurrency == 0 {
		m.Concurrency = defaultMigrationConcurrency
	}
	if m.MemberConcurrency == 0 {
		m.MemberConcurrency = defaultMemberConcurrency
	}
	d := &m.Defaults
	if d.Method == "" {
		d.Method = MethodAuto
	}
	if d.SkipNestedGroupCheck == nil {
		v := false
		d.SkipNestedGroupCheck = &v
	}
	if d.HybridMailFlow == nil {
		v := defaultHybridMailFlow
		d.HybridMailFlow = &v
	}
	if d.KeepOnPremisesGroup == nil {
		v := defaultKeepOnPremises
		d.KeepOnPremisesGroup = &v
	}
	if d.GroupType == groupTypeKeepWord {
		d.GroupType = GroupTypeKeep
	}
	if d.NoSyncOU == "" {
		d.NoSyncOU = adNoSyncOU
	}
	for i := range m.Groups {
		g := &m.Groups[i].MigrationOptions
		if g.Method == "" {
			g.Method = d.Method
		}
		if g.SkipNestedGroupCheck == nil {
			v := *d.SkipNestedGroupCheck
			g.SkipNestedGroupCheck = &v
		}
		if g.HybridMailFlow == nil {
			v := *d.HybridMailFlow
			g.HybridMailFlow = &v
		}
		if g.KeepOnPremisesGroup == nil {
			v := *d.KeepOnPremisesGroup
			g.KeepOnPremisesGroup = &v
		}
		switch g.GroupType {
		case "":
			g.GroupType = d.GroupType
		case groupTypeKeepWord:
			g.GroupType = GroupTypeKeep
		}
		if g.NotBefore.IsZero() {
			g.NotBefore = d.NotBefore
		}
		if g.NoSyncOU == "" {
			g.NoSyncOU = d.NoSyncOU
		}
	}
}

func (h *HTTP) setDefaults() {
	if h.Listen == "" {
		h.Listen = defaultHTTPListen
	}
}

func (a *AD) setDefaults(l loader) {
	if a.PageSize == 0 {
		a.PageSize = defaultPageSize
	}
	if a.Timeout.Duration == 0 {
		a.Timeout.Duration = defaultTimeout
	}
	a.TLS.setDefaults()
	a.Bind.setDefaults(l)
}

func (t *TLS) setDefaults() {
	if t.StartTLS == nil {
		on := true
		t.StartTLS = &on
	}
	if t.MinVersion == "" {
		t.MinVersion = tlsVersion12
	}
}

func (b *Bind) setDefaults(l loader) {
	if b.Method == "" {
		b.Method = bindSimple
	}
	b.Kerberos.Realm = strings.ToUpper(b.Kerberos.Realm)
	if b.Method == bindKerberos && b.Kerberos.Krb5Conf == "" && fileProblem("", l.krb5ConfDefault) == "" {
		b.Kerberos.Krb5Conf = l.krb5ConfDefault
	}
}

// setDefaults fills the defaults of a present cloud section. An absent
// (zero) section stays zero, so that Cloud.IsZero still tells it apart.
func (c *Cloud) setDefaults() {
	if c.IsZero() {
		return
	}
	if c.NationalCloud == "" {
		c.NationalCloud = defaultNationalCloud
	}
	if c.Timeout.Duration == 0 {
		c.Timeout.Duration = defaultCloudTimeout
	}
}

func (g *Logging) setDefaults() {
	if g.Level == "" {
		g.Level = defaultLogLevel
	}
	if g.Format == "" {
		g.Format = defaultLogFormat
	}
}

// resolvePaths makes every relative file path in c relative to baseDir
// instead of the working directory. It runs before applyDefaults, so
// default paths are used as they are.
func resolvePaths(c *Config, baseDir string) {
	c.AD.TLS.CAFile = resolvePath(baseDir, c.AD.TLS.CAFile)
	c.AD.Bind.Kerberos.Keytab = resolvePath(baseDir, c.AD.Bind.Kerberos.Keytab)
	c.AD.Bind.Kerberos.Krb5Conf = resolvePath(baseDir, c.AD.Bind.Kerberos.Krb5Conf)
	c.AD.Bind.Password = c.AD.Bind.Password.resolve(baseDir)
	c.StateDir = resolvePath(baseDir, c.StateDir)
	c.Cloud.CAFile = resolvePath(baseDir, c.Cloud.CAFile)
	c.Cloud.Credential.ClientSecret = c.Cloud.Credential.ClientSecret.resolve(baseDir)
	c.Cloud.Credential.Certificate.File = resolvePath(baseDir, c.Cloud.Credential.Certificate.File)
	c.Cloud.Credential.Certificate.Password = c.Cloud.Credential.Certificate.Password.resolve(baseDir)
	c.Migrations.File = resolvePath(baseDir, c.Migrations.File)
	c.HTTP.TLS.CertFile = resolvePath(baseDir, c.HTTP.TLS.CertFile)
	c.HTTP.TLS.KeyFile = resolvePath(baseDir, c.HTTP.TLS.KeyFile)
}

// resolvePath joins a relative p to baseDir. Empty and absolute paths are
// returned unchanged.
func resolvePath(baseDir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(baseDir, p)
}

// resolve returns r with a relative file: path joined to baseDir. Other
// references, and values that are not references, are returned unchanged.
func (r SecretRef) resolve(baseDir string) SecretRef {
	scheme, target, ok := r.split()
	if !ok || scheme != secretFilePrefix {
		return r
	}
	return SecretRef(secretFilePrefix + resolvePath(baseDir, target))
}
