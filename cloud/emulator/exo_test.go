package emulator

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/cloud"
)

// exoFixture: a synced DL, a cloud DL made with New-DistributionGroup, and
// users.
type exoFixture struct {
	h       *harness
	users   []string
	synced  *Object
	cloudDL map[string]any
}

func newExoFixture(t *testing.T) *exoFixture {
	h := newHarness(t)
	f := &exoFixture{h: h}
	f.users = h.seedUsers(3, func(i int, o *Object) { o.ExchangeLicensed = true })
	f.synced = h.put(&Object{Kind: cloud.KindGroup, DisplayName: "Synced DL", MailNickname: "synceddl", Mail: "synceddl@contoso.com",
		ProxyAddresses: []string{"SMTP:synceddl@contoso.com"}, MailEnabled: true, OnPremisesSyncEnabled: true, OnPremisesImmutableID: "gimm",
		Members: f.users[:1], CreatedDateTime: h.clock.Now().Add(-1e12)})
	r := h.cmdlet("New-DistributionGroup", map[string]any{
		"Name": "Cloud DL", "Alias": "clouddl", "PrimarySmtpAddress": "clouddl@contoso.com", "Type": "Distribution",
		"ManagedBy": []string{"u0000@contoso.com"}, "Members": []string{"u0001", f.users[2]},
	})
	rows := values(t, r)
	if len(rows) != 1 {
		t.Fatalf("New-DistributionGroup: %s", r.body)
	}
	f.cloudDL = rows[0]
	return f
}

func TestExoNewDistributionGroupAppearsInGraph(t *testing.T) {
	f := newExoFixture(t)
	h := f.h
	dl := f.cloudDL
	if dl["PrimarySmtpAddress"] != "clouddl@contoso.com" || dl["RecipientTypeDetails"] != "MailUniversalDistributionGroup" || dl["IsDirSynced"] != false {
		t.Errorf("row = %v", dl)
	}
	addrs := fmt.Sprint(dl["EmailAddresses"])
	if !strings.Contains(addrs, "SMTP:clouddl@contoso.com") || !strings.Contains(addrs, "smtp:clouddl@"+testDomain) {
		t.Errorf("EmailAddresses = %v (want the MOERA address)", addrs)
	}
	if fmt.Sprint(dl["ManagedBy"]) != "[User 0000]" {
		t.Errorf("ManagedBy = %v", dl["ManagedBy"])
	}
	g := h.get("/v1.0/groups/" + dl["ExternalDirectoryObjectId"].(string))
	m := g.json(t)
	if g.status != 200 || m["mailEnabled"] != true || m["securityEnabled"] != false || m["onPremisesSyncEnabled"] != nil {
		t.Fatalf("Graph group: %d %s", g.status, g.body)
	}
	if cloud.ClassifyGroup(nil, m["mailEnabled"].(bool), m["securityEnabled"].(bool)) != cloud.GroupDistribution {
		t.Error("not a distribution group")
	}
	r := h.cmdlet("New-DistributionGroup", map[string]any{"Name": "Sec", "Type": "Security"})
	sec := values(t, r)[0]
	if sec["GroupType"] != "Universal, SecurityEnabled" || sec["PrimarySmtpAddress"] != "Sec@contoso.com" {
		t.Errorf("security group = %v", sec)
	}
	if m := h.get("/v1.0/groups/" + sec["Guid"].(string)).json(t); m["securityEnabled"] != true || m["mailEnabled"] != true {
		t.Errorf("Graph security group = %v", m)
	}
}

func TestExoGetCmdlets(t *testing.T) {
	f := newExoFixture(t)
	h := f.h
	doms := values(t, h.cmdlet("Get-AcceptedDomain", nil))
	if len(doms) != 3 || doms[0]["DomainName"] != testDomain || doms[0]["InitialDomain"] != true || doms[1]["Default"] != true ||
		doms[2]["DomainName"] != "contoso.mail.onmicrosoft.com" || doms[2]["Default"] != false {
		t.Errorf("accepted domains = %v", doms)
	}
	tests := []struct {
		name   string
		cmdlet string
		params map[string]any
		n      int
		status int
	}{
		{"recipient by alias", "Get-Recipient", map[string]any{"Identity": "u0001"}, 1, 200},
		{"recipient by address", "Get-Recipient", map[string]any{"Identity": "U0002@Contoso.com"}, 1, 200},
		{"recipient by guid", "Get-Recipient", map[string]any{"Identity": f.users[0]}, 1, 200},
		{"recipient unknown", "Get-Recipient", map[string]any{"Identity": "ghost@contoso.com"}, 0, 404},
		{"recipient filter address", "Get-Recipient", map[string]any{"Filter": "EmailAddresses -eq 'smtp:clouddl@" + testDomain + "'"}, 1, 200},
		{"recipient filter type", "Get-Recipient", map[string]any{"Filter": "RecipientTypeDetails -eq 'MailUniversalDistributionGroup'", "ResultSize": "Unlimited"}, 2, 200},
		{"recipient all", "Get-Recipient", map[string]any{"ResultSize": "Unlimited"}, 5, 200},
		{"recipient bad filter", "Get-Recipient", map[string]any{"Filter": "Shoe -eq 'x'"}, 0, 400},
		{"dl all", "Get-DistributionGroup", map[string]any{"ResultSize": "Unlimited"}, 2, 200},
		{"dl user identity", "Get-DistributionGroup", map[string]any{"Identity": "u0001"}, 0, 404},
		{"dl members", "Get-DistributionGroupMember", map[string]any{"Identity": "clouddl"}, 2, 200},
		{"unknown parameter", "Get-Recipient", map[string]any{"Bogus": 1}, 0, 400},
		{"unknown cmdlet", "Get-MailboxStatistics", nil, 0, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.cmdlet(tc.cmdlet, tc.params)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == 200 {
				if n := len(values(t, r)); n != tc.n {
					t.Errorf("%d rows, want %d", n, tc.n)
				}
			}
		})
	}
	r := h.cmdlet("Get-Recipient", map[string]any{"Identity": "ghost@contoso.com"})
	want := "Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The operation couldn't be performed because object 'ghost@contoso.com' couldn't be found on 'EMULATOR'."
	if got := exoMessage(t, r); got != want {
		t.Errorf("not found message = %q", got)
	}
	// X-AnchorMailbox is required.
	r = h.do(http.MethodPost, "/adminapi/beta/"+testTenant+"/InvokeCommand", h.exo,
		map[string]any{"CmdletInput": map[string]any{"CmdletName": "Get-AcceptedDomain"}}, nil)
	if r.status != 400 || !strings.Contains(string(r.body), "X-AnchorMailbox") {
		t.Errorf("missing anchor: %d %s", r.status, r.body)
	}
}

func TestExoSetDistributionGroupRules(t *testing.T) {
	f := newExoFixture(t)
	h := f.h
	long := strings.Repeat("x", 65)
	tests := []struct {
		name    string
		params  map[string]any
		status  int
		message string
	}{
		{"synced object", map[string]any{"Identity": "synceddl", "PrimarySmtpAddress": "new@contoso.com"}, 400,
			"The action 'Set-DistributionGroup', 'PrimarySmtpAddress', can't be performed on the object 'Synced DL' because the object is being synchronized from your on-premises organization. This action should be performed on the object in your on-premises organization."},
		{"address in use", map[string]any{"Identity": "clouddl", "EmailAddresses": map[string]any{"add": []string{"u0001@contoso.com"}}}, 400,
			"The proxy address \"smtp:u0001@contoso.com\" is already being used by the proxy addresses or LegacyExchangeDN of \"User 0001\". Please choose another proxy address."},
		{"domain not accepted", map[string]any{"Identity": "clouddl", "PrimarySmtpAddress": "dl@fabrikam.com"}, 400,
			"You can't use the domain fabrikam.com because it's not an accepted domain for your organization."},
		{"name too long", map[string]any{"Identity": "clouddl", "Name": long}, 400, "The maximum length is 64 and the length of the value provided is 65."},
		{"alias too long", map[string]any{"Identity": "clouddl", "Alias": long}, 400, "The maximum length is 64"},
		{"alias in use", map[string]any{"Identity": "clouddl", "Alias": "u0001"}, 400, "The alias \"u0001\" is already being used"},
		{"alias bad chars", map[string]any{"Identity": "clouddl", "Alias": "a b"}, 400, "contains characters that aren't valid"},
		{"two primaries", map[string]any{"Identity": "clouddl", "EmailAddresses": []string{"SMTP:a@contoso.com", "SMTP:b@contoso.com"}}, 400, "multiple primary SMTP addresses"},
		{"unknown identity", map[string]any{"Identity": "ghost", "DisplayName": "x"}, 404, "couldn't be found"},
		{"unknown member", map[string]any{"Identity": "clouddl", "ManagedBy": []string{"ghost"}}, 404, "couldn't be found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.cmdlet("Set-DistributionGroup", tc.params)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if msg := exoMessage(t, r); !strings.Contains(msg, tc.message) {
				t.Errorf("message = %q, want it to contain %q", msg, tc.message)
			}
		})
	}
	// A successful change of everything.
	r := h.cmdlet("Set-DistributionGroup", map[string]any{
		"Identity": "clouddl", "PrimarySmtpAddress": "sales@contoso.com", "DisplayName": "Sales", "Name": "Sales",
		"EmailAddresses":                map[string]any{"Add": []string{"smtp:ventes@contoso.com"}},
		"HiddenFromAddressListsEnabled": true, "RequireSenderAuthenticationEnabled": false,
		"ModerationEnabled": true, "ModeratedBy": []string{"u0002"}, "BypassModerationFromSendersOrMembers": []string{"u0000"},
		"AcceptMessagesOnlyFromSendersOrMembers": []string{"u0001"}, "RejectMessagesFromSendersOrMembers": []string{"u0002"},
		"GrantSendOnBehalfTo": []string{"u0000"}, "CustomAttribute7": "seven", "ManagedBy": map[string]any{"Add": "u0001", "Remove": "u0000"},
	})
	if r.status != 200 {
		t.Fatalf("Set-DistributionGroup: %d %s", r.status, r.body)
	}
	g := values(t, h.cmdlet("Get-DistributionGroup", map[string]any{"Identity": "sales@contoso.com"}))[0]
	addrs := fmt.Sprint(g["EmailAddresses"])
	checks := map[string]bool{
		"primary":        g["PrimarySmtpAddress"] == "sales@contoso.com",
		"old demoted":    strings.Contains(addrs, "smtp:clouddl@contoso.com"),
		"added":          strings.Contains(addrs, "smtp:ventes@contoso.com"),
		"hidden":         g["HiddenFromAddressListsEnabled"] == true,
		"auth":           g["RequireSenderAuthenticationEnabled"] == false,
		"moderation":     g["ModerationEnabled"] == true && fmt.Sprint(g["ModeratedBy"]) == "[User 0002]",
		"managedBy":      fmt.Sprint(g["ManagedBy"]) == "[User 0001]",
		"ca7":            g["CustomAttribute7"] == "seven",
		"name":           g["Name"] == "Sales" && g["DisplayName"] == "Sales",
		"sendOnBehalf":   fmt.Sprint(g["GrantSendOnBehalfTo"]) == "[User 0000]",
		"accept":         fmt.Sprint(g["AcceptMessagesOnlyFromSendersOrMembers"]) == "[User 0001]",
		"reject":         fmt.Sprint(g["RejectMessagesFromSendersOrMembers"]) == "[User 0002]",
		"bypass":         fmt.Sprint(g["BypassModerationFromSendersOrMembers"]) == "[User 0000]",
		"graph mail set": h.get("/v1.0/groups/" + g["Guid"].(string)).json(t)["mail"] == "sales@contoso.com",
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("%s: %v", name, g)
		}
	}
	// Replacing the addresses array: the first becomes primary.
	r = h.cmdlet("Set-DistributionGroup", map[string]any{"Identity": "Sales", "EmailAddresses": []string{"s2@contoso.com", "smtp:s3@contoso.com"}})
	if r.status != 200 {
		t.Fatalf("replace addresses: %s", r.body)
	}
	g = values(t, h.cmdlet("Get-DistributionGroup", map[string]any{"Identity": "s3@contoso.com"}))[0]
	if g["PrimarySmtpAddress"] != "s2@contoso.com" {
		t.Errorf("after replace = %v", g["EmailAddresses"])
	}
	// After SOA conversion the synced group can be changed from the cloud.
	if err := h.e.Update(func(tx *Tx) error { return tx.SetCloudManaged(f.synced.ID, true) }); err != nil {
		t.Fatal(err)
	}
	if r := h.cmdlet("Set-DistributionGroup", map[string]any{"Identity": "synceddl", "HiddenFromAddressListsEnabled": true}); r.status != 200 {
		t.Errorf("set on converted group: %d %s", r.status, r.body)
	}
}

func TestExoNewDistributionGroupRules(t *testing.T) {
	f := newExoFixture(t)
	tests := []struct {
		name    string
		params  map[string]any
		message string
	}{
		{"name in use", map[string]any{"Name": "Cloud DL", "Alias": "other"}, "The name \"Cloud DL\" is already being used."},
		{"name too long", map[string]any{"Name": strings.Repeat("n", 70)}, "The maximum length is 64 and the length of the value provided is 70."},
		{"alias in use", map[string]any{"Name": "X", "Alias": "clouddl"}, "is already being used"},
		{"address in use", map[string]any{"Name": "X", "Alias": "x", "PrimarySmtpAddress": "synceddl@contoso.com"}, "The proxy address \"SMTP:synceddl@contoso.com\" is already being used"},
		{"bad domain", map[string]any{"Name": "X", "Alias": "x", "PrimarySmtpAddress": "x@fabrikam.com"}, "not an accepted domain"},
		{"bad type", map[string]any{"Name": "X", "Type": "Dynamic"}, "Distribution, Security"},
		{"unknown member", map[string]any{"Name": "X", "Members": []string{"ghost"}}, "couldn't be found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.h.cmdlet("New-DistributionGroup", tc.params)
			if r.status == 200 {
				t.Fatalf("succeeded: %s", r.body)
			}
			if msg := exoMessage(t, r); !strings.Contains(msg, tc.message) {
				t.Errorf("message = %q, want %q", msg, tc.message)
			}
		})
	}
	// Failed creations left nothing behind.
	if n := len(values(t, f.h.cmdlet("Get-DistributionGroup", nil))); n != 2 {
		t.Errorf("%d groups after failures", n)
	}
}

func TestExoMembershipCmdlets(t *testing.T) {
	f := newExoFixture(t)
	h := f.h
	count := func() int {
		return len(values(t, h.cmdlet("Get-DistributionGroupMember", map[string]any{"Identity": "clouddl"})))
	}
	if r := h.cmdlet("Add-DistributionGroupMember", map[string]any{"Identity": "clouddl", "Member": "u0000"}); r.status != 200 || count() != 3 {
		t.Fatalf("add: %d %s", r.status, r.body)
	}
	r := h.cmdlet("Add-DistributionGroupMember", map[string]any{"Identity": "clouddl", "Member": "u0000"})
	if msg := exoMessage(t, r); !strings.Contains(msg, "MemberAlreadyExistsException|The recipient \"u0000\" is already a member of the group \"Cloud DL\".") {
		t.Errorf("duplicate add: %s", msg)
	}
	if r := h.cmdlet("Remove-DistributionGroupMember", map[string]any{"Identity": "clouddl", "Member": "u0000"}); r.status != 200 || count() != 2 {
		t.Fatalf("remove: %d %s", r.status, r.body)
	}
	r = h.cmdlet("Remove-DistributionGroupMember", map[string]any{"Identity": "clouddl", "Member": "u0000"})
	if msg := exoMessage(t, r); !strings.Contains(msg, "isn't a member") {
		t.Errorf("remove non-member: %s", msg)
	}
	for _, c := range []string{"Add-DistributionGroupMember", "Remove-DistributionGroupMember"} {
		r := h.cmdlet(c, map[string]any{"Identity": "synceddl", "Member": "u0002"})
		if msg := exoMessage(t, r); !strings.Contains(msg, "being synchronized from your on-premises organization") {
			t.Errorf("%s on synced group: %s", c, msg)
		}
	}
	if r := h.cmdlet("Update-DistributionGroupMember", map[string]any{"Identity": "clouddl", "Members": []string{"u0000"}}); r.status != 200 || count() != 1 {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	// Graph sees the EXO membership.
	gid := f.cloudDL["Guid"].(string)
	if ms := values(t, h.get("/v1.0/groups/"+gid+"/members")); len(ms) != 1 || ms[0]["id"] != f.users[0] {
		t.Errorf("Graph members = %v", ms)
	}
	if r := h.cmdlet("Remove-DistributionGroup", map[string]any{"Identity": "synceddl"}); r.status != 400 {
		t.Errorf("remove synced group: %d", r.status)
	}
	if r := h.cmdlet("Remove-DistributionGroup", map[string]any{"Identity": "clouddl"}); r.status != 200 {
		t.Fatalf("remove group: %s", r.body)
	}
	if r := h.get("/v1.0/groups/" + gid); r.status != 404 {
		t.Errorf("removed group still in Graph: %d", r.status)
	}
}

func TestExoUpdateMemberChunkLimitAndPaging(t *testing.T) {
	h := newHarness(t)
	h.seedUsers(2500, nil)
	g := values(t, h.cmdlet("New-DistributionGroup", map[string]any{"Name": "Big"}))[0]
	var members []string
	for i := 0; i < 1001; i++ {
		members = append(members, fmt.Sprintf("u%04d", i))
	}
	r := h.cmdlet("Update-DistributionGroupMember", map[string]any{"Identity": "Big", "Members": members})
	if r.status != 400 || !strings.Contains(exoMessage(t, r), "more than the 1000 allowed in one request") {
		t.Fatalf("1001 members: %d %s", r.status, exoMessage(t, r))
	}
	if r := h.cmdlet("Update-DistributionGroupMember", map[string]any{"Identity": "Big", "Members": members[:1000]}); r.status != 200 {
		t.Fatalf("1000 members: %d %s", r.status, r.body)
	}
	if r := h.cmdlet("Add-DistributionGroupMember", map[string]any{"Identity": "Big", "Member": members[1000]}); r.status != 200 {
		t.Fatalf("add the rest: %s", r.body)
	}
	// Get-Recipient over 2,501 recipients in pages of 1000, following
	// nextLink by POSTing the same body.
	body := map[string]any{"CmdletInput": map[string]any{"CmdletName": "Get-Recipient", "Parameters": map[string]any{"ResultSize": "Unlimited"}}}
	anchor := map[string]string{"X-AnchorMailbox": "UPN:admin@" + testDomain}
	seen := map[string]bool{}
	pages := 0
	for next := "/adminapi/beta/" + testTenant + "/InvokeCommand"; next != ""; pages++ {
		r := h.do(http.MethodPost, next, h.exo, body, anchor)
		for _, row := range values(t, r) {
			id := row["ExternalDirectoryObjectId"].(string)
			if seen[id] {
				t.Fatalf("duplicate %s", id)
			}
			seen[id] = true
		}
		next, _ = r.json(t)["@odata.nextLink"].(string)
	}
	if pages != 3 || len(seen) != 2501 {
		t.Errorf("%d pages, %d recipients", pages, len(seen))
	}
	// Default ResultSize is 1000 with Exchange's warning.
	r = h.cmdlet("Get-Recipient", nil)
	if n := len(values(t, r)); n != 1000 || !strings.Contains(string(r.body), "ResultSize Unlimited") {
		t.Errorf("default ResultSize: %d rows", n)
	}
	// Prefer: odata.maxpagesize.
	r = h.cmdlet("Get-DistributionGroupMember", map[string]any{"Identity": g["Guid"], "ResultSize": "Unlimited"}, map[string]string{"Prefer": "odata.maxpagesize=500"})
	if n := len(values(t, r)); n != 500 || r.json(t)["@odata.nextLink"] == nil {
		t.Errorf("maxpagesize: %d rows", n)
	}
}

// Set-Mailbox -ForwardingAddress makes Get-Mailbox name the target (by
// Name), the ForwardingAddress filter finds the mailbox, and deleting the
// target clears the forwarding, as Exchange Online does.
func TestExoMailboxForwarding(t *testing.T) {
	f := newExoFixture(t)
	h := f.h
	mbs := values(t, h.cmdlet("Get-Mailbox", map[string]any{"ResultSize": "Unlimited"}))
	if len(mbs) == 0 {
		t.Fatal("Get-Mailbox returned no mailbox")
	}
	mb := mbs[0]["ExternalDirectoryObjectId"].(string)
	values(t, h.cmdlet("New-DistributionGroup", map[string]any{"Name": "Fwd Target", "Alias": "fwdtarget", "PrimarySmtpAddress": "fwdtarget@" + testDomain}))
	if r := h.cmdlet("Set-Mailbox", map[string]any{"Identity": mb, "ForwardingAddress": "fwdtarget@" + testDomain}); r.status != 200 {
		t.Fatalf("Set-Mailbox: %d %s", r.status, r.body)
	}
	if got := values(t, h.cmdlet("Get-Mailbox", map[string]any{"Identity": mb})); got[0]["ForwardingAddress"] != "Fwd Target" {
		t.Fatalf("Get-Mailbox after Set-Mailbox: %v", got)
	}
	found := values(t, h.cmdlet("Get-Mailbox", map[string]any{"Filter": "ForwardingAddress -ne $null", "ResultSize": "Unlimited"}))
	if len(found) != 1 || found[0]["ExternalDirectoryObjectId"] != mb {
		t.Fatalf("Get-Mailbox -Filter: %v", found)
	}
	if r := h.cmdlet("Remove-DistributionGroup", map[string]any{"Identity": "fwdtarget", "Confirm": false}); r.status != 200 {
		t.Fatalf("Remove-DistributionGroup: %d %s", r.status, r.body)
	}
	if got := values(t, h.cmdlet("Get-Mailbox", map[string]any{"Identity": mb})); got[0]["ForwardingAddress"] != nil {
		t.Errorf("the mailbox still forwards to the removed list: %v", got[0]["ForwardingAddress"])
	}
	if r := h.cmdlet("Set-Mailbox", map[string]any{"Identity": mb, "ForwardingAddress": "nobody@" + testDomain}); r.status != 404 {
		t.Errorf("Set-Mailbox to an unknown recipient: %d %s", r.status, r.body)
	}
	if r := h.cmdlet("Set-Mailbox", map[string]any{"Identity": mb, "ForwardingAddress": nil}); r.status != 200 {
		t.Errorf("Set-Mailbox -ForwardingAddress $null: %d %s", r.status, r.body)
	}
}

// Send-As grants read by identity and by trustee; a deleted recipient
// leaves the grants and the recipient lists that named it, as in
// Exchange Online.
func TestExoSendAsAndDeletedRecipients(t *testing.T) {
	f := newExoFixture(t)
	h := f.h
	values(t, h.cmdlet("New-DistributionGroup", map[string]any{"Name": "Granting", "Alias": "granting", "PrimarySmtpAddress": "granting@" + testDomain}))
	values(t, h.cmdlet("New-DistributionGroup", map[string]any{"Name": "Granted", "Alias": "granted", "PrimarySmtpAddress": "granted@" + testDomain}))
	if r := h.cmdlet("Add-RecipientPermission", map[string]any{"Identity": "granting", "Trustee": "granted", "AccessRights": []string{"SendAs"}, "Confirm": false}); r.status != 200 {
		t.Fatalf("Add-RecipientPermission: %d %s", r.status, r.body)
	}
	if r := h.cmdlet("Add-RecipientPermission", map[string]any{"Identity": "granting", "Trustee": "granted", "AccessRights": []string{"FullAccess"}}); r.status != 400 {
		t.Errorf("Add-RecipientPermission FullAccess: %d, want 400", r.status)
	}
	if r := h.cmdlet("Set-DistributionGroup", map[string]any{"Identity": "granting", "AcceptMessagesOnlyFromSendersOrMembers": []string{"granted"}}); r.status != 200 {
		t.Fatalf("Set-DistributionGroup: %d %s", r.status, r.body)
	}
	byID := values(t, h.cmdlet("Get-RecipientPermission", map[string]any{"Identity": "granting"}))
	byTrustee := values(t, h.cmdlet("Get-RecipientPermission", map[string]any{"Trustee": "granted"}))
	if len(byID) != 1 || byID[0]["Trustee"] != "Granted" || len(byTrustee) != 1 || byTrustee[0]["Identity"] != "Granting" {
		t.Fatalf("Get-RecipientPermission: by identity %v, by trustee %v", byID, byTrustee)
	}
	if r := h.cmdlet("Remove-DistributionGroup", map[string]any{"Identity": "granted", "Confirm": false}); r.status != 200 {
		t.Fatalf("Remove-DistributionGroup: %d %s", r.status, r.body)
	}
	if ps := values(t, h.cmdlet("Get-RecipientPermission", map[string]any{"Identity": "granting"})); len(ps) != 0 {
		t.Errorf("grants to a deleted recipient: %v", ps)
	}
	g := values(t, h.cmdlet("Get-DistributionGroup", map[string]any{"Identity": "granting"}))[0]
	if a, _ := g["AcceptMessagesOnlyFromSendersOrMembers"].([]any); len(a) != 0 {
		t.Errorf("AcceptMessagesOnlyFromSendersOrMembers still names the deleted list: %v", a)
	}
}
