package adldap

import (
	"testing"

	"github.com/hybridsync/hybridsync/ad"
)

func TestFilterHelpers(t *testing.T) {
	cases := []struct {
		name, got, want string
	}{
		{"Eq plain", Eq("cn", "Jane Doe"), `(cn=Jane Doe)`},
		{"Eq star", Eq("cn", "a*"), `(cn=a\2a)`},
		{"Eq parens", Eq("cn", "Smith (Sales)"), `(cn=Smith \28Sales\29)`},
		{"Eq backslash", Eq("cn", `a\b`), `(cn=a\5cb)`},
		{"Eq all specials", Eq("cn", `*()\`), `(cn=\2a\28\29\5c)`},
		{"Eq NUL", Eq("cn", "a\x00b"), `(cn=a\00b)`},
		{"Eq non-ASCII", Eq("displayName", "Zoë"), `(displayName=Zo\c3\ab)`},
		{"Eq CJK", Eq("cn", "日本"), `(cn=\e6\97\a5\e6\9c\ac)`},
		{"Eq empty", Eq("cn", ""), `(cn=)`},
		{"Eq not double-escaped", Eq("cn", `a\2a`), `(cn=a\5c2a)`},
		{"Eq chars left alone", Eq("proxyAddresses", "smtp:a+b=c&d|e!f~g@x.com"), `(proxyAddresses=smtp:a+b=c&d|e!f~g@x.com)`},
		{"Present", Present("mail"), `(mail=*)`},
		{"GE", GE("uSNChanged", "12346"), `(uSNChanged>=12346)`},
		{"GE escapes", GE("cn", "a*(b)"), `(cn>=a\2a\28b\29)`},
		{"And", And(Eq("a", "1"), Eq("b", "2")), `(&(a=1)(b=2))`},
		{"And one", And(Present("x")), `(&(x=*))`},
		{"Or", Or(Eq("a", "1"), Present("b"), Eq("c", "*")), `(|(a=1)(b=*)(c=\2a))`},
		{"Not", Not(Eq("cn", "x")), `(!(cn=x))`},
		{"nested", And(Or(Eq("a", "("), Eq("b", ")")), Not(Present("c"))), `(&(|(a=\28)(b=\29))(!(c=*)))`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestSyncCandidateFilter(t *testing.T) {
	want := `(|(&(objectCategory=person)(objectClass=user))(objectClass=group)(&(|(objectClass=contact)(objectClass=msExchDynamicDistributionList))(|(mail=*)(proxyAddresses=*)(mailNickname=*))))`
	if got := SyncCandidateFilter(); got != want {
		t.Errorf("SyncCandidateFilter() =\n%s\nwant\n%s", got, want)
	}
	mail := ad.ParseProxyAddresses([]string{"SMTP:a@x.test"})
	for _, tc := range []struct {
		r    ad.Recipient
		want bool
	}{
		{ad.Recipient{Kind: ad.KindUser}, true},
		{ad.Recipient{Kind: ad.KindGroup}, true},
		{ad.Recipient{Kind: ad.KindContact}, false},
		{ad.Recipient{Kind: ad.KindContact, ProxyAddresses: mail}, true},
		{ad.Recipient{Kind: ad.KindDynamicDL, Mail: "a@x.test"}, true},
		{ad.Recipient{Kind: ad.KindOther, Mail: "a@x.test"}, false},
	} {
		if got := tc.r.SyncCandidate(); got != tc.want {
			t.Errorf("SyncCandidate(%s, mail-enabled %v) = %v, want %v", tc.r.Kind, tc.r.MailEnabled(), got, tc.want)
		}
	}
}

func TestMailEnabledFilter(t *testing.T) {
	want := `(&(|(&(objectCategory=person)(objectClass=user))(objectClass=group)(objectClass=contact)(objectClass=msExchDynamicDistributionList))(|(mail=*)(proxyAddresses=*)(mailNickname=*)))`
	if got := MailEnabledFilter(); got != want {
		t.Errorf("MailEnabledFilter() =\n%s\nwant\n%s", got, want)
	}
}

func TestBinaryFilterValue(t *testing.T) {
	cases := []struct {
		in   []byte
		want string
	}{
		{nil, ""},
		{[]byte{0x00}, `\00`},
		{[]byte{0x00, 0x2a, 0x28, 0x29, 0x5c, 0x41, 0xff}, `\00\2a\28\29\5c\41\ff`},
		{knownGUIDBytes, `\38\35\d2\99\9f\1a\f0\4f\bb\29\b5\18\32\3c\ba\cc`},
	}
	for _, tc := range cases {
		if got := binaryFilterValue(tc.in); got != tc.want {
			t.Errorf("binaryFilterValue(% x) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEqBinary(t *testing.T) {
	want := `(objectGUID=\38\35\d2\99\9f\1a\f0\4f\bb\29\b5\18\32\3c\ba\cc)`
	if got := EqBinary("objectGUID", knownGUIDBytes); got != want {
		t.Errorf("EqBinary = %q, want %q", got, want)
	}
	if got := EqBinary("objectSid", []byte{0x01, 0x00}); got != `(objectSid=\01\00)` {
		t.Errorf("EqBinary(objectSid) = %q", got)
	}
}

// knownGUIDBytes is objectGUID 99d23538-1a9f-4ff0-bb29-b518323cbacc as AD
// stores it.
var knownGUIDBytes = []byte{0x38, 0x35, 0xd2, 0x99, 0x9f, 0x1a, 0xf0, 0x4f, 0xbb, 0x29, 0xb5, 0x18, 0x32, 0x3c, 0xba, 0xcc}
