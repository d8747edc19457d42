package exo_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/cloud/emulator"
	"github.com/hybridsync/hybridsync/cloud/emulator/emutest"
	"github.com/hybridsync/hybridsync/cloud/exo"
)

// bigTenant seeds n licensed users and an empty cloud-only list, and
// returns the users' ids and the list's id.
func bigTenant(tb testing.TB, em *emulator.Emulator, n int) (users []string, list string) {
	tb.Helper()
	err := em.Update(func(tx *emulator.Tx) error {
		for i := range n {
			a := fmt.Sprintf("big%06d", i)
			o, err := tx.Put(&emulator.Object{Kind: cloud.KindUser, DisplayName: a, UserPrincipalName: a + "@" + emutest.MailDomain,
				Mail: a + "@" + emutest.MailDomain, MailNickname: a, ProxyAddresses: []string{"SMTP:" + a + "@" + emutest.MailDomain},
				ExchangeLicensed: true})
			if err != nil {
				return err
			}
			users = append(users, o.ID)
		}
		g, err := tx.Put(&emulator.Object{Kind: cloud.KindGroup, DisplayName: "Everyone Big", Mail: "everyone-big@" + emutest.MailDomain,
			MailNickname: "everyone-big", ProxyAddresses: []string{"SMTP:everyone-big@" + emutest.MailDomain}, MailEnabled: true})
		if err != nil {
			return err
		}
		list = g.ID
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return users, list
}

// callLog counts the client's requests by cmdlet and result (Observe).
type callLog struct {
	mu sync.Mutex
	n  map[string]int
}

func (l *callLog) observe(op, result string, _ time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n[op+" "+result]++
}

func (l *callLog) snapshot() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.n))
	for k, v := range l.n {
		out[k] = v
	}
	l.n = map[string]int{}
	return out
}

func memberClient(tb testing.TB, srv *emutest.Server, concurrency int, observe func(op, result string, d time.Duration)) *exo.Client {
	tb.Helper()
	s := srv.Session(tb, emutest.SecretFunc, nil)
	c, err := exo.New(exo.Config{
		BaseURL: srv.URL, TenantID: emutest.TenantID, InitialDomain: emutest.InitialDomain, HTTPClient: s.HTTPClient,
		MemberConcurrency: concurrency, Observe: observe,
		Token: func(ctx context.Context) (string, error) { return s.Token(ctx, s.Scopes.ExchangeScope()) },
	})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func membersOf(tb testing.TB, em *emulator.Emulator, id string) []string {
	tb.Helper()
	var out []string
	_ = em.View(func(tx *emulator.Tx) error {
		out = slices.Clone(tx.Get(id).Members)
		return nil
	})
	return out
}

// A run stopped part-way (its context cancelled, as a crash would stop
// it) leaves some members added; the rerun reads them and adds only the
// missing ones: no member is added twice, none is left out.
func TestReplaceGroupMembersResumesWithoutReAdding(t *testing.T) {
	const n, stopAfter = 3000, 1200
	srv := emutest.Start(t, nil)
	users, list := bigTenant(t, srv.Emulator, n)
	log := &callLog{n: map[string]int{}}
	c := memberClient(t, srv, 8, log.observe)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var added atomic.Int64
	// Cancel once stopAfter single adds have succeeded. One call at a
	// time, so that no call is still in flight (and lands later) when
	// the run stops: the counts below are then exact. (A call that lands
	// after the rerun's read is answered "already a member", which
	// counts as done.)
	crashC := memberClient(t, srv, 1, func(op, result string, d time.Duration) {
		if op == "Add-DistributionGroupMember" && result == "success" && added.Add(1) == stopAfter {
			cancel()
		}
	})
	err := crashC.ReplaceGroupMembers(ctx, list, users)
	if err == nil {
		t.Fatal("the stopped run reported success")
	}
	have := len(membersOf(t, srv.Emulator, list))
	if have < stopAfter || have >= n {
		t.Fatalf("%d members after the stopped run, want at least %d and fewer than %d", have, stopAfter, n)
	}

	if err := c.ReplaceGroupMembers(context.Background(), list, users); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	calls := log.snapshot()
	if got, want := calls["Add-DistributionGroupMember success"], n-have; got != want {
		t.Errorf("rerun added %d members, want %d (the %d missing)", got, want, n-have)
	}
	for k, v := range calls {
		if k != "Add-DistributionGroupMember success" && k != "Get-DistributionGroupMember success" {
			t.Errorf("rerun made %d %q calls", v, k)
		}
	}
	got := membersOf(t, srv.Emulator, list)
	slices.Sort(got)
	want := slices.Sorted(slices.Values(users))
	if !slices.Equal(got, want) {
		t.Errorf("the list has %d members, want exactly the %d users", len(got), len(want))
	}

	// A third run has nothing to do: one read (3 pages of 1,000), no write.
	if err := c.ReplaceGroupMembers(context.Background(), list, users); err != nil {
		t.Fatal(err)
	}
	if calls := log.snapshot(); len(calls) != 1 || calls["Get-DistributionGroupMember success"] != 3 {
		t.Errorf("unchanged list: calls %v, want the 3 pages of the read only", calls)
	}
}

// BenchmarkReplaceGroupMembers fills an empty cloud list with
// HYBRIDSYNC_BENCH_MEMBERS (default 65,000) members through the emulator,
// with the emulator adding HYBRIDSYNC_BENCH_LATENCY (default 0) to every
// request, at each concurrency. It reports the calls by cmdlet and the
// heap in use after the run.
func BenchmarkReplaceGroupMembers(b *testing.B) {
	n := envInt(b, "HYBRIDSYNC_BENCH_MEMBERS", 65000)
	latency := envDuration(b, "HYBRIDSYNC_BENCH_LATENCY", 0)
	for _, conc := range []int{1, 8, 16} {
		b.Run(fmt.Sprintf("members=%d/latency=%s/concurrency=%d", n, latency, conc), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				srv := emutest.Start(b, nil)
				users, list := bigTenant(b, srv.Emulator, n)
				log := &callLog{n: map[string]int{}}
				c := memberClient(b, srv, conc, log.observe)
				srv.Emulator.SetFaults(emulator.Faults{Latency: latency})
				runtime.GC()
				b.StartTimer()
				if err := c.ReplaceGroupMembers(context.Background(), list, users); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if got := len(membersOf(b, srv.Emulator, list)); got != n {
					b.Fatalf("%d members, want %d", got, n)
				}
				calls := log.snapshot()
				b.ReportMetric(float64(calls["Add-DistributionGroupMember success"]), "adds/op")
				b.ReportMetric(float64(calls["Update-DistributionGroupMember success"]), "updates/op")
				b.ReportMetric(float64(calls["Get-DistributionGroupMember success"]), "reads/op")
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heapMB")
				srv.Emulator.SetFaults(emulator.Faults{})
			}
		})
	}
}

func envInt(tb testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		tb.Fatalf("%s=%q: want a positive whole number", name, v)
	}
	return n
}

func envDuration(tb testing.TB, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		tb.Fatalf("%s=%q: want a Go duration such as 150ms", name, v)
	}
	return d
}
