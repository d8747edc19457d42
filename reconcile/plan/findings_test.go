package plan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
)

// TestFindingKinds builds one fixture per finding kind and checks that
// the finding is there, with an explanation naming the object and the
// concrete values an admin needs.
func TestFindingKinds(t *testing.T) {
	type fixture struct {
		a    ADSnapshot
		c    CloudSnapshot
		opts Options
	}
	// synced returns a state synced from a, then adjusted by mut.
	synced := func(a ADSnapshot, mut func(c *CloudSnapshot)) fixture {
		c := simulateSync(t, a, cloudSnap())
		if mut != nil {
			mut(&c)
		}
		return fixture{a: a, c: c}
	}
	many := []string{"SMTP:big@contoso.com"}
	for i := 0; i < 300; i++ {
		many = append(many, fmt.Sprintf("smtp:alias%03d@contoso.com", i))
	}

	tests := []struct {
		name     string
		fx       func() fixture
		kind     FindingKind
		severity Severity
		dn       string   // object of the finding
		want     []string // in the explanation
	}{
		{
			name: "mail not primary", kind: MailNotPrimary, severity: SeverityError,
			fx: func() fixture {
				return fixture{a: adSnap(user("Jane Doe", 1, "jane@contoso.com", "jane.new@contoso.com", "SMTP:jane.old@contoso.com")), c: cloudSnap()}
			},
			dn:   "CN=Jane Doe," + scopeOU,
			want: []string{"jane.new@contoso.com", "SMTP:jane.old@contoso.com"},
		},
		{
			name: "reserved domain dropped", kind: AddressDropped, severity: SeverityWarning,
			fx: func() fixture {
				return fixture{a: adSnap(user("Res", 1, "res@contoso.com", "res@contoso.com", "SMTP:res@contoso.com", "smtp:res@contoso.mail.onmicrosoft.com")), c: cloudSnap()}
			},
			dn:   "CN=Res," + scopeOU,
			want: []string{"smtp:res@contoso.mail.onmicrosoft.com", "reserved"},
		},
		{
			name: "legacy type dropped", kind: AddressDropped, severity: SeverityInfo,
			fx: func() fixture {
				return fixture{a: adSnap(user("Leg", 1, "leg@contoso.com", "leg@contoso.com", "SMTP:leg@contoso.com", "MSMAIL:CONTOSO/HQ/LEG")), c: cloudSnap()}
			},
			dn:   "CN=Leg," + scopeOU,
			want: []string{"MSMAIL:CONTOSO/HQ/LEG", "legacy"},
		},
		{
			name: "malformed dropped", kind: AddressDropped, severity: SeverityError,
			fx: func() fixture {
				return fixture{a: adSnap(user("Mal", 1, "mal@contoso.com", "mal@contoso.com", "SMTP:mal@contoso.com", "smtp:mal..x@contoso.com")), c: cloudSnap()}
			},
			dn:   "CN=Mal," + scopeOU,
			want: []string{"smtp:mal..x@contoso.com", "two dots in a row"},
		},
		{
			name: "domain not accepted dropped", kind: AddressDropped, severity: SeverityWarning,
			fx: func() fixture {
				u := user("Unv", 1, "unv@contoso.com", "unv@contoso.com", "SMTP:unv@contoso.com", "smtp:unv@notours.org")
				return fixture{a: license(adSnap(u), u), c: cloudSnap()}
			},
			dn:   "CN=Unv," + scopeOU,
			want: []string{"smtp:unv@notours.org", "notours.org is not verified"},
		},
		{
			name: "duplicate between AD objects", kind: DuplicateAddress, severity: SeverityError,
			fx: func() fixture {
				return fixture{a: adSnap(
					user("First", 1, "first@contoso.com", "first@contoso.com", "SMTP:first@contoso.com", "smtp:Shared@contoso.com"),
					obj(ad.KindGroup, "Second", 2, "shared@contoso.com", "SMTP:shared@contoso.com"),
				), c: cloudSnap()}
			},
			dn:   "CN=First," + scopeOU,
			want: []string{"Shared@contoso.com", "CN=Second," + scopeOU, "AttributeValueMustBeUnique"},
		},
		{
			name: "duplicate with a cloud-only object", kind: DuplicateAddress, severity: SeverityError,
			fx: func() fixture {
				return fixture{a: adSnap(user("Sales Rep", 1, "rep@contoso.com", "rep@contoso.com", "SMTP:rep@contoso.com", "smtp:sales@contoso.com")),
					c: cloudSnap(&cloud.Object{Kind: cloud.KindGroup, ID: "g-sales", DisplayName: "Sales", Mail: "sales@contoso.com",
						ProxyAddresses: []string{"SMTP:sales@contoso.com"}, MailEnabled: true})}
			},
			dn:   "CN=Sales Rep," + scopeOU,
			want: []string{"sales@contoso.com", `cloud group "Sales" (id g-sales)`, "cloud-only"},
		},
		{
			name: "large object", kind: LargeObject, severity: SeverityError,
			fx: func() fixture {
				return fixture{a: adSnap(user("Big", 1, "big@contoso.com", "big@contoso.com", many...)), c: cloudSnap()}
			},
			dn:   "CN=Big," + scopeOU,
			want: []string{"301 proxyAddresses values", "300", "LargeObject"},
		},
		{
			name: "certificateUserIds wrong case", kind: CertificateUserIDFormat, severity: SeverityError,
			fx: func() fixture {
				u := user("Cert", 1, "bob@contoso.com", "bob@contoso.com", "SMTP:bob@contoso.com")
				return fixture{a: adSnap(u), c: cloudSnap(), opts: Options{CertificateUserIDsAttr: "extensionAttribute1",
					CertificateUserIDs: func(r *ad.Recipient) []string { return []string{"x509:<PN>" + r.UPN} }}}
			},
			dn:   "CN=Cert," + scopeOU,
			want: []string{"x509:<PN>bob@contoso.com", `"X509:"`, "DataValidationFailed"},
		},
		{
			name: "drift", kind: AddressDrift, severity: SeverityWarning,
			fx: func() fixture {
				u := user("Drifter", 1, "drifter@contoso.com", "drifter@contoso.com", "SMTP:drifter@contoso.com", "smtp:d2@contoso.com")
				return synced(adSnap(u), func(c *CloudSnapshot) {
					c.Objects[0].ProxyAddresses = []string{"SMTP:drifter@contoso.com", "smtp:leftover@contoso.com"}
				})
			},
			dn:   "CN=Drifter," + scopeOU,
			want: []string{"smtp:leftover@contoso.com", "smtp:d2@contoso.com"},
		},
		{
			name: "UPN secondary by design", kind: UPNSecondaryByDesign, severity: SeverityInfo,
			fx: func() fixture {
				u := user("UPN Test", 1, "UPNTest@contoso.com", "UPNTest@fabrikam.com", "SMTP:UPNTest@fabrikam.com",
					"x500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=a0b7e947")
				u.RecipientTypeDetails = 0x80000000 // remote mailbox, not licensed
				return synced(adSnap(u), nil)
			},
			dn:   "CN=UPN Test," + scopeOU,
			want: []string{"smtp:UPNTest@contoso.com", "by design", "not drift"},
		},
		{
			name: "missing in cloud", kind: MissingInCloud, severity: SeverityWarning,
			fx: func() fixture {
				return fixture{a: adSnap(user("Newbie", 7, "newbie@contoso.com", "newbie@contoso.com")), c: cloudSnap()}
			},
			dn:   "CN=Newbie," + scopeOU,
			want: []string{"onPremisesImmutableId " + iid(t, guid(7)), "create"},
		},
		{
			name: "missing in AD", kind: MissingInAD, severity: SeverityWarning,
			fx: func() fixture {
				return fixture{a: adSnap(), c: cloudSnap(&cloud.Object{Kind: cloud.KindUser, ID: "u-orphan", DisplayName: "Orphan",
					OnPremisesSyncEnabled: true, OnPremisesImmutableID: "b3JwaGFu", OnPremisesDN: "CN=Orphan," + scopeOU})}
			},
			dn:   "CN=Orphan," + scopeOU,
			want: []string{"u-orphan", "b3JwaGFu", "soft-deletes"},
		},
		{
			name: "type mismatch", kind: TypeMismatch, severity: SeverityError,
			fx: func() fixture {
				ct := obj(ad.KindContact, "Vendor", 3, "vendor@example.org")
				return fixture{a: adSnap(ct), c: cloudSnap(&cloud.Object{Kind: cloud.KindUser, ID: "u-vendor",
					OnPremisesSyncEnabled: true, OnPremisesImmutableID: iid(t, ct.GUID)})}
			},
			dn:   "CN=Vendor," + scopeOU,
			want: []string{"AD contact", "orgContact", "u-vendor", iid(t, guid(3))},
		},
		{
			name: "invalid anchor", kind: AnchorInvalid, severity: SeverityError,
			fx: func() fixture {
				u := user("No Anchor", 1, "na@contoso.com", "na@contoso.com")
				u.GUID = "xyz"
				return fixture{a: adSnap(u), c: cloudSnap()}
			},
			dn:   "CN=No Anchor," + scopeOU,
			want: []string{`"xyz"`, "no deletion"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fx := tc.fx()
			p := build(t, fx.a, fx.c, fx.opts)
			var got *Finding
			for i, f := range p.Findings {
				if f.Kind == tc.kind && f.ObjectDN == tc.dn {
					got = &p.Findings[i]
					break
				}
			}
			if got == nil {
				t.Fatalf("no %s finding for %s; findings: %q", tc.kind, tc.dn, kinds(p))
			}
			if got.Severity != tc.severity {
				t.Errorf("severity = %s, want %s", got.Severity, tc.severity)
			}
			if !strings.Contains(got.Explanation, tc.dn) {
				t.Errorf("explanation does not name %s: %s", tc.dn, got.Explanation)
			}
			for _, w := range tc.want {
				if !strings.Contains(got.Explanation, w) {
					t.Errorf("explanation lacks %q: %s", w, got.Explanation)
				}
			}
			if got.Evidence == "" || got.Fix == "" || got.Attribute == "" {
				t.Errorf("evidence %q, fix %q, attribute %q: all are required", got.Evidence, got.Fix, got.Attribute)
			}
		})
	}
}

func TestUPNSecondaryIsNeverDrift(t *testing.T) {
	u := user("UPN Test", 1, "upntest@contoso.com", "UPNTest@fabrikam.com", "SMTP:UPNTest@fabrikam.com")
	a := license(adSnap(u), u)
	c := simulateSync(t, a, cloudSnap())
	p := build(t, a, c, Options{})
	if len(findingsOf(p, AddressDrift)) != 0 || len(findingsOf(p, UPNSecondaryByDesign)) != 1 {
		t.Fatalf("findings = %q", kinds(p))
	}
	// Without a licence the prediction has no UPN secondary, but a cloud
	// still holding it is not drift either.
	a.Licensed = map[string]bool{}
	// (The MOERA is drift then: a non-recipient keeps none.)
	p = build(t, a, c, Options{})
	for _, f := range findingsOf(p, AddressDrift) {
		if strings.Contains(strings.ToLower(f.Evidence), "upntest@contoso.com") {
			t.Errorf("UPN secondary reported as drift: %s", f.Evidence)
		}
	}
	// When AD itself holds the UPN address there is nothing to explain.
	u2 := user("UPN Test", 1, "upntest@contoso.com", "UPNTest@fabrikam.com", "SMTP:UPNTest@fabrikam.com", "smtp:upntest@contoso.com")
	a2 := license(adSnap(u2), u2)
	p = build(t, a2, simulateSync(t, a2, cloudSnap()), Options{})
	if len(p.Findings) != 0 {
		t.Errorf("findings = %q, want none", kinds(p))
	}
}

func TestDriftExplainedByDuplicateIsNotDrift(t *testing.T) {
	// The sync quarantines a duplicate on one object: the address missing
	// from its cloud twin is explained by DuplicateAddress, not drift.
	a := adSnap(
		user("A", 1, "a@contoso.com", "a@contoso.com", "SMTP:a@contoso.com", "smtp:dup@contoso.com"),
		user("B", 2, "b@contoso.com", "b@contoso.com", "SMTP:b@contoso.com", "smtp:dup@contoso.com"),
	)
	c := simulateSync(t, a, cloudSnap())
	for _, o := range c.Objects {
		if o.OnPremisesDN == "CN=B,"+scopeOU {
			o.ProxyAddresses = []string{"SMTP:b@contoso.com"}
		}
	}
	p := build(t, a, c, Options{})
	if n := len(findingsOf(p, DuplicateAddress)); n != 2 {
		t.Errorf("DuplicateAddress = %d, want 2", n)
	}
	if d := findingsOf(p, AddressDrift); len(d) != 0 {
		t.Errorf("drift = %+v", d)
	}
}

func TestCheckCertificateUserID(t *testing.T) {
	long := "X509:<PN>" + strings.Repeat("a", 1020)
	tests := []struct {
		in, fixed string
		ok        bool
	}{
		{in: "X509:<PN>bob@woodgrove.com", ok: true},
		{in: "X509:<PN>bob@woodgrove", ok: true},
		{in: "X509:<RFC822>user@woodgrove.com", ok: true},
		{in: "X509:<I>DC=com,DC=contoso,CN=CONTOSO-DC-CA<S>DC=com,DC=contoso,OU=UserAccounts,CN=mfatest", ok: true},
		{in: "X509:<S>DC=com,DC=contoso,OU=UserAccounts,CN=mfatest", ok: true},
		{in: "X509:<SKI>aB1cD2eF3gH4iJ5kL6mN7oP8qR", ok: true},
		{in: "X509:<SHA1-PUKEY>cD2eF3gH4iJ5kL6mN7oP8qR9sT", ok: true},
		{in: "X509:<I>DC=com,DC=contoso,CN=CONTOSO-DC-CA<SR>eF3gH4iJ5kL6mN7oP8qR9sT0uV", ok: true},
		{in: "x509:<PN>bob@woodgrove.com", fixed: "X509:<PN>bob@woodgrove.com"},
		{in: "X509:<pn>bob@woodgrove.com", fixed: "X509:<PN>bob@woodgrove.com"},
		{in: "X509:<I>CN=CA<sr>0a1b", fixed: "X509:<I>CN=CA<SR>0a1b"},
		{in: "x509:<sha1-pukey>abc", fixed: "X509:<SHA1-PUKEY>abc"},
		{in: "X509:<PN>"},
		{in: "X509:<I>CN=CA"},
		{in: "X509:<I><S>CN=x"},
		{in: "X509:<UPN>bob@woodgrove.com"},
		{in: "bob@woodgrove.com"},
		{in: "X509:bob@woodgrove.com"},
		{in: long},
	}
	for _, tc := range tests {
		prob, fixed := CheckCertificateUserID(tc.in)
		if (prob == "") != tc.ok || fixed != tc.fixed {
			t.Errorf("CheckCertificateUserID(%.40q) = %q, %q; want ok=%v fixed %q", tc.in, prob, fixed, tc.ok, tc.fixed)
		}
		if fixed != "" {
			if p, _ := CheckCertificateUserID(fixed); p != "" {
				t.Errorf("fixed value %q is itself invalid: %s", fixed, p)
			}
		}
	}
}

func TestCertificateUserIDsTooMany(t *testing.T) {
	u := user("Many Certs", 1, "m@contoso.com", "m@contoso.com", "SMTP:m@contoso.com")
	var vals []string
	for i := 0; i < 11; i++ {
		vals = append(vals, fmt.Sprintf("X509:<SKI>%02d", i))
	}
	p := build(t, adSnap(u), cloudSnap(), Options{CertificateUserIDs: func(*ad.Recipient) []string { return vals }})
	fs := findingsOf(p, CertificateUserIDFormat)
	if len(fs) != 1 || !strings.Contains(fs[0].Explanation, "11 values") || !strings.Contains(fs[0].Explanation, u.DN) {
		t.Errorf("findings = %+v", fs)
	}
}
