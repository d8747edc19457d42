package proxycalc

import (
	"reflect"
	"strings"
	"testing"
)

// mailOnlyTenant is the tenant of the "mail only" example in Tim
// McMichael's article "Office 365: Provisioning Exchange Online mailboxes
// with only a mail attribute…" (see doc.go).
var mailOnlyTenant = Tenant{
	InitialDomain:   "domain.onmicrosoft.com",
	VerifiedDomains: []string{"e-domain.net", "e-domain.com"},
}

const writtenBackX500 = "x500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=233c7693141f41d2b6ad1a2e24a5bf63-eed81dfa-24"

func ruleOf(r Result, value string) (Rule, bool) {
	for _, a := range r.ProxyAddresses {
		if a.Value == value {
			return a.Rule, true
		}
	}
	return "", false
}

func droppedRule(r Result, value string) (Rule, bool) {
	for _, d := range r.Dropped {
		if d.Value == value {
			return d.Rule, true
		}
	}
	return "", false
}

// TestMailOnlyUserThenX500WriteBack follows that article:
// mail-only user, licence, x500 written back by Exchange hybrid, then a mail
// change that no longer flows until SMTP: is added to proxyAddresses.
func TestMailOnlyUserThenX500WriteBack(t *testing.T) {
	upn := "mailOnly@e-domain.net"
	var prev *Previous

	t.Run("mail only, no licence, not a recipient, just the primary", func(t *testing.T) {
		r := Compute(Input{Kind: KindUser, Mail: "mailOnly@e-domain.net", UPN: upn}, mailOnlyTenant, nil, Options{})
		if r.Recipient {
			t.Error("Recipient = true")
		}
		if want := []string{"SMTP:mailOnly@e-domain.net"}; !reflect.DeepEqual(r.Values(), want) {
			t.Errorf("proxyAddresses = %q, want %q", r.Values(), want)
		}
		prev = r.AsPrevious()
	})

	t.Run("licence assigned makes it a recipient", func(t *testing.T) {
		r := Compute(Input{Kind: KindUser, Mail: "mailOnly@e-domain.net", UPN: upn, ExchangeRecipient: true}, mailOnlyTenant, prev, Options{})
		want := []string{"SMTP:mailOnly@e-domain.net", "smtp:mailOnly@domain.onmicrosoft.com"}
		if !r.Recipient || !reflect.DeepEqual(r.Values(), want) {
			t.Errorf("Recipient=%v proxyAddresses = %q, want %q", r.Recipient, r.Values(), want)
		}
		prev = r.AsPrevious()
	})

	changed := Input{Kind: KindUser, Mail: "TotallyNewAddress@e-domain.com", UPN: upn, ExchangeRecipient: true,
		ProxyAddresses: []string{writtenBackX500}}
	t.Run("x500 written back, mail change does not flow", func(t *testing.T) {
		r := Compute(changed, mailOnlyTenant, prev, Options{})
		if r.Mail != "mailOnly@e-domain.net" || r.MailRule != RuleKeptPreviousPrimary {
			t.Errorf("mail = %q (%s), want the previous primary kept", r.Mail, r.MailRule)
		}
		want := []string{"SMTP:mailOnly@e-domain.net", "smtp:mailOnly@domain.onmicrosoft.com", writtenBackX500}
		if !reflect.DeepEqual(r.Values(), want) {
			t.Errorf("proxyAddresses = %q, want %q", r.Values(), want)
		}
		if rule, ok := ruleOf(r, writtenBackX500); !ok || rule != RuleKeptX500 {
			t.Errorf("x500 rule = %s, %v", rule, ok)
		}
		if len(r.Dropped) != 1 || r.Dropped[0].Rule != RuleDroppedMailIgnored ||
			!strings.Contains(r.Dropped[0].Reason, "SMTP:TotallyNewAddress@e-domain.com") {
			t.Errorf("dropped = %+v, want mail ignored with SMTP:<new mail> advice", r.Dropped)
		}
		if !strings.Contains(RuleKeptPreviousPrimary.Explain(), "SMTP:") {
			t.Error("RuleKeptPreviousPrimary.Explain does not tell the admin to add SMTP:")
		}
		prev = r.AsPrevious()
	})

	t.Run("adding SMTP: to proxyAddresses changes the primary", func(t *testing.T) {
		in := changed
		in.ProxyAddresses = []string{"SMTP:totallyDifferentAddress@e-domain.com", writtenBackX500}
		r := Compute(in, mailOnlyTenant, prev, Options{})
		if r.Mail != "totallyDifferentAddress@e-domain.com" || r.MailRule != RulePrimaryFromProxyAddresses {
			t.Errorf("mail = %q (%s)", r.Mail, r.MailRule)
		}
		if rule, _ := droppedRule(r, "TotallyNewAddress@e-domain.com"); rule != RuleDroppedMailIgnored {
			t.Errorf("mail not reported as ignored: %+v", r.Dropped)
		}
	})

	t.Run("x500 and mail at first sync, then a mail change that does not flow", func(t *testing.T) {
		in := Input{Kind: KindUser, Mail: "first@e-domain.com", UPN: upn, ExchangeRecipient: true, ProxyAddresses: []string{writtenBackX500}}
		r1 := Compute(in, mailOnlyTenant, nil, Options{})
		if r1.Mail != "first@e-domain.com" || r1.MailRule != RulePrimaryFromMail {
			t.Fatalf("first sync: mail = %q (%s), want from mail", r1.Mail, r1.MailRule)
		}
		in.Mail = "second@e-domain.com"
		r2 := Compute(in, mailOnlyTenant, r1.AsPrevious(), Options{})
		if r2.Mail != "first@e-domain.com" || r2.MailRule != RuleKeptPreviousPrimary {
			t.Errorf("second sync: mail = %q (%s), want first@ kept", r2.Mail, r2.MailRule)
		}
		if !reflect.DeepEqual(r2.Values(), r1.Values()) {
			t.Errorf("proxyAddresses moved: %q -> %q", r1.Values(), r2.Values())
		}
	})

	t.Run("remote mailbox UPN always a secondary", func(t *testing.T) {
		in := Input{Kind: KindUser, UPN: "UPNTest@domain.net", Mail: "UPNTest@domain.com", MailNickname: "UPNTest",
			ExchangeRecipient: true, ProxyAddresses: []string{writtenBackX500, "SMTP:UPNTest@domain.com"}}
		ten := Tenant{InitialDomain: "domain.onmicrosoft.com", VerifiedDomains: []string{"domain.com", "domain.net"}}
		r := Compute(in, ten, nil, Options{})
		want := []string{"SMTP:UPNTest@domain.com", "smtp:UPNTest@domain.net", "smtp:UPNTest@domain.onmicrosoft.com", writtenBackX500}
		if !reflect.DeepEqual(r.Values(), want) {
			t.Errorf("proxyAddresses = %q, want %q", r.Values(), want)
		}
		if rule, _ := ruleOf(r, "smtp:UPNTest@domain.net"); rule != RuleUPNSecondary {
			t.Errorf("UPN rule = %s", rule)
		}
		if !strings.Contains(RuleUPNSecondary.Explain(), "not drift") {
			t.Error("RuleUPNSecondary.Explain must say it is not drift")
		}
	})
}

func TestReservedDomains(t *testing.T) {
	cases := []struct {
		value    string
		reserved bool
	}{
		{"smtp:a@contoso.onmicrosoft.com", true},
		{"smtp:a@CONTOSO.ONMICROSOFT.COM", true},
		{"smtp:a@contoso.mail.onmicrosoft.com", true},
		{"smtp:a@onmicrosoft.com", true},
		{"smtp:a@fabrikam.microsoftonline.com", true},
		{"SMTP:a@Fabrikam.MicrosoftOnline.com", true},
		{"SIP:a@contoso.onmicrosoft.com", true},
		{"smtp:a@notonmicrosoft.com", false},
		{"smtp:a@onmicrosoft.com.contoso.com", false},
		{"smtp:a@contoso.com", false},
	}
	ten := Tenant{InitialDomain: "contoso.onmicrosoft.com",
		VerifiedDomains: []string{"contoso.com", "notonmicrosoft.com", "onmicrosoft.com.contoso.com"}}
	for _, tc := range cases {
		t.Run("KB3190357 reserved suffix "+tc.value, func(t *testing.T) {
			in := Input{Kind: KindUser, UPN: "u@contoso.com", ExchangeRecipient: true, ProxyAddresses: []string{tc.value}}
			r := Compute(in, ten, nil, Options{})
			rule, dropped := droppedRule(r, tc.value)
			if tc.reserved && rule != RuleDroppedReserved {
				t.Errorf("not dropped as reserved: %+v", r.Dropped)
			}
			if !tc.reserved && dropped {
				t.Errorf("dropped: %+v", r.Dropped)
			}
		})
	}
	t.Run("KB3190357 reserved suffix in mail", func(t *testing.T) {
		r := Compute(Input{Kind: KindUser, Mail: "a@contoso.onmicrosoft.com", UPN: "a@contoso.com"}, ten, nil, Options{})
		if rule, _ := droppedRule(r, "a@contoso.onmicrosoft.com"); rule != RuleDroppedReserved || r.Mail != "" {
			t.Errorf("mail = %q dropped=%+v", r.Mail, r.Dropped)
		}
	})
}

func TestLegacyTypesDropped(t *testing.T) {
	values := map[string]string{
		"MS":     "MS:CONTOSO/HQ/JDOE",
		"MSMAIL": "MSMAIL:CONTOSO/HQ/JDOE",
		"X400":   "X400:c=US;a= ;p=Contoso;o=Exchange;s=Doe;g=Jane;",
		"CCMAIL": "CCMAIL:Doe, Jane at Contoso",
		"NOTES":  "NOTES:Jane Doe/Contoso@Contoso",
		"GWISE":  "GWISE:Contoso.PO.jdoe",
	}
	for _, typ := range LegacyTypes {
		for _, v := range []string{values[typ], strings.ToLower(typ) + ":" + values[typ][len(typ)+1:]} {
			t.Run("KB3190357 legacy type "+v, func(t *testing.T) {
				in := Input{Kind: KindUser, UPN: "u@contoso.com", ExchangeRecipient: true,
					ProxyAddresses: []string{"SMTP:u@contoso.com", v}}
				r := Compute(in, Tenant{InitialDomain: "contoso.onmicrosoft.com", VerifiedDomains: []string{"contoso.com"}}, nil, Options{})
				if rule, _ := droppedRule(r, v); rule != RuleDroppedLegacyType {
					t.Errorf("dropped = %+v", r.Dropped)
				}
				for _, a := range r.ProxyAddresses {
					if a.Value == v {
						t.Errorf("legacy value kept: %q", a.Value)
					}
				}
			})
		}
	}
	if len(values) != len(LegacyTypes) {
		t.Errorf("test covers %d legacy types, package lists %d", len(values), len(LegacyTypes))
	}
}

func TestNonSMTPTypes(t *testing.T) {
	ten := Tenant{InitialDomain: "contoso.onmicrosoft.com", VerifiedDomains: []string{"contoso.com"}}
	cases := []struct {
		value string
		kept  bool
		rule  Rule
	}{
		{"X500:/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=jdoe", true, RuleKeptX500},
		{"x500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=abc-jdoe", true, RuleKeptX500},
		{"SIP:jdoe@contoso.com", true, RuleKeptSIP},
		{"sip:jdoe@contoso.com", true, RuleKeptSIP},
		{"EUM:1234;phone-context=Dialplan.contoso.com", true, RuleKeptEUM},
		{"x500:o=Contoso", false, RuleDroppedMalformed},
		{"SIP:jdoe at contoso", false, RuleDroppedMalformed},
		{"SIP:jdoe@fabrikam.com", false, RuleDroppedUnverifiedDomain},
		{"FAX:+1 555 0100", false, RuleDroppedUnsupportedType},
		{"CUSTOM:whatever", false, RuleDroppedUnsupportedType},
	}
	for _, tc := range cases {
		t.Run("non-SMTP "+tc.value, func(t *testing.T) {
			in := Input{Kind: KindUser, UPN: "jdoe@contoso.com", ExchangeRecipient: true,
				ProxyAddresses: []string{"SMTP:jdoe@contoso.com", tc.value}}
			r := Compute(in, ten, nil, Options{})
			if tc.kept {
				if rule, ok := ruleOf(r, tc.value); !ok || rule != tc.rule {
					t.Errorf("rule = %s (present %v), want %s", rule, ok, tc.rule)
				}
			} else if rule, _ := droppedRule(r, tc.value); rule != tc.rule {
				t.Errorf("dropped = %+v, want %s", r.Dropped, tc.rule)
			}
		})
	}
}

func TestMalformedProxyAddresses(t *testing.T) {
	ten := Tenant{InitialDomain: "contoso.onmicrosoft.com", VerifiedDomains: []string{"contoso.com"}}
	values := []string{
		"jdoe@contoso.com",            // missing protocol prefix
		"SMTP: jdoe@contoso.com",      // space after the prefix
		"smtp:jane doe@contoso.com",   // space in the local part
		"smtp:jdoe@contoso.com ",      // trailing space
		"smtp:jdoe",                   // no '@'
		"smtp:@contoso.com",           // empty local part
		"smtp:jdoe@",                  // empty domain
		"smtp:jdoe@@contoso.com",      // two '@'
		"smtp:j(doe)@contoso.com",     // parentheses (RFC 5322 specials)
		"smtp:jdoe,x@contoso.com",     // comma
		"smtp:.jdoe@contoso.com",      // leading dot
		"smtp:j..doe@contoso.com",     // consecutive dots
		"smtp:jdoe.@contoso.com",      // trailing dot
		`smtp:"jane doe"@contoso.com`, // quoted local part
		"smtp:jdoe@contoso",           // single-label domain
		"smtp:jdoe@-contoso.com",      // label starts with a hyphen
		"smtp:jdoe@contoso..com",      // empty label
		"smtp:jdoe@[192.0.2.1]",       // domain literal
		"smtp:jdöe@contoso.com",       // non-ASCII
		"smtp:jdoe@contoso_x.com",     // underscore in the domain
		":jdoe@contoso.com",           // empty prefix
		"smtp:",                       // empty address
	}
	for _, v := range values {
		t.Run("KB3190357 malformed "+v, func(t *testing.T) {
			in := Input{Kind: KindUser, UPN: "jdoe@contoso.com", ExchangeRecipient: true,
				ProxyAddresses: []string{"SMTP:jane@contoso.com", v}}
			r := Compute(in, ten, nil, Options{})
			rule, _ := droppedRule(r, v)
			if rule != RuleDroppedMalformed {
				t.Fatalf("dropped = %+v, want %s", r.Dropped, RuleDroppedMalformed)
			}
			for _, d := range r.Dropped {
				if d.Value == v && d.Reason == "" {
					t.Error("empty reason")
				}
			}
		})
	}
	t.Run("KB3190357 malformed mail", func(t *testing.T) {
		r := Compute(Input{Kind: KindUser, Mail: "jane doe@contoso.com", UPN: "jdoe@contoso.com"}, ten, nil, Options{})
		if rule, _ := droppedRule(r, "jane doe@contoso.com"); rule != RuleDroppedMalformed || r.Mail != "" {
			t.Errorf("mail = %q dropped = %+v", r.Mail, r.Dropped)
		}
	})
}

func TestValidateAddress(t *testing.T) {
	valid := []string{
		"jdoe@contoso.com",
		"j.doe@contoso.com",
		"J.Doe@Contoso.COM",
		"jdoe+tag@mail.contoso.co.uk",
		"o'brien@contoso.com",
		"a!#$%&'*+-/=?^_`{|}~z@contoso.com",
		"x@a-b.example",
		"x@xn--bcher-kva.example",
		"x@123.example",
		strings.Repeat("a", 64) + "@contoso.com",
	}
	invalid := map[string]string{
		"":                                 "empty address",
		"jdoe":                             "has no '@'",
		"a@b@contoso.com":                  "has more than one '@'",
		"@contoso.com":                     "empty local part",
		"jdoe@":                            "empty domain",
		"jane doe@contoso.com":             "contains a space",
		"jdoe@contoso.com\n":               "contains a control character",
		"jdöe@contoso.com":                 "contains a non-ASCII character",
		".jdoe@contoso.com":                "local part starts or ends with a dot",
		"jdoe.@contoso.com":                "local part starts or ends with a dot",
		"j..doe@contoso.com":               "local part has two dots in a row",
		`"jdoe"@contoso.com`:               "quoted local parts are not accepted",
		"j(doe)@contoso.com":               "local part has the invalid character '('",
		"j<doe>@contoso.com":               "local part has the invalid character '<'",
		"j;doe@contoso.com":                "local part has the invalid character ';'",
		"j\\doe@contoso.com":               "local part has the invalid character '\\'",
		strings.Repeat("a", 65) + "@c.com": "local part longer than 64 characters",
		"jdoe@contoso":                     "domain contoso is not fully qualified",
		"jdoe@contoso..com":                "domain has an empty label",
		"jdoe@.contoso.com":                "domain has an empty label",
		"jdoe@contoso.com.":                "domain has an empty label",
		"jdoe@-contoso.com":                "domain label starts or ends with a hyphen",
		"jdoe@contoso-.com":                "domain label starts or ends with a hyphen",
		"jdoe@con_toso.com":                "domain has the invalid character '_'",
		"jdoe@[192.0.2.1]":                 "domain literals are not accepted",
		"jdoe@192.0.2.1":                   "top-level domain is numeric",
		"jdoe@" + strings.Repeat("a", 64) + ".com":      "domain label longer than 63 characters",
		"j@" + strings.Repeat("abcdefghi.", 26) + "com": "longer than 254 characters",
	}
	for _, v := range valid {
		t.Run("valid "+v, func(t *testing.T) {
			if err := ValidateAddress(v); err != nil {
				t.Errorf("ValidateAddress(%q) = %v", v, err)
			}
		})
	}
	for v, want := range invalid {
		t.Run("invalid "+v, func(t *testing.T) {
			err := ValidateAddress(v)
			if err == nil {
				t.Fatalf("ValidateAddress(%q) = nil, want %q", v, want)
			}
			if err.Error() != want {
				t.Errorf("ValidateAddress(%q) = %q, want %q", v, err, want)
			}
		})
	}
}

func TestUnverifiedDomain(t *testing.T) {
	ten := Tenant{InitialDomain: "contoso.onmicrosoft.com", VerifiedDomains: []string{"contoso.com"}}
	in := Input{Kind: KindUser, UPN: "jdoe@contoso.com", Mail: "jdoe@fabrikam.com",
		ProxyAddresses: []string{"SMTP:jdoe@contoso.com", "smtp:jdoe@fabrikam.com", "smtp:jdoe@sub.contoso.com"}}

	t.Run("KB3190357 unverified domain kept for an unlicensed user", func(t *testing.T) {
		r := Compute(in, ten, nil, Options{})
		for _, v := range []string{"smtp:jdoe@fabrikam.com", "smtp:jdoe@sub.contoso.com"} {
			if _, ok := ruleOf(r, v); !ok {
				t.Errorf("%s missing: %q", v, r.Values())
			}
		}
		for _, d := range r.Dropped {
			if d.Rule == RuleDroppedUnverifiedDomain {
				t.Errorf("unexpected drop %+v", d)
			}
		}
	})
	t.Run("KB3190357 unverified domain dropped for a licensed user", func(t *testing.T) {
		lic := in
		lic.ExchangeRecipient = true
		r := Compute(lic, ten, nil, Options{})
		for _, v := range []string{"smtp:jdoe@fabrikam.com", "smtp:jdoe@sub.contoso.com"} {
			if rule, _ := droppedRule(r, v); rule != RuleDroppedUnverifiedDomain {
				t.Errorf("%s not dropped as unverified: %+v", v, r.Dropped)
			}
		}
		if rule, _ := droppedRule(r, "jdoe@fabrikam.com"); rule != RuleDroppedUnverifiedDomain {
			t.Errorf("mail not dropped as unverified: %+v", r.Dropped)
		}
		want := []string{"SMTP:jdoe@contoso.com", "smtp:jdoe@contoso.onmicrosoft.com"}
		if !reflect.DeepEqual(r.Values(), want) {
			t.Errorf("proxyAddresses = %q, want %q", r.Values(), want)
		}
	})
	t.Run("KB3190357 unverified primary falls back to mail then UPN", func(t *testing.T) {
		lic := Input{Kind: KindUser, UPN: "jdoe@contoso.com", Mail: "jane@fabrikam.com", ExchangeRecipient: true,
			ProxyAddresses: []string{"SMTP:jane@fabrikam.com"}}
		r := Compute(lic, ten, nil, Options{})
		if r.Mail != "jdoe@contoso.com" || r.MailRule != RulePrimaryFromUPN {
			t.Errorf("mail = %q (%s)", r.Mail, r.MailRule)
		}
	})
	t.Run("UPN in an unverified domain is not added", func(t *testing.T) {
		lic := Input{Kind: KindUser, UPN: "jdoe@contoso.local", Mail: "jdoe@contoso.com", ExchangeRecipient: true}
		r := Compute(lic, ten, nil, Options{})
		want := []string{"SMTP:jdoe@contoso.com", "smtp:jdoe@contoso.onmicrosoft.com"}
		if !reflect.DeepEqual(r.Values(), want) {
			t.Errorf("proxyAddresses = %q, want %q", r.Values(), want)
		}
		if rule, _ := droppedRule(r, "jdoe@contoso.local"); rule != RuleDroppedUnverifiedDomain {
			t.Errorf("dropped = %+v", r.Dropped)
		}
	})
	t.Run("licensed user with only an unverified UPN gets the MOERA as primary", func(t *testing.T) {
		r := Compute(Input{Kind: KindUser, UPN: "jdoe@contoso.local", ExchangeRecipient: true}, ten, nil, Options{})
		if r.Mail != "jdoe@contoso.onmicrosoft.com" || r.MailRule != RuleMOERAPromoted {
			t.Errorf("mail = %q (%s)", r.Mail, r.MailRule)
		}
	})
}

func TestMOERACollision(t *testing.T) {
	ten := Tenant{InitialDomain: "contoso.onmicrosoft.com", VerifiedDomains: []string{"contoso.com"}}
	in := Input{Kind: KindUser, MailNickname: "jdoe", UPN: "jdoe2@contoso.com", ExchangeRecipient: true}
	taken := map[string]bool{"jdoe@contoso.onmicrosoft.com": true, "jdoe1111@contoso.onmicrosoft.com": true}
	isTaken := func(a string) bool { return taken[strings.ToLower(a)] }

	t.Run("KB3190357 scenario 6: injected digits, retried while taken", func(t *testing.T) {
		seq := []string{"1111", "2222"}
		calls := 0
		opt := Options{TakenMOERA: isTaken, Digits: func() string { d := seq[calls%len(seq)]; calls++; return d }}
		r := Compute(in, ten, nil, opt)
		if rule, ok := ruleOf(r, "smtp:jdoe2222@contoso.onmicrosoft.com"); !ok || rule != RuleMOERA {
			t.Errorf("proxyAddresses = %q", r.Values())
		}
		if r.MailNickname != "jdoe" {
			t.Errorf("mailNickName = %q, want it unchanged", r.MailNickname)
		}
	})
	t.Run("KB3190357 scenario 6: nil Digits is a deterministic hash", func(t *testing.T) {
		r1 := Compute(in, ten, nil, Options{TakenMOERA: isTaken})
		r2 := Compute(in, ten, nil, Options{TakenMOERA: isTaken})
		if !reflect.DeepEqual(r1, r2) {
			t.Fatalf("not deterministic: %q vs %q", r1.Values(), r2.Values())
		}
		var moera string
		for _, a := range r1.ProxyAddresses {
			if a.Rule == RuleMOERA {
				moera = a.Value
			}
		}
		local := localOf(strings.TrimPrefix(moera, "smtp:"))
		if len(local) != len("jdoe")+4 || !strings.HasPrefix(local, "jdoe") || strings.Trim(local[4:], "0123456789") != "" {
			t.Errorf("MOERA = %q, want jdoe + 4 digits", moera)
		}
	})
	t.Run("KB3190357 scenario 6: bad injected digits fall back to the hash", func(t *testing.T) {
		r := Compute(in, ten, nil, Options{TakenMOERA: isTaken, Digits: func() string { return "12a4" }})
		for _, a := range r.ProxyAddresses {
			if strings.Contains(a.Value, "12a4") {
				t.Errorf("used bad digits: %q", a.Value)
			}
		}
	})
	t.Run("KB3190357 scenario 6: every candidate taken", func(t *testing.T) {
		r := Compute(in, ten, nil, Options{TakenMOERA: func(string) bool { return true }, Digits: func() string { return "0001" }})
		if rule, _ := droppedRule(r, "jdoe@contoso.onmicrosoft.com"); rule != RuleDroppedMOERACollision {
			t.Errorf("dropped = %+v", r.Dropped)
		}
		if want := []string{"SMTP:jdoe2@contoso.com"}; !reflect.DeepEqual(r.Values(), want) {
			t.Errorf("proxyAddresses = %q, want %q", r.Values(), want)
		}
	})
	t.Run("KB3190357 scenario 3: existing MOERA is not re-checked", func(t *testing.T) {
		prev := &Previous{Mail: "jdoe2@contoso.com", MailNickname: "jdoe",
			ProxyAddresses: []string{"SMTP:jdoe2@contoso.com", "smtp:jdoe@contoso.onmicrosoft.com"}}
		r := Compute(in, ten, prev, Options{TakenMOERA: func(string) bool { return true }})
		if rule, _ := ruleOf(r, "smtp:jdoe@contoso.onmicrosoft.com"); rule != RuleKeptPreviousMOERA {
			t.Errorf("proxyAddresses = %q", r.Values())
		}
	})
	t.Run("nickname that cannot form a MOERA", func(t *testing.T) {
		bad := in
		bad.MailNickname = "j doe"
		r := Compute(bad, ten, nil, Options{})
		if rule, _ := droppedRule(r, "j doe@contoso.onmicrosoft.com"); rule != RuleDroppedMalformed {
			t.Errorf("dropped = %+v", r.Dropped)
		}
	})
}

func TestUPNSecondary(t *testing.T) {
	ten := Tenant{InitialDomain: "contoso.onmicrosoft.com", VerifiedDomains: []string{"contoso.com"}}
	cases := []struct {
		name string
		in   Input
		want []string
	}{
		{
			name: "KB3190357 scenario 1: UPN equal to primary is not repeated",
			in:   Input{Kind: KindUser, UPN: "jdoe@contoso.com", Mail: "jdoe@contoso.com", ExchangeRecipient: true},
			want: []string{"SMTP:jdoe@contoso.com", "smtp:jdoe@contoso.onmicrosoft.com"},
		},
		{
			name: "KB3190357 scenario 1: UPN equal to primary in another case is not repeated",
			in:   Input{Kind: KindUser, UPN: "JDoe@Contoso.com", ProxyAddresses: []string{"SMTP:jdoe@contoso.com"}, ExchangeRecipient: true},
			want: []string{"SMTP:jdoe@contoso.com", "smtp:jdoe@contoso.onmicrosoft.com"},
		},
		{
			name: "KB3190357 scenario 2: UPN already a secondary in proxyAddresses is not repeated",
			in: Input{Kind: KindUser, UPN: "jdoe@contoso.com", ExchangeRecipient: true,
				ProxyAddresses: []string{"SMTP:jane.doe@contoso.com", "smtp:JDOE@contoso.com"}},
			want: []string{"SMTP:jane.doe@contoso.com", "smtp:jane.doe@contoso.onmicrosoft.com", "smtp:JDOE@contoso.com"},
		},
		{
			name: "KB3190357 scenario 2: mail-only unlicensed user gets no UPN",
			in:   Input{Kind: KindUser, UPN: "jdoe@contoso.com", Mail: "jane@contoso.com"},
			want: []string{"SMTP:jane@contoso.com"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Compute(tc.in, ten, nil, Options{})
			if !reflect.DeepEqual(r.Values(), tc.want) {
				t.Errorf("proxyAddresses = %q, want %q", r.Values(), tc.want)
			}
		})
	}
}

func TestGroupsAndContacts(t *testing.T) {
	ten := Tenant{InitialDomain: "contoso.onmicrosoft.com", VerifiedDomains: []string{"contoso.com"}}
	cases := []struct {
		name     string
		in       Input
		want     []string
		wantNick string
	}{
		{
			name: "mail-enabled group gets a MOERA, no UPN",
			in: Input{Kind: KindGroup, Mail: "sales@contoso.com", MailNickname: "sales", UPN: "ignored@contoso.com",
				ExchangeRecipient: true, ProxyAddresses: []string{"SMTP:sales@contoso.com", "smtp:vente@contoso.com",
					"X500:/o=Contoso/ou=First Administrative Group/cn=Recipients/cn=sales"}},
			want: []string{"SMTP:sales@contoso.com", "smtp:sales@contoso.onmicrosoft.com", "smtp:vente@contoso.com",
				"X500:/o=Contoso/ou=First Administrative Group/cn=Recipients/cn=sales"},
			wantNick: "sales",
		},
		{
			name:     "group nickname from its primary",
			in:       Input{Kind: "Group", Mail: "Team.A@contoso.com", ExchangeRecipient: true},
			want:     []string{"SMTP:Team.A@contoso.com", "smtp:Team.A@contoso.onmicrosoft.com"},
			wantNick: "Team.A",
		},
		{
			name: "group drops unverified domains",
			in: Input{Kind: KindGroup, MailNickname: "g", ExchangeRecipient: true,
				ProxyAddresses: []string{"SMTP:g@fabrikam.com", "smtp:g@contoso.com"}},
			want:     []string{"SMTP:g@contoso.onmicrosoft.com", "smtp:g@contoso.com"},
			wantNick: "g",
		},
		{
			name: "security group without mail has no addresses",
			in:   Input{Kind: KindGroup},
			want: nil,
		},
		{
			name: "mail contact keeps its external address, no MOERA, no UPN",
			in: Input{Kind: KindContact, Mail: "partner@fabrikam.com", MailNickname: "partner", UPN: "x@contoso.com",
				ExchangeRecipient: true, ProxyAddresses: []string{"SMTP:partner@fabrikam.com", "smtp:partner@contoso.onmicrosoft.com"}},
			want:     []string{"SMTP:partner@fabrikam.com"},
			wantNick: "partner",
		},
		{
			name:     "contact from mail only",
			in:       Input{Kind: KindContact, Mail: "ext@fabrikam.com", ExchangeRecipient: true},
			want:     []string{"SMTP:ext@fabrikam.com"},
			wantNick: "ext",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Compute(tc.in, ten, nil, Options{})
			if !reflect.DeepEqual(r.Values(), append([]string{}, tc.want...)) && !(len(tc.want) == 0 && len(r.Values()) == 0) {
				t.Errorf("proxyAddresses = %q, want %q", r.Values(), tc.want)
			}
			if r.MailNickname != tc.wantNick {
				t.Errorf("mailNickName = %q, want %q", r.MailNickname, tc.wantNick)
			}
			for _, a := range r.ProxyAddresses {
				if a.Source == SourceUPN {
					t.Errorf("UPN address on a %s: %q", tc.in.Kind, a.Value)
				}
				if tc.in.Kind == KindContact && (a.Rule == RuleMOERA || a.Rule == RuleMOERAPromoted) {
					t.Errorf("MOERA on a contact: %q", a.Value)
				}
			}
		})
	}
}

func TestPrimarySelection(t *testing.T) {
	ten := Tenant{InitialDomain: "contoso.onmicrosoft.com", VerifiedDomains: []string{"contoso.com"}}
	t.Run("KB3190357 proxyAddresses win over mail", func(t *testing.T) {
		r := Compute(Input{Kind: KindUser, UPN: "u@contoso.com", Mail: "old@contoso.com",
			ProxyAddresses: []string{"SMTP:new@contoso.com"}}, ten, nil, Options{})
		if r.Mail != "new@contoso.com" || r.MailRule != RulePrimaryFromProxyAddresses {
			t.Errorf("mail = %q (%s)", r.Mail, r.MailRule)
		}
		if rule, _ := droppedRule(r, "old@contoso.com"); rule != RuleDroppedMailIgnored {
			t.Errorf("dropped = %+v", r.Dropped)
		}
	})
	t.Run("mail equal to a secondary is not reported as ignored", func(t *testing.T) {
		r := Compute(Input{Kind: KindUser, UPN: "u@contoso.com", Mail: "Old@contoso.com",
			ProxyAddresses: []string{"SMTP:new@contoso.com", "smtp:old@contoso.com"}}, ten, nil, Options{})
		if len(r.Dropped) != 0 {
			t.Errorf("dropped = %+v", r.Dropped)
		}
	})
	t.Run("several SMTP: values: one primary, the rest demoted", func(t *testing.T) {
		in := Input{Kind: KindUser, UPN: "u@contoso.com", ProxyAddresses: []string{"SMTP:b@contoso.com", "SMTP:a@contoso.com"}}
		r := Compute(in, ten, nil, Options{})
		want := []string{"SMTP:a@contoso.com", "smtp:b@contoso.com", "smtp:u@contoso.com"}
		if !reflect.DeepEqual(r.Values(), want) {
			t.Errorf("proxyAddresses = %q, want %q", r.Values(), want)
		}
		if rule, _ := ruleOf(r, "smtp:b@contoso.com"); rule != RuleExtraPrimaryDemoted {
			t.Errorf("rule = %s", rule)
		}
	})
	t.Run("case-insensitive duplicates collapse, keeping the primary", func(t *testing.T) {
		in := Input{Kind: KindUser, UPN: "u@contoso.com", ExchangeRecipient: true,
			ProxyAddresses: []string{"smtp:JANE@contoso.com", "SMTP:jane@contoso.com", "smtp:x@contoso.com", "smtp:X@CONTOSO.COM",
				"X500:/o=A/cn=b", "x500:/O=A/CN=B"}}
		r := Compute(in, ten, nil, Options{})
		want := []string{"SMTP:jane@contoso.com", "smtp:jane@contoso.onmicrosoft.com", "smtp:u@contoso.com",
			"smtp:X@CONTOSO.COM", "X500:/o=A/cn=b"}
		if !reflect.DeepEqual(r.Values(), want) {
			t.Errorf("proxyAddresses = %q, want %q", r.Values(), want)
		}
	})
	t.Run("no mail attributes, unlicensed: nickname from UPN, no proxyAddresses", func(t *testing.T) {
		r := Compute(Input{Kind: "", UPN: "first.last@contoso.com"}, ten, nil, Options{})
		if r.MailNickname != "first.last" || len(r.ProxyAddresses) != 0 || r.Mail != "" || r.MailRule != RuleNoPrimary {
			t.Errorf("got %+v", r)
		}
	})
	t.Run("unlicensed user with only secondaries gets the UPN as primary", func(t *testing.T) {
		r := Compute(Input{Kind: KindUser, UPN: "u@contoso.com", ProxyAddresses: []string{"smtp:a@contoso.com"}}, ten, nil, Options{})
		want := []string{"SMTP:u@contoso.com", "smtp:a@contoso.com"}
		if !reflect.DeepEqual(r.Values(), want) || r.MailRule != RulePrimaryFromUPN {
			t.Errorf("proxyAddresses = %q (%s), want %q", r.Values(), r.MailRule, want)
		}
	})
	t.Run("contact with only secondaries promotes the first", func(t *testing.T) {
		r := Compute(Input{Kind: KindContact, ProxyAddresses: []string{"smtp:z@fabrikam.com", "smtp:b@fabrikam.com"}}, ten, nil, Options{})
		if r.Mail != "b@fabrikam.com" || r.MailRule != RuleSecondaryPromoted {
			t.Errorf("mail = %q (%s)", r.Mail, r.MailRule)
		}
	})
	t.Run("licence re-added after scenario 4: UPN primary again, MOERA kept", func(t *testing.T) {
		prev := &Previous{Mail: "u@contoso.onmicrosoft.com", MailNickname: "u",
			ProxyAddresses: []string{"SMTP:u@contoso.onmicrosoft.com"}}
		r := Compute(Input{Kind: KindUser, UPN: "u@contoso.com", ExchangeRecipient: true}, ten, prev, Options{})
		want := []string{"SMTP:u@contoso.com", "smtp:u@contoso.onmicrosoft.com"}
		if !reflect.DeepEqual(r.Values(), want) {
			t.Errorf("proxyAddresses = %q, want %q", r.Values(), want)
		}
	})
	t.Run("licence removed from a mail user: only the primary remains", func(t *testing.T) {
		prev := &Previous{Mail: "jane@contoso.com", MailNickname: "jane",
			ProxyAddresses: []string{"SMTP:jane@contoso.com", "smtp:u@contoso.com", "smtp:jane@contoso.onmicrosoft.com"}}
		r := Compute(Input{Kind: KindUser, UPN: "u@contoso.com", Mail: "jane@contoso.com"}, ten, prev, Options{})
		if want := []string{"SMTP:jane@contoso.com"}; !reflect.DeepEqual(r.Values(), want) {
			t.Errorf("proxyAddresses = %q, want %q", r.Values(), want)
		}
	})
}

func TestDeterminism(t *testing.T) {
	ten := Tenant{InitialDomain: "contoso.onmicrosoft.com", VerifiedDomains: []string{"contoso.com", "fabrikam.com"}}
	vals := []string{"smtp:z@contoso.com", "SIP:u@contoso.com", "SMTP:p@contoso.com", "x500:/o=X/cn=u",
		"smtp:A@fabrikam.com", "X400:c=US;a= ;p=C;", "smtp:b@contoso.com", "smtp:m@contoso.onmicrosoft.com"}
	in := Input{Kind: KindUser, UPN: "u@contoso.com", Mail: "p@contoso.com", ExchangeRecipient: true, ProxyAddresses: vals}
	first := Compute(in, ten, nil, Options{})
	for i := 0; i < 20; i++ {
		if again := Compute(in, ten, nil, Options{}); !reflect.DeepEqual(again, first) {
			t.Fatalf("run %d differs:\n%+v\n%+v", i, again, first)
		}
	}
	want := []string{"SMTP:p@contoso.com", "SIP:u@contoso.com", "smtp:A@fabrikam.com", "smtp:b@contoso.com",
		"smtp:p@contoso.onmicrosoft.com", "smtp:u@contoso.com", "smtp:z@contoso.com", "x500:/o=X/cn=u"}
	if !reflect.DeepEqual(first.Values(), want) {
		t.Errorf("order = %q, want %q", first.Values(), want)
	}
	// Reversing the LDAP value order changes only the order of Dropped.
	rev := append([]string(nil), vals...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	in.ProxyAddresses = rev
	r := Compute(in, ten, nil, Options{})
	if !reflect.DeepEqual(r.ProxyAddresses, first.ProxyAddresses) || r.Mail != first.Mail || r.MailNickname != first.MailNickname {
		t.Errorf("input order changed the result: %q vs %q", r.Values(), first.Values())
	}
	// Compute must not modify its inputs.
	if !reflect.DeepEqual(vals[0], "smtp:z@contoso.com") || rev[0] != "smtp:m@contoso.onmicrosoft.com" {
		t.Error("input slice modified")
	}
}

func TestEveryRuleExplained(t *testing.T) {
	seen := map[Rule]bool{}
	for _, r := range AllRules() {
		if seen[r] {
			t.Errorf("%s listed twice", r)
		}
		seen[r] = true
		e := r.Explain()
		if e == "" {
			t.Errorf("%s has no explanation", r)
			continue
		}
		if !strings.Contains(e, "KB 3190357") {
			t.Errorf("%s does not cite KB 3190357: %q", r, e)
		}
		if strings.Count(e, ". ") > 0 || !strings.HasSuffix(e, ".") {
			t.Errorf("%s is not one sentence: %q", r, e)
		}
	}
	if len(seen) != len(explanations) {
		t.Errorf("AllRules has %d rules, explanations %d", len(seen), len(explanations))
	}
	if Rule("no-such-rule").Explain() != "" {
		t.Error("unknown rule explained")
	}
}
