package syncsim

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/cloud/emulator"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/plan"
	"github.com/hybridsync/hybridsync/reconcile/proxycalc"
)

const (
	scopeOU   = "OU=Sync,DC=contoso,DC=com"
	noSyncOU  = "OU=NoSync,OU=Sync,DC=contoso,DC=com"
	otherOU   = "OU=Other,DC=contoso,DC=com"
	licenseDN = "CN=EXO-Licensed,OU=Groups,DC=contoso,DC=com"
	initial   = "contoso.onmicrosoft.com"
	x500Addr  = "x500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=233c7693141f41d2b6ad1a2e24a5bf63-eed81dfa-24"
)

// fakeAD is an in-memory Source.
type fakeAD struct {
	mu         sync.Mutex
	objs       []*ad.Recipient // in read order
	incomplete bool
	streamErr  error
	readErr    error
	delay      time.Duration

	modifyErr     error
	modifies      []string // "dn attr" of each write
	streams       atomic.Int32
	inFlight, max atomic.Int32
}

func clone(r *ad.Recipient) *ad.Recipient {
	c := *r
	c.Members = slices.Clone(r.Members)
	c.ProxyAddresses.Values = slices.Clone(r.ProxyAddresses.Values)
	c.ProxyAddresses.Malformed = slices.Clone(r.ProxyAddresses.Malformed)
	return &c
}

func (f *fakeAD) add(rs ...*ad.Recipient) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range rs {
		f.objs = append(f.objs, clone(r))
	}
}

// edit changes the object with the DN (compared as AD does).
func (f *fakeAD) edit(t *testing.T, dn string, fn func(r *ad.Recipient)) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.objs {
		if ad.EqualDN(r.DN, dn) {
			fn(r)
			return
		}
	}
	t.Fatalf("fake AD has no %s", dn)
}

func (f *fakeAD) remove(dn string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objs = slices.DeleteFunc(f.objs, func(r *ad.Recipient) bool { return ad.EqualDN(r.DN, dn) })
}

func (f *fakeAD) StreamSyncCandidates(ctx context.Context, base string, fn func(*ad.Recipient) error) (adldap.ReadResult, error) {
	f.streams.Add(1)
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.max.Load()
		if n <= m || f.max.CompareAndSwap(m, n) {
			break
		}
	}
	f.mu.Lock()
	var objs []*ad.Recipient
	for _, r := range f.objs {
		if ad.IsUnder(r.DN, base) && r.SyncCandidate() {
			objs = append(objs, clone(r))
		}
	}
	incomplete, streamErr, delay := f.incomplete, f.streamErr, f.delay
	f.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	res := adldap.ReadResult{Complete: !incomplete && streamErr == nil, Pages: 1}
	for i, r := range objs {
		if streamErr != nil && i == len(objs)/2 {
			return res, streamErr
		}
		if err := fn(r); err != nil {
			return res, err
		}
		res.Entries++
	}
	return res, nil
}

func (f *fakeAD) ReadRecipient(ctx context.Context, dn string) (*ad.Recipient, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.readErr != nil {
		return nil, f.readErr
	}
	for _, r := range f.objs {
		if ad.EqualDN(r.DN, dn) {
			return clone(r), nil
		}
	}
	return nil, retry.New("fake.ReadRecipient", retry.NotFound, errors.New("object "+dn+" not found"))
}

// Modify supports what the simulator writes: adding mS-DS-ConsistencyGuid
// to an object that has none.
func (f *fakeAD) Modify(ctx context.Context, dn string, changes ...ad.Change) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.modifyErr != nil {
		return f.modifyErr
	}
	for _, r := range f.objs {
		if !ad.EqualDN(r.DN, dn) {
			continue
		}
		for _, ch := range changes {
			if ch.Op != ad.AddValues || ch.Attr != "mS-DS-ConsistencyGuid" || len(ch.Values) != 1 || r.ConsistencyGUID != "" {
				return retry.New("fake.Modify", retry.Conflict, errors.New("unsupported or conflicting change to "+dn))
			}
			g, err := ad.GUIDString([]byte(ch.Values[0]))
			if err != nil {
				return err
			}
			r.ConsistencyGUID = g
			f.modifies = append(f.modifies, dn+" "+ch.Attr)
		}
		return nil
	}
	return retry.New("fake.Modify", retry.NotFound, errors.New("object "+dn+" not found"))
}

func pa(vals ...string) ad.ProxyAddresses { return ad.ParseProxyAddresses(vals) }

func dn(cn, ou string) string { return "CN=" + cn + "," + ou }

// The lab: alice (licensed), bob (mail only, unlicensed), carol (remote
// mailbox, unlicensed), Sales (distribution group), Admins (mail-enabled
// security group), Partner (contact), a dynamic DL, a user in the no-sync
// OU, a user outside the scope, and the licence group (outside the scope).
var (
	aliceDN   = dn("Alice Smith", scopeOU)
	bobDN     = dn("Bob Jones", scopeOU)
	carolDN   = dn("Carol White", scopeOU)
	salesDN   = dn("Sales", scopeOU)
	adminsDN  = dn("Admins", scopeOU)
	partnerDN = dn("Partner", scopeOU)
	dynDN     = dn("All Staff", scopeOU)
	hiddenDN  = dn("Hidden User", noSyncOU)
	outsideDN = dn("Outside User", otherOU)
)

func lab() *fakeAD {
	f := &fakeAD{}
	f.add(
		&ad.Recipient{DN: aliceDN, GUID: "0a1b2c3d-0001-4a00-8000-000000000001", SID: "S-1-5-21-1-2-3-1101",
			Kind: ad.KindUser, Name: "Alice Smith", DisplayName: "Alice Smith", SAMAccountName: "alice",
			UPN: "alice.smith@contoso.com", Mail: "alice@contoso.com", MailNickname: "alice",
			ProxyAddresses: pa("SMTP:alice@contoso.com", "smtp:a.smith@contoso.com")},
		&ad.Recipient{DN: bobDN, GUID: "0a1b2c3d-0002-4a00-8000-000000000002", SID: "S-1-5-21-1-2-3-1102",
			Kind: ad.KindUser, Name: "Bob Jones", SAMAccountName: "bob",
			UPN: "bob.jones@contoso.com", Mail: "bob@contoso.com"},
		&ad.Recipient{DN: carolDN, GUID: "0a1b2c3d-0003-4a00-8000-000000000003", SID: "S-1-5-21-1-2-3-1103",
			Kind: ad.KindUser, Name: "Carol White", DisplayName: "Carol White", SAMAccountName: "carol",
			UPN: "carol.white@contoso.com", Mail: "carol@contoso.com", MailNickname: "carol",
			ProxyAddresses: pa("SMTP:carol@contoso.com"), RecipientTypeDetails: 2147483648, RemoteRecipientType: 4},
		&ad.Recipient{DN: salesDN, GUID: "0a1b2c3d-0004-4a00-8000-000000000004", SID: "S-1-5-21-1-2-3-1104",
			Kind: ad.KindGroup, Name: "Sales", DisplayName: "Sales Team", Mail: "sales@contoso.com", MailNickname: "sales",
			ProxyAddresses: pa("SMTP:sales@contoso.com"),
			GroupType:      &ad.GroupType{Raw: 8, Scope: ad.ScopeUniversal},
			Members:        []string{strings.ToUpper(aliceDN), bobDN, outsideDN, hiddenDN, dynDN, "CN=Gone,OU=Sync,DC=contoso,DC=com"}},
		&ad.Recipient{DN: adminsDN, GUID: "0a1b2c3d-0005-4a00-8000-000000000005", SID: "S-1-5-21-1-2-3-1105",
			Kind: ad.KindGroup, Name: "Admins", Mail: "admins@contoso.com", MailNickname: "admins",
			GroupType: &ad.GroupType{Raw: -2147483640, Scope: ad.ScopeUniversal, Security: true},
			Members:   []string{carolDN, salesDN}},
		&ad.Recipient{DN: partnerDN, GUID: "0a1b2c3d-0006-4a00-8000-000000000006",
			Kind: ad.KindContact, Name: "Partner", DisplayName: "Partner (Fabrikam)", Mail: "partner@fabrikam.com",
			MailNickname: "partner", ProxyAddresses: pa("SMTP:partner@fabrikam.com")},
		&ad.Recipient{DN: dynDN, GUID: "0a1b2c3d-0007-4a00-8000-000000000007",
			Kind: ad.KindDynamicDL, Name: "All Staff", Mail: "allstaff@contoso.com", MailNickname: "allstaff"},
		&ad.Recipient{DN: hiddenDN, GUID: "0a1b2c3d-0008-4a00-8000-000000000008",
			Kind: ad.KindUser, Name: "Hidden User", UPN: "hidden@contoso.com", Mail: "hidden@contoso.com"},
		&ad.Recipient{DN: outsideDN, GUID: "0a1b2c3d-0009-4a00-8000-000000000009",
			Kind: ad.KindUser, Name: "Outside User", UPN: "outside@contoso.com", Mail: "outside@contoso.com"},
		&ad.Recipient{DN: licenseDN, GUID: "0a1b2c3d-000a-4a00-8000-00000000000a",
			Kind: ad.KindGroup, Name: "EXO-Licensed", GroupType: &ad.GroupType{Raw: -2147483646, Scope: ad.ScopeGlobal, Security: true},
			Members: []string{strings.ToLower(aliceDN), outsideDN}},
	)
	return f
}

type testEnv struct {
	t   *testing.T
	f   *fakeAD
	em  *emulator.Emulator
	cfg Config
	now time.Time
}

func newEnv(t *testing.T, f *fakeAD) *testEnv {
	t.Helper()
	clock := func() time.Time { return time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC) }
	em, err := emulator.New(emulator.Config{
		TenantID: "11111111-2222-4333-8444-555555555555", ClientID: "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
		ClientSecret: "s3cret", InitialDomain: initial, AcceptedDomains: []string{"contoso.com"},
		StateFile: filepath.Join(t.TempDir(), "state.json"), Clock: clock, Rand: rand.New(rand.NewPCG(1, 2)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{t: t, f: f, em: em, cfg: Config{
		Scope: []string{scopeOU}, Exclude: []string{noSyncOU}, LicenseGroupDN: licenseDN, Clock: clock,
	}}
}

func (e *testEnv) run() Report {
	e.t.Helper()
	rep, err := Run(context.Background(), e.f, e.em, e.cfg)
	if err != nil {
		e.t.Fatalf("Run: %v", err)
	}
	if !rep.Complete || rep.Error != "" {
		e.t.Fatalf("report not complete: %+v", rep)
	}
	return rep
}

func (e *testEnv) seq() uint64 {
	var s uint64
	e.em.View(func(tx *emulator.Tx) error { s = tx.Seq(); return nil })
	return s
}

// obj returns the cloud twin of the AD object with guid (soft-deleted ones
// included), or nil.
func (e *testEnv) obj(kind cloud.Kind, guid string) *emulator.Object {
	e.t.Helper()
	iid, err := plan.ImmutableID(guid)
	if err != nil {
		e.t.Fatal(err)
	}
	var o *emulator.Object
	e.em.View(func(tx *emulator.Tx) error { o = tx.FindByImmutableID(kind, iid); return nil })
	return o
}

func (e *testEnv) rec(dnStr string) *ad.Recipient {
	e.t.Helper()
	r, err := e.f.ReadRecipient(context.Background(), dnStr)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *testEnv) twin(dnStr string) *emulator.Object {
	e.t.Helper()
	r := e.rec(dnStr)
	k, ok := plan.CloudKind(r.Kind)
	if !ok {
		e.t.Fatalf("%s is not synced", dnStr)
	}
	return e.obj(k, r.GUID)
}

func (e *testEnv) exportErrors() []emulator.ExportError {
	var out []emulator.ExportError
	e.em.View(func(tx *emulator.Tx) error { out = tx.ExportErrors(); return nil })
	return out
}

func wantAddrs(t *testing.T, o *emulator.Object, want ...string) {
	t.Helper()
	if o == nil {
		t.Fatal("object missing")
	}
	if !reflect.DeepEqual(o.ProxyAddresses, want) {
		t.Errorf("%s proxyAddresses = %q, want %q", o.DisplayName, o.ProxyAddresses, want)
	}
}

func TestImmutableID(t *testing.T) {
	// objectGUID 0a1b2c3d-0001-4a00-8000-000000000001 is stored
	// 3d 2c 1b 0a 01 00 00 4a 80 00 ...; Entra's immutableId is its base64.
	got, err := plan.ImmutableID("0a1b2c3d-0001-4a00-8000-000000000001")
	if err != nil || got != "PSwbCgEAAEqAAAAAAAAAAQ==" {
		t.Errorf("ImmutableID = %q, %v", got, err)
	}
	if _, err := plan.ImmutableID("not-a-guid"); err == nil {
		t.Error("bad GUID accepted")
	}
}

func TestFirstCycleCreates(t *testing.T) {
	e := newEnv(t, lab())
	rep := e.run()
	// alice, bob, carol, Sales, Admins, Partner, the dynamic DL; not the
	// hidden (excluded) user, not the outside user or licence group.
	if rep.Read != 7 || rep.Created != 6 || rep.SkippedDynamicDL != 1 || rep.Excluded != 1 || rep.Updated != 0 ||
		rep.Deleted != 0 || rep.Unchanged != 0 || len(rep.ExportErrors) != 0 {
		t.Errorf("report = %+v", rep)
	}
	if rep.Started.IsZero() || rep.Finished.IsZero() {
		t.Error("report times not set")
	}

	alice := e.twin(aliceDN)
	iid, _ := plan.ImmutableID("0a1b2c3d-0001-4a00-8000-000000000001")
	if alice.Kind != cloud.KindUser || !alice.OnPremisesSyncEnabled || !alice.SyncManaged() || alice.OnPremisesImmutableID != iid ||
		alice.OnPremisesSecurityIdentifier != "S-1-5-21-1-2-3-1101" || alice.OnPremisesDistinguishedName != aliceDN ||
		alice.DisplayName != "Alice Smith" || alice.UserPrincipalName != "alice.smith@contoso.com" ||
		alice.Mail != "alice@contoso.com" || alice.MailNickname != "alice" || !alice.ExchangeLicensed ||
		alice.RecipientTypeDetails() != "UserMailbox" {
		t.Errorf("alice = %+v", alice)
	}
	// Licensed: MOERA and UPN as secondaries.
	wantAddrs(t, alice, "SMTP:alice@contoso.com", "smtp:a.smith@contoso.com", "smtp:alice.smith@contoso.com",
		"smtp:alice@contoso.onmicrosoft.com")

	// Unlicensed mail-only user: not a recipient, just its primary.
	bob := e.twin(bobDN)
	if bob.ExchangeLicensed || bob.DisplayName != "Bob Jones" || bob.Mail != "bob@contoso.com" || bob.MailNickname != "bob" ||
		bob.UserPrincipalName != "bob.jones@contoso.com" || bob.RecipientTypeDetails() != "MailUser" {
		t.Errorf("bob = %+v", bob)
	}
	wantAddrs(t, bob, "SMTP:bob@contoso.com")

	// Remote mailbox without licence: MOERA and UPN all the same.
	carol := e.twin(carolDN)
	if carol.ExchangeLicensed {
		t.Error("carol licensed")
	}
	wantAddrs(t, carol, "SMTP:carol@contoso.com", "smtp:carol.white@contoso.com", "smtp:carol@contoso.onmicrosoft.com")

	sales := e.twin(salesDN)
	if sales.Kind != cloud.KindGroup || !sales.MailEnabled || sales.SecurityEnabled || len(sales.GroupTypes) != 0 ||
		sales.DisplayName != "Sales Team" || sales.GroupType() != cloud.GroupDistribution || sales.UserPrincipalName != "" {
		t.Errorf("sales = %+v", sales)
	}
	wantAddrs(t, sales, "SMTP:sales@contoso.com", "smtp:sales@contoso.onmicrosoft.com")
	// Members: alice (DN in another case) and bob; the outside user, the
	// excluded user, the dynamic DL and a missing object are dropped.
	if want := sortedIDs(alice.ID, bob.ID); !reflect.DeepEqual(sortedIDs(sales.Members...), want) {
		t.Errorf("sales members = %v, want %v", sales.Members, want)
	}
	admins := e.twin(adminsDN)
	if !admins.SecurityEnabled || !admins.MailEnabled || admins.GroupType() != cloud.GroupMailEnabledSecurity ||
		admins.DisplayName != "Admins" {
		t.Errorf("admins = %+v", admins)
	}
	if want := sortedIDs(carol.ID, sales.ID); !reflect.DeepEqual(sortedIDs(admins.Members...), want) {
		t.Errorf("admins members = %v, want %v", admins.Members, want)
	}
	if rep.DroppedMembers != 4 {
		t.Errorf("DroppedMembers = %d, want 4", rep.DroppedMembers)
	}

	partner := e.twin(partnerDN)
	if partner.Kind != cloud.KindContact || partner.Mail != "partner@fabrikam.com" || partner.DisplayName != "Partner (Fabrikam)" ||
		partner.RecipientTypeDetails() != "MailContact" {
		t.Errorf("partner = %+v", partner)
	}
	wantAddrs(t, partner, "SMTP:partner@fabrikam.com")

	for _, d := range []string{hiddenDN, outsideDN} {
		if o := e.twin(d); o != nil {
			t.Errorf("%s synced: %+v", d, o)
		}
	}
	if o := e.obj(cloud.KindGroup, "0a1b2c3d-0007-4a00-8000-000000000007"); o != nil {
		t.Errorf("dynamic DL synced: %+v", o)
	}
	var n int
	e.em.View(func(tx *emulator.Tx) error { n = len(tx.List("")); return nil })
	if n != 6 {
		t.Errorf("tenant holds %d objects, want 6", n)
	}

	// The addresses are ProxyCalc's.
	r := e.rec(aliceDN)
	res := proxycalc.Compute(proxycalc.Input{Kind: "user", Mail: r.Mail, MailNickname: r.MailNickname, UPN: r.UPN,
		ProxyAddresses: r.ProxyAddresses.Raw(), ExchangeRecipient: true},
		proxycalc.Tenant{InitialDomain: initial, VerifiedDomains: []string{initial, "contoso.com"}}, nil, proxycalc.Options{})
	if !reflect.DeepEqual(res.Values(), alice.ProxyAddresses) {
		t.Errorf("alice %q, ProxyCalc %q", alice.ProxyAddresses, res.Values())
	}
}

func sortedIDs(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

func TestSecondCycleChangesNothing(t *testing.T) {
	e := newEnv(t, lab())
	e.run()
	seq := e.seq()
	rep := e.run()
	if rep.Unchanged != 6 || rep.Created+rep.Updated+rep.Deleted != 0 || rep.SkippedDynamicDL != 1 {
		t.Errorf("report = %+v", rep)
	}
	if got := e.seq(); got != seq {
		t.Errorf("seq %d -> %d: a cycle without AD changes made delta changes", seq, got)
	}
}

func TestProxyAddressChangeFlows(t *testing.T) {
	e := newEnv(t, lab())
	e.run()
	before := e.twin(aliceDN)
	e.f.edit(t, aliceDN, func(r *ad.Recipient) {
		r.ProxyAddresses = pa("SMTP:alice.smith@contoso.com", "smtp:alice@contoso.com", "smtp:asmith@contoso.com",
			"smtp:alice@fabrikam.com") // unverified: dropped for a recipient
	})
	seq := e.seq()
	rep := e.run()
	if rep.Updated != 1 || rep.Unchanged != 5 {
		t.Errorf("report = %+v", rep)
	}
	after := e.twin(aliceDN)
	r := e.rec(aliceDN)
	res := proxycalc.Compute(proxycalc.Input{Kind: "user", Mail: r.Mail, MailNickname: r.MailNickname, UPN: r.UPN,
		ProxyAddresses: r.ProxyAddresses.Raw(), ExchangeRecipient: true},
		proxycalc.Tenant{InitialDomain: initial, VerifiedDomains: []string{initial, "contoso.com"}},
		&proxycalc.Previous{Mail: before.Mail, MailNickname: before.MailNickname, ProxyAddresses: before.ProxyAddresses},
		proxycalc.Options{})
	if !reflect.DeepEqual(after.ProxyAddresses, res.Values()) || after.Mail != res.Mail {
		t.Errorf("alice = %q (%s), ProxyCalc says %q (%s)", after.ProxyAddresses, after.Mail, res.Values(), res.Mail)
	}
	wantAddrs(t, after, "SMTP:alice.smith@contoso.com", "smtp:alice@contoso.com", "smtp:alice@contoso.onmicrosoft.com",
		"smtp:asmith@contoso.com")
	if e.seq() == seq {
		t.Error("no delta change recorded")
	}
}

// TestX500OnlyMailChangeDoesNotFlow: once Exchange hybrid wrote an x500 to
// proxyAddresses, a mail change no longer flows.
func TestX500OnlyMailChangeDoesNotFlow(t *testing.T) {
	f := &fakeAD{}
	userDN := dn("Mail Only", scopeOU)
	f.add(&ad.Recipient{DN: userDN, GUID: "5eed0001-0000-4000-8000-000000000001", Kind: ad.KindUser, Name: "Mail Only",
		UPN: "mailOnly@contoso.com", Mail: "mailOnly@contoso.com"},
		&ad.Recipient{DN: licenseDN, GUID: "5eed0001-0000-4000-8000-00000000000a", Kind: ad.KindGroup, Name: "EXO-Licensed"})
	e := newEnv(t, f)

	e.run()
	u := e.twin(userDN)
	wantAddrs(t, u, "SMTP:mailOnly@contoso.com") // not a recipient yet

	f.edit(t, licenseDN, func(r *ad.Recipient) { r.Members = []string{userDN} })
	e.run()
	u = e.twin(userDN)
	if !u.ExchangeLicensed {
		t.Error("licence not assigned")
	}
	wantAddrs(t, u, "SMTP:mailOnly@contoso.com", "smtp:mailOnly@contoso.onmicrosoft.com")

	f.edit(t, userDN, func(r *ad.Recipient) {
		r.ProxyAddresses = pa(x500Addr)
		r.Mail = "TotallyNewAddress@contoso.com"
	})
	e.run()
	u = e.twin(userDN)
	if u.Mail != "mailOnly@contoso.com" {
		t.Errorf("mail = %q: the mail change flowed", u.Mail)
	}
	wantAddrs(t, u, "SMTP:mailOnly@contoso.com", "smtp:mailOnly@contoso.onmicrosoft.com", x500Addr)

	f.edit(t, userDN, func(r *ad.Recipient) {
		r.ProxyAddresses = pa("SMTP:TotallyNewAddress@contoso.com", x500Addr)
	})
	e.run()
	u = e.twin(userDN)
	if u.Mail != "TotallyNewAddress@contoso.com" {
		t.Errorf("mail = %q after SMTP: was added", u.Mail)
	}
}

func TestOutOfScopeDeleted(t *testing.T) {
	e := newEnv(t, lab())
	e.run()
	bob, sales := e.twin(bobDN), e.twin(salesDN)
	partner := e.twin(partnerDN)

	// bob moves out of the scope; the contact is mail-disabled; alice moves
	// into the no-sync OU.
	newBobDN := dn("Bob Jones", otherOU)
	e.f.edit(t, bobDN, func(r *ad.Recipient) { r.DN = newBobDN })
	e.f.edit(t, partnerDN, func(r *ad.Recipient) { r.Mail, r.MailNickname, r.ProxyAddresses = "", "", ad.ProxyAddresses{} })
	e.f.edit(t, aliceDN, func(r *ad.Recipient) { r.DN = dn("Alice Smith", noSyncOU) })
	rep := e.run()
	if rep.Deleted != 3 || rep.Excluded != 2 {
		t.Errorf("report = %+v", rep)
	}
	for _, id := range []string{bob.ID, partner.ID} {
		var o *emulator.Object
		e.em.View(func(tx *emulator.Tx) error { o = tx.Get(id); return nil })
		if o == nil || !o.Deleted() {
			t.Errorf("%s not soft-deleted: %+v", id, o)
		}
	}
	if a := e.obj(cloud.KindUser, "0a1b2c3d-0001-4a00-8000-000000000001"); a == nil || !a.Deleted() {
		t.Errorf("alice (moved to the no-sync OU) not deleted: %+v", a)
	}
	if s := e.twin(salesDN); len(s.Members) != 0 {
		t.Errorf("sales members = %v after its members left", s.Members)
	}
	_ = sales

	// Back in scope: restored (hard match on the soft-deleted object).
	e.f.edit(t, newBobDN, func(r *ad.Recipient) { r.DN = bobDN })
	rep = e.run()
	if rep.Created != 1 || rep.Deleted != 0 {
		t.Errorf("report = %+v", rep)
	}
	if b := e.twin(bobDN); b == nil || b.Deleted() || b.ID != bob.ID {
		t.Errorf("bob not restored: %+v", b)
	}
	if s := e.twin(salesDN); !reflect.DeepEqual(s.Members, []string{bob.ID}) {
		t.Errorf("sales members = %v, want bob", s.Members)
	}
}

func TestCloudManagedGroupLeftAlone(t *testing.T) {
	e := newEnv(t, lab())
	e.run()
	sales := e.twin(salesDN)
	if err := e.em.Update(func(tx *emulator.Tx) error { return tx.SetCloudManaged(sales.ID, true) }); err != nil {
		t.Fatal(err)
	}
	sales = e.twin(salesDN)
	e.f.edit(t, salesDN, func(r *ad.Recipient) {
		r.ProxyAddresses = pa("SMTP:sales@contoso.com", "smtp:vertrieb@contoso.com")
		r.Members = nil
	})
	seq := e.seq()
	rep := e.run()
	if rep.SkippedCloudManaged != 1 || rep.Unchanged != 5 || e.seq() != seq {
		t.Errorf("report = %+v, seq %d -> %d", rep, seq, e.seq())
	}
	if got := e.twin(salesDN); !reflect.DeepEqual(got, sales) {
		t.Errorf("cloud-managed group changed:\n%+v\n%+v", got, sales)
	}
	// Admins still lists it as a member.
	if a := e.twin(adminsDN); !slices.Contains(a.Members, sales.ID) {
		t.Errorf("admins members = %v, want sales kept", a.Members)
	}

	// Removed from AD: not deleted either.
	e.f.remove(salesDN)
	rep = e.run()
	if rep.Deleted != 0 {
		t.Errorf("report = %+v", rep)
	}
	if got := e.obj(cloud.KindGroup, "0a1b2c3d-0004-4a00-8000-000000000004"); got == nil || got.Deleted() {
		t.Errorf("cloud-managed group deleted: %+v", got)
	}
}

func TestDuplicateAddressExportError(t *testing.T) {
	e := newEnv(t, lab())
	e.f.edit(t, carolDN, func(r *ad.Recipient) {
		r.ProxyAddresses = pa("SMTP:carol@contoso.com", "smtp:a.smith@contoso.com", "smtp:cw@contoso.com")
	})
	rep := e.run()
	if len(rep.ExportErrors) != 1 {
		t.Fatalf("export errors = %+v, want 1", rep.ExportErrors)
	}
	carol, alice := e.twin(carolDN), e.twin(aliceDN)
	x := rep.ExportErrors[0]
	if x.ErrorType != "AttributeValueMustBeUnique" || x.Attribute != "proxyAddresses" || x.Value != "smtp:a.smith@contoso.com" ||
		x.ObjectID != carol.ID || x.ImmutableID != carol.OnPremisesImmutableID || x.Time.IsZero() ||
		!strings.Contains(x.Message, "[ProxyAddresses smtp:a.smith@contoso.com;]") ||
		!strings.Contains(x.Message, "may already be associated with another object") {
		t.Errorf("export error = %+v", x)
	}
	if got := e.exportErrors(); !reflect.DeepEqual(got, rep.ExportErrors) {
		t.Errorf("tenant export errors = %+v, report %+v", got, rep.ExportErrors)
	}
	// The rest of carol synced; alice keeps the value.
	wantAddrs(t, carol, "SMTP:carol@contoso.com", "smtp:carol.white@contoso.com", "smtp:carol@contoso.onmicrosoft.com", "smtp:cw@contoso.com")
	if !slices.Contains(alice.ProxyAddresses, "smtp:a.smith@contoso.com") {
		t.Errorf("alice lost the value: %q", alice.ProxyAddresses)
	}

	// Steady state: the error stays, once, and nothing changes.
	seq := e.seq()
	rep = e.run()
	if len(rep.ExportErrors) != 1 || len(e.exportErrors()) != 1 || e.seq() != seq || rep.Unchanged != 6 {
		t.Errorf("second cycle: report %+v, tenant errors %+v, seq %d -> %d", rep, e.exportErrors(), seq, e.seq())
	}

	// alice gives the value up: carol takes it in the same cycle and her
	// error is cleared.
	e.f.edit(t, aliceDN, func(r *ad.Recipient) { r.ProxyAddresses = pa("SMTP:alice@contoso.com") })
	rep = e.run()
	if len(rep.ExportErrors) != 0 || len(e.exportErrors()) != 0 {
		t.Errorf("errors not cleared: %+v", e.exportErrors())
	}
	if c := e.twin(carolDN); !slices.Contains(c.ProxyAddresses, "smtp:a.smith@contoso.com") {
		t.Errorf("carol = %q, want the released value", c.ProxyAddresses)
	}

	// alice (synced first) wants carol's cw@ while carol gives it up in the
	// same cycle: the second pass gives it to alice at once.
	e.f.edit(t, aliceDN, func(r *ad.Recipient) { r.ProxyAddresses = pa("SMTP:alice@contoso.com", "smtp:cw@contoso.com") })
	e.f.edit(t, carolDN, func(r *ad.Recipient) { r.ProxyAddresses = pa("SMTP:carol@contoso.com", "smtp:a.smith@contoso.com") })
	rep = e.run()
	if len(rep.ExportErrors) != 0 || len(e.exportErrors()) != 0 || rep.Updated != 2 {
		t.Errorf("report %+v, tenant errors %+v", rep, e.exportErrors())
	}
	if a := e.twin(aliceDN); !slices.Contains(a.ProxyAddresses, "smtp:cw@contoso.com") {
		t.Errorf("alice = %q, want cw@ released by carol", a.ProxyAddresses)
	}
}

func TestDuplicatePrimaryPromotesMOERA(t *testing.T) {
	e := newEnv(t, lab())
	// carol's primary is alice's.
	e.f.edit(t, carolDN, func(r *ad.Recipient) { r.ProxyAddresses = pa("SMTP:alice@contoso.com") })
	rep := e.run()
	if len(rep.ExportErrors) != 1 || rep.ExportErrors[0].Value != "SMTP:alice@contoso.com" {
		t.Fatalf("export errors = %+v", rep.ExportErrors)
	}
	c := e.twin(carolDN)
	if c.Mail != "carol@contoso.onmicrosoft.com" {
		t.Errorf("carol mail = %q", c.Mail)
	}
	wantAddrs(t, c, "SMTP:carol@contoso.onmicrosoft.com", "smtp:carol.white@contoso.com")
	seq := e.seq()
	e.run()
	if e.seq() != seq || len(e.exportErrors()) != 1 {
		t.Errorf("not stable: seq %d -> %d, errors %+v", seq, e.seq(), e.exportErrors())
	}
}

func TestUPNConflictPlaceholder(t *testing.T) {
	e := newEnv(t, lab())
	var cloudOnly *emulator.Object
	if err := e.em.Update(func(tx *emulator.Tx) (err error) {
		cloudOnly, err = tx.Put(&emulator.Object{Kind: cloud.KindUser, DisplayName: "Cloud Bob", UserPrincipalName: "bob.jones@contoso.com"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	rep := e.run()
	bob := e.twin(bobDN)
	if !regexp.MustCompile(`^bob\.jones[0-9]{4}@contoso\.onmicrosoft\.com$`).MatchString(bob.UserPrincipalName) {
		t.Errorf("bob UPN = %q, want a MOERA-form placeholder", bob.UserPrincipalName)
	}
	if len(rep.ExportErrors) != 1 || rep.ExportErrors[0].Attribute != "userPrincipalName" ||
		rep.ExportErrors[0].Value != "bob.jones@contoso.com" || rep.ExportErrors[0].ObjectID != bob.ID ||
		!strings.Contains(rep.ExportErrors[0].Message, "[UserPrincipalName bob.jones@contoso.com;]") {
		t.Errorf("export errors = %+v", rep.ExportErrors)
	}
	wantAddrs(t, bob, "SMTP:bob@contoso.com")
	seq := e.seq()
	e.run()
	if e.seq() != seq || e.twin(bobDN).UserPrincipalName != bob.UserPrincipalName {
		t.Error("placeholder UPN not stable")
	}
	// The cloud-only user goes away: bob gets his UPN and the error clears.
	if err := e.em.Update(func(tx *emulator.Tx) error { return tx.HardDelete(cloudOnly.ID) }); err != nil {
		t.Fatal(err)
	}
	rep = e.run()
	if got := e.twin(bobDN).UserPrincipalName; got != "bob.jones@contoso.com" || len(rep.ExportErrors) != 0 {
		t.Errorf("bob UPN = %q, errors %+v", got, rep.ExportErrors)
	}
}

func TestMalformedAddressDataValidationFailed(t *testing.T) {
	e := newEnv(t, lab())
	e.f.edit(t, bobDN, func(r *ad.Recipient) {
		r.ProxyAddresses = pa("SMTP:bob@contoso.com", "smtp:bob jones@contoso.com")
	})
	rep := e.run()
	if len(rep.ExportErrors) != 1 {
		t.Fatalf("export errors = %+v", rep.ExportErrors)
	}
	x := rep.ExportErrors[0]
	bob := e.twin(bobDN)
	if x.ErrorType != "DataValidationFailed" || x.Attribute != "proxyAddresses" || x.Value != "smtp:bob jones@contoso.com" ||
		x.ObjectID != bob.ID || !strings.Contains(x.Message, "[ProxyAddresses], is not valid") {
		t.Errorf("export error = %+v", x)
	}
	wantAddrs(t, bob, "SMTP:bob@contoso.com", "smtp:bob.jones@contoso.com")
	// Fixed on-premises: the error clears.
	e.f.edit(t, bobDN, func(r *ad.Recipient) { r.ProxyAddresses = pa("SMTP:bob@contoso.com") })
	if rep := e.run(); len(rep.ExportErrors) != 0 || len(e.exportErrors()) != 0 {
		t.Errorf("errors not cleared: %+v", e.exportErrors())
	}
}

func TestDeleteThreshold(t *testing.T) {
	e := newEnv(t, lab())
	e.cfg.DeleteThreshold = 2
	e.run()
	seq := e.seq()
	e.f.remove(bobDN)
	e.f.remove(carolDN)
	e.f.remove(partnerDN)
	e.f.edit(t, aliceDN, func(r *ad.Recipient) { r.DisplayName = "Alice S." }) // not applied either
	rep, err := Run(context.Background(), e.f, e.em, e.cfg)
	if !errors.Is(err, ErrDeletionThresholdExceeded) || !strings.Contains(err.Error(), "stopped-deletion-threshold-exceeded") {
		t.Fatalf("err = %v", err)
	}
	if rep.Complete || !rep.DeletionThresholdExceeded || rep.PendingDeletions != 3 || rep.Deleted != 0 || rep.Error == "" {
		t.Errorf("report = %+v", rep)
	}
	if e.seq() != seq || e.twin(aliceDN).DisplayName != "Alice Smith" {
		t.Error("a refused cycle applied changes")
	}
	// Two deletions are within the threshold.
	e.f.add(&ad.Recipient{DN: partnerDN, GUID: "0a1b2c3d-0006-4a00-8000-000000000006", Kind: ad.KindContact,
		Name: "Partner", DisplayName: "Partner (Fabrikam)", Mail: "partner@fabrikam.com", MailNickname: "partner",
		ProxyAddresses: pa("SMTP:partner@fabrikam.com")})
	// alice's display name, and Sales and Admins losing bob and carol.
	if rep := e.run(); rep.Deleted != 2 || rep.Updated != 3 {
		t.Errorf("report = %+v", rep)
	}
}

func TestIncompleteReadAppliesNothing(t *testing.T) {
	cases := []struct {
		name    string
		breakIt func(f *fakeAD)
	}{
		{"incomplete", func(f *fakeAD) { f.incomplete = true }},
		{"stream error", func(f *fakeAD) { f.streamErr = errors.New("ldap: connection reset") }},
		{"licence group error", func(f *fakeAD) { f.readErr = retry.New("ad.find", retry.Retryable, errors.New("busy")) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, lab())
			e.run()
			seq := e.seq()
			bob := e.twin(bobDN)
			e.f.remove(bobDN)
			e.f.edit(t, aliceDN, func(r *ad.Recipient) { r.DisplayName = "Changed" })
			e.f.mu.Lock()
			tc.breakIt(e.f)
			e.f.mu.Unlock()
			rep, err := Run(context.Background(), e.f, e.em, e.cfg)
			if err == nil || rep.Complete || rep.Error == "" {
				t.Fatalf("Run = %+v, %v; want an error", rep, err)
			}
			if tc.name == "incomplete" && !errors.Is(err, ErrIncompleteRead) {
				t.Errorf("err = %v, want ErrIncompleteRead", err)
			}
			if b := e.obj(cloud.KindUser, "0a1b2c3d-0002-4a00-8000-000000000002"); e.seq() != seq || b == nil || b.Deleted() || b.ID != bob.ID {
				t.Error("an incomplete read applied changes")
			}
		})
	}
	t.Run("empty scope refused", func(t *testing.T) {
		e := newEnv(t, lab())
		e.cfg.Scope = nil
		if _, err := Run(context.Background(), e.f, e.em, e.cfg); err == nil {
			t.Error("empty scope accepted")
		}
	})
}

func TestMissingLicenceGroupMeansNobodyLicensed(t *testing.T) {
	e := newEnv(t, lab())
	e.cfg.LicenseGroupDN = "CN=No Such Group,OU=Groups,DC=contoso,DC=com"
	e.run()
	alice := e.twin(aliceDN)
	if alice.ExchangeLicensed {
		t.Error("alice licensed")
	}
	// proxyAddresses supplies SMTP values, so the UPN is still a secondary
	// but there is no MOERA.
	wantAddrs(t, alice, "SMTP:alice@contoso.com", "smtp:a.smith@contoso.com", "smtp:alice.smith@contoso.com")
	// The licence group appears: alice becomes licensed.
	e.cfg.LicenseGroupDN = licenseDN
	if rep := e.run(); rep.Updated != 1 {
		t.Errorf("report = %+v", rep)
	}
	if a := e.twin(aliceDN); !a.ExchangeLicensed || !slices.Contains(a.ProxyAddresses, "smtp:alice@contoso.onmicrosoft.com") {
		t.Errorf("alice = %+v", a)
	}
}

func TestUPNFallbacks(t *testing.T) {
	f := &fakeAD{}
	noUPN := dn("No UPN", scopeOU)
	foreign := dn("Foreign", scopeOU)
	f.add(&ad.Recipient{DN: noUPN, GUID: "0b000000-0000-4000-8000-000000000001", Kind: ad.KindUser, Name: "No UPN",
		SAMAccountName: "noupn", Mail: "noupn@contoso.com"},
		&ad.Recipient{DN: foreign, GUID: "0b000000-0000-4000-8000-000000000002", Kind: ad.KindUser, Name: "Foreign",
			UPN: "foreign@corp.local", Mail: "foreign@contoso.com"})
	e := newEnv(t, f)
	e.cfg.LicenseGroupDN = ""
	e.run()
	if got := e.twin(noUPN).UserPrincipalName; got != "noupn@"+initial {
		t.Errorf("UPN = %q", got)
	}
	if got := e.twin(foreign).UserPrincipalName; got != "foreign@"+initial {
		t.Errorf("UPN = %q", got)
	}
}

func TestLoopTriggerAndLast(t *testing.T) {
	e := newEnv(t, lab())
	l := NewLoop(e.f, e.em, e.cfg, time.Hour)
	if _, ok := l.Last(); ok {
		t.Error("Last before any cycle")
	}
	rep, err := l.Trigger(context.Background())
	if err != nil || rep.Created != 6 {
		t.Fatalf("Trigger = %+v, %v", rep, err)
	}
	last, ok := l.Last()
	if !ok || !reflect.DeepEqual(last, rep) {
		t.Errorf("Last = %+v, %v; want %+v", last, ok, rep)
	}
	// A failed cycle is reported by Last too.
	e.f.mu.Lock()
	e.f.incomplete = true
	e.f.mu.Unlock()
	if _, err := l.Trigger(context.Background()); err == nil {
		t.Error("incomplete cycle succeeded")
	}
	if last, _ := l.Last(); last.Complete || last.Error == "" {
		t.Errorf("Last = %+v", last)
	}
	// A cancelled context stops a Trigger waiting for its turn.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l.sem <- struct{}{}
	if _, err := l.Trigger(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Trigger with a cancelled ctx = %v", err)
	}
	<-l.sem
}

func TestLoopTriggersSerialized(t *testing.T) {
	e := newEnv(t, lab())
	e.f.delay = 5 * time.Millisecond
	l := NewLoop(e.f, e.em, e.cfg, time.Hour)
	var wg sync.WaitGroup
	reports := make([]Report, 8)
	for i := range reports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := l.Trigger(context.Background())
			if err != nil {
				t.Errorf("Trigger: %v", err)
			}
			reports[i] = rep
		}()
	}
	wg.Wait()
	if m := e.f.max.Load(); m != 1 {
		t.Errorf("%d reads ran at once: cycles overlapped", m)
	}
	created := 0
	for _, r := range reports {
		created += r.Created
		if r.Created == 0 && r.Unchanged != 6 {
			t.Errorf("report = %+v", r)
		}
	}
	if created != 6 {
		t.Errorf("objects created over all cycles = %d, want 6", created)
	}
}

func TestLoopStartPeriodic(t *testing.T) {
	e := newEnv(t, lab())
	l := NewLoop(e.f, e.em, e.cfg, 10*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	l.Start(ctx)
	l.Start(ctx) // no second loop
	deadline := time.Now().Add(5 * time.Second)
	for e.f.streams.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := l.Trigger(context.Background()); err != nil {
		t.Errorf("Trigger while the loop runs: %v", err)
	}
	cancel()
	l.Wait()
	if n := e.f.streams.Load(); n < 3 {
		t.Errorf("%d cycles ran", n)
	}
	if last, ok := l.Last(); !ok || !last.Complete {
		t.Errorf("Last = %+v, %v", last, ok)
	}
	if e.f.max.Load() != 1 {
		t.Error("cycles overlapped")
	}
}

// A distribution group moved out of the sync scope (into the no-sync OU,
// as a migration does) is deleted for good at the next cycle: it is not in
// the recycle bin and its addresses are free for a cloud group at once.
func TestGroupMovedOutOfScopeIsDeletedForGood(t *testing.T) {
	e := newEnv(t, lab())
	e.run()
	sales := e.twin(salesDN)
	movedDN := dn("Sales", noSyncOU)
	e.f.edit(t, salesDN, func(r *ad.Recipient) { r.DN = movedDN })
	rep := e.run()
	if rep.Deleted != 1 {
		t.Fatalf("report = %+v, want 1 deletion", rep)
	}
	err := e.em.Update(func(tx *emulator.Tx) error {
		if o := tx.Get(sales.ID); o != nil {
			t.Errorf("twin still there (deleted %v): %+v", o.Deleted(), o)
		}
		if len(tx.ListDeleted(cloud.KindGroup)) != 0 {
			t.Error("a group went to the recycle bin")
		}
		if o := tx.FindByProxyAddress("sales@contoso.com"); o != nil {
			t.Errorf("sales@contoso.com still held by %s", o.ID)
		}
		// A cloud list takes the address.
		_, err := tx.Put(&emulator.Object{Kind: cloud.KindGroup, DisplayName: "Sales (cloud)", MailEnabled: true, Mail: "sales@contoso.com",
			MailNickname: "sales", ProxyAddresses: []string{"SMTP:sales@contoso.com"}})
		return err
	})
	if err != nil {
		t.Fatalf("cloud list taking the address: %v", err)
	}
	if admins := e.twin(adminsDN); slices.Contains(admins.Members, sales.ID) {
		t.Errorf("Admins still lists the deleted twin: %v", admins.Members)
	}
	// The cloud list is not synced: later cycles leave it alone.
	if rep := e.run(); rep.Deleted != 0 || rep.Created != 0 {
		t.Errorf("next cycle: %+v", rep)
	}
}

// A group's owners, moderation, delivery restrictions, send-on-behalf,
// flags and extension attributes reach its twin's Exchange attributes;
// links to objects the cycle does not sync are dropped.
func TestGroupExchangeAttributesFlow(t *testing.T) {
	e := newEnv(t, lab())
	e.f.edit(t, salesDN, func(r *ad.Recipient) {
		r.ManagedBy, r.CoManagedBy = aliceDN, []string{bobDN, outsideDN}
		r.ModerationEnabled, r.ModeratedBy, r.BypassModeration = true, []string{carolDN}, []string{aliceDN}
		r.AcceptFrom, r.AcceptFromMembersOf = []string{aliceDN}, []string{adminsDN}
		r.RejectFrom, r.RejectFromMembersOf = []string{bobDN}, []string{hiddenDN}
		r.SendOnBehalf = []string{carolDN}
		r.HiddenFromGAL, r.RequireSenderAuth = true, true
		r.ExtensionAttributes = map[string]string{"extensionAttribute1": "one", "extensionAttribute15": "fifteen"}
	})
	e.run()
	alice, bob, carol, admins := e.twin(aliceDN).ID, e.twin(bobDN).ID, e.twin(carolDN).ID, e.twin(adminsDN).ID
	x := e.twin(salesDN).Exchange
	checks := map[string]bool{
		"owners":         slices.Equal(x.ManagedBy, []string{alice, bob}),
		"moderation":     x.ModerationEnabled && slices.Equal(x.ModeratedBy, []string{carol}),
		"bypass":         slices.Equal(x.BypassModerationFromSendersOrMembers, []string{alice}),
		"accept":         slices.Equal(x.AcceptMessagesOnlyFromSendersOrMembers, []string{alice, admins}),
		"reject":         slices.Equal(x.RejectMessagesFromSendersOrMembers, []string{bob}),
		"send on behalf": slices.Equal(x.GrantSendOnBehalfTo, []string{carol}),
		"flags":          x.HiddenFromAddressListsEnabled && x.RequireSenderAuthenticationEnabled,
		"custom":         x.CustomAttributes[0] == "one" && x.CustomAttributes[14] == "fifteen" && x.CustomAttributes[1] == "",
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("%s: %+v", what, x)
		}
	}
	if rep := e.run(); rep.Updated != 0 {
		t.Errorf("second cycle updated %d objects", rep.Updated)
	}
	e.f.edit(t, salesDN, func(r *ad.Recipient) { r.ModeratedBy, r.HiddenFromGAL = nil, false })
	if rep := e.run(); rep.Updated != 1 {
		t.Errorf("after a change: updated %d, want 1", rep.Updated)
	}
	if x := e.twin(salesDN).Exchange; len(x.ModeratedBy) != 0 || x.HiddenFromAddressListsEnabled {
		t.Errorf("after a change: %+v", x)
	}
}

// A group handed back to the sync engine (Source of Authority rolled back)
// is overwritten from AD at the next cycle: changes made in the cloud while
// it was cloud-managed are lost, as with Entra Connect.
func TestGroupHandedBackIsOverwrittenFromAD(t *testing.T) {
	e := newEnv(t, lab())
	e.run()
	sales := e.twin(salesDN)
	err := e.em.Update(func(tx *emulator.Tx) error {
		if err := tx.SetCloudManaged(sales.ID, true); err != nil {
			return err
		}
		o := tx.Get(sales.ID)
		o.DisplayName, o.Members = "Sales (changed in the cloud)", nil
		o.Exchange.HiddenFromAddressListsEnabled = true
		o.ProxyAddresses = append(o.ProxyAddresses, "smtp:cloud-only@contoso.com")
		_, err := tx.Put(o)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep := e.run(); rep.SkippedCloudManaged != 1 || e.twin(salesDN).DisplayName != "Sales (changed in the cloud)" {
		t.Fatalf("cloud-managed group touched: %+v", rep)
	}
	if err := e.em.Update(func(tx *emulator.Tx) error { return tx.SetCloudManaged(sales.ID, false) }); err != nil {
		t.Fatal(err)
	}
	rep := e.run()
	got := e.twin(salesDN)
	if rep.Updated == 0 || got.ID != sales.ID || got.DisplayName != sales.DisplayName || got.Exchange.HiddenFromAddressListsEnabled ||
		!slices.Equal(got.ProxyAddresses, sales.ProxyAddresses) || !reflect.DeepEqual(got.Members, sales.Members) {
		t.Errorf("after hand-back: %+v (report %+v), want the AD state %+v", got, rep, sales)
	}
}

// A paused sync engine runs no cycle, scheduled or triggered, until it is
// resumed; a delayed one starts each cycle that much late.
func TestLoopPauseAndDelay(t *testing.T) {
	e := newEnv(t, lab())
	l := NewLoop(e.f, e.em, e.cfg, 10*time.Millisecond)
	l.SetFaults(Faults{Paused: true})
	ctx, cancel := context.WithCancel(context.Background())
	l.Start(ctx)
	if _, err := l.Trigger(context.Background()); !errors.Is(err, ErrPaused) {
		t.Fatalf("Trigger while paused = %v, want ErrPaused", err)
	}
	// Several periods pass: no cycle read AD.
	time.Sleep(100 * time.Millisecond)
	if n := e.f.streams.Load(); n != 0 {
		t.Fatalf("%d cycles ran while paused", n)
	}
	if _, ok := l.Last(); ok {
		t.Error("Last reports a cycle while paused")
	}
	if got := l.Faults(); !got.Paused {
		t.Errorf("Faults = %+v", got)
	}

	cancel()
	l.Wait()

	// Resumed with a delay: a triggered cycle starts late.
	const delay = 150 * time.Millisecond
	l.SetFaults(Faults{Delay: delay})
	start := time.Now()
	rep, err := l.Trigger(context.Background())
	if err != nil || !rep.Complete {
		t.Fatalf("Trigger after resume = %+v, %v", rep, err)
	}
	if rep.Started.IsZero() || time.Since(start) < delay {
		t.Errorf("cycle came back after %s, want at least %s", time.Since(start), delay)
	}
	// A trigger given up while it waits out the delay runs nothing.
	n := e.f.streams.Load()
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	if _, err := l.Trigger(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Trigger cut short during the delay = %v", err)
	}
	// Paused during the delay: the cycle does not run.
	l.SetFaults(Faults{Delay: delay})
	done := make(chan error, 1)
	go func() { _, err := l.Trigger(context.Background()); done <- err }()
	time.Sleep(delay / 3)
	l.SetFaults(Faults{Paused: true, Delay: delay})
	if err := <-done; !errors.Is(err, ErrPaused) {
		t.Errorf("Trigger paused during its delay = %v, want ErrPaused", err)
	}
	if got := e.f.streams.Load(); got != n {
		t.Errorf("%d cycles ran after the delayed one, want none", got-n)
	}
}
