package emulator

import (
	"errors"
	"testing"

	"github.com/hybridsync/hybridsync/cloud"
)

func TestParseFilter(t *testing.T) {
	obj := &Object{
		ID: "id-1", Kind: cloud.KindUser, DisplayName: "O'Brien, Pat", Mail: "pat@contoso.com",
		UserPrincipalName: "pat@contoso.com", ProxyAddresses: []string{"SMTP:pat@contoso.com", "smtp:p.obrien@contoso.com", "X500:/o=x"},
		OnPremisesSyncEnabled: true, OnPremisesImmutableID: "abc==",
	}
	get := propGetter(kindProps(cloud.KindUser), obj, &wireCtx{})
	schema := kindSchema(cloud.KindUser)
	tests := []struct {
		name     string
		expr     string
		want     bool
		advanced bool
	}{
		{"eq", "mail eq 'pat@contoso.com'", true, false},
		{"eq is case-insensitive", "mail eq 'PAT@Contoso.com'", true, false},
		{"quote escaping", "displayName eq 'O''Brien, Pat'", true, false},
		{"quote escaping mismatch", "displayName eq 'O''Brien'", false, false},
		{"ne", "mail ne 'x@y'", true, true},
		{"startsWith", "startsWith(displayName,'o''b')", true, false},
		{"endsWith advanced", "endsWith(mail,'@contoso.com')", true, true},
		{"bool true", "onPremisesSyncEnabled eq true", true, false},
		{"null", "onPremisesSecurityIdentifier eq null", true, false},
		{"not null", "onPremisesImmutableId eq null", false, false},
		{"in", "onPremisesImmutableId in ('x','abc==')", true, false},
		{"any eq", "proxyAddresses/any(p:p eq 'smtp:pat@contoso.com')", true, false},
		{"any eq other", "proxyAddresses/any(x:x eq 'smtp:nobody@contoso.com')", false, false},
		{"any startsWith", "proxyAddresses/any(p:startsWith(p,'X500:'))", true, false},
		{"any endsWith", "proxyAddresses/any(p:endsWith(p,'obrien@contoso.com'))", true, true},
		{"any empty", "proxyAddresses/any()", true, false},
		{"and binds tighter than or", "mail eq 'no' and mail eq 'no' or id eq 'id-1'", true, false},
		{"or inside and", "mail eq 'no' and (mail eq 'no' or id eq 'id-1')", false, false},
		{"not", "not (mail eq 'no')", true, true},
		{"not binds tighter than and", "not mail eq 'no' and id eq 'id-1'", true, true},
		{"keywords any case", "mail EQ 'pat@contoso.com' AND id eq 'id-1'", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseFilter(tc.expr, schema)
			if err != nil {
				t.Fatalf("parseFilter(%q): %v", tc.expr, err)
			}
			if got := f.Match(get); got != tc.want {
				t.Errorf("Match = %v, want %v", got, tc.want)
			}
			if f.Advanced != tc.advanced {
				t.Errorf("Advanced = %v, want %v", f.Advanced, tc.advanced)
			}
		})
	}
}

func TestParseFilterErrors(t *testing.T) {
	schema := kindSchema(cloud.KindUser)
	tests := []struct {
		expr        string
		unsupported bool
	}{
		{"", false},
		{"mail eq 'unterminated", false},
		{"mail eq", false},
		{"(mail eq 'a'", false},
		{"mail eq 'a')", false},
		{"mail 'a'", false},
		{"mail zz 'a'", false},
		{"mail eq 'a' and", false},
		{"startsWith(mail 'a')", false},
		{"proxyAddresses/any(p p eq 'a')", false},
		{"mail eq true", false},
		{"onPremisesSyncEnabled eq 'x'", false},
		{"jobTitle eq 'x'", true},
		{"mail gt 'a'", true},
		{"contains(mail,'a')", true},
		{"proxyAddresses/all(p:p eq 'a')", true},
		{"proxyAddresses eq 'a'", true},
		{"endsWith(displayName,'a')", true},
		{"'a' eq mail", true},
		{"mail eq 5", true},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			_, err := parseFilter(tc.expr, schema)
			var fe *filterError
			if !errors.As(err, &fe) {
				t.Fatalf("parseFilter(%q) = %v, want a *filterError", tc.expr, err)
			}
			if fe.Unsupported != tc.unsupported {
				t.Errorf("Unsupported = %v, want %v (%s)", fe.Unsupported, tc.unsupported, fe.Msg)
			}
		})
	}
}

func TestParseOPath(t *testing.T) {
	o := &Object{
		ID: "g1", Kind: cloud.KindGroup, DisplayName: "Sales", MailNickname: "sales", MailEnabled: true,
		ProxyAddresses: []string{"SMTP:sales@contoso.com", "smtp:ventes@contoso.com"},
	}
	o.Exchange.CustomAttributes[2] = "blue"
	tests := []struct {
		f    string
		want bool
	}{
		{"EmailAddresses -eq 'ventes@contoso.com'", true},
		{"EmailAddresses -eq 'smtp:SALES@contoso.com'", true},
		{"EmailAddresses -eq 'nobody@contoso.com'", false},
		{"RecipientTypeDetails -eq 'MailUniversalDistributionGroup'", true},
		{"RecipientTypeDetails -eq 'MailUniversalDistributionGroup' -and Alias -eq 'other'", false},
		{"(Alias -eq 'other') -or (Alias -eq 'SALES')", true},
		{"-not (Alias -eq 'sales')", false},
		{"Name -like 'Sal*'", true},
		{"CustomAttribute3 -eq \"blue\"", true},
		{"CustomAttribute4 -eq $null", true},
		{"IsDirSynced -eq $false", true},
		{"Alias -ne 'sales'", false},
	}
	for _, tc := range tests {
		t.Run(tc.f, func(t *testing.T) {
			m, err := parseOPath(tc.f)
			if err != nil {
				t.Fatalf("parseOPath: %v", err)
			}
			if got := m(o); got != tc.want {
				t.Errorf("match = %v, want %v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"Alias -eq", "Alias -gt 'x'", "Bogus -eq 'x'", "Alias -eq 'x", "Alias -eq x", "(Alias -eq 'x'"} {
		if _, err := parseOPath(bad); err == nil {
			t.Errorf("parseOPath(%q) succeeded, want an error", bad)
		}
	}
}
