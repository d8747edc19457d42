package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/reconcile/migrate"
)

// The text report says what was found, then each change with its verb:
// "will" before approval, "did" after, and the closing line of the
// outcome.
func TestRenderHybridFlow(t *testing.T) {
	plan := func() *migrate.HybridFlowPlan {
		return &migrate.HybridFlowPlan{List: "team@contoso.com", ListID: "5e1f0c2a-0000-4000-8000-000000000001", Name: "Team",
			Primary: "team@contoso.com", RoutingAddress: "team@contoso.mail.onmicrosoft.com",
			Found:     []string{"CN=Team-MigratedByScript,OU=Groups,DC=contoso,DC=com: the routing contact, made by DLConversionV2, targetAddress SMTP:TEAM@OLD.MAIL.ONMICROSOFT.COM"},
			ContactDN: "CN=Team-MigratedByScript,OU=Groups,DC=contoso,DC=com", DynamicListDN: "CN=Team,OU=NoSync,DC=contoso,DC=com",
			Problems: []migrate.Problem{},
			Actions: []migrate.HybridFlowAction{
				{Kind: "repair-contact", Object: "CN=Team-MigratedByScript,OU=Groups,DC=contoso,DC=com", What: "repair the routing contact: targetAddress"},
				{Kind: "create-dynamic-list", Object: "CN=Team,OU=NoSync,DC=contoso,DC=com", What: "create the dynamic list"},
			}}
	}
	for _, tc := range []struct {
		name string
		rep  *hybridFlowReport
		want []string
	}{
		{"not approved", &hybridFlowReport{Plan: plan(), Outcome: "not-approved"}, []string{
			"# team@contoso.com\n",
			"  found:            CN=Team-MigratedByScript,OU=Groups,DC=contoso,DC=com: the routing contact, made by DLConversionV2",
			"  will              [repair-contact] CN=Team-MigratedByScript,OU=Groups,DC=contoso,DC=com: repair the routing contact: targetAddress\n",
			"  will              [create-dynamic-list] CN=Team,OU=NoSync,DC=contoso,DC=com: create the dynamic list\n",
			"2 changes; nothing written without --auto-approve.\n"}},
		{"done", &hybridFlowReport{Plan: plan(), Outcome: "done", Result: &migrate.HybridFlowResult{Done: plan().Actions}}, []string{
			"  did               [repair-contact]",
			"Done: 2 changes, journalled. The dynamic list CN=Team,OU=NoSync,DC=contoso,DC=com reaches CN=Team-MigratedByScript,OU=Groups,DC=contoso,DC=com alone.\n"}},
		{"failed midway", &hybridFlowReport{Plan: plan(), Outcome: "failed", Result: &migrate.HybridFlowResult{Done: plan().Actions[:1]}}, []string{
			"  did               [repair-contact]",
			"  not done          [create-dynamic-list]"}},
		{"problems", &hybridFlowReport{Plan: &migrate.HybridFlowPlan{List: "x@fabrikam.example",
			Problems: []migrate.Problem{{Code: "domain-not-accepted", Message: "x@fabrikam.example is in fabrikam.example"}}}, Outcome: "problems"}, []string{
			"  problem:          [domain-not-accepted] x@fabrikam.example is in fabrikam.example\nNothing written.\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			a := &app{stdout: &out}
			a.renderHybridFlow(tc.rep, false)
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
