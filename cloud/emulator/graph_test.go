package emulator

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/cloud"
)

var eventual = map[string]string{"ConsistencyLevel": "eventual"}

func TestListPagingNoDuplicates(t *testing.T) {
	h := newHarness(t)
	h.seedUsers(2500, nil)
	items, pages, _ := h.collect("/v1.0/users?$top=999&$select=id,displayName", nil)
	if pages != 3 || len(items) != 2500 {
		t.Fatalf("pages = %d, items = %d; want 3 and 2500", pages, len(items))
	}
	seen := map[string]bool{}
	for _, it := range items {
		id := it["id"].(string)
		if seen[id] {
			t.Fatalf("duplicate %s", id)
		}
		seen[id] = true
		if len(it) != 2 {
			t.Fatalf("$select=id,displayName returned %v", it)
		}
	}
	// Default page size is 100.
	r := h.get("/v1.0/users")
	if n := len(values(t, r)); n != 100 {
		t.Errorf("default page = %d", n)
	}
	if !strings.Contains(r.json(t)["@odata.context"].(string), "$metadata#users") {
		t.Errorf("context = %v", r.json(t)["@odata.context"])
	}
	if r := h.get("/v1.0/users?$top=1000"); r.status != 400 {
		t.Errorf("$top=1000: %d", r.status)
	}
}

func TestListSelectFilterCount(t *testing.T) {
	h := newHarness(t)
	h.seedUsers(10, func(i int, o *Object) {
		if i == 3 {
			o.DisplayName = "O'Hara"
			o.ProxyAddresses = append(o.ProxyAddresses, "smtp:scarlett@contoso.com")
		}
		if i >= 8 {
			o.OnPremisesSyncEnabled = false
			o.OnPremisesImmutableID = ""
		}
	})
	h.put(&Object{Kind: cloud.KindGroup, DisplayName: "DL", MailEnabled: true, MailNickname: "dl", ProxyAddresses: []string{"SMTP:dl@contoso.com"}})
	h.put(&Object{Kind: cloud.KindContact, DisplayName: "Ext", Mail: "ext@fabrikam.com", ProxyAddresses: []string{"SMTP:ext@fabrikam.com"}})

	tests := []struct {
		name   string
		path   string
		hdr    map[string]string
		status int
		code   string
		n      int
	}{
		{"eq", "/v1.0/users?$filter=" + url.QueryEscape("mail eq 'u0001@contoso.com'"), nil, 200, "", 1},
		{"escaped quote", "/v1.0/users?$filter=" + url.QueryEscape("displayName eq 'O''Hara'"), nil, 200, "", 1},
		{"any", "/v1.0/users?$filter=" + url.QueryEscape("proxyAddresses/any(p:p eq 'smtp:scarlett@contoso.com')"), nil, 200, "", 1},
		{"any startsWith", "/v1.0/users?$filter=" + url.QueryEscape("proxyAddresses/any(p:startsWith(p,'SMTP:u000'))"), nil, 200, "", 10},
		{"startsWith", "/v1.0/users?$filter=" + url.QueryEscape("startsWith(userPrincipalName,'u000')"), nil, 200, "", 10},
		{"synced", "/v1.0/users?$filter=" + url.QueryEscape("onPremisesSyncEnabled eq true"), nil, 200, "", 8},
		{"and/or", "/v1.0/users?$filter=" + url.QueryEscape("(mail eq 'u0001@contoso.com' or mail eq 'u0002@contoso.com') and onPremisesSyncEnabled eq true"), nil, 200, "", 2},
		{"ne needs advanced", "/v1.0/users?$filter=" + url.QueryEscape("mail ne 'x'"), nil, 400, "Request_UnsupportedQuery", 0},
		{"ne advanced", "/v1.0/users?$count=true&$filter=" + url.QueryEscape("mail ne 'u0001@contoso.com'"), eventual, 200, "", 9},
		{"unsupported property", "/v1.0/users?$filter=" + url.QueryEscape("jobTitle eq 'x'"), nil, 400, "Request_UnsupportedQuery", 0},
		{"syntax error", "/v1.0/users?$filter=" + url.QueryEscape("mail eq 'x"), nil, 400, "BadRequest", 0},
		{"count needs eventual", "/v1.0/users?$count=true", nil, 400, "Request_UnsupportedQuery", 0},
		{"count", "/v1.0/users?$count=true&$top=3", eventual, 200, "", 3},
		{"bad select", "/v1.0/users?$select=id,shoeSize", nil, 400, "Request_BadRequest", 0},
		{"groups filter", "/v1.0/groups?$filter=" + url.QueryEscape("mailEnabled eq true and securityEnabled eq false"), nil, 200, "", 1},
		{"contacts", "/v1.0/contacts", nil, 200, "", 1},
		{"orderby unsupported", "/v1.0/users?$orderby=displayName", nil, 400, "Request_UnsupportedQuery", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.get(tc.path, tc.hdr)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.code != "" {
				if c := r.errCode(t); c != tc.code {
					t.Errorf("code %q, want %q", c, tc.code)
				}
				return
			}
			if n := len(values(t, r)); n != tc.n {
				t.Errorf("got %d items, want %d", n, tc.n)
			}
		})
	}
	r := h.get("/v1.0/users?$count=true&$top=3", eventual)
	if c, _ := r.json(t)["@odata.count"].(float64); c != 10 {
		t.Errorf("@odata.count = %v, want 10", r.json(t)["@odata.count"])
	}
	// $select returns exactly the selected fields plus id; defaults differ.
	r = h.get("/v1.0/users?$select=onPremisesImmutableId,proxyAddresses&$top=1")
	it := values(t, r)[0]
	if _, ok := it["onPremisesImmutableId"]; len(it) != 3 || !ok || it["proxyAddresses"] == nil {
		t.Errorf("selected item = %v", it)
	}
	it = values(t, h.get("/v1.0/users?$top=1"))[0]
	if _, ok := it["onPremisesImmutableId"]; ok || it["userPrincipalName"] == nil {
		t.Errorf("default user properties = %v", it)
	}
}

func TestGetAndMembers(t *testing.T) {
	h := newHarness(t)
	ids := h.seedUsers(5, nil)
	c := h.put(&Object{Kind: cloud.KindContact, DisplayName: "C", Mail: "c@fabrikam.com", ProxyAddresses: []string{"SMTP:c@fabrikam.com"}})
	g := h.put(&Object{Kind: cloud.KindGroup, DisplayName: "G", MailEnabled: true, Members: append(slices.Clone(ids), c.ID)})
	r := h.get("/v1.0/users/" + ids[0] + "?$select=id,onPremisesImmutableId")
	if r.status != 200 || r.json(t)["onPremisesImmutableId"] != "imm0000" {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	if r := h.get("/v1.0/users/u0001@contoso.com"); r.status != 200 {
		t.Errorf("get by UPN: %d", r.status)
	}
	if r := h.get("/v1.0/users/" + g.ID); r.status != 404 || r.errCode(t) != "Request_ResourceNotFound" {
		t.Errorf("group id under /users: %d %s", r.status, r.body)
	}
	items, pages, _ := h.collect("/v1.0/groups/"+g.ID+"/members?$top=4", nil)
	if len(items) != 6 || pages != 2 {
		t.Fatalf("members: %d items in %d pages", len(items), pages)
	}
	types := map[string]int{}
	for _, it := range items {
		types[it["@odata.type"].(string)]++
	}
	if types["#microsoft.graph.user"] != 5 || types["#microsoft.graph.orgContact"] != 1 {
		t.Errorf("member types = %v", types)
	}
	if r := h.get("/v1.0/groups/nope/members"); r.status != 404 {
		t.Errorf("members of unknown group: %d", r.status)
	}
}

// deltaRound follows a delta round from link to its deltaLink.
func (h *harness) deltaRound(link string) ([]map[string]any, string) {
	h.t.Helper()
	items, _, last := h.collect(link, nil)
	dl, _ := last["@odata.deltaLink"].(string)
	if dl == "" {
		h.t.Fatalf("round ended without a deltaLink: %v", last)
	}
	return items, dl
}

func byID(items []map[string]any) map[string]map[string]any {
	m := map[string]map[string]any{}
	for _, it := range items {
		m[it["id"].(string)] = it
	}
	return m
}

func TestDeltaRounds(t *testing.T) {
	h := newHarness(t)
	ids := h.seedUsers(250, nil)
	items, link := h.deltaRound("/v1.0/users/delta?$select=displayName,onPremisesImmutableId")
	if len(items) != 250 || len(byID(items)) != 250 {
		t.Fatalf("first round: %d items", len(items))
	}
	// Nothing changed: empty round.
	items, link = h.deltaRound(link)
	if len(items) != 0 {
		t.Fatalf("idle round returned %d items", len(items))
	}
	// Create, modify, soft delete, hard delete.
	var created string
	err := h.e.Update(func(tx *Tx) error {
		n, err := tx.Put(&Object{Kind: cloud.KindUser, DisplayName: "New", UserPrincipalName: "new@contoso.com", CreatedDateTime: h.clock.Now().Add(-time.Hour)})
		created = n.ID
		if err != nil {
			return err
		}
		o := tx.Get(ids[1])
		o.DisplayName = "Renamed"
		if _, err := tx.Put(o); err != nil {
			return err
		}
		if err := tx.Delete(ids[2]); err != nil {
			return err
		}
		return tx.HardDelete(ids[3])
	})
	if err != nil {
		t.Fatal(err)
	}
	items, link = h.deltaRound(link)
	got := byID(items)
	if len(got) != 4 {
		t.Fatalf("second round = %v", items)
	}
	if got[created]["displayName"] != "New" || got[ids[1]]["displayName"] != "Renamed" {
		t.Errorf("created/modified = %v / %v", got[created], got[ids[1]])
	}
	if rm, _ := got[ids[2]]["@removed"].(map[string]any); rm["reason"] != "changed" {
		t.Errorf("soft-deleted = %v", got[ids[2]])
	}
	if rm, _ := got[ids[3]]["@removed"].(map[string]any); rm["reason"] != "deleted" {
		t.Errorf("hard-deleted = %v", got[ids[3]])
	}
	if _, ok := got[created]["onPremisesImmutableId"]; !ok {
		t.Error("later rounds lost the round's $select")
	}
	// Restore shows the object again.
	if err := h.e.Update(func(tx *Tx) error { return tx.Restore(ids[2]) }); err != nil {
		t.Fatal(err)
	}
	items, link = h.deltaRound(link)
	if len(items) != 1 || items[0]["id"] != ids[2] || items[0]["@removed"] != nil {
		t.Errorf("after restore = %v", items)
	}

	// Expired token: 410 syncStateNotFound.
	h.clock.Add(8 * 24 * time.Hour)
	h.graph = h.e.IssueToken(AudienceGraph)
	if r := h.get(link); r.status != http.StatusGone || r.errCode(t) != "syncStateNotFound" {
		t.Errorf("expired token: %d %s", r.status, r.body)
	}
	// Unknown token.
	if r := h.get("/v1.0/users/delta?$deltatoken=garbage"); r.status != http.StatusGone {
		t.Errorf("garbage token: %d", r.status)
	}
	// Tokens made unknown by ExpireDeltaTokens.
	_, fresh := h.deltaRound("/v1.0/users/delta")
	_ = h.e.Update(func(tx *Tx) error { tx.ExpireDeltaTokens(); return nil })
	if r := h.get(fresh); r.status != http.StatusGone {
		t.Errorf("after ExpireDeltaTokens: %d", r.status)
	}
	// $deltatoken=latest starts from now.
	r := h.get("/v1.0/users/delta?$deltatoken=latest")
	if n := len(values(t, r)); n != 0 || r.json(t)["@odata.deltaLink"] == nil {
		t.Errorf("latest: %s", r.body)
	}
}

func TestGroupDeltaMembers(t *testing.T) {
	h := newHarness(t)
	ids := h.seedUsers(3, nil)
	g := h.put(&Object{Kind: cloud.KindGroup, DisplayName: "G", MailEnabled: true, Members: ids[:2], OnPremisesSyncEnabled: true})
	items, link := h.deltaRound("/v1.0/groups/delta?$select=displayName,members")
	if len(items) != 1 {
		t.Fatalf("first round = %v", items)
	}
	if md, _ := items[0]["members@delta"].([]any); len(md) != 2 {
		t.Fatalf("members@delta = %v", items[0]["members@delta"])
	}
	if err := h.e.Update(func(tx *Tx) error { return tx.SetMembers(g.ID, []string{ids[1], ids[2]}) }); err != nil {
		t.Fatal(err)
	}
	items, _ = h.deltaRound(link)
	if len(items) != 1 {
		t.Fatalf("second round = %v", items)
	}
	md, _ := items[0]["members@delta"].([]any)
	added, removed := 0, 0
	for _, m := range md {
		mm := m.(map[string]any)
		switch {
		case mm["@removed"] != nil && mm["id"] == ids[0]:
			removed++
		case mm["@removed"] == nil && mm["id"] == ids[2]:
			added++
		}
	}
	if len(md) != 2 || added != 1 || removed != 1 {
		t.Errorf("members@delta = %v", md)
	}
}

func TestEventualConsistency(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Faults.VisibilityDelay = 30 * time.Second })
	_, link := h.deltaRound("/v1.0/users/delta")
	u := h.put(&Object{Kind: cloud.KindUser, DisplayName: "Fresh", UserPrincipalName: "fresh@contoso.com"})
	if r := h.get("/v1.0/users/" + u.ID); r.status != 404 {
		t.Errorf("fresh object visible: %d", r.status)
	}
	if n := len(values(t, h.get("/v1.0/users"))); n != 0 {
		t.Errorf("fresh object listed")
	}
	items, link2 := h.deltaRound(link)
	if len(items) != 0 {
		t.Errorf("fresh object in delta: %v", items)
	}
	// Writes see it.
	if err := h.e.Update(func(tx *Tx) error { return tx.SetExchangeLicense(u.ID, true) }); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(31 * time.Second)
	if r := h.get("/v1.0/users/" + u.ID); r.status != 200 {
		t.Errorf("object still invisible after the delay: %d", r.status)
	}
	// The round that could not see it did not skip it.
	items, _ = h.deltaRound(link2)
	if len(items) != 1 || items[0]["id"] != u.ID {
		t.Errorf("delta after the delay = %v", items)
	}
}

func TestBatch(t *testing.T) {
	h := newHarness(t)
	ids := h.seedUsers(2, nil)
	body := map[string]any{"requests": []map[string]any{
		{"id": "1", "method": "GET", "url": "/users/" + ids[0] + "?$select=id,displayName"},
		{"id": "2", "method": "GET", "url": "/users/nope"},
		{"id": "3", "method": "GET", "url": "/users/" + ids[1], "dependsOn": []string{"2"}},
		{"id": "4", "method": "GET", "url": "users?$count=true&$top=1", "headers": map[string]string{"ConsistencyLevel": "eventual"}},
		{"id": "5", "method": "POST", "url": "/users/" + ids[1] + "/revokeSignInSessions", "dependsOn": []string{"1"}},
	}}
	r := h.do(http.MethodPost, "/v1.0/$batch", h.graph, body, nil)
	if r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	resps, _ := r.json(t)["responses"].([]any)
	status := map[string]float64{}
	for _, x := range resps {
		m := x.(map[string]any)
		status[m["id"].(string)] = m["status"].(float64)
		if m["id"] == "1" {
			if b, _ := m["body"].(map[string]any); b["displayName"] != "User 0000" {
				t.Errorf("item 1 body = %v", m["body"])
			}
		}
	}
	want := map[string]float64{"1": 200, "2": 404, "3": 424, "4": 200, "5": 200}
	for id, s := range want {
		if status[id] != s {
			t.Errorf("item %s status %v, want %v", id, status[id], s)
		}
	}
	// More than 20 requests.
	var many []map[string]any
	for i := 0; i < 21; i++ {
		many = append(many, map[string]any{"id": fmt.Sprint(i), "method": "GET", "url": "/users"})
	}
	if r := h.do(http.MethodPost, "/v1.0/$batch", h.graph, map[string]any{"requests": many}, nil); r.status != 400 {
		t.Errorf("21 requests: %d", r.status)
	}
	// dependsOn an unknown id.
	bad := map[string]any{"requests": []map[string]any{{"id": "1", "method": "GET", "url": "/users", "dependsOn": []string{"9"}}}}
	if r := h.do(http.MethodPost, "/v1.0/$batch", h.graph, bad, nil); r.status != 400 {
		t.Errorf("unknown dependsOn: %d", r.status)
	}
	st := h.e.Stats()
	if st.Requests["graph.batch"] != 3 || st.Requests["batch:graph.get"] != 2 {
		t.Errorf("stats = %v", st.Requests)
	}
}

func TestSyncBehavior(t *testing.T) {
	h := newHarness(t)
	synced := h.put(&Object{Kind: cloud.KindGroup, DisplayName: "S", MailEnabled: true, OnPremisesSyncEnabled: true, OnPremisesImmutableID: "gimm"})
	cloudOnly := h.put(&Object{Kind: cloud.KindGroup, DisplayName: "C", SecurityEnabled: true})
	path := "/beta/groups/" + synced.ID + "/onPremisesSyncBehavior"
	if r := h.get(path); r.status != 200 || r.json(t)["isCloudManaged"] != false {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	if r := h.do(http.MethodPatch, path, h.graph, map[string]any{"isCloudManaged": true}, nil); r.status != 204 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	if r := h.get(path); r.json(t)["isCloudManaged"] != true {
		t.Errorf("after patch: %s", r.body)
	}
	_ = h.e.View(func(tx *Tx) error {
		if tx.Get(synced.ID).SyncManaged() {
			t.Error("converted group is still SyncManaged")
		}
		return nil
	})
	if it := h.get("/v1.0/groups/" + synced.ID + "?$select=onPremisesSyncEnabled").json(t); it["onPremisesSyncEnabled"] != nil {
		t.Errorf("converted group onPremisesSyncEnabled = %v", it["onPremisesSyncEnabled"])
	}
	if r := h.do(http.MethodPatch, "/beta/groups/"+cloudOnly.ID+"/onPremisesSyncBehavior", h.graph, map[string]any{"isCloudManaged": true}, nil); r.status != 400 {
		t.Errorf("cloud-only group: %d", r.status)
	}
	if r := h.get("/v1.0/groups/" + synced.ID + "/onPremisesSyncBehavior"); r.status != 400 {
		t.Errorf("v1.0 SOA should not exist: %d", r.status)
	}
	if r := h.get("/beta/groups/nope/onPremisesSyncBehavior"); r.status != 404 {
		t.Errorf("unknown group: %d", r.status)
	}
}

func TestRevokeReportsAuthMethods(t *testing.T) {
	h := newHarness(t)
	ids := h.seedUsers(3, nil)
	err := h.e.Update(func(tx *Tx) error {
		if err := tx.SetRegistrationDetail(ids[0], cloud.RegistrationDetail{IsMFARegistered: true, IsMFACapable: true, MethodsRegistered: []string{"microsoftAuthenticatorPush"}}); err != nil {
			return err
		}
		return tx.SetAuthMethods(ids[0], []cloud.AuthMethod{{Type: "microsoftAuthenticatorAuthenticationMethod", DisplayName: "Pixel"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Add(time.Minute)
	r := h.do(http.MethodPost, "/v1.0/users/"+ids[1]+"/revokeSignInSessions", h.graph, nil, nil)
	if r.status != 200 || r.json(t)["value"] != true {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	it := h.get("/v1.0/users/" + ids[1] + "?$select=signInSessionsValidFromDateTime").json(t)
	if it["signInSessionsValidFromDateTime"] != h.clock.Now().Format(time.RFC3339) {
		t.Errorf("signInSessionsValidFromDateTime = %v", it["signInSessionsValidFromDateTime"])
	}
	if r := h.do(http.MethodPost, "/v1.0/users/nope/revokeSignInSessions", h.graph, nil, nil); r.status != 404 {
		t.Errorf("revoke unknown: %d", r.status)
	}
	items, pages, _ := h.collect("/v1.0/reports/authenticationMethods/userRegistrationDetails?$top=2", nil)
	if len(items) != 3 || pages != 2 {
		t.Fatalf("report: %d rows in %d pages", len(items), pages)
	}
	r = h.get("/v1.0/reports/authenticationMethods/userRegistrationDetails?$filter=" + url.QueryEscape("isMfaRegistered eq true"))
	if rows := values(t, r); len(rows) != 1 || rows[0]["id"] != ids[0] {
		t.Errorf("filtered report = %v", rows)
	}
	r = h.get("/v1.0/reports/authenticationMethods/userRegistrationDetails?$filter=" + url.QueryEscape("methodsRegistered/any(m:m eq 'microsoftAuthenticatorPush')"))
	if rows := values(t, r); len(rows) != 1 {
		t.Errorf("methodsRegistered filter = %v", rows)
	}
	methods := values(t, h.get("/v1.0/users/"+ids[0]+"/authentication/methods"))
	if len(methods) != 2 || methods[0]["@odata.type"] != "#microsoft.graph.passwordAuthenticationMethod" || methods[1]["@odata.type"] != "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod" {
		t.Errorf("methods = %v", methods)
	}
}
