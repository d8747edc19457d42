package ad

import (
	"encoding/hex"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// The DN code is compared with go-ldap v3's, whose ParseDN, EscapeDN and
// DN.String it replaces: package ad links no LDAP library, its tests may.

// canonicalDNGoLDAP is CanonicalDN as written on go-ldap.
func canonicalDNGoLDAP(dn string) string {
	d, err := ldap.ParseDN(dn)
	if err != nil {
		return dn
	}
	rdns := make([]string, len(d.RDNs))
	for i, rdn := range d.RDNs {
		avas := make([]string, len(rdn.Attributes))
		for j, a := range rdn.Attributes {
			avas[j] = strings.ToLower(a.Type) + "=" + ldap.EscapeDN(strings.ToLower(a.Value))
		}
		rdns[i] = strings.Join(avas, "+")
	}
	return strings.Join(rdns, ",")
}

// equalDNGoLDAP is EqualDN as written on go-ldap.
func equalDNGoLDAP(a, b string) bool {
	da, err := ldap.ParseDN(a)
	if err != nil {
		return false
	}
	db, err := ldap.ParseDN(b)
	if err != nil {
		return false
	}
	return da.EqualFold(db)
}

// toGoLDAP converts d to go-ldap's type.
func toGoLDAP(d *DN) *ldap.DN {
	out := &ldap.DN{RDNs: make([]*ldap.RelativeDN, len(d.RDNs))}
	for i, rdn := range d.RDNs {
		out.RDNs[i] = &ldap.RelativeDN{}
		for _, a := range rdn.Attributes {
			out.RDNs[i].Attributes = append(out.RDNs[i].Attributes, &ldap.AttributeTypeAndValue{Type: a.Type, Value: a.Value})
		}
	}
	return out
}

// fromGoLDAP converts d from go-ldap's type.
func fromGoLDAP(d *ldap.DN) *DN {
	out := &DN{RDNs: make([]RDN, len(d.RDNs))}
	for i, rdn := range d.RDNs {
		out.RDNs[i].Attributes = make([]AttributeTypeAndValue, len(rdn.Attributes))
		for j, a := range rdn.Attributes {
			out.RDNs[i].Attributes[j] = AttributeTypeAndValue{Type: a.Type, Value: a.Value}
		}
	}
	return out
}

// checkDNMatchesGoLDAP fails t unless parsing dn, printing it and comparing
// it with related DNs gives what go-ldap gives.
func checkDNMatchesGoLDAP(t *testing.T, dn string) {
	t.Helper()
	want, wantErr := ldap.ParseDN(dn)
	got, err := parseDN(dn)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("parse %q: error %v, go-ldap's %v", dn, err, wantErr)
	}
	pub, pubErr := ParseDN(dn)
	if wantErr != nil || len(want.RDNs) == 0 {
		if pubErr == nil {
			t.Fatalf("ParseDN(%q) = %v, want an error (go-ldap: %d RDNs, %v)", dn, pub, len(want.RDNs), wantErr)
		}
	} else if pubErr != nil || !reflect.DeepEqual(pub, got) {
		t.Fatalf("ParseDN(%q) = %#v, %v; want %#v", dn, pub, pubErr, got)
	}
	if canon, canonWant := CanonicalDN(dn), canonicalDNGoLDAP(dn); canon != canonWant {
		t.Fatalf("CanonicalDN(%q) = %q, on go-ldap %q", dn, canon, canonWant)
	}
	if wantErr != nil {
		if EqualDN(dn, dn) || IsUnder(dn, "DC=x") || IsUnder("DC=x", dn) {
			t.Fatalf("%q does not parse but EqualDN or IsUnder accepts it", dn)
		}
		return
	}
	if w := fromGoLDAP(want); !reflect.DeepEqual(got, w) {
		t.Fatalf("parse %q = %#v, go-ldap's %#v", dn, got, w)
	}
	s, sWant := got.String(), want.String()
	if s != sWant {
		t.Fatalf("String of %q = %q, go-ldap's %q", dn, s, sWant)
	}
	// Compare dn with its printed form, its parent, its first RDN and a
	// DN with a child more, both ways.
	others := []string{s, "DC=x", "", dn + ",DC=x", "CN=child," + dn}
	if len(got.RDNs) > 1 {
		others = append(others, (&DN{RDNs: got.RDNs[1:]}).String(), (&DN{RDNs: got.RDNs[:1]}).String())
	}
	for _, o := range others {
		for _, p := range [][2]string{{dn, o}, {o, dn}} {
			if g, w := EqualDN(p[0], p[1]), equalDNGoLDAP(p[0], p[1]); g != w {
				t.Fatalf("EqualDN(%q, %q) = %v, on go-ldap %v", p[0], p[1], g, w)
			}
			if g, w := IsUnder(p[0], p[1]), isUnderParsed(p[0], p[1]); g != w {
				t.Fatalf("IsUnder(%q, %q) = %v, on go-ldap %v", p[0], p[1], g, w)
			}
		}
	}
}

// checkEscapeMatchesGoLDAP fails t unless EscapeDN(v) and the printed
// forms of attributes and RDNs holding v are go-ldap's.
func checkEscapeMatchesGoLDAP(t *testing.T, v string) {
	t.Helper()
	if got, want := EscapeDN(v), ldap.EscapeDN(v); got != want {
		t.Fatalf("EscapeDN(%q) = %q, go-ldap's %q", v, got, want)
	}
	d := &DN{RDNs: []RDN{
		{Attributes: []AttributeTypeAndValue{{Type: v, Value: v}}},
		{Attributes: []AttributeTypeAndValue{{Type: "cn", Value: v}, {Type: v, Value: "x"}, {Type: "Sn", Value: v + "#"}}},
	}}
	if got, want := d.String(), toGoLDAP(d).String(); got != want {
		t.Fatalf("String of %#v = %q, go-ldap's %q", d, got, want)
	}
	if got, want := d.RDNs[1].String(), toGoLDAP(d).RDNs[1].String(); got != want {
		t.Fatalf("RDN.String of %#v = %q, go-ldap's %q", d.RDNs[1], got, want)
	}
	e := &DN{RDNs: []RDN{{Attributes: []AttributeTypeAndValue{{Type: strings.ToUpper(v), Value: strings.ToLower(v)}}}, d.RDNs[1]}}
	for _, p := range [][2]*DN{{d, e}, {e, d}, {d, d}, {&DN{RDNs: d.RDNs[1:]}, d}} {
		if got, want := p[0].EqualFold(p[1]), toGoLDAP(p[0]).EqualFold(toGoLDAP(p[1])); got != want {
			t.Fatalf("EqualFold(%q, %q) = %v, go-ldap's %v", p[0], p[1], got, want)
		}
		if got, want := p[0].AncestorOfFold(p[1]), toGoLDAP(p[0]).AncestorOfFold(toGoLDAP(p[1])); got != want {
			t.Fatalf("AncestorOfFold(%q, %q) = %v, go-ldap's %v", p[0], p[1], got, want)
		}
	}
}

// dnCases are DNs, good and bad, covering RFC 4514 and go-ldap's reading
// of it.
var dnCases = []string{
	// plain, spaces, separators
	"CN=Jane Doe,OU=Users,DC=example,DC=com",
	"cn=jane,dc=x",
	"CN=a, DC=x",
	"CN = a , DC = x",
	"  CN=a,DC=x  ",
	"CN=a;DC=x",
	"CN=a ; DC=x",
	"CN=a+SN=b,DC=x",
	"CN=a + SN=b,DC=x",
	"SN=b+CN=a+CN=a,DC=x",
	"CN=a+CN=a,DC=x",
	"CN=,DC=x",
	"CN=",
	"CN= ",
	"CN=a=b,DC=x",
	"=a=b",
	" =a=b",
	"=",
	"==",
	"CN",
	"CN=a,,DC=x",
	"CN=a,DC=x,",
	",DC=x",
	"+",
	"CN=a+,DC=x",
	"",
	"   ",
	"\t",
	"\t\n ",
	"\u00a0",
	"\tCN=a",
	"CN=a\t,DC=x",
	// escapes
	`CN=Smith\, John,OU=x,DC=y`,
	`CN=a\+b\;c\<d\>e\=f\"g\#h\\i\ j,DC=x`,
	`CN=\ lead,DC=x`,
	`CN=trail\ ,DC=x`,
	`CN=trail\  ,DC=x`,
	`CN=trail\\ ,DC=x`,
	`CN=trail\\\ ,DC=x`,
	`CN=\  both \ ,DC=x`,
	`CN=\ ,DC=x`,
	`CN=\#hash,DC=x`,
	`CN=a\2cb,DC=x`,
	`CN=A\2CB,DC=x`,
	`CN=Zo\c3\ab,DC=x`,
	`CN=Zo\C3\AB,DC=x`,
	`CN=\e2\82\ac,DC=x`,
	`CN=\ff\fe,DC=x`,
	`CN=\00,DC=x`,
	`CN=a\`,
	`CN=a\,DC=x`,
	`CN=a\2`,
	`CN=a\2,DC=x`,
	`CN=a\2g,DC=x`,
	`CN=a\g2,DC=x`,
	`CN=a\é,DC=x`,
	`CN=a\` + "\xff" + `,DC=x`,
	`C\4e=a,DC=x`,
	`C\=N=a,DC=x`,
	`C\,N=a,DC=x`,
	`\ CN=a`,
	// characters RFC 4514 requires escaped
	`CN="a",DC=x`,
	`CN="a,b",DC=x`,
	`CN=a"b,DC=x`,
	`CN=a<b,DC=x`,
	`CN=a>b,DC=x`,
	"CN=a\x00b,DC=x",
	`C"N=a,DC=x`,
	"CN=a#b,DC=x",
	"CN=#,DC=x",
	// non-ASCII and invalid UTF-8
	"CN=Zoë,DC=x",
	"CN=ZOË,DC=x",
	"CN=日本,DC=x",
	"CN=\xff,DC=x",
	"CN=a\xc3,DC=x",
	"CN=\xed\xa0\x80,DC=x",
	"\xffCN=a,DC=x",
	"CN=\u212a,DC=x",
	"\u212aN=a,DC=x",
	"ſN=a,DC=x",
	"CN=İ,DC=x",
	"CN=\x7f\x01,DC=x",
	// '#' and the hex of a BER value
	"CN=#04024869,DC=x",
	"CN=#04024869",
	"CN=#0402486,DC=x",
	"CN=#0402486g,DC=x",
	"CN=#0402 4869,DC=x",
	"CN=#04024869 ,DC=x",
	"CN= #04024869,DC=x",
	"CN=#,DC=x",
	"CN=#04,DC=x",
	"CN=#0403486,DC=x",
	"CN=#0403486900,DC=x",
	"CN=#040248690000,DC=x",
	"CN=#0C024869,DC=x",
	"CN=#0C02FFFE,DC=x",
	"CN=#0C02C3AB,DC=x",
	"CN=#13054A6F686E2E,DC=x",
	"CN=#13012A,DC=x",
	"CN=#1601410,DC=x",
	"CN=#160141,DC=x",
	"CN=#160180,DC=x",
	"CN=#16017F,DC=x",
	"CN=#180F32303234303130313132303030305A,DC=x",
	"CN=#180E3230323430313031313230303030,DC=x",
	"CN=#180B323032343031303131325A,DC=x",
	"CN=#180F32303234313330313132303030305A,DC=x",
	"CN=#1813323032343031303131323330302E352B30313030,DC=x",
	"CN=#180F323032343031303131322C352D3031,DC=x",
	"CN=#1813323032343031303131323030302E3132335A,DC=x",
	"CN=#0900,DC=x",
	"CN=#090140,DC=x",
	"CN=#090143,DC=x",
	"CN=#090144,DC=x",
	"CN=#09024000,DC=x",
	"CN=#0903800001,DC=x",
	"CN=#09028000,DC=x",
	"CN=#0903C00001,DC=x",
	"CN=#0904B0000101,DC=x",
	"CN=#0905030101FF01,DC=x",
	"CN=#090403312E35,DC=x",
	"CN=#090402312C35,DC=x",
	"CN=#09020130,DC=x",
	"CN=#0903012D30,DC=x",
	"CN=#09020131,DC=x",
	"CN=#09020731,DC=x",
	"CN=#0101FF,DC=x",
	"CN=#020100,DC=x",
	"CN=#0500,DC=x",
	"CN=#06032A0304,DC=x",
	"CN=#0000,DC=x",
	"CN=#3006040141040142,DC=x",
	"CN=#3000,DC=x",
	"CN=#30800401410000,DC=x",
	"CN=#3080040141,DC=x",
	"CN=#308000000000,DC=x",
	"CN=#300400000000,DC=x",
	"CN=#3003040141,DC=x",
	"CN=#3005040141,DC=x",
	"CN=#300A308004014100000500,DC=x",
	"CN=#30041F0C0141,DC=x",
	"CN=#30045F210141,DC=x",
	"CN=#30055F81000141,DC=x",
	"CN=#3005040C0241FF,DC=x",
	"CN=#30050C0241FF,DC=x",
	"CN=#2C050C0241FF,DC=x",
	"CN=#30810604014104014200,DC=x",
	"CN=#308106040141040142,DC=x",
	"CN=#0481024869,DC=x",
	"CN=#04840000000248690,DC=x",
	"CN=#048400000002486900,DC=x",
	"CN=#0484000000024869,DC=x",
	"CN=#0489000000000000000002,DC=x",
	"CN=#0488FFFFFFFFFFFFFFFF,DC=x",
	"CN=#0481,DC=x",
	"CN=#0482,DC=x",
	"CN=#048201,DC=x",
	"CN=#3003040241,DC=x",
	"CN=#300304024142,DC=x",
	"CN=#4C02FFFE,DC=x",
	"CN=#8C02FFFE,DC=x",
	"CN=#D30141,DC=x",
	"CN=#D3012A,DC=x",
	"CN=#5602FF80,DC=x",
	"CN=#5804,DC=x",
	"CN=#490144,DC=x",
	"CN=#2C02C3AB,DC=x",
	"CN=#0488FFFFFFFFFFFFFFFE4869,DC=x",
	"CN=#048880000000000000004869,DC=x",
	"CN=#04890000000000000000024869,DC=x",
	"CN=#0488000000000000000002486,DC=x",
	"CN=#04880000000000000000024869,DC=x",
	"CN=#0484FFFFFFFF,DC=x",
	"CN=#04FF,DC=x",
	"CN=#0480,DC=x",
	"CN=#1F,DC=x",
	"CN=#1F80,DC=x",
	"CN=#1F0001,DC=x",
	"CN=#1F810000,DC=x",
	"CN=#1F8181818181818181810100,DC=x",
	"CN=#1F81818181818181817F00,DC=x",
	"CN=#5F8101024869,DC=x",
	"CN=#1F000148,DC=x",
	"CN=#1F800100,DC=x",
	"CN=#308080000000,DC=x",
	"CN=#3080A0000000,DC=x",
	"CN=#3080A08000000000,DC=x",
	"CN=#30802000,DC=x",
	"CN=\xff\\41,DC=x",
	"CN=#300D" + strings.Repeat("3080", 3) + ",DC=x",
	"CN=#04024869+SN=#04014A,DC=x",
	"CN=a,DC=#04024869",
	"#04024869=a,DC=x",
}

// berTLV is the BER element of the given identifier octet and content
// (shorter than 128 octets).
func berTLV(identifier byte, content string) string {
	return string([]byte{identifier, byte(len(content))}) + content
}

// berDN is a DN whose first value is '#' and the hex of berTLV(identifier,
// content).
func berDN(identifier byte, content string) string {
	return "CN=#" + hex.EncodeToString([]byte(berTLV(identifier, content))) + ",DC=x"
}

// berContents are contents of GeneralizedTime and REAL elements, valid and
// not.
var (
	generalizedTimes = []string{
		"2024010112Z", "202401011230Z", "20240101123059Z", "20240101120000+01", "20240101120000+0130",
		"20240101120000-0130", "20240101120000+013", "20240101120000+01300", "20240101120000Y",
		"20240101120000Z1", "2024010112.5Z", "2024010112,25+01", "202401011230.5Z", "202401011230,5-0100",
		"20240101123059.123Z", "20240101123059,5+0100", "2024010112.Z", "2024010112.5e3Z", "2024010112.5.Z",
		"20240101.5Z", "20240101123059.Z", "2024-01-01", "Z", "2024010112Z.5", "20241301120000Z",
		"20240230120000Z", "2024010125Z", "2024010112+2400", "2024010112.5",
	}
	reals = []string{
		"", "\x40", "\x41", "\x42", "\x43", "\x44", "\x7f", "\x40\x00",
		"\x80\x00\x01", "\x80\x00", "\x80", "\x80\x01\x01", "\x90\x02\x03", "\xa0\xff\x01", "\xb0\x00\x01",
		"\x84\x00\x01", "\x8c\x00\xff", "\xc0\x00\x01", "\xc0\x00\xff", "\x81\x7f\xff", "\x81\x80\x00\x01",
		"\xc1\x80\x00\x01", "\x81\x80\x00", "\x83\x01\x02\x03", "\x83\x00\x01", "\x83\x09" + strings.Repeat("\x01", 10),
		"\x83\x02\x01", "\x80\x01" + strings.Repeat("\x01", 8), "\x80\x01" + strings.Repeat("\x01", 9),
		"\x83\x08" + strings.Repeat("\x7f", 9), "\x83", "\x83\x01",
		"\x011", "\x01 12", "\x010", "\x01-0", "\x01x", "\x01", "\x0199999999999999999999",
		"\x021.5", "\x02 1,5", "\x03-1.5E3", "\x03nan", "\x03inf", "\x021e400", "\x021e-400", "\x02-0.0",
		"\x020", "\x030x1p-2", "\x021_0", "\x04 1", "\x00",
	}
)

func TestDNMatchesGoLDAP(t *testing.T) {
	cases := slices.Clone(dnCases)
	for _, c := range generalizedTimes {
		cases = append(cases, berDN(0x18, c), berDN(0x30, berTLV(0x18, c)+berTLV(0x04, c)))
	}
	for _, c := range reals {
		cases = append(cases, berDN(0x09, c))
	}
	for _, dn := range cases {
		t.Run(dn, func(t *testing.T) { checkDNMatchesGoLDAP(t, dn) })
	}
	t.Run("deep BER", func(t *testing.T) {
		for _, depth := range []int{998, 999, 1000, 1001} {
			der := strings.Repeat("3080", depth) + "0400" + strings.Repeat("0000", depth)
			checkDNMatchesGoLDAP(t, "CN=#"+der+",DC=x")
		}
	})
}

func TestEscapeDNMatchesGoLDAP(t *testing.T) {
	for _, v := range []string{
		"", " ", "  ", "#", "##", " # ", "a#", "Jane Doe", `Smith, John (Sales)*`, `Back\slash + Plus`,
		`"quoted"`, `<>;=`, "a=b", "=", "Zoë", "ZOË", "日本", "\xff", "a\xc3", "\x00", "a\x00b", "\x01\x7f",
		"tab\tand\nnewline", "trail ", " lead", `a\`, `a\ `, "\u212a", "ſ", "İ", "ǅ", "\u00a0",
	} {
		t.Run(v, func(t *testing.T) { checkEscapeMatchesGoLDAP(t, v) })
	}
}

func TestDNPairsMatchGoLDAP(t *testing.T) {
	for _, p := range [][2]string{
		{"CN=a+CN=a,DC=x", "CN=a+CN=b,DC=x"},
		{"CN=a+CN=b,DC=x", "CN=a+CN=a,DC=x"},
		{"CN=a+SN=b,DC=x", "sn=B+cn=A,dc=X"},
		{"CN=a+SN=b+SN=b,DC=x", "SN=b+CN=a+SN=b,DC=x"},
		{"CN=a+SN=b+SN=b,DC=x", "SN=b+CN=a+CN=a,DC=x"},
		{"CN=a+SN=b", "CN=a"},
		{"CN=a+SN=b,DC=x", "DC=x"},
		{"CN=\u212a,DC=x", "CN=k,DC=x"},
		{"CN=ſ,DC=x", "CN=S,DC=x"},
		{`CN=\ff,DC=x`, `CN=\fe,DC=x`},
		{"CN=\xff,DC=x", "CN=\xfe,DC=x"},
		{"CN=Zoë,DC=x", `cn=ZO\c3\8b,dc=X`},
		{"CN=a,DC=x", "CN=a;DC=x"},
		{"CN=a , DC=x", " CN = a,DC=x "},
		{"CN=#04024869,DC=x", "CN=Hi,DC=x"},
		{"CN=#04024869,DC=x", "CN=\\#04024869,DC=x"},
		{"", ""},
		{"  ", ""},
		{"CN=a", ""},
		{"", "CN=a"},
		{"garbage", ""},
		{"CN=a,DC=x", "garbage"},
	} {
		for _, q := range [][2]string{p, {p[1], p[0]}} {
			if g, w := EqualDN(q[0], q[1]), equalDNGoLDAP(q[0], q[1]); g != w {
				t.Errorf("EqualDN(%q, %q) = %v, on go-ldap %v", q[0], q[1], g, w)
			}
			if g, w := IsUnder(q[0], q[1]), isUnderParsed(q[0], q[1]); g != w {
				t.Errorf("IsUnder(%q, %q) = %v, on go-ldap %v", q[0], q[1], g, w)
			}
			d0, err0 := parseDN(q[0])
			d1, err1 := parseDN(q[1])
			if err0 != nil || err1 != nil {
				continue
			}
			l0, l1 := toGoLDAP(d0), toGoLDAP(d1)
			if g, w := d0.EqualFold(d1), l0.EqualFold(l1); g != w {
				t.Errorf("(%q).EqualFold(%q) = %v, go-ldap's %v", q[0], q[1], g, w)
			}
			if g, w := d0.AncestorOfFold(d1), l0.AncestorOfFold(l1); g != w {
				t.Errorf("(%q).AncestorOfFold(%q) = %v, go-ldap's %v", q[0], q[1], g, w)
			}
		}
	}
}

// Random DNs built from the pieces DNs are made of, compared in pairs.
func TestRandomDNsMatchGoLDAP(t *testing.T) {
	r := rand.New(rand.NewSource(4514))
	pieces := append([]string{"#04024869", "#30800401410000", `\ `, `\#`, `\c3\ab`, "\xff", "Ë", "ë", "SN", "+"}, dnPieces...)
	var prev string
	for i := 0; i < 100_000; i++ {
		dn := randomString(r, pieces, r.Intn(10))
		if r.Intn(3) == 0 {
			dn += "," + prev
		}
		checkDNMatchesGoLDAP(t, dn)
		for _, p := range [][2]string{{dn, prev}, {prev, dn}} {
			if g, w := EqualDN(p[0], p[1]), equalDNGoLDAP(p[0], p[1]); g != w {
				t.Fatalf("EqualDN(%q, %q) = %v, on go-ldap %v", p[0], p[1], g, w)
			}
			if g, w := IsUnder(p[0], p[1]), isUnderParsed(p[0], p[1]); g != w {
				t.Fatalf("IsUnder(%q, %q) = %v, on go-ldap %v", p[0], p[1], g, w)
			}
		}
		prev = dn
	}
}

func FuzzParseDNMatchesGoLDAP(f *testing.F) {
	for _, dn := range dnCases {
		f.Add(dn)
	}
	f.Fuzz(checkDNMatchesGoLDAP)
}

func FuzzEscapeDNMatchesGoLDAP(f *testing.F) {
	for _, v := range []string{"Jane Doe", ` #lead, trail\ `, `"<>;=+`, "Zoë", "\xff\x00", "\u212a"} {
		f.Add(v)
	}
	f.Fuzz(checkEscapeMatchesGoLDAP)
}

// The fuzzer reaches deep into the BER decoding of '#' values faster from
// the octets than from their hex.
func FuzzBERValueMatchesGoLDAP(f *testing.F) {
	for _, dn := range dnCases {
		if _, v, ok := strings.Cut(dn, "=#"); ok {
			v, _, _ = strings.Cut(v, ",")
			if der, err := hex.DecodeString(v); err == nil {
				f.Add(der)
			}
		}
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		checkDNMatchesGoLDAP(t, "CN=#"+hex.EncodeToString(der)+",DC=x")
		checkDNMatchesGoLDAP(t, "CN=#"+strings.ToUpper(hex.EncodeToString(der)))
	})
}
