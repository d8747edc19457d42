package plan

import (
	"github.com/hybridsync/hybridsync/reconcile/proxycalc"
)

// Severity ranks a finding.
type Severity string

const (
	// SeverityError: an export will fail or mail will be lost.
	SeverityError Severity = "error"
	// SeverityWarning: the cloud differs from what AD says, or will.
	SeverityWarning Severity = "warning"
	// SeverityInfo: by design; explained so nobody "fixes" it.
	SeverityInfo Severity = "info"
)

// FindingKind names what a finding is about. The string is stable.
type FindingKind string

// Finding kinds, in the order Render groups them.
const (
	MailNotPrimary          FindingKind = "MailNotPrimary"
	AddressDropped          FindingKind = "AddressDropped"
	DuplicateAddress        FindingKind = "DuplicateAddress"
	LargeObject             FindingKind = "LargeObject"
	CertificateUserIDFormat FindingKind = "CertificateUserIDFormat"
	AddressDrift            FindingKind = "AddressDrift"
	UPNSecondaryByDesign    FindingKind = "UPNSecondaryByDesign"
	MissingInCloud          FindingKind = "MissingInCloud"
	MissingInAD             FindingKind = "MissingInAD"
	TypeMismatch            FindingKind = "TypeMismatch"
	AnchorInvalid           FindingKind = "AnchorInvalid"
	// MigratedListAddress: a migrated list's cloud primary address is not
	// its on-premises dynamic list's (see migrated.go).
	MigratedListAddress FindingKind = "MigratedListAddress"
)

// FindingKinds returns every kind in Render order.
func FindingKinds() []FindingKind {
	return []FindingKind{MailNotPrimary, AddressDropped, DuplicateAddress, LargeObject,
		CertificateUserIDFormat, AddressDrift, UPNSecondaryByDesign, MissingInCloud,
		MissingInAD, TypeMismatch, AnchorInvalid, MigratedListAddress}
}

func kindRank(k FindingKind) int {
	if i, ok := kindRanks[k]; ok {
		return i
	}
	return len(kindRanks)
}

// kindRanks maps each kind to its index in FindingKinds.
var kindRanks = func() map[FindingKind]int {
	m := map[FindingKind]int{}
	for i, k := range FindingKinds() {
		m[k] = i
	}
	return m
}()

// Finding is one thing the plan has to say about one object.
type Finding struct {
	Kind     FindingKind `json:"kind"`
	Severity Severity    `json:"severity"`
	// ObjectDN is the AD DN (for an orphan, the cloud's
	// onPremisesDistinguishedName); ObjectGUID the AD objectGUID; CloudID
	// the cloud object id. Any may be empty.
	ObjectDN   string `json:"objectDN,omitempty"`
	ObjectGUID string `json:"objectGUID,omitempty"`
	CloudID    string `json:"cloudID,omitempty"`
	// Attribute is the attribute concerned, e.g. "proxyAddresses".
	Attribute string `json:"attribute,omitempty"`
	// Evidence states the values read.
	Evidence string `json:"evidence"`
	// Rule is the ProxyCalc rule behind the finding, or "".
	Rule proxycalc.Rule `json:"rule,omitempty"`
	// Explanation is what an admin reads: the object, the values and why.
	Explanation string `json:"explanation"`
	// Fix is what to do, or "none needed".
	Fix string `json:"fix"`
	// Action is the automatic fix the plan proposes, or nil.
	Action *Action `json:"action,omitempty"`
	// Name is the object's short name: the AD object's name (its CN), or
	// the cloud object's display name.
	Name string `json:"name,omitempty"`
	// Facts are the values the finding is about: Evidence, Explanation and
	// Fix are built from them (text.go), and so is the line Render prints.
	Facts Facts `json:"facts,omitzero"`
}
