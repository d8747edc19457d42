package cloud

import "context"

// Exchange is the part of Exchange Online hybridsync drives, one method per
// cmdlet of the ExchangeOnlineManagement v3 module it stands for. Identity
// arguments take what the cmdlets take: an alias, a primary SMTP address,
// a GUID or an ExternalDirectoryObjectId.
//
// Exchange refuses to change or remove objects synchronised from
// on-premises AD, their membership included ("is being synchronized from
// your on-premises organization"; a group converted to cloud management
// is no longer synchronised): that is a terminal error, and so are an SMTP
// address outside the accepted domains ("it's not an accepted domain for
// your organization"), a malformed address and a Name longer than 64
// characters; an address, SMTP or X500, that another recipient holds as a
// proxy address or as its LegacyExchangeDN ("is already being used by the
// proxy addresses or LegacyExchangeDN of"), a Name or an alias another
// recipient has ("is already being used") are conflicts (re-read, then
// decide); "couldn't be found" is not-found; throttling is retryable. A
// cmdlet that changes state and fails without saying why (a 5xx, a lost
// connection) is a conflict too: its outcome is unknown, re-read before
// retrying.
type Exchange interface {
	// AcceptedDomains is Get-AcceptedDomain.
	AcceptedDomains(ctx context.Context) ([]AcceptedDomain, error)
	// GetRecipient is Get-Recipient -Identity.
	GetRecipient(ctx context.Context, identity string) (*ExoRecipient, error)
	// ListRecipients is Get-Recipient -ResultSize Unlimited [-Filter],
	// streamed page by page.
	ListRecipients(ctx context.Context, filter string, fn func(*ExoRecipient) error) (ReadResult, error)
	// GetDistributionGroup is Get-DistributionGroup -Identity.
	GetDistributionGroup(ctx context.Context, identity string) (*DistributionGroup, error)
	// NewDistributionGroup is New-DistributionGroup, then, when
	// g.Settings has fields set, Set-DistributionGroup with them. Members
	// beyond what one call takes are added afterwards; if the settings or
	// one of those calls fail, the created group is returned together with
	// the error.
	NewDistributionGroup(ctx context.Context, g NewDistributionGroup) (*DistributionGroup, error)
	// SetDistributionGroup is Set-DistributionGroup with the set fields.
	SetDistributionGroup(ctx context.Context, identity string, ch GroupChanges) error
	// ListDistributionGroups is Get-DistributionGroup -ResultSize
	// Unlimited [-Filter], streamed page by page.
	ListDistributionGroups(ctx context.Context, filter string, fn func(*DistributionGroup) error) (ReadResult, error)
	// ChangeGroupRecipients is Set-DistributionGroup -<param>
	// @{Add=...; Remove=...} for one multi-valued recipient parameter
	// (ManagedBy, ModeratedBy, BypassModerationFromSendersOrMembers,
	// AcceptMessagesOnlyFromSendersOrMembers,
	// RejectMessagesFromSendersOrMembers, GrantSendOnBehalfTo): the other
	// recipients named there stay.
	ChangeGroupRecipients(ctx context.Context, identity, param string, add, remove []string) error
	// RemoveDistributionGroup is Remove-DistributionGroup -Confirm:$false.
	RemoveDistributionGroup(ctx context.Context, identity string) error
	// GetMailbox is Get-Mailbox -Identity.
	GetMailbox(ctx context.Context, identity string) (*Mailbox, error)
	// ListMailboxes is Get-Mailbox -ResultSize Unlimited [-Filter],
	// streamed page by page.
	ListMailboxes(ctx context.Context, filter string, fn func(*Mailbox) error) (ReadResult, error)
	// SetMailboxForwarding is Set-Mailbox -ForwardingAddress (to, or
	// $null when to is empty).
	SetMailboxForwarding(ctx context.Context, identity, to string) error
	// RecipientPermissions is Get-RecipientPermission [-Identity]
	// [-Trustee] -AccessRights SendAs: the Send-As grants on identity, or
	// to trustee, or both ("" leaves one out).
	RecipientPermissions(ctx context.Context, identity, trustee string) ([]RecipientPermission, error)
	// GrantSendAs is Add-RecipientPermission -AccessRights SendAs
	// -Confirm:$false; RevokeSendAs is Remove-RecipientPermission.
	GrantSendAs(ctx context.Context, identity, trustee string) error
	RevokeSendAs(ctx context.Context, identity, trustee string) error
	// GroupMembers is Get-DistributionGroupMember -ResultSize Unlimited.
	GroupMembers(ctx context.Context, identity string) ([]ExoRecipient, error)
	// AddGroupMember is Add-DistributionGroupMember.
	AddGroupMember(ctx context.Context, identity, member string) error
	// RemoveGroupMember is Remove-DistributionGroupMember.
	RemoveGroupMember(ctx context.Context, identity, member string) error
	// ReplaceGroupMembers leaves the group with exactly members by changing
	// only what differs: it reads the current members, matches each wanted
	// identity (case-insensitively) against any identifier of a member
	// (PrimarySmtpAddress, Alias, Identity, Name, Guid,
	// ExternalDirectoryObjectId, or an EmailAddresses value with or without
	// "smtp:"), adds the missing ones and removes the rest, one
	// Add-/Remove-DistributionGroupMember call each ("already a member" and
	// "isn't a member" count as done). An unchanged list makes no write
	// call; an empty group whose new list fits in one call is set with a
	// single Update-DistributionGroupMember. Members are never removed to
	// be re-added, so a failure part-way leaves old members in place and
	// calling again finishes the job.
	ReplaceGroupMembers(ctx context.Context, identity string, members []string) error
}

// AcceptedDomain is one row of Get-AcceptedDomain.
type AcceptedDomain struct {
	DomainName string `json:"DomainName"`
	// DomainType is Authoritative, InternalRelay or ExternalRelay.
	DomainType string `json:"DomainType"`
	Default    bool   `json:"Default"`
	// InitialDomain marks the tenant's *.onmicrosoft.com domain (the MOERA
	// domain).
	InitialDomain bool `json:"InitialDomain"`
}

// ExoRecipient is the common shape of Get-Recipient results.
type ExoRecipient struct {
	Identity                  string   `json:"Identity"`
	GUID                      string   `json:"Guid"`
	ExternalDirectoryObjectID string   `json:"ExternalDirectoryObjectId"`
	Name                      string   `json:"Name"`
	DisplayName               string   `json:"DisplayName"`
	Alias                     string   `json:"Alias"`
	PrimarySMTPAddress        string   `json:"PrimarySmtpAddress"`
	EmailAddresses            []string `json:"EmailAddresses"`
	RecipientType             string   `json:"RecipientType"`
	RecipientTypeDetails      string   `json:"RecipientTypeDetails"`
	IsDirSynced               bool     `json:"IsDirSynced"`
	HiddenFromAddressLists    bool     `json:"HiddenFromAddressListsEnabled"`
	// LegacyExchangeDN is the recipient's own X500 address in Exchange
	// Online (/o=ExchangeLabs/ou=Exchange Administrative
	// Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=...). Replies to old mail
	// and cached recipients address it: a list that replaces this
	// recipient keeps it as an "X500:" address.
	LegacyExchangeDN string `json:"LegacyExchangeDN"`
}

// DistributionGroup is Get-DistributionGroup's result.
type DistributionGroup struct {
	ExoRecipient
	// GroupType is "Universal" or "Universal, SecurityEnabled".
	GroupType                   string   `json:"GroupType"`
	ManagedBy                   []string `json:"ManagedBy"`
	ModerationEnabled           bool     `json:"ModerationEnabled"`
	ModeratedBy                 []string `json:"ModeratedBy"`
	BypassModeration            []string `json:"BypassModerationFromSendersOrMembers"`
	AcceptMessagesOnlyFrom      []string `json:"AcceptMessagesOnlyFromSendersOrMembers"`
	RejectMessagesFrom          []string `json:"RejectMessagesFromSendersOrMembers"`
	GrantSendOnBehalfTo         []string `json:"GrantSendOnBehalfTo"`
	RequireSenderAuthentication bool     `json:"RequireSenderAuthenticationEnabled"`
	// CustomAttributes maps "CustomAttribute1".."CustomAttribute15" to
	// their values; empty ones are left out.
	CustomAttributes map[string]string `json:"-"`
}

// NewDistributionGroup holds New-DistributionGroup's parameters, and the
// settings New-DistributionGroup does not take, which are set right after
// the creation.
//
// Exchange Online gives a new group its MOERA address
// (alias@<tenant>.onmicrosoft.com) and its routing address
// (alias@<tenant>.mail.onmicrosoft.com) besides PrimarySMTPAddress.
type NewDistributionGroup struct {
	// Name is required: unique among recipients, at most 64 characters.
	Name               string
	DisplayName        string
	Alias              string
	PrimarySMTPAddress string
	// Type is "Distribution" or "Security".
	Type      string
	ManagedBy []string
	Members   []string
	// ModerationEnabled and ModeratedBy turn on moderation.
	ModerationEnabled bool
	ModeratedBy       []string
	// RequireSenderAuthentication nil keeps Exchange's default (true: only
	// senders inside the organisation).
	RequireSenderAuthentication *bool
	// Settings are set by one Set-DistributionGroup call right after the
	// creation (before members beyond the first call are added): the
	// parameters New-DistributionGroup does not take, such as
	// EmailAddresses (EmailAddresses replaces every address, the generated
	// MOERA and routing addresses included), HiddenFromAddressLists,
	// the delivery restrictions, BypassModeration, GrantSendOnBehalfTo and
	// CustomAttributes. Nil fields are not sent.
	Settings GroupChanges
}

// GroupChanges holds Set-DistributionGroup's parameters; nil fields are not
// sent. Multi-valued fields replace the whole value.
type GroupChanges struct {
	PrimarySMTPAddress          *string
	EmailAddresses              *[]string
	Alias                       *string
	Name                        *string
	DisplayName                 *string
	HiddenFromAddressLists      *bool
	RequireSenderAuthentication *bool
	ManagedBy                   *[]string
	ModerationEnabled           *bool
	ModeratedBy                 *[]string
	BypassModeration            *[]string
	AcceptMessagesOnlyFrom      *[]string
	RejectMessagesFrom          *[]string
	GrantSendOnBehalfTo         *[]string
	// CustomAttributes maps 1..15 to CustomAttributeN values ("" clears).
	CustomAttributes map[int]string
}

// Mailbox is Get-Mailbox's result, as far as hybridsync reads it.
type Mailbox struct {
	ExoRecipient
	// ForwardingAddress names the recipient the mailbox forwards to, by
	// its Name ("" when it forwards nowhere).
	ForwardingAddress          string `json:"ForwardingAddress"`
	DeliverToMailboxAndForward bool   `json:"DeliverToMailboxAndForward"`
}

// RecipientPermission is a row of Get-RecipientPermission: Send-As on
// Identity, granted to Trustee (a user by its user principal name, other
// recipients by Name).
type RecipientPermission struct {
	Identity          string   `json:"Identity"`
	Trustee           string   `json:"Trustee"`
	AccessRights      []string `json:"AccessRights"`
	AccessControlType string   `json:"AccessControlType"`
	IsInherited       bool     `json:"IsInherited"`
}
