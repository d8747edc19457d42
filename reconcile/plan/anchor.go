package plan

import (
	"fmt"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
)

// SourceAnchor is the AD attribute Entra Connect derives an object's
// onPremisesImmutableId from: the sourceAnchor chosen when Entra Connect
// was installed. It is the one place the anchor is computed: the planner's
// join, the licence lookup, apply's verification and the sync simulator
// all call ImmutableID.
type SourceAnchor string

// The source anchors Entra Connect's installation wizard offers for a
// single forest. The zero value means AnchorObjectGUID.
const (
	// AnchorObjectGUID anchors every object on objectGUID (DirSync's and
	// older Entra Connect versions' default).
	AnchorObjectGUID SourceAnchor = "objectGUID"
	// AnchorConsistencyGUID anchors users on mS-DS-ConsistencyGuid, and on
	// objectGUID while it is empty (Entra Connect then writes objectGUID
	// back into it); other object types stay anchored on objectGUID.
	// https://learn.microsoft.com/entra/identity/hybrid/connect/plan-connect-design-concepts
	// ("Using ms-DS-ConsistencyGuid as sourceAnchor").
	AnchorConsistencyGUID SourceAnchor = "mS-DS-ConsistencyGuid"
)

// ParseSourceAnchor returns the SourceAnchor named s, compared without
// case; "" is AnchorObjectGUID.
func ParseSourceAnchor(s string) (SourceAnchor, error) {
	switch {
	case s == "" || strings.EqualFold(s, string(AnchorObjectGUID)):
		return AnchorObjectGUID, nil
	case strings.EqualFold(s, string(AnchorConsistencyGUID)):
		return AnchorConsistencyGUID, nil
	}
	return "", fmt.Errorf("source anchor %q: want %s or %s", s, AnchorObjectGUID, AnchorConsistencyGUID)
}

// ImmutableID returns r's onPremisesImmutableId under the anchor a: the
// base64 of the anchor attribute's bytes.
//
// With AnchorConsistencyGUID a user is anchored on mS-DS-ConsistencyGuid,
// or on objectGUID while that is empty (WritesBack reports that case);
// a value that is not a 16-byte GUID is an error rather than a guess,
// since another application may own the attribute. Groups and contacts
// are always anchored on objectGUID.
func (a SourceAnchor) ImmutableID(r *ad.Recipient) (string, error) {
	if !a.usesConsistencyGUID(r) || r.ConsistencyGUID == "" {
		return ImmutableID(r.GUID)
	}
	if bad, ok := strings.CutPrefix(r.ConsistencyGUID, "invalid:"); ok {
		return "", fmt.Errorf("mS-DS-ConsistencyGuid of %s is not a 16-byte GUID (%s)", r.DN, bad)
	}
	return ImmutableID(r.ConsistencyGUID)
}

// WritesBack reports whether Entra Connect, with anchor a, writes r's
// objectGUID into its empty mS-DS-ConsistencyGuid before exporting it.
func (a SourceAnchor) WritesBack(r *ad.Recipient) bool {
	return a.usesConsistencyGUID(r) && r.ConsistencyGUID == ""
}

// usesConsistencyGUID reports whether r is anchored on
// mS-DS-ConsistencyGuid: users only, with AnchorConsistencyGUID.
func (a SourceAnchor) usesConsistencyGUID(r *ad.Recipient) bool {
	return a == AnchorConsistencyGUID && r.Kind == ad.KindUser
}

// objectGUIDOnly reports whether a anchors every object on objectGUID.
func (a SourceAnchor) objectGUIDOnly() bool { return a == "" || a == AnchorObjectGUID }
