package plan

import (
	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/reconcile/proxycalc"
)

// Facts are the values a finding is about, as the checks read or
// predicted them: the field of the finding's kind is set, the others are
// nil. The checks record them and nothing else; every text of a finding
// (its Evidence, Explanation and Fix, and the line Render prints for it) is
// built from them in text.go.
type Facts struct {
	MailNotPrimary          *MailNotPrimaryFacts          `json:"mailNotPrimary,omitempty"`
	AddressDropped          *AddressDroppedFacts          `json:"addressDropped,omitempty"`
	DuplicateAddress        *DuplicateAddressFacts        `json:"duplicateAddress,omitempty"`
	LargeObject             *LargeObjectFacts             `json:"largeObject,omitempty"`
	CertificateUserIDFormat *CertificateUserIDFormatFacts `json:"certificateUserIdFormat,omitempty"`
	AddressDrift            *AddressDriftFacts            `json:"addressDrift,omitempty"`
	UPNSecondaryByDesign    *UPNSecondaryFacts            `json:"upnSecondaryByDesign,omitempty"`
	MissingInCloud          *MissingInCloudFacts          `json:"missingInCloud,omitempty"`
	MissingInAD             *MissingInADFacts             `json:"missingInAD,omitempty"`
	TypeMismatch            *TypeMismatchFacts            `json:"typeMismatch,omitempty"`
	AnchorInvalid           *AnchorInvalidFacts           `json:"anchorInvalid,omitempty"`
	MigratedListAddress     *MigratedListAddressFacts     `json:"migratedListAddress,omitempty"`
}

// MailNotPrimaryFacts: AD mail is not the one SMTP: value of
// proxyAddresses.
type MailNotPrimaryFacts struct {
	// Mail is AD mail.
	Mail string `json:"mail"`
	// Primaries are proxyAddresses' SMTP: values; Held, when there is
	// none, every value proxyAddresses holds.
	Primaries []ad.ProxyAddress `json:"primaries,omitempty"`
	Held      []string          `json:"held,omitempty"`
	// PredictedPrimary is the primary SMTP address ProxyCalc predicts: the
	// cloud's after the next sync.
	PredictedPrimary string `json:"predictedPrimary"`
	// HasTwin says whether the object has a cloud twin; CloudMail is then
	// the twin's mail now.
	HasTwin   bool   `json:"hasTwin,omitempty"`
	CloudMail string `json:"cloudMail,omitempty"`
	// Kept are the addresses the fix keeps as secondary smtp: values.
	Kept []string `json:"kept,omitempty"`
	// Blocked says why the fix is not proposed ("" when it is); Proposed
	// is then the fix that would be.
	Blocked  BlockReason `json:"blocked,omitempty"`
	Proposed *Action     `json:"proposed,omitempty"`
}

// BlockReason says why the plan does not propose a fix it could compute.
type BlockReason string

// Why a MailNotPrimary fix is not proposed.
const (
	// BlockMailInvalid: mail is not an address the cloud accepts.
	BlockMailInvalid BlockReason = "mail-invalid"
	// BlockDomainNotAccepted: mail's domain is not an accepted domain.
	BlockDomainNotAccepted BlockReason = "domain-not-accepted"
	// BlockMailDuplicate: another object holds mail too.
	BlockMailDuplicate BlockReason = "mail-duplicate"
	// BlockTooManyValues: the fix would exceed MaxProxyAddresses.
	BlockTooManyValues BlockReason = "too-many-values"
)

// AddressDroppedFacts: a value ProxyCalc discards (the finding's Rule says
// which rule, its Attribute where the value comes from).
type AddressDroppedFacts struct {
	Value string `json:"value"`
	// Reason is ProxyCalc's reason, e.g. "address type X400 is a legacy
	// protocol".
	Reason string `json:"reason"`
}

// DuplicateAddressFacts: an SMTP address more than one object holds.
type DuplicateAddressFacts struct {
	// Address is as the finding's object writes it.
	Address string `json:"address"`
	// Others are the other holders, AD objects first, each in DN order,
	// then cloud objects.
	Others []Holder `json:"others"`
}

// Holder is another object holding an address: an AD object in scope (DN
// set) or a cloud object the sync does not manage (CloudID set).
type Holder struct {
	DN        string     `json:"dn,omitempty"`
	CloudKind cloud.Kind `json:"cloudKind,omitempty"`
	CloudID   string     `json:"cloudID,omitempty"`
	// Name is the AD object's name, or the cloud object's display name
	// (its mail when it has none).
	Name string `json:"name"`
	// Attributes are where the holder holds the address.
	Attributes []string `json:"attributes"`
}

// LargeObjectFacts: more proxyAddresses values than the limit planned for.
type LargeObjectFacts struct {
	Values int `json:"values"`
	Limit  int `json:"limit"`
}

// CertificateUserIDFormatFacts: either too many certificateUserIds values
// (Count over Limit; Values holds them) or one value in a wrong format
// (Value, Problem and, when only the case is wrong, Corrected).
type CertificateUserIDFormatFacts struct {
	Count     int      `json:"count,omitempty"`
	Limit     int      `json:"limit,omitempty"`
	Values    []string `json:"values,omitempty"`
	Value     string   `json:"value,omitempty"`
	Problem   string   `json:"problem,omitempty"`
	Corrected string   `json:"corrected,omitempty"`
}

// AddressDriftFacts: the twin's addresses differ from the prediction.
type AddressDriftFacts struct {
	// Missing are predicted values the twin lacks, Extra values the twin
	// holds that are not predicted.
	Missing []DriftValue `json:"missing,omitempty"`
	Extra   []string     `json:"extra,omitempty"`
	// PredictedPrimary is ProxyCalc's primary; CloudPrimary the twin's
	// SMTP: value, CloudMail its mail. PrimaryDiffers and MailDiffers say
	// which of the two differs from the prediction (at most one is set).
	PredictedPrimary string `json:"predictedPrimary,omitempty"`
	CloudPrimary     string `json:"cloudPrimary,omitempty"`
	CloudMail        string `json:"cloudMail,omitempty"`
	PrimaryDiffers   bool   `json:"primaryDiffers,omitempty"`
	MailDiffers      bool   `json:"mailDiffers,omitempty"`
}

// DriftValue is a predicted value and the rule that predicts it.
type DriftValue struct {
	Value string         `json:"value"`
	Rule  proxycalc.Rule `json:"rule"`
}

// UPNSecondaryFacts: the cloud lists the UPN as a secondary address.
type UPNSecondaryFacts struct {
	// CloudValue is the cloud's value, e.g. "smtp:jane@contoso.com".
	CloudValue   string `json:"cloudValue"`
	UPN          string `json:"upn,omitempty"`
	CloudPrimary string `json:"cloudPrimary,omitempty"`
}

// MissingInCloudFacts: an AD object in scope without a twin.
type MissingInCloudFacts struct {
	ImmutableID string `json:"immutableId"`
	// SID is set for a group, which is also joined by its SID.
	SID string `json:"sid,omitempty"`
	// CloudIncomplete says the cloud read was incomplete.
	CloudIncomplete bool `json:"cloudIncomplete,omitempty"`
}

// MissingInADFacts: a synced cloud object without an AD source in scope.
type MissingInADFacts struct {
	CloudKind   cloud.Kind `json:"cloudKind"`
	DisplayName string     `json:"displayName,omitempty"`
	Mail        string     `json:"mail,omitempty"`
	ImmutableID string     `json:"immutableId,omitempty"`
	// SourceDN is its AD source when read but not synced, SourceReason why
	// it is not.
	SourceDN     string `json:"sourceDN,omitempty"`
	SourceReason string `json:"sourceReason,omitempty"`
	// DeletionsBlocked says why the plan counts no deletion ("" when it
	// does), e.g. "AD read incomplete".
	DeletionsBlocked string `json:"deletionsBlocked,omitempty"`
}

// TypeMismatchFacts: an AD object joined to a cloud object of another type.
type TypeMismatchFacts struct {
	ADKind ad.Kind `json:"adKind"`
	// WantKind is the cloud kind the AD object syncs to; CloudKind,
	// CloudName and the finding's CloudID the twin's.
	WantKind    cloud.Kind `json:"wantKind"`
	CloudKind   cloud.Kind `json:"cloudKind"`
	CloudName   string     `json:"cloudName,omitempty"`
	JoinedBy    string     `json:"joinedBy"`
	ImmutableID string     `json:"immutableId,omitempty"`
}

// AnchorInvalidFacts: the source anchor cannot be computed.
type AnchorInvalidFacts struct {
	Error string `json:"error"`
}

// MigratedListAddressFacts: the cloud list of a migrated list has another
// primary address than its on-premises dynamic list (the finding's object;
// CloudID is the cloud list).
type MigratedListAddressFacts struct {
	// OnPremisesPrimary is the dynamic list's primary address (its SMTP:
	// value, or mail); CloudPrimary the cloud list's.
	OnPremisesPrimary string `json:"onPremisesPrimary"`
	CloudPrimary      string `json:"cloudPrimary"`
	// CloudName is the cloud list's display name.
	CloudName string `json:"cloudName,omitempty"`
	// ContactDN is the routing contact the dynamic list's filter names,
	// RoutingAddress its target address, which the cloud list holds.
	ContactDN      string `json:"contactDN"`
	RoutingAddress string `json:"routingAddress"`
}
