package apply_test

import (
	"context"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/reconcile/apply"
	"github.com/hybridsync/hybridsync/reconcile/journal"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// slowDC is the lab's DC reached through a proxy that holds the modify
// longer than the client's timeout: the client gives up, the DC applies
// the write a little later.
type slowDC struct {
	*adldap.Client
	proxy *labtest.Proxy
	hold  time.Duration
}

func (d *slowDC) ModifyOnDC(ctx context.Context, dc ad.DC, dn string, changes ...ad.Change) error {
	d.proxy.SetRequestDelay(d.hold)
	defer d.proxy.SetRequestDelay(0)
	return d.Client.ModifyOnDC(ctx, dc, dn, changes...)
}

// A modify the DC is slow to apply (it lands after the client's timeout)
// has an unknown outcome: its entry stays pending, even though a re-read
// right after the timeout shows nothing, and a later recovery finds it
// applied, so it can be undone. (It used to be settled at once as "not
// applied", leaving a change in AD that undo refused.)
func TestLabSlowDCWriteStaysPendingUntilProven(t *testing.T) {
	l := labtest.Get(t)
	ou := l.OU(t)
	direct := l.Client(t)
	ctx := t.Context()
	dom := l.Manifest.MailDomain
	name, err := ad.RDNValue(ou)
	if err != nil {
		t.Fatal(err)
	}
	alias := "slowdc-" + name[len(name)-8:]
	mail := alias + "@" + dom
	dn := ad.ChildDN("CN", "Slow DC", ou)
	if err := direct.Add(ctx, dn, []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "user"}},
		{Name: "sAMAccountName", Values: []string{alias}},
		{Name: "mail", Values: []string{mail}},
		{Name: "proxyAddresses", Values: []string{"x500:/o=Lab/cn=slowdc"}},
	}); err != nil {
		t.Fatal(err)
	}
	r, err := direct.ReadRecipient(ctx, dn)
	if err != nil {
		t.Fatal(err)
	}
	act := plan.Action{Kind: plan.ActionDualWritePrimary, ObjectDN: dn, ObjectGUID: r.GUID, Attribute: "proxyAddresses",
		Add: []string{"SMTP:" + mail}, Mail: mail, BeforeProxyAddresses: r.ProxyAddresses.Raw(), USNChanged: r.USNChanged}

	cfg := l.ADConfig()
	u, err := url.Parse(cfg.URLs[0])
	if err != nil {
		t.Fatal(err)
	}
	p := labtest.StartProxy(t, u.Hostname(), u.Host)
	cfg.URLs = []string{"ldaps://" + p.Addr()}
	cfg.Timeout = 2 * time.Second
	slow := &slowDC{Client: l.ClientWith(t, cfg), proxy: p, hold: 5 * time.Second}

	j, err := journal.Open(journal.Options{Path: filepath.Join(t.TempDir(), "journal.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	opts := apply.ResolveOptions{SettleAfter: apply.SettleAfter(cfg.Timeout)}
	a := &apply.Applier{Dir: slow, Journal: j, Resolve: opts}
	out, err := a.Apply(ctx, []plan.Action{act})
	if err != nil || len(out) != 1 || out[0].Result != apply.Unknown {
		t.Fatalf("apply through a slow DC: %v %+v", err, out)
	}
	if e, _ := j.Get(out[0].EntryID); e.State != journal.Pending {
		t.Fatalf("entry %s after an unknown outcome, want pending (%s)", e.State, e.Error)
	}

	// The held modify lands on the DC.
	deadline := time.Now().Add(time.Minute)
	for {
		got, err := direct.ReadRecipient(ctx, dn)
		if err == nil && slices.Contains(got.ProxyAddresses.Raw(), "SMTP:"+mail) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the held modify never reached the DC: %v %q", err, got.ProxyAddresses.Raw())
		}
		time.Sleep(200 * time.Millisecond)
	}
	rep, err := j.Recover(ctx, apply.Resolver(direct, opts))
	if err != nil || !slices.Equal(rep.Done, []string{out[0].EntryID}) {
		t.Fatalf("recover: %v %+v", err, rep)
	}
	res, err := (&apply.Applier{Dir: direct, Journal: j, Resolve: opts}).Undo(ctx, out[0].EntryID, false)
	if err != nil || !res.Restored {
		t.Fatalf("undo: %v %+v", err, res)
	}
}
