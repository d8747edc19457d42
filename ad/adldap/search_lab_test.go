package adldap_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/agent/lab"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/internal/retry"
)

func bulkOU(m *lab.Manifest) string { return "OU=Bulk," + m.SyncOU }

func TestLabPagedSearchStreamsEveryPage(t *testing.T) {
	l := labtest.Get(t)
	cfg := l.ADConfig()
	cfg.PageSize = 100
	c := l.ClientWith(t, cfg)
	seen := map[string]bool{}
	res, err := c.Search(ctxT(t), adldap.SearchRequest{
		BaseDN: bulkOU(l.Manifest), Filter: adldap.Eq("objectClass", "user"), Attributes: []string{"mail"},
	}, func(e *ldap.Entry) error {
		if seen[e.DN] {
			t.Errorf("entry %s delivered twice", e.DN)
		}
		seen[e.DN] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete || res.Entries != l.Manifest.Size || len(seen) != l.Manifest.Size {
		t.Fatalf("result %+v, %d distinct; want complete with %d entries", res, len(seen), l.Manifest.Size)
	}
	if want := l.Manifest.Size / 100; res.Pages < want {
		t.Fatalf("pages = %d, want at least %d with page size 100", res.Pages, want)
	}
}

func TestLabPageSizeCappedAtADMaximum(t *testing.T) {
	l := labtest.Get(t)
	cfg := l.ADConfig()
	cfg.PageSize = 5000
	c := l.ClientWith(t, cfg)
	if c.PageSize() != adldap.MaxPageSize {
		t.Fatalf("page size %d, want %d", c.PageSize(), adldap.MaxPageSize)
	}
	res, err := c.Search(ctxT(t), adldap.SearchRequest{BaseDN: bulkOU(l.Manifest), Filter: adldap.Eq("objectClass", "user"), Attributes: []string{"1.1"}},
		func(*ldap.Entry) error { return nil })
	if err != nil || !res.Complete || res.Pages < l.Manifest.Size/adldap.MaxPageSize {
		t.Fatalf("res %+v err %v", res, err)
	}
}

func TestLabSearchCancelledIsIncomplete(t *testing.T) {
	l := labtest.Get(t)
	cfg := l.ADConfig()
	cfg.PageSize = 100
	c := l.ClientWith(t, cfg)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	n := 0
	res, err := c.Search(ctx, adldap.SearchRequest{BaseDN: bulkOU(l.Manifest), Filter: adldap.Eq("objectClass", "user"), Attributes: []string{"1.1"}},
		func(*ldap.Entry) error {
			n++
			if n == 150 {
				cancel()
			}
			return nil
		})
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if res.Complete {
		t.Fatalf("cancelled read reported complete: %+v", res)
	}
	if res.Entries >= l.Manifest.Size {
		t.Fatalf("cancelled read delivered everything (%d)", res.Entries)
	}
}

func TestLabCallbackErrorStopsSearch(t *testing.T) {
	l := labtest.Get(t)
	c := l.Client(t)
	boom := errors.New("disk full")
	n := 0
	res, err := c.Search(ctxT(t), adldap.SearchRequest{BaseDN: bulkOU(l.Manifest), Filter: adldap.Eq("objectClass", "user"), Attributes: []string{"1.1"}},
		func(*ldap.Entry) error {
			n++
			if n == 10 {
				return boom
			}
			return nil
		})
	if !errors.Is(err, boom) || res.Complete || n != 10 {
		t.Fatalf("err=%v complete=%v n=%d; want the callback's error after 10 entries, incomplete", err, res.Complete, n)
	}
}

// cutProxy forwards TCP to the DC and can sever every connection once a
// number of bytes has come back from the server: from the client's side
// the DC died in the middle of a reply.
type cutProxy struct {
	ln       net.Listener
	target   string
	cutAfter atomic.Int64 // bytes from the server on one connection; 0 = never
	mu       sync.Mutex
	conns    []net.Conn
	accepted atomic.Int32
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.closeAll() })
	go p.serve()
	return p
}

func (p *cutProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *cutProxy) serve() {
	for {
		cl, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		srv, err := net.Dial("tcp", p.target)
		if err != nil {
			cl.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, cl, srv)
		p.mu.Unlock()
		limit := p.cutAfter.Load()
		go func() { _, _ = io.Copy(srv, cl); srv.Close() }()
		go func() {
			if limit > 0 {
				_, _ = io.CopyN(cl, srv, limit)
				cl.Close()
				srv.Close()
				return
			}
			_, _ = io.Copy(cl, srv)
			cl.Close()
		}()
	}
}

func TestLabConnectionLostMidSearchIsIncomplete(t *testing.T) {
	l := labtest.Get(t)
	u, _ := url.Parse(l.Env[lab.EnvLDAPURL])
	p := newCutProxy(t, u.Host)
	// TLS handshake, bind and a couple of 100-entry pages fit in 64 KiB;
	// the whole Bulk OU does not.
	p.cutAfter.Store(64 << 10)
	cfg := noRetry(l.ADConfig())
	cfg.URLs = []string{"ldaps://" + p.ln.Addr().String()}
	cfg.PageSize = 100
	c := l.ClientWith(t, cfg)
	res, err := c.Search(ctxT(t), adldap.SearchRequest{BaseDN: bulkOU(l.Manifest), Filter: adldap.Eq("objectClass", "user"),
		Attributes: []string{"mail", "proxyAddresses", "displayName"}}, func(*ldap.Entry) error { return nil })
	if err == nil {
		t.Fatalf("search through a severed connection succeeded: %+v", res)
	}
	if res.Complete {
		t.Fatalf("severed read reported complete: %+v", res)
	}
	if res.Entries == 0 || res.Entries >= l.Manifest.Size {
		t.Fatalf("entries = %d: the cut should land mid-read", res.Entries)
	}
	if !strings.Contains(err.Error(), "incomplete") || retry.ClassOf(err) != retry.Retryable {
		t.Fatalf("error %q (class %v): want a retryable error saying the read is incomplete", err, retry.ClassOf(err))
	}

	// The client re-dials (and re-binds) on the next request.
	p.cutAfter.Store(0)
	before := p.accepted.Load()
	r, err := c.ReadRecipient(ctxT(t), l.Manifest.BigDL)
	if err != nil {
		t.Fatalf("request after reconnect: %v", err)
	}
	if r.GUID == "" || p.accepted.Load() <= before {
		t.Fatalf("no new connection was made (accepted %d -> %d)", before, p.accepted.Load())
	}
}

func TestLabSearchRetriesDialBeforeFirstEntry(t *testing.T) {
	l := labtest.Get(t)
	u, _ := url.Parse(l.Env[lab.EnvLDAPURL])
	p := newCutProxy(t, u.Host)
	cfg := l.ADConfig()
	cfg.URLs = []string{"ldaps://" + p.ln.Addr().String()}
	c := l.ClientWith(t, cfg)
	// Kill the idle connection: the next search finds it dead before any
	// entry, re-dials and succeeds.
	p.closeAll()
	r, err := c.ReadRecipient(ctxT(t), l.Manifest.RestrictedDL)
	if err != nil {
		t.Fatalf("read after idle connection died: %v", err)
	}
	if r.Name != "Executives" {
		t.Fatalf("name %q", r.Name)
	}
}

func TestLabRangedRetrievalOfBigDL(t *testing.T) {
	l := labtest.Get(t)
	c := l.Client(t)
	ranged, err := c.RangedValues(ctxT(t), l.Manifest.BigDL, "member")
	if err != nil {
		t.Fatal(err)
	}
	if len(ranged) != l.Manifest.BigDLMembers || l.Manifest.BigDLMembers < 5000 {
		t.Fatalf("ranged retrieval got %d members, want %d (>= 5000)", len(ranged), l.Manifest.BigDLMembers)
	}
	plain, err := c.ReadRecipient(ctxT(t), l.Manifest.BigDL)
	if err != nil {
		t.Fatal(err)
	}
	a, b := slices.Clone(ranged), slices.Clone(plain.Members)
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		t.Fatalf("ranged (%d) and plain (%d) member lists differ", len(a), len(b))
	}
	if len(slices.Compact(a)) != len(ranged) {
		t.Fatal("ranged retrieval returned duplicates")
	}
}

func TestLabRangedRetrievalChunks(t *testing.T) {
	l := labtest.Get(t)
	c := l.Client(t)
	// Ask the DC for ranges explicitly, the way the client does, and check
	// the reply shape that RangedValues relies on.
	var got []string
	_, err := c.Search(ctxT(t), adldap.SearchRequest{BaseDN: l.Manifest.BigDL, Scope: adldap.ScopeBase, Filter: "(objectClass=*)",
		Attributes: []string{"member;range=1500-*"}}, func(e *ldap.Entry) error {
		for _, a := range e.Attributes {
			got = append(got, a.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !strings.HasPrefix(strings.ToLower(got[0]), "member;range=1500-") {
		t.Fatalf("attributes %v; want one member;range=1500-...", got)
	}
}

func TestLabRecipientCountsMatchSeed(t *testing.T) {
	l := labtest.Get(t)
	c := l.Client(t)
	total := 0
	for _, base := range []string{l.Manifest.SyncOU, l.Manifest.NoSyncOU} {
		res, err := c.StreamRecipients(ctxT(t), base, func(r *ad.Recipient) error {
			if r.Mail == "" && len(r.ProxyAddresses.Raw()) == 0 && r.MailNickname == "" {
				t.Errorf("%s is not mail-enabled", r.DN)
			}
			return nil
		})
		if err != nil || !res.Complete {
			t.Fatalf("%s: %+v %v", base, res, err)
		}
		total += res.Entries
	}
	if total != l.Manifest.Recipients {
		t.Fatalf("%d recipients, seed says %d", total, l.Manifest.Recipients)
	}
}

func TestLabNotFound(t *testing.T) {
	l := labtest.Get(t)
	c := l.Client(t)
	_, err := c.ReadRecipient(ctxT(t), "CN=Nobody Here,"+l.Manifest.SyncOU)
	if !errors.Is(err, retry.ErrNotFound) {
		t.Fatalf("err = %v, want not found", err)
	}
	_, err = c.FindByProxyAddress(ctxT(t), "smtp:nobody-at-all@"+l.Manifest.MailDomain)
	if !errors.Is(err, retry.ErrNotFound) {
		t.Fatalf("err = %v, want not found", err)
	}
}
