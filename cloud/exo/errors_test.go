package exo

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/internal/retry"
)

func TestClassifyResponse(t *testing.T) {
	const op = `exo Set-DistributionGroup "sales@contoso.com"`
	detail := func(status int, typ, msg string) string { return exoError(status, typ, msg).Body }
	pipe := func(typ, msg string) string {
		body, _ := json.Marshal(map[string]any{"error": map[string]any{
			"code": "BadRequest", "message": "Error executing cmdlet",
			"details": []any{map[string]any{"code": "Context", "message": "ex6F9304|" + typ + "|" + msg}},
		}})
		return string(body)
	}
	cases := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		class      retry.Class
		retryAfter time.Duration
		mention    []string
	}{
		{"401", 401, nil, `{"error":{"code":"Unauthorized","message":"The token has an invalid audience."}}`, retry.Terminal, 0,
			[]string{"not authorised", "HTTP 401", "invalid audience", "Exchange.ManageAsApp"}},
		{"403 empty body", 403, nil, ``, retry.Terminal, 0, []string{"HTTP 403 Forbidden"}},
		{"403 even if busy text", 403, nil, `Server Busy`, retry.Terminal, 0, nil},
		{"429 seconds", 429, map[string]string{"Retry-After": "12"}, ``, retry.Retryable, 12 * time.Second, []string{"HTTP 429"}},
		{"429 no header", 429, nil, ``, retry.Retryable, 0, nil},
		{"503 on a write", 503, map[string]string{"Retry-After": "2"}, `Service Unavailable`, retry.Retryable, 2 * time.Second, nil},
		{"500 on a write", 500, nil, `{"error":{"code":"InternalServerError","message":"Unexpected failure"}}`, retry.Conflict, 0,
			[]string{"outcome unknown; re-read before retrying", "HTTP 500", "Unexpected failure"}},
		{"502 on a write", 502, nil, `bad gateway`, retry.Conflict, 0, []string{"outcome unknown; re-read before retrying", "HTTP 502"}},
		{"504 on a write", 504, map[string]string{"Retry-After": "5"}, `<html>gateway</html>`, retry.Conflict, 0, []string{"outcome unknown; re-read before retrying", "HTTP 504", "gateway"}},
		{"500 on a write, known answer", 500, nil, detail(500, "Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException", "The object 'CN=sales' already exists."), retry.Conflict, 0, nil},
		{"503 fractional", 503, map[string]string{"Retry-After": "1.5"}, ``, retry.Retryable, 1500 * time.Millisecond, nil},
		{"404 bare", 404, nil, ``, retry.NotFound, 0, []string{"HTTP 404"}},
		{"not found json detail", 400, nil, detail(400, "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException", "The operation couldn't be performed because object 'sales' couldn't be found on 'DC1'."), retry.NotFound, 0,
			[]string{"couldn't be found", "ManagementObjectNotFoundException"}},
		{"not found pipe detail", 400, nil, pipe("Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException", "The operation couldn't be performed because object 'x' couldn't be found."), retry.NotFound, 0,
			[]string{"couldn't be found"}},
		{"not found by type only", 400, nil, detail(400, "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException", "Object missing."), retry.NotFound, 0, nil},
		{"dir synced", 400, nil, detail(400, "Microsoft.Exchange.Configuration.Tasks.TaskException", "The action 'Set-DistributionGroup', 'DisplayName', can't be performed on the object 'sales' because the object is being synchronized from your on-premises organization. This action should be performed on the object in your on-premises organization."), retry.Terminal, 0,
			[]string{"synchronised from on-premises", "on-premises organization"}},
		{"dir synced beats not found on 404", 404, nil, detail(404, "X.TaskException", "object is being synchronized from your on-premises organization"), retry.Terminal, 0, nil},
		{"proxy in use", 400, nil, detail(400, "Microsoft.Exchange.Data.Directory.ProxyAddressExistsException", "The proxy address \"SMTP:sales@contoso.com\" is already being used by the proxy addresses or LegacyExchangeDN of \"marketing\". Please choose another proxy address."), retry.Conflict, 0,
			[]string{"already being used"}},
		{"already exists", 400, nil, detail(400, "Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException", "The object 'CN=sales,OU=contoso.onmicrosoft.com' already exists."), retry.Conflict, 0, nil},
		{"already a member", 400, nil, pipe("Microsoft.Exchange.Management.Tasks.MemberAlreadyExistsException", "The recipient \"bob\" is already a member of the group \"sales\"."), retry.Conflict, 0, nil},
		{"not a member", 400, nil, pipe("Microsoft.Exchange.Management.Tasks.MemberNotFoundException", "The recipient \"bob\" isn't a member of the group \"sales\"."), retry.Conflict, 0, nil},
		{"accepted domain", 400, nil, detail(400, "Microsoft.Exchange.Data.DataValidationException", "The email address \"sales@fabrikam.com\" isn't correct. Please use this format: user name, the @ sign, followed by the domain name. For example, tonysmith@contoso.com or tony.smith@contoso.com. The domain fabrikam.com isn't an accepted domain."), retry.Terminal, 0,
			[]string{"isn't an accepted domain"}},
		{"validation", 400, nil, detail(400, "Microsoft.Exchange.Configuration.Tasks.ValidationException", "Alias contains invalid characters."), retry.Terminal, 0, nil},
		{"group manager", 400, nil, detail(400, "Microsoft.Exchange.Configuration.Tasks.TaskException", "You don't have sufficient permissions. This operation can only be performed by a manager of the group."), retry.Terminal, 0, nil},
		{"server busy", 400, nil, detail(400, "Microsoft.Exchange.Data.Directory.ADTransientException", "Server Busy"), retry.Retryable, 0, []string{"throttled"}},
		{"micro delay with header", 500, map[string]string{"Retry-After": "3"}, detail(500, "Microsoft.Exchange.Net.MicroDelay", "The request was delayed by micro delay throttling."), retry.Retryable, 3 * time.Second, nil},
		{"concurrency", 400, nil, detail(400, "Microsoft.Exchange.Configuration.Tasks.ThrottlingException", "The user has exceeded the maximum number of concurrent requests allowed."), retry.Retryable, 0, nil},
		{"transient DC", 400, nil, pipe("Microsoft.Exchange.Data.Directory.DCOverloadedException", "The domain controller is overloaded."), retry.Retryable, 0, nil},
		{"inner error", 400, nil, `{"error":{"code":"BadRequest","message":"Invalid Operation","innererror":{"message":"Invalid Operation","type":"Microsoft.Exchange.Admin.OData.Core.ODataServiceException"}}}`, retry.Terminal, 0,
			[]string{"Invalid Operation"}},
		{"other 4xx", 409, nil, `{"error":{"code":"Conflict","message":"Something odd"}}`, retry.Terminal, 0, []string{"Something odd"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.header {
				h.Set(k, v)
			}
			err := classifyResponse(op, "Set-DistributionGroup", tc.status, h, []byte(tc.body), clockNow)
			if err.Class != tc.class {
				t.Errorf("class = %v, want %v (%v)", err.Class, tc.class, err)
			}
			if err.RetryAfter != tc.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", err.RetryAfter, tc.retryAfter)
			}
			if !strings.HasPrefix(err.Error(), op+": ") {
				t.Errorf("error %q does not start with %q", err, op)
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if strings.Contains(err.Error(), "Error executing cmdlet") && tc.body != "" && strings.Contains(tc.body, "details") {
				t.Errorf("error %q shows the generic envelope instead of the detail", err)
			}
		})
	}
}

// Reads repeat safely: every 5xx is retryable for them, with Retry-After.
func TestClassifyServerFailuresOfReads(t *testing.T) {
	const op = `exo Get-Recipient "alice"`
	cases := []struct {
		status     int
		header     map[string]string
		body       string
		retryAfter time.Duration
	}{
		{429, map[string]string{"Retry-After": "12"}, ``, 12 * time.Second},
		{500, nil, `{"error":{"code":"InternalServerError","message":"Unexpected failure"}}`, 0},
		{502, nil, `bad gateway`, 0},
		{503, map[string]string{"Retry-After": "0.75"}, ``, 750 * time.Millisecond},
		{504, map[string]string{"Retry-After": clockNow.Add(45 * time.Second).Format(http.TimeFormat)}, `<html>gateway</html>`, 45 * time.Second},
	}
	for _, tc := range cases {
		h := http.Header{}
		for k, v := range tc.header {
			h.Set(k, v)
		}
		err := classifyResponse(op, "Get-Recipient", tc.status, h, []byte(tc.body), clockNow)
		if err.Class != retry.Retryable || err.RetryAfter != tc.retryAfter {
			t.Errorf("%d: class %v RetryAfter %v, want retryable %v (%v)", tc.status, err.Class, err.RetryAfter, tc.retryAfter, err)
		}
		if strings.Contains(err.Error(), "outcome unknown") {
			t.Errorf("%d: read error %q says outcome unknown", tc.status, err)
		}
	}
}

// Only "already a member" / "isn't a member" are marked as membership
// already as asked; other conflicts, an unknown outcome among them, are not.
func TestIsMembershipAsAsked(t *testing.T) {
	const op = `exo Add-DistributionGroupMember "dl"`
	member := classifyResponse(op, "Add-DistributionGroupMember", 400, http.Header{}, []byte(exoError(400, "Microsoft.Exchange.Management.Tasks.MemberAlreadyExistsException", `The recipient "bob" is already a member of the group "dl".`).Body), clockNow)
	notMember := classifyResponse(op, "Remove-DistributionGroupMember", 400, http.Header{}, []byte(exoError(400, "Microsoft.Exchange.Management.Tasks.MemberNotFoundException", `The recipient "bob" isn't a member of the group "dl".`).Body), clockNow)
	unknown := classifyResponse(op, "Add-DistributionGroupMember", 504, http.Header{}, nil, clockNow)
	exists := classifyResponse(op, "Add-DistributionGroupMember", 400, http.Header{}, []byte(exoError(400, "Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException", "The object 'CN=x' already exists.").Body), clockNow)
	for _, e := range []*retry.Error{member, notMember, unknown, exists} {
		if e.Class != retry.Conflict {
			t.Fatalf("%v: class %v, want conflict", e, e.Class)
		}
	}
	if !isMembershipAsAsked(member) || !isMembershipAsAsked(notMember) {
		t.Errorf("membership answers not recognised: %v / %v", member, notMember)
	}
	if isMembershipAsAsked(unknown) || isMembershipAsAsked(exists) || isMembershipAsAsked(transportError(op, "Add-DistributionGroupMember", errors.New("connection reset"))) {
		t.Error("a conflict that is not a membership answer counts as done")
	}
	if !strings.Contains(member.Error(), "is already a member") {
		t.Errorf("marking changed the text: %q", member)
	}
}

func TestOpName(t *testing.T) {
	cases := []struct {
		params map[string]any
		want   string
	}{
		{nil, "exo Get-Recipient"},
		{map[string]any{"Identity": "a@b"}, `exo Get-Recipient "a@b"`},
		{map[string]any{"Name": "Sales", "Alias": "sales"}, `exo Get-Recipient "Sales"`},
		{map[string]any{"Identity": 42}, "exo Get-Recipient"},
	}
	for _, tc := range cases {
		if got := opName("Get-Recipient", tc.params); got != tc.want {
			t.Errorf("opName(%v) = %q, want %q", tc.params, got, tc.want)
		}
	}
}
