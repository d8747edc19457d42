//go:build !windows

package daemon

import (
	"context"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/config"
	"github.com/hybridsync/hybridsync/agent/lab"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/agent/setup"
	"github.com/hybridsync/hybridsync/cloud"
)

// In enforce mode the service gives a migrated list's on-premises dynamic
// list the primary address an admin set on the cloud list in Exchange
// Online. The migrated list is built here as a migration leaves it (a
// routing contact in the no-sync OU, a dynamic list whose filter names it,
// a cloud-only list holding its routing address), with no journal at all:
// the service finds it from the directories alone.
func TestLabAgentFixesAMigratedListAddress(t *testing.T) {
	l := labtest.Get(t)
	ou := l.SyncedOU(t)
	c := l.Client(t)
	ctx := t.Context()
	suffix := labtest.OUSuffix(t, ou)
	dom := l.Manifest.MailDomain
	id := fmt.Sprintf("%08x-0000-4000-8000-000000000000", crc32.ChecksumIEEE([]byte(suffix)))
	alias := "mla-" + suffix
	old, primary := alias+"@"+dom, "mla-new-"+suffix+"@"+dom
	routing := alias + "@" + strings.TrimSuffix(l.State.InitialDomain, ".onmicrosoft.com") + ".mail.onmicrosoft.com"
	contact := ad.ChildDN("CN", "hybridsync-routing-"+suffix, l.Manifest.NoSyncOU)
	marked := []ad.Attribute{{Name: "extensionAttribute1", Values: []string{ad.RoutingMarker}}, {Name: "extensionAttribute2", Values: []string{id}}}
	if err := c.Add(ctx, contact, append([]ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "contact"}},
		{Name: "mail", Values: []string{routing}}, {Name: "targetAddress", Values: []string{"SMTP:" + routing}},
		{Name: "proxyAddresses", Values: []string{"SMTP:" + routing}},
	}, marked...)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), contact) })
	dl := ad.ChildDN("CN", "Migrated list "+suffix, ou)
	if err := c.Add(ctx, dl, append([]ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "msExchDynamicDistributionList"}},
		{Name: "mail", Values: []string{old}}, {Name: "mailNickname", Values: []string{alias}},
		{Name: "proxyAddresses", Values: []string{"SMTP:" + old}},
		{Name: "msExchDynamicDLFilter", Values: []string{ad.RoutingFilter(id)}},
		{Name: "msExchDynamicDLBaseDN", Values: []string{l.Manifest.NoSyncOU}},
	}, marked...)); err != nil {
		t.Fatal(err)
	}
	// The cloud list, its primary changed by an admin since.
	ex := labTenant(t, l).Exchange()
	g, err := ex.NewDistributionGroup(ctx, cloud.NewDistributionGroup{Name: "Migrated list " + suffix, Alias: alias, PrimarySMTPAddress: primary, Type: "Distribution"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ex.RemoveDistributionGroup(context.Background(), g.ExternalDirectoryObjectID) })
	addrs := []string{"SMTP:" + primary, "smtp:" + old, "smtp:" + routing}
	if err := ex.SetDistributionGroup(ctx, g.ExternalDirectoryObjectID, cloud.GroupChanges{EmailAddresses: &addrs}); err != nil {
		t.Fatal(err)
	}

	cfg, _, _ := agentConfig(t, l, fmt.Sprintf("reconcile:\n  mode: enforce\n  scope:\n    ous:\n      - %q\n", ou))
	r := startAgent(t, cfg)
	eventually(t, 90*time.Second, "the dynamic list given the cloud's primary address", func() (bool, string) {
		got, err := c.ReadRecipient(t.Context(), dl)
		return err == nil && strings.EqualFold(got.Mail, primary) && slices.Contains(got.ProxyAddresses.Raw(), "SMTP:"+primary) &&
			slices.Contains(got.ProxyAddresses.Raw(), "smtp:"+old), fmt.Sprintf("%v mail %s %q", err, got.Mail, got.ProxyAddresses.Raw())
	})
	eventually(t, 30*time.Second, "no action pending after the fix", func() (bool, string) {
		st := r.status(t)
		return st.Actions == 0 && st.JournalIntent == 0, fmt.Sprintf("actions %d pending intents %d", st.Actions, st.JournalIntent)
	})
	_, m := r.get(t, "/metrics")
	if v := metricValue(m, `hybridsync_reconcile_actions_applied_total{result="applied"}`); v != "1" {
		t.Errorf("actions applied = %q, want 1", v)
	}
}

// labTenant is the lab's tenant through the product's clients.
func labTenant(t *testing.T, l *labtest.Lab) cloud.Tenant {
	t.Helper()
	path := l.Env[lab.EnvConfig]
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := setup.New(cfg, path, nil, setup.Observers{})
	if err != nil {
		t.Fatal(err)
	}
	tenant, err := st.Tenant()
	if err != nil {
		t.Fatal(err)
	}
	return tenant
}
