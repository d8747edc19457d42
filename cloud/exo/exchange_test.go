package exo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/retry"
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

// memberRow is a Get-DistributionGroupMember row for user i.
func memberRow(i int) map[string]any {
	return map[string]any{
		"Identity":                  fmt.Sprintf("User %04d", i),
		"Name":                      fmt.Sprintf("User %04d", i),
		"Alias":                     fmt.Sprintf("user%04d", i),
		"Guid":                      fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
		"ExternalDirectoryObjectId": fmt.Sprintf("eeeeeeee-0000-4000-8000-%012d", i),
		"PrimarySmtpAddress":        fmt.Sprintf("user%04d@contoso.com", i),
		"EmailAddresses": []string{fmt.Sprintf("SMTP:user%04d@contoso.com", i), fmt.Sprintf("smtp:u%04d@contoso.mail.onmicrosoft.com", i),
			fmt.Sprintf("X500:/o=ExchangeLabs/cn=Recipients/cn=user%04d", i)},
	}
}

// someIdentifier names user i by one of its identifiers, varied with i,
// in odd case.
func someIdentifier(i int) string {
	r := memberRow(i)
	switch i % 10 {
	case 0:
		return strings.ToUpper(r["PrimarySmtpAddress"].(string))
	case 1:
		return r["Alias"].(string)
	case 2:
		return strings.ToLower(r["Identity"].(string))
	case 3:
		return r["Name"].(string)
	case 4:
		return strings.ToUpper(r["Guid"].(string))
	case 5:
		return r["ExternalDirectoryObjectId"].(string)
	case 6:
		return r["EmailAddresses"].([]string)[1] // smtp:secondary
	case 7:
		return strings.TrimPrefix(r["EmailAddresses"].([]string)[1], "smtp:") // secondary, bare
	case 8:
		return "SMTP:" + r["PrimarySmtpAddress"].(string)
	default:
		return r["EmailAddresses"].([]string)[2] // X500
	}
}

// memberFake answers Get-DistributionGroupMember with current and every
// other cmdlet with write (ok when nil).
func memberFake(t *testing.T, current []map[string]any, write func(c call) reply) *fakeEXO {
	t.Helper()
	rows := make([]any, len(current))
	for i, r := range current {
		rows[i] = r
	}
	return newFake(t, func(n int, c call) reply {
		if c.Cmdlet == "Get-DistributionGroupMember" {
			return ok("", rows...)
		}
		if write != nil {
			return write(c)
		}
		return ok("")
	})
}

// writes lists the calls other than the membership read as
// "Cmdlet member-or-members". Single-member calls run concurrently, so
// the order within each run of the same cmdlet is not promised: each run
// is sorted (an Add between Removes still shows).
func writes(t *testing.T, f *fakeEXO) []string {
	t.Helper()
	out := unorderedWrites(t, f)
	for i := 0; i < len(out); {
		j := i + 1
		for j < len(out) && cmdletOf(out[j]) == cmdletOf(out[i]) {
			j++
		}
		if c := cmdletOf(out[i]); c == "Add-DistributionGroupMember" || c == "Remove-DistributionGroupMember" {
			slices.Sort(out[i:j])
		}
		i = j
	}
	return out
}

func cmdletOf(w string) string { c, _, _ := strings.Cut(w, " "); return c }

func unorderedWrites(t *testing.T, f *fakeEXO) []string {
	t.Helper()
	var out []string
	for _, cl := range f.recorded() {
		switch cl.Cmdlet {
		case "Get-DistributionGroupMember":
			if got := asJSON(t, cl.Params); got != `{"Identity":"dl","ResultSize":"Unlimited"}` {
				t.Errorf("membership read with %s", got)
			}
		case "Update-DistributionGroupMember":
			out = append(out, cl.Cmdlet+" "+asJSON(t, cl.Params["Members"]))
		default:
			out = append(out, fmt.Sprintf("%s %v", cl.Cmdlet, cl.Params["Member"]))
		}
	}
	return out
}

func users(from, to int) []map[string]any {
	var out []map[string]any
	for i := from; i < to; i++ {
		out = append(out, memberRow(i))
	}
	return out
}

func TestReplaceGroupMembersUnchangedMakesNoWrite(t *testing.T) {
	f := memberFake(t, users(0, 2000), nil)
	c, _ := newTestClient(t, f, nil)
	var want []string
	for i := 1999; i >= 0; i-- { // any order, any identifier, any case
		want = append(want, someIdentifier(i))
	}
	if err := c.ReplaceGroupMembers(context.Background(), "dl", want); err != nil {
		t.Fatal(err)
	}
	if w := writes(t, f); len(w) != 0 {
		t.Fatalf("%d write calls for an unchanged list, want none: %v", len(w), w[:min(len(w), 5)])
	}
	if n := len(f.recorded()); n != 1 {
		t.Errorf("%d calls, want the one membership read", n)
	}
}

func TestReplaceGroupMembersChangesOnlyTheDifference(t *testing.T) {
	f := memberFake(t, users(0, 2000), nil)
	c, _ := newTestClient(t, f, nil)
	var want, wantWrites []string
	for i := 0; i < 2000; i++ {
		if i%200 == 7 { // 10 dropped
			continue
		}
		want = append(want, someIdentifier(i))
	}
	for i := 5000; i < 5015; i++ { // 15 new
		want = append(want, fmt.Sprintf("new%d@contoso.com", i))
		wantWrites = append(wantWrites, fmt.Sprintf("Add-DistributionGroupMember new%d@contoso.com", i))
	}
	for i := 7; i < 2000; i += 200 {
		wantWrites = append(wantWrites, "Remove-DistributionGroupMember "+memberRow(i)["Guid"].(string))
	}
	if err := c.ReplaceGroupMembers(context.Background(), "dl", want); err != nil {
		t.Fatal(err)
	}
	got := writes(t, f)
	if !reflect.DeepEqual(got, wantWrites) {
		t.Fatalf("writes (%d) =\n%s\nwant (%d, 15 Adds then 10 Removes)\n%s", len(got), strings.Join(got, "\n"), len(wantWrites), strings.Join(wantWrites, "\n"))
	}
	for _, cl := range f.recorded()[1:] {
		if cl.Params["Identity"] != "dl" || cl.Params["BypassSecurityGroupManagerCheck"] != true {
			t.Errorf("%s params %v", cl.Cmdlet, cl.Params)
		}
		if cl.Cmdlet == "Remove-DistributionGroupMember" && cl.Params["Confirm"] != false {
			t.Errorf("remove without Confirm:$false: %v", cl.Params)
		}
	}
}

func TestReplaceGroupMembersEmptyGroup(t *testing.T) {
	t.Run("fits one call", func(t *testing.T) {
		f := memberFake(t, nil, nil)
		c, _ := newTestClient(t, f, nil) // MemberChunk 500
		var want []string
		for i := 0; i < 300; i++ {
			want = append(want, someIdentifier(i))
		}
		if err := c.ReplaceGroupMembers(context.Background(), "dl", want); err != nil {
			t.Fatal(err)
		}
		calls := f.recorded()
		if len(calls) != 2 || calls[1].Cmdlet != "Update-DistributionGroupMember" {
			t.Fatalf("calls = %v, want the read then one Update", writes(t, f))
		}
		if got, w := asJSON(t, calls[1].Params), asJSON(t, map[string]any{"BypassSecurityGroupManagerCheck": true, "Confirm": false, "Identity": "dl", "Members": want}); got != w {
			t.Errorf("Update params = %s\nwant %s", got, w)
		}
	})
	t.Run("deduplicated", func(t *testing.T) {
		f := memberFake(t, nil, nil)
		c, _ := newTestClient(t, f, nil)
		if err := c.ReplaceGroupMembers(context.Background(), "dl", []string{"a", "A", "", " b "}); err != nil {
			t.Fatal(err)
		}
		if got := writes(t, f); !reflect.DeepEqual(got, []string{`Update-DistributionGroupMember ["a","b"]`}) {
			t.Errorf("writes = %v", got)
		}
	})
	t.Run("stays empty", func(t *testing.T) {
		f := memberFake(t, nil, nil)
		c, _ := newTestClient(t, f, nil)
		if err := c.ReplaceGroupMembers(context.Background(), "dl", []string{"", " "}); err != nil {
			t.Fatal(err)
		}
		if got := writes(t, f); len(got) != 0 {
			t.Errorf("writes = %v, want none", got)
		}
	})
	t.Run("more than one call takes", func(t *testing.T) {
		f := memberFake(t, nil, nil)
		c, _ := newTestClient(t, f, func(cfg *Config) { cfg.MemberChunk = 2 })
		if err := c.ReplaceGroupMembers(context.Background(), "dl", []string{"a", "b", "c"}); err != nil {
			t.Fatal(err)
		}
		want := []string{`Update-DistributionGroupMember ["a","b"]`, "Add-DistributionGroupMember c"}
		if got := writes(t, f); !reflect.DeepEqual(got, want) {
			t.Errorf("writes = %v, want %v", got, want)
		}
	})
}

func TestReplaceGroupMembersEmptiesAGroup(t *testing.T) {
	f := memberFake(t, users(0, 3), nil)
	c, _ := newTestClient(t, f, nil)
	if err := c.ReplaceGroupMembers(context.Background(), "dl", nil); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 0; i < 3; i++ {
		want = append(want, "Remove-DistributionGroupMember "+memberRow(i)["Guid"].(string))
	}
	if got := writes(t, f); !reflect.DeepEqual(got, want) {
		t.Errorf("writes = %v, want %v", got, want)
	}
}

func TestReplaceGroupMembersAlreadyAsAskedIsDone(t *testing.T) {
	gone := memberRow(1)["Guid"].(string)
	var f *fakeEXO
	f = newFake(t, func(n int, c call) reply {
		switch {
		case c.Cmdlet == "Get-DistributionGroupMember":
			return ok("", memberRow(0), memberRow(1))
		case c.Cmdlet == "Add-DistributionGroupMember" && c.Params["Member"] == "carol":
			return exoError(400, "Microsoft.Exchange.Management.Tasks.MemberAlreadyExistsException", `The recipient "carol" is already a member of the group "dl".`)
		case c.Cmdlet == "Get-Recipient" && c.Params["Identity"] == "carol":
			// Added meanwhile by someone else: not in the listing read.
			return ok("", map[string]any{"Identity": "carol", "Guid": "99999999-0000-4000-8000-000000000000", "PrimarySmtpAddress": "carol@contoso.com"})
		case c.Cmdlet == "Remove-DistributionGroupMember" && c.Params["Member"] == gone:
			return exoError(400, "Microsoft.Exchange.Management.Tasks.MemberNotFoundException", `The recipient "User 0001" isn't a member of the group "dl".`)
		case c.Cmdlet == "Get-Recipient":
			return reply{Status: 400, Body: "unexpected"}
		}
		return ok("")
	})
	c, _ := newTestClient(t, f, nil)
	if err := c.ReplaceGroupMembers(context.Background(), "dl", []string{"user0000", "carol", "dave"}); err != nil {
		t.Fatalf("err = %v, want already-as-asked answers counted as done", err)
	}
	var got []string
	for _, cl := range f.recorded()[1:] {
		got = append(got, fmt.Sprintf("%s %v%v", cl.Cmdlet, cl.Params["Member"], cl.Params["Identity"]))
	}
	// Adds first (concurrent, so in either order), then the "already a
	// member" resolved, then removals.
	if len(got) >= 2 {
		slices.Sort(got[:2])
	}
	want := []string{"Add-DistributionGroupMember caroldl", "Add-DistributionGroupMember davedl", "Get-Recipient <nil>carol", "Remove-DistributionGroupMember " + gone + "dl"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("calls = %q\nwant    %q", got, want)
	}
}

// A wanted identity the listing does not show (a UPN, say) that Exchange
// knows as a member must not get that member removed.
func TestReplaceGroupMembersMemberUnderAnotherName(t *testing.T) {
	f := newFake(t, func(n int, c call) reply {
		switch c.Cmdlet {
		case "Get-DistributionGroupMember":
			return ok("", memberRow(0), memberRow(1))
		case "Add-DistributionGroupMember":
			return exoError(400, "Microsoft.Exchange.Management.Tasks.MemberAlreadyExistsException", `The recipient "alice.upn@contoso.com" is already a member of the group "dl".`)
		case "Get-Recipient":
			return ok("", map[string]any{"Identity": "User 0001", "ExternalDirectoryObjectId": memberRow(1)["ExternalDirectoryObjectId"]})
		}
		return ok("")
	})
	c, _ := newTestClient(t, f, nil)
	if err := c.ReplaceGroupMembers(context.Background(), "dl", []string{"user0000", "alice.upn@contoso.com"}); err != nil {
		t.Fatal(err)
	}
	for _, cl := range f.recorded() {
		if cl.Cmdlet == "Remove-DistributionGroupMember" {
			t.Errorf("removed %v, the member the UPN names", cl.Params["Member"])
		}
	}
}

func TestReplaceGroupMembersStopsAtFailure(t *testing.T) {
	cases := []struct {
		name  string
		rep   reply
		class retry.Class
		say   string
	}{
		{"not found", exoError(400, "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException", `The operation couldn't be performed because object 'e' couldn't be found.`), retry.NotFound, "couldn't be found"},
		{"outcome unknown", reply{Status: http.StatusGatewayTimeout, Body: "gateway timeout"}, retry.Conflict, "outcome unknown; re-read before retrying"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := memberFake(t, users(0, 2), func(c call) reply {
				if c.Cmdlet == "Add-DistributionGroupMember" && c.Params["Member"] == "e" {
					return tc.rep
				}
				return ok("")
			})
			// One call at a time, so that which calls were made is exact.
			c, _ := newTestClient(t, f, func(cfg *Config) { cfg.MemberConcurrency = 1 })
			err := c.ReplaceGroupMembers(context.Background(), "dl", []string{"user0000", "d", "e", "f"})
			if retry.ClassOf(err) != tc.class || !strings.Contains(err.Error(), "1 of 3 done, stopped at member 2") || !strings.Contains(err.Error(), tc.say) {
				t.Fatalf("err = %v, want %v on adding member 2 of 3 saying %q", err, tc.class, tc.say)
			}
			want := []string{"Add-DistributionGroupMember d", "Add-DistributionGroupMember e"}
			if got := writes(t, f); !reflect.DeepEqual(got, want) {
				t.Errorf("writes = %v, want %v then stop, nothing removed", got, want)
			}
		})
	}
}

func TestReplaceGroupMembersReadFailureWritesNothing(t *testing.T) {
	f := newFake(t, func(n int, c call) reply {
		if c.Cmdlet == "Get-DistributionGroupMember" {
			return exoError(404, "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException", "The operation couldn't be performed because object 'dl' couldn't be found.")
		}
		return ok("")
	})
	c, _ := newTestClient(t, f, nil)
	if err := c.ReplaceGroupMembers(context.Background(), "dl", []string{"a"}); !errors.Is(err, retry.ErrNotFound) {
		t.Errorf("err = %v, want not found", err)
	}
	if n := len(f.recorded()); n != 1 {
		t.Errorf("%d calls, want only the read", n)
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
	if len(got) > 1 {
		slices.Sort(got[1:]) // the adds run concurrently
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
