package proxycalc

import (
	"reflect"
	"strings"
	"testing"
)

// kbTenant is the tenant of KB 3190357's examples.
var kbTenant = Tenant{InitialDomain: "Contoso.onmicrosoft.com", VerifiedDomains: []string{"Contoso.com"}}

// kbStep is one sync in a KB scenario: the on-premises state, and the
// AAD: attribute values the KB lists after it.
type kbStep struct {
	name string
	// newObject starts a new object (no Previous) instead of syncing the
	// previous step's object again.
	newObject bool
	in        Input
	opt       Options
	wantMail  string
	wantNick  string
	wantProxy []string // in the KB's order; compared as a set, then in Result order
	// wantRules maps an output value to the rule that must have produced it.
	wantRules    map[string]Rule
	wantMailRule Rule
	wantNickRule Rule
	// wantDropped maps an on-premises value to the rule that dropped it;
	// when non-nil, Result.Dropped must hold exactly these.
	wantDropped map[string]Rule
}

// canonical puts a KB address list in Result order: the primary first, the
// rest sorted case-insensitively.
func canonical(vals []string) []string {
	var primary []string
	var rest []string
	for _, v := range vals {
		if strings.HasPrefix(v, "SMTP:") {
			primary = append(primary, v)
		} else {
			rest = append(rest, v)
		}
	}
	sortFold(rest)
	out := append(primary, rest...)
	if len(out) == 0 {
		return []string{}
	}
	return out
}

func checkStep(t *testing.T, st kbStep, got Result) {
	t.Helper()
	if got.Mail != st.wantMail {
		t.Errorf("mail = %q, want %q", got.Mail, st.wantMail)
	}
	if got.MailNickname != st.wantNick {
		t.Errorf("mailNickName = %q, want %q", got.MailNickname, st.wantNick)
	}
	gotVals := got.Values()
	if len(gotVals) == 0 {
		gotVals = []string{}
	}
	if want := canonical(st.wantProxy); !reflect.DeepEqual(gotVals, want) {
		t.Errorf("proxyAddresses = %q, want %q", gotVals, want)
	}
	for v, r := range st.wantRules {
		found := false
		for _, a := range got.ProxyAddresses {
			if a.Value == v {
				found = true
				if a.Rule != r {
					t.Errorf("%s: rule %s, want %s", v, a.Rule, r)
				}
			}
		}
		if !found {
			t.Errorf("%s missing (want rule %s)", v, r)
		}
	}
	if st.wantMailRule != "" && got.MailRule != st.wantMailRule {
		t.Errorf("MailRule = %s, want %s", got.MailRule, st.wantMailRule)
	}
	if st.wantNickRule != "" && got.NicknameRule != st.wantNickRule {
		t.Errorf("NicknameRule = %s, want %s", got.NicknameRule, st.wantNickRule)
	}
	if st.wantDropped != nil {
		gotDropped := map[string]Rule{}
		for _, d := range got.Dropped {
			gotDropped[d.Value] = d.Rule
		}
		if !reflect.DeepEqual(gotDropped, st.wantDropped) {
			t.Errorf("dropped = %v, want %v", gotDropped, st.wantDropped)
		}
	}
}

// runSteps syncs each step with the previous step's result as Previous, and
// checks that syncing again with nothing changed leaves the cloud as it is.
func runSteps(t *testing.T, tenant Tenant, steps []kbStep) {
	t.Helper()
	var prev *Previous
	for _, st := range steps {
		if st.newObject {
			prev = nil
		}
		got := Compute(st.in, tenant, prev, st.opt)
		t.Run(st.name, func(t *testing.T) {
			checkStep(t, st, got)
			again := Compute(st.in, tenant, got.AsPrevious(), st.opt)
			if !reflect.DeepEqual(again.Values(), got.Values()) || again.Mail != got.Mail || again.MailNickname != got.MailNickname {
				t.Errorf("resync without changes moved the cloud: %q %q %q -> %q %q %q",
					got.Mail, got.MailNickname, got.Values(), again.Mail, again.MailNickname, again.Values())
			}
		})
		prev = got.AsPrevious()
	}
}

func TestKBScenario1_NoMailAttributes(t *testing.T) {
	runSteps(t, kbTenant, []kbStep{
		{
			name:         "KB3190357 scenario 1: synced without licence gets only mailNickName",
			in:           Input{Kind: KindUser, UPN: "user1upn@Contoso.com"},
			wantNick:     "user1upn",
			wantNickRule: RuleNicknameFromUPN,
			wantMailRule: RuleNoPrimary,
			wantDropped:  map[string]Rule{},
		},
		{
			name:      "KB3190357 scenario 1: Exchange Online licence assigned",
			in:        Input{Kind: KindUser, UPN: "user1upn@Contoso.com", ExchangeRecipient: true},
			wantMail:  "user1upn@Contoso.com",
			wantNick:  "user1upn",
			wantProxy: []string{"smtp:user1upn@Contoso.onmicrosoft.com", "SMTP:user1upn@Contoso.com"},
			wantRules: map[string]Rule{
				"SMTP:user1upn@Contoso.com":             RulePrimaryFromUPN,
				"smtp:user1upn@Contoso.onmicrosoft.com": RuleMOERA,
			},
			wantNickRule: RuleNicknameKept,
		},
	})
}

func TestKBScenario2_MailOnly(t *testing.T) {
	runSteps(t, kbTenant, []kbStep{
		{
			name:         "KB3190357 scenario 2: initial provisioning from mail",
			in:           Input{Kind: KindUser, Mail: "user2mail@Contoso.com", UPN: "user2upn@Contoso.com"},
			wantMail:     "user2mail@Contoso.com",
			wantNick:     "user2mail",
			wantProxy:    []string{"SMTP:user2mail@Contoso.com"},
			wantMailRule: RulePrimaryFromMail,
			wantNickRule: RuleNicknameFromPrimary,
		},
		{
			name:     "KB3190357 scenario 2: Exchange Online licence adds UPN and MOERA",
			in:       Input{Kind: KindUser, Mail: "user2mail@Contoso.com", UPN: "user2upn@Contoso.com", ExchangeRecipient: true},
			wantMail: "user2mail@Contoso.com",
			wantNick: "user2mail",
			wantProxy: []string{"smtp:user2upn@Contoso.com", "smtp:user2mail@Contoso.onmicrosoft.com",
				"SMTP:user2mail@Contoso.com"},
			wantRules: map[string]Rule{
				"SMTP:user2mail@Contoso.com":             RulePrimaryFromMail,
				"smtp:user2upn@Contoso.com":              RuleUPNSecondary,
				"smtp:user2mail@Contoso.onmicrosoft.com": RuleMOERA,
			},
		},
	})
}

func TestKBScenario3_ProxyAddressesChanged(t *testing.T) {
	runSteps(t, kbTenant, []kbStep{
		{
			name: "KB3190357 scenario 3: reserved suffixes discarded, primary from proxyAddresses",
			in: Input{Kind: KindUser, UPN: "user3upn@Contoso.com", ExchangeRecipient: true,
				ProxyAddresses: []string{"smtp:user3pa3@Fabrikam.microsoftonline.com",
					"smtp:user3pa2@Contoso.onmicrosoft.com", "SMTP:user3pa1@Contoso.com"}},
			wantMail: "user3pa1@Contoso.com",
			wantNick: "user3pa1",
			wantProxy: []string{"smtp:user3upn@Contoso.com", "smtp:user3pa1@Contoso.onmicrosoft.com",
				"SMTP:user3pa1@Contoso.com"},
			wantRules: map[string]Rule{
				"SMTP:user3pa1@Contoso.com":             RulePrimaryFromProxyAddresses,
				"smtp:user3pa1@Contoso.onmicrosoft.com": RuleMOERA,
				"smtp:user3upn@Contoso.com":             RuleUPNSecondary,
			},
			wantNickRule: RuleNicknameFromPrimary,
			wantDropped: map[string]Rule{
				"smtp:user3pa3@Fabrikam.microsoftonline.com": RuleDroppedReserved,
				"smtp:user3pa2@Contoso.onmicrosoft.com":      RuleDroppedReserved,
			},
		},
		{
			name: "KB3190357 scenario 3: new proxyAddresses replace the primary, old mailNickName and MOERA kept",
			in: Input{Kind: KindUser, UPN: "user3upn@Contoso.com", ExchangeRecipient: true,
				ProxyAddresses: []string{"smtp:user3new3@Fabrikam.microsoftonline.com",
					"smtp:user3new2@Contoso.onmicrosoft.com", "SMTP:user3new1@Contoso.com"}},
			wantMail: "user3new1@Contoso.com",
			wantNick: "user3pa1",
			wantProxy: []string{"SMTP:user3new1@Contoso.com", "smtp:user3upn@Contoso.com",
				"smtp:user3pa1@Contoso.onmicrosoft.com"},
			wantRules: map[string]Rule{
				"SMTP:user3new1@Contoso.com":            RulePrimaryFromProxyAddresses,
				"smtp:user3pa1@Contoso.onmicrosoft.com": RuleKeptPreviousMOERA,
			},
			wantNickRule: RuleNicknameKept,
			wantDropped: map[string]Rule{
				"smtp:user3new3@Fabrikam.microsoftonline.com": RuleDroppedReserved,
				"smtp:user3new2@Contoso.onmicrosoft.com":      RuleDroppedReserved,
			},
		},
	})
}

func TestKBScenario4_LicenceRemoved(t *testing.T) {
	runSteps(t, kbTenant, []kbStep{
		{
			name:         "KB3190357 scenario 4: licensed user, primary from UPN",
			in:           Input{Kind: KindUser, UPN: "user4upn@Contoso.com", ExchangeRecipient: true},
			wantMail:     "user4upn@Contoso.com",
			wantNick:     "user4upn",
			wantProxy:    []string{"smtp:user4upn@Contoso.onmicrosoft.com", "SMTP:user4upn@Contoso.com"},
			wantMailRule: RulePrimaryFromUPN,
			wantNickRule: RuleNicknameFromPrimary,
		},
		{
			name:         "KB3190357 scenario 4: licence removed, MOERA promoted",
			in:           Input{Kind: KindUser, UPN: "user4upn@Contoso.com"},
			wantMail:     "user4upn@Contoso.onmicrosoft.com",
			wantNick:     "user4upn",
			wantProxy:    []string{"SMTP:user4upn@Contoso.onmicrosoft.com"},
			wantRules:    map[string]Rule{"SMTP:user4upn@Contoso.onmicrosoft.com": RuleMOERAPromoted},
			wantMailRule: RuleMOERAPromoted,
		},
		{
			name: "KB3190357 scenario 4: secondary added on-premises, UPN added, MOERA stays primary",
			in: Input{Kind: KindUser, UPN: "user4upn@Contoso.com",
				ProxyAddresses: []string{"smtp:user4new@Contoso.com"}},
			wantMail: "user4upn@Contoso.onmicrosoft.com",
			wantNick: "user4upn",
			wantProxy: []string{"smtp:user4upn@Contoso.com", "smtp:user4new@Contoso.com",
				"SMTP:user4upn@Contoso.onmicrosoft.com"},
			wantRules: map[string]Rule{
				"SMTP:user4upn@Contoso.onmicrosoft.com": RuleKeptPreviousPrimary,
				"smtp:user4new@Contoso.com":             RuleSecondaryFromProxyAddresses,
				"smtp:user4upn@Contoso.com":             RuleUPNSecondary,
			},
		},
	})
}

func TestKBScenario5_MailNicknameChanged(t *testing.T) {
	runSteps(t, kbTenant, []kbStep{
		{
			name:      "KB3190357 scenario 5: licensed user, primary from UPN",
			in:        Input{Kind: KindUser, UPN: "user5upn@Contoso.com", ExchangeRecipient: true},
			wantMail:  "user5upn@Contoso.com",
			wantNick:  "user5upn",
			wantProxy: []string{"smtp:user5upn@Contoso.onmicrosoft.com", "SMTP:user5upn@Contoso.com"},
		},
		{
			name:      "KB3190357 scenario 5: mailNickName changed, mail and proxyAddresses unchanged",
			in:        Input{Kind: KindUser, MailNickname: "user5new1", UPN: "user5upn@Contoso.com", ExchangeRecipient: true},
			wantMail:  "user5upn@Contoso.com",
			wantNick:  "user5new1",
			wantProxy: []string{"smtp:user5upn@Contoso.onmicrosoft.com", "SMTP:user5upn@Contoso.com"},
			wantRules: map[string]Rule{
				"smtp:user5upn@Contoso.onmicrosoft.com": RuleKeptPreviousMOERA,
			},
			wantNickRule: RuleNicknameFromAD,
		},
	})
}

func TestKBScenario6_SameMailNickname(t *testing.T) {
	first := "user6mnn@Contoso.onmicrosoft.com"
	runSteps(t, kbTenant, []kbStep{
		{
			name:      "KB3190357 scenario 6: first user gets mailNickName@initial domain",
			newObject: true,
			in:        Input{Kind: KindUser, MailNickname: "user6mnn", UPN: "user6a@Contoso.com", ExchangeRecipient: true},
			opt:       Options{TakenMOERA: func(string) bool { return false }, Digits: func() string { return "5236" }},
			wantMail:  "user6a@Contoso.com",
			wantNick:  "user6mnn",
			wantProxy: []string{"smtp:user6mnn@Contoso.onmicrosoft.com", "SMTP:user6a@Contoso.com"},
			wantRules: map[string]Rule{"smtp:user6mnn@Contoso.onmicrosoft.com": RuleMOERA},
		},
		{
			name:      "KB3190357 scenario 6: second user gets 4 digits appended",
			newObject: true,
			in:        Input{Kind: KindUser, MailNickname: "user6mnn", UPN: "user6b@Contoso.com", ExchangeRecipient: true},
			opt: Options{
				TakenMOERA: func(a string) bool { return strings.EqualFold(a, first) },
				Digits:     func() string { return "5236" },
			},
			wantMail:  "user6b@Contoso.com",
			wantNick:  "user6mnn",
			wantProxy: []string{"smtp:user6mnn5236@Contoso.onmicrosoft.com", "SMTP:user6b@Contoso.com"},
			wantRules: map[string]Rule{"smtp:user6mnn5236@Contoso.onmicrosoft.com": RuleMOERA},
		},
	})
}
