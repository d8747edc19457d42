package plan

import (
	"fmt"
	"reflect"
	"runtime"
	"strconv"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/reconcile/proxycalc"
)

// synthetic builds n AD users in scope and their synced cloud twins, as a
// sync of them would have left the tenant, with the mix of cases the lab
// has: most users in sync; 1% whose mail changed behind an x500-only
// proxyAddresses (ProxyCalc then ignores mail); 1% with an address in a
// domain the tenant does not accept; 0.5% sharing an address with another
// user.
//
// The objects are those syntheticPlain builds, field for field (see
// TestSyntheticIsSyntheticPlain), laid out compactly: the recipients and
// cloud objects in two arrays, each object's strings in one allocation, the
// value slices carved from shared arrays, one objectClass slice for all. A
// million of them still take 1.3 GiB of heap, 0.8 GiB of it the
// ad.Recipient and cloud.Object structs themselves.
func synthetic(n int) (ADSnapshot, CloudSnapshot) {
	a := ADSnapshot{Complete: true, Licensed: make(map[string]bool, n/2), Scope: ad.NewSyncScope([]string{scopeOU}, nil)}
	c := CloudSnapshot{Complete: true, AcceptedDomains: accepted, InitialDomain: initial}
	recs := make([]ad.Recipient, n)
	objs := make([]cloud.Object, n)
	a.Objects = make([]*ad.Recipient, n)
	c.Objects = make([]*cloud.Object, n)
	vals := make([]ad.ProxyAddress, 0, 2*n+n/100+n/200+1)
	var cvals []string // carved in chunks
	var raw []string
	calc := proxycalc.NewCalculator(proxycalc.Tenant{InitialDomain: initial, VerifiedDomains: accepted})
	var res proxycalc.Result
	userClass := []string{"top", "person", "organizationalPerson", "user"}
	var p packer
	for i := 0; i < n; i++ {
		p.reset()
		alias := p.str("user").num(i, 7, 10).end()
		mail := p.field(alias).str("@contoso.com").end()
		dn := p.str("CN=").field(alias).str(",").str(scopeOU).end()
		g := p.num(i, 8, 16).str("-0000-4000-8000-").num(i, 12, 16).end()
		first := p.fields()
		switch {
		case i%100 == 1:
			p.str("x500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=").field(alias).end()
		default:
			p.str("SMTP:").field(mail).end()
			p.str("smtp:").field(alias).str("@fabrikam.com").end()
			switch {
			case i%100 == 2:
				p.str("smtp:").field(alias).str("@acquired.example").end()
			case i%200 == 3:
				p.str("smtp:user").num(i-1, 7, 10).str("@contoso.com").end()
			}
		}
		last := p.fields()
		licensed := i%2 == 0
		key, renamed := -1, -1
		if licensed {
			key = p.lower(dn).end() // DNKey(dn): the DN is plain
		}
		if i%100 == 1 {
			renamed = p.str("renamed-").field(mail).end()
		}
		p.done()

		r := &recs[i]
		*r = ad.Recipient{DN: p.get(dn), GUID: p.get(g), Kind: ad.KindUser,
			Name: p.get(alias), Mail: p.get(mail), USNChanged: int64(1000 + i),
			ObjectClass: userClass[:4:4], SAMAccountName: p.get(alias), UPN: p.get(mail)}
		r.OU = r.DN[len(r.DN)-len(scopeOU):] // ad.ParentDN(r.DN), as written in it
		start := len(vals)
		raw = raw[:0]
		for f := first; f < last; f++ {
			v, _ := ad.ParseProxyAddress(p.get(f))
			vals = append(vals, v)
			raw = append(raw, p.get(f))
		}
		r.ProxyAddresses.Values = vals[start:len(vals):len(vals)]
		if licensed {
			a.Licensed[p.get(key)] = true
		}
		a.Objects[i] = r
		in := ProxyCalcInput(r, licensed)
		// The values as read: ProxyCalc shares their strings instead of
		// building new ones from the parsed values (the same result, less
		// garbage while generating a million objects).
		in.Parsed, in.ProxyAddresses = nil, raw
		calc.ComputeInto(&res, in, nil, proxycalc.Options{})
		if renamed >= 0 {
			r.Mail = p.get(renamed) // changed after the sync: will not flow
		}

		// The twin's strings, in one allocation too.
		p.reset()
		id := p.str("id-").num(i, 1, 10).end()
		upn := p.str(r.UPN).end()
		cmail := p.str(res.Mail).end()
		nick := p.str(res.MailNickname).end()
		var iid [24]byte
		guidImmutableID(r.GUID, &iid)
		anchor := p.bytes(iid[:]).end()
		first = p.fields()
		for _, v := range res.ProxyAddresses {
			p.str(v.Value).end()
		}
		last = p.fields()
		p.done()
		o := &objs[i]
		*o = cloud.Object{Kind: cloud.KindUser, ID: p.get(id), UPN: p.get(upn), Mail: p.get(cmail), MailNickname: p.get(nick),
			OnPremisesSyncEnabled: true, OnPremisesImmutableID: p.get(anchor)}
		if cap(cvals)-len(cvals) < last-first {
			cvals = make([]string, 0, max(1<<16, last-first))
		}
		start = len(cvals)
		for f := first; f < last; f++ {
			cvals = append(cvals, p.get(f))
		}
		o.ProxyAddresses = cvals[start:len(cvals):len(cvals)]
		c.Objects[i] = o
	}
	return a, c
}

// packer lays out one object's strings in one allocation: the field being
// written is appended to piece by piece and closed by end, which returns
// its number; done makes the string and get returns a field of it.
type packer struct {
	buf   []byte
	offs  []int // field i is buf[offs[i]:offs[i+1]]
	whole string
}

func (p *packer) reset() { p.buf, p.offs, p.whole = p.buf[:0], append(p.offs[:0], 0), "" }

func (p *packer) str(s string) *packer { p.buf = append(p.buf, s...); return p }

func (p *packer) bytes(b []byte) *packer { p.buf = append(p.buf, b...); return p }

// field appends field i, ended before.
func (p *packer) field(i int) *packer {
	p.buf = append(p.buf, p.buf[p.offs[i]:p.offs[i+1]]...)
	return p
}

// num appends v in base with at least width digits, as %0*d or %0*x.
func (p *packer) num(v, width, base int) *packer {
	var d [20]byte
	b := strconv.AppendInt(d[:0], int64(v), base)
	for k := len(b); k < width; k++ {
		p.buf = append(p.buf, '0')
	}
	p.buf = append(p.buf, b...)
	return p
}

// lower appends field i with its ASCII letters lower-cased.
func (p *packer) lower(i int) *packer {
	for k := p.offs[i]; k < p.offs[i+1]; k++ {
		c := p.buf[k]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		p.buf = append(p.buf, c)
	}
	return p
}

// end closes the field being written.
func (p *packer) end() int {
	p.offs = append(p.offs, len(p.buf))
	return len(p.offs) - 2
}

// fields is the number of fields ended.
func (p *packer) fields() int { return len(p.offs) - 1 }

func (p *packer) done() { p.whole = string(p.buf) }

func (p *packer) get(i int) string { return p.whole[p.offs[i]:p.offs[i+1]] }

// syntheticPlain is synthetic built the straightforward way, as the ad
// and cloud readers return objects: one allocation per value.
func syntheticPlain(n int) (ADSnapshot, CloudSnapshot) {
	a := ADSnapshot{Complete: true, Licensed: make(map[string]bool, n/2), Scope: ad.NewSyncScope([]string{scopeOU}, nil)}
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
		in := ProxyCalcInput(r, licensed)
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

// The compact layout changes nothing the planner reads.
func TestSyntheticIsSyntheticPlain(t *testing.T) {
	a, c := synthetic(1_000)
	pa, pc := syntheticPlain(1_000)
	if !reflect.DeepEqual(a, pa) || !reflect.DeepEqual(c, pc) {
		for i := range a.Objects {
			if !reflect.DeepEqual(a.Objects[i], pa.Objects[i]) {
				t.Fatalf("AD object %d:\n%+v\nwant\n%+v", i, a.Objects[i], pa.Objects[i])
			}
			if !reflect.DeepEqual(c.Objects[i], pc.Objects[i]) {
				t.Fatalf("cloud object %d:\n%+v\nwant\n%+v", i, c.Objects[i], pc.Objects[i])
			}
		}
		t.Fatal("snapshots differ")
	}
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
