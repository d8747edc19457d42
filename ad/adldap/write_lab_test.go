package adldap_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/internal/retry"
)

func TestLabValueLevelWritesKeepConcurrentEdits(t *testing.T) {
	l := labtest.Get(t)
	t.Parallel()
	ou := l.OU(t)
	c := l.Client(t)
	other := l.Client(t) // a second admin editing the same object
	ctx := ctxT(t)
	dom := l.Manifest.MailDomain
	dn, err := c.CreateContact(ctx, ou, adldap.Contact{
		Name: "Value Level", Mail: "vl@" + dom, MailNickname: "vl",
		ProxyAddresses: []string{"SMTP:vl@" + dom, "smtp:vl-old@" + dom},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Someone else adds an address between our read and our write.
	if err := other.Modify(ctx, dn, ad.Change{Op: ad.AddValues, Attr: "proxyAddresses", Values: []string{"smtp:added-by-someone@" + dom}}); err != nil {
		t.Fatal(err)
	}
	// Our dual-write style change: new primary, old primary kept as secondary.
	err = c.Modify(ctx, dn,
		ad.Change{Op: ad.DeleteValues, Attr: "proxyAddresses", Values: []string{"SMTP:vl@" + dom}},
		ad.Change{Op: ad.AddValues, Attr: "proxyAddresses", Values: []string{"SMTP:vl-new@" + dom, "smtp:vl@" + dom}},
		ad.Change{Op: ad.ReplaceValues, Attr: "mail", Values: []string{"vl-new@" + dom}},
	)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.ReadRecipient(ctx, dn)
	if err != nil {
		t.Fatal(err)
	}
	got := r.ProxyAddresses.Raw()
	slices.Sort(got)
	want := []string{"SMTP:vl-new@" + dom, "smtp:added-by-someone@" + dom, "smtp:vl-old@" + dom, "smtp:vl@" + dom}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("proxyAddresses = %v, want %v (the concurrent edit must survive)", got, want)
	}
	if p, ok := r.ProxyAddresses.PrimarySMTP(); !ok || p.Address != "vl-new@"+dom || r.Mail != "vl-new@"+dom {
		t.Fatalf("primary %v mail %q", p, r.Mail)
	}

	t.Run("adding a value that exists is a conflict", func(t *testing.T) {
		err := c.Modify(ctx, dn, ad.Change{Op: ad.AddValues, Attr: "proxyAddresses", Values: []string{"smtp:vl-old@" + dom}})
		if !errors.Is(err, retry.ErrConflict) || adldap.ResultCode(err) != 20 {
			t.Fatalf("err = %v (code %d), want conflict attributeOrValueExists", err, adldap.ResultCode(err))
		}
	})
	t.Run("deleting a value that is gone is a conflict", func(t *testing.T) {
		err := c.Modify(ctx, dn, ad.Change{Op: ad.DeleteValues, Attr: "proxyAddresses", Values: []string{"smtp:never-there@" + dom}})
		if !errors.Is(err, retry.ErrConflict) {
			t.Fatalf("err = %v (code %d), want conflict", err, adldap.ResultCode(err))
		}
	})
	t.Run("a failed modify changes nothing", func(t *testing.T) {
		err := c.Modify(ctx, dn,
			ad.Change{Op: ad.AddValues, Attr: "proxyAddresses", Values: []string{"smtp:half@" + dom}},
			ad.Change{Op: ad.DeleteValues, Attr: "proxyAddresses", Values: []string{"smtp:never-there@" + dom}})
		if err == nil {
			t.Fatal("want an error")
		}
		r, err := c.ReadRecipient(ctx, dn)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(r.ProxyAddresses.Raw(), "smtp:half@"+dom) {
			t.Fatal("half of a failed modify was applied")
		}
	})
	t.Run("modify of a missing object is not found", func(t *testing.T) {
		err := c.Modify(ctx, "CN=Missing,"+ou, ad.Change{Op: ad.ReplaceValues, Attr: "mail", Values: []string{"x@" + dom}})
		if !errors.Is(err, retry.ErrNotFound) {
			t.Fatalf("err = %v, want not found", err)
		}
	})
	t.Run("undefined attribute is terminal", func(t *testing.T) {
		err := c.Modify(ctx, dn, ad.Change{Op: ad.ReplaceValues, Attr: "noSuchAttributeAnywhere", Values: []string{"x"}})
		if !errors.Is(err, retry.ErrTerminal) {
			t.Fatalf("err = %v, want terminal", err)
		}
		if !strings.Contains(err.Error(), dn) {
			t.Fatalf("error %q does not name the object", err)
		}
	})
	t.Run("creating an existing entry is a conflict", func(t *testing.T) {
		_, err := c.CreateContact(ctx, ou, adldap.Contact{Name: "Value Level", Mail: "dup@" + dom})
		if !errors.Is(err, retry.ErrConflict) {
			t.Fatalf("err = %v, want conflict", err)
		}
	})
}

func TestLabSpecialCharacterNames(t *testing.T) {
	l := labtest.Get(t)
	t.Parallel()
	c := l.Client(t)
	ctx := ctxT(t)
	for _, dn := range l.Manifest.SpecialNames {
		r, err := c.ReadRecipient(ctx, dn)
		if err != nil {
			t.Fatalf("read %s: %v", dn, err)
		}
		if !ad.EqualDN(r.DN, dn) {
			t.Fatalf("read %s, got %s", dn, r.DN)
		}
		p, ok := r.ProxyAddresses.PrimarySMTP()
		if !ok {
			t.Fatalf("%s has no primary SMTP", dn)
		}
		found, err := c.FindByProxyAddress(ctx, p.String())
		if err != nil || found.GUID != r.GUID {
			t.Fatalf("find %s: %v", p, err)
		}
		byGUID, err := c.FindByGUID(ctx, r.GUID)
		if err != nil || !ad.EqualDN(byGUID.DN, dn) {
			t.Fatalf("find by GUID %s: %v", r.GUID, err)
		}
	}

	ou := l.OU(t)
	dom := l.Manifest.MailDomain
	// '*' in a filter value must be escaped, or it is a wildcard that
	// matches both contacts.
	star, err := c.CreateContact(ctx, ou, adldap.Contact{Name: `Star (a*b), \ + Zoë`, Mail: "a*b@" + dom, ProxyAddresses: []string{"SMTP:a*b@" + dom}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateContact(ctx, ou, adldap.Contact{Name: "Star decoy", Mail: "aXXb@" + dom, ProxyAddresses: []string{"SMTP:aXXb@" + dom}}); err != nil {
		t.Fatal(err)
	}
	r, err := c.FindByProxyAddress(ctx, "smtp:a*b@"+dom)
	if err != nil {
		t.Fatalf("find a*b: %v", err)
	}
	if !ad.EqualDN(r.DN, star) {
		t.Fatalf("found %s", r.DN)
	}
	name, err := ad.RDNValue(r.DN)
	if err != nil || name != `Star (a*b), \ + Zoë` {
		t.Fatalf("name %q %v", name, err)
	}
	if _, err := c.FindByProxyAddress(ctx, "smtp:a*@"+dom); !errors.Is(err, retry.ErrNotFound) {
		t.Fatalf("a* matched something: %v", err)
	}
}

func TestLabMoveRenameDelete(t *testing.T) {
	l := labtest.Get(t)
	t.Parallel()
	ou := l.OU(t)
	c := l.Client(t)
	ctx := ctxT(t)
	dom := l.Manifest.MailDomain
	sub, err := c.CreateOU(ctx, ou, "Sub, (Moved)+")
	if err != nil {
		t.Fatal(err)
	}
	dn, err := c.CreateContact(ctx, ou, adldap.Contact{Name: "Mover", Mail: "mover@" + dom})
	if err != nil {
		t.Fatal(err)
	}
	before, err := c.ReadRecipient(ctx, dn)
	if err != nil {
		t.Fatal(err)
	}
	renamed, err := c.Rename(ctx, dn, `Mover, "Renamed" #1`)
	if err != nil {
		t.Fatal(err)
	}
	moved, err := c.Move(ctx, renamed, sub)
	if err != nil {
		t.Fatal(err)
	}
	after, err := c.ReadRecipient(ctx, moved)
	if err != nil {
		t.Fatalf("read moved object at %s: %v", moved, err)
	}
	if after.GUID != before.GUID || !ad.EqualDN(after.OU, sub) {
		t.Fatalf("after move: guid %s ou %s", after.GUID, after.OU)
	}
	if _, err := c.ReadRecipient(ctx, dn); !errors.Is(err, retry.ErrNotFound) {
		t.Fatalf("old DN still readable: %v", err)
	}
	if err := c.Delete(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FindByGUID(ctx, before.GUID); !errors.Is(err, retry.ErrNotFound) {
		t.Fatalf("deleted object found: %v", err)
	}
	if err := c.Delete(ctx, moved); !errors.Is(err, retry.ErrNotFound) {
		t.Fatalf("second delete: %v, want not found", err)
	}
}

func TestLabCreateDynamicDL(t *testing.T) {
	l := labtest.Get(t)
	t.Parallel()
	ou := l.OU(t)
	c := l.Client(t)
	ctx := ctxT(t)
	dom := l.Manifest.MailDomain
	filter := adldap.And(adldap.Eq("objectClass", "user"), adldap.Eq("extensionAttribute1", "Dept-(1)*"))
	dn, err := c.CreateDynamicDL(ctx, ou, adldap.DynamicDL{Name: "Dept 1", Mail: "dept1@" + dom, MailNickname: "dept1",
		Filter: filter, BaseDN: l.Manifest.SyncOU, ProxyAddresses: []string{"SMTP:dept1@" + dom}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.ReadRecipient(ctx, dn)
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != ad.KindDynamicDL || r.DynamicFilter != filter || !ad.EqualDN(r.DynamicBaseDN, l.Manifest.SyncOU) {
		t.Fatalf("dynamic DL read back as %+v", r)
	}
}

func TestLabIncrementalReads(t *testing.T) {
	l := labtest.Get(t)
	t.Parallel()
	ou := l.OU(t)
	elsewhere := l.OU(t)
	c := l.Client(t)
	ctx := ctxT(t)
	dom := l.Manifest.MailDomain
	w0, err := c.ReadWatermark(ctx)
	if err != nil {
		t.Fatal(err)
	}
	contact, err := c.CreateContact(ctx, ou, adldap.Contact{Name: "Incremental", Mail: "inc@" + dom, ProxyAddresses: []string{"SMTP:inc@" + dom}})
	if err != nil {
		t.Fatal(err)
	}
	userDN := ad.ChildDN("CN", "Incremental User", ou)
	err = c.Add(ctx, userDN, []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "user"}},
		{Name: "sAMAccountName", Values: []string{"inc-" + ouSuffix(t, ou)}},
		{Name: "mail", Values: []string{"inc-user@" + dom}},
	})
	if err != nil {
		t.Fatal(err)
	}
	created, err := c.ReadRecipient(ctx, contact)
	if err != nil {
		t.Fatal(err)
	}
	user, err := c.ReadRecipient(ctx, userDN)
	if err != nil {
		t.Fatal(err)
	}
	// collect keeps what the read reported about this test's objects only
	// (other tests change the domain concurrently).
	mine := map[string]bool{created.GUID: true, user.GUID: true}
	collect := func(since *adldap.Watermark) (adldap.IncrementalResult, map[string]*ad.Recipient) {
		t.Helper()
		got := map[string]*ad.Recipient{}
		res, err := c.StreamChanges(ctx, ou, since, func(r *ad.Recipient) error {
			if mine[r.GUID] {
				got[r.GUID] = r
			}
			return nil
		})
		if err != nil || !res.Complete {
			t.Fatalf("StreamChanges: %+v %v", res, err)
		}
		return res, got
	}
	res, got := collect(&w0)
	if res.Full || got[created.GUID] == nil || got[user.GUID] == nil || !got[user.GUID].InScope(ou) {
		t.Fatalf("incremental read since %d: full=%v, saw %d of 2 new objects", w0.USN, res.Full, len(got))
	}
	w1 := res.Next
	if w1.USN < user.USNChanged {
		t.Fatalf("next watermark %d is behind the change %d", w1.USN, user.USNChanged)
	}
	if res, got := collect(&w1); res.Full || len(got) != 0 {
		t.Fatalf("no-change read returned %d of our objects (full=%v)", len(got), res.Full)
	}

	// Leaving scope: the contact is mail-disabled, the user moves away.
	if err := c.Modify(ctx, contact, ad.Change{Op: ad.DeleteValues, Attr: "mail"}, ad.Change{Op: ad.DeleteValues, Attr: "proxyAddresses"}); err != nil {
		t.Fatal(err)
	}
	movedUser, err := c.Move(ctx, userDN, elsewhere)
	if err != nil {
		t.Fatal(err)
	}
	res, got = collect(&w1)
	if r := got[created.GUID]; r == nil || r.MailEnabled() || r.InScope(ou) {
		t.Fatalf("mail-disabled contact not reported as leaving scope: %+v", r)
	}
	if r := got[user.GUID]; r == nil || !ad.EqualDN(r.DN, movedUser) || r.InScope(ou) {
		t.Fatalf("moved user not reported as leaving scope: %+v", r)
	}
	w2 := res.Next

	// Deletions, of a contact and of a user, are reported as tombstones
	// even though AD moved them out of the OU.
	if err := c.Delete(ctx, contact); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, movedUser); err != nil {
		t.Fatal(err)
	}
	_, got = collect(&w2)
	for _, guid := range []string{created.GUID, user.GUID} {
		if r := got[guid]; r == nil || !r.Deleted || r.InScope(ou) || r.LastKnownParent == "" {
			t.Fatalf("deletion of %s not reported: %+v", guid, r)
		}
	}
	if !ad.EqualDN(got[created.GUID].LastKnownParent, ou) || !ad.EqualDN(got[user.GUID].LastKnownParent, elsewhere) {
		t.Fatalf("lastKnownParent %q / %q", got[created.GUID].LastKnownParent, got[user.GUID].LastKnownParent)
	}

	for name, since := range map[string]*adldap.Watermark{
		"no watermark":   nil,
		"another DC db":  {Server: w0.Server, InvocationID: "00000000-0000-0000-0000-000000000001", USN: w0.USN},
		"another DC":     {Server: "CN=NTDS Settings,CN=DC9,CN=Servers,CN=Default-First-Site-Name,CN=Sites,CN=Configuration," + l.State.BaseDN, InvocationID: w0.InvocationID, USN: w0.USN},
		"USN from later": {Server: w0.Server, InvocationID: w0.InvocationID, USN: w2.USN + 1_000_000},
	} {
		t.Run(name, func(t *testing.T) {
			res, _ := collect(since)
			if !res.Full || res.Reason == "" {
				t.Fatalf("want a full read with a reason, got %+v", res)
			}
		})
	}
}

// ouSuffix returns the random tail labtest gave the test's OU name, for
// domain-unique names such as sAMAccountName.
func ouSuffix(t *testing.T, ou string) string {
	t.Helper()
	name, err := ad.RDNValue(ou)
	if err != nil || len(name) < 8 {
		t.Fatalf("test OU %q: %v", ou, err)
	}
	return name[len(name)-8:]
}
