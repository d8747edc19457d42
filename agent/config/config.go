// Package config loads the agent's YAML configuration file.
//
// Loading is strict and reports every problem at once:
//
//  1. The file is decoded with unknown keys rejected. Syntax errors, unknown
//     keys, duplicate keys and values of the wrong type are all collected.
//  2. If decoding succeeded, relative file paths are resolved against the
//     config file's directory, the file migrations.file names is decoded the
//     same way (its problems name it) and unset keys get their documented
//     defaults.
//  3. The result is checked against every rule; each rule that fails adds a
//     [Problem], located by line and key path.
//
// Any problem makes [Load] and [Parse] return a *[ValidationError] listing
// all of them, sorted by line. Secrets are never written in the file: a
// [SecretRef] names an environment variable or a file, and is read only when
// the caller calls [SecretRef.Resolve].
//
// configs/hybridsync.example.yaml shows and explains every key;
// configs/hybridsync.schema.json describes the file for editors and other
// tools.
package config

import (
	"cmp"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Adding a section (cloud shows the pattern): add a field with a yaml tag to
// Config; give its type a setDefaults method called from applyDefaults
// (defaults.go, the one place for defaults) and a validate method called from
// validate (validate.go, the one place for rules, which appends problems and
// never stops early); resolve its file paths in resolvePaths; show every key
// in configs/hybridsync.example.yaml and describe it, with its default, in
// configs/hybridsync.schema.json (tests check that the example, the schema,
// Config and the defaults agree); and add one configs/testdata/invalid-*.yaml
// file per rule with its exact message in TestLoadInvalid (a test checks
// that too).

// Config is the agent's configuration file. Load and Parse return it with
// defaults filled in and every rule satisfied.
type Config struct {
	// AD describes how to reach and read the on-premises Active Directory.
	AD AD `yaml:"ad"`
	// Cloud describes the Microsoft 365 tenant the agent writes to. It is
	// optional: a config without it (or with an empty one) has a zero Cloud
	// and is used for Active Directory only. See [Cloud.IsZero].
	Cloud Cloud `yaml:"cloud"`
	// Reconcile configures the agent service's reconcile loop: how often
	// it compares Active Directory with the tenant, what it considers and
	// whether it applies fixes. Every key has a default.
	Reconcile Reconcile `yaml:"reconcile"`
	// Migrations lists the distribution lists to migrate to the cloud.
	// Optional; empty means none.
	Migrations Migrations `yaml:"migrations"`
	// Staging makes the whole agent read-only, like Entra Connect's
	// staging mode: it reads, plans and reports, but writes nothing to
	// Active Directory or the tenant, whatever Reconcile.Mode says, and
	// runs no migration. Default false. See [Config.Enforcing].
	Staging bool `yaml:"staging"`
	// StateDir holds the agent's state: the journal of writes
	// (journal.db) and the instance lock. A relative path is resolved
	// against the config file's directory. Default: /var/lib/hybridsync,
	// or %ProgramData%\hybridsync on Windows.
	StateDir string `yaml:"state_dir"`
	// HTTP configures the agent service's HTTP listener (metrics, health
	// and status).
	HTTP HTTP `yaml:"http"`
	// Logging configures the agent's log output.
	Logging Logging `yaml:"logging"`
}

// Enforcing reports whether the agent may apply fixes: Reconcile.Mode is
// enforce and Staging is false.
func (c *Config) Enforcing() bool {
	return !c.Staging && c.Reconcile.Mode == ModeEnforce
}

// AD describes the Active Directory domain the agent reads from.
type AD struct {
	// URLs lists the domain controllers, tried in order. Required, at least
	// one. Each is ldaps://host[:port] or ldap://host[:port], with no user
	// information, path, query or fragment.
	URLs []string `yaml:"urls"`
	// BaseDN is the DN every search starts from. Required.
	BaseDN string `yaml:"base_dn"`
	// SyncOUs limits synchronisation to these subtrees. Each must be a DN
	// equal to or below BaseDN (RDNs compared case-insensitively); no entry
	// may repeat or lie inside another. Empty means all of BaseDN.
	SyncOUs []string `yaml:"sync_ous"`
	// NoSyncOU is an optional DN strictly below BaseDN whose objects are
	// never synchronised. It may lie inside a sync OU but must not equal one.
	NoSyncOU string `yaml:"nosync_ou"`
	// TLS configures transport security.
	TLS TLS `yaml:"tls"`
	// Bind configures how the agent authenticates.
	Bind Bind `yaml:"bind"`
	// PageSize is the LDAP paged-search page size, 1 to 1000. Zero means
	// the default, 1000 (Active Directory's MaxPageSize).
	PageSize int `yaml:"page_size"`
	// Timeout bounds each LDAP operation. It must be at most 10m; zero
	// means the default, 30s.
	Timeout Duration `yaml:"timeout"`
}

// TLS configures how the agent secures and verifies its connection to a
// domain controller.
type TLS struct {
	// CAFile is a PEM file of CA certificates that sign the DCs'
	// certificates. Empty means the system roots. A relative path is
	// resolved against the config file's directory; if set, the file must
	// exist and hold at least one certificate.
	CAFile string `yaml:"ca_file"`
	// ServerName overrides the host name verified in the DC's certificate.
	// Empty means the host of the URL being dialled.
	ServerName string `yaml:"server_name"`
	// StartTLS controls whether ldap:// connections are upgraded with
	// StartTLS. Nil means true; use [TLS.UseStartTLS] to read it. Setting it
	// to false while any URL is ldap:// requires Bind.AllowPlaintext.
	StartTLS *bool `yaml:"start_tls"`
	// MinVersion is the lowest TLS version accepted: "1.2" (the default)
	// or "1.3". Use [TLS.MinTLSVersion] for the crypto/tls constant.
	MinVersion string `yaml:"min_version"`
}

// UseStartTLS reports whether connections to ldap:// URLs must be upgraded
// with StartTLS before binding. It is true unless start_tls is false.
// ldaps:// URLs are encrypted from the start and never use StartTLS.
func (t TLS) UseStartTLS() bool {
	return t.StartTLS == nil || *t.StartTLS
}

// MinTLSVersion returns MinVersion as a crypto/tls version constant:
// tls.VersionTLS13 for "1.3", otherwise tls.VersionTLS12.
func (t TLS) MinTLSVersion() uint16 {
	if t.MinVersion == tlsVersion13 {
		return tls.VersionTLS13
	}
	return tls.VersionTLS12
}

// Bind configures how the agent authenticates to the domain controller.
type Bind struct {
	// Method is "simple" (the default) or "kerberos".
	Method string `yaml:"method"`
	// DN is the simple-bind identity: a DN, user@REALM or DOMAIN\user.
	// Required for, and only allowed with, method simple.
	DN string `yaml:"dn"`
	// Password references the simple-bind password. Required for, and only
	// allowed with, method simple. It is never an inline value.
	Password SecretRef `yaml:"password"`
	// AllowPlaintext permits binding over a connection that is not
	// encrypted (an ldap:// URL with start_tls: false). Default false.
	AllowPlaintext bool `yaml:"allow_plaintext"`
	// Kerberos configures the GSSAPI bind. Only allowed with method
	// kerberos.
	Kerberos Kerberos `yaml:"kerberos"`
}

// Kerberos configures a Kerberos (GSSAPI) bind from a keytab.
type Kerberos struct {
	// Principal is the user name, without realm or as user@REALM. Required.
	// A realm given here must match Realm.
	Principal string `yaml:"principal"`
	// Realm is the Kerberos realm, upper-cased when loaded. Required.
	Realm string `yaml:"realm"`
	// Keytab is the path of the keytab holding the principal's key,
	// relative paths resolved against the config file's directory.
	// Required; the file must exist.
	Keytab string `yaml:"keytab"`
	// Krb5Conf is the path of the krb5.conf to use. Empty means
	// /etc/krb5.conf if that file exists; otherwise it is required. A set
	// path must exist.
	Krb5Conf string `yaml:"krb5_conf"`
	// SPN is the service principal of the directory, such as
	// ldap/dc1.example.com. Empty means the ad package derives it from the
	// URL being dialled.
	SPN string `yaml:"spn"`
}

// isZero reports whether no Kerberos field is set.
func (k Kerberos) isZero() bool {
	return k == Kerberos{}
}

// Cloud describes the Microsoft Entra tenant and the app registration the
// agent authenticates as. When the section is present, every rule below
// applies; when it is absent the whole struct is zero.
type Cloud struct {
	// TenantID is the Entra directory (tenant) ID, a GUID written
	// xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx. Required. A domain name is not
	// accepted: the Exchange admin API needs the GUID.
	TenantID string `yaml:"tenant_id"`
	// ClientID is the application (client) ID of the app registration, a
	// GUID. Required.
	ClientID string `yaml:"client_id"`
	// NationalCloud is the cloud the tenant lives in: global (the default),
	// usgovhigh, usgovdod or china. The values are those of auth.Cloud.
	NationalCloud string `yaml:"national_cloud"`
	// InitialDomain is the tenant's initial domain, such as
	// contoso.onmicrosoft.com: one DNS label followed by .onmicrosoft.com,
	// .onmicrosoft.us or .partner.onmschina.cn (compared
	// case-insensitively). Required. It is used for MOERA addresses and
	// Exchange's X-AnchorMailbox.
	InitialDomain string `yaml:"initial_domain"`
	// Credential is how the app authenticates. Required.
	Credential CloudCredential `yaml:"credential"`
	// Endpoints optionally override the national cloud's endpoints (a
	// lab's tenant emulator).
	Endpoints CloudEndpoints `yaml:"endpoints"`
	// CAFile is an optional PEM file of CA certificates trusted besides the
	// system roots (a lab's CA). A relative path is resolved against the
	// config file's directory; if set, the file must exist and hold at
	// least one certificate.
	CAFile string `yaml:"ca_file"`
	// Timeout bounds each HTTP request to the cloud. It must be at most
	// 10m; zero means the default, 60s.
	Timeout Duration `yaml:"timeout"`
}

// IsZero reports whether no cloud key is set, which is the case exactly
// when the file has no cloud section (or an empty one): Load fills in the
// defaults of a present section, so a loaded Cloud that is not zero has
// passed every cloud rule.
func (c Cloud) IsZero() bool {
	return c == Cloud{}
}

// CloudCredential holds exactly one of ClientSecret and Certificate.
type CloudCredential struct {
	// ClientSecret references the app's client secret. It is never an
	// inline value.
	ClientSecret SecretRef `yaml:"client_secret"`
	// Certificate is the app's certificate and private key.
	Certificate CloudCertificate `yaml:"certificate"`
}

// CloudCertificate is a certificate credential.
type CloudCertificate struct {
	// File is a PEM file holding the certificate and its unencrypted
	// private key, or a PKCS#12 file named *.pfx or *.p12. Required when a
	// certificate is set; the file must exist. A relative path is resolved
	// against the config file's directory.
	File string `yaml:"file"`
	// Password references the PKCS#12 file's password. Optional, and only
	// allowed when File ends in .pfx or .p12 (compared case-insensitively).
	Password SecretRef `yaml:"password"`
}

// isZero reports whether no certificate field is set.
func (c CloudCertificate) isZero() bool {
	return c == CloudCertificate{}
}

// CloudEndpoints override the national cloud's endpoints. Each is empty
// (the national cloud's endpoint) or an https:// origin, https://host[:port]
// with an optional trailing "/" and no user information, path, query or
// fragment. The fields match auth.Endpoints.
type CloudEndpoints struct {
	// Authority is the token authority, such as
	// https://login.microsoftonline.com/.
	Authority string `yaml:"authority"`
	// Graph is the Microsoft Graph origin, such as
	// https://graph.microsoft.com.
	Graph string `yaml:"graph"`
	// Exchange is the Exchange Online origin, such as
	// https://outlook.office365.com.
	Exchange string `yaml:"exchange"`
}

// Logging configures the agent's log output.
type Logging struct {
	// Level is the lowest level logged: debug, info (the default), warn or
	// error.
	Level string `yaml:"level"`
	// Format is text (the default) or json.
	Format string `yaml:"format"`
}

// SlogLevel returns Level as a slog.Level. An unset or unknown level is
// slog.LevelInfo.
func (l Logging) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// Reconcile modes, the values of Reconcile.Mode.
const (
	// ModeObserve computes and reports the differences and fixes nothing.
	ModeObserve = "observe"
	// ModeEnforce also applies the safe fixes (unless Config.Staging).
	ModeEnforce = "enforce"
)

// Object kinds, the values of ReconcileScope.Kinds.
const (
	KindUser    = "user"
	KindGroup   = "group"
	KindContact = "contact"
)

// Source anchors, the values of Reconcile.SourceAnchor.
const (
	// SourceAnchorObjectGUID anchors each object on its objectGUID.
	SourceAnchorObjectGUID = "objectGUID"
	// SourceAnchorConsistencyGUID anchors each object on
	// mS-DS-ConsistencyGuid, the anchor Entra Connect recommends.
	SourceAnchorConsistencyGUID = "mS-DS-ConsistencyGuid"
)

// Reconcile configures the reconcile loop. Load fills every default, so a
// loaded Reconcile is complete: no pointer is nil.
type Reconcile struct {
	// Mode is ModeObserve (the default: compute and report) or ModeEnforce
	// (also apply the safe fixes). Staging overrides enforce; see
	// [Config.Enforcing]. Enforce needs a cloud section.
	Mode string `yaml:"mode"`
	// Interval is the time between incremental reconciles, 1m to 24h.
	// Zero means the default, 5m.
	Interval Duration `yaml:"interval"`
	// FullInterval is the time between full reads of both directories, at
	// least Interval and at most 24h (a full read runs at least daily).
	// Zero means the default, 24h.
	FullInterval Duration `yaml:"full_interval"`
	// Jitter is the largest fraction of an interval added to it at random,
	// 0 to 0.5, so that agents do not run in step. Nil means the default,
	// 0.1; Load never leaves it nil. See [Reconcile.JitterFraction].
	Jitter *float64 `yaml:"jitter"`
	// Scope narrows what plan and apply consider. Empty lists mean no
	// narrowing.
	Scope ReconcileScope `yaml:"scope"`
	// Limits stop an apply whose plan is larger than expected, as Entra
	// Connect's accidental-delete threshold does.
	Limits ReconcileLimits `yaml:"limits"`
	// SourceAnchor is the AD attribute the tenant's objects are anchored
	// on (their onPremisesImmutableId): SourceAnchorObjectGUID (the
	// default) or SourceAnchorConsistencyGUID. It must match the sync
	// engine's. Written case-insensitively; Load stores the canonical
	// spelling.
	SourceAnchor string `yaml:"source_anchor"`
	// CertificateUserIDsAttribute is the AD attribute that a sync rule maps
	// to the users' certificateUserIds, an LDAP attribute name (a letter
	// followed by letters, digits and hyphens, or a numeric OID). Empty
	// means none is mapped.
	CertificateUserIDsAttribute string `yaml:"certificate_user_ids_attribute"`
	// VerifyTimeout is how long apply waits for the next sync cycle to
	// show a fix in the cloud, greater than 0 and at most 6h. Zero means
	// the default, 45m.
	VerifyTimeout Duration `yaml:"verify_timeout"`
	// Concurrency is the number of workers reading and writing at once, 1
	// to 32. Zero means the default, 4.
	Concurrency int `yaml:"concurrency"`
}

// JitterFraction returns Jitter, or the default 0.1 when it is nil.
func (r Reconcile) JitterFraction() float64 {
	if r.Jitter == nil {
		return defaultJitter
	}
	return *r.Jitter
}

// ReconcileScope narrows what plan and apply consider. It never widens
// what ad.sync_ous select.
type ReconcileScope struct {
	// OUs limits the objects to these subtrees. Each is a DN equal to or
	// below ad.base_dn, inside one of ad.sync_ous when those are set and
	// not inside ad.nosync_ou; none may repeat or lie inside another. Empty
	// means every synchronised OU.
	OUs []string `yaml:"ous"`
	// Kinds limits the object kinds: KindUser, KindGroup and KindContact,
	// each at most once. Empty in the file means all three, which Load
	// fills in.
	Kinds []string `yaml:"kinds"`
	// Domains limits the objects to those with a primary address in one of
	// these domains. Each is a DNS name such as example.com, lower-cased
	// when loaded; none may repeat. Empty means every domain.
	Domains []string `yaml:"domains"`
}

// ReconcileLimits are the safety limits of an apply. A plan over any limit
// is not applied.
type ReconcileLimits struct {
	// MaxDeletes is the most deletes one apply may make: -1 means no
	// limit, 0 means no deletes at all. Nil means the default, 500 (Entra
	// Connect's accidental-delete threshold); Load never leaves it nil.
	MaxDeletes *int `yaml:"max_deletes"`
	// MaxDeletePercent is the most deletes one apply may make, as a
	// percentage of the objects in scope, 0 to 100. 0 (the default) means
	// no limit.
	MaxDeletePercent int `yaml:"max_delete_percent"`
	// MaxChanges is the most changes (creates, updates and deletes) one
	// apply may make, and the most applied within ChangeWindow, counted
	// from the journal (so that drift arriving a little at a time is not
	// applied without end), 0 or more. 0 (the default) means no limit.
	MaxChanges int `yaml:"max_changes"`
	// ChangeWindow is the rolling window MaxChanges counts over, 1h to
	// 30 days. Zero means the default, 24h.
	ChangeWindow Duration `yaml:"change_window"`
	// MaxChangePercent is the most changes one apply may make, as a
	// percentage of the objects in scope, 0 to 100. 0 (the default) means
	// no limit.
	MaxChangePercent int `yaml:"max_change_percent"`
}

// Migrations lists the distribution lists to migrate to the cloud. The
// groups may be written inline, in a separate file, or both.
type Migrations struct {
	// File is an optional YAML file holding more groups, as a mapping with
	// the single key groups in the same format as Groups. A relative path
	// is resolved against the config file's directory; if set, the file
	// must exist. Problems in it are reported with its name and lines.
	File string `yaml:"file"`
	// Defaults are the options of every group that does not set them. Load
	// completes them with the built-in defaults: HybridMailFlow true,
	// KeepOnPremisesGroup false, GroupType GroupTypeKeep, NotBefore zero
	// and NoSyncOU ad.nosync_ou.
	Defaults MigrationOptions `yaml:"defaults"`
	// Groups are the groups to migrate. After Load it holds the inline
	// groups followed by File's, each with its options completed from
	// Defaults and its Source set. No group may be listed twice, in either
	// place. Any group needs a cloud section.
	Groups []MigrationGroup `yaml:"groups"`
	// Sync is how a migration gets the sync engine to run a cycle, and how
	// long it waits for what a cycle should show.
	Sync MigrationSync `yaml:"sync"`
	// RoutingDomain is the domain of the tenant's routing addresses
	// (alias@RoutingDomain), the targetAddress of the on-premises routing
	// contacts. Empty means the tenant's mail.onmicrosoft.com domain,
	// derived from cloud.initial_domain (contoso.onmicrosoft.com gives
	// contoso.mail.onmicrosoft.com).
	RoutingDomain string `yaml:"routing_domain"`
	// Concurrency is how many groups of a wave migrate at once (a batch
	// moves in waves, children before parents, each wave sharing one sync
	// cycle), 1 to 16. Zero means the default, 4.
	Concurrency int `yaml:"concurrency"`
	// MemberConcurrency is how many single-member calls
	// (Add-DistributionGroupMember, Remove-DistributionGroupMember) run at
	// once when a list's members do not fit in one call, 1 to 64. Zero
	// means the default, 8.
	MemberConcurrency int `yaml:"member_concurrency"`
}

// Sync triggers, the values of MigrationSync.Trigger.
const (
	// SyncTriggerNone waits for the sync engine's own schedule.
	SyncTriggerNone = "none"
	// SyncTriggerCommand runs MigrationSync.Command, such as a remote
	// Start-ADSyncSyncCycle -PolicyType Delta on the Entra Connect server
	// (the lab's config runs `hybridsync lab sync`).
	SyncTriggerCommand = "command"
)

// MigrationSync is how a migration waits for the sync engine.
type MigrationSync struct {
	// Trigger is SyncTriggerNone (the default) or SyncTriggerCommand.
	Trigger string `yaml:"trigger"`
	// Command is the program and its arguments run to trigger a delta sync
	// cycle (no shell): required with SyncTriggerCommand, unset otherwise.
	Command []string `yaml:"command"`
	// CommandTimeout bounds one run of Command, 1s to 30m. Zero means the
	// default, 5m.
	CommandTimeout Duration `yaml:"command_timeout"`
	// Wait is the longest wait for what a sync cycle should show (the
	// synced twin gone, the group cloud-managed), 1m to 24h; past it the
	// group is reported as waiting too long, and waits on. Zero means the
	// default, 45m (Entra Connect's default cycle is every 30 minutes).
	Wait Duration `yaml:"wait"`
	// PollInterval is the first interval between reads while waiting; it
	// doubles after each read up to 15s (or itself, if longer) and starts
	// again after each triggered cycle. 1s to 5m; zero means the default,
	// 5s.
	PollInterval Duration `yaml:"poll_interval"`
}

// MigrationGroup is one group to migrate.
type MigrationGroup struct {
	// Group identifies the on-premises group: its primary SMTP address
	// (local@domain) or its objectGUID in registry form,
	// {xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx} (the braces may be left out).
	// Required. See [MigrationGroup.GUID].
	Group string `yaml:"group"`
	// MigrationOptions are this group's options; unset ones are taken from
	// Migrations.Defaults.
	MigrationOptions `yaml:",inline"`
	// Source is where the entry is written. It is set by Load, not read
	// from the file.
	Source Source `yaml:"-"`
}

// GUID returns the group's objectGUID in lower case, without braces, if
// Group is one; ok is false when Group is an address.
func (g MigrationGroup) GUID() (guid string, ok bool) {
	if s, braced := strings.CutPrefix(g.Group, "{"); braced {
		s, braced = strings.CutSuffix(s, "}")
		if !braced || !isGUID(s) {
			return "", false
		}
		return strings.ToLower(s), true
	}
	if !isGUID(g.Group) {
		return "", false
	}
	return strings.ToLower(g.Group), true
}

// MigrationOptions are the per-group options of a migration. In
// Migrations.Defaults and in a group, an unset option (nil, "" or the zero
// time) is filled in by Load, so they are all set after Load except
// NotBefore and, when nothing sets one, NoSyncOU.
type MigrationOptions struct {
	// Method is how the group moves: MethodAuto (the default: MethodSOA
	// when the tenant converts the group's Source of Authority, else
	// MethodRecreate), MethodSOA or MethodRecreate.
	Method string `yaml:"method"`
	// SkipNestedGroupCheck migrates a group that has mail-enabled groups
	// as members, keeping the (still synced) child groups as members of the
	// cloud list, as DLConversionV2's -skipNestedGroupCheck does. Default
	// false: a nested group blocks the migration.
	SkipNestedGroupCheck *bool `yaml:"skip_nested_group_check"`
	// HybridMailFlow keeps a mail-enabled contact (with forwarding) on
	// premises in place of the group, so that on-premises senders reach
	// the cloud group. Default true.
	HybridMailFlow *bool `yaml:"hybrid_mail_flow"`
	// KeepOnPremisesGroup keeps the on-premises group (moved to NoSyncOU)
	// instead of deleting it once the cloud group exists. Default false.
	KeepOnPremisesGroup *bool `yaml:"keep_on_premises_group"`
	// GroupType is the type of the cloud group: GroupTypeKeep (the
	// default: the on-premises group's type), GroupTypeDistribution or
	// GroupTypeSecurity (mail-enabled security). The file may also say
	// "keep", to override a default; Load stores it as GroupTypeKeep.
	GroupType string `yaml:"group_type"`
	// NotBefore is the earliest time the migration may start. The zero
	// time means no restriction.
	NotBefore Time `yaml:"not_before"`
	// NoSyncOU is the OU the on-premises group is moved to, to take it out
	// of the sync scope: a DN strictly below ad.base_dn, outside the sync
	// scope (not inside any of ad.sync_ous, or inside ad.nosync_ou).
	// Default ad.nosync_ou; every group needs one.
	NoSyncOU string `yaml:"nosync_ou"`
}

// Migration methods, the values of MigrationOptions.Method after Load.
const (
	MethodAuto     = "auto"
	MethodSOA      = "soa"
	MethodRecreate = "recreate"
)

// Group types, the values of MigrationOptions.GroupType after Load.
const (
	GroupTypeKeep         = ""
	GroupTypeDistribution = "distribution"
	GroupTypeSecurity     = "security"
)

// Source locates an entry in the file it is written in.
type Source struct {
	// File is the config file's name as given to Load or Parse, or the
	// resolved path of Migrations.File.
	File string
	// Line is the 1-based line of the entry.
	Line int
	// Path is the entry's key path within File, such as
	// "migrations.groups[2]" in the config file or "groups[0]" in
	// Migrations.File.
	Path string
}

// String returns "FILE:LINE".
func (s Source) String() string {
	return fmt.Sprintf("%s:%d", s.File, s.Line)
}

// HTTP configures the agent service's HTTP listener.
type HTTP struct {
	// Listen is the address to listen on, host:port with a numeric port
	// from 1 to 65535; an empty host means every interface. Default
	// 127.0.0.1:9847.
	Listen string `yaml:"listen"`
	// TLS optionally serves HTTPS instead of HTTP.
	TLS HTTPTLS `yaml:"tls"`
}

// HTTPTLS is the listener's certificate. Either both files are set or
// neither (plain HTTP).
type HTTPTLS struct {
	// CertFile is a PEM file with the certificate chain. A relative path
	// is resolved against the config file's directory.
	CertFile string `yaml:"cert_file"`
	// KeyFile is a PEM file with the certificate's unencrypted private
	// key; it may be CertFile. A relative path is resolved against the
	// config file's directory. The two files must load as a key pair with
	// tls.LoadX509KeyPair.
	KeyFile string `yaml:"key_file"`
}

// Enabled reports whether HTTPS is configured.
func (t HTTPTLS) Enabled() bool {
	return t.CertFile != "" && t.KeyFile != ""
}

// Load reads, strictly decodes, fills defaults and validates the file at
// path. Relative paths inside the file are resolved against the directory
// of path as given (not made absolute). A read failure is returned wrapped
// as "config.Load: read PATH: ..."; invalid content is returned as a
// *ValidationError.
func Load(path string) (*Config, error) {
	const op = "config.Load"
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", op, path, pathErrCause(err))
	}
	return Parse(path, data, filepath.Dir(path))
}

// Parse strictly decodes data, fills defaults and validates the result. name
// identifies the source in messages (usually the file path). baseDir is the
// directory that relative file paths (the ca_file keys, the keytab,
// krb5_conf, the cloud certificate file, file: secret references,
// state_dir, migrations.file and the http.tls files) are resolved against;
// empty means the current directory. Parse reads migrations.file, if set.
// All problems are returned at once as a *ValidationError.
func Parse(name string, data []byte, baseDir string) (*Config, error) {
	return newLoader().parse(name, data, baseDir)
}

// loader holds the environment-dependent inputs of parsing, so that tests
// can replace them without package-level state.
type loader struct {
	// krb5ConfDefault is used for kerberos.krb5_conf when it is unset and
	// this file exists.
	krb5ConfDefault string
	// stateDirDefault is used for state_dir when it is unset.
	stateDirDefault string
}

func newLoader() loader {
	return loader{krb5ConfDefault: "/etc/krb5.conf", stateDirDefault: defaultStateDir()}
}

// defaultStateDir is /var/lib/hybridsync, or %ProgramData%\hybridsync on
// Windows.
func defaultStateDir() string {
	if runtime.GOOS == "windows" {
		pd := os.Getenv("ProgramData")
		if pd == "" {
			pd = `C:\ProgramData`
		}
		return filepath.Join(pd, "hybridsync")
	}
	return "/var/lib/hybridsync"
}

func (l loader) parse(name string, data []byte, baseDir string) (*Config, error) {
	var c Config
	root, probs := decode(data, &c)
	if root == nil && len(probs) == 0 {
		probs = []Problem{emptyProblem()}
	}
	if len(probs) > 0 {
		return nil, newValidationError(name, probs)
	}
	resolvePaths(&c, baseDir)
	// The node tree of each file read, to find the lines of problems.
	trees := map[string]*yaml.Node{name: root}
	fileTree, probs := c.Migrations.gather(name, root)
	if fileTree != nil {
		trees[c.Migrations.File] = fileTree
	}
	applyDefaults(&c, l)
	probs = append(probs, validate(&c, l)...)
	if len(probs) > 0 {
		for i := range probs {
			tree := trees[cmp.Or(probs[i].File, name)]
			if probs[i].Line == 0 && tree != nil {
				probs[i].Line = lineOf(tree, probs[i].Path)
			}
		}
		return nil, newValidationError(name, probs)
	}
	return &c, nil
}
