package graph_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/cloud/emulator"
	"github.com/hybridsync/hybridsync/cloud/emulator/emutest"
	"github.com/hybridsync/hybridsync/cloud/graph"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// fakeClock fires every wait at once and records it; the emulator reads
// the same clock, so a wait moves emulator time forward too.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	now := c.now
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- now
	return ch
}
func (c *fakeClock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

type env struct {
	em     *emulator.Emulator
	srv    *emutest.Server
	client *graph.Client
	clock  *fakeClock
}

// newEnv serves an emulator over TLS and builds the real Graph client
// (msgraph-sdk-go + azidentity) against it.
func newEnv(t *testing.T, faults emulator.Faults, certPEM []byte) *env {
	t.Helper()
	// Real time as the start: azidentity signs client assertions with the
	// wall clock, and the emulator checks them against its own.
	clock := &fakeClock{now: time.Now()}
	srv := emutest.Start(t, func(c *emulator.Config) {
		c.ClientCertPEM, c.Faults, c.Clock = certPEM, faults, clock.Now
	})
	e := &env{em: srv.Emulator, srv: srv, clock: clock}
	e.client = e.newClient(t, emutest.SecretFunc, nil)
	return e
}

func (e *env) newClient(t *testing.T, sec func() (string, error), cert func() ([]byte, error)) *graph.Client {
	t.Helper()
	pol := retry.DefaultPolicy()
	pol.Clock = e.clock
	pol.Jitter = 0
	c, err := graph.New(graph.Config{Session: e.srv.Session(t, sec, cert), Retry: &pol})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// seed puts n synced users and a group of the first 10 into the tenant.
func seed(t *testing.T, em *emulator.Emulator, n int) (userIDs []string, groupID string) {
	t.Helper()
	err := em.Update(func(tx *emulator.Tx) error {
		for i := 0; i < n; i++ {
			o, err := tx.Put(&emulator.Object{
				Kind: cloud.KindUser, DisplayName: fmt.Sprintf("User %04d", i),
				UserPrincipalName: fmt.Sprintf("user%04d@hybridsync.test", i),
				Mail:              fmt.Sprintf("user%04d@hybridsync.test", i), MailNickname: fmt.Sprintf("user%04d", i),
				ProxyAddresses:        []string{fmt.Sprintf("SMTP:user%04d@hybridsync.test", i)},
				OnPremisesSyncEnabled: true, OnPremisesImmutableID: fmt.Sprintf("aW1tdXRhYmxl%04d", i),
			})
			if err != nil {
				return err
			}
			userIDs = append(userIDs, o.ID)
		}
		g, err := tx.Put(&emulator.Object{
			Kind: cloud.KindGroup, DisplayName: "O'Brien's (Sales) DL", Mail: "sales@hybridsync.test", MailNickname: "sales",
			ProxyAddresses: []string{"SMTP:sales@hybridsync.test"}, MailEnabled: true,
			OnPremisesSyncEnabled: true, OnPremisesImmutableID: "Z3JvdXA=",
		})
		if err != nil {
			return err
		}
		groupID = g.ID
		return tx.SetMembers(g.ID, userIDs[:min(10, n)])
	})
	if err != nil {
		t.Fatal(err)
	}
	return userIDs, groupID
}

func TestListPagesThroughRealSDK(t *testing.T) {
	e := newEnv(t, emulator.Faults{}, nil)
	seed(t, e.em, 2500)
	seen := map[string]bool{}
	res, err := e.client.List(ctxT(t), cloud.KindUser, cloud.ListOptions{}, func(o *cloud.Object) error {
		if seen[o.ID] {
			t.Errorf("user %s listed twice", o.ID)
		}
		seen[o.ID] = true
		if o.UPN == "" || !o.OnPremisesSyncEnabled || len(o.ProxyAddresses) != 1 {
			t.Errorf("incomplete object %+v", o)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete || res.Objects != 2500 || res.Requests != 3 {
		t.Fatalf("result %+v, want complete, 2500 objects in 3 requests ($top=999)", res)
	}
}

func TestListFilterEscapesLiterals(t *testing.T) {
	e := newEnv(t, emulator.Faults{}, nil)
	_, gid := seed(t, e.em, 20)
	var got []*cloud.Object
	filter := "displayName eq " + graph.Quote("O'Brien's (Sales) DL")
	res, err := e.client.List(ctxT(t), cloud.KindGroup, cloud.ListOptions{Filter: filter, Members: true}, func(o *cloud.Object) error {
		got = append(got, o)
		return nil
	})
	if err != nil || !res.Complete {
		t.Fatalf("%+v %v", res, err)
	}
	if len(got) != 1 || got[0].ID != gid || got[0].GroupType != cloud.GroupDistribution || len(got[0].Members) != 10 {
		t.Fatalf("got %+v", got)
	}
	got = nil
	_, err = e.client.List(ctxT(t), cloud.KindUser, cloud.ListOptions{Filter: "proxyAddresses/any(p:p eq " + graph.Quote("smtp:user0007@hybridsync.test") + ")"}, func(o *cloud.Object) error {
		got = append(got, o)
		return nil
	})
	if err != nil || len(got) != 1 || got[0].MailNickname != "user0007" {
		t.Fatalf("proxyAddresses filter: %v %+v", err, got)
	}
}

func TestGetAndMembersAndNotFound(t *testing.T) {
	e := newEnv(t, emulator.Faults{}, nil)
	users, gid := seed(t, e.em, 12)
	u, err := e.client.Get(ctxT(t), cloud.KindUser, users[3])
	if err != nil || u.MailNickname != "user0003" {
		t.Fatalf("%+v %v", u, err)
	}
	m, err := e.client.Members(ctxT(t), gid)
	if err != nil || len(m) != 10 || m[0].Kind != cloud.KindUser {
		t.Fatalf("members %+v %v", m, err)
	}
	_, err = e.client.Get(ctxT(t), cloud.KindUser, "00000000-0000-0000-0000-000000000000")
	if !errors.Is(err, retry.ErrNotFound) {
		t.Fatalf("err = %v, want not found", err)
	}
}

func TestGetRetriesAnObjectNotYetVisible(t *testing.T) {
	e := newEnv(t, emulator.Faults{VisibilityDelay: 3 * time.Second}, nil)
	users, _ := seed(t, e.em, 1)
	// Created "now": invisible for 3 s of emulator time. Get's re-reads
	// wait 1 s then 2 s on the shared fake clock, and then it is visible.
	u, err := e.client.Get(ctxT(t), cloud.KindUser, users[0])
	if err != nil {
		t.Fatalf("a read right after a create must be retried, got %v", err)
	}
	if u.ID != users[0] {
		t.Fatalf("got %s", u.ID)
	}
}

// Lookup reads once: a missing object is reported at once, with no
// wait on the clock (a check for a deletion sees it the moment it shows),
// and a present one is read as Get reads it.
func TestLookupReportsNotFoundAtOnce(t *testing.T) {
	e := newEnv(t, emulator.Faults{}, nil)
	users, gid := seed(t, e.em, 2)
	g, err := e.client.Lookup(ctxT(t), cloud.KindGroup, gid)
	if err != nil || g.ID != gid {
		t.Fatalf("lookup of a group: %+v %v", g, err)
	}
	if err := e.em.Update(func(tx *emulator.Tx) error { return tx.HardDelete(users[1]) }); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.Lookup(ctxT(t), cloud.KindUser, users[1])
	if !errors.Is(err, retry.ErrNotFound) {
		t.Fatalf("err = %v, want not found", err)
	}
	if waits := e.clock.Waits(); len(waits) != 0 {
		t.Fatalf("Lookup waited %v before reporting the object missing", waits)
	}
}

func TestThrottlingHonoursRetryAfterAndIsBounded(t *testing.T) {
	e := newEnv(t, emulator.Faults{ThrottleRate: 1.0, RetryAfter: 7 * time.Second}, nil)
	seed(t, e.em, 3)
	_, err := e.client.List(ctxT(t), cloud.KindUser, cloud.ListOptions{}, func(*cloud.Object) error { return nil })
	if err == nil {
		t.Fatal("every request throttled, yet the listing succeeded")
	}
	if !strings.Contains(err.Error(), "List user") || !strings.Contains(err.Error(), "gave up after 5 attempts") || !strings.Contains(err.Error(), "429") {
		t.Fatalf("error %q should name the throttled call, the 429 and the bound", err)
	}
	waits := e.clock.Waits()
	if len(waits) != 4 {
		t.Fatalf("waits %v, want 4 (5 attempts)", waits)
	}
	for _, w := range waits {
		if w < 7*time.Second {
			t.Fatalf("retried after %s, before the server's Retry-After of 7s (waits %v)", w, waits)
		}
	}
}

func TestDeltaRoundsAndExpiredLink(t *testing.T) {
	e := newEnv(t, emulator.Faults{}, nil)
	users, _ := seed(t, e.em, 5)
	collect := func(link string) (cloud.DeltaResult, map[string]*cloud.Object) {
		t.Helper()
		got := map[string]*cloud.Object{}
		res, err := e.client.Delta(ctxT(t), cloud.KindUser, link, func(o *cloud.Object) error { got[o.ID] = o; return nil })
		if err != nil || !res.Complete || res.DeltaLink == "" {
			t.Fatalf("delta: %+v %v", res, err)
		}
		return res, got
	}
	r1, got := collect("")
	if !r1.Full || len(got) != 5 {
		t.Fatalf("first round %+v with %d objects", r1, len(got))
	}
	err := e.em.Update(func(tx *emulator.Tx) error {
		o := tx.Get(users[1])
		o.DisplayName = "Renamed"
		if _, err := tx.Put(o); err != nil {
			return err
		}
		return tx.Delete(users[2])
	})
	if err != nil {
		t.Fatal(err)
	}
	r2, got := collect(r1.DeltaLink)
	if r2.Full || len(got) != 2 || got[users[1]].DisplayName != "Renamed" || got[users[2]].Removed == nil {
		t.Fatalf("second round %+v: %+v", r2, got)
	}
	if err := e.em.Update(func(tx *emulator.Tx) error { tx.ExpireDeltaTokens(); return nil }); err != nil {
		t.Fatal(err)
	}
	r3, got := collect(r2.DeltaLink)
	if !r3.Full || !strings.Contains(r3.Reason, "410") || len(got) != 4 {
		t.Fatalf("expired link: %+v with %d objects, want a full resync of the 4 live users", r3, len(got))
	}
}

func TestSourceOfAuthority(t *testing.T) {
	e := newEnv(t, emulator.Faults{}, nil)
	_, gid := seed(t, e.em, 2)
	b, err := e.client.GroupSyncBehavior(ctxT(t), gid)
	if err != nil || b.IsCloudManaged {
		t.Fatalf("%+v %v", b, err)
	}
	if err := e.client.SetGroupSyncBehavior(ctxT(t), gid, cloud.SyncBehavior{IsCloudManaged: true}); err != nil {
		t.Fatal(err)
	}
	b, err = e.client.GroupSyncBehavior(ctxT(t), gid)
	if err != nil || !b.IsCloudManaged {
		t.Fatalf("after conversion %+v %v", b, err)
	}
}

func TestRevokeRegistrationAndAuthMethods(t *testing.T) {
	e := newEnv(t, emulator.Faults{}, nil)
	users, _ := seed(t, e.em, 3)
	err := e.em.Update(func(tx *emulator.Tx) error {
		if err := tx.SetAuthMethods(users[0], []cloud.AuthMethod{{ID: "m1", Type: "microsoftAuthenticatorAuthenticationMethod", DisplayName: "Pixel"}}); err != nil {
			return err
		}
		return tx.SetRegistrationDetail(users[0], cloud.RegistrationDetail{UPN: "user0000@hybridsync.test", IsMFARegistered: true, IsMFACapable: true, MethodsRegistered: []string{"microsoftAuthenticatorPush"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.client.RevokeSignInSessions(ctxT(t), users[1]); err != nil {
		t.Fatal(err)
	}
	var revoked time.Time
	e.em.View(func(tx *emulator.Tx) error { revoked = tx.Get(users[1]).SignInSessionsValidFromDateTime; return nil })
	if revoked.IsZero() {
		t.Fatal("revokeSignInSessions left signInSessionsValidFromDateTime unset")
	}
	methods, err := e.client.AuthMethods(ctxT(t), users[0])
	if err != nil {
		t.Fatal(err)
	}
	var authenticator *cloud.AuthMethod
	for i := range methods {
		if methods[i].Type == "microsoftAuthenticatorAuthenticationMethod" {
			authenticator = &methods[i]
		}
	}
	if authenticator == nil || authenticator.ID != "m1" || authenticator.DisplayName != "Pixel" {
		t.Fatalf("methods %+v: want the registered Authenticator on Pixel", methods)
	}
	var rows []*cloud.RegistrationDetail
	res, err := e.client.RegistrationDetails(ctxT(t), func(d *cloud.RegistrationDetail) error { rows = append(rows, d); return nil })
	if err != nil || !res.Complete {
		t.Fatalf("%+v %v", res, err)
	}
	found := false
	for _, r := range rows {
		if r.UPN == "user0000@hybridsync.test" && r.IsMFARegistered && len(r.MethodsRegistered) == 1 {
			found = true
		}
	}
	if !found {
		t.Fatalf("registration rows %+v", rows)
	}
}

func TestBadSecretIsTerminal(t *testing.T) {
	e := newEnv(t, emulator.Faults{}, nil)
	bad := e.newClient(t, func() (string, error) { return "wrong", nil }, nil)
	_, err := bad.List(ctxT(t), cloud.KindUser, cloud.ListOptions{}, func(*cloud.Object) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("err = %v, want the authority's AADSTS7000215", err)
	}
	if strings.Contains(err.Error(), "wrong") && strings.Contains(err.Error(), "secret wrong") {
		t.Fatal("error leaks the secret")
	}
	if len(e.clock.Waits()) != 0 {
		t.Fatalf("a bad secret was retried: waits %v", e.clock.Waits())
	}
}

func TestClientCertificateCredential(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hybridsync app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(key))})
	e := newEnv(t, emulator.Faults{}, certPEM)
	seed(t, e.em, 2)
	c := e.newClient(t, nil, func() ([]byte, error) { return append(certPEM, keyPEM...), nil })
	res, err := c.List(ctxT(t), cloud.KindUser, cloud.ListOptions{}, func(*cloud.Object) error { return nil })
	if err != nil || res.Objects != 2 {
		t.Fatalf("%+v %v", res, err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestListMembersBatchedUnderThrottling(t *testing.T) {
	e := newEnv(t, emulator.Faults{}, nil)
	users, _ := seed(t, e.em, 1200)
	// 45 groups: 44 with 3 members, one with all 1,200 (two member pages).
	want := map[string]int{}
	err := e.em.Update(func(tx *emulator.Tx) error {
		for i := 0; i < 45; i++ {
			g, err := tx.Put(&emulator.Object{Kind: cloud.KindGroup, DisplayName: fmt.Sprintf("G%d", i), MailEnabled: true,
				Mail: fmt.Sprintf("g%d@hybridsync.test", i), MailNickname: fmt.Sprintf("g%d", i), ProxyAddresses: []string{fmt.Sprintf("SMTP:g%d@hybridsync.test", i)}})
			if err != nil {
				return err
			}
			m := users[i*3 : i*3+3]
			if i == 44 {
				m = users
			}
			want[g.ID] = len(m)
			if err := tx.SetMembers(g.ID, m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.em.SetFaults(emulator.Faults{ThrottleRate: 0.3, RetryAfter: time.Second, Seed: 7})
	got := map[string]int{}
	res, err := e.client.List(ctxT(t), cloud.KindGroup, cloud.ListOptions{Members: true}, func(o *cloud.Object) error {
		got[o.ID] = len(o.Members)
		return nil
	})
	if err != nil || !res.Complete {
		t.Fatalf("%+v %v", res, err)
	}
	for id, n := range want {
		if got[id] != n {
			t.Fatalf("group %s: %d members, want %d", id, got[id], n)
		}
	}
	// 46 groups (45 + the seeded one): 1 page, 3 batches, 1 more members page,
	// plus the rounds and retries the throttling caused.
	if res.Requests < 5 || res.Requests > 20 {
		t.Fatalf("requests %d", res.Requests)
	}
	for _, w := range e.clock.Waits() {
		if w < time.Second {
			t.Fatalf("retried after %s, before Retry-After (waits %v)", w, e.clock.Waits())
		}
	}
}

func TestBatchedWritesRetryThrottledItems(t *testing.T) {
	e := newEnv(t, emulator.Faults{}, nil)
	users, gid := seed(t, e.em, 45)
	var cloudOnly string
	err := e.em.Update(func(tx *emulator.Tx) error {
		g, err := tx.Put(&emulator.Object{Kind: cloud.KindGroup, DisplayName: "Cloud only", MailEnabled: true, Mail: "co@hybridsync.test",
			MailNickname: "co", ProxyAddresses: []string{"SMTP:co@hybridsync.test"}})
		cloudOnly = g.ID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	e.em.SetFaults(emulator.Faults{ThrottleRate: 0.3, RetryAfter: 2 * time.Second, Seed: 11})
	failed, err := e.client.RevokeSignInSessionsBatch(ctxT(t), users)
	if err != nil || len(failed) != 0 {
		t.Fatalf("revoke batch: %v %v", failed, err)
	}
	e.em.SetFaults(emulator.Faults{})
	e.em.View(func(tx *emulator.Tx) error {
		for _, id := range users {
			if tx.Get(id).SignInSessionsValidFromDateTime.IsZero() {
				t.Errorf("user %s not revoked", id)
			}
		}
		return nil
	})
	for _, w := range e.clock.Waits() {
		if w < 2*time.Second {
			t.Fatalf("throttled items retried after %s, before Retry-After", w)
		}
	}
	failed, err = e.client.SetGroupSyncBehaviorBatch(ctxT(t), map[string]cloud.SyncBehavior{gid: {IsCloudManaged: true}, cloudOnly: {IsCloudManaged: true}})
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || failed[cloudOnly] == nil || !errors.Is(failed[cloudOnly], retry.ErrTerminal) {
		t.Fatalf("failures %v: want only the cloud-only group refused", failed)
	}
	b, err := e.client.GroupSyncBehavior(ctxT(t), gid)
	if err != nil || !b.IsCloudManaged {
		t.Fatalf("%+v %v", b, err)
	}
}

func TestDeltaResyncsWhenStateExpiresMidRound(t *testing.T) {
	e := newEnv(t, emulator.Faults{}, nil)
	seed(t, e.em, 250)
	expired := false
	seen := map[string]bool{}
	res, err := e.client.Delta(ctxT(t), cloud.KindUser, "", func(o *cloud.Object) error {
		if !expired {
			// The round's skiptoken dies after its first page.
			expired = true
			if err := e.em.Update(func(tx *emulator.Tx) error { tx.ExpireDeltaTokens(); return nil }); err != nil {
				return err
			}
		}
		seen[o.ID] = true
		return nil
	})
	if err != nil {
		t.Fatalf("delta with state expiring mid-round: %v", err)
	}
	if !res.Complete || !res.Full || !res.Restarted || !strings.Contains(res.Reason, "410") || res.DeltaLink == "" || len(seen) != 250 {
		t.Fatalf("result %+v, saw %d users", res, len(seen))
	}
}
