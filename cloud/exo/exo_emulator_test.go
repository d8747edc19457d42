package exo_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/cloud/emulator"
	"github.com/hybridsync/hybridsync/cloud/emulator/emutest"
	"github.com/hybridsync/hybridsync/cloud/exo"
	"github.com/hybridsync/hybridsync/internal/retry"
)

type instantClock struct{ waits []time.Duration }

// cmdletCounter counts the requests sent per X-CmdletName.
type cmdletCounter struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func (c *cmdletCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if name := r.Header.Get("X-CmdletName"); name != "" {
		c.mu.Lock()
		c.n[name]++
		c.mu.Unlock()
	}
	return c.next.RoundTrip(r)
}

// writes returns the requests sent so far for cmdlets other than Get-*.
func (c *cmdletCounter) writes() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.n {
		if !strings.HasPrefix(k, "Get-") {
			out[k] = v
		}
	}
	return out
}

func (c *instantClock) Now() time.Time { return time.Now() }
func (c *instantClock) After(d time.Duration) <-chan time.Time {
	c.waits = append(c.waits, d)
	ch := make(chan time.Time, 1)
	ch <- time.Now()
	return ch
}

// newEmulatorClient serves an emulator over TLS and returns the real EXO
// client, authenticated through azidentity against the emulator's
// authority with the Exchange scope.
func newEmulatorClient(t *testing.T, faults emulator.Faults) (*exo.Client, *emulator.Emulator, *instantClock, *cmdletCounter) {
	t.Helper()
	srv := emutest.Start(t, func(c *emulator.Config) { c.Faults = faults })
	em := srv.Emulator
	s := srv.Session(t, emutest.SecretFunc, nil)
	clock := &instantClock{}
	next := s.HTTPClient.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	counter := &cmdletCounter{next: next, n: map[string]int{}}
	hc := *s.HTTPClient
	hc.Transport = counter
	pol := retry.DefaultPolicy()
	pol.Clock, pol.Jitter = clock, 0
	c, err := exo.New(exo.Config{
		BaseURL: srv.URL, TenantID: emutest.TenantID, InitialDomain: emutest.InitialDomain, HTTPClient: &hc, Retry: &pol,
		MemberChunk: 1000,
		Token:       func(ctx context.Context) (string, error) { return s.Token(ctx, s.Scopes.ExchangeScope()) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, em, clock, counter
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestEmulatorDistributionGroupLifecycle(t *testing.T) {
	c, em, _, counter := newEmulatorClient(t, emulator.Faults{})
	var userIDs []string
	err := em.Update(func(tx *emulator.Tx) error {
		for i := 0; i < 2300; i++ {
			o, err := tx.Put(&emulator.Object{Kind: cloud.KindUser, DisplayName: fmt.Sprintf("U %d", i),
				UserPrincipalName: fmt.Sprintf("u%d@hybridsync.test", i), Mail: fmt.Sprintf("u%d@hybridsync.test", i),
				MailNickname: fmt.Sprintf("u%d", i), ProxyAddresses: []string{fmt.Sprintf("SMTP:u%d@hybridsync.test", i)},
				ExchangeLicensed: true})
			if err != nil {
				return err
			}
			userIDs = append(userIDs, o.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	domains, err := c.AcceptedDomains(ctx)
	if err != nil || len(domains) != 3 {
		t.Fatalf("%+v %v", domains, err)
	}
	g, err := c.NewDistributionGroup(ctx, cloud.NewDistributionGroup{Name: "Sales EMEA", DisplayName: "Sales EMEA", Alias: "sales-emea",
		PrimarySMTPAddress: "sales-emea@hybridsync.test", Type: "Distribution"})
	if err != nil {
		t.Fatal(err)
	}
	if g.PrimarySMTPAddress != "sales-emea@hybridsync.test" {
		t.Fatalf("created %+v", g)
	}
	hide, prim := true, "emea-sales@hybridsync.test"
	if err := c.SetDistributionGroup(ctx, "sales-emea", cloud.GroupChanges{HiddenFromAddressLists: &hide, PrimarySMTPAddress: &prim,
		CustomAttributes: map[int]string{7: "migrated"}}); err != nil {
		t.Fatal(err)
	}
	g, err = c.GetDistributionGroup(ctx, "sales-emea")
	if err != nil || !g.HiddenFromAddressLists || g.PrimarySMTPAddress != prim || g.CustomAttributes["CustomAttribute7"] != "migrated" {
		t.Fatalf("after set %+v %v", g, err)
	}
	// 1,200 members into an empty group: more than one
	// Update-DistributionGroupMember takes (1,000), so they are added one
	// Add-DistributionGroupMember call each. (1,200 of the 2,300 users
	// keeps that under 20 s with -race; the 2,300 still page the
	// recipient listing below.)
	const memberCount = 1200
	var members []string
	for i := range userIDs[:memberCount] {
		members = append(members, fmt.Sprintf("u%d@hybridsync.test", i))
	}
	if err := c.ReplaceGroupMembers(ctx, "sales-emea", members); err != nil {
		t.Fatal(err)
	}
	got, err := c.GroupMembers(ctx, "sales-emea")
	if err != nil || len(got) != memberCount {
		t.Fatalf("%d members, %v", len(got), err)
	}
	// The same list named otherwise changes nothing; dropping ten removes
	// only those.
	same := make([]string, len(members))
	for i := range members {
		if i%2 == 0 {
			same[i] = strings.ToUpper(members[i])
		} else {
			same[i] = fmt.Sprintf("u%d", i)
		}
	}
	before := counter.writes()
	if err := c.ReplaceGroupMembers(ctx, "sales-emea", same); err != nil {
		t.Fatal(err)
	}
	if after := counter.writes(); !maps.Equal(before, after) {
		t.Fatalf("an unchanged list made write calls: %v, then %v", before, after)
	}
	before = counter.writes()
	if err := c.ReplaceGroupMembers(ctx, "sales-emea", same[10:]); err != nil {
		t.Fatal(err)
	}
	if after := counter.writes(); after["Remove-DistributionGroupMember"]-before["Remove-DistributionGroupMember"] != 10 ||
		after["Add-DistributionGroupMember"] != before["Add-DistributionGroupMember"] || after["Update-DistributionGroupMember"] != before["Update-DistributionGroupMember"] {
		t.Fatalf("dropping ten: writes %v, then %v; want 10 more Removes only", before, after)
	}
	got, err = c.GroupMembers(ctx, "sales-emea")
	if err != nil || len(got) != memberCount-10 {
		t.Fatalf("after dropping ten: %d members, %v", len(got), err)
	}
	for _, r := range got {
		if r.Alias == "u0" || r.Alias == "u9" {
			t.Fatalf("%s still a member", r.Alias)
		}
	}
	n := 0
	res, err := c.ListRecipients(ctx, "", func(*cloud.ExoRecipient) error { n++; return nil })
	if err != nil || !res.Complete || n != 2301 || res.Requests < 3 {
		t.Fatalf("recipients %d, %+v, %v", n, res, err)
	}
	if err := c.RemoveDistributionGroup(ctx, "sales-emea"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetDistributionGroup(ctx, "sales-emea"); !errors.Is(err, retry.ErrNotFound) {
		t.Fatalf("after remove: %v", err)
	}
}

func TestEmulatorExchangeRules(t *testing.T) {
	c, em, _, _ := newEmulatorClient(t, emulator.Faults{})
	err := em.Update(func(tx *emulator.Tx) error {
		_, err := tx.Put(&emulator.Object{Kind: cloud.KindGroup, DisplayName: "Synced DL", Mail: "synced@hybridsync.test",
			MailNickname: "synced", ProxyAddresses: []string{"SMTP:synced@hybridsync.test"}, MailEnabled: true,
			OnPremisesSyncEnabled: true, OnPremisesImmutableID: "c3luY2Vk"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	name := "Renamed"
	err = c.SetDistributionGroup(ctx, "synced", cloud.GroupChanges{DisplayName: &name})
	if !errors.Is(err, retry.ErrTerminal) || !strings.Contains(err.Error(), "synchronized from your on-premises organization") {
		t.Fatalf("changing a synced group: %v", err)
	}
	_, err = c.NewDistributionGroup(ctx, cloud.NewDistributionGroup{Name: "Dup", Alias: "dup", PrimarySMTPAddress: "synced@hybridsync.test", Type: "Distribution"})
	if !errors.Is(err, retry.ErrConflict) {
		t.Fatalf("address already used: %v", err)
	}
	_, err = c.NewDistributionGroup(ctx, cloud.NewDistributionGroup{Name: "Elsewhere", Alias: "elsewhere", PrimarySMTPAddress: "x@not-accepted.example", Type: "Distribution"})
	if !errors.Is(err, retry.ErrTerminal) {
		t.Fatalf("domain not accepted: %v", err)
	}
	_, err = c.GetRecipient(ctx, "nobody-here")
	if !errors.Is(err, retry.ErrNotFound) {
		t.Fatalf("unknown identity: %v", err)
	}
}

func TestEmulatorThrottlingIsBounded(t *testing.T) {
	c, _, clock, _ := newEmulatorClient(t, emulator.Faults{ThrottleRate: 1, RetryAfter: 3 * time.Second})
	_, err := c.AcceptedDomains(ctxT(t))
	if !errors.Is(err, retry.ErrRetryable) || !strings.Contains(err.Error(), "Get-AcceptedDomain") {
		t.Fatalf("err = %v, want a retryable error naming the cmdlet", err)
	}
	if len(clock.waits) != 4 {
		t.Fatalf("waits %v, want 4", clock.waits)
	}
	for _, w := range clock.waits {
		if w < 3*time.Second {
			t.Fatalf("retried after %s, before Retry-After 3s", w)
		}
	}
}

// The lab's outage and latency faults reach Exchange Online requests as
// they reach Graph's: a tenant that answers 503 is retried, bounded, and
// ends in a retryable error naming the cmdlet; latency slows every call.
func TestEmulatorUnavailableAndLatency(t *testing.T) {
	c, em, clock, _ := newEmulatorClient(t, emulator.Faults{UnavailableRate: 1, RetryAfter: 2 * time.Second})
	_, err := c.GetDistributionGroup(ctxT(t), "anything")
	if !errors.Is(err, retry.ErrRetryable) || !strings.Contains(err.Error(), "Get-DistributionGroup") || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v, want a retryable 503 naming the cmdlet", err)
	}
	if len(clock.waits) != 4 || clock.waits[0] < 2*time.Second {
		t.Fatalf("waits %v, want 4 of at least Retry-After", clock.waits)
	}
	if st := em.Stats(); st.Unavailable["exo"] != 5 {
		t.Errorf("emulator counted %d unavailable Exchange requests, want 5", st.Unavailable["exo"])
	}
	em.SetFaults(emulator.Faults{Latency: 150 * time.Millisecond})
	start := time.Now()
	if _, err := c.NewDistributionGroup(ctxT(t), cloud.NewDistributionGroup{Name: "Slow", Alias: "slow"}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("New-DistributionGroup took %s under 150ms of latency", d)
	}
}
