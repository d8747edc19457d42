package setup

import (
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/config"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

func TestPlanOptionsSourceAnchor(t *testing.T) {
	const guid, other = "8f2c1a4e-0b7d-4c1e-9a55-2f0e6d3b7c11", "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	byGUID, _ := plan.ImmutableID(guid)
	byOther, _ := plan.ImmutableID(other)

	cfg := &config.Config{Reconcile: config.Reconcile{SourceAnchor: config.SourceAnchorConsistencyGUID}}
	s, err := New(cfg, "hybridsync.yaml", nil, Observers{})
	var o plan.Options
	if err == nil {
		o = s.PlanOptions(Allow{})
	}
	if err != nil || o.Anchor != plan.AnchorConsistencyGUID {
		t.Fatalf("PlanOptions: %v", err)
	}
	for _, tc := range []struct {
		name, consistency, want, wantErr string
	}{
		{"written back", other, byOther, ""},
		{"not written back yet", "", byGUID, ""},
		{"not a GUID", "invalid:0102", "", "not a 16-byte GUID"},
	} {
		got, err := o.Anchor.ImmutableID(&ad.Recipient{DN: "CN=U,DC=x", Kind: ad.KindUser, GUID: guid, ConsistencyGUID: tc.consistency})
		if got != tc.want || (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: Anchor = %q, %v; want %q, %q", tc.name, got, err, tc.want, tc.wantErr)
		}
	}

	for _, name := range []string{config.SourceAnchorObjectGUID, ""} {
		if s, err := New(&config.Config{Reconcile: config.Reconcile{SourceAnchor: name}}, "hybridsync.yaml", nil, Observers{}); err != nil || s.PlanOptions(Allow{}).Anchor != plan.AnchorObjectGUID {
			t.Fatalf("source_anchor %q: %v", name, err)
		}
	}
	if _, err := New(&config.Config{Reconcile: config.Reconcile{SourceAnchor: "employeeID"}}, "hybridsync.yaml", nil, Observers{}); err == nil || !strings.Contains(err.Error(), "reconcile.source_anchor") {
		t.Fatalf("an anchor this version does not know: %v", err)
	}
}

func TestPlanOptionsCertificateUserIDs(t *testing.T) {
	cfg := &config.Config{Reconcile: config.Reconcile{CertificateUserIDsAttribute: "EXTENSIONATTRIBUTE7"}}
	s, err := New(cfg, "hybridsync.yaml", nil, Observers{})
	var o plan.Options
	if err == nil {
		o = s.PlanOptions(Allow{})
	}
	if err != nil || o.CertificateUserIDsAttr != "extensionAttribute7" {
		t.Fatalf("%v %q", err, o.CertificateUserIDsAttr)
	}
	got := o.CertificateUserIDs(&ad.Recipient{ExtensionAttributes: map[string]string{"extensionAttribute7": "X509:<PN>u@x"}})
	if len(got) != 1 || got[0] != "X509:<PN>u@x" {
		t.Fatalf("values %q", got)
	}
	cfg.Reconcile.CertificateUserIDsAttribute = "altSecurityIdentities"
	if _, err := New(cfg, "hybridsync.yaml", nil, Observers{}); err == nil || !strings.Contains(err.Error(), "extensionAttribute1 to extensionAttribute15") {
		t.Fatalf("an attribute not read: %v", err)
	}
}
