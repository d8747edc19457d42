package adldap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// ---- fakes ----------------------------------------------------------------

// fakeItem is one message of a search: an entry, a referral, or (neither)
// the final SearchResultDone with its controls.
type fakeItem struct {
	entry    *ldap.Entry
	referral string
	controls []ldap.Control
}

// fakeResponse replays items, then reports err (nil for a clean end).
type fakeResponse struct {
	items []fakeItem
	err   error
	i     int
	cur   fakeItem
	ended bool
	// onEnd runs when the stream ends (e.g. to mark the conn closing).
	onEnd func()
}

func (r *fakeResponse) Next() bool {
	if r.i >= len(r.items) {
		if !r.ended && r.onEnd != nil {
			r.onEnd()
		}
		r.ended = true
		r.cur = fakeItem{}
		return false
	}
	r.cur = r.items[r.i]
	r.i++
	return true
}

func (r *fakeResponse) Entry() *ldap.Entry       { return r.cur.entry }
func (r *fakeResponse) Referral() string         { return r.cur.referral }
func (r *fakeResponse) Controls() []ldap.Control { return r.cur.controls }
func (r *fakeResponse) Err() error {
	if r.ended {
		return r.err
	}
	return nil
}

// done is the final SearchResultDone message carrying the paging control,
// as AD sends it: with a cookie when more pages follow, empty on the last.
func done(cookie string) fakeItem {
	pc := ldap.NewControlPaging(0)
	if cookie != "" {
		pc.SetCookie([]byte(cookie))
	}
	return fakeItem{controls: []ldap.Control{pc}}
}

// seenRequest is what the fake recorded of one SearchAsync call.
type seenRequest struct {
	BaseDN     string
	Scope      int
	Filter     string
	Attributes []string
	PageSize   uint32
	Cookie     string
}

// fakeConn implements conn. Searches are answered by search; writes fail.
type fakeConn struct {
	search func(n int, req seenRequest) *fakeResponse

	mu       sync.Mutex
	requests []seenRequest
	closed   int
	// closing is what IsClosing reports: false while the conn is healthy
	// (the test client cannot re-dial), true once a test breaks it.
	closing bool
}

func (f *fakeConn) SearchAsync(_ context.Context, req *ldap.SearchRequest, _ int) ldap.Response {
	seen := seenRequest{BaseDN: req.BaseDN, Scope: req.Scope, Filter: req.Filter, Attributes: slices.Clone(req.Attributes)}
	if pc, ok := ldap.FindControl(req.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging); ok {
		seen.PageSize = pc.PagingSize
		seen.Cookie = string(pc.Cookie)
	}
	f.mu.Lock()
	f.requests = append(f.requests, seen)
	n := len(f.requests)
	f.mu.Unlock()
	return f.search(n, seen)
}

var errFakeWrite = errors.New("fake conn: writes not supported")

func (f *fakeConn) Add(*ldap.AddRequest) error           { return errFakeWrite }
func (f *fakeConn) Modify(*ldap.ModifyRequest) error     { return errFakeWrite }
func (f *fakeConn) ModifyDN(*ldap.ModifyDNRequest) error { return errFakeWrite }
func (f *fakeConn) Del(*ldap.DelRequest) error           { return errFakeWrite }
func (f *fakeConn) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed++
	return nil
}
func (f *fakeConn) IsClosing() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closing
}

func (f *fakeConn) setClosing(v bool) {
	f.mu.Lock()
	f.closing = v
	f.mu.Unlock()
}

// brokenStream ends after items without SearchResultDone and without an
// error, the connection then reporting that it is closing: what go-ldap
// does when the connection goes away under a search.
func (f *fakeConn) brokenStream(items ...fakeItem) *fakeResponse {
	return &fakeResponse{items: items, onEnd: func() { f.setClosing(true) }}
}

func (f *fakeConn) seen() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// instantClock fires every wait at once.
type instantClock struct{}

func (instantClock) Now() time.Time { return time.Time{} }
func (instantClock) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

func testClient(fc *fakeConn, attempts int) *Client {
	p := retry.Policy{MaxAttempts: attempts, Initial: time.Millisecond, Max: time.Millisecond, Clock: instantClock{}}
	return newWithConn(Config{BaseDN: "DC=example,DC=com", PageSize: 500, Retry: &p}, fc)
}

func ctxTest(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// ---- a Windows-AD-like directory with one big group -----------------------

const (
	bigGroupDN = "CN=All Staff,OU=Groups,DC=example,DC=com"
	adChunk    = 1500 // AD's MaxValRange default
)

func memberDNs(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("CN=%s %04d,OU=Users,DC=example,DC=com", prefix, i)
	}
	return out
}

// rangedDir answers searches for bigGroupDN the way Windows AD does (or,
// with samba set, with the whole attribute).
type rangedDir struct {
	mu      sync.Mutex
	members []string
	usn     int
	samba   bool
	// after is called after each search is answered (n counts from 1).
	after func(d *rangedDir, n int)
}

func (d *rangedDir) conn() *fakeConn {
	return &fakeConn{search: func(n int, req seenRequest) *fakeResponse {
		d.mu.Lock()
		resp := d.answer(req)
		if d.after != nil {
			d.after(d, n)
		}
		d.mu.Unlock()
		return resp
	}}
}

func (d *rangedDir) change(members []string) {
	d.members = members
	d.usn++
}

// memberAttr answers a request for member or member;range=low-*.
func (d *rangedDir) memberAttr(requested string) *ldap.EntryAttribute {
	n := len(d.members)
	low := 0
	if !strings.EqualFold(requested, "member") {
		spec := requested[len("member;range="):]
		lo, _, _ := strings.Cut(spec, "-")
		low, _ = strconv.Atoi(lo)
	}
	if d.samba {
		return ldap.NewEntryAttribute("member", slices.Clone(d.members))
	}
	if low == 0 && n <= adChunk && strings.EqualFold(requested, "member") {
		return ldap.NewEntryAttribute("member", slices.Clone(d.members))
	}
	high := low + adChunk - 1
	if high >= n-1 {
		return ldap.NewEntryAttribute(fmt.Sprintf("member;range=%d-*", low), slices.Clone(d.members[min(low, n):]))
	}
	return ldap.NewEntryAttribute(fmt.Sprintf("member;range=%d-%d", low, high), slices.Clone(d.members[low:high+1]))
}

func (d *rangedDir) entry(attrs []string) *ldap.Entry {
	e := &ldap.Entry{DN: bigGroupDN}
	guid := []byte{0x38, 0x35, 0xd2, 0x99, 0x9f, 0x1a, 0xf0, 0x4f, 0xbb, 0x29, 0xb5, 0x18, 0x32, 0x3c, 0xba, 0xcc}
	for _, a := range attrs {
		switch {
		case strings.EqualFold(a, "member") || strings.HasPrefix(strings.ToLower(a), "member;range="):
			e.Attributes = append(e.Attributes, d.memberAttr(a))
		case a == "uSNChanged":
			e.Attributes = append(e.Attributes, ldap.NewEntryAttribute("uSNChanged", []string{strconv.Itoa(d.usn)}))
		case a == "objectGUID":
			e.Attributes = append(e.Attributes, &ldap.EntryAttribute{Name: "objectGUID", Values: []string{string(guid)}, ByteValues: [][]byte{guid}})
		case a == "objectClass":
			e.Attributes = append(e.Attributes, ldap.NewEntryAttribute("objectClass", []string{"top", "group"}))
		case a == "name":
			e.Attributes = append(e.Attributes, ldap.NewEntryAttribute("name", []string{"All Staff"}))
		case a == "mail":
			e.Attributes = append(e.Attributes, ldap.NewEntryAttribute("mail", []string{"allstaff@example.com"}))
		case a == "groupType":
			e.Attributes = append(e.Attributes, ldap.NewEntryAttribute("groupType", []string{"8"}))
		}
	}
	return e
}

func (d *rangedDir) answer(req seenRequest) *fakeResponse {
	if req.BaseDN != bigGroupDN && req.Scope == ldap.ScopeBaseObject {
		return &fakeResponse{err: ldap.NewError(ldap.LDAPResultNoSuchObject, errors.New("0000208D: NameErr: DSID-03100241, problem 2001 (NO_OBJECT)"))}
	}
	return &fakeResponse{items: []fakeItem{{entry: d.entry(req.Attributes)}, done("")}}
}

func checkMembers(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d values, want %d", len(got), len(want))
	}
	seen := make(map[string]bool, len(got))
	for i, v := range got {
		if seen[v] {
			t.Fatalf("duplicate value %q at %d", v, i)
		}
		seen[v] = true
		if v != want[i] {
			t.Fatalf("value %d = %q, want %q (order or content differs)", i, v, want[i])
		}
	}
}

func rangedAttrsRequested(reqs []seenRequest) []string {
	var out []string
	for _, r := range reqs {
		for _, a := range r.Attributes {
			if strings.HasPrefix(a, "member;range=") {
				out = append(out, a)
			}
		}
	}
	return out
}

// ---- ranged retrieval -----------------------------------------------------

func TestRangedValuesWindowsAutoRanging(t *testing.T) {
	d := &rangedDir{members: memberDNs("User", 3200), usn: 100}
	fc := d.conn()
	c := testClient(fc, 1)
	got, err := c.RangedValues(ctxTest(t), bigGroupDN, "member")
	if err != nil {
		t.Fatalf("RangedValues: %v", err)
	}
	checkMembers(t, got, d.members)
	want := []string{"member;range=0-*", "member;range=1500-*", "member;range=3000-*"}
	if got := rangedAttrsRequested(fc.seen()); !slices.Equal(got, want) {
		t.Errorf("requested ranges %q, want %q", got, want)
	}
	for _, r := range fc.seen() {
		if r.BaseDN != bigGroupDN || r.Scope != ldap.ScopeBaseObject || !slices.Contains(r.Attributes, "uSNChanged") {
			t.Errorf("ranged request %+v: want a base-scope read of the group with uSNChanged", r)
		}
	}
}

func TestRangedValuesExactMultipleOfChunk(t *testing.T) {
	d := &rangedDir{members: memberDNs("User", 3000), usn: 7}
	c := testClient(d.conn(), 1)
	got, err := c.RangedValues(ctxTest(t), bigGroupDN, "member")
	if err != nil {
		t.Fatalf("RangedValues: %v", err)
	}
	checkMembers(t, got, d.members)
}

func TestRangedValuesSambaPlainAttribute(t *testing.T) {
	d := &rangedDir{members: memberDNs("User", 3200), usn: 100, samba: true}
	fc := d.conn()
	c := testClient(fc, 1)
	got, err := c.RangedValues(ctxTest(t), bigGroupDN, "member")
	if err != nil {
		t.Fatalf("RangedValues: %v", err)
	}
	checkMembers(t, got, d.members)
	if n := len(fc.seen()); n != 1 {
		t.Errorf("%d searches, want 1 (a plain answer is complete)", n)
	}
}

func TestRangedValuesRestartsWhenObjectChanges(t *testing.T) {
	oldSet := memberDNs("Old", 3200)
	newSet := append(memberDNs("Old", 3200)[200:], memberDNs("New", 100)...) // 3,100
	d := &rangedDir{members: oldSet, usn: 100}
	d.after = func(d *rangedDir, n int) {
		if n == 1 { // after the first chunk of the first pass
			d.change(newSet)
		}
	}
	fc := d.conn()
	c := testClient(fc, 1)
	got, err := c.RangedValues(ctxTest(t), bigGroupDN, "member")
	if err != nil {
		t.Fatalf("RangedValues: %v", err)
	}
	checkMembers(t, got, newSet)
	want := []string{"member;range=0-*", "member;range=1500-*", "member;range=0-*", "member;range=1500-*", "member;range=3000-*"}
	if got := rangedAttrsRequested(fc.seen()); !slices.Equal(got, want) {
		t.Errorf("requested ranges %q, want %q", got, want)
	}
}

func TestRangedValuesGivesUpWhenObjectKeepsChanging(t *testing.T) {
	d := &rangedDir{members: memberDNs("User", 3200), usn: 100}
	d.after = func(d *rangedDir, n int) { d.usn++ }
	fc := d.conn()
	c := testClient(fc, 1)
	got, err := c.RangedValues(ctxTest(t), bigGroupDN, "member")
	if err == nil {
		t.Fatalf("RangedValues = %d values, want an error", len(got))
	}
	if !errors.Is(err, retry.ErrRetryable) {
		t.Errorf("err = %v (class %v), want retryable", err, retry.ClassOf(err))
	}
	if !strings.Contains(err.Error(), "kept changing") {
		t.Errorf("err = %v, want it to say the attribute kept changing", err)
	}
	// Each pass reads two chunks before noticing; bounded restarts.
	if n, max := len(fc.seen()), (maxRangeRestarts+1)*2; n != max {
		t.Errorf("%d searches, want %d", n, max)
	}
}

func TestRangedValuesServerAnswersWrongRange(t *testing.T) {
	members := memberDNs("User", 3200)
	fc := &fakeConn{search: func(_ int, req seenRequest) *fakeResponse {
		e := &ldap.Entry{DN: bigGroupDN, Attributes: []*ldap.EntryAttribute{
			ldap.NewEntryAttribute("member;range=0-1499", members[:1500]),
			ldap.NewEntryAttribute("uSNChanged", []string{"5"}),
		}}
		return &fakeResponse{items: []fakeItem{{entry: e}, done("")}}
	}}
	c := testClient(fc, 1)
	_, err := c.RangedValues(ctxTest(t), bigGroupDN, "member")
	if err == nil || retry.ClassOf(err) != retry.Terminal || !strings.Contains(err.Error(), "server answered from 0") {
		t.Fatalf("err = %v, want a terminal error about the wrong range", err)
	}
	if n := len(fc.seen()); n != 2 {
		t.Errorf("%d searches, want 2", n)
	}
}

func TestRangedValuesObjectVanishes(t *testing.T) {
	fc := &fakeConn{search: func(int, seenRequest) *fakeResponse {
		return &fakeResponse{items: []fakeItem{done("")}}
	}}
	c := testClient(fc, 1)
	_, err := c.RangedValues(ctxTest(t), bigGroupDN, "member")
	if !errors.Is(err, retry.ErrNotFound) {
		t.Fatalf("err = %v, want not found", err)
	}
}

func TestStreamRecipientsCompletesRangedMember(t *testing.T) {
	d := &rangedDir{members: memberDNs("User", 3200), usn: 100}
	fc := d.conn()
	c := testClient(fc, 1)
	var got []*ad.Recipient
	res, err := c.StreamRecipients(ctxTest(t), "", func(r *ad.Recipient) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatalf("StreamRecipients: %v", err)
	}
	if !res.Complete || res.Entries != 1 || res.Pages != 1 {
		t.Errorf("ReadResult = %+v, want complete, 1 entry, 1 page", res)
	}
	if len(got) != 1 {
		t.Fatalf("%d recipients, want 1", len(got))
	}
	r := got[0]
	if r.DN != bigGroupDN || r.Kind != ad.KindGroup || r.OU != "OU=Groups,DC=example,DC=com" || r.USNChanged != 100 {
		t.Errorf("recipient = DN %q kind %q OU %q usn %d", r.DN, r.Kind, r.OU, r.USNChanged)
	}
	checkMembers(t, r.Members, d.members)

	reqs := fc.seen()
	if reqs[0].BaseDN != "DC=example,DC=com" || reqs[0].Filter != MailEnabledFilter() || !slices.Contains(reqs[0].Attributes, "member;range=0-1499") {
		t.Errorf("first request %+v: want the mail-enabled search under the base DN asking for member's first range", reqs[0])
	}
	// The page gave 0-1499: completion continues from 1500, never re-reads 0.
	want := []string{"member;range=1500-*", "member;range=3000-*"}
	if got := rangedAttrsRequested(reqs[1:]); !slices.Equal(got, want) {
		t.Errorf("completion requested %q, want %q", got, want)
	}
}

func TestStreamRecipientsSambaPlainMember(t *testing.T) {
	d := &rangedDir{members: memberDNs("User", 3200), usn: 100, samba: true}
	fc := d.conn()
	c := testClient(fc, 1)
	var members []string
	res, err := c.StreamRecipients(ctxTest(t), "", func(r *ad.Recipient) error {
		members = r.Members
		return nil
	})
	if err != nil || !res.Complete {
		t.Fatalf("StreamRecipients = %+v, %v", res, err)
	}
	checkMembers(t, members, d.members)
	if n := len(fc.seen()); n != 1 {
		t.Errorf("%d searches, want 1", n)
	}
}

func TestStreamRecipientsGroupChangesDuringCompletion(t *testing.T) {
	oldSet := memberDNs("Old", 3200)
	newSet := append(memberDNs("New", 50), memberDNs("Old", 3200)[1000:]...) // 2,250
	d := &rangedDir{members: oldSet, usn: 100}
	d.after = func(d *rangedDir, n int) {
		if n == 1 { // after the search page
			d.change(newSet)
		}
	}
	c := testClient(d.conn(), 1)
	var members []string
	res, err := c.StreamRecipients(ctxTest(t), "", func(r *ad.Recipient) error {
		members = r.Members
		return nil
	})
	if err != nil || !res.Complete {
		t.Fatalf("StreamRecipients = %+v, %v", res, err)
	}
	checkMembers(t, members, newSet)
}

func TestReadRecipientCompletesRangedMember(t *testing.T) {
	d := &rangedDir{members: memberDNs("User", 3200), usn: 100}
	c := testClient(d.conn(), 1)
	r, err := c.ReadRecipient(ctxTest(t), bigGroupDN)
	if err != nil {
		t.Fatalf("ReadRecipient: %v", err)
	}
	checkMembers(t, r.Members, d.members)
	if r.GUID != "99d23538-1a9f-4ff0-bb29-b518323cbacc" {
		t.Errorf("GUID = %q", r.GUID)
	}
	_, err = c.ReadRecipient(ctxTest(t), "CN=Nobody,DC=example,DC=com")
	if !errors.Is(err, retry.ErrNotFound) {
		t.Errorf("ReadRecipient(missing) err = %v, want not found", err)
	}
}

func TestParseRangedName(t *testing.T) {
	cases := []struct {
		name    string
		attr    string
		want    rangeInfo
		wantOK  bool
		wantErr bool
	}{
		{"member;range=0-1499", "member", rangeInfo{0, 1499}, true, false},
		{"Member;Range=0-1499", "member", rangeInfo{0, 1499}, true, false},
		{"MEMBER;RANGE=1500-*", "member", rangeInfo{1500, -1}, true, false},
		{"member;range=3000-*", "member", rangeInfo{3000, -1}, true, false},
		{"member;range=5-5", "member", rangeInfo{5, 5}, true, false},
		{"authOrig;range=0-999", "authOrig", rangeInfo{0, 999}, true, false},
		{"member", "member", rangeInfo{}, false, false},
		{"memberOf", "member", rangeInfo{}, false, false},
		{"memberOf;range=0-1499", "member", rangeInfo{}, false, false},
		{"member;range=0-1499", "authOrig", rangeInfo{}, false, false},
		{"mem", "member", rangeInfo{}, false, false},
		{"member;range=", "member", rangeInfo{}, true, true},
		{"member;range=1500", "member", rangeInfo{}, true, true},
		{"member;range=a-10", "member", rangeInfo{}, true, true},
		{"member;range=-1-10", "member", rangeInfo{}, true, true},
		{"member;range=0-", "member", rangeInfo{}, true, true},
		{"member;range=0-x", "member", rangeInfo{}, true, true},
		{"member;range=10-5", "member", rangeInfo{}, true, true},
		{"member;range=0-**", "member", rangeInfo{}, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name+"/"+tc.attr, func(t *testing.T) {
			got, ok, err := parseRangedName(tc.name, tc.attr)
			if ok != tc.wantOK {
				t.Errorf("ok = %v, want %v", ok, tc.wantOK)
			}
			if (err != nil) != tc.wantErr {
				t.Errorf("err = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && got != tc.want {
				t.Errorf("range = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRangedAttribute(t *testing.T) {
	e := &ldap.Entry{DN: bigGroupDN, Attributes: []*ldap.EntryAttribute{
		ldap.NewEntryAttribute("Member;Range=0-1", []string{"a", "b"}),
		ldap.NewEntryAttribute("authOrig", []string{"x"}),
		ldap.NewEntryAttribute("unauthOrig;range=0-x", []string{"y"}),
	}}
	vals, ri, err := rangedAttribute(e, "member")
	if err != nil || ri == nil || *ri != (rangeInfo{0, 1}) || !slices.Equal(vals, []string{"a", "b"}) {
		t.Errorf("member: %q %+v %v", vals, ri, err)
	}
	vals, ri, err = rangedAttribute(e, "AUTHORIG")
	if err != nil || ri != nil || !slices.Equal(vals, []string{"x"}) {
		t.Errorf("authOrig: %q %+v %v", vals, ri, err)
	}
	if _, _, err = rangedAttribute(e, "unauthOrig"); err == nil {
		t.Error("unauthOrig with bad range: want an error")
	}
	vals, ri, err = rangedAttribute(e, "publicDelegates")
	if err != nil || ri != nil || vals != nil {
		t.Errorf("absent: %q %+v %v", vals, ri, err)
	}
}

// ---- paging and incomplete reads --------------------------------------------

func userEntry(i int) *ldap.Entry {
	return ldap.NewEntry(fmt.Sprintf("CN=User %d,OU=Users,DC=example,DC=com", i), map[string][]string{"name": {fmt.Sprintf("User %d", i)}})
}

func TestSearchPaging(t *testing.T) {
	fc := &fakeConn{search: func(n int, req seenRequest) *fakeResponse {
		switch n {
		case 1:
			return &fakeResponse{items: []fakeItem{{entry: userEntry(1)}, {referral: "ldaps://other.example.com/DC=other"}, {entry: userEntry(2)}, done("cookie-1")}}
		case 2:
			return &fakeResponse{items: []fakeItem{{entry: userEntry(3)}, done("")}}
		}
		return &fakeResponse{err: errors.New("unexpected third page")}
	}}
	c := testClient(fc, 1)
	var names []string
	res, err := c.Search(ctxTest(t), SearchRequest{Filter: Eq("objectClass", "user"), Attributes: []string{"name"}}, func(e *ldap.Entry) error {
		names = append(names, e.GetAttributeValue("name"))
		return nil
	})
	if err != nil {
		t.Fatalf("Search: %v", err)
	}
	if !res.Complete || res.Pages != 2 || res.Entries != 3 || res.Server != "test://" {
		t.Errorf("ReadResult = %+v, want complete, 2 pages, 3 entries, server test://", res)
	}
	if want := []string{"User 1", "User 2", "User 3"}; !slices.Equal(names, want) {
		t.Errorf("entries = %q, want %q", names, want)
	}
	reqs := fc.seen()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if reqs[0].Cookie != "" || reqs[1].Cookie != "cookie-1" {
		t.Errorf("cookies sent = %q, %q; want \"\", \"cookie-1\"", reqs[0].Cookie, reqs[1].Cookie)
	}
	for i, r := range reqs {
		if r.PageSize != 500 || r.BaseDN != "DC=example,DC=com" || r.Scope != ldap.ScopeWholeSubtree || r.Filter != "(objectClass=user)" {
			t.Errorf("request %d = %+v", i, r)
		}
	}
}

func TestSearchStreamEndsWithoutDone(t *testing.T) {
	t.Run("no entries, live connection: retryable, incomplete", func(t *testing.T) {
		// The channel closes with no final result and no error while the
		// connection still looks healthy.
		fc := &fakeConn{}
		fc.search = func(int, seenRequest) *fakeResponse { return &fakeResponse{} }
		c := testClient(fc, 1)
		calls := 0
		res, err := c.Search(ctxTest(t), SearchRequest{Filter: "(objectClass=*)"}, func(*ldap.Entry) error { calls++; return nil })
		if err == nil {
			t.Fatal("Search = nil error, want one")
		}
		if res.Complete {
			t.Error("ReadResult.Complete = true for a stream without SearchResultDone")
		}
		if !errors.Is(err, retry.ErrRetryable) {
			t.Errorf("err = %v (class %v), want retryable", err, retry.ClassOf(err))
		}
		if calls != 0 {
			t.Errorf("callback called %d times", calls)
		}
	})
	t.Run("no entries, closing connection: retryable, incomplete, dropped", func(t *testing.T) {
		fc := &fakeConn{}
		fc.search = func(int, seenRequest) *fakeResponse { return fc.brokenStream() }
		c := testClient(fc, 1)
		res, err := c.Search(ctxTest(t), SearchRequest{Filter: "(objectClass=*)"}, func(*ldap.Entry) error { return nil })
		if res.Complete || !errors.Is(err, retry.ErrRetryable) {
			t.Errorf("Search = %+v, %v; want incomplete and retryable", res, err)
		}
		if fc.closed != 1 || c.ServerURL() != "" {
			t.Errorf("connection not dropped: closed %d, server %q", fc.closed, c.ServerURL())
		}
	})
	t.Run("retried with a re-dial before any entry", func(t *testing.T) {
		fc := &fakeConn{}
		fc.search = func(int, seenRequest) *fakeResponse { return fc.brokenStream() }
		c := testClient(fc, 3)
		dials := 0
		c.dial = func(context.Context) (conn, string, error) {
			dials++
			fc.setClosing(false) // a fresh connection
			return fc, "test://redial", nil
		}
		res, err := c.Search(ctxTest(t), SearchRequest{Filter: "(objectClass=*)"}, func(*ldap.Entry) error { return nil })
		if res.Complete || !errors.Is(err, retry.ErrRetryable) || !strings.Contains(err.Error(), "gave up after 3 attempts") {
			t.Errorf("Search = %+v, %v; want incomplete, retryable, gave up after 3 attempts", res, err)
		}
		if n := len(fc.seen()); n != 3 || dials != 2 {
			t.Errorf("%d searches and %d dials, want 3 and 2", n, dials)
		}
	})
	t.Run("recovers after a re-dial", func(t *testing.T) {
		fc := &fakeConn{}
		fc.search = func(n int, _ seenRequest) *fakeResponse {
			if n == 1 {
				return fc.brokenStream()
			}
			return &fakeResponse{items: []fakeItem{{entry: userEntry(1)}, done("")}}
		}
		c := testClient(fc, 3)
		c.dial = func(context.Context) (conn, string, error) {
			fc.setClosing(false)
			return fc, "test://redial", nil
		}
		res, err := c.Search(ctxTest(t), SearchRequest{Filter: "(objectClass=*)"}, func(*ldap.Entry) error { return nil })
		if err != nil || !res.Complete || res.Entries != 1 || res.Server != "test://redial" {
			t.Errorf("Search = %+v, %v; want complete from test://redial", res, err)
		}
	})
	t.Run("page broken mid-way: no entry delivered twice", func(t *testing.T) {
		fc := &fakeConn{}
		fc.search = func(int, seenRequest) *fakeResponse {
			return fc.brokenStream(fakeItem{entry: userEntry(1)}, fakeItem{entry: userEntry(2)})
		}
		c := testClient(fc, 3)
		c.dial = func(context.Context) (conn, string, error) { fc.setClosing(false); return fc, "test://redial", nil }
		seen := map[string]int{}
		res, err := c.Search(ctxTest(t), SearchRequest{Filter: "(objectClass=*)"}, func(e *ldap.Entry) error { seen[e.DN]++; return nil })
		if err == nil || res.Complete {
			t.Fatalf("Search = %+v, %v; want an incomplete read", res, err)
		}
		if !errors.Is(err, retry.ErrRetryable) {
			t.Errorf("err class = %v, want retryable so the caller restarts the read", retry.ClassOf(err))
		}
		for dn, n := range seen {
			if n > 1 {
				t.Errorf("callback saw %s %d times", dn, n)
			}
		}
		if res.Entries != len(seen) {
			t.Errorf("ReadResult.Entries = %d, callback saw %d", res.Entries, len(seen))
		}
	})
	t.Run("after a delivered page: not replayed, incomplete", func(t *testing.T) {
		fc := &fakeConn{}
		fc.search = func(n int, _ seenRequest) *fakeResponse {
			if n == 1 {
				return &fakeResponse{items: []fakeItem{{entry: userEntry(1)}, {entry: userEntry(2)}, done("cookie-1")}}
			}
			return fc.brokenStream(fakeItem{entry: userEntry(3)})
		}
		c := testClient(fc, 3)
		c.dial = func(context.Context) (conn, string, error) { fc.setClosing(false); return fc, "test://redial", nil }
		var got []string
		res, err := c.Search(ctxTest(t), SearchRequest{Filter: "(objectClass=*)"}, func(e *ldap.Entry) error {
			got = append(got, e.GetAttributeValue("name"))
			return nil
		})
		if err == nil || res.Complete {
			t.Fatalf("Search = %+v, %v; want an incomplete read", res, err)
		}
		if len(fc.seen()) != 2 {
			t.Errorf("%d searches, want 2 (no replay of page 1)", len(fc.seen()))
		}
		if len(got) < 2 || got[0] != "User 1" || got[1] != "User 2" || len(got) > 3 {
			t.Errorf("callback saw %q, want User 1, User 2 once each", got)
		}
		if res.Entries != len(got) || res.Pages != 1 || !strings.Contains(err.Error(), fmt.Sprintf("after %d entries", len(got))) {
			t.Errorf("res = %+v, err = %v; want it to say how far it got", res, err)
		}
		if !errors.Is(err, retry.ErrRetryable) {
			t.Errorf("err class = %v, want the cause's class (retryable)", retry.ClassOf(err))
		}
	})
	t.Run("base scope: silent end on a live connection is a done without controls", func(t *testing.T) {
		// go-ldap delivers a successful SearchResultDone that carries no
		// controls as a silent end of the stream; the rootDSE answers a
		// paged base read that way.
		fc := &fakeConn{}
		fc.search = func(int, seenRequest) *fakeResponse {
			return &fakeResponse{items: []fakeItem{{entry: ldap.NewEntry("", map[string][]string{"highestCommittedUSN": {"42"}})}}}
		}
		c := testClient(fc, 1)
		var got []string
		res, err := c.Search(ctxTest(t), SearchRequest{Scope: ScopeBase, Filter: "(objectClass=*)"}, func(e *ldap.Entry) error {
			got = append(got, e.GetAttributeValue("highestCommittedUSN"))
			return nil
		})
		if err != nil || !res.Complete || res.Pages != 1 || res.Entries != 1 || !slices.Equal(got, []string{"42"}) {
			t.Errorf("Search = %+v, %v, %q; want complete, 1 page, 1 entry", res, err, got)
		}
	})
	t.Run("base scope: silent end on a closing connection fails", func(t *testing.T) {
		fc := &fakeConn{}
		fc.search = func(int, seenRequest) *fakeResponse { return fc.brokenStream() }
		c := testClient(fc, 1)
		res, err := c.Search(ctxTest(t), SearchRequest{Scope: ScopeBase, Filter: "(objectClass=*)"}, func(*ldap.Entry) error { return nil })
		if res.Complete || !errors.Is(err, retry.ErrRetryable) {
			t.Errorf("Search = %+v, %v; want incomplete and retryable", res, err)
		}
	})
	t.Run("error on a closing connection is retryable", func(t *testing.T) {
		fc := &fakeConn{}
		fc.search = func(int, seenRequest) *fakeResponse {
			return &fakeResponse{err: errors.New("unexpected EOF reading packet"), onEnd: func() { fc.setClosing(true) }}
		}
		c := testClient(fc, 1)
		res, err := c.Search(ctxTest(t), SearchRequest{Filter: "(objectClass=*)"}, func(*ldap.Entry) error { return nil })
		if res.Complete || !errors.Is(err, retry.ErrRetryable) || fc.closed != 1 {
			t.Errorf("Search = %+v, %v (closed %d); want incomplete, retryable, conn dropped", res, err, fc.closed)
		}
	})
}

func TestSearchRetriesServerBusyBeforeFirstEntry(t *testing.T) {
	fc := &fakeConn{search: func(n int, _ seenRequest) *fakeResponse {
		if n == 1 {
			return &fakeResponse{err: ldap.NewError(ldap.LDAPResultBusy, errors.New("busy"))}
		}
		return &fakeResponse{items: []fakeItem{{entry: userEntry(1)}, done("")}}
	}}
	c := testClient(fc, 3)
	res, err := c.Search(ctxTest(t), SearchRequest{Filter: "(objectClass=*)"}, func(*ldap.Entry) error { return nil })
	if err != nil || !res.Complete || res.Entries != 1 || res.Pages != 1 {
		t.Fatalf("Search = %+v, %v; want complete with 1 entry", res, err)
	}
	if fc.closed != 0 {
		t.Errorf("busy server: connection closed %d times, want 0", fc.closed)
	}
}

func TestSearchCallbackErrorStops(t *testing.T) {
	stop := errors.New("callback says stop")
	fc := &fakeConn{search: func(int, seenRequest) *fakeResponse {
		return &fakeResponse{items: []fakeItem{{entry: userEntry(1)}, {entry: userEntry(2)}, done("more")}}
	}}
	c := testClient(fc, 3)
	calls := 0
	res, err := c.Search(ctxTest(t), SearchRequest{Filter: "(objectClass=*)"}, func(*ldap.Entry) error { calls++; return stop })
	if !errors.Is(err, stop) || res.Complete {
		t.Errorf("Search = %+v, %v; want incomplete with the callback's error", res, err)
	}
	if err != stop {
		t.Errorf("callback error was wrapped: %v", err)
	}
	if calls != 1 {
		t.Errorf("callback called %d times, want 1 (no retry after a callback error)", calls)
	}
	// Page 2 is requested before fn sees page 1 (pipelining); nothing more.
	if n := len(fc.seen()); n > 2 {
		t.Errorf("%d searches, want at most 2", n)
	}
}
