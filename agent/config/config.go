// Package config loads the agent's YAML configuration file.
//
// Loading is strict and reports every problem at once:
//
//  1. The file is decoded with unknown keys rejected. Syntax errors, unknown
//     keys, duplicate keys and values of the wrong type are all collected.
//  2. If decoding succeeded, relative file paths are resolved against the
//     config file's directory and unset keys get their documented defaults.
//  3. The result is checked against every rule; each rule that fails adds a
//     [Problem], located by line and key path.
//
// Any problem makes [Load] and [Parse] return a *[ValidationError] listing
// all of them, sorted by line. Secrets are never written in the file: a
// [SecretRef] names an environment variable or a file, and is read only when
// the caller calls [SecretRef.Resolve].
//
// configs/hybridsync.example.yaml shows and explains every key.
package config

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
)

// Adding a section (cloud shows the pattern): add a field with a yaml tag to
// Config; give its type a setDefaults method called from applyDefaults
// (defaults.go, the one place for defaults) and a validate method called from
// validate (validate.go, the one place for rules, which appends problems and
// never stops early); resolve its file paths in resolvePaths; show every key
// in configs/hybridsync.example.yaml (a test checks this); and add one
// testdata/invalid-*.yaml file per rule with its exact message in
// TestLoadInvalid (a test checks that too).

// Config is the agent's configuration file. Load and Parse return it with
// defaults filled in and every rule satisfied.
type Config struct {
	// AD describes how to reach and read the on-premises Active Directory.
	AD AD `yaml:"ad"`
	// Cloud describes the Microsoft 365 tenant the agent writes to. It is
	// optional: a config without it (or with an empty one) has a zero Cloud
	// and is used for Active Directory only. See [Cloud.IsZero].
	Cloud Cloud `yaml:"cloud"`
	// StateDir holds the agent's state: the journal of writes
	// (journal.db) and the instance lock. A relative path is resolved
	// against the config file's directory. Default: /var/lib/hybridsync,
	// or %ProgramData%\hybridsync on Windows.
	StateDir string `yaml:"state_dir"`
	// Logging configures the agent's log output.
	Logging Logging `yaml:"logging"`
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
// krb5_conf, the cloud certificate file and file: secret references) are
// resolved against; empty means the current directory. All problems are
// returned at once as a *ValidationError.
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
	if len(probs) > 0 {
		return nil, newValidationError(name, probs)
	}
	resolvePaths(&c, baseDir)
	applyDefaults(&c, l)
	probs = validate(&c, l)
	if len(probs) > 0 {
		for i := range probs {
			if probs[i].Line == 0 {
				probs[i].Line = lineOf(root, probs[i].Path)
			}
		}
		return nil, newValidationError(name, probs)
	}
	return &c, nil
}
