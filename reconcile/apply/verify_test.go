package apply

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/internal/clock"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// listTenant answers List from a function; the other methods are not used.
type listTenant struct {
	cloud.Tenant
	list    func(filter string) []*cloud.Object
	filters []string
}

func (l *listTenant) List(_ context.Context, _ cloud.Kind, opts cloud.ListOptions, fn func(*cloud.Object) error) (cloud.ReadResult, error) {
	l.filters = append(l.filters, opts.Filter)
	for _, o := range l.list(opts.Filter) {
		if err := fn(o); err != nil {
			return cloud.ReadResult{}, err
		}
	}
	return cloud.ReadResult{Complete: true}, nil
}

func TestVerifyWaitsForTheSyncCycle(t *testing.T) {
	anchor, _ := plan.ImmutableID(guid)
	rounds := 0
	tn := &listTenant{list: func(string) []*cloud.Object {
		rounds++
		if rounds < 3 { // the sync cycle has not run yet
			return nil
		}
		return []*cloud.Object{
			// Another object holding the address is not the twin.
			{Kind: cloud.KindUser, ID: "other", OnPremisesImmutableID: "b3RoZXI=", Mail: "pat.new@lab.test", ProxyAddresses: []string{"SMTP:pat.new@lab.test"}},
			{Kind: cloud.KindUser, ID: "twin", OnPremisesImmutableID: anchor, Mail: "pat.new@lab.test", ProxyAddresses: []string{"SMTP:pat.new@lab.test", "smtp:pat@lab.test"}},
		}
	}}
	tick := make(chan time.Time)
	never := make(chan time.Time)
	after := func(d time.Duration) <-chan time.Time {
		if d == time.Hour {
			return never
		}
		go func() { tick <- time.Time{} }()
		return tick
	}
	act := dualWrite()
	act.Mail = "O'Neil." + act.Mail // a quote in the literal
	v, err := Verify(t.Context(), tn, []Outcome{{Action: dualWrite(), Kind: ad.KindUser, ImmutableID: anchor, Result: Applied}}, VerifyOptions{Timeout: time.Hour, Interval: time.Second, Clock: clock.Funcs{AfterFunc: after}})
	if err != nil || len(v) != 1 || !v[0].Verified || !strings.Contains(v[0].Seen, "twin") || rounds != 3 {
		t.Fatalf("verify: %v %+v after %d rounds", err, v, rounds)
	}
	// The address is quoted once; cancelling ends the wait.
	ctx, cancel := context.WithCancel(t.Context())
	tn2 := &listTenant{list: func(string) []*cloud.Object { cancel(); return nil }}
	if _, err := Verify(ctx, tn2, []Outcome{{Action: act, Kind: ad.KindUser}}, VerifyOptions{Timeout: time.Hour, Clock: clock.Funcs{AfterFunc: after}}); err == nil {
		t.Fatal("verify went on after its context ended")
	}
	if want := "proxyAddresses/any(p:p eq 'SMTP:O''Neil.pat.new@lab.test')"; len(tn2.filters) != 1 || tn2.filters[0] != want {
		t.Fatalf("filters %q, want [%q]", tn2.filters, want)
	}
}

func TestVerifyGivesUpAtTheTimeout(t *testing.T) {
	tn := &listTenant{list: func(string) []*cloud.Object { return nil }}
	done := make(chan time.Time, 1)
	done <- time.Time{}
	never := make(chan time.Time)
	after := func(d time.Duration) <-chan time.Time {
		if d == time.Minute {
			return done
		}
		return never
	}
	v, err := Verify(t.Context(), tn, []Outcome{{Action: dualWrite(), Kind: ad.KindUser}}, VerifyOptions{Timeout: time.Minute, Clock: clock.Funcs{AfterFunc: after}})
	if err != nil || v[0].Verified || v[0].Seen != "" {
		t.Fatalf("verify: %v %+v", err, v)
	}
}

// With mS-DS-ConsistencyGuid as the source anchor, the twin is anchored on
// it, not on objectGUID: apply computes the anchor from the object it
// read, and Verify accepts that twin and no other holder of the address.
func TestVerifyFindsTheTwinByTheConfiguredAnchor(t *testing.T) {
	const consistency = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	f := seedDir()
	f.objs[guid].ConsistencyGUID = consistency
	a := &Applier{Dir: f, Journal: openJournal(t), RunID: "run-1", Anchor: plan.AnchorConsistencyGUID}
	out, err := a.Apply(t.Context(), []plan.Action{dualWrite()})
	byConsistency, _ := plan.ImmutableID(consistency)
	if err != nil || len(out) != 1 || out[0].Result != Applied || out[0].ImmutableID != byConsistency {
		t.Fatalf("apply: %v %+v; want onPremisesImmutableId %s", err, out, byConsistency)
	}
	byGUID, _ := plan.ImmutableID(guid)
	addrs := []string{"SMTP:pat.new@lab.test", "smtp:pat@lab.test"}
	for _, tc := range []struct {
		name     string
		holders  []*cloud.Object
		verified bool
	}{
		{"the twin", []*cloud.Object{{Kind: cloud.KindUser, ID: "twin", OnPremisesImmutableID: byConsistency, Mail: "pat.new@lab.test", ProxyAddresses: addrs}}, true},
		{"an object anchored on the objectGUID", []*cloud.Object{{Kind: cloud.KindUser, ID: "other", OnPremisesImmutableID: byGUID, Mail: "pat.new@lab.test", ProxyAddresses: addrs}}, false},
	} {
		tn := &listTenant{list: func(string) []*cloud.Object { return tc.holders }}
		expired := make(chan time.Time, 1)
		after := func(time.Duration) <-chan time.Time { expired <- time.Time{}; return expired }
		v, err := Verify(t.Context(), tn, out, VerifyOptions{Timeout: time.Minute, Interval: time.Second, Clock: clock.Funcs{AfterFunc: after}})
		if err != nil || len(v) != 1 || v[0].Verified != tc.verified {
			t.Errorf("%s: verify %v %+v; want verified %v", tc.name, err, v, tc.verified)
		}
	}
}
