package ad

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Kind is the recipient type hybridsync distinguishes.
type Kind string

const (
	KindUser    Kind = "user"
	KindGroup   Kind = "group"
	KindContact Kind = "contact"
	// KindDynamicDL is an Exchange dynamic distribution group
	// (msExchDynamicDistributionList): membership is a query, not a list.
	KindDynamicDL Kind = "dynamicDistributionList"
	KindOther     Kind = "other"
)

// GroupScope is the scope part of groupType.
type GroupScope string

const (
	ScopeUniversal   GroupScope = "universal"
	ScopeGlobal      GroupScope = "global"
	ScopeDomainLocal GroupScope = "domainLocal"
	ScopeBuiltin     GroupScope = "builtinLocal"
)

// groupType bits (MS-ADTS §2.2.12, "Group Type Flags").
const (
	GroupTypeBuiltinLocal int64 = 0x00000001
	GroupTypeGlobal       int64 = 0x00000002
	GroupTypeDomainLocal  int64 = 0x00000004
	GroupTypeUniversal    int64 = 0x00000008
	GroupTypeSecurity     int64 = -0x80000000 // 0x80000000 as a signed 32-bit value
)

// GroupType is a decoded groupType attribute.
type GroupType struct {
	Raw      int64      `json:"raw"`
	Scope    GroupScope `json:"scope"`
	Security bool       `json:"security"`
}

// ParseGroupType decodes the signed 32-bit groupType value AD stores.
func ParseGroupType(s string) (GroupType, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return GroupType{}, fmt.Errorf("groupType %q: %w", s, err)
	}
	gt := GroupType{Raw: v, Security: v&0x80000000 != 0 || v < 0}
	switch {
	case v&GroupTypeUniversal != 0:
		gt.Scope = ScopeUniversal
	case v&GroupTypeGlobal != 0:
		gt.Scope = ScopeGlobal
	case v&GroupTypeDomainLocal != 0:
		gt.Scope = ScopeDomainLocal
	case v&GroupTypeBuiltinLocal != 0:
		gt.Scope = ScopeBuiltin
	default:
		return GroupType{}, fmt.Errorf("groupType %q has no scope bit", s)
	}
	return gt, nil
}

// Recipient is one mail-relevant AD object: a user, group, contact or
// dynamic distribution list, with the attributes hybridsync reads. DN-valued
// attributes hold DNs as AD returned them; values are never re-escaped.
type Recipient struct {
	DN   string `json:"dn"`
	GUID string `json:"objectGUID"`
	SID  string `json:"objectSid,omitempty"`
	// ConsistencyGUID is mS-DS-ConsistencyGuid in registry form (Entra
	// Connect's source anchor when so configured, written back from
	// objectGUID), or, when it does not hold 16 bytes, the hex of what it
	// holds prefixed with "invalid:".
	ConsistencyGUID string   `json:"mS-DS-ConsistencyGuid,omitempty"`
	OU              string   `json:"ou"`
	ObjectClass     []string `json:"objectClass"`
	Kind            Kind     `json:"class"`

	Name           string         `json:"name,omitempty"`
	DisplayName    string         `json:"displayName,omitempty"`
	SAMAccountName string         `json:"sAMAccountName,omitempty"`
	UPN            string         `json:"userPrincipalName,omitempty"`
	Mail           string         `json:"mail,omitempty"`
	MailNickname   string         `json:"mailNickname,omitempty"`
	ProxyAddresses ProxyAddresses `json:"-"`
	TargetAddress  string         `json:"targetAddress,omitempty"`
	// LegacyExchangeDN is Exchange's X.500 address of the recipient, kept
	// as an x500: proxy address when the recipient moves.
	LegacyExchangeDN string `json:"legacyExchangeDN,omitempty"`

	GroupType *GroupType `json:"groupType,omitempty"`
	// Members holds every member DN, completed by ranged retrieval when
	// the server ranged the attribute.
	Members []string `json:"members,omitempty"`

	ManagedBy   string   `json:"managedBy,omitempty"`
	CoManagedBy []string `json:"msExchCoManagedByLink,omitempty"`
	// Moderation and delivery restrictions.
	ModeratedBy         []string `json:"msExchModeratedByLink,omitempty"`
	BypassModeration    []string `json:"msExchBypassModerationLink,omitempty"`
	AcceptFrom          []string `json:"authOrig,omitempty"`
	RejectFrom          []string `json:"unauthOrig,omitempty"`
	AcceptFromMembersOf []string `json:"dLMemSubmitPerms,omitempty"`
	RejectFromMembersOf []string `json:"dLMemRejectPerms,omitempty"`
	SendOnBehalf        []string `json:"publicDelegates,omitempty"`
	// The flags are kept together so that they share one word (a million
	// recipients are held in memory by the planner and the service).
	ModerationEnabled bool `json:"msExchEnableModeration,omitempty"`
	RequireSenderAuth bool `json:"msExchRequireAuthToSendTo,omitempty"`
	HiddenFromGAL     bool `json:"msExchHideFromAddressLists,omitempty"`
	// CriticalSystemObject is isCriticalSystemObject (the built-in
	// accounts and groups), which Entra Connect never syncs.
	CriticalSystemObject bool `json:"isCriticalSystemObject,omitempty"`
	// Deleted is set for tombstones returned by incremental reads;
	// LastKnownParent is then the container the object was deleted from.
	Deleted bool `json:"isDeleted,omitempty"`

	RecipientTypeDetails int64 `json:"msExchRecipientTypeDetails,omitempty"`
	RecipientDisplayType int64 `json:"msExchRecipientDisplayType,omitempty"`
	RemoteRecipientType  int64 `json:"msExchRemoteRecipientType,omitempty"`
	// ExtensionAttributes maps "extensionAttribute1".."15" to their values.
	ExtensionAttributes map[string]string `json:"extensionAttributes,omitempty"`

	// Dynamic DL query.
	DynamicFilter string `json:"msExchDynamicDLFilter,omitempty"`
	DynamicBaseDN string `json:"msExchDynamicDLBaseDN,omitempty"`

	USNChanged      int64  `json:"uSNChanged"`
	LastKnownParent string `json:"lastKnownParent,omitempty"`
}

// IsRemoteMailbox reports whether r is provisioned as a mailbox in Exchange
// Online (a remote mailbox on-premises): msExchRecipientTypeDetails is
// RemoteUserMailbox, RemoteRoomMailbox, RemoteEquipmentMailbox or
// RemoteSharedMailbox, or msExchRemoteRecipientType is set. Such users are
// Exchange Online recipients whatever their licence: a remote mailbox is "a
// mail user in Active Directory that's associated with a mailbox in the
// cloud-based service" (Set-RemoteMailbox,
// https://learn.microsoft.com/powershell/module/exchange/set-remotemailbox).
func (r *Recipient) IsRemoteMailbox() bool {
	switch r.RecipientTypeDetails {
	case 0x80000000, 0x200000000, 0x400000000, 0x800000000:
		return true
	}
	return r.RemoteRecipientType != 0
}

// MailEnabled reports whether the object carries any mail attribute (mail,
// proxyAddresses or mailNickname), the test MailEnabledFilter applies.
func (r *Recipient) MailEnabled() bool {
	return r.Mail != "" || r.MailNickname != "" || len(r.ProxyAddresses.Values) > 0 || len(r.ProxyAddresses.Malformed) > 0
}

// SyncCandidate reports whether r is what SyncCandidateFilter matches: a
// user or group, mail-enabled or not, or a mail-enabled contact or dynamic
// DL.
func (r *Recipient) SyncCandidate() bool {
	switch r.Kind {
	case KindUser, KindGroup:
		return true
	case KindContact, KindDynamicDL:
		return r.MailEnabled()
	}
	return false
}

// InScope reports whether a live sync candidate r lies under base. Objects
// from an incremental read that are not in scope have left it (or never
// were in it); tombstones are never in scope.
func (r *Recipient) InScope(base string) bool {
	return !r.Deleted && r.SyncCandidate() && IsUnder(r.DN, base)
}

// MarshalJSON-friendly view: proxyAddresses as stored.
type recipientJSON struct {
	*Recipient
	ProxyAddresses []string `json:"proxyAddresses,omitempty"`
}

// ExportView returns the value written by `hybridsync ad export`: the
// recipient with proxyAddresses as AD stores them.
func (r *Recipient) ExportView() any {
	return recipientJSON{Recipient: r, ProxyAddresses: r.ProxyAddresses.Raw()}
}

// KindOf decides the Kind from objectClass values.
func KindOf(classes []string) Kind {
	has := func(c string) bool {
		return slices.ContainsFunc(classes, func(v string) bool { return strings.EqualFold(v, c) })
	}
	switch {
	case has("msExchDynamicDistributionList"):
		return KindDynamicDL
	case has("computer"):
		return KindOther
	case has("user"):
		return KindUser
	case has("group"):
		return KindGroup
	case has("contact"):
		return KindContact
	default:
		return KindOther
	}
}
