package lab

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf16"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// Env keys written to DIR/lab.env. Later components add their own.
const (
	EnvLDAPURL      = "HYBRIDSYNC_LAB_LDAP_URL"
	EnvStartTLSURL  = "HYBRIDSYNC_LAB_STARTTLS_URL"
	EnvBaseDN       = "HYBRIDSYNC_LAB_BASE_DN"
	EnvBindDN       = "HYBRIDSYNC_LAB_BIND_DN"
	EnvPasswordFile = "HYBRIDSYNC_LAB_PASSWORD_FILE"
	EnvCAFile       = "HYBRIDSYNC_LAB_CA_FILE"
	EnvServerName   = "HYBRIDSYNC_LAB_TLS_SERVER_NAME"
	EnvSyncOU       = "HYBRIDSYNC_LAB_SYNC_OU"
	EnvNoSyncOU     = "HYBRIDSYNC_LAB_NOSYNC_OU"
	EnvTestsOU      = "HYBRIDSYNC_LAB_TESTS_OU"
	EnvSyncTestsOU  = "HYBRIDSYNC_LAB_SYNC_TESTS_OU"
	EnvMailDomain   = "HYBRIDSYNC_LAB_MAIL_DOMAIN"
	EnvRealm        = "HYBRIDSYNC_LAB_REALM"
	EnvKrbPrincipal = "HYBRIDSYNC_LAB_KRB5_PRINCIPAL"
	EnvKeytab       = "HYBRIDSYNC_LAB_KEYTAB"
	EnvKrb5Conf     = "HYBRIDSYNC_LAB_KRB5_CONF"
	EnvSPN          = "HYBRIDSYNC_LAB_SPN"
	EnvConfig       = "HYBRIDSYNC_LAB_CONFIG"
	EnvManifest     = "HYBRIDSYNC_LAB_MANIFEST"
	EnvPidFile      = "HYBRIDSYNC_LAB_SAMBA_PID_FILE"
	EnvDir          = "HYBRIDSYNC_LAB_DIR"

	// The tenant emulator.
	EnvGraphURL         = "HYBRIDSYNC_LAB_GRAPH_URL"
	EnvExoURL           = "HYBRIDSYNC_LAB_EXO_URL"
	EnvTokenURL         = "HYBRIDSYNC_LAB_TOKEN_URL"
	EnvAuthorityURL     = "HYBRIDSYNC_LAB_AUTHORITY_URL"
	EnvTenantID         = "HYBRIDSYNC_LAB_TENANT_ID"
	EnvClientID         = "HYBRIDSYNC_LAB_CLIENT_ID"
	EnvClientSecretFile = "HYBRIDSYNC_LAB_CLIENT_SECRET_FILE"
	EnvInitialDomain    = "HYBRIDSYNC_LAB_INITIAL_DOMAIN"
	EnvLicenseGroup     = "HYBRIDSYNC_LAB_LICENSE_GROUP"
	EnvEmulatorPidFile  = "HYBRIDSYNC_LAB_EMULATOR_PID_FILE"
)

// How long a migration in the lab waits for what a sync cycle should show,
// and how often it looks: the lab syncs every 30 seconds and on demand, so
// ten minutes is long past any cycle that is coming.
const (
	labMigrationWait = "10m"
	labMigrationPoll = "1s"
)

// EnvFile returns the path of DIR/lab.env.
func EnvFile(dir string) string { return filepath.Join(dir, "lab.env") }

// Env returns the lab's settings as environment variables.
func (s *State) Env() map[string]string {
	env := map[string]string{
		EnvLDAPURL:      "ldaps://" + s.IP + ":636",
		EnvStartTLSURL:  "ldap://" + s.IP + ":389",
		EnvBaseDN:       s.BaseDN,
		EnvBindDN:       "CN=Administrator,CN=Users," + s.BaseDN,
		EnvPasswordFile: filepath.Join(s.Dir, "admin.password"),
		EnvCAFile:       filepath.Join(s.Dir, "tls", "ca.pem"),
		EnvServerName:   s.DCName,
		EnvSyncOU:       s.Manifest.SyncOU,
		EnvNoSyncOU:     s.Manifest.NoSyncOU,
		EnvTestsOU:      s.Manifest.TestsOU,
		EnvSyncTestsOU:  s.Manifest.SyncTestsOU,
		EnvMailDomain:   s.MailDomain,
		EnvRealm:        s.Realm,
		EnvKrbPrincipal: svcUser,
		EnvKeytab:       filepath.Join(s.Dir, "svc.keytab"),
		EnvKrb5Conf:     filepath.Join(s.Dir, "krb5.conf"),
		EnvSPN:          "ldap/" + s.DCName,
		EnvConfig:       filepath.Join(s.Dir, "hybridsync.yaml"),
		EnvManifest:     statePath(s.Dir),
		EnvPidFile:      pathsFor(s.Dir).pidFile,
		EnvDir:          s.Dir,
	}
	if s.TenantID != "" {
		u := s.EmulatorURL()
		env[EnvGraphURL] = u + "/v1.0"
		env[EnvExoURL] = u + "/adminapi/beta/" + s.TenantID + "/InvokeCommand"
		env[EnvAuthorityURL] = u + "/"
		env[EnvTokenURL] = u + "/" + s.TenantID + "/oauth2/v2.0/token"
		env[EnvTenantID] = s.TenantID
		env[EnvClientID] = s.ClientID
		env[EnvClientSecretFile] = clientSecretFile(s.Dir)
		env[EnvInitialDomain] = s.InitialDomain
		env[EnvLicenseGroup] = s.Manifest.LicenseGroup
		env[EnvEmulatorPidFile] = emulatorPidFile(s.Dir)
	}
	return env
}

// writeEnv writes DIR/lab.env (shell-sourceable KEY='value' lines) and
// DIR/hybridsync.yaml (an agent config pointing at the lab). Values that
// hold a path or a DN are quoted in the YAML, so any DIR yields a valid
// file.
func writeEnv(s *State) error {
	env := s.Env()
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString("# hybridsync lab: source this file (set -a; . lab.env) to reach the lab.\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, shellQuote(env[k]))
	}
	if err := writeFileAtomic(EnvFile(s.Dir), b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("lab: write lab.env: %w", err)
	}
	cfg := fmt.Sprintf(`# hybridsync configuration for the lab in %[1]s (written by hybridsync lab up).
ad:
  urls:
    - %[2]s
  base_dn: %[3]q
  sync_ous:
%[4]s  nosync_ou: %[5]q
  tls:
    ca_file: %[6]q
    server_name: %[7]s
  bind:
    method: simple
    dn: %[8]q
    password: %[9]q
  page_size: 1000
  timeout: 30s
`, s.Dir, env[EnvLDAPURL], s.BaseDN, syncOUsYAML(s.Manifest), env[EnvNoSyncOU], env[EnvCAFile], s.DCName, env[EnvBindDN], "file:"+env[EnvPasswordFile])
	if s.TenantID != "" {
		u := s.EmulatorURL()
		cfg += fmt.Sprintf(`cloud:
  tenant_id: %[1]s
  client_id: %[2]s
  national_cloud: global
  initial_domain: %[3]s
  credential:
    client_secret: %[4]q
  # The lab's tenant emulator stands in for login.microsoftonline.com,
  # graph.microsoft.com and outlook.office365.com.
  endpoints:
    authority: %[5]s/
    graph: %[5]s
    exchange: %[5]s
  ca_file: %[6]q
  timeout: 60s
`, s.TenantID, s.ClientID, s.InitialDomain, "file:"+clientSecretFile(s.Dir), u, env[EnvCAFile])
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("lab: write hybridsync.yaml: find own executable: %w", err)
		}
		cfg += fmt.Sprintf(`migrations:
  # A migration gets a sync cycle from the lab's simulated Entra Connect
  # with this binary's lab sync (exit 0 only when a cycle ran); the lab
  # also syncs every 30 seconds by itself.
  sync:
    trigger: command
    command: [%q, lab, sync, --dir, %q]
    wait: %s
    poll_interval: %s
`, exe, s.Dir, labMigrationWait, labMigrationPoll)
	}
	if a, _ := plan.ParseSourceAnchor(string(s.SourceAnchor)); a != plan.AnchorObjectGUID {
		cfg += fmt.Sprintf(`reconcile:
  # The lab's simulated Entra Connect anchors users on it.
  source_anchor: %s
`, a)
	}
	cfg += fmt.Sprintf(`state_dir: %q
logging:
  level: info
  format: text
`, filepath.Join(s.Dir, "state"))
	if err := writeFileAtomic(env[EnvConfig], []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("lab: write hybridsync.yaml: %w", err)
	}
	return nil
}

// ReadEnvFile parses a lab.env written by writeEnv.
func ReadEnvFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lab: read %s: %w", path, err)
	}
	out := map[string]string{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("lab: %s:%d: not KEY=value", path, i+1)
		}
		uq, err := shellUnquote(v)
		if err != nil {
			return nil, fmt.Errorf("lab: %s:%d: %w", path, i+1, err)
		}
		out[k] = uq
	}
	return out, nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func shellUnquote(s string) (string, error) {
	if !strings.HasPrefix(s, "'") {
		return s, nil
	}
	var b strings.Builder
	for len(s) > 0 {
		if !strings.HasPrefix(s, "'") {
			if strings.HasPrefix(s, `\'`) {
				b.WriteByte('\'')
				s = s[2:]
				continue
			}
			return "", fmt.Errorf("bad quoting near %q", s)
		}
		end := strings.IndexByte(s[1:], '\'')
		if end < 0 {
			return "", fmt.Errorf("unterminated quote")
		}
		b.WriteString(s[1 : 1+end])
		s = s[end+2:]
	}
	return b.String(), nil
}

// unicodePwd encodes a password the way AD requires it for unicodePwd:
// the quoted string in UTF-16LE (MS-ADTS §3.1.1.3.1.5.1).
func unicodePwd(pw string) string {
	u := utf16.Encode([]rune(`"` + pw + `"`))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return string(b)
}

// createServiceAccount creates the enabled account whose keytab the
// Kerberos bind uses.
func createServiceAccount(ctx context.Context, c *adldap.Client, s *State) error {
	pw, err := genPassword()
	if err != nil {
		return err
	}
	dn := ad.ChildDN("CN", svcUser, "CN=Users,"+s.BaseDN)
	err = c.Add(ctx, dn, []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "user"}},
		{Name: "sAMAccountName", Values: []string{svcUser}},
		{Name: "userPrincipalName", Values: []string{svcUser + "@" + strings.ToLower(s.Realm)}},
		{Name: "unicodePwd", Values: []string{unicodePwd(pw)}},
		// Normal account, password never expires.
		{Name: "userAccountControl", Values: []string{"66048"}},
	})
	if err != nil {
		return fmt.Errorf("lab: create %s: %w", svcUser, err)
	}
	return nil
}

// registerLDAPSPNs gives the DC account the ldap/ service principal names a
// Windows DC registers for itself, so clients can get tickets for LDAP.
// Samba provisioned without DNS registers only HOST/ names.
func registerLDAPSPNs(ctx context.Context, c *adldap.Client, s *State) error {
	dcDN := ad.ChildDN("CN", strings.ToUpper(s.HostName), "OU=Domain Controllers,"+s.BaseDN)
	err := c.Modify(ctx, dcDN, ad.Change{Op: ad.AddValues, Attr: "servicePrincipalName", Values: []string{
		"ldap/" + s.DCName, "ldap/" + s.DCName + "/" + strings.ToLower(s.Realm), "ldap/" + strings.ToUpper(s.HostName),
	}})
	if err != nil {
		return fmt.Errorf("lab: register ldap SPNs: %w", err)
	}
	return nil
}

// writeKerberos exports the service account's keys and writes a krb5.conf
// that points at the lab KDC only.
func writeKerberos(ctx context.Context, s *State) error {
	keytab := filepath.Join(s.Dir, "svc.keytab")
	if _, err := run(ctx, "samba-tool", "domain", "exportkeytab", keytab,
		"--principal="+svcUser+"@"+s.Realm, "-s", pathsFor(s.Dir).conf); err != nil {
		return fmt.Errorf("lab: export keytab: %w", err)
	}
	if err := os.Chmod(keytab, 0o600); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	conf := fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_kdc = false
	dns_lookup_realm = false
	udp_preference_limit = 1
	default_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
	default_tgs_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
	permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96

[realms]
	%[1]s = {
		kdc = %[2]s:88
	}

[domain_realm]
	.%[3]s = %[1]s
	%[3]s = %[1]s
`, s.Realm, s.IP, strings.ToLower(s.Realm))
	return os.WriteFile(filepath.Join(s.Dir, "krb5.conf"), []byte(conf), 0o644)
}

// syncOUsYAML lists the lab's sync scope (the OUs the simulated Entra
// Connect syncs) as YAML sequence items.
func syncOUsYAML(m *Manifest) string {
	var b strings.Builder
	for _, ou := range syncScope(m) {
		fmt.Fprintf(&b, "    - %q\n", ou)
	}
	return b.String()
}
