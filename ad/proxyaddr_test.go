package ad

import (
	"errors"
	"slices"
	"testing"
)

func TestParseProxyAddress(t *testing.T) {
	cases := []struct {
		name        string
		in          string
		wantPrefix  string
		wantAddress string
		wantType    string
		wantPrimary bool
		wantSMTP    bool
		wantErr     bool
	}{
		{name: "SMTP primary", in: "SMTP:jane@contoso.com", wantPrefix: "SMTP", wantAddress: "jane@contoso.com", wantType: TypeSMTP, wantPrimary: true, wantSMTP: true},
		{name: "smtp secondary", in: "smtp:jane.doe@contoso.com", wantPrefix: "smtp", wantAddress: "jane.doe@contoso.com", wantType: TypeSMTP, wantSMTP: true},
		{name: "mixed case Smtp is not primary", in: "Smtp:jane@contoso.com", wantPrefix: "Smtp", wantAddress: "jane@contoso.com", wantType: TypeSMTP, wantSMTP: true},
		{name: "x500 secondary", in: "x500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=abc-user",
			wantPrefix: "x500", wantAddress: "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=abc-user", wantType: TypeX500},
		{name: "X500 primary", in: "X500:/o=Contoso/ou=First Administrative Group/cn=Recipients/cn=jane", wantPrefix: "X500",
			wantAddress: "/o=Contoso/ou=First Administrative Group/cn=Recipients/cn=jane", wantType: TypeX500, wantPrimary: true},
		{name: "sip secondary", in: "sip:jane@contoso.com", wantPrefix: "sip", wantAddress: "jane@contoso.com", wantType: TypeSIP},
		{name: "SIP primary", in: "SIP:jane@contoso.com", wantPrefix: "SIP", wantAddress: "jane@contoso.com", wantType: TypeSIP, wantPrimary: true},
		{name: "X400 with ; and =", in: "X400:c=US;a= ;p=Org;o=Exchange;s=Doe;g=Jane;", wantPrefix: "X400",
			wantAddress: "c=US;a= ;p=Org;o=Exchange;s=Doe;g=Jane;", wantType: TypeX400, wantPrimary: true},
		{name: "EUM", in: "EUM:1234;phone-context=Dialplan.contoso.com", wantPrefix: "EUM", wantAddress: "1234;phone-context=Dialplan.contoso.com", wantType: TypeEUM, wantPrimary: true},
		{name: "several colons kept verbatim", in: "sip:jane@contoso.com:5061;transport=tls:x", wantPrefix: "sip",
			wantAddress: "jane@contoso.com:5061;transport=tls:x", wantType: TypeSIP},
		{name: "address starting with colon", in: "smtp::weird", wantPrefix: "smtp", wantAddress: ":weird", wantType: TypeSMTP, wantSMTP: true},
		{name: "nine-character prefix", in: "ABCDEFGHI:x", wantPrefix: "ABCDEFGHI", wantAddress: "x", wantType: "ABCDEFGHI", wantPrimary: true},
		{name: "digit-only prefix is not primary", in: "123:x", wantPrefix: "123", wantAddress: "x", wantType: "123"},
		{name: "non-ASCII address", in: "smtp:zoë@exämple.com", wantPrefix: "smtp", wantAddress: "zoë@exämple.com", wantType: TypeSMTP, wantSMTP: true},
		{name: "address with spaces", in: "X500:/o=A B/cn=C D ", wantPrefix: "X500", wantAddress: "/o=A B/cn=C D ", wantType: TypeX500, wantPrimary: true},

		{name: "missing colon", in: "jane@contoso.com", wantErr: true},
		{name: "empty string", in: "", wantErr: true},
		{name: "empty prefix", in: ":jane@contoso.com", wantErr: true},
		{name: "prefix too long", in: "ABCDEFGHIJ:x", wantErr: true},
		{name: "prefix with dash", in: "X-MS:jane", wantErr: true},
		{name: "prefix with space", in: "smtp :jane@contoso.com", wantErr: true},
		{name: "leading space", in: " smtp:jane@contoso.com", wantErr: true},
		{name: "non-ASCII prefix", in: "smtpé:jane@contoso.com", wantErr: true},
		{name: "empty address", in: "smtp:", wantErr: true},
		{name: "only colon", in: ":", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseProxyAddress(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseProxyAddress(%q) = %+v, want an error", tc.in, p)
				}
				if !errors.Is(err, ErrMalformedProxyAddress) {
					t.Errorf("error %v does not wrap ErrMalformedProxyAddress", err)
				}
				if p != (ProxyAddress{}) {
					t.Errorf("value on error = %+v, want zero", p)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseProxyAddress(%q): %v", tc.in, err)
			}
			if p.Prefix != tc.wantPrefix || p.Address != tc.wantAddress {
				t.Errorf("got {%q, %q}, want {%q, %q}", p.Prefix, p.Address, tc.wantPrefix, tc.wantAddress)
			}
			if got := p.String(); got != tc.in {
				t.Errorf("String() = %q, want the input %q", got, tc.in)
			}
			if got := p.Type(); got != tc.wantType {
				t.Errorf("Type() = %q, want %q", got, tc.wantType)
			}
			if got := p.IsPrimary(); got != tc.wantPrimary {
				t.Errorf("IsPrimary() = %v, want %v", got, tc.wantPrimary)
			}
			if got := p.IsSMTP(); got != tc.wantSMTP {
				t.Errorf("IsSMTP() = %v, want %v", got, tc.wantSMTP)
			}
		})
	}
}

func TestProxyAddressSMTPDomain(t *testing.T) {
	cases := []struct {
		name string
		in   ProxyAddress
		want string
	}{
		{"primary", ProxyAddress{"SMTP", "jane@contoso.com"}, "contoso.com"},
		{"secondary", ProxyAddress{"smtp", "jane@sub.contoso.com"}, "sub.contoso.com"},
		{"upper-case domain lowered", ProxyAddress{"SMTP", "Jane@Contoso.COM"}, "contoso.com"},
		{"no @", ProxyAddress{"smtp", "jane.contoso.com"}, ""},
		{"two @", ProxyAddress{"smtp", "jane@x@contoso.com"}, ""},
		{"trailing @", ProxyAddress{"smtp", "jane@"}, ""},
		{"leading @", ProxyAddress{"smtp", "@contoso.com"}, ""},
		{"only @", ProxyAddress{"smtp", "@"}, ""},
		{"not smtp", ProxyAddress{"sip", "jane@contoso.com"}, ""},
		{"x500", ProxyAddress{"X500", "/o=a@b/cn=c"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.SMTPDomain(); got != tc.want {
				t.Errorf("SMTPDomain(%q) = %q, want %q", tc.in.String(), got, tc.want)
			}
		})
	}
}

func TestParseProxyAddresses(t *testing.T) {
	in := []string{
		"smtp:b@contoso.com",
		"not-an-address",
		"SMTP:a@contoso.com",
		"X500:/o=Org/cn=a",
		"smtp:",
		"sip:a@contoso.com",
		"TOOLONGPFX:x",
		"x500:/o=Org/cn=old",
		"SMTP:second-primary@contoso.com",
	}
	ps := ParseProxyAddresses(in)

	wantValues := []string{
		"smtp:b@contoso.com", "SMTP:a@contoso.com", "X500:/o=Org/cn=a", "sip:a@contoso.com",
		"x500:/o=Org/cn=old", "SMTP:second-primary@contoso.com",
	}
	var gotValues []string
	for _, p := range ps.Values {
		gotValues = append(gotValues, p.String())
	}
	if !slices.Equal(gotValues, wantValues) {
		t.Errorf("Values = %q, want %q", gotValues, wantValues)
	}
	wantMalformed := []string{"not-an-address", "smtp:", "TOOLONGPFX:x"}
	if !slices.Equal(ps.Malformed, wantMalformed) {
		t.Errorf("Malformed = %q, want %q", ps.Malformed, wantMalformed)
	}

	t.Run("PrimarySMTP returns the first of two", func(t *testing.T) {
		p, ok := ps.PrimarySMTP()
		if !ok || p.String() != "SMTP:a@contoso.com" {
			t.Errorf("PrimarySMTP = %q, %v; want SMTP:a@contoso.com, true", p.String(), ok)
		}
	})
	t.Run("PrimarySMTP none", func(t *testing.T) {
		none := ParseProxyAddresses([]string{"smtp:a@contoso.com", "X500:/o=x", "SIP:a@contoso.com"})
		if p, ok := none.PrimarySMTP(); ok || p != (ProxyAddress{}) {
			t.Errorf("PrimarySMTP = %+v, %v; want zero, false", p, ok)
		}
		if _, ok := (ProxyAddresses{}).PrimarySMTP(); ok {
			t.Error("PrimarySMTP of empty set reported ok")
		}
	})
	t.Run("OfType", func(t *testing.T) {
		for _, tc := range []struct {
			typ  string
			want []string
		}{
			{"SMTP", []string{"smtp:b@contoso.com", "SMTP:a@contoso.com", "SMTP:second-primary@contoso.com"}},
			{"smtp", []string{"smtp:b@contoso.com", "SMTP:a@contoso.com", "SMTP:second-primary@contoso.com"}},
			{"x500", []string{"X500:/o=Org/cn=a", "x500:/o=Org/cn=old"}},
			{"SIP", []string{"sip:a@contoso.com"}},
			{"EUM", nil},
		} {
			var got []string
			for _, p := range ps.OfType(tc.typ) {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("OfType(%q) = %q, want %q", tc.typ, got, tc.want)
			}
		}
	})
	t.Run("Raw", func(t *testing.T) {
		want := append(append([]string{}, wantValues...), wantMalformed...)
		if got := ps.Raw(); !slices.Equal(got, want) {
			t.Errorf("Raw = %q, want %q", got, want)
		}
		if got := (ProxyAddresses{}).Raw(); got == nil || len(got) != 0 {
			t.Errorf("Raw of empty set = %#v, want empty non-nil slice", got)
		}
		// Nothing read is dropped.
		raw := ps.Raw()
		slices.Sort(raw)
		sortedIn := append([]string{}, in...)
		slices.Sort(sortedIn)
		if !slices.Equal(raw, sortedIn) {
			t.Errorf("Raw as a set = %q, want the input %q", raw, sortedIn)
		}
	})
	t.Run("nil input", func(t *testing.T) {
		ps := ParseProxyAddresses(nil)
		if len(ps.Values) != 0 || len(ps.Malformed) != 0 {
			t.Errorf("ParseProxyAddresses(nil) = %+v", ps)
		}
	})
}
