package adldap_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// The client says which DC answered a read, sends a write only to the DC
// named, and a delete-and-re-add of mail in the same modify makes the DC
// refuse the whole write when mail changed since it was read.
func TestLabWritesPinnedToTheDCRead(t *testing.T) {
	l := labtest.Get(t)
	t.Parallel()
	ou := l.OU(t)
	c := l.Client(t)
	other := l.Client(t)
	ctx := ctxT(t)
	dom := l.Manifest.MailDomain

	w, err := c.ReadWatermark(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := c.ConnectedDC(ctx)
	if err != nil || dc.IsZero() || dc.Server != w.Server || dc.InvocationID != w.InvocationID {
		t.Fatalf("ConnectedDC = %+v, %v; the watermark names %s %s", dc, err, w.Server, w.InvocationID)
	}
	dn, err := c.CreateContact(ctx, ou, adldap.Contact{Name: "Pinned", Mail: "pinned@" + dom, MailNickname: "pinned",
		ProxyAddresses: []string{"SMTP:pinned@" + dom}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.ReadRecipient(ctx, dn)
	if err != nil {
		t.Fatal(err)
	}
	got, readFrom, err := c.FindByGUIDOnDC(ctx, r.GUID)
	if err != nil || !readFrom.Equal(dc) || got.DN != r.DN {
		t.Fatalf("FindByGUIDOnDC = %v %+v %v", got, readFrom, err)
	}

	t.Run("another DC is not written to", func(t *testing.T) {
		elsewhere := ad.DC{Server: dc.Server, InvocationID: "00000000-0000-4000-8000-000000000000"}
		err := c.ModifyOnDC(ctx, elsewhere, dn, ad.Change{Op: ad.AddValues, Attr: "proxyAddresses", Values: []string{"smtp:x@" + dom}})
		if !errors.Is(err, ad.ErrDCChanged) || retry.ClassOf(err) != retry.Conflict {
			t.Fatalf("err = %v, want ErrDCChanged", err)
		}
		if r, _ := c.ReadRecipient(ctx, dn); slices.Contains(r.ProxyAddresses.Raw(), "smtp:x@"+dom) {
			t.Fatal("the modify was sent")
		}
	})

	t.Run("mail asserted in the same modify", func(t *testing.T) {
		assert := func(mail string) []ad.Change {
			return []ad.Change{
				{Op: ad.DeleteValues, Attr: "mail", Values: []string{mail}},
				{Op: ad.AddValues, Attr: "mail", Values: []string{mail}},
				{Op: ad.AddValues, Attr: "proxyAddresses", Values: []string{"smtp:asserted@" + dom}},
			}
		}
		// Someone changes mail after our read.
		if err := other.Modify(ctx, dn, ad.Change{Op: ad.ReplaceValues, Attr: "mail", Values: []string{"changed@" + dom}}); err != nil {
			t.Fatal(err)
		}
		err := c.ModifyOnDC(ctx, dc, dn, assert("pinned@"+dom)...)
		if adldap.ResultCode(err) != 16 || retry.ClassOf(err) != retry.Conflict { // noSuchAttribute
			t.Fatalf("err = %v (code %d), want noSuchAttribute", err, adldap.ResultCode(err))
		}
		r, _ := c.ReadRecipient(ctx, dn)
		if r.Mail != "changed@"+dom || slices.Contains(r.ProxyAddresses.Raw(), "smtp:asserted@"+dom) {
			t.Fatalf("after the refused write: mail %s proxyAddresses %q", r.Mail, r.ProxyAddresses.Raw())
		}
		// With the mail as it is, the same modify goes through and leaves
		// mail as it was.
		if err := c.ModifyOnDC(ctx, dc, dn, assert("changed@"+dom)...); err != nil {
			t.Fatal(err)
		}
		r, _ = c.ReadRecipient(ctx, dn)
		if r.Mail != "changed@"+dom || !slices.Contains(r.ProxyAddresses.Raw(), "smtp:asserted@"+dom) {
			t.Fatalf("after the write: mail %s proxyAddresses %q", r.Mail, r.ProxyAddresses.Raw())
		}
	})
}
