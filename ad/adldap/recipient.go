package adldap

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/internal/retry"
)

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
		"userPrincipalName", "mail", "mailNickname", "proxyAddresses", "targetAddress", "legacyExchangeDN",
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

// RecipientFromEntry decodes an entry. Attributes the server ranged are
// left as the first chunk; Client.ReadRecipient and StreamRecipients
// complete them.
func RecipientFromEntry(e *ldap.Entry) (*ad.Recipient, error) {
	r := &ad.Recipient{DN: e.DN}
	var err error
	if raw := e.GetRawAttributeValue("objectGUID"); len(raw) > 0 {
		if r.GUID, err = ad.GUIDString(raw); err != nil {
			return nil, fmt.Errorf("%s: %w", e.DN, err)
		}
	}
	if raw := e.GetRawAttributeValue("mS-DS-ConsistencyGuid"); len(raw) > 0 {
		if r.ConsistencyGUID, err = ad.GUIDString(raw); err != nil {
			r.ConsistencyGUID = "invalid:" + hex.EncodeToString(raw)
		}
	}
	if raw := e.GetRawAttributeValue("objectSid"); len(raw) > 0 {
		if r.SID, err = ad.SIDString(raw); err != nil {
			return nil, fmt.Errorf("%s: %w", e.DN, err)
		}
	}
	r.ObjectClass = e.GetAttributeValues("objectClass")
	r.Kind = ad.KindOf(r.ObjectClass)
	r.Deleted = strings.EqualFold(e.GetAttributeValue("isDeleted"), "TRUE")
	if !r.Deleted {
		if r.OU, err = ad.ParentDN(e.DN); err != nil {
			return nil, fmt.Errorf("%s: %w", e.DN, err)
		}
	}
	r.Name = e.GetAttributeValue("name")
	r.DisplayName = e.GetAttributeValue("displayName")
	r.SAMAccountName = e.GetAttributeValue("sAMAccountName")
	r.UPN = e.GetAttributeValue("userPrincipalName")
	r.Mail = e.GetAttributeValue("mail")
	r.MailNickname = e.GetAttributeValue("mailNickname")
	r.ProxyAddresses = ad.ParseProxyAddresses(e.GetAttributeValues("proxyAddresses"))
	r.TargetAddress = e.GetAttributeValue("targetAddress")
	r.LegacyExchangeDN = e.GetAttributeValue("legacyExchangeDN")
	if gt := e.GetAttributeValue("groupType"); gt != "" {
		t, err := ad.ParseGroupType(gt)
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
		*linked(r, attr) = vals
	}
	return r, nil
}

// linked returns the field holding a multi-valued DN attribute.
func linked(r *ad.Recipient, attr string) *[]string {
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
	panic("adldap: no field for linked attribute " + attr)
}

// completeEntry decodes e and finishes any attribute the server ranged.
func (c *Client) completeEntry(ctx context.Context, e *ldap.Entry) (*ad.Recipient, error) {
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
		*linked(r, attr) = full
	}
	return r, nil
}

// StreamRecipients streams every mail-enabled recipient under base (the
// configured base DN when empty) to fn, with multi-valued links complete.
// ReadResult.Complete is true only if the whole read finished.
func (c *Client) StreamRecipients(ctx context.Context, base string, fn func(*ad.Recipient) error) (ReadResult, error) {
	return c.streamRecipients(ctx, SearchRequest{BaseDN: base, Filter: MailEnabledFilter(), Attributes: RecipientAttributes()}, fn)
}

// StreamSyncCandidates streams every object under base that
// SyncCandidateFilter matches, as StreamRecipients does: what a planner
// must read to know every source of the tenant's synced objects, since
// Entra Connect syncs users and security groups whether or not they are
// mail-enabled.
func (c *Client) StreamSyncCandidates(ctx context.Context, base string, fn func(*ad.Recipient) error) (ReadResult, error) {
	return c.streamRecipients(ctx, SearchRequest{BaseDN: base, Filter: SyncCandidateFilter(), Attributes: RecipientAttributes()}, fn)
}

func (c *Client) streamRecipients(ctx context.Context, req SearchRequest, fn func(*ad.Recipient) error) (ReadResult, error) {
	return c.Search(ctx, req, func(e *ldap.Entry) error {
		r, err := c.completeEntry(ctx, e)
		if err != nil {
			return err
		}
		return fn(r)
	})
}

// ReadRecipient reads one object by DN, whatever its mail state.
func (c *Client) ReadRecipient(ctx context.Context, dn string) (*ad.Recipient, error) {
	return c.findOne(ctx, SearchRequest{BaseDN: dn, Scope: ScopeBase, Filter: "(objectClass=*)", Attributes: RecipientAttributes()}, "object "+dn)
}

// FindByGUID finds one object by objectGUID (registry form) under the base DN.
func (c *Client) FindByGUID(ctx context.Context, guid string) (*ad.Recipient, error) {
	b, err := ad.GUIDBytes(guid)
	if err != nil {
		return nil, retry.New("ad.FindByGUID", retry.Terminal, err)
	}
	return c.findOne(ctx, SearchRequest{Filter: EqBinary("objectGUID", b), Attributes: RecipientAttributes()}, "objectGUID "+guid)
}

// FindByProxyAddress finds the object holding a proxyAddresses value. The
// match is case-insensitive, as AD's is; addr is a full value such as
// "smtp:jane@contoso.com".
func (c *Client) FindByProxyAddress(ctx context.Context, addr string) (*ad.Recipient, error) {
	return c.findOne(ctx, SearchRequest{Filter: Eq("proxyAddresses", addr), Attributes: RecipientAttributes()}, "proxyAddresses "+addr)
}

// FindByAddress finds the object whose mail is addr or whose
// proxyAddresses hold it as an SMTP address (primary or not), compared
// case-insensitively as AD does.
func (c *Client) FindByAddress(ctx context.Context, addr string) (*ad.Recipient, error) {
	return c.findOne(ctx, SearchRequest{Filter: Or(Eq("mail", addr), Eq("proxyAddresses", "smtp:"+addr)), Attributes: RecipientAttributes()}, "address "+addr)
}

// findOne runs a search that must match exactly one object.
func (c *Client) findOne(ctx context.Context, req SearchRequest, what string) (*ad.Recipient, error) {
	const op = "ad.find"
	var out []*ad.Recipient
	_, err := c.streamRecipients(ctx, req, func(r *ad.Recipient) error {
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

// SearchRecipients streams the objects under base (the configured base DN
// when empty) that filter matches, decoded as recipients with their
// multi-valued links complete, as StreamRecipients does. filter must be a
// valid RFC 4515 filter, built with the helpers in filter.go, or read from
// the directory (a dynamic DL's msExchDynamicDLFilter, which Exchange
// keeps as an LDAP filter).
func (c *Client) SearchRecipients(ctx context.Context, base, filter string, fn func(*ad.Recipient) error) (ReadResult, error) {
	return c.streamRecipients(ctx, SearchRequest{BaseDN: base, Filter: filter, Attributes: RecipientAttributes()}, fn)
}

// ReadAttributes reads the named attributes of one object, for the few a
// recipient read does not carry (legacyExchangeDN, say): values as the DC
// returned them, keyed by the names asked for, attributes without values
// left out. A multi-valued attribute the DC ranged is completed with
// ranged retrieval. A missing object is a NotFound error.
func (c *Client) ReadAttributes(ctx context.Context, dn string, attrs ...string) (map[string][]string, error) {
	const op = "ad.ReadAttributes"
	entries, err := c.searchAll(ctx, SearchRequest{BaseDN: dn, Scope: ScopeBase, Filter: "(objectClass=*)", Attributes: attrs})
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, dn, err)
	}
	if len(entries) == 0 {
		return nil, retry.New(op, retry.NotFound, fmt.Errorf("%s does not exist", dn))
	}
	out := make(map[string][]string, len(attrs))
	for _, want := range attrs {
		vals, ri, err := rangedAttribute(entries[0], want)
		if err != nil {
			return nil, retry.New(op, retry.Terminal, fmt.Errorf("%s: %w", dn, err))
		}
		if ri != nil {
			if vals, err = c.RangedValues(ctx, dn, want); err != nil {
				return nil, err
			}
		}
		if len(vals) > 0 {
			out[want] = vals
		}
	}
	return out, nil
}

// MemberGroups returns the mail-enabled groups that are direct members of
// the group at dn (found by their memberOf back-link, one search instead
// of a read per member), with their identity and addresses only: what a
// batch needs to know a group's nesting. A search that did not complete is
// an error, never a shorter list.
func (c *Client) MemberGroups(ctx context.Context, dn string) ([]*ad.Recipient, error) {
	const op = "ad.MemberGroups"
	var out []*ad.Recipient
	req := SearchRequest{
		Filter:     And(Eq("objectClass", "group"), Eq("memberOf", dn), Or(Present("mail"), Present("proxyAddresses"), Present("mailNickname"))),
		Attributes: []string{"objectGUID", "objectClass", "objectCategory", "groupType", "mail", "mailNickname", "proxyAddresses", "name", "displayName"},
	}
	res, err := c.streamRecipients(ctx, req, func(r *ad.Recipient) error {
		if r.Kind == ad.KindGroup && r.MailEnabled() {
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, dn, err)
	}
	if !res.Complete {
		return nil, retry.New(op, retry.Retryable, fmt.Errorf("the search for the member groups of %s did not complete", dn))
	}
	return out, nil
}

// SearchDNs returns the DNs of the objects under the configured base DN
// that filter (a valid RFC 4515 filter, its values escaped with
// ad.EscapeFilter) matches. A read cut short is an error, never a shorter
// list.
func (c *Client) SearchDNs(ctx context.Context, filter string) ([]string, error) {
	var out []string
	res, err := c.Search(ctx, SearchRequest{Filter: filter, Attributes: []string{"objectClass"}}, func(e *ldap.Entry) error {
		out = append(out, e.DN)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ad.SearchDNs %s: %w", filter, err)
	}
	if !res.Complete {
		return nil, retry.New("ad.SearchDNs", retry.Retryable, fmt.Errorf("the search %s did not complete", filter))
	}
	return out, nil
}
