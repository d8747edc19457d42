package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/ad"
)

// validate checks every rule on a decoded config whose defaults are filled
// in and returns all problems found, in no particular order. It is the one
// place that checks rules: each section's validate method appends to the
// same list and never stops early.
func validate(c *Config, l loader) []Problem {
	var ps problems
	scope := c.AD.validate(&ps, "ad", l)
	c.Cloud.validate(&ps, "cloud")
	c.Reconcile.validate(&ps, "reconcile", scope, !c.Cloud.IsZero())
	c.Migrations.validate(&ps, "migrations", scope, !c.Cloud.IsZero())
	c.HTTP.validate(&ps, "http")
	c.Logging.validate(&ps, "logging")
	return ps
}

// adScope holds the parsed DNs of the ad section, for the rules of other
// sections that refer to them. A DN that is not valid is nil (its problem
// is reported at its own key), and rules that need it are skipped.
type adScope struct {
	base *ad.DN
	// syncOUs are the parsed ad.sync_ous; empty means all of base.
	syncOUs []*ad.DN
	// syncOUsValid reports whether every sync OU is valid, so that
	// syncOUs can tell what is in scope.
	syncOUsValid bool
	// noSync is ad.nosync_ou, nil if unset.
	noSync *ad.DN
	// noSyncValid reports whether ad.nosync_ou is unset or valid.
	noSyncValid bool
	// noSyncText is ad.nosync_ou as written, valid or not.
	noSyncText string
	// sync is the ad section's SyncScope, when every DN in it is valid.
	sync ad.SyncScope
}

// synchronised reports whether objects in dn are in the sync scope: inside
// a sync OU (or anywhere, with none) and not inside nosync_ou. ok is false
// when that cannot be told because a sync OU or nosync_ou is not valid.
func (s adScope) synchronised(dn string) (in, ok bool) {
	if !s.syncOUsValid || !s.noSyncValid || s.base == nil {
		return false, false
	}
	return s.sync.Contains(dn), true
}

// validate checks the ad section and returns its parsed DNs.
func (a *AD) validate(ps *problems, path string, l loader) adScope {
	plainURL := validateURLs(ps, key(path, "urls"), a.URLs)

	base := validateRequiredDN(ps, key(path, "base_dn"), a.BaseDN)
	syncOUs := validateSyncOUs(ps, key(path, "sync_ous"), a.SyncOUs, base)
	noSync, noSyncValid := validateNoSyncOU(ps, path, a.NoSyncOU, base, syncOUs)
	scope := adScope{
		base:         base,
		syncOUs:      syncOUs,
		syncOUsValid: !slices.Contains(syncOUs, nil),
		noSync:       noSync,
		noSyncValid:  noSyncValid,
		noSyncText:   a.NoSyncOU,
		sync:         a.SyncScope(),
	}

	if a.PageSize < 1 || a.PageSize > maxPageSize {
		ps.add(key(path, "page_size"),
			fmt.Sprintf("must be between 1 and %d, got %d", maxPageSize, a.PageSize),
			"Active Directory returns at most 1000 entries per page")
	}
	validateTimeout(ps, key(path, "timeout"), a.Timeout.Duration, maxTimeout)

	a.TLS.validate(ps, key(path, "tls"))
	a.Bind.validate(ps, key(path, "bind"), l)

	if plainURL >= 0 && !a.TLS.UseStartTLS() && !a.Bind.AllowPlaintext {
		ps.add(key(path, "tls.start_tls"),
			fmt.Sprintf("is false and %s is an ldap:// URL, so the connection would not be encrypted",
				index(key(path, "urls"), plainURL)),
			"use ldaps://, remove start_tls: false, or set ad.bind.allow_plaintext: true")
	}
	return scope
}

// validateTimeout checks that d is greater than 0 and at most limit.
func validateTimeout(ps *problems, path string, d, limit time.Duration) {
	if d <= 0 || d > limit {
		ps.add(path,
			fmt.Sprintf("must be greater than 0s and at most %s, got %s", formatDuration(limit), formatDuration(d)), "")
	}
}

// formatDuration formats d like time.Duration.String without trailing zero
// units: "10m" rather than "10m0s", "1h" rather than "1h0m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
		if t, ok := strings.CutSuffix(s, "h0m"); ok {
			s = t + "h"
		}
	}
	return s
}

// validateURLs checks the domain controller URLs. It returns the index of
// the first valid ldap:// URL, or -1 if there is none.
func validateURLs(ps *problems, path string, urls []string) int {
	const hint = "write ldaps://host[:port] or ldap://host[:port]"
	if len(urls) == 0 {
		ps.add(path, "at least one URL is required", "for example ldaps://dc1.example.com:636")
		return -1
	}
	plain := -1
	seen := make(map[string]int, len(urls))
	for i, raw := range urls {
		p := index(path, i)
		if strings.TrimSpace(raw) == "" {
			ps.add(p, "is empty", hint)
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			// Report only the cause: url.Error repeats the URL, which
			// could hold a password.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			ps.add(p, fmt.Sprintf("is not a valid URL: %v", err), hint)
			continue
		}
		ok := true
		if u.Scheme != "ldaps" && u.Scheme != "ldap" {
			ps.add(p, fmt.Sprintf("has scheme %q, want ldaps or ldap", u.Scheme), hint)
			ok = false
		}
		if u.User != nil {
			ps.add(p, "must not contain a user name or password",
				"put the identity in ad.bind.dn and the password reference in ad.bind.password")
			ok = false
		}
		if u.Hostname() == "" {
			ps.add(p, "has no host", hint)
			ok = false
		}
		if port := u.Port(); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				ps.add(p, fmt.Sprintf("has invalid port %q", port), "use a port from 1 to 65535")
				ok = false
			}
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			ps.add(p, "must not have a path, query or fragment", hint)
			ok = false
		}
		if !ok {
			continue
		}
		norm := strings.ToLower(u.Scheme + "://" + u.Host)
		if j, dup := seen[norm]; dup {
			ps.add(p, fmt.Sprintf("repeats %s", index(path, j)), "list each domain controller once")
			continue
		}
		seen[norm] = i
		if u.Scheme == "ldap" && plain < 0 {
			plain = i
		}
	}
	return plain
}

// validateRequiredDN checks a required DN and returns it parsed, or nil.
func validateRequiredDN(ps *problems, path, s string) *ad.DN {
	if strings.TrimSpace(s) == "" {
		ps.add(path, "is required", "for example DC=example,DC=com")
		return nil
	}
	return validateDN(ps, path, s)
}

// validateDN parses a DN, reporting a problem and returning nil if it is
// not valid.
func validateDN(ps *problems, path, s string) *ad.DN {
	dn, err := ad.ParseDN(s)
	if err != nil {
		// The cause, without ParseDN's prefix quoting the DN the
		// problem's line already shows; an empty DN has none.
		if cause := errors.Unwrap(err); cause != nil {
			err = cause
		} else {
			err = errors.New("it is empty")
		}
		ps.add(path, fmt.Sprintf("is not a valid DN: %v", err), "for example OU=Staff,DC=example,DC=com")
		return nil
	}
	return dn
}

// ouListWords words the problems of a list of OUs.
type ouListWords struct {
	// baseName names the base DN in messages.
	baseName string
	// baseHint is the hint for an OU that is not under the base DN.
	baseHint string
	// nestedHint is the hint for an OU inside another.
	nestedHint string
}

// validateSyncOUs checks that each sync OU is a DN equal to or below base
// (when base is valid) and that none repeats or lies inside another. It
// returns the parsed OUs, nil for invalid ones.
func validateSyncOUs(ps *problems, path string, ous []string, base *ad.DN) []*ad.DN {
	return validateOUList(ps, path, ous, base, ouListWords{
		baseName:   "base_dn",
		baseHint:   "every sync OU must be base_dn or an OU below it",
		nestedHint: "list only the outer OU; its whole subtree is synchronised",
	})
}

// validateOUList checks that each OU is a DN equal to or below base (when
// base is valid) and that none repeats or lies inside another. It returns
// the parsed OUs, nil for those that are not DNs.
func validateOUList(ps *problems, path string, ous []string, base *ad.DN, words ouListWords) []*ad.DN {
	parsed := make([]*ad.DN, len(ous))
	for i, s := range ous {
		p := index(path, i)
		dn := validateDN(ps, p, s)
		if dn == nil {
			continue
		}
		parsed[i] = dn
		if base != nil && !base.EqualFold(dn) && !base.AncestorOfFold(dn) {
			ps.add(p, "is not under "+words.baseName, words.baseHint)
			continue
		}
		for j, other := range parsed[:i] {
			switch {
			case other == nil:
			case other.EqualFold(dn):
				ps.add(p, fmt.Sprintf("repeats %s", index(path, j)), "list each OU once")
			case other.AncestorOfFold(dn):
				ps.add(p, fmt.Sprintf("is inside %s", index(path, j)), words.nestedHint)
			case dn.AncestorOfFold(other):
				ps.add(p, fmt.Sprintf("contains %s", index(path, j)), words.nestedHint)
			}
		}
	}
	return parsed
}

// validateNoSyncOU checks the optional excluded OU: strictly below base and
// not one of the sync OUs. It returns the parsed OU (nil if unset or not
// valid) and whether it is unset or valid.
func validateNoSyncOU(ps *problems, adPath, s string, base *ad.DN, syncOUs []*ad.DN) (*ad.DN, bool) {
	if s == "" {
		return nil, true
	}
	p := key(adPath, "nosync_ou")
	dn := validateDN(ps, p, s)
	if dn == nil {
		return nil, false
	}
	if base != nil && !base.AncestorOfFold(dn) {
		ps.add(p, "is not below base_dn",
			"the excluded OU must be an OU inside base_dn")
		return nil, false
	}
	valid := true
	for j, ou := range syncOUs {
		if ou != nil && ou.EqualFold(dn) {
			ps.add(p, fmt.Sprintf("is the same OU as %s", index(key(adPath, "sync_ous"), j)),
				"an OU cannot be both synchronised and excluded")
			valid = false
		}
	}
	if !valid {
		return nil, false
	}
	return dn, true
}

func (t *TLS) validate(ps *problems, path string) {
	if t.CAFile != "" {
		validateCAFile(ps, key(path, "ca_file"), t.CAFile)
	}
	if s := t.ServerName; s != "" && net.ParseIP(s) == nil && strings.ContainsAny(s, "/: \t") {
		ps.add(key(path, "server_name"), fmt.Sprintf("%q is not a host name", s),
			"write the bare name in the DC certificate, without scheme, port or path")
	}
	if t.MinVersion != tlsVersion12 && t.MinVersion != tlsVersion13 {
		ps.add(key(path, "min_version"),
			fmt.Sprintf("must be %q or %q, got %q", tlsVersion12, tlsVersion13, t.MinVersion), "")
	}
}

// validateCAFile checks that the CA file can be read and holds at least
// one PEM certificate.
func validateCAFile(ps *problems, path, file string) {
	if msg := fileProblem("file", file); msg != "" {
		ps.add(path, msg, "")
		return
	}
	data, err := os.ReadFile(file)
	if err != nil {
		ps.add(path, fmt.Sprintf("cannot read file %q: %v", file, pathErrCause(err)), "")
		return
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		ps.add(path, fmt.Sprintf("file %q holds no PEM certificate", file),
			`it must hold one or more "-----BEGIN CERTIFICATE-----" blocks`)
	}
}

func (b *Bind) validate(ps *problems, path string, l loader) {
	switch b.Method {
	case bindSimple:
		b.validateSimple(ps, path)
	case bindKerberos:
		b.validateKerberos(ps, path, l)
	default:
		ps.add(key(path, "method"),
			fmt.Sprintf("must be %q or %q, got %q", bindSimple, bindKerberos, b.Method), "")
	}
}

func (b *Bind) validateSimple(ps *problems, path string) {
	const dnHint = `for example CN=svc-sync,OU=Service Accounts,DC=example,DC=com, svc-sync@EXAMPLE.COM or EXAMPLE\svc-sync`
	dnPath := key(path, "dn")
	switch {
	case strings.TrimSpace(b.DN) == "":
		ps.add(dnPath, "is required for method simple", dnHint)
	case strings.Contains(b.DN, "="):
		if _, err := ad.ParseDN(b.DN); err != nil {
			if cause := errors.Unwrap(err); cause != nil {
				err = cause
			}
			ps.add(dnPath, fmt.Sprintf("is not a valid DN: %v", err), dnHint)
		}
	case !isBindName(b.DN):
		ps.add(dnPath, `must be a DN, user@REALM or DOMAIN\user`, dnHint)
	}

	pwPath := key(path, "password")
	if b.Password == "" {
		ps.add(pwPath, "is required for method simple", secretRefHint)
	} else if msg, hint := b.Password.problem(); msg != "" {
		ps.add(pwPath, msg, hint)
	}

	if !b.Kerberos.isZero() {
		ps.add(key(path, "kerberos"), "is only used when ad.bind.method is kerberos",
			"set ad.bind.method: kerberos, or remove the kerberos settings")
	}
}

// isBindName reports whether s is user@REALM or DOMAIN\user with both parts
// present.
func isBindName(s string) bool {
	if strings.ContainsAny(s, " \t") {
		return false
	}
	if user, realm, ok := strings.Cut(s, "@"); ok {
		return user != "" && realm != "" && !strings.ContainsAny(realm, `@\`)
	}
	if domain, user, ok := strings.Cut(s, `\`); ok {
		return domain != "" && user != "" && !strings.ContainsAny(user, `@\`)
	}
	return false
}

func (b *Bind) validateKerberos(ps *problems, path string, l loader) {
	const onlySimple = "is only used when ad.bind.method is simple"
	if b.DN != "" {
		ps.add(key(path, "dn"), onlySimple, "remove it; the kerberos principal is the identity")
	}
	if b.Password != "" {
		ps.add(key(path, "password"), onlySimple, "remove it; the keytab holds the key")
	}

	k := &b.Kerberos
	kp := key(path, "kerberos")
	switch user, realm, hasRealm := strings.Cut(k.Principal, "@"); {
	case strings.TrimSpace(k.Principal) == "":
		ps.add(key(kp, "principal"), "is required for method kerberos", "for example svc-sync or svc-sync@EXAMPLE.COM")
	case hasRealm && (user == "" || realm == "" || strings.Contains(realm, "@")):
		ps.add(key(kp, "principal"), "must be user or user@REALM", "")
	case hasRealm && k.Realm != "" && !strings.EqualFold(realm, k.Realm):
		ps.add(key(kp, "principal"), fmt.Sprintf("has realm %q but realm is %q", realm, k.Realm),
			"drop the realm from the principal or make them match")
	}
	if strings.TrimSpace(k.Realm) == "" {
		ps.add(key(kp, "realm"), "is required for method kerberos", "for example EXAMPLE.COM")
	}
	if k.Keytab == "" {
		ps.add(key(kp, "keytab"), "is required for method kerberos", "for example /etc/hybridsync/hybridsync.keytab")
	} else if msg := fileProblem("keytab", k.Keytab); msg != "" {
		ps.add(key(kp, "keytab"), msg, "")
	}
	if k.Krb5Conf == "" {
		ps.add(key(kp, "krb5_conf"), fmt.Sprintf("is required because %s does not exist", l.krb5ConfDefault),
			"set it to the krb5.conf that locates the realm's KDCs")
	} else if msg := fileProblem("file", k.Krb5Conf); msg != "" {
		ps.add(key(kp, "krb5_conf"), msg, "")
	}
	if k.SPN != "" {
		service, host, ok := strings.Cut(k.SPN, "/")
		if !ok || service == "" || host == "" || strings.ContainsAny(k.SPN, " \t") {
			ps.add(key(kp, "spn"), fmt.Sprintf("%q is not a service principal name", k.SPN),
				"write service/host, for example ldap/dc1.example.com")
		}
	}
}

func (c *Cloud) validate(ps *problems, path string) {
	if c.IsZero() {
		return // no cloud section: the agent is used for AD only
	}
	validateGUID(ps, key(path, "tenant_id"), c.TenantID, "directory (tenant) ID",
		"; a domain name is not accepted because the Exchange admin API needs the GUID")
	validateGUID(ps, key(path, "client_id"), c.ClientID, "app registration's application (client) ID", "")

	switch c.NationalCloud {
	case cloudGlobal, cloudUSGovHigh, cloudUSGovDoD, cloudChina:
	default:
		ps.add(key(path, "national_cloud"),
			fmt.Sprintf("must be %s, %s, %s or %s, got %q", cloudGlobal, cloudUSGovHigh, cloudUSGovDoD, cloudChina, c.NationalCloud), "")
	}

	const domainHint = "the tenant's initial domain, such as contoso.onmicrosoft.com; " +
		"not a custom domain, nor the contoso.mail.onmicrosoft.com routing domain"
	switch dp := key(path, "initial_domain"); {
	case strings.TrimSpace(c.InitialDomain) == "":
		ps.add(dp, "is required", domainHint)
	case !isInitialDomain(c.InitialDomain):
		ps.add(dp, fmt.Sprintf("must be a DNS name ending in %s, got %q",
			joinOr(initialDomainSuffixes), c.InitialDomain), domainHint)
	}

	c.Credential.validate(ps, key(path, "credential"))

	ep := key(path, "endpoints")
	validateOrigin(ps, key(ep, "authority"), c.Endpoints.Authority)
	validateOrigin(ps, key(ep, "graph"), c.Endpoints.Graph)
	validateOrigin(ps, key(ep, "exchange"), c.Endpoints.Exchange)

	if c.CAFile != "" {
		validateCAFile(ps, key(path, "ca_file"), c.CAFile)
	}
	validateTimeout(ps, key(path, "timeout"), c.Timeout.Duration, maxCloudTimeout)
}

// validateGUID checks a required GUID. what names the value in the hints;
// badHint is added to the hint for a value that is not a GUID.
func validateGUID(ps *problems, path, s, what, badHint string) {
	example := fmt.Sprintf("the Entra %s, such as %s", what, exampleGUID)
	switch {
	case strings.TrimSpace(s) == "":
		ps.add(path, "is required", example)
	case !isGUID(s):
		ps.add(path, fmt.Sprintf("must be a GUID, got %q", s), example+badHint)
	}
}

// exampleGUID is the GUID shown in hints.
const exampleGUID = "8d3f5a2b-1c4e-4f6a-9b7d-0e1f2a3b4c5d"

// isGUID reports whether s is a GUID in its usual form,
// xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx with hex digits of either case and
// no braces.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHexDigit(s[i]) {
				return false
			}
		}
	}
	return true
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// initialDomainSuffixes are the domains below which Microsoft creates
// tenants' initial domains: global, US government and China clouds.
var initialDomainSuffixes = []string{".onmicrosoft.com", ".onmicrosoft.us", ".partner.onmschina.cn"}

// isInitialDomain reports whether s is one DNS label followed by one of
// initialDomainSuffixes, compared case-insensitively.
func isInitialDomain(s string) bool {
	lower := strings.ToLower(s)
	for _, suffix := range initialDomainSuffixes {
		if label, ok := strings.CutSuffix(lower, suffix); ok {
			return isDNSLabel(label)
		}
	}
	return false
}

// isDNSLabel reports whether s is a DNS label: 1 to 63 letters, digits and
// hyphens, not starting or ending with a hyphen.
func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// joinOr joins items as "a, b or c".
func joinOr(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

func (c *CloudCredential) validate(ps *problems, path string) {
	hasSecret, hasCert := c.ClientSecret != "", !c.Certificate.isZero()
	switch {
	case !hasSecret && !hasCert:
		ps.add(path, "must set client_secret or certificate",
			"set client_secret to env:VARIABLE or file:/path/to/secret, or certificate.file to a PEM, .pfx or .p12 file")
	case hasSecret && hasCert:
		ps.add(path, "must set only one of client_secret and certificate, not both", "remove one of them")
	}
	if hasSecret {
		if msg, hint := c.ClientSecret.problem(); msg != "" {
			ps.add(key(path, "client_secret"), msg, hint)
		}
	}
	if hasCert {
		c.Certificate.validate(ps, key(path, "certificate"))
	}
}

func (c *CloudCertificate) validate(ps *problems, path string) {
	fp := key(path, "file")
	if c.File == "" {
		ps.add(fp, "is required when a certificate is set",
			"a PEM file with the certificate and its unencrypted private key, or a .pfx or .p12 file")
	} else if msg := fileProblem("file", c.File); msg != "" {
		ps.add(fp, msg, "")
	}
	if c.Password == "" {
		return
	}
	pp := key(path, "password")
	if !c.isPKCS12() {
		ps.add(pp, "is only used with a .pfx or .p12 file",
			"remove it; the private key in a PEM file must not be encrypted")
	} else if msg, hint := c.Password.problem(); msg != "" {
		ps.add(pp, msg, hint)
	}
}

// isPKCS12 reports whether File names a PKCS#12 file: *.pfx or *.p12,
// compared case-insensitively. Any other file is read as PEM.
func (c CloudCertificate) isPKCS12() bool {
	ext := strings.ToLower(filepath.Ext(c.File))
	return ext == ".pfx" || ext == ".p12"
}

// validateOrigin checks an optional endpoint override: empty, or
// https://host[:port] with at most a "/" path.
func validateOrigin(ps *problems, path, raw string) {
	const hint = "write https://host[:port]"
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		ps.add(path, fmt.Sprintf("is not a valid URL: %v", err), hint)
		return
	}
	if u.Scheme != "https" {
		ps.add(path, fmt.Sprintf("has scheme %q, want https", u.Scheme), hint)
	}
	if u.User != nil {
		ps.add(path, "must not contain a user name or password", hint)
	}
	if u.Hostname() == "" {
		ps.add(path, "has no host", hint)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			ps.add(path, fmt.Sprintf("has invalid port %q", port), "use a port from 1 to 65535")
		}
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		ps.add(path, "must not have a path, query or fragment", hint)
	}
}

func (g *Logging) validate(ps *problems, path string) {
	switch g.Level {
	case "debug", "info", "warn", "error":
	default:
		ps.add(key(path, "level"), fmt.Sprintf("must be debug, info, warn or error, got %q", g.Level), "")
	}
	switch g.Format {
	case "text", "json":
	default:
		ps.add(key(path, "format"), fmt.Sprintf("must be text or json, got %q", g.Format), "")
	}
}

func (r *Reconcile) validate(ps *problems, path string, scope adScope, hasCloud bool) {
	mp := key(path, "mode")
	switch r.Mode {
	case ModeObserve:
	case ModeEnforce:
		if !hasCloud {
			ps.add(mp, "is enforce but there is no cloud section",
				"enforce writes to the tenant; add a cloud section, or use mode observe")
		}
	default:
		ps.add(mp, fmt.Sprintf("must be %s or %s, got %q", ModeObserve, ModeEnforce, r.Mode), "")
	}

	iv, fi := r.Interval.Duration, r.FullInterval.Duration
	intervalValid := iv >= minInterval && iv <= maxInterval
	if !intervalValid {
		ps.add(key(path, "interval"), fmt.Sprintf("must be between %s and %s, got %s",
			formatDuration(minInterval), formatDuration(maxInterval), formatDuration(iv)), "")
	}
	switch fp := key(path, "full_interval"); {
	case fi <= 0 || fi > maxFullInterval:
		ps.add(fp, fmt.Sprintf("must be greater than 0s and at most %s, got %s",
			formatDuration(maxFullInterval), formatDuration(fi)), "a full read must run at least daily")
	case intervalValid && fi < iv:
		ps.add(fp, fmt.Sprintf("must be at least %s (%s), got %s",
			key(path, "interval"), formatDuration(iv), formatDuration(fi)), "")
	}
	if j := r.JitterFraction(); !(j >= 0 && j <= maxJitter) { // also rejects NaN
		ps.add(key(path, "jitter"), fmt.Sprintf("must be between 0 and %s, got %s",
			formatFloat(maxJitter), formatFloat(j)), "a fraction of the interval; 0 turns jitter off")
	}

	r.Scope.validate(ps, key(path, "scope"), scope)
	r.Limits.validate(ps, key(path, "limits"))

	if !slices.Contains(sourceAnchors(), r.SourceAnchor) {
		ps.add(key(path, "source_anchor"), fmt.Sprintf("must be %s or %s, got %q",
			SourceAnchorObjectGUID, SourceAnchorConsistencyGUID, r.SourceAnchor),
			"use the source anchor the sync engine is configured with")
	}
	if a := r.CertificateUserIDsAttribute; a != "" && !isAttributeName(a) {
		ps.add(key(path, "certificate_user_ids_attribute"), fmt.Sprintf("%q is not an LDAP attribute name", a),
			"write the attribute's lDAPDisplayName, such as extensionAttribute10: a letter, then letters, digits and hyphens")
	}
	validateTimeout(ps, key(path, "verify_timeout"), r.VerifyTimeout.Duration, maxVerifyTimeout)
	if r.Concurrency < 1 || r.Concurrency > maxConcurrency {
		ps.add(key(path, "concurrency"),
			fmt.Sprintf("must be between 1 and %d, got %d", maxConcurrency, r.Concurrency), "")
	}
}

// formatFloat formats f in the shortest form that reads back as f.
func formatFloat(f float64) string {
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// isAttributeName reports whether s is an LDAP attribute description
// without options (RFC 4512 oid): a descr (a letter followed by letters,
// digits and hyphens) or a numericoid (digits separated by dots, without
// leading zeros).
func isAttributeName(s string) bool {
	if s == "" {
		return false
	}
	if '0' <= s[0] && s[0] <= '9' {
		for part := range strings.SplitSeq(s, ".") {
			if part == "" || (len(part) > 1 && part[0] == '0') || strings.Trim(part, "0123456789") != "" {
				return false
			}
		}
		return true
	}
	for i := range len(s) {
		c := s[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || !('0' <= c && c <= '9' || c == '-')) {
			return false
		}
	}
	return true
}

func (s *ReconcileScope) validate(ps *problems, path string, scope adScope) {
	op := key(path, "ous")
	ous := validateOUList(ps, op, s.OUs, scope.base, ouListWords{
		baseName:   "ad.base_dn",
		baseHint:   "every scope OU must be ad.base_dn or an OU below it",
		nestedHint: "list only the outer OU; its whole subtree is in scope",
	})
	for i, dn := range ous {
		if dn == nil || (scope.base != nil && !scope.base.EqualFold(dn) && !scope.base.AncestorOfFold(dn)) {
			continue // reported above
		}
		in, known := scope.synchronised(s.OUs[i])
		if !known || in {
			continue
		}
		if scope.noSync != nil && (scope.noSync.EqualFold(dn) || scope.noSync.AncestorOfFold(dn)) {
			ps.add(index(op, i), "is inside ad.nosync_ou, whose objects are never synchronised",
				"pick an OU inside the sync scope")
		} else {
			ps.add(index(op, i), "is not inside any of ad.sync_ous",
				"objects outside ad.sync_ous are never synchronised; pick an OU inside one of them")
		}
	}

	kp := key(path, "kinds")
	kinds := allKinds()
	for i, k := range s.Kinds {
		p := index(kp, i)
		if !slices.Contains(kinds, k) {
			ps.add(p, fmt.Sprintf("must be %s, got %q", joinOr(kinds), k), "")
		} else if j := slices.Index(s.Kinds, k); j < i {
			ps.add(p, fmt.Sprintf("repeats %s", index(kp, j)), "list each kind once")
		}
	}

	dp := key(path, "domains")
	for i, d := range s.Domains {
		p := index(dp, i)
		if !isDomainName(d) {
			ps.add(p, fmt.Sprintf("%q is not a domain name", d),
				"write the address domain, such as example.com, without @ or a trailing dot")
		} else if j := slices.Index(s.Domains, d); j < i {
			ps.add(p, fmt.Sprintf("repeats %s", index(dp, j)), "list each domain once")
		}
	}
}

// isDomainName reports whether s is a DNS name of at least two labels, at
// most 253 characters, with no trailing dot.
func isDomainName(s string) bool {
	return strings.Contains(s, ".") && isHostName(s)
}

// isHostName reports whether s is a DNS name of one or more labels, at
// most 253 characters, with no trailing dot.
func isHostName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if !isDNSLabel(label) {
			return false
		}
	}
	return true
}

func (l *ReconcileLimits) validate(ps *problems, path string) {
	if n := *l.MaxDeletes; n < -1 {
		ps.add(key(path, "max_deletes"), fmt.Sprintf("must be -1 (no limit), 0 or more, got %d", n), "")
	}
	validatePercent(ps, key(path, "max_delete_percent"), l.MaxDeletePercent)
	if l.MaxChanges < 0 {
		ps.add(key(path, "max_changes"), fmt.Sprintf("must be 0 (no limit) or more, got %d", l.MaxChanges), "")
	}
	if w := l.ChangeWindow.Duration; w < minChangeWindow || w > maxChangeWindow {
		ps.add(key(path, "change_window"), fmt.Sprintf("must be between %s and %s, got %s", formatDuration(minChangeWindow), formatDuration(maxChangeWindow), formatDuration(w)),
			"the rolling window max_changes counts over")
	}
	validatePercent(ps, key(path, "max_change_percent"), l.MaxChangePercent)
}

// validatePercent checks a percentage limit: 0 (no limit) to 100.
func validatePercent(ps *problems, path string, n int) {
	if n < 0 || n > maxPercent {
		ps.add(path, fmt.Sprintf("must be between 0 and %d, got %d", maxPercent, n), "0 means no limit")
	}
}

// validate checks the migrations section after defaults were applied. An
// option that a group has the same value of as Defaults (because it was
// inherited, or written the same) is checked only once, at
// migrations.defaults; Defaults.NoSyncOU equal to ad.nosync_ou is checked
// by the ad rules. Problems of groups from File name that file.
func (m *Migrations) validate(ps *problems, path string, scope adScope, hasCloud bool) {
	if len(m.Groups) > 0 && !hasCloud {
		ps.add(path, "lists groups to migrate but there is no cloud section",
			"a migration creates the groups in the tenant; add a cloud section")
	}
	m.Sync.validate(ps, key(path, "sync"))
	if m.Concurrency < 1 || m.Concurrency > maxMigrationConcurrency {
		ps.add(key(path, "concurrency"), fmt.Sprintf("must be between 1 and %d, got %d", maxMigrationConcurrency, m.Concurrency),
			"how many groups of a wave migrate at once; the tenant's throttling budget is shared by all of them")
	}
	if m.RoutingDomain != "" && !isDomainName(m.RoutingDomain) {
		ps.add(key(path, "routing_domain"), fmt.Sprintf("must be a DNS domain name, got %q", m.RoutingDomain),
			"for example contoso.mail.onmicrosoft.com")
	}
	if m.MemberConcurrency < 1 || m.MemberConcurrency > maxMemberConcurrency {
		ps.add(key(path, "member_concurrency"),
			fmt.Sprintf("must be between 1 and %d, got %d", maxMemberConcurrency, m.MemberConcurrency),
			"single-member calls to Exchange Online run at once; more is throttled, not faster")
	}
	d := &m.Defaults
	dp := key(path, "defaults")
	validateGroupType(ps, key(dp, "group_type"), d.GroupType)
	validateMethod(ps, key(dp, "method"), d.Method)
	if d.NoSyncOU != scope.noSyncText {
		validateMigrationOU(ps, key(dp, "nosync_ou"), d.NoSyncOU, scope)
	}

	first := make(map[string]int, len(m.Groups))
	for i := range m.Groups {
		g := &m.Groups[i]
		gp := g.Source.Path
		ps.in(g.Source.File, func(ps *problems) {
			if id := validateGroupID(ps, key(gp, "group"), g.Group); id != "" {
				if j, dup := first[id]; dup {
					prev := m.Groups[j].Source
					where := prev.Path
					if prev.File != g.Source.File {
						where += " in " + prev.File
					}
					ps.add(key(gp, "group"), fmt.Sprintf("repeats %s", where), "list each group once")
				} else {
					first[id] = i
				}
			}
			if g.GroupType != d.GroupType {
				validateGroupType(ps, key(gp, "group_type"), g.GroupType)
			}
			if g.Method != d.Method {
				validateMethod(ps, key(gp, "method"), g.Method)
			}
			switch {
			case g.NoSyncOU == "":
				ps.add(key(gp, "nosync_ou"), "is required because neither ad.nosync_ou nor migrations.defaults.nosync_ou is set",
					"the OU the group is moved to, to take it out of the sync scope")
			case g.NoSyncOU != d.NoSyncOU:
				validateMigrationOU(ps, key(gp, "nosync_ou"), g.NoSyncOU, scope)
			}
		})
	}
}

// groupHint describes the values of a migration's group key.
const groupHint = "a primary SMTP address such as sales@example.com, or an objectGUID in registry form such as {" + exampleGUID + "}"

// validateGroupID checks a migration's group: a primary SMTP address or an
// objectGUID. It returns a key that is equal for two entries naming the
// same group the same way, or "" if s is not valid.
func validateGroupID(ps *problems, path, s string) string {
	switch {
	case strings.TrimSpace(s) == "":
		ps.add(path, "is required", groupHint)
	case strings.Contains(s, "@"):
		if isSMTPAddress(s) {
			return "smtp:" + strings.ToLower(s)
		}
		ps.add(path, fmt.Sprintf("%q is not a valid SMTP address", s), groupHint)
	default:
		if guid, ok := (MigrationGroup{Group: s}).GUID(); ok {
			return "guid:" + guid
		}
		if strings.HasPrefix(s, "{") {
			ps.add(path, fmt.Sprintf("%q is not an objectGUID in registry form", s),
				"write {xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx} with hexadecimal digits")
		} else {
			ps.add(path, fmt.Sprintf("must be a primary SMTP address or an objectGUID, got %q", s), groupHint)
		}
	}
	return ""
}

// isSMTPAddress reports whether s is local@domain with a dot-atom local
// part of at most 64 characters and a domain name.
func isSMTPAddress(s string) bool {
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return false
	}
	local, domain := s[:i], s[i+1:]
	if local == "" || len(local) > 64 || !isDomainName(domain) {
		return false
	}
	for atom := range strings.SplitSeq(local, ".") {
		if atom == "" {
			return false
		}
		for j := range len(atom) {
			c := atom[j]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
				strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0) {
				return false
			}
		}
	}
	return true
}

// validateGroupType checks a group type after defaults: keep (stored as
// ""), distribution or security.
func validateGroupType(ps *problems, path, t string) {
	switch t {
	case GroupTypeKeep, GroupTypeDistribution, GroupTypeSecurity:
	default:
		ps.add(path, fmt.Sprintf("must be %s, %s or %s, got %q",
			groupTypeKeepWord, GroupTypeDistribution, GroupTypeSecurity, t),
			"keep gives the cloud group the on-premises group's type")
	}
}

func validateMethod(ps *problems, path, m string) {
	switch m {
	case MethodAuto, MethodSOA, MethodRecreate:
	default:
		ps.add(path, fmt.Sprintf("must be %s, %s or %s, got %q", MethodAuto, MethodSOA, MethodRecreate, m),
			"auto converts the group's Source of Authority when the tenant allows it, and recreates it otherwise")
	}
}

func (s *MigrationSync) validate(ps *problems, path string) {
	switch s.Trigger {
	case SyncTriggerNone:
		if len(s.Command) > 0 {
			ps.add(key(path, "command"), "is set but trigger is none, so it would never run",
				"set trigger: command, or remove command")
		}
	case SyncTriggerCommand:
		if len(s.Command) == 0 || s.Command[0] == "" {
			ps.add(key(path, "command"), "is required with trigger: command",
				"the program and its arguments, as a list, e.g. [ssh, aadconnect, 'Start-ADSyncSyncCycle -PolicyType Delta']")
		}
	default:
		ps.add(key(path, "trigger"), fmt.Sprintf("must be %s or %s, got %q", SyncTriggerNone, SyncTriggerCommand, s.Trigger),
			"none waits for the sync engine's own schedule")
	}
	if d := s.CommandTimeout.Duration; d < time.Second || d > maxSyncCommandTimeout {
		ps.add(key(path, "command_timeout"), fmt.Sprintf("must be between 1s and %s, got %s", formatDuration(maxSyncCommandTimeout), formatDuration(d)), "")
	}
	if d := s.Wait.Duration; d < minSyncWait || d > maxSyncWait {
		ps.add(key(path, "wait"), fmt.Sprintf("must be between %s and %s, got %s", formatDuration(minSyncWait), formatDuration(maxSyncWait), formatDuration(d)),
			"cover at least one sync cycle (Entra Connect's default is every 30 minutes)")
	}
	if d := s.PollInterval.Duration; d < time.Second || d > maxSyncPoll {
		ps.add(key(path, "poll_interval"), fmt.Sprintf("must be between 1s and %s, got %s", formatDuration(maxSyncPoll), formatDuration(d)), "")
	}
}

// validateMigrationOU checks an OU a migrated group is moved to: a DN
// strictly below ad.base_dn and outside the sync scope. "" is allowed.
func validateMigrationOU(ps *problems, path, s string, scope adScope) {
	if s == "" {
		return
	}
	dn := validateDN(ps, path, s)
	if dn == nil {
		return
	}
	if scope.base != nil && !scope.base.AncestorOfFold(dn) {
		ps.add(path, "is not below ad.base_dn",
			"the group is moved there, so it must be an OU inside ad.base_dn")
		return
	}
	if in, known := scope.synchronised(s); known && in {
		hint := "pick an OU outside ad.sync_ous, or inside ad.nosync_ou"
		if len(scope.syncOUs) == 0 {
			hint = "ad.sync_ous is empty, so all of ad.base_dn is synchronised; pick an OU inside ad.nosync_ou"
		}
		ps.add(path, "is inside the sync scope, so the group would stay synchronised", hint)
	}
}

func (h *HTTP) validate(ps *problems, path string) {
	const listenHint = "for example 127.0.0.1:9847, or :9847 to listen on every interface"
	lp := key(path, "listen")
	host, port, err := net.SplitHostPort(h.Listen)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			err = errors.New(ae.Err)
		}
		ps.add(lp, fmt.Sprintf("%q is not host:port: %v", h.Listen, err), listenHint)
	} else {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strings.Trim(port, "0123456789") != "" {
			ps.add(lp, fmt.Sprintf("has invalid port %q", port), "use a port from 1 to 65535")
		}
		if _, err := netip.ParseAddr(host); host != "" && err != nil && !isHostName(host) {
			ps.add(lp, fmt.Sprintf("has invalid host %q", host), listenHint)
		}
	}
	h.TLS.validate(ps, key(path, "tls"))
}

func (t *HTTPTLS) validate(ps *problems, path string) {
	const hint = "set both cert_file and key_file for HTTPS, or neither for HTTP"
	cp, kp := key(path, "cert_file"), key(path, "key_file")
	switch {
	case t.CertFile == "" && t.KeyFile == "":
		return
	case t.CertFile == "":
		ps.add(cp, "is required when key_file is set", hint)
	case t.KeyFile == "":
		ps.add(kp, "is required when cert_file is set", hint)
	}
	ok := t.Enabled()
	for _, f := range []struct{ path, file string }{{cp, t.CertFile}, {kp, t.KeyFile}} {
		if f.file == "" {
			continue
		}
		if msg := fileProblem("file", f.file); msg != "" {
			ps.add(f.path, msg, "")
			ok = false
		}
	}
	if !ok {
		return
	}
	// The errors of LoadX509KeyPair name the problem, never key material.
	if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
		ps.add(path, fmt.Sprintf("cert_file and key_file do not load as a key pair: %v", pathErrCause(err)),
			"cert_file must hold the PEM certificate chain and key_file its unencrypted PEM private key")
	}
}
