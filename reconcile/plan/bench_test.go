package plan

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/reconcile/proxycalc"
)

// synthetic builds n AD users in scope and their synced cloud twins, as a
// sync of them would have left the tenant, with the mix of cases the lab
// has: most users in sync; 1% whose mail changed behind an x500-only
// proxyAddresses (seed 001); 1% with an address in a domain the tenant does
// not accept; 0.5% sharing an address with another user.
func synthetic(n int) (ADSnapshot, CloudSnapshot) {
	a := ADSnapshot{Complete: true, Licensed: make(map[string]bool, n/2), Scope: []string{scopeOU}}
	c := CloudSnapshot{Complete: true, AcceptedDomains: accepted, InitialDomain: initial}
	a.Objects = make([]*ad.Recipient, 0, n)
	c.Objects = make([]*cloud.Object, 0, n)
	tenant := proxycalc.Tenant{InitialDomain: initial, VerifiedDomains: accepted}
	for i := 0; i < n; i++ {
		alias := fmt.Sprintf("user%07d", i)
		mail := alias + "@contoso.com"
		proxies := []string{"SMTP:" + mail, "smtp:" + alias + "@fabrikam.com"}
		switch {
		case i%100 == 1:
			proxies = []string{"x500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=" + alias}
		case i%100 == 2:
			proxies = append(proxies, "smtp:"+alias+"@acquired.example")
		case i%200 == 3:
			proxies = append(proxies, fmt.Sprintf("smtp:user%07d@contoso.com", i-1))
		}
		r := user(alias, i, mail, mail, proxies...)
		licensed := i%2 == 0
		if licensed {
			a.Licensed[DNKey(r.DN)] = true
		}
		a.Objects = append(a.Objects, r)
		in := inputFor(r, licensed)
		res := proxycalc.Compute(in, tenant, nil, proxycalc.Options{})
		if i%100 == 1 {
			r.Mail = "renamed-" + mail // changed after the sync: will not flow
		}
		iid, _ := ImmutableID(r.GUID)
		c.Objects = append(c.Objects, &cloud.Object{Kind: cloud.KindUser, ID: fmt.Sprintf("id-%d", i), UPN: mail,
			Mail: res.Mail, MailNickname: res.MailNickname, ProxyAddresses: res.Values(),
			OnPremisesSyncEnabled: true, OnPremisesImmutableID: iid})
	}
	return a, c
}

// BenchmarkBuildMillion joins and plans one million synthetic users in
// memory. Goal (issue 4): under 10 s on one core and under 1.5 GB. Run:
//
//	GOMAXPROCS=1 go test ./reconcile/plan -run '^$' -bench BuildMillion -benchtime 1x -benchmem
func BenchmarkBuildMillion(b *testing.B) { benchmarkBuild(b, 1_000_000) }

// BenchmarkBuild100k is the same at a tenth of the size, for profiling.
func BenchmarkBuild100k(b *testing.B) { benchmarkBuild(b, 100_000) }

func benchmarkBuild(b *testing.B, n int) {
	a, c := synthetic(n)
	runtime.GC()
	b.ResetTimer()
	for range b.N {
		p, err := Build(a, c, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Actions) == 0 || len(p.Findings) == 0 {
			b.Fatalf("plan of the synthetic tenant found nothing: %+v", p.Summary)
		}
		b.ReportMetric(float64(len(p.Findings)), "findings")
	}
	b.StopTimer()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b.ReportMetric(float64(m.Sys)/(1<<20), "sys-MiB")
}

func TestSyntheticTenantPlansAsExpected(t *testing.T) {
	a, c := synthetic(2_000)
	p, err := Build(a, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// 20 users had their mail changed behind an x500 value: 20 actions.
	if got := p.Summary.ByKind[MailNotPrimary]; got < 20 || len(p.Actions) < 20 {
		t.Fatalf("MailNotPrimary %d, actions %d: want at least 20 each (%+v)", got, len(p.Actions), p.Summary)
	}
	if p.Summary.ByKind[DuplicateAddress] == 0 || p.Summary.ByKind[AddressDropped] == 0 {
		t.Fatalf("summary %+v: want duplicates and dropped addresses", p.Summary)
	}
}
