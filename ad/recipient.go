package ad

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/hybridsync/hybridsync/internal/retry"
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

// ExtensionAttributeNames lists extensionAttribute1..15.
var extensionAttributeNames = func() []string {
	out := make([]string, 15)
	for i := range out {
		out[i] = "extensionAttribute" + strconv.Itoa(i+1)
	}
	return out
}()

// memberChunk is the number of member values asked for per request: AD's
// MaxValRange on Windows Server 2003 and later, so AD and Samba answer alike
// and no single reply carries a whole 50,000-member group.
const memberChunk = 1500

// RecipientAttributes is what a recipient read asks for. member is asked
// for as its first range (member;range=0-1499) and completed by ranged
// retrieval: a plain request is ranged by AD anyway, and by asking
// explicitly a server that would send every value (Samba) keeps replies,
// and so memory, bounded by the chunk size.
func RecipientAttributes() []string {
	attrs := []string{
		"objectGUID", "mS-DS-ConsistencyGuid", "objectSid", "objectClass", "name", "displayName", "sAMAccountName",
		"userPrincipalName", "mail", "mailNickname", "proxyAddresses", "targetAddress",
		"groupType", fmt.Sprintf("member;range=0-%d", memberChunk-1), "managedBy", "msExchCoManagedByLink",
		"msExchEnableModeration", "msExchModeratedByLink", "msExchBypassModerationLink",
		"authOrig", "unauthOrig", "dLMemSubmitPerms", "dLMemRejectPerms", "publicDelegates",
		"msExchRequireAuthToSendTo", "msExchHideFromAddressLists", "isCriticalSystemObject",
		"msExchRecipientTypeDetails", "msExchRecipientDisplayType", "msExchRemoteRecipientType",
		"msExchDynamicDLFilter", "msExchDynamicDLBaseDN", "uSNChanged", "isDeleted",
	}
	return append(attrs, extensionAttributeNames...)
}

// linkedMultiValued are the DN-valued attributes that may be ranged by the
// server and are completed with ranged retrieval.
var linkedMultiValued = []string{
	"member", "msExchCoManagedByLink", "msExchModeratedByLink", "msExchBypassModerationLink",
	"authOrig", "unauthOrig", "dLMemSubmitPerms", "dLMemRejectPerms", "publicDelegates",
}

// recipientClassFilter matches users (not computers), groups, contacts and
// dynamic DLs.
var recipientClassFilter = Or(
	And(Eq("objectCategory", "person"), Eq("objectClass", "user")),
	Eq("objectClass", "group"),
	Eq("objectClass", "contact"),
	Eq("objectClass", "msExchDynamicDistributionList"),
)

// mailAttributeFilter matches objects that carry any mail attribute.
var mailAttributeFilter = Or(Present("mail"), Present("proxyAddresses"), Present("mailNickname"))

// MailEnabledFilter matches recipients that carry any mail attribute:
// mail, proxyAddresses or mailNickname.
func MailEnabledFilter() string {
	return And(recipientClassFilter, mailAttributeFilter)
}

// SyncCandidateFilter matches what Entra Connect's default rules may sync
// (Recipient.SyncCandidate): every user (not computers) and group,
// mail-enabled or not (security groups and users without mail are synced
// too), and the mail-enabled contacts and dynamic DLs (read so that their
// state can be explained). Which of them are synced is the planner's
// decision (plan.NotSynced).
func SyncCandidateFilter() string {
	return Or(
		And(Eq("objectCategory", "person"), Eq("objectClass", "user")),
		Eq("objectClass", "group"),
		And(Or(Eq("objectClass", "contact"), Eq("objectClass", "msExchDynamicDistributionList")), mailAttributeFilter),
	)
}

// kindOf decides the Kind from objectClass values.
func kindOf(classes []string) Kind {
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

// RecipientFromEntry decodes an entry. Attributes the server ranged are
// left as the first chunk; Client.ReadRecipient and StreamRecipients
// complete them.
func RecipientFromEntry(e *ldap.Entry) (*Recipient, error) {
	r := &Recipient{DN: e.DN}
	var err error
	if raw := e.GetRawAttributeValue("objectGUID"); len(raw) > 0 {
		if r.GUID, err = GUIDString(raw); err != nil {
			return nil, fmt.Errorf("%s: %w", e.DN, err)
		}
	}
	if raw := e.GetRawAttributeValue("mS-DS-ConsistencyGuid"); len(raw) > 0 {
		if r.ConsistencyGUID, err = GUIDString(raw); err != nil {
			r.ConsistencyGUID = "invalid:" + hex.EncodeToString(raw)
		}
	}
	if raw := e.GetRawAttributeValue("objectSid"); len(raw) > 0 {
		if r.SID, err = SIDString(raw); err != nil {
			return nil, fmt.Errorf("%s: %w", e.DN, err)
		}
	}
	r.ObjectClass = e.GetAttributeValues("objectClass")
	r.Kind = kindOf(r.ObjectClass)
	r.Deleted = strings.EqualFold(e.GetAttributeValue("isDeleted"), "TRUE")
	if !r.Deleted {
		if r.OU, err = ParentDN(e.DN); err != nil {
			return nil, fmt.Errorf("%s: %w", e.DN, err)
		}
	}
	r.Name = e.GetAttributeValue("name")
	r.DisplayName = e.GetAttributeValue("displayName")
	r.SAMAccountName = e.GetAttributeValue("sAMAccountName")
	r.UPN = e.GetAttributeValue("userPrincipalName")
	r.Mail = e.GetAttributeValue("mail")
	r.MailNickname = e.GetAttributeValue("mailNickname")
	r.ProxyAddresses = ParseProxyAddresses(e.GetAttributeValues("proxyAddresses"))
	r.TargetAddress = e.GetAttributeValue("targetAddress")
	if gt := e.GetAttributeValue("groupType"); gt != "" {
		t, err := ParseGroupType(gt)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.DN, err)
		}
		r.GroupType = &t
	}
	r.ManagedBy = e.GetAttributeValue("managedBy")
	r.ModerationEnabled = strings.EqualFold(e.GetAttributeValue("msExchEnableModeration"), "TRUE")
	r.RequireSenderAuth = strings.EqualFold(e.GetAttributeValue("msExchRequireAuthToSendTo"), "TRUE")
	r.HiddenFromGAL = strings.EqualFold(e.GetAttributeValue("msExchHideFromAddressLists"), "TRUE")
	r.CriticalSystemObject = strings.EqualFold(e.GetAttributeValue("isCriticalSystemObject"), "TRUE")
	for _, f := range []struct {
		attr string
		dst  *int64
	}{
		{"msExchRecipientTypeDetails", &r.RecipientTypeDetails},
		{"msExchRecipientDisplayType", &r.RecipientDisplayType},
		{"msExchRemoteRecipientType", &r.RemoteRecipientType},
		{"uSNChanged", &r.USNChanged},
	} {
		if v := e.GetAttributeValue(f.attr); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %s %q: %w", e.DN, f.attr, v, err)
			}
			*f.dst = n
		}
	}
	for _, name := range extensionAttributeNames {
		if v := e.GetAttributeValue(name); v != "" {
			if r.ExtensionAttributes == nil {
				r.ExtensionAttributes = map[string]string{}
			}
			r.ExtensionAttributes[name] = v
		}
	}
	r.LastKnownParent = e.GetAttributeValue("lastKnownParent")
	r.DynamicFilter = e.GetAttributeValue("msExchDynamicDLFilter")
	r.DynamicBaseDN = e.GetAttributeValue("msExchDynamicDLBaseDN")
	for _, attr := range linkedMultiValued {
		vals, _, err := rangedAttribute(e, attr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.DN, err)
		}
		*r.linked(attr) = vals
	}
	return r, nil
}

// linked returns the field holding a multi-valued DN attribute.
func (r *Recipient) linked(attr string) *[]string {
	switch attr {
	case "member":
		return &r.Members
	case "msExchCoManagedByLink":
		return &r.CoManagedBy
	case "msExchModeratedByLink":
		return &r.ModeratedBy
	case "msExchBypassModerationLink":
		return &r.BypassModeration
	case "authOrig":
		return &r.AcceptFrom
	case "unauthOrig":
		return &r.RejectFrom
	case "dLMemSubmitPerms":
		return &r.AcceptFromMembersOf
	case "dLMemRejectPerms":
		return &r.RejectFromMembersOf
	case "publicDelegates":
		return &r.SendOnBehalf
	}
	panic("ad: no field for linked attribute " + attr)
}

// completeEntry decodes e and finishes any attribute the server ranged.
func (c *Client) completeEntry(ctx context.Context, e *ldap.Entry) (*Recipient, error) {
	r, err := RecipientFromEntry(e)
	if err != nil {
		return nil, retry.New("ad.RecipientFromEntry", retry.Terminal, err)
	}
	usn := e.GetAttributeValue("uSNChanged")
	for _, attr := range linkedMultiValued {
		vals, ri, err := rangedAttribute(e, attr)
		if err != nil || ri == nil {
			continue // errors were reported by RecipientFromEntry
		}
		full, err := c.completeRanged(ctx, e.DN, attr, vals, *ri, usn)
		if err != nil {
			return nil, err
		}
		*r.linked(attr) = full
	}
	return r, nil
}

// StreamRecipients streams every mail-enabled recipient under base (the
// configured base DN when empty) to fn, with multi-valued links complete.
// ReadResult.Complete is true only if the whole read finished.
func (c *Client) StreamRecipients(ctx context.Context, base string, fn func(*Recipient) error) (ReadResult, error) {
	return c.streamRecipients(ctx, SearchRequest{BaseDN: base, Filter: MailEnabledFilter(), Attributes: RecipientAttributes()}, fn)
}

// StreamSyncCandidates streams every object under base that
// SyncCandidateFilter matches, as StreamRecipients does: what a planner
// must read to know every source of the tenant's synced objects, since
// Entra Connect syncs users and security groups whether or not they are
// mail-enabled.
func (c *Client) StreamSyncCandidates(ctx context.Context, base string, fn func(*Recipient) error) (ReadResult, error) {
	return c.streamRecipients(ctx, SearchRequest{BaseDN: base, Filter: SyncCandidateFilter(), Attributes: RecipientAttributes()}, fn)
}

func (c *Client) streamRecipients(ctx context.Context, req SearchRequest, fn func(*Recipient) error) (ReadResult, error) {
	return c.Search(ctx, req, func(e *ldap.Entry) error {
		r, err := c.completeEntry(ctx, e)
		if err != nil {
			return err
		}
		return fn(r)
	})
}

// ReadRecipient reads one object by DN, whatever its mail state.
func (c *Client) ReadRecipient(ctx context.Context, dn string) (*Recipient, error) {
	return c.findOne(ctx, SearchRequest{BaseDN: dn, Scope: ScopeBase, Filter: "(objectClass=*)", Attributes: RecipientAttributes()}, "object "+dn)
}

// FindByGUID finds one object by objectGUID (registry form) under the base DN.
func (c *Client) FindByGUID(ctx context.Context, guid string) (*Recipient, error) {
	b, err := GUIDBytes(guid)
	if err != nil {
		return nil, retry.New("ad.FindByGUID", retry.Terminal, err)
	}
	return c.findOne(ctx, SearchRequest{Filter: EqBinary("objectGUID", b), Attributes: RecipientAttributes()}, "objectGUID "+guid)
}

// FindByProxyAddress finds the object holding a proxyAddresses value. The
// match is case-insensitive, as AD's is; addr is a full value such as
// "smtp:jane@contoso.com".
func (c *Client) FindByProxyAddress(ctx context.Context, addr string) (*Recipient, error) {
	return c.findOne(ctx, SearchRequest{Filter: Eq("proxyAddresses", addr), Attributes: RecipientAttributes()}, "proxyAddresses "+addr)
}

// findOne runs a search that must match exactly one object.
func (c *Client) findOne(ctx context.Context, req SearchRequest, what string) (*Recipient, error) {
	const op = "ad.find"
	var out []*Recipient
	_, err := c.streamRecipients(ctx, req, func(r *Recipient) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	switch len(out) {
	case 0:
		return nil, retry.New(op, retry.NotFound, fmt.Errorf("%s not found", what))
	case 1:
		return out[0], nil
	default:
		return nil, retry.New(op, retry.Conflict, fmt.Errorf("%s matches %d objects", what, len(out)))
	}
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
