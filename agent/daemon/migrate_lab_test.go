//go:build !windows

package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/config"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/journal"
	"github.com/hybridsync/hybridsync/reconcile/migrate"
)

// newDL makes a universal distribution list of two new users in ou and
// returns its primary SMTP address (synced by the caller).
func newDL(t *testing.T, l *labtest.Lab, ou, tag string) string {
	t.Helper()
	c := l.Client(t)
	dom := l.Manifest.MailDomain
	suffix := labtest.OUSuffix(t, ou)
	var members []string
	for i := range 2 {
		members = append(members, l.AddMailUser(t, ou, fmt.Sprintf("%su%d-%s", tag, i, suffix)).DN)
	}
	alias := tag + "dl-" + suffix
	primary := alias + "@" + dom
	if err := c.Add(t.Context(), ad.ChildDN("CN", "Agent list "+alias, ou), []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "group"}},
		{Name: "sAMAccountName", Values: []string{alias}},
		{Name: "groupType", Values: []string{"8"}}, // universal distribution
		{Name: "mail", Values: []string{primary}},
		{Name: "mailNickname", Values: []string{alias}},
		{Name: "proxyAddresses", Values: []string{"SMTP:" + primary}},
		{Name: "member", Values: members},
	}); err != nil {
		t.Fatal(err)
	}
	return primary
}

// The service migrates the groups its config lists: nothing with staging:
// true; once staging is off, the listed group; a group added to the groups
// file later, without a restart; not a group whose not_before is ahead.
// /status and the metrics say where each is.
func TestLabAgentMigrates(t *testing.T) {
	l := labtest.Get(t)
	ou := l.SyncedOU(t)
	first, second, later := newDL(t, l, ou, "ma"), newDL(t, l, ou, "mb"), newDL(t, l, ou, "mc")
	l.Sync(t)

	groups := filepath.Join(t.TempDir(), "groups.yaml")
	writeGroups := func(entries ...string) {
		t.Helper()
		if err := os.WriteFile(groups, []byte("groups:\n"+strings.Join(entries, "")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	entry := func(g string) string { return fmt.Sprintf("  - group: %q\n", g) }
	writeGroups(entry(first))
	cfgPath, _, _ := agentConfig(t, l, "staging: true\n")
	text, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	withGroups := strings.Replace(string(text), "\nmigrations:\n", fmt.Sprintf("\nmigrations:\n  file: %q\n  defaults:\n    method: recreate\n    keep_on_premises_group: true\n", groups), 1)
	if withGroups == string(text) {
		t.Fatalf("the lab config has no migrations section:\n%s", text)
	}
	if err := os.WriteFile(cfgPath, []byte(withGroups), 0o644); err != nil {
		t.Fatal(err)
	}
	cleanupMigrations(t, l, cfgPath) // after the agent stops
	r := startAgent(t, cfgPath, func(o *Options) { o.MigrationPoll = 500 * time.Millisecond })

	row := func(group string) (MigrationStatus, bool) {
		for _, m := range r.status(t).Migrations {
			if strings.EqualFold(m.Group, group) {
				return m, true
			}
		}
		return MigrationStatus{}, false
	}
	eventually(t, time.Minute, "staging reported", func() (bool, string) {
		m, ok := row(first)
		return ok && m.State == "pending" && strings.Contains(m.Status, "staging"), fmt.Sprintf("%+v", m)
	})
	time.Sleep(2 * time.Second) // a few polls: still nothing started
	if m, _ := row(first); m.State != "pending" {
		t.Fatalf("with staging: true the group is %+v", m)
	}

	// Staging off: the group is migrated.
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(withGroups, "staging: true\n", "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	migrated := func(group string) func() (bool, string) {
		return func() (bool, string) {
			m, ok := row(group)
			return ok && m.State == string(migrate.StateMigrated), fmt.Sprintf("%+v", m)
		}
	}
	eventually(t, 3*time.Minute, "the listed group migrated", migrated(first))

	// Groups added to the groups file: taken without a restart; the one
	// not due waits.
	notBefore := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	writeGroups(entry(first), entry(second), entry(later)+fmt.Sprintf("    not_before: %q\n", notBefore))
	eventually(t, 3*time.Minute, "the added group migrated", migrated(second))
	if m, ok := row(later); !ok || m.State != "pending" || !strings.Contains(m.Status, "not before") {
		t.Errorf("the group not due yet: %+v", m)
	}
	_, metrics := r.get(t, "/metrics")
	if v := metricValue(metrics, `hybridsync_migrations{state="migrated"}`); v != "2" {
		t.Errorf(`hybridsync_migrations{state="migrated"} = %q, want 2`, v)
	}
	if v := metricValue(metrics, `hybridsync_migrations{state="pending"}`); v != "1" {
		t.Errorf(`hybridsync_migrations{state="pending"} = %q, want 1`, v)
	}
	if !regexp.MustCompile(`hybridsync_migration_step_duration_seconds_count\{method="recreate",step="take-addresses"\} 2`).MatchString(metrics) {
		t.Errorf("step durations:\n%s", grepLines(metrics, "hybridsync_migration_step_duration_seconds_count"))
	}
	for _, secret := range []string{first, second, ou} {
		if strings.Contains(strings.ToLower(metrics), strings.ToLower(secret)) {
			t.Errorf("the metrics name %s", secret)
		}
	}
}

// cleanupMigrations removes, when the test ends (after the agent, started
// later, has stopped), what the service's migrations left in the no-sync
// OU: the moved groups and the routing contacts.
func cleanupMigrations(t *testing.T, l *labtest.Lab, cfgPath string) {
	t.Helper()
	c := l.Client(t)
	t.Cleanup(func() {
		cfg, err := config.Load(cfgPath)
		if err != nil {
			return
		}
		j, err := journal.Open(journal.Options{Path: filepath.Join(cfg.StateDir, journal.FileName), LockTimeout: time.Minute})
		if err != nil {
			return
		}
		defer j.Close()
		sagas, err := migrate.List(j)
		if err != nil {
			return
		}
		for _, s := range sagas {
			for _, dn := range []string{s.Made.ContactDN, s.Made.MovedDN} {
				if dn != "" && ad.IsUnder(dn, l.Manifest.NoSyncOU) {
					if err := c.Delete(context.Background(), dn); err != nil && retry.ClassOf(err) != retry.NotFound {
						t.Logf("clean up %s: %v", dn, err)
					}
				}
			}
		}
	})
}
