package exo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/reconcile/retry"
)

func ptr[T any](v T) *T { return &v }

// asJSON re-encodes v so that parameter maps compare as the wire sees them.
func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSetDistributionGroupSendsOnlySetFields(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok("") })
	c, _ := newTestClient(t, f, nil)
	err := c.SetDistributionGroup(context.Background(), "sales@contoso.com", cloud.GroupChanges{
		DisplayName:            ptr("Sales (EMEA)"),
		HiddenFromAddressLists: ptr(false),
		ManagedBy:              &[]string{"alice@contoso.com", "bob@contoso.com"},
		ModeratedBy:            &[]string{},
		CustomAttributes:       map[int]string{1: "emea", 15: ""},
	})
	if err != nil {
		t.Fatal(err)
	}
	calls := f.recorded()
	if len(calls) != 1 || calls[0].Cmdlet != "Set-DistributionGroup" || calls[0].Header.Get("X-CmdletName") != "Set-DistributionGroup" {
		t.Fatalf("calls = %+v", calls)
	}
	want := map[string]any{
		"Identity":                        "sales@contoso.com",
		"BypassSecurityGroupManagerCheck": true,
		"DisplayName":                     "Sales (EMEA)",
		"HiddenFromAddressListsEnabled":   false,
		"ManagedBy":                       []any{"alice@contoso.com", "bob@contoso.com"},
		"ModeratedBy":                     nil,
		"CustomAttribute1":                "emea",
		"CustomAttribute15":               nil,
	}
	if !reflect.DeepEqual(calls[0].Params, want) {
		t.Errorf("params = %s\nwant     %s", asJSON(t, calls[0].Params), asJSON(t, want))
	}
}

func TestSetGroupParams(t *testing.T) {
	base := map[string]any{"Identity": "dl", "BypassSecurityGroupManagerCheck": true}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name string
		ch   cloud.GroupChanges
		want map[string]any
	}{
		{"nothing", cloud.GroupChanges{}, base},
		{"strings and bools", cloud.GroupChanges{Alias: ptr("sales"), Name: ptr("Sales"), RequireSenderAuthentication: ptr(true), ModerationEnabled: ptr(false)},
			with("Alias", "sales", "Name", "Sales", "RequireSenderAuthenticationEnabled", true, "ModerationEnabled", false)},
		{"lists", cloud.GroupChanges{BypassModeration: &[]string{"a"}, AcceptMessagesOnlyFrom: &[]string{"b"}, RejectMessagesFrom: &[]string{}, GrantSendOnBehalfTo: &[]string{"c", "d"}},
			with("BypassModerationFromSendersOrMembers", []string{"a"}, "AcceptMessagesOnlyFromSendersOrMembers", []string{"b"}, "RejectMessagesFromSendersOrMembers", nil, "GrantSendOnBehalfTo", []string{"c", "d"})},
		{"primary only", cloud.GroupChanges{PrimarySMTPAddress: ptr("sales@contoso.com")}, with("PrimarySmtpAddress", "sales@contoso.com")},
		{"addresses replace as an array", cloud.GroupChanges{EmailAddresses: &[]string{"SMTP:sales@contoso.com", "smtp:s@contoso.com", "X500:/o=ExchangeLabs/cn=Recipients/cn=sales"}},
			with("EmailAddresses", []string{"SMTP:sales@contoso.com", "smtp:s@contoso.com", "X500:/o=ExchangeLabs/cn=Recipients/cn=sales"})},
		{"primary folded into addresses", cloud.GroupChanges{PrimarySMTPAddress: ptr("new@contoso.com"), EmailAddresses: &[]string{"SMTP:old@contoso.com", "smtp:NEW@contoso.com", "x500:/o=x"}},
			with("EmailAddresses", []string{"smtp:old@contoso.com", "SMTP:NEW@contoso.com", "x500:/o=x"})},
		{"primary added to addresses", cloud.GroupChanges{PrimarySMTPAddress: ptr("new@contoso.com"), EmailAddresses: &[]string{"SMTP:old@contoso.com"}},
			with("EmailAddresses", []string{"SMTP:new@contoso.com", "smtp:old@contoso.com"})},
		{"all custom attributes", cloud.GroupChanges{CustomAttributes: func() map[int]string {
			m := map[int]string{}
			for i := 1; i <= 15; i++ {
				m[i] = fmt.Sprint("v", i)
			}
			return m
		}()}, func() map[string]any {
			m := with()
			for i := 1; i <= 15; i++ {
				m[fmt.Sprintf("CustomAttribute%d", i)] = fmt.Sprint("v", i)
			}
			return m
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := setGroupParams("dl", tc.ch)
			if err != nil {
				t.Fatal(err)
			}
			if asJSON(t, got) != asJSON(t, tc.want) {
				t.Errorf("params = %s\nwant     %s", asJSON(t, got), asJSON(t, tc.want))
			}
		})
	}
}

func TestSetDistributionGroupRejectsBadInputWithoutARequest(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok("") })
	c, _ := newTestClient(t, f, nil)
	for name, ch := range map[string]cloud.GroupChanges{
		"custom attribute 16": {CustomAttributes: map[int]string{16: "x"}},
		"custom attribute 0":  {CustomAttributes: map[int]string{0: "x"}},
		"empty addresses":     {EmailAddresses: &[]string{}},
	} {
		err := c.SetDistributionGroup(context.Background(), "dl", ch)
		if !errors.Is(err, retry.ErrTerminal) {
			t.Errorf("%s: err = %v, want terminal", name, err)
		}
	}
	if err := c.SetDistributionGroup(context.Background(), "dl", cloud.GroupChanges{}); err != nil {
		t.Errorf("no changes: %v", err)
	}
	if n := len(f.recorded()); n != 0 {
		t.Errorf("server saw %d requests, want none", n)
	}
}

func TestReplaceGroupMembersChunking(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok("") })
	c, _ := newTestClient(t, f, func(cfg *Config) { cfg.MemberChunk = 1000 })
	members := make([]string, 2300)
	for i := range members {
		members[i] = fmt.Sprintf("user%04d@contoso.com", i)
	}
	if err := c.ReplaceGroupMembers(context.Background(), "big@contoso.com", members); err != nil {
		t.Fatal(err)
	}
	calls := f.recorded()
	if len(calls) != 1+1300 {
		t.Fatalf("%d calls, want 1 Update + 1300 Adds", len(calls))
	}
	upd := calls[0]
	if upd.Cmdlet != "Update-DistributionGroupMember" || upd.Params["Identity"] != "big@contoso.com" || upd.Params["Confirm"] != false {
		t.Errorf("first call = %s %v", upd.Cmdlet, upd.Params["Identity"])
	}
	sent, _ := upd.Params["Members"].([]any)
	if len(sent) != 1000 {
		t.Fatalf("Update sent %d members, want 1000", len(sent))
	}
	for i, m := range sent {
		if m != members[i] {
			t.Fatalf("Update member %d = %v, want %s", i, m, members[i])
		}
	}
	added := 0
	for i, cl := range calls[1:] {
		want := members[1000+i]
		if cl.Cmdlet != "Add-DistributionGroupMember" || cl.Params["Identity"] != "big@contoso.com" || cl.Params["Member"] != want {
			t.Fatalf("call %d = %s %v, want Add-DistributionGroupMember %s", i+2, cl.Cmdlet, cl.Params, want)
		}
		added++
	}
	if added != 1300 {
		t.Errorf("added %d, want 1300", added)
	}
}

func TestReplaceGroupMembersEmptyAndSmall(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok("") })
	c, _ := newTestClient(t, f, nil)
	if err := c.ReplaceGroupMembers(context.Background(), "dl", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.ReplaceGroupMembers(context.Background(), "dl", []string{"a", "A", "", "b"}); err != nil {
		t.Fatal(err)
	}
	calls := f.recorded()
	if len(calls) != 2 {
		t.Fatalf("%d calls, want 2 Updates", len(calls))
	}
	if calls[0].Cmdlet != "Update-DistributionGroupMember" || !strings.Contains(calls[0].Body, `"Members":[]`) {
		t.Errorf("empty list sent as %s, want Members []", calls[0].Body)
	}
	if got := asJSON(t, calls[1].Params["Members"]); got != `["a","b"]` {
		t.Errorf("members = %s, want deduplicated [a b]", got)
	}
}

func TestReplaceGroupMembersAlreadyMemberIsDone(t *testing.T) {
	f := newFake(t, func(n int, c call) reply {
		if c.Cmdlet == "Add-DistributionGroupMember" && c.Params["Member"] == "c" {
			return exoError(400, "Microsoft.Exchange.Management.Tasks.MemberAlreadyExistsException", `The recipient "c" is already a member of the group "dl".`)
		}
		if c.Cmdlet == "Add-DistributionGroupMember" && c.Params["Member"] == "e" {
			return exoError(400, "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException", `The operation couldn't be performed because object 'e' couldn't be found.`)
		}
		return ok("")
	})
	c, _ := newTestClient(t, f, func(cfg *Config) { cfg.MemberChunk = 2 })
	err := c.ReplaceGroupMembers(context.Background(), "dl", []string{"a", "b", "c", "d", "e", "f"})
	if !errors.Is(err, retry.ErrNotFound) || !strings.Contains(err.Error(), "member 3 of 4") {
		t.Fatalf("err = %v, want not found on member 3 of 4", err)
	}
	var adds []any
	for _, cl := range f.recorded()[1:] {
		adds = append(adds, cl.Params["Member"])
	}
	if !reflect.DeepEqual(adds, []any{"c", "d", "e"}) {
		t.Errorf("adds = %v, want c d e then stop", adds)
	}
}

func TestNewDistributionGroupDecoding(t *testing.T) {
	row := map[string]any{
		"Identity":                               "Sales",
		"Guid":                                   "5c2a2f0e-0000-4000-8000-000000000001",
		"ExternalDirectoryObjectId":              "0b7c1a2e-1111-4222-8333-444455556666",
		"Name":                                   "Sales",
		"DisplayName":                            "Sales Team",
		"Alias":                                  "sales",
		"PrimarySmtpAddress":                     "sales@contoso.com",
		"EmailAddresses":                         []string{"SMTP:sales@contoso.com", "smtp:sales@contoso.onmicrosoft.com"},
		"RecipientType":                          "MailUniversalDistributionGroup",
		"RecipientTypeDetails":                   "MailUniversalDistributionGroup",
		"IsDirSynced":                            false,
		"HiddenFromAddressListsEnabled":          true,
		"GroupType":                              "Universal",
		"ManagedBy":                              []string{"alice"},
		"ModerationEnabled":                      false,
		"RequireSenderAuthenticationEnabled":     true,
		"AcceptMessagesOnlyFromSendersOrMembers": []string{},
		"CustomAttribute1":                       "emea",
		"CustomAttribute2":                       "",
		"CustomAttribute3":                       nil,
		"CustomAttribute15":                      "last",
		"WhenCreated":                            "2025-03-01T12:00:00Z",
	}
	f := newFake(t, func(int, call) reply { return ok("", row) })
	c, _ := newTestClient(t, f, nil)
	g, err := c.NewDistributionGroup(context.Background(), cloud.NewDistributionGroup{
		Name: "Sales", DisplayName: "Sales Team", Alias: "sales", PrimarySMTPAddress: "sales@contoso.com",
		Type: "Distribution", ManagedBy: []string{"alice"}, Members: []string{"bob", "carol"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if g.ExternalDirectoryObjectID != "0b7c1a2e-1111-4222-8333-444455556666" || g.GUID != "5c2a2f0e-0000-4000-8000-000000000001" ||
		g.PrimarySMTPAddress != "sales@contoso.com" || g.GroupType != "Universal" || !g.HiddenFromAddressLists ||
		!g.RequireSenderAuthentication || len(g.EmailAddresses) != 2 || !reflect.DeepEqual(g.ManagedBy, []string{"alice"}) {
		t.Errorf("group = %+v", g)
	}
	if want := map[string]string{"CustomAttribute1": "emea", "CustomAttribute15": "last"}; !reflect.DeepEqual(g.CustomAttributes, want) {
		t.Errorf("CustomAttributes = %v, want %v", g.CustomAttributes, want)
	}
	calls := f.recorded()
	if len(calls) != 1 || calls[0].Cmdlet != "New-DistributionGroup" {
		t.Fatalf("calls = %+v", calls)
	}
	want := `{"Alias":"sales","DisplayName":"Sales Team","ManagedBy":["alice"],"Members":["bob","carol"],"Name":"Sales","PrimarySmtpAddress":"sales@contoso.com","Type":"Distribution"}`
	if got := asJSON(t, calls[0].Params); got != want {
		t.Errorf("params = %s\nwant     %s", got, want)
	}
}

func TestNewDistributionGroupLargeMembership(t *testing.T) {
	f := newFake(t, func(n int, c call) reply {
		if c.Cmdlet == "New-DistributionGroup" {
			return ok("", map[string]any{"Name": "Big", "ExternalDirectoryObjectId": "eid-1"})
		}
		return ok("")
	})
	c, _ := newTestClient(t, f, func(cfg *Config) { cfg.MemberChunk = 2 })
	if _, err := c.NewDistributionGroup(context.Background(), cloud.NewDistributionGroup{Name: "Big", Members: []string{"a", "b", "c", "d"}}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, cl := range f.recorded() {
		got = append(got, fmt.Sprintf("%s %v %v %v", cl.Cmdlet, cl.Params["Identity"], cl.Params["Members"], cl.Params["Member"]))
	}
	want := []string{
		"New-DistributionGroup <nil> [a b] <nil>",
		"Add-DistributionGroupMember eid-1 <nil> c",
		"Add-DistributionGroupMember eid-1 <nil> d",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("calls = %q\nwant    %q", got, want)
	}
}

func TestNewDistributionGroupNeedsName(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok("") })
	c, _ := newTestClient(t, f, nil)
	if _, err := c.NewDistributionGroup(context.Background(), cloud.NewDistributionGroup{}); !errors.Is(err, retry.ErrTerminal) {
		t.Errorf("err = %v, want terminal", err)
	}
	if _, err := c.NewDistributionGroup(context.Background(), cloud.NewDistributionGroup{Name: "x"}); !errors.Is(err, retry.ErrTerminal) {
		t.Errorf("no row returned: err = %v, want terminal", err)
	}
}

func TestGetters(t *testing.T) {
	f := newFake(t, func(n int, c call) reply {
		id, _ := c.Params["Identity"].(string)
		switch {
		case c.Cmdlet == "Get-AcceptedDomain":
			return ok("",
				map[string]any{"DomainName": "contoso.com", "DomainType": "Authoritative", "Default": true, "InitialDomain": false},
				map[string]any{"DomainName": "contoso.onmicrosoft.com", "DomainType": "Authoritative", "Default": false, "InitialDomain": true})
		case id == "missing":
			return exoError(404, "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException", "The operation couldn't be performed because object 'missing' couldn't be found on 'DC1'.")
		case id == "empty":
			return ok("")
		case id == "twice":
			return ok("", map[string]any{"Name": "a"}, map[string]any{"Name": "b"})
		case c.Cmdlet == "Get-Recipient":
			return ok("", map[string]any{"Identity": id, "RecipientTypeDetails": "UserMailbox", "IsDirSynced": true, "EmailAddresses": []string{"SMTP:" + id}})
		case c.Cmdlet == "Get-DistributionGroup":
			return ok("", map[string]any{"Identity": id, "GroupType": "Universal, SecurityEnabled", "CustomAttribute7": "x"})
		}
		return reply{Status: 400, Body: "unexpected"}
	})
	c, _ := newTestClient(t, f, nil)
	ctx := context.Background()

	domains, err := c.AcceptedDomains(ctx)
	if err != nil || len(domains) != 2 || !domains[1].InitialDomain || domains[0].DomainName != "contoso.com" || !domains[0].Default {
		t.Errorf("AcceptedDomains = %+v, %v", domains, err)
	}
	r, err := c.GetRecipient(ctx, "alice@contoso.com")
	if err != nil || r.Identity != "alice@contoso.com" || !r.IsDirSynced || r.RecipientTypeDetails != "UserMailbox" {
		t.Errorf("GetRecipient = %+v, %v", r, err)
	}
	g, err := c.GetDistributionGroup(ctx, "sec")
	if err != nil || g.GroupType != "Universal, SecurityEnabled" || g.CustomAttributes["CustomAttribute7"] != "x" {
		t.Errorf("GetDistributionGroup = %+v, %v", g, err)
	}
	for _, id := range []string{"missing", "empty"} {
		if _, err := c.GetRecipient(ctx, id); !errors.Is(err, retry.ErrNotFound) || !strings.Contains(err.Error(), id) {
			t.Errorf("GetRecipient(%s) err = %v, want not found naming it", id, err)
		}
		if _, err := c.GetDistributionGroup(ctx, id); !errors.Is(err, retry.ErrNotFound) {
			t.Errorf("GetDistributionGroup(%s) err = %v, want not found", id, err)
		}
	}
	if _, err := c.GetRecipient(ctx, "twice"); !errors.Is(err, retry.ErrTerminal) {
		t.Errorf("ambiguous identity: err = %v, want terminal", err)
	}
}

func TestListRecipientsAndGroupMembers(t *testing.T) {
	var f *fakeEXO
	f = newFake(t, func(n int, c call) reply {
		if c.Query == "" {
			return ok(f.srv.URL+invokePath+"?$skiptoken=2", map[string]any{"Alias": "a"}, map[string]any{"Alias": "b"})
		}
		return ok("", map[string]any{"Alias": "c"})
	})
	c, _ := newTestClient(t, f, nil)
	ctx := context.Background()
	var aliases []string
	res, err := c.ListRecipients(ctx, "RecipientTypeDetails -eq 'MailUniversalDistributionGroup'", func(r *cloud.ExoRecipient) error {
		aliases = append(aliases, r.Alias)
		return nil
	})
	if err != nil || !res.Complete || res.Objects != 3 || !reflect.DeepEqual(aliases, []string{"a", "b", "c"}) {
		t.Errorf("ListRecipients = %+v %v %v", res, aliases, err)
	}
	members, err := c.GroupMembers(ctx, "dl")
	if err != nil || len(members) != 3 || members[2].Alias != "c" {
		t.Errorf("GroupMembers = %+v, %v", members, err)
	}
	calls := f.recorded()
	if got := asJSON(t, calls[0].Params); got != `{"Filter":"RecipientTypeDetails -eq 'MailUniversalDistributionGroup'","ResultSize":"Unlimited"}` {
		t.Errorf("Get-Recipient params = %s", got)
	}
	if got := asJSON(t, calls[2].Params); calls[2].Cmdlet != "Get-DistributionGroupMember" || got != `{"Identity":"dl","ResultSize":"Unlimited"}` {
		t.Errorf("Get-DistributionGroupMember params = %s", got)
	}
}

func TestGroupMembersIncompleteIsAnError(t *testing.T) {
	var f *fakeEXO
	f = newFake(t, func(n int, c call) reply {
		if c.Query == "" {
			return ok(f.srv.URL+invokePath+"?$skiptoken=2", map[string]any{"Alias": "a"})
		}
		return reply{Status: http.StatusBadGateway}
	})
	c, _ := newTestClient(t, f, nil)
	members, err := c.GroupMembers(context.Background(), "dl")
	if err == nil || members != nil {
		t.Errorf("GroupMembers = %v, %v; want no list and an error", members, err)
	}
}

func TestWriteCmdletParameters(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok("") })
	c, _ := newTestClient(t, f, nil)
	ctx := context.Background()
	if err := c.RemoveDistributionGroup(ctx, "dl"); err != nil {
		t.Fatal(err)
	}
	if err := c.AddGroupMember(ctx, "dl", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveGroupMember(ctx, "dl", "bob"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, cl := range f.recorded() {
		got = append(got, cl.Cmdlet+" "+asJSON(t, cl.Params))
	}
	want := []string{
		`Remove-DistributionGroup {"BypassSecurityGroupManagerCheck":true,"Confirm":false,"Identity":"dl"}`,
		`Add-DistributionGroupMember {"BypassSecurityGroupManagerCheck":true,"Identity":"dl","Member":"bob"}`,
		`Remove-DistributionGroupMember {"BypassSecurityGroupManagerCheck":true,"Confirm":false,"Identity":"dl","Member":"bob"}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("calls =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestAddRemove(t *testing.T) {
	got := asJSON(t, map[string]any{"EmailAddresses": AddRemove([]string{"smtp:a@contoso.com"}, []string{"smtp:b@contoso.com"})})
	want := `{"EmailAddresses":{"@odata.type":"#Exchange.GenericHashTable","Add":["smtp:a@contoso.com"],"Remove":["smtp:b@contoso.com"]}}`
	if got != want {
		t.Errorf("AddRemove = %s, want %s", got, want)
	}
	if got := asJSON(t, AddRemove(nil, []string{"x"})); got != `{"@odata.type":"#Exchange.GenericHashTable","Remove":["x"]}` {
		t.Errorf("remove only = %s", got)
	}
}
