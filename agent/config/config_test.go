package config

import (
	"crypto/tls"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// invalidDir holds the invalid-*.yaml fixtures, relative to this package.
// The tests that load them change into it, so that names and paths in
// messages read as they would for a user there: testdata/FILE.
const invalidDir = "../../configs"

// invalidCase is an invalid fixture and the exact error text it gives.
type invalidCase struct {
	file string // in configs/testdata
	want string
	// paths are resolved file paths in want (quoted in messages, or
	// naming the file of a problem in migrations.file), written with "/";
	// they are converted to the OS separator before comparing.
	paths []string
}

// TestLoadInvalid loads every configs/testdata/invalid-*.yaml file, one
// broken rule each (the invalid-many* files break several), and compares the
// whole error text.
func TestLoadInvalid(t *testing.T) {
	t.Chdir(invalidDir)
	tests := []invalidCase{
		{
			file: "invalid-unknown-key.yaml",
			want: `config testdata/invalid-unknown-key.yaml is invalid (1 problem):
  testdata/invalid-unknown-key.yaml:6: ad.page_sise: unknown key "page_sise" (hint: valid keys here: urls, base_dn, sync_ous, nosync_ou, tls, bind, page_size, timeout)`,
		},
		{
			file: "invalid-url-scheme.yaml",
			want: `config testdata/invalid-url-scheme.yaml is invalid (1 problem):
  testdata/invalid-url-scheme.yaml:5: ad.urls[1]: has scheme "https", want ldaps or ldap (hint: write ldaps://host[:port] or ldap://host[:port])`,
		},
		{
			file: "invalid-url-path.yaml",
			want: `config testdata/invalid-url-path.yaml is invalid (1 problem):
  testdata/invalid-url-path.yaml:4: ad.urls[0]: must not have a path, query or fragment (hint: write ldaps://host[:port] or ldap://host[:port])`,
		},
		{
			file: "invalid-urls-missing.yaml",
			want: `config testdata/invalid-urls-missing.yaml is invalid (1 problem):
  testdata/invalid-urls-missing.yaml:2: ad.urls: at least one URL is required (hint: for example ldaps://dc1.example.com:636)`,
		},
		{
			file: "invalid-base-dn-missing.yaml",
			want: `config testdata/invalid-base-dn-missing.yaml is invalid (1 problem):
  testdata/invalid-base-dn-missing.yaml:2: ad.base_dn: is required (hint: for example DC=example,DC=com)`,
		},
		{
			file: "invalid-base-dn.yaml",
			want: `config testdata/invalid-base-dn.yaml is invalid (1 problem):
  testdata/invalid-base-dn.yaml:5: ad.base_dn: is not a valid DN: DN ended with incomplete type, value pair (hint: for example OU=Staff,DC=example,DC=com)`,
		},
		{
			file: "invalid-sync-ou-outside-base-dn.yaml",
			want: `config testdata/invalid-sync-ou-outside-base-dn.yaml is invalid (1 problem):
  testdata/invalid-sync-ou-outside-base-dn.yaml:8: ad.sync_ous[1]: is not under base_dn (hint: every sync OU must be base_dn or an OU below it)`,
		},
		{
			file: "invalid-nosync-ou-is-sync-ou.yaml",
			want: `config testdata/invalid-nosync-ou-is-sync-ou.yaml is invalid (1 problem):
  testdata/invalid-nosync-ou-is-sync-ou.yaml:8: ad.nosync_ou: is the same OU as ad.sync_ous[0] (hint: an OU cannot be both synchronised and excluded)`,
		},
		{
			file: "invalid-page-size.yaml",
			want: `config testdata/invalid-page-size.yaml is invalid (1 problem):
  testdata/invalid-page-size.yaml:6: ad.page_size: must be between 1 and 1000, got 5000 (hint: Active Directory returns at most 1000 entries per page)`,
		},
		{
			file: "invalid-timeout.yaml",
			want: `config testdata/invalid-timeout.yaml is invalid (1 problem):
  testdata/invalid-timeout.yaml:6: ad.timeout: must be greater than 0s and at most 10m, got 1h`,
		},
		{
			file: "invalid-timeout-format.yaml",
			want: `config testdata/invalid-timeout-format.yaml is invalid (1 problem):
  testdata/invalid-timeout-format.yaml:6: ad.timeout: must be a duration such as "30s" or "5m", got "30"`,
		},
		{
			file: "invalid-tls-min-version.yaml",
			want: `config testdata/invalid-tls-min-version.yaml is invalid (1 problem):
  testdata/invalid-tls-min-version.yaml:7: ad.tls.min_version: must be "1.2" or "1.3", got "1.1"`,
		},
		{
			file:  "invalid-ca-file-missing.yaml",
			paths: []string{"testdata/missing-ca.pem"},
			want: `config testdata/invalid-ca-file-missing.yaml is invalid (1 problem):
  testdata/invalid-ca-file-missing.yaml:7: ad.tls.ca_file: file "testdata/missing-ca.pem" does not exist`,
		},
		{
			file:  "invalid-ca-file-no-certificate.yaml",
			paths: []string{"testdata/not-a-cert.pem"},
			want: `config testdata/invalid-ca-file-no-certificate.yaml is invalid (1 problem):
  testdata/invalid-ca-file-no-certificate.yaml:7: ad.tls.ca_file: file "testdata/not-a-cert.pem" holds no PEM certificate (hint: it must hold one or more "-----BEGIN CERTIFICATE-----" blocks)`,
		},
		{
			file: "invalid-start-tls-plaintext.yaml",
			want: `config testdata/invalid-start-tls-plaintext.yaml is invalid (1 problem):
  testdata/invalid-start-tls-plaintext.yaml:8: ad.tls.start_tls: is false and ad.urls[1] is an ldap:// URL, so the connection would not be encrypted (hint: use ldaps://, remove start_tls: false, or set ad.bind.allow_plaintext: true)`,
		},
		{
			file: "invalid-inline-password.yaml",
			want: `config testdata/invalid-inline-password.yaml is invalid (1 problem):
  testdata/invalid-inline-password.yaml:8: ad.bind.password: inline secrets are not allowed (hint: write env:VARIABLE or file:/path/to/secret)`,
		},
		{
			file: "invalid-secret-ref-empty-env.yaml",
			want: `config testdata/invalid-secret-ref-empty-env.yaml is invalid (1 problem):
  testdata/invalid-secret-ref-empty-env.yaml:8: ad.bind.password: env: reference has no variable name (hint: write env:VARIABLE)`,
		},
		{
			file: "invalid-secret-ref-empty-file.yaml",
			want: `config testdata/invalid-secret-ref-empty-file.yaml is invalid (1 problem):
  testdata/invalid-secret-ref-empty-file.yaml:8: ad.bind.password: file: reference has no path (hint: write file:/path/to/secret)`,
		},
		{
			file:  "invalid-secret-file-missing.yaml",
			paths: []string{"testdata/secrets/missing-password"},
			want: `config testdata/invalid-secret-file-missing.yaml is invalid (1 problem):
  testdata/invalid-secret-file-missing.yaml:8: ad.bind.password: secret file "testdata/secrets/missing-password" does not exist`,
		},
		{
			file: "invalid-bind-dn.yaml",
			want: `config testdata/invalid-bind-dn.yaml is invalid (1 problem):
  testdata/invalid-bind-dn.yaml:7: ad.bind.dn: must be a DN, user@REALM or DOMAIN\user (hint: for example CN=svc-sync,OU=Service Accounts,DC=example,DC=com, svc-sync@EXAMPLE.COM or EXAMPLE\svc-sync)`,
		},
		{
			file: "invalid-bind-method.yaml",
			want: `config testdata/invalid-bind-method.yaml is invalid (1 problem):
  testdata/invalid-bind-method.yaml:7: ad.bind.method: must be "simple" or "kerberos", got "ntlm"`,
		},
		{
			file: "invalid-kerberos-keytab-missing.yaml",
			want: `config testdata/invalid-kerberos-keytab-missing.yaml is invalid (1 problem):
  testdata/invalid-kerberos-keytab-missing.yaml:8: ad.bind.kerberos.keytab: is required for method kerberos (hint: for example /etc/hybridsync/hybridsync.keytab)`,
		},
		{
			file: "invalid-kerberos-with-simple-bind.yaml",
			want: `config testdata/invalid-kerberos-with-simple-bind.yaml is invalid (1 problem):
  testdata/invalid-kerberos-with-simple-bind.yaml:9: ad.bind.kerberos: is only used when ad.bind.method is kerberos (hint: set ad.bind.method: kerberos, or remove the kerberos settings)`,
		},
		{
			file: "invalid-cloud-tenant-id-missing.yaml",
			want: `config testdata/invalid-cloud-tenant-id-missing.yaml is invalid (1 problem):
  testdata/invalid-cloud-tenant-id-missing.yaml:9: cloud.tenant_id: is required (hint: the Entra directory (tenant) ID, such as 8d3f5a2b-1c4e-4f6a-9b7d-0e1f2a3b4c5d)`,
		},
		{
			file: "invalid-cloud-tenant-id.yaml",
			want: `config testdata/invalid-cloud-tenant-id.yaml is invalid (1 problem):
  testdata/invalid-cloud-tenant-id.yaml:10: cloud.tenant_id: must be a GUID, got "contoso.onmicrosoft.com" (hint: the Entra directory (tenant) ID, such as 8d3f5a2b-1c4e-4f6a-9b7d-0e1f2a3b4c5d; a domain name is not accepted because the Exchange admin API needs the GUID)`,
		},
		{
			file: "invalid-cloud-client-id-missing.yaml",
			want: `config testdata/invalid-cloud-client-id-missing.yaml is invalid (1 problem):
  testdata/invalid-cloud-client-id-missing.yaml:9: cloud.client_id: is required (hint: the Entra app registration's application (client) ID, such as 8d3f5a2b-1c4e-4f6a-9b7d-0e1f2a3b4c5d)`,
		},
		{
			file: "invalid-cloud-client-id.yaml",
			want: `config testdata/invalid-cloud-client-id.yaml is invalid (1 problem):
  testdata/invalid-cloud-client-id.yaml:11: cloud.client_id: must be a GUID, got "hybridsync-app" (hint: the Entra app registration's application (client) ID, such as 8d3f5a2b-1c4e-4f6a-9b7d-0e1f2a3b4c5d)`,
		},
		{
			file: "invalid-cloud-national-cloud.yaml",
			want: `config testdata/invalid-cloud-national-cloud.yaml is invalid (1 problem):
  testdata/invalid-cloud-national-cloud.yaml:12: cloud.national_cloud: must be global, usgovhigh, usgovdod or china, got "AzureUSGovernment"`,
		},
		{
			file: "invalid-cloud-initial-domain-missing.yaml",
			want: `config testdata/invalid-cloud-initial-domain-missing.yaml is invalid (1 problem):
  testdata/invalid-cloud-initial-domain-missing.yaml:9: cloud.initial_domain: is required (hint: the tenant's initial domain, such as contoso.onmicrosoft.com; not a custom domain, nor the contoso.mail.onmicrosoft.com routing domain)`,
		},
		{
			file: "invalid-cloud-initial-domain.yaml",
			want: `config testdata/invalid-cloud-initial-domain.yaml is invalid (1 problem):
  testdata/invalid-cloud-initial-domain.yaml:12: cloud.initial_domain: must be a DNS name ending in .onmicrosoft.com, .onmicrosoft.us or .partner.onmschina.cn, got "contoso.com" (hint: the tenant's initial domain, such as contoso.onmicrosoft.com; not a custom domain, nor the contoso.mail.onmicrosoft.com routing domain)`,
		},
		{
			file: "invalid-cloud-credential-missing.yaml",
			want: `config testdata/invalid-cloud-credential-missing.yaml is invalid (1 problem):
  testdata/invalid-cloud-credential-missing.yaml:9: cloud.credential: must set client_secret or certificate (hint: set client_secret to env:VARIABLE or file:/path/to/secret, or certificate.file to a PEM, .pfx or .p12 file)`,
		},
		{
			file: "invalid-cloud-credential-both.yaml",
			want: `config testdata/invalid-cloud-credential-both.yaml is invalid (1 problem):
  testdata/invalid-cloud-credential-both.yaml:13: cloud.credential: must set only one of client_secret and certificate, not both (hint: remove one of them)`,
		},
		{
			file: "invalid-cloud-inline-client-secret.yaml",
			want: `config testdata/invalid-cloud-inline-client-secret.yaml is invalid (1 problem):
  testdata/invalid-cloud-inline-client-secret.yaml:14: cloud.credential.client_secret: inline secrets are not allowed (hint: write env:VARIABLE or file:/path/to/secret)`,
		},
		{
			file:  "invalid-cloud-certificate-file-missing.yaml",
			paths: []string{"testdata/missing-app.pem"},
			want: `config testdata/invalid-cloud-certificate-file-missing.yaml is invalid (1 problem):
  testdata/invalid-cloud-certificate-file-missing.yaml:15: cloud.credential.certificate.file: file "testdata/missing-app.pem" does not exist`,
		},
		{
			file: "invalid-cloud-certificate-password-pem.yaml",
			want: `config testdata/invalid-cloud-certificate-password-pem.yaml is invalid (1 problem):
  testdata/invalid-cloud-certificate-password-pem.yaml:16: cloud.credential.certificate.password: is only used with a .pfx or .p12 file (hint: remove it; the private key in a PEM file must not be encrypted)`,
		},
		{
			file: "invalid-cloud-endpoint-scheme.yaml",
			want: `config testdata/invalid-cloud-endpoint-scheme.yaml is invalid (1 problem):
  testdata/invalid-cloud-endpoint-scheme.yaml:16: cloud.endpoints.graph: has scheme "http", want https (hint: write https://host[:port])`,
		},
		{
			file: "invalid-cloud-endpoint-path.yaml",
			want: `config testdata/invalid-cloud-endpoint-path.yaml is invalid (1 problem):
  testdata/invalid-cloud-endpoint-path.yaml:16: cloud.endpoints.authority: must not have a path, query or fragment (hint: write https://host[:port])`,
		},
		{
			file:  "invalid-cloud-ca-file-missing.yaml",
			paths: []string{"testdata/missing-ca.pem"},
			want: `config testdata/invalid-cloud-ca-file-missing.yaml is invalid (1 problem):
  testdata/invalid-cloud-ca-file-missing.yaml:15: cloud.ca_file: file "testdata/missing-ca.pem" does not exist`,
		},
		{
			file: "invalid-cloud-timeout.yaml",
			want: `config testdata/invalid-cloud-timeout.yaml is invalid (1 problem):
  testdata/invalid-cloud-timeout.yaml:15: cloud.timeout: must be greater than 0s and at most 10m, got 15m`,
		},
		{
			file: "invalid-logging-level.yaml",
			want: `config testdata/invalid-logging-level.yaml is invalid (1 problem):
  testdata/invalid-logging-level.yaml:10: logging.level: must be debug, info, warn or error, got "verbose"`,
		},
		{
			file: "invalid-logging-format.yaml",
			want: `config testdata/invalid-logging-format.yaml is invalid (1 problem):
  testdata/invalid-logging-format.yaml:10: logging.format: must be text or json, got "logfmt"`,
		},
		{
			file: "invalid-empty.yaml",
			want: `config testdata/invalid-empty.yaml is invalid (1 problem):
  testdata/invalid-empty.yaml:1: the config is empty (hint: set at least ad.urls, ad.base_dn and ad.bind)`,
		},
		{
			file: "invalid-syntax.yaml",
			want: `config testdata/invalid-syntax.yaml is invalid (1 problem):
  testdata/invalid-syntax.yaml:4: invalid YAML: found character that cannot start any token (hint: indent with spaces; YAML does not allow tabs)`,
		},
		{
			file: "invalid-type.yaml",
			want: `config testdata/invalid-type.yaml is invalid (1 problem):
  testdata/invalid-type.yaml:6: ad.page_size: must be an integer, got "abc"`,
		},
		{
			file: "invalid-duplicate-key.yaml",
			want: `config testdata/invalid-duplicate-key.yaml is invalid (1 problem):
  testdata/invalid-duplicate-key.yaml:6: ad.base_dn: duplicate key "base_dn" (first set at line 5) (hint: keep only one of them)`,
		},
		{
			file: "invalid-multiple-documents.yaml",
			want: `config testdata/invalid-multiple-documents.yaml is invalid (1 problem):
  testdata/invalid-multiple-documents.yaml:10: the file holds more than one YAML document (hint: remove the "---" separator and merge the documents)`,
		},
		{
			file: "invalid-not-mapping.yaml",
			want: `config testdata/invalid-not-mapping.yaml is invalid (1 problem):
  testdata/invalid-not-mapping.yaml:2: must be a mapping, got a list`,
		},
		{
			file: "invalid-many.yaml",
			want: `config testdata/invalid-many.yaml is invalid (10 problems):
  testdata/invalid-many.yaml:2: ad.base_dn: is required (hint: for example DC=example,DC=com)
  testdata/invalid-many.yaml:5: ad.urls[1]: has scheme "http", want ldaps or ldap (hint: write ldaps://host[:port] or ldap://host[:port])
  testdata/invalid-many.yaml:7: ad.sync_ous[0]: is not a valid DN: DN ended with incomplete type, value pair (hint: for example OU=Staff,DC=example,DC=com)
  testdata/invalid-many.yaml:8: ad.page_size: must be between 1 and 1000, got -1 (hint: Active Directory returns at most 1000 entries per page)
  testdata/invalid-many.yaml:9: ad.timeout: must be greater than 0s and at most 10m, got -5s
  testdata/invalid-many.yaml:11: ad.tls.min_version: must be "1.2" or "1.3", got "1.0"
  testdata/invalid-many.yaml:12: ad.bind.dn: is required for method simple (hint: for example CN=svc-sync,OU=Service Accounts,DC=example,DC=com, svc-sync@EXAMPLE.COM or EXAMPLE\svc-sync)
  testdata/invalid-many.yaml:13: ad.bind.password: inline secrets are not allowed (hint: write env:VARIABLE or file:/path/to/secret)
  testdata/invalid-many.yaml:15: logging.level: must be debug, info, warn or error, got "trace"
  testdata/invalid-many.yaml:16: logging.format: must be text or json, got "xml"`,
		},
		{
			file: "invalid-many-decode.yaml",
			want: `config testdata/invalid-many-decode.yaml is invalid (7 problems):
  testdata/invalid-many-decode.yaml:3: ad.urls: must be a list of strings, got "ldaps://dc1.example.com"
  testdata/invalid-many-decode.yaml:5: ad.page_size: must be an integer, got "1k"
  testdata/invalid-many-decode.yaml:6: ad.timeout: must be a duration such as "30s" or "5m", got a list
  testdata/invalid-many-decode.yaml:8: ad.tls.start_tls: must be true or false, got "maybe"
  testdata/invalid-many-decode.yaml:9: ad.tls.verify: unknown key "verify" (hint: valid keys here: ca_file, server_name, start_tls, min_version)
  testdata/invalid-many-decode.yaml:12: ad.bind.dn: duplicate key "dn" (first set at line 11) (hint: keep only one of them)
  testdata/invalid-many-decode.yaml:14: loging: unknown key "loging" (hint: valid keys here: ad, cloud, reconcile, migrations, staging, state_dir, http, logging)`,
		},
	}

	tests = append(tests, serviceInvalidCases()...)

	// Every fixture must have a case, so a new rule cannot be added
	// without its exact message.
	fixtures, err := filepath.Glob(filepath.Join("testdata", "invalid-*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fixtures {
		name := filepath.Base(f)
		if !slices.ContainsFunc(tests, func(tc invalidCase) bool { return tc.file == name }) {
			t.Errorf("configs/testdata/%s has no test case", name)
		}
	}

	for _, tc := range tests {
		t.Run(strings.TrimSuffix(tc.file, ".yaml"), func(t *testing.T) {
			want := tc.want
			for _, p := range tc.paths {
				want = strings.ReplaceAll(want, strconv.Quote(p), strconv.Quote(filepath.FromSlash(p)))
				want = strings.ReplaceAll(want, p, filepath.FromSlash(p))
			}
			cfg, err := Load("testdata/" + tc.file)
			if err == nil {
				t.Fatalf("Load succeeded, want error; config: %+v", cfg)
			}
			if cfg != nil {
				t.Errorf("Load returned a config with an error")
			}
			if got := err.Error(); got != want {
				t.Errorf("error text mismatch\n got: %s\nwant: %s", got, want)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error is %T, want *ValidationError", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error reveals the inline password: %s", err)
			}
		})
	}
}

func TestLoadInvalidProblems(t *testing.T) {
	t.Chdir(invalidDir)
	_, err := Load("testdata/invalid-many.yaml")
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Load error = %v, want *ValidationError", err)
	}
	if ve.File != "testdata/invalid-many.yaml" {
		t.Errorf("File = %q", ve.File)
	}
	if len(ve.Problems) != 10 {
		t.Fatalf("got %d problems, want 10: %v", len(ve.Problems), err)
	}
	want := Problem{
		Line:    13,
		Path:    "ad.bind.password",
		Message: "inline secrets are not allowed",
		Hint:    "write env:VARIABLE or file:/path/to/secret",
	}
	if !slices.Contains(ve.Problems, want) {
		t.Errorf("problems %+v do not contain %+v", ve.Problems, want)
	}
	if !slices.IsSortedFunc(ve.Problems, func(a, b Problem) int { return a.Line - b.Line }) {
		t.Errorf("problems not sorted by line: %+v", ve.Problems)
	}
}

func TestLoadValid(t *testing.T) {
	cfg, err := Load("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ad := cfg.AD
	if want := []string{"ldap://dc1.example.com", "ldaps://dc2.example.com:636"}; !slices.Equal(ad.URLs, want) {
		t.Errorf("URLs = %q, want %q", ad.URLs, want)
	}
	if ad.BaseDN != "DC=example,DC=com" {
		t.Errorf("BaseDN = %q", ad.BaseDN)
	}
	if len(ad.SyncOUs) != 2 || ad.NoSyncOU != "OU=Disabled,OU=Staff,DC=example,DC=com" {
		t.Errorf("SyncOUs = %q, NoSyncOU = %q", ad.SyncOUs, ad.NoSyncOU)
	}

	// Defaults.
	if ad.PageSize != 1000 {
		t.Errorf("PageSize = %d, want 1000", ad.PageSize)
	}
	if ad.Timeout.Duration != 30*time.Second {
		t.Errorf("Timeout = %v, want 30s", ad.Timeout)
	}
	if ad.Bind.Method != "simple" {
		t.Errorf("Bind.Method = %q, want simple", ad.Bind.Method)
	}
	if ad.Bind.AllowPlaintext {
		t.Errorf("Bind.AllowPlaintext = true, want false")
	}
	if ad.TLS.MinVersion != "1.2" || ad.TLS.MinTLSVersion() != tls.VersionTLS12 {
		t.Errorf("TLS.MinVersion = %q (%#x), want 1.2", ad.TLS.MinVersion, ad.TLS.MinTLSVersion())
	}
	if !ad.TLS.UseStartTLS() {
		t.Errorf("TLS.UseStartTLS() = false, want true by default")
	}
	if ad.TLS.ServerName != "" {
		t.Errorf("TLS.ServerName = %q, want empty", ad.TLS.ServerName)
	}
	if cfg.Logging.Level != "info" || cfg.Logging.Format != "text" || cfg.Logging.SlogLevel() != slog.LevelInfo {
		t.Errorf("Logging = %+v, want info/text", cfg.Logging)
	}

	// Relative paths are resolved against the file's directory.
	if want := filepath.Join("testdata", "ca.pem"); ad.TLS.CAFile != want {
		t.Errorf("TLS.CAFile = %q, want %q", ad.TLS.CAFile, want)
	}
	wantRef := SecretRef("file:" + filepath.Join("testdata", "secrets", "bind-password"))
	if ad.Bind.Password != wantRef {
		t.Errorf("Bind.Password = %q, want %q", ad.Bind.Password, wantRef)
	}
	// Loading did not need the secret, but it resolves from the new path.
	if got, err := ad.Bind.Password.Resolve(); err != nil || got != "s3cret-test-password" {
		t.Errorf("Password.Resolve() = %q, %v", got, err)
	}
}

func TestLoadValidKerberos(t *testing.T) {
	cfg, err := Load("testdata/valid-kerberos.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.AD.Bind
	want := Kerberos{
		Principal: "svc-hybridsync",
		Realm:     "EXAMPLE.COM", // upper-cased
		Keytab:    filepath.Join("testdata", "hybridsync.keytab"),
		Krb5Conf:  filepath.Join("testdata", "krb5.conf"),
		SPN:       "ldap/dc1.example.com",
	}
	if b.Method != "kerberos" || b.Kerberos != want {
		t.Errorf("Bind = %+v, want method kerberos and %+v", b, want)
	}
	if cfg.AD.PageSize != 500 || cfg.AD.Timeout.Duration != 2*time.Minute {
		t.Errorf("PageSize = %d, Timeout = %v", cfg.AD.PageSize, cfg.AD.Timeout)
	}
	if cfg.AD.TLS.MinTLSVersion() != tls.VersionTLS13 || cfg.AD.TLS.ServerName != "dc.example.com" {
		t.Errorf("TLS = %+v", cfg.AD.TLS)
	}
	if cfg.Logging.SlogLevel() != slog.LevelDebug || cfg.Logging.Format != "json" {
		t.Errorf("Logging = %+v", cfg.Logging)
	}
}

func TestLoadValidCloud(t *testing.T) {
	cfg, err := Load("testdata/valid-cloud.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Cloud{
		TenantID:      "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
		ClientID:      "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d",
		NationalCloud: "global",                  // default
		InitialDomain: "Contoso.OnMicrosoft.com", // suffix compared case-insensitively, kept as written
		Credential: CloudCredential{
			Certificate: CloudCertificate{File: filepath.Join("testdata", "app.pem")},
		},
		Endpoints: CloudEndpoints{
			Authority: "https://127.11.0.3:8443/",
			Graph:     "https://127.11.0.3:8443",
			Exchange:  "https://127.11.0.3:8443",
		},
		CAFile:  filepath.Join("testdata", "ca.pem"),
		Timeout: Duration{60 * time.Second}, // default
	}
	if cfg.Cloud != want {
		t.Errorf("Cloud = %+v\nwant    %+v", cfg.Cloud, want)
	}
	if cfg.Cloud.IsZero() {
		t.Errorf("Cloud.IsZero() = true for a present section")
	}

	cfg, err = Load("testdata/valid-cloud-pfx.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Cloud
	if c.NationalCloud != "usgovhigh" || c.InitialDomain != "contoso.onmicrosoft.us" || c.Timeout.Duration != 2*time.Minute {
		t.Errorf("Cloud = %+v", c)
	}
	wantCert := CloudCertificate{
		File:     filepath.Join("testdata", "app.pfx"),
		Password: SecretRef("file:" + filepath.Join("testdata", "secrets", "pfx-password")),
	}
	if c.Credential.ClientSecret != "" || c.Credential.Certificate != wantCert {
		t.Errorf("Credential = %+v, want certificate %+v", c.Credential, wantCert)
	}
	if got, err := c.Credential.Certificate.Password.Resolve(); err != nil || got != "test-pfx-password" {
		t.Errorf("Password.Resolve() = %q, %v", got, err)
	}
}

// TestCloudOptional checks that the cloud section may be left out (or
// left empty) for AD-only use, and then stays zero: no defaults are filled.
func TestCloudOptional(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "valid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, extra := range map[string]string{
		"absent":        "",
		"null":          "cloud:\n",
		"empty mapping": "cloud: {}\n",
	} {
		cfg, err := Parse(name, append(slices.Clip(data), extra...), "testdata")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !cfg.Cloud.IsZero() || cfg.Cloud != (Cloud{}) {
			t.Errorf("%s: Cloud = %+v, want zero", name, cfg.Cloud)
		}
	}

	// Setting any one key makes the section present, so its rules apply.
	_, err = Parse("timeout only", append(slices.Clip(data), "cloud:\n  timeout: 30s\n"...), "testdata")
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Parse error = %v, want *ValidationError", err)
	}
	var paths []string
	for _, p := range ve.Problems {
		paths = append(paths, p.Path)
	}
	if want := []string{"cloud.client_id", "cloud.credential", "cloud.initial_domain", "cloud.tenant_id"}; !slices.Equal(paths, want) {
		t.Errorf("problems at %q, want %q:\n%v", paths, want, err)
	}
}

func TestIsGUID(t *testing.T) {
	for s, want := range map[string]bool{
		"3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f":   true,
		"3F1C2D4E-5A6B-4C7D-8E9F-0A1B2C3D4E5F":   true,
		"00000000-0000-0000-0000-000000000000":   true,
		"{3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f}": false,
		"3f1c2d4e5a6b4c7d8e9f0a1b2c3d4e5f":       false,
		"3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5g":   false,
		"3f1c2d4e-5a6b-4c7d-8e9f0-a1b2c3d4e5f":   false,
		" 3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5":   false,
		"contoso.onmicrosoft.com":                false,
		"":                                       false,
	} {
		if got := isGUID(s); got != want {
			t.Errorf("isGUID(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestIsInitialDomain(t *testing.T) {
	for s, want := range map[string]bool{
		"contoso.onmicrosoft.com":                    true,
		"Contoso.OnMicrosoft.COM":                    true,
		"contoso-lab2.onmicrosoft.com":               true,
		"contoso.onmicrosoft.us":                     true,
		"contoso.partner.onmschina.cn":               true,
		"onmicrosoft.com":                            false,
		".onmicrosoft.com":                           false,
		"contoso.mail.onmicrosoft.com":               false, // the routing domain
		"-contoso.onmicrosoft.com":                   false,
		"contoso-.onmicrosoft.com":                   false,
		"con_toso.onmicrosoft.com":                   false,
		"contoso.onmicrosoft.com.":                   false,
		"contoso.onmschina.cn":                       false,
		"contoso.com":                                false,
		"user@contoso.onmicrosoft.com":               false,
		strings.Repeat("a", 63) + ".onmicrosoft.com": true,
		strings.Repeat("a", 64) + ".onmicrosoft.com": false,
	} {
		if got := isInitialDomain(s); got != want {
			t.Errorf("isInitialDomain(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestParseBaseDir(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "valid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse("inline config", data, dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "ca.pem"); cfg.AD.TLS.CAFile != want {
		t.Errorf("TLS.CAFile = %q, want %q", cfg.AD.TLS.CAFile, want)
	}

	// The name, not a path, appears in messages.
	_, err = Parse("inline config", []byte("logging: {level: loud}\n"), dir)
	if err == nil || !strings.HasPrefix(err.Error(), "config inline config is invalid (") {
		t.Errorf("Parse error = %v", err)
	}
}

func TestLoadReadError(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load error = %v, want fs.ErrNotExist", err)
	}
	// The cause is OS-specific ("no such file or directory" on Unix) and
	// the path is not repeated.
	const prefix = "config.Load: read testdata/does-not-exist.yaml: "
	if err == nil || !strings.HasPrefix(err.Error(), prefix) || strings.Count(err.Error(), "does-not-exist") != 1 {
		t.Errorf("Load error = %v, want %q followed by the cause", err, prefix)
	}
}

func TestKrb5ConfDefault(t *testing.T) {
	dir := t.TempDir()
	keytab := filepath.Join(dir, "svc.keytab")
	krb5 := filepath.Join(dir, "krb5.conf")
	for _, f := range []string{keytab, krb5} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	data := []byte(`ad:
  urls: [ldaps://dc1.example.com]
  base_dn: DC=example,DC=com
  bind:
    method: kerberos
    kerberos:
      principal: svc@example.com
      realm: example.com
      keytab: svc.keytab
`)

	cfg, err := loader{krb5ConfDefault: krb5}.parse("k.yaml", data, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.AD.Bind.Kerberos.Krb5Conf; got != krb5 {
		t.Errorf("Krb5Conf = %q, want the default %q", got, krb5)
	}

	missing := filepath.Join(dir, "no-krb5.conf")
	_, err = loader{krb5ConfDefault: missing}.parse("k.yaml", data, dir)
	want := "config k.yaml is invalid (1 problem):\n" +
		"  k.yaml:6: ad.bind.kerberos.krb5_conf: is required because " + missing +
		" does not exist (hint: set it to the krb5.conf that locates the realm's KDCs)"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant %s", err, want)
	}
}

func TestUseStartTLS(t *testing.T) {
	on, off := true, false
	for _, tc := range []struct {
		v    *bool
		want bool
	}{{nil, true}, {&on, true}, {&off, false}} {
		if got := (TLS{StartTLS: tc.v}).UseStartTLS(); got != tc.want {
			t.Errorf("UseStartTLS with %v = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestSecretRefResolve(t *testing.T) {
	const secret = "s3cret-value"
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("HYBRIDSYNC_TEST_SECRET", secret)
	t.Setenv("HYBRIDSYNC_TEST_EMPTY", "")
	t.Setenv("HYBRIDSYNC_TEST_UNSET", "") // restored after the test
	os.Unsetenv("HYBRIDSYNC_TEST_UNSET")

	tests := []struct {
		name    string
		ref     SecretRef
		want    string
		wantErr string
	}{
		{name: "env set", ref: "env:HYBRIDSYNC_TEST_SECRET", want: secret},
		{name: "env unset", ref: "env:HYBRIDSYNC_TEST_UNSET",
			wantErr: "config.SecretRef.Resolve: environment variable HYBRIDSYNC_TEST_UNSET is not set"},
		{name: "env empty", ref: "env:HYBRIDSYNC_TEST_EMPTY",
			wantErr: "config.SecretRef.Resolve: environment variable HYBRIDSYNC_TEST_EMPTY is empty"},
		{name: "env no name", ref: "env:",
			wantErr: "config.SecretRef.Resolve: env: reference has no variable name"},
		{name: "file LF", ref: SecretRef("file:" + write("lf", secret+"\n")), want: secret},
		{name: "file CRLF", ref: SecretRef("file:" + write("crlf", secret+"\r\n")), want: secret},
		{name: "file no newline", ref: SecretRef("file:" + write("plain", secret)), want: secret},
		{name: "file trims one newline only", ref: SecretRef("file:" + write("two", secret+"\n\n")), want: secret + "\n"},
		{name: "file keeps inner spaces", ref: SecretRef("file:" + write("spaces", " "+secret+" \n")), want: " " + secret + " "},
		{name: "file missing", ref: SecretRef("file:" + filepath.Join(dir, "missing")),
			wantErr: "config.SecretRef.Resolve: read secret file " + filepath.Join(dir, "missing") + ": no such file or directory"},
		{name: "file empty", ref: SecretRef("file:" + write("empty", "\n")),
			wantErr: "config.SecretRef.Resolve: secret file " + filepath.Join(dir, "empty") + " is empty"},
		{name: "file no path", ref: "file:",
			wantErr: "config.SecretRef.Resolve: file: reference has no path"},
		{name: "inline", ref: secret,
			wantErr: "config.SecretRef.Resolve: not a secret reference; want env:VARIABLE or file:PATH"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.ref.Resolve()
			if tc.wantErr == "" {
				if err != nil || got != tc.want {
					t.Errorf("Resolve() = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Resolve() = %q, want error %q", got, tc.wantErr)
			}
			if err.Error() != tc.wantErr {
				t.Errorf("Resolve() error = %q, want %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error reveals the secret: %v", err)
			}
			if got != "" {
				t.Errorf("Resolve() returned %q with an error", got)
			}
		})
	}

	t.Run("missing file wraps fs.ErrNotExist", func(t *testing.T) {
		_, err := SecretRef("file:" + filepath.Join(dir, "missing")).Resolve()
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("error = %v, want fs.ErrNotExist", err)
		}
	})
}

func TestSecretRefString(t *testing.T) {
	for ref, want := range map[SecretRef]string{
		"env:BIND_PASSWORD":   "env:BIND_PASSWORD",
		"file:/etc/hs/bindpw": "file:/etc/hs/bindpw",
		"":                    "",
		"hunter2":             "[REDACTED]",
	} {
		if got := ref.String(); got != want {
			t.Errorf("SecretRef(%q).String() = %q, want %q", string(ref), got, want)
		}
	}
}

func TestLineOf(t *testing.T) {
	root, probs := decode([]byte(`ad:
  urls:
    - ldaps://a
    - ldaps://b
  bind:
    dn: x
`), &Config{})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	for path, want := range map[string]int{
		"":                   1,
		"ad":                 1,
		"ad.urls":            2,
		"ad.urls[1]":         4,
		"ad.urls[7]":         2, // missing item: its list's key
		"ad.bind.dn":         6,
		"ad.bind.password":   5, // missing key: its parent's key
		"ad.bind.kerberos.x": 5,
		"logging.level":      1, // nothing present: line 1
	} {
		if got := lineOf(root, path); got != want {
			t.Errorf("lineOf(%q) = %d, want %d", path, got, want)
		}
	}
}
