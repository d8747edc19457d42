package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// serviceInvalidCases are the invalid fixtures of the agent service's
// sections: reconcile, migrations, http and staging.
func serviceInvalidCases() []invalidCase {
	return []invalidCase{
		{
			file:  "invalid-many-service.yaml",
			paths: []string{"testdata/groups-invalid.yaml"},
			want: `config testdata/invalid-many-service.yaml is invalid (12 problems):
  testdata/invalid-many-service.yaml:13: reconcile.mode: is enforce but there is no cloud section (hint: enforce writes to the tenant; add a cloud section, or use mode observe)
  testdata/invalid-many-service.yaml:14: reconcile.interval: must be between 1m and 24h, got 30s
  testdata/invalid-many-service.yaml:15: reconcile.jitter: must be between 0 and 0.5, got -0.1 (hint: a fraction of the interval; 0 turns jitter off)
  testdata/invalid-many-service.yaml:17: reconcile.scope.kinds[0]: must be user, group or contact, got "users"
  testdata/invalid-many-service.yaml:19: reconcile.limits.max_deletes: must be -1 (no limit), 0 or more, got -2
  testdata/invalid-many-service.yaml:20: migrations: lists groups to migrate but there is no cloud section (hint: a migration creates the groups in the tenant; add a cloud section)
  testdata/invalid-many-service.yaml:26: http.listen: has invalid port "http" (hint: use a port from 1 to 65535)
  testdata/groups-invalid.yaml:4: groups[0].group: repeats migrations.groups[1] in testdata/invalid-many-service.yaml (hint: list each group once)
  testdata/groups-invalid.yaml:5: groups[1].group: must be a primary SMTP address or an objectGUID, got "not-an-address" (hint: a primary SMTP address such as sales@example.com, or an objectGUID in registry form such as {8d3f5a2b-1c4e-4f6a-9b7d-0e1f2a3b4c5d})
  testdata/groups-invalid.yaml:7: groups[2].group: repeats migrations.groups[0] in testdata/invalid-many-service.yaml (hint: list each group once)
  testdata/groups-invalid.yaml:8: groups[2].nosync_ou: is inside the sync scope, so the group would stay synchronised (hint: ad.sync_ous is empty, so all of ad.base_dn is synchronised; pick an OU inside ad.nosync_ou)
  testdata/groups-invalid.yaml:9: groups[3].group: repeats migrations.groups[1] in testdata/invalid-many-service.yaml (hint: list each group once)`,
		},
		{
			file:  "invalid-migrations-file-not-mapping.yaml",
			paths: []string{"testdata/not-a-cert.pem"},
			want: `config testdata/invalid-migrations-file-not-mapping.yaml is invalid (1 problem):
  testdata/not-a-cert.pem:1: must be a mapping, got a single value`,
		},
		{
			file: "invalid-http-listen-port.yaml",
			want: `config testdata/invalid-http-listen-port.yaml is invalid (1 problem):
  testdata/invalid-http-listen-port.yaml:10: http.listen: has invalid port "70000" (hint: use a port from 1 to 65535)`,
		},
		{
			file: "invalid-http-listen.yaml",
			want: `config testdata/invalid-http-listen.yaml is invalid (1 problem):
  testdata/invalid-http-listen.yaml:10: http.listen: "127.0.0.1" is not host:port: missing port in address (hint: for example 127.0.0.1:9847, or :9847 to listen on every interface)`,
		},
		{
			file:  "invalid-http-tls-file-missing.yaml",
			paths: []string{"testdata/missing-cert.pem", "testdata/missing-key.pem"},
			want: `config testdata/invalid-http-tls-file-missing.yaml is invalid (2 problems):
  testdata/invalid-http-tls-file-missing.yaml:11: http.tls.cert_file: file "testdata/missing-cert.pem" does not exist
  testdata/invalid-http-tls-file-missing.yaml:12: http.tls.key_file: file "testdata/missing-key.pem" does not exist`,
		},
		{
			file: "invalid-http-tls-key-missing.yaml",
			want: `config testdata/invalid-http-tls-key-missing.yaml is invalid (1 problem):
  testdata/invalid-http-tls-key-missing.yaml:10: http.tls.key_file: is required when cert_file is set (hint: set both cert_file and key_file for HTTPS, or neither for HTTP)`,
		},
		{
			file: "invalid-http-tls-key-pair.yaml",
			want: `config testdata/invalid-http-tls-key-pair.yaml is invalid (1 problem):
  testdata/invalid-http-tls-key-pair.yaml:10: http.tls: cert_file and key_file do not load as a key pair: tls: private key does not match public key (hint: cert_file must hold the PEM certificate chain and key_file its unencrypted PEM private key)`,
		},
		{
			file: "invalid-migrations-defaults-group-type.yaml",
			want: `config testdata/invalid-migrations-defaults-group-type.yaml is invalid (1 problem):
  testdata/invalid-migrations-defaults-group-type.yaml:21: migrations.defaults.group_type: must be keep, distribution or security, got "universal" (hint: keep gives the cloud group the on-premises group's type)`,
		},
		{
			file:  "invalid-migrations-file-decode.yaml",
			paths: []string{"testdata/groups-invalid-decode.yaml"},
			want: `config testdata/invalid-migrations-file-decode.yaml is invalid (3 problems):
  testdata/groups-invalid-decode.yaml:5: groups[0].keep_on_premises: unknown key "keep_on_premises" (hint: valid keys here: group, method, skip_nested_group_check, hybrid_mail_flow, keep_on_premises_group, group_type, not_before, nosync_ou)
  testdata/groups-invalid-decode.yaml:7: groups[1].hybrid_mail_flow: must be true or false, got "sometimes"
  testdata/groups-invalid-decode.yaml:8: defaults: unknown key "defaults" (hint: valid keys here: groups)`,
		},
		{
			file:  "invalid-migrations-file-duplicate.yaml",
			paths: []string{"testdata/groups-duplicate.yaml"},
			want: `config testdata/invalid-migrations-file-duplicate.yaml is invalid (1 problem):
  testdata/groups-duplicate.yaml:4: groups[1].group: repeats migrations.groups[0] in testdata/invalid-migrations-file-duplicate.yaml (hint: list each group once)`,
		},
		{
			file:  "invalid-migrations-file-missing.yaml",
			paths: []string{"testdata/missing-groups.yaml"},
			want: `config testdata/invalid-migrations-file-missing.yaml is invalid (1 problem):
  testdata/invalid-migrations-file-missing.yaml:20: migrations.file: file "testdata/missing-groups.yaml" does not exist (hint: a YAML file with a groups list, relative to this config file)`,
		},
		{
			file:  "invalid-migrations-file-problems.yaml",
			paths: []string{"testdata/groups-invalid.yaml"},
			want: `config testdata/invalid-migrations-file-problems.yaml is invalid (3 problems):
  testdata/groups-invalid.yaml:5: groups[1].group: must be a primary SMTP address or an objectGUID, got "not-an-address" (hint: a primary SMTP address such as sales@example.com, or an objectGUID in registry form such as {8d3f5a2b-1c4e-4f6a-9b7d-0e1f2a3b4c5d})
  testdata/groups-invalid.yaml:8: groups[2].nosync_ou: is inside the sync scope, so the group would stay synchronised (hint: pick an OU outside ad.sync_ous, or inside ad.nosync_ou)
  testdata/groups-invalid.yaml:9: groups[3].group: repeats groups[0] (hint: list each group once)`,
		},
		{
			file: "invalid-migrations-group-address.yaml",
			want: `config testdata/invalid-migrations-group-address.yaml is invalid (1 problem):
  testdata/invalid-migrations-group-address.yaml:21: migrations.groups[0].group: "sales@@example.com" is not a valid SMTP address (hint: a primary SMTP address such as sales@example.com, or an objectGUID in registry form such as {8d3f5a2b-1c4e-4f6a-9b7d-0e1f2a3b4c5d})`,
		},
		{
			file: "invalid-migrations-group-duplicate.yaml",
			want: `config testdata/invalid-migrations-group-duplicate.yaml is invalid (2 problems):
  testdata/invalid-migrations-group-duplicate.yaml:23: migrations.groups[2].group: repeats migrations.groups[0] (hint: list each group once)
  testdata/invalid-migrations-group-duplicate.yaml:24: migrations.groups[3].group: repeats migrations.groups[1] (hint: list each group once)`,
		},
		{
			file: "invalid-migrations-group-guid.yaml",
			want: `config testdata/invalid-migrations-group-guid.yaml is invalid (1 problem):
  testdata/invalid-migrations-group-guid.yaml:21: migrations.groups[0].group: "{8d3f5a2b-1c4e-4f6a-9b7d}" is not an objectGUID in registry form (hint: write {xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx} with hexadecimal digits)`,
		},
		{
			file: "invalid-migrations-group-missing.yaml",
			want: `config testdata/invalid-migrations-group-missing.yaml is invalid (1 problem):
  testdata/invalid-migrations-group-missing.yaml:21: migrations.groups[0].group: is required (hint: a primary SMTP address such as sales@example.com, or an objectGUID in registry form such as {8d3f5a2b-1c4e-4f6a-9b7d-0e1f2a3b4c5d})`,
		},
		{
			file: "invalid-migrations-group-neither.yaml",
			want: `config testdata/invalid-migrations-group-neither.yaml is invalid (1 problem):
  testdata/invalid-migrations-group-neither.yaml:21: migrations.groups[0].group: must be a primary SMTP address or an objectGUID, got "Sales Team" (hint: a primary SMTP address such as sales@example.com, or an objectGUID in registry form such as {8d3f5a2b-1c4e-4f6a-9b7d-0e1f2a3b4c5d})`,
		},
		{
			file: "invalid-migrations-group-type.yaml",
			want: `config testdata/invalid-migrations-group-type.yaml is invalid (1 problem):
  testdata/invalid-migrations-group-type.yaml:22: migrations.groups[0].group_type: must be keep, distribution or security, got "mail-enabled" (hint: keep gives the cloud group the on-premises group's type)`,
		},
		{
			file: "invalid-migrations-nosync-ou-in-sync-scope.yaml",
			want: `config testdata/invalid-migrations-nosync-ou-in-sync-scope.yaml is invalid (1 problem):
  testdata/invalid-migrations-nosync-ou-in-sync-scope.yaml:22: migrations.groups[0].nosync_ou: is inside the sync scope, so the group would stay synchronised (hint: pick an OU outside ad.sync_ous, or inside ad.nosync_ou)`,
		},
		{
			file: "invalid-migrations-nosync-ou-outside-base-dn.yaml",
			want: `config testdata/invalid-migrations-nosync-ou-outside-base-dn.yaml is invalid (1 problem):
  testdata/invalid-migrations-nosync-ou-outside-base-dn.yaml:22: migrations.groups[0].nosync_ou: is not below ad.base_dn (hint: the group is moved there, so it must be an OU inside ad.base_dn)`,
		},
		{
			file: "invalid-migrations-nosync-ou-required.yaml",
			want: `config testdata/invalid-migrations-nosync-ou-required.yaml is invalid (1 problem):
  testdata/invalid-migrations-nosync-ou-required.yaml:17: migrations.groups[0].nosync_ou: is required because neither ad.nosync_ou nor migrations.defaults.nosync_ou is set (hint: the OU the group is moved to, to take it out of the sync scope)`,
		},
		{
			file: "invalid-migrations-not-before.yaml",
			want: `config testdata/invalid-migrations-not-before.yaml is invalid (1 problem):
  testdata/invalid-migrations-not-before.yaml:22: migrations.groups[0].not_before: must be an RFC 3339 time such as "2025-07-01T18:00:00Z", got "2025-07-01 18:00"`,
		},
		{
			file: "invalid-migrations-method.yaml",
			want: `config testdata/invalid-migrations-method.yaml is invalid (2 problems):
  testdata/invalid-migrations-method.yaml:21: migrations.defaults.method: must be auto, soa or recreate, got "convert" (hint: auto converts the group's Source of Authority when the tenant allows it, and recreates it otherwise)
  testdata/invalid-migrations-method.yaml:24: migrations.groups[0].method: must be auto, soa or recreate, got "SOA" (hint: auto converts the group's Source of Authority when the tenant allows it, and recreates it otherwise)`,
		},
		{
			file: "invalid-migrations-sync.yaml",
			want: `config testdata/invalid-migrations-sync.yaml is invalid (6 problems):
  testdata/invalid-migrations-sync.yaml:20: migrations.sync.command: is required with trigger: command (hint: the program and its arguments, as a list, e.g. [ssh, aadconnect, 'Start-ADSyncSyncCycle -PolicyType Delta'])
  testdata/invalid-migrations-sync.yaml:22: migrations.sync.command_timeout: must be between 1s and 30m, got 45m
  testdata/invalid-migrations-sync.yaml:23: migrations.sync.wait: must be between 1m and 24h, got 10s (hint: cover at least one sync cycle (Entra Connect's default is every 30 minutes))
  testdata/invalid-migrations-sync.yaml:24: migrations.sync.poll_interval: must be between 1s and 5m, got 10m
  testdata/invalid-migrations-sync.yaml:25: migrations.routing_domain: must be a DNS domain name, got "not a domain" (hint: for example contoso.mail.onmicrosoft.com)
  testdata/invalid-migrations-sync.yaml:26: migrations.member_concurrency: must be between 1 and 64, got 65 (hint: single-member calls to Exchange Online run at once; more is throttled, not faster)`,
		},
		{
			file: "invalid-migrations-unknown-key.yaml",
			want: `config testdata/invalid-migrations-unknown-key.yaml is invalid (1 problem):
  testdata/invalid-migrations-unknown-key.yaml:22: migrations.groups[0].hybrid_mailflow: unknown key "hybrid_mailflow" (hint: valid keys here: group, method, skip_nested_group_check, hybrid_mail_flow, keep_on_premises_group, group_type, not_before, nosync_ou)`,
		},
		{
			file: "invalid-migrations-without-cloud.yaml",
			want: `config testdata/invalid-migrations-without-cloud.yaml is invalid (1 problem):
  testdata/invalid-migrations-without-cloud.yaml:13: migrations: lists groups to migrate but there is no cloud section (hint: a migration creates the groups in the tenant; add a cloud section)`,
		},
		{
			file: "invalid-reconcile-certificate-user-ids-attribute.yaml",
			want: `config testdata/invalid-reconcile-certificate-user-ids-attribute.yaml is invalid (1 problem):
  testdata/invalid-reconcile-certificate-user-ids-attribute.yaml:10: reconcile.certificate_user_ids_attribute: "extension attribute 10" is not an LDAP attribute name (hint: write the attribute's lDAPDisplayName, such as extensionAttribute10: a letter, then letters, digits and hyphens)`,
		},
		{
			file: "invalid-reconcile-concurrency.yaml",
			want: `config testdata/invalid-reconcile-concurrency.yaml is invalid (1 problem):
  testdata/invalid-reconcile-concurrency.yaml:10: reconcile.concurrency: must be between 1 and 32, got 64`,
		},
		{
			file: "invalid-reconcile-enforce-without-cloud.yaml",
			want: `config testdata/invalid-reconcile-enforce-without-cloud.yaml is invalid (1 problem):
  testdata/invalid-reconcile-enforce-without-cloud.yaml:10: reconcile.mode: is enforce but there is no cloud section (hint: enforce writes to the tenant; add a cloud section, or use mode observe)`,
		},
		{
			file: "invalid-reconcile-full-interval-below-interval.yaml",
			want: `config testdata/invalid-reconcile-full-interval-below-interval.yaml is invalid (1 problem):
  testdata/invalid-reconcile-full-interval-below-interval.yaml:11: reconcile.full_interval: must be at least reconcile.interval (2h), got 1h`,
		},
		{
			file: "invalid-reconcile-full-interval.yaml",
			want: `config testdata/invalid-reconcile-full-interval.yaml is invalid (1 problem):
  testdata/invalid-reconcile-full-interval.yaml:10: reconcile.full_interval: must be greater than 0s and at most 24h, got 48h (hint: a full read must run at least daily)`,
		},
		{
			file: "invalid-reconcile-interval.yaml",
			want: `config testdata/invalid-reconcile-interval.yaml is invalid (1 problem):
  testdata/invalid-reconcile-interval.yaml:10: reconcile.interval: must be between 1m and 24h, got 30s`,
		},
		{
			file: "invalid-reconcile-jitter-type.yaml",
			want: `config testdata/invalid-reconcile-jitter-type.yaml is invalid (1 problem):
  testdata/invalid-reconcile-jitter-type.yaml:10: reconcile.jitter: must be a number, got "ten percent"`,
		},
		{
			file: "invalid-reconcile-jitter.yaml",
			want: `config testdata/invalid-reconcile-jitter.yaml is invalid (1 problem):
  testdata/invalid-reconcile-jitter.yaml:10: reconcile.jitter: must be between 0 and 0.5, got 0.75 (hint: a fraction of the interval; 0 turns jitter off)`,
		},
		{
			file: "invalid-reconcile-change-window.yaml",
			want: `config testdata/invalid-reconcile-change-window.yaml is invalid (1 problem):
  testdata/invalid-reconcile-change-window.yaml:11: reconcile.limits.change_window: must be between 1h and 720h, got 10m (hint: the rolling window max_changes counts over)`,
		},
		{
			file: "invalid-reconcile-max-change-percent.yaml",
			want: `config testdata/invalid-reconcile-max-change-percent.yaml is invalid (1 problem):
  testdata/invalid-reconcile-max-change-percent.yaml:11: reconcile.limits.max_change_percent: must be between 0 and 100, got -10 (hint: 0 means no limit)`,
		},
		{
			file: "invalid-reconcile-max-changes.yaml",
			want: `config testdata/invalid-reconcile-max-changes.yaml is invalid (1 problem):
  testdata/invalid-reconcile-max-changes.yaml:11: reconcile.limits.max_changes: must be 0 (no limit) or more, got -1`,
		},
		{
			file: "invalid-reconcile-max-delete-percent.yaml",
			want: `config testdata/invalid-reconcile-max-delete-percent.yaml is invalid (1 problem):
  testdata/invalid-reconcile-max-delete-percent.yaml:11: reconcile.limits.max_delete_percent: must be between 0 and 100, got 150 (hint: 0 means no limit)`,
		},
		{
			file: "invalid-reconcile-max-deletes.yaml",
			want: `config testdata/invalid-reconcile-max-deletes.yaml is invalid (1 problem):
  testdata/invalid-reconcile-max-deletes.yaml:11: reconcile.limits.max_deletes: must be -1 (no limit), 0 or more, got -5`,
		},
		{
			file: "invalid-reconcile-mode.yaml",
			want: `config testdata/invalid-reconcile-mode.yaml is invalid (1 problem):
  testdata/invalid-reconcile-mode.yaml:10: reconcile.mode: must be observe or enforce, got "apply"`,
		},
		{
			file: "invalid-reconcile-scope-domain-repeat.yaml",
			want: `config testdata/invalid-reconcile-scope-domain-repeat.yaml is invalid (1 problem):
  testdata/invalid-reconcile-scope-domain-repeat.yaml:13: reconcile.scope.domains[1]: repeats reconcile.scope.domains[0] (hint: list each domain once)`,
		},
		{
			file: "invalid-reconcile-scope-domain.yaml",
			want: `config testdata/invalid-reconcile-scope-domain.yaml is invalid (1 problem):
  testdata/invalid-reconcile-scope-domain.yaml:12: reconcile.scope.domains[0]: "@example.com" is not a domain name (hint: write the address domain, such as example.com, without @ or a trailing dot)`,
		},
		{
			file: "invalid-reconcile-scope-kind-repeat.yaml",
			want: `config testdata/invalid-reconcile-scope-kind-repeat.yaml is invalid (1 problem):
  testdata/invalid-reconcile-scope-kind-repeat.yaml:14: reconcile.scope.kinds[2]: repeats reconcile.scope.kinds[0] (hint: list each kind once)`,
		},
		{
			file: "invalid-reconcile-scope-kind.yaml",
			want: `config testdata/invalid-reconcile-scope-kind.yaml is invalid (1 problem):
  testdata/invalid-reconcile-scope-kind.yaml:11: reconcile.scope.kinds[1]: must be user, group or contact, got "computer"`,
		},
		{
			file: "invalid-reconcile-scope-ou-dn.yaml",
			want: `config testdata/invalid-reconcile-scope-ou-dn.yaml is invalid (1 problem):
  testdata/invalid-reconcile-scope-ou-dn.yaml:12: reconcile.scope.ous[0]: is not a valid DN: DN ended with incomplete type, value pair (hint: for example OU=Staff,DC=example,DC=com)`,
		},
		{
			file: "invalid-reconcile-scope-ou-in-nosync-ou.yaml",
			want: `config testdata/invalid-reconcile-scope-ou-in-nosync-ou.yaml is invalid (1 problem):
  testdata/invalid-reconcile-scope-ou-in-nosync-ou.yaml:16: reconcile.scope.ous[0]: is inside ad.nosync_ou, whose objects are never synchronised (hint: pick an OU inside the sync scope)`,
		},
		{
			file: "invalid-reconcile-scope-ou-nested.yaml",
			want: `config testdata/invalid-reconcile-scope-ou-nested.yaml is invalid (1 problem):
  testdata/invalid-reconcile-scope-ou-nested.yaml:17: reconcile.scope.ous[1]: is inside reconcile.scope.ous[0] (hint: list only the outer OU; its whole subtree is in scope)`,
		},
		{
			file: "invalid-reconcile-scope-ou-outside-base-dn.yaml",
			want: `config testdata/invalid-reconcile-scope-ou-outside-base-dn.yaml is invalid (1 problem):
  testdata/invalid-reconcile-scope-ou-outside-base-dn.yaml:12: reconcile.scope.ous[0]: is not under ad.base_dn (hint: every scope OU must be ad.base_dn or an OU below it)`,
		},
		{
			file: "invalid-reconcile-scope-ou-outside-sync-ous.yaml",
			want: `config testdata/invalid-reconcile-scope-ou-outside-sync-ous.yaml is invalid (1 problem):
  testdata/invalid-reconcile-scope-ou-outside-sync-ous.yaml:17: reconcile.scope.ous[1]: is not inside any of ad.sync_ous (hint: objects outside ad.sync_ous are never synchronised; pick an OU inside one of them)`,
		},
		{
			file: "invalid-reconcile-source-anchor.yaml",
			want: `config testdata/invalid-reconcile-source-anchor.yaml is invalid (1 problem):
  testdata/invalid-reconcile-source-anchor.yaml:10: reconcile.source_anchor: must be objectGUID or mS-DS-ConsistencyGuid, got "immutableId" (hint: use the source anchor the sync engine is configured with)`,
		},
		{
			file: "invalid-reconcile-verify-timeout.yaml",
			want: `config testdata/invalid-reconcile-verify-timeout.yaml is invalid (1 problem):
  testdata/invalid-reconcile-verify-timeout.yaml:10: reconcile.verify_timeout: must be greater than 0s and at most 6h, got 7h`,
		},
		{
			file: "invalid-staging-type.yaml",
			want: `config testdata/invalid-staging-type.yaml is invalid (1 problem):
  testdata/invalid-staging-type.yaml:9: staging: must be true or false, got "read only"`,
		},
	}
}

func TestLoadValidService(t *testing.T) {
	cfg, err := Load("testdata/valid-service.yaml")
	if err != nil {
		t.Fatal(err)
	}
	zero, deletes := 0.0, 0
	wantReconcile := Reconcile{
		Mode:         ModeEnforce,
		Interval:     Duration{10 * time.Minute},
		FullInterval: Duration{12 * time.Hour},
		Jitter:       &zero, // explicit 0, not the default
		Scope: ReconcileScope{
			OUs:     []string{"OU=Sales,OU=Staff,DC=example,DC=com", "OU=Groups,DC=example,DC=com"},
			Kinds:   []string{KindGroup, KindContact},
			Domains: []string{"example.com", "sales.example.com"}, // lower-cased
		},
		Limits: ReconcileLimits{
			MaxDeletes:       &deletes, // explicit 0: no deletes at all
			MaxDeletePercent: 5,
			MaxChanges:       2000,
			ChangeWindow:     Duration{24 * time.Hour},
			MaxChangePercent: 20,
		},
		SourceAnchor:                SourceAnchorConsistencyGUID, // canonical spelling
		CertificateUserIDsAttribute: "extensionAttribute10",
		VerifyTimeout:               Duration{2 * time.Hour},
		Concurrency:                 8,
	}
	if !reflect.DeepEqual(cfg.Reconcile, wantReconcile) {
		t.Errorf("Reconcile = %s\nwant        %s", show(cfg.Reconcile), show(wantReconcile))
	}
	if cfg.Reconcile.JitterFraction() != 0 {
		t.Errorf("JitterFraction() = %v, want 0", cfg.Reconcile.JitterFraction())
	}
	if !cfg.Staging || cfg.Enforcing() {
		t.Errorf("Staging = %v, Enforcing() = %v; want staging to override enforce", cfg.Staging, cfg.Enforcing())
	}

	pem := filepath.Join("testdata", "app.pem")
	wantHTTP := HTTP{Listen: "[::1]:9443", TLS: HTTPTLS{CertFile: pem, KeyFile: pem}}
	if cfg.HTTP != wantHTTP || !cfg.HTTP.TLS.Enabled() {
		t.Errorf("HTTP = %+v, want %+v", cfg.HTTP, wantHTTP)
	}

	m := cfg.Migrations
	groupsFile := filepath.Join("testdata", "migration-groups.yaml")
	if m.File != groupsFile {
		t.Errorf("Migrations.File = %q, want %q", m.File, groupsFile)
	}
	notBefore := mustTime(t, "2025-07-05T18:00:00+02:00")
	const migrated = "OU=Migrated,DC=example,DC=com"
	wantDefaults := MigrationOptions{
		Method:               MethodAuto, // the built-in default
		SkipNestedGroupCheck: ptr(false),
		HybridMailFlow:       ptr(true), // the built-in default
		KeepOnPremisesGroup:  ptr(true),
		GroupType:            GroupTypeSecurity,
		NotBefore:            notBefore,
		NoSyncOU:             migrated,
	}
	if !reflect.DeepEqual(m.Defaults, wantDefaults) {
		t.Errorf("Migrations.Defaults = %s\nwant %s", show(m.Defaults), show(wantDefaults))
	}
	const name = "testdata/valid-service.yaml"
	wantGroups := []MigrationGroup{
		{
			Group:            "sales@example.com",
			MigrationOptions: wantDefaults, // everything from defaults
			Source:           Source{File: name, Line: 48, Path: "migrations.groups[0]"},
		},
		{
			Group: "{6F1C2D4E-5A6B-4C7D-8E9F-0A1B2C3D4E5F}",
			MigrationOptions: MigrationOptions{
				Method:               MethodRecreate,
				SkipNestedGroupCheck: ptr(true),
				HybridMailFlow:       ptr(false),
				KeepOnPremisesGroup:  ptr(false),
				GroupType:            GroupTypeKeep, // "keep" overrides the default
				NotBefore:            mustTime(t, "2025-08-01T00:00:00Z"),
				NoSyncOU:             "OU=Leavers,OU=No Sync,OU=Staff,DC=example,DC=com",
			},
			Source: Source{File: name, Line: 49, Path: "migrations.groups[1]"},
		},
		{
			Group: "support@example.com",
			MigrationOptions: MigrationOptions{
				Method:               MethodAuto,
				SkipNestedGroupCheck: ptr(false),
				HybridMailFlow:       ptr(true),
				KeepOnPremisesGroup:  ptr(true),
				GroupType:            GroupTypeDistribution,
				NotBefore:            notBefore,
				NoSyncOU:             migrated,
			},
			Source: Source{File: groupsFile, Line: 3, Path: "groups[0]"},
		},
		{
			Group:            "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
			MigrationOptions: wantDefaults,
			Source:           Source{File: groupsFile, Line: 6, Path: "groups[1]"},
		},
	}
	if len(m.Groups) != len(wantGroups) {
		t.Fatalf("got %d groups, want %d: %s", len(m.Groups), len(wantGroups), show(m.Groups))
	}
	for i, want := range wantGroups {
		if got := m.Groups[i]; !reflect.DeepEqual(got, want) {
			t.Errorf("Groups[%d] = %s\nwant        %s", i, show(got), show(want))
		}
	}
	if got := m.Groups[2].Source.String(); got != groupsFile+":3" {
		t.Errorf("Source.String() = %q", got)
	}
	wantSync := MigrationSync{Trigger: SyncTriggerCommand,
		Command:        []string{"/usr/bin/ssh", "aadconnect.example.com", "Start-ADSyncSyncCycle -PolicyType Delta"},
		CommandTimeout: Duration{2 * time.Minute}, Wait: Duration{time.Hour}, PollInterval: Duration{10 * time.Second}}
	if !reflect.DeepEqual(m.Sync, wantSync) || m.RoutingDomain != "example.mail.onmicrosoft.com" {
		t.Errorf("Migrations.Sync = %s, routing domain %q", show(m.Sync), m.RoutingDomain)
	}
	// Options are copied, not shared with Defaults.
	*m.Groups[0].HybridMailFlow = false
	if !*m.Defaults.HybridMailFlow {
		t.Errorf("changing a group's option changed Defaults")
	}
}

// TestServiceDefaults checks the defaults of the service sections in a
// config that leaves them all out.
func TestServiceDefaults(t *testing.T) {
	cfg, err := Load("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	jitter, deletes := 0.1, 500
	want := Reconcile{
		Mode:          ModeObserve,
		Interval:      Duration{5 * time.Minute},
		FullInterval:  Duration{24 * time.Hour},
		Jitter:        &jitter,
		Scope:         ReconcileScope{Kinds: []string{KindUser, KindGroup, KindContact}},
		Limits:        ReconcileLimits{MaxDeletes: &deletes, ChangeWindow: Duration{24 * time.Hour}},
		SourceAnchor:  SourceAnchorObjectGUID,
		VerifyTimeout: Duration{45 * time.Minute},
		Concurrency:   4,
	}
	if !reflect.DeepEqual(cfg.Reconcile, want) {
		t.Errorf("Reconcile = %s\nwant        %s", show(cfg.Reconcile), show(want))
	}
	wantDefaults := MigrationOptions{
		Method:               MethodAuto,
		SkipNestedGroupCheck: ptr(false),
		HybridMailFlow:       ptr(true),
		KeepOnPremisesGroup:  ptr(false),
		GroupType:            GroupTypeKeep,
		NoSyncOU:             cfg.AD.NoSyncOU,
	}
	wantSync := MigrationSync{Trigger: SyncTriggerNone, CommandTimeout: Duration{5 * time.Minute}, Wait: Duration{45 * time.Minute}, PollInterval: Duration{5 * time.Second}}
	if m := cfg.Migrations; m.File != "" || len(m.Groups) != 0 || !reflect.DeepEqual(m.Defaults, wantDefaults) || !reflect.DeepEqual(m.Sync, wantSync) || m.RoutingDomain != "" {
		t.Errorf("Migrations = %s, want no groups and defaults %s", show(m), show(wantDefaults))
	}
	if cfg.HTTP != (HTTP{Listen: "127.0.0.1:9847"}) || cfg.HTTP.TLS.Enabled() {
		t.Errorf("HTTP = %+v, want listen 127.0.0.1:9847 without TLS", cfg.HTTP)
	}
	if cfg.Staging || cfg.Enforcing() {
		t.Errorf("Staging = %v, Enforcing() = %v, want false", cfg.Staging, cfg.Enforcing())
	}
	if got := (Reconcile{}).JitterFraction(); got != 0.1 {
		t.Errorf("JitterFraction() of an unloaded Reconcile = %v, want 0.1", got)
	}
}

func TestEnforcing(t *testing.T) {
	for _, tc := range []struct {
		mode    string
		staging bool
		want    bool
	}{
		{ModeObserve, false, false},
		{ModeEnforce, false, true},
		{ModeEnforce, true, false},
		{ModeObserve, true, false},
	} {
		c := Config{Reconcile: Reconcile{Mode: tc.mode}, Staging: tc.staging}
		if got := c.Enforcing(); got != tc.want {
			t.Errorf("mode %s, staging %v: Enforcing() = %v, want %v", tc.mode, tc.staging, got, tc.want)
		}
	}
}

// TestMigrationsFileEmpty checks that an empty migrations.file holds no
// groups rather than being an error.
func TestMigrationsFileEmpty(t *testing.T) {
	dir := t.TempDir()
	for _, content := range []string{"", "# no groups yet\n", "groups: []\n", "groups:\n"} {
		if err := os.WriteFile(filepath.Join(dir, "groups.yaml"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Parse("m.yaml", []byte(`ad:
  urls: [ldaps://dc1.example.com]
  base_dn: DC=example,DC=com
  bind: {dn: svc@EXAMPLE.COM, password: env:X}
migrations:
  file: groups.yaml
`), dir)
		if err != nil {
			t.Errorf("%q: %v", content, err)
			continue
		}
		if len(cfg.Migrations.Groups) != 0 {
			t.Errorf("%q: Groups = %s, want none", content, show(cfg.Migrations.Groups))
		}
	}
}

func TestMigrationGroupGUID(t *testing.T) {
	for _, tc := range []struct {
		group string
		guid  string
		ok    bool
	}{
		{"{6F1C2D4E-5A6B-4C7D-8E9F-0A1B2C3D4E5F}", "6f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f", true},
		{"6f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "6f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f", true},
		{"{6f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "", false},
		{"6f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f}", "", false},
		{"{6f1c2d4e5a6b4c7d8e9f0a1b2c3d4e5f}", "", false},
		{"sales@example.com", "", false},
		{"", "", false},
	} {
		guid, ok := MigrationGroup{Group: tc.group}.GUID()
		if ok != tc.ok || (ok && guid != tc.guid) {
			t.Errorf("GUID() of %q = %q, %v; want %q, %v", tc.group, guid, ok, tc.guid, tc.ok)
		}
	}
}

func TestIsSMTPAddress(t *testing.T) {
	for s, want := range map[string]bool{
		"sales@example.com":                      true,
		"Sales.Team@Example.COM":                 true,
		"o'brien+dl@mail.example.co":             true,
		"sales@example":                          false, // one label
		"sales@@example.com":                     false,
		"@example.com":                           false,
		"sales@":                                 false,
		".sales@example.com":                     false,
		"sales..team@example.com":                false,
		"sales team@example.com":                 false,
		"Sales <sales@example.com>":              false,
		"sales@exa_mple.com":                     false,
		"sales@example.com.":                     false,
		strings.Repeat("a", 64) + "@example.com": true,
		strings.Repeat("a", 65) + "@example.com": false,
	} {
		if got := isSMTPAddress(s); got != want {
			t.Errorf("isSMTPAddress(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestIsAttributeName(t *testing.T) {
	for s, want := range map[string]bool{
		"extensionAttribute10":          true,
		"msDS-cloudExtensionAttribute1": true,
		"1.2.840.113556.1.4.7000":       true,
		"":                              false,
		"10extension":                   false,
		"-attr":                         false,
		"attr;binary":                   false,
		"attr name":                     false,
		"attr_name":                     false,
		"1.2..3":                        false,
		"1.02.3":                        false,
		"1.2.":                          false,
	} {
		if got := isAttributeName(s); got != want {
			t.Errorf("isAttributeName(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestProblemInOtherFile checks how problems in migrations.file are
// rendered and sorted: after the config file's, by file and line.
func TestProblemInOtherFile(t *testing.T) {
	err := newValidationError("c.yaml", []Problem{
		{File: "z.yaml", Line: 1, Path: "groups[0].group", Message: "m1"},
		{File: "g.yaml", Line: 9, Path: "groups[2].group", Message: "m2"},
		{File: "c.yaml", Line: 30, Path: "http.listen", Message: "m3"}, // the config file itself
		{Line: 20, Path: "reconcile.mode", Message: "m4"},
		{File: "g.yaml", Line: 2, Path: "groups[0].group", Message: "m5"},
	})
	want := `config c.yaml is invalid (5 problems):
  c.yaml:20: reconcile.mode: m4
  c.yaml:30: http.listen: m3
  g.yaml:2: groups[0].group: m5
  g.yaml:9: groups[2].group: m2
  z.yaml:1: groups[0].group: m1`
	if got := err.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	if err.Problems[1].File != "" {
		t.Errorf("a problem in the config file keeps File %q, want empty", err.Problems[1].File)
	}
}

func TestTimeYAML(t *testing.T) {
	var v struct {
		A Time `yaml:"a"`
		B Time `yaml:"b"`
		C Time `yaml:"c"`
	}
	if err := yaml.Unmarshal([]byte("a: 2025-07-05T18:00:00+02:00\nb: \"\"\nc:\n"), &v); err != nil {
		t.Fatal(err)
	}
	if !v.A.Equal(time.Date(2025, 7, 5, 16, 0, 0, 0, time.UTC)) || !v.B.IsZero() || !v.C.IsZero() {
		t.Errorf("decoded %+v", v)
	}
	out, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if want := "a: \"2025-07-05T18:00:00+02:00\"\nb: null\nc: null\n"; string(out) != want {
		t.Errorf("Marshal = %q, want %q", out, want)
	}
}

func ptr[T any](v T) *T { return &v }

func mustTime(t *testing.T, s string) Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return Time{v}
}

// show renders v with the values behind its pointers, for messages.
func show(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(data)
}

// MigrationsFile finds the groups file a config names without validating
// it (a service watches it for changes), resolved as Load resolves it.
func TestMigrationsFile(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{"migrations:\n  file: groups.yaml\n", "/etc/hybridsync/groups.yaml"},
		{"migrations:\n  file: /srv/groups.yaml\nad: {urls: 7}\n", "/srv/groups.yaml"},
		{"migrations:\n  groups: []\n", ""},
		{"ad: [unclosed\n", ""},
	} {
		if got := MigrationsFile("/etc/hybridsync/hybridsync.yaml", []byte(tc.data)); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.data, got, tc.want)
		}
	}
}
