package plan

import (
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
)

func TestSourceAnchorImmutableID(t *testing.T) {
	const objectGUID, consistency = "8f2c1a4e-0b7d-4c1e-9a55-2f0e6d3b7c11", "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	byGUID, _ := ImmutableID(objectGUID)
	byConsistency, _ := ImmutableID(consistency)
	for _, tc := range []struct {
		name          string
		anchor        SourceAnchor
		kind          ad.Kind
		consistency   string
		want, wantErr string
		writesBack    bool
	}{
		{"default anchor ignores the consistency guid", "", ad.KindUser, consistency, byGUID, "", false},
		{"objectGUID anchor", AnchorObjectGUID, ad.KindUser, consistency, byGUID, "", false},
		{"consistency guid of a user", AnchorConsistencyGUID, ad.KindUser, consistency, byConsistency, "", false},
		{"empty consistency guid: objectGUID, written back", AnchorConsistencyGUID, ad.KindUser, "", byGUID, "", true},
		// Learn: "ObjectGUID is used for other object types."
		{"group stays on objectGUID", AnchorConsistencyGUID, ad.KindGroup, consistency, byGUID, "", false},
		{"contact stays on objectGUID", AnchorConsistencyGUID, ad.KindContact, "", byGUID, "", false},
		{"not a GUID", AnchorConsistencyGUID, ad.KindUser, "invalid:0102", "", "not a 16-byte GUID", false},
	} {
		r := &ad.Recipient{DN: "CN=U,DC=x", Kind: tc.kind, GUID: objectGUID, ConsistencyGUID: tc.consistency}
		got, err := tc.anchor.ImmutableID(r)
		if got != tc.want || (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: ImmutableID = %q, %v; want %q, %q", tc.name, got, err, tc.want, tc.wantErr)
		}
		if wb := tc.anchor.WritesBack(r); wb != tc.writesBack {
			t.Errorf("%s: WritesBack = %v, want %v", tc.name, wb, tc.writesBack)
		}
	}
}

func TestParseSourceAnchor(t *testing.T) {
	for in, want := range map[string]SourceAnchor{"": AnchorObjectGUID, "OBJECTGUID": AnchorObjectGUID, "ms-ds-consistencyguid": AnchorConsistencyGUID} {
		if got, err := ParseSourceAnchor(in); err != nil || got != want {
			t.Errorf("ParseSourceAnchor(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseSourceAnchor("employeeID"); err == nil {
		t.Error("ParseSourceAnchor(employeeID): no error")
	}
}
