package apply

import (
	"slices"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// The undo of a migrated list's address fix gives mail back too, and
// asserts the mail the fix wrote.
func TestCompensationOfAMigratedListAddress(t *testing.T) {
	act := plan.Action{Kind: plan.ActionMigratedListAddress, ObjectDN: "CN=Sales,OU=Sync,DC=contoso,DC=com", ObjectGUID: "g",
		Attribute: "proxyAddresses", Mail: "sales@contoso.com", NewMail: "team@contoso.com",
		Delete: []string{"SMTP:sales@contoso.com"}, Add: []string{"smtp:sales@contoso.com", "SMTP:team@contoso.com"}}
	r := &ad.Recipient{DN: act.ObjectDN, GUID: "g", Mail: "team@contoso.com",
		ProxyAddresses: ad.ParseProxyAddresses([]string{"smtp:sales@contoso.com", "SMTP:team@contoso.com"})}
	rev := compensation(r, act)
	if rev.Mail != "team@contoso.com" || rev.NewMail != "sales@contoso.com" ||
		!slices.Equal(rev.Delete, []string{"smtp:sales@contoso.com", "SMTP:team@contoso.com"}) || !slices.Equal(rev.Add, []string{"SMTP:sales@contoso.com"}) {
		t.Fatalf("compensation %+v", rev)
	}
	ch := rev.Changes()
	if ch[0].Op != ad.DeleteValues || ch[0].Values[0] != "team@contoso.com" || ch[1].Op != ad.AddValues || ch[1].Values[0] != "sales@contoso.com" {
		t.Errorf("changes %+v", ch)
	}
	rev.BeforeProxyAddresses, rev.USNChanged = r.ProxyAddresses.Raw(), r.USNChanged
	back, err := rev.Apply(r)
	if err != nil || back.Mail != "sales@contoso.com" || !slices.Equal(back.ProxyAddresses.Raw(), []string{"SMTP:sales@contoso.com"}) {
		t.Errorf("undone: %+v %q %v", back, back.ProxyAddresses.Raw(), err)
	}
	// Verified at once: a dynamic list has no cloud twin to show it.
	if v, err := verifyOne(t.Context(), nil, Outcome{Action: act, Kind: ad.KindDynamicDL}); err != nil || !v.Verified {
		t.Errorf("verify %+v %v", v, err)
	}
}
