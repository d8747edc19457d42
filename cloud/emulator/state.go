package emulator

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/cloud"
)

// Object is one Entra ID directory object (user, group or orgContact) with
// the Exchange Online recipient attributes of mail-enabled objects. Field
// names follow Graph's user, group and orgContact resources
// (https://learn.microsoft.com/graph/api/resources/user,
// .../resources/group, .../resources/orgcontact) and the
// Get-DistributionGroup output
// (https://learn.microsoft.com/powershell/module/exchange/get-distributiongroup).
//
// The Exchange alias is MailNickname and EmailAddresses is ProxyAddresses:
// Entra ID and Exchange Online share them, as they do in a real tenant.
type Object struct {
	ID                           string     `json:"id"`
	Kind                         cloud.Kind `json:"kind"`
	DisplayName                  string     `json:"displayName,omitempty"`
	Mail                         string     `json:"mail,omitempty"`
	MailNickname                 string     `json:"mailNickname,omitempty"`
	UserPrincipalName            string     `json:"userPrincipalName,omitempty"`
	ProxyAddresses               []string   `json:"proxyAddresses,omitempty"`
	OnPremisesSyncEnabled        bool       `json:"onPremisesSyncEnabled,omitempty"`
	OnPremisesImmutableID        string     `json:"onPremisesImmutableId,omitempty"`
	OnPremisesSecurityIdentifier string     `json:"onPremisesSecurityIdentifier,omitempty"`
	OnPremisesDistinguishedName  string     `json:"onPremisesDistinguishedName,omitempty"`

	// Groups only.
	GroupTypes      []string `json:"groupTypes,omitempty"`
	MailEnabled     bool     `json:"mailEnabled,omitempty"`
	SecurityEnabled bool     `json:"securityEnabled,omitempty"`
	// Members are the ids of the group's direct members.
	Members []string `json:"members,omitempty"`
	// IsCloudManaged is the group's Source of Authority
	// (onPremisesSyncBehavior, beta): true once an on-premises group has
	// been converted to cloud management. See SyncManaged.
	IsCloudManaged bool `json:"isCloudManaged,omitempty"`

	// Users only.
	ExchangeLicensed                bool                      `json:"exchangeLicensed,omitempty"`
	SignInSessionsValidFromDateTime time.Time                 `json:"signInSessionsValidFromDateTime,omitzero"`
	AuthMethods                     []cloud.AuthMethod        `json:"authMethods,omitempty"`
	Registration                    *cloud.RegistrationDetail `json:"registration,omitempty"`

	Exchange ExchangeAttributes `json:"exchange,omitzero"`

	// CreatedDateTime is set by Put when zero. Reads through HTTP do not see
	// the object until Faults.VisibilityDelay after it.
	CreatedDateTime time.Time `json:"createdDateTime"`
	// DeletedDateTime is set while the object is soft-deleted (restorable).
	DeletedDateTime *time.Time `json:"deletedDateTime,omitempty"`
	// Seq is the change sequence number of the object's last change; the
	// emulator assigns it.
	Seq uint64 `json:"seq"`
}

// ExchangeAttributes are the Exchange Online recipient properties the
// emulator keeps besides the shared alias and addresses. Recipient lists
// (ManagedBy, ModeratedBy, ...) hold object ids.
type ExchangeAttributes struct {
	// Name is the Exchange Name (unique, at most 64 characters); empty
	// means DisplayName.
	Name string `json:"name,omitempty"`
	// RecipientTypeDetails overrides the value derived from the object
	// (UserMailbox, MailUser, User, MailUniversalDistributionGroup,
	// MailUniversalSecurityGroup, GroupMailbox, MailContact).
	RecipientTypeDetails                   string   `json:"recipientTypeDetails,omitempty"`
	HiddenFromAddressListsEnabled          bool     `json:"hiddenFromAddressListsEnabled,omitempty"`
	ModerationEnabled                      bool     `json:"moderationEnabled,omitempty"`
	ModeratedBy                            []string `json:"moderatedBy,omitempty"`
	BypassModerationFromSendersOrMembers   []string `json:"bypassModeration,omitempty"`
	AcceptMessagesOnlyFromSendersOrMembers []string `json:"acceptMessagesOnlyFrom,omitempty"`
	RejectMessagesFromSendersOrMembers     []string `json:"rejectMessagesFrom,omitempty"`
	GrantSendOnBehalfTo                    []string `json:"grantSendOnBehalfTo,omitempty"`
	ManagedBy                              []string `json:"managedBy,omitempty"`
	RequireSenderAuthenticationEnabled     bool     `json:"requireSenderAuthenticationEnabled,omitempty"`
	// ForwardingAddress is the id of the recipient a mailbox forwards
	// to (Set-Mailbox -ForwardingAddress); DeliverToMailboxAndForward
	// keeps a copy in the mailbox.
	ForwardingAddress          string `json:"forwardingAddress,omitempty"`
	DeliverToMailboxAndForward bool   `json:"deliverToMailboxAndForward,omitempty"`
	// SendAs are the ids of the trustees granted Send-As on this
	// recipient (Add-RecipientPermission -AccessRights SendAs).
	SendAs []string `json:"sendAs,omitempty"`
	// CustomAttributes holds CustomAttribute1..15 at index 0..14.
	CustomAttributes [15]string `json:"customAttributes,omitzero"`
	// LegacyExchangeDN is the recipient's Exchange Online LegacyExchangeDN
	// (see LegacyExchangeDN): Put gives one to every recipient that has
	// none, and it never changes afterwards, as in Exchange.
	LegacyExchangeDN string `json:"legacyExchangeDN,omitempty"`
}

// legacyDNPrefix is the LegacyExchangeDN prefix of Exchange Online
// recipients ("ExchangeLabs" is Exchange Online's organisation; the
// administrative group is the one every Exchange 2007+ organisation has).
const legacyDNPrefix = "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn="

// LegacyExchangeDN returns the LegacyExchangeDN Exchange Online gives a new
// recipient, in its form
// /o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=<hex>-<alias>,
// where <hex> is the object id's 32 hex digits (unique, as Exchange's
// are) and <alias> the alias at creation.
func LegacyExchangeDN(o *Object) string {
	hexID := strings.ReplaceAll(o.ID, "-", "")
	alias := o.MailNickname
	if alias == "" {
		alias, _, _ = strings.Cut(o.UserPrincipalName, "@")
	}
	if alias == "" {
		return legacyDNPrefix + hexID
	}
	return legacyDNPrefix + hexID + "-" + alias
}

// Clone returns a deep copy.
func (o *Object) Clone() *Object {
	if o == nil {
		return nil
	}
	c := *o
	c.ProxyAddresses = slices.Clone(o.ProxyAddresses)
	c.GroupTypes = slices.Clone(o.GroupTypes)
	c.Members = slices.Clone(o.Members)
	c.AuthMethods = slices.Clone(o.AuthMethods)
	if o.Registration != nil {
		r := *o.Registration
		r.MethodsRegistered = slices.Clone(r.MethodsRegistered)
		c.Registration = &r
	}
	if o.DeletedDateTime != nil {
		t := *o.DeletedDateTime
		c.DeletedDateTime = &t
	}
	x := &c.Exchange
	x.ModeratedBy = slices.Clone(x.ModeratedBy)
	x.BypassModerationFromSendersOrMembers = slices.Clone(x.BypassModerationFromSendersOrMembers)
	x.AcceptMessagesOnlyFromSendersOrMembers = slices.Clone(x.AcceptMessagesOnlyFromSendersOrMembers)
	x.RejectMessagesFromSendersOrMembers = slices.Clone(x.RejectMessagesFromSendersOrMembers)
	x.GrantSendOnBehalfTo = slices.Clone(x.GrantSendOnBehalfTo)
	x.ManagedBy = slices.Clone(x.ManagedBy)
	x.SendAs = slices.Clone(x.SendAs)
	return &c
}

// Deleted reports whether the object is soft-deleted.
func (o *Object) Deleted() bool { return o.DeletedDateTime != nil }

// SyncManaged reports whether the sync engine owns the object: it is synced
// from on-premises AD and (for groups) has not been converted to cloud
// management. The sync-engine simulator must not write objects for which
// this is false, and Exchange refuses cloud changes to objects for which it
// is true.
func (o *Object) SyncManaged() bool { return o.OnPremisesSyncEnabled && !o.IsCloudManaged }

// GroupType classifies a group with cloud.ClassifyGroup.
func (o *Object) GroupType() cloud.GroupType {
	return cloud.ClassifyGroup(o.GroupTypes, o.MailEnabled, o.SecurityEnabled)
}

// PrimarySMTPAddress is the address of the "SMTP:" proxy address, else Mail.
func (o *Object) PrimarySMTPAddress() string {
	for _, p := range o.ProxyAddresses {
		if strings.HasPrefix(p, "SMTP:") {
			return p[5:]
		}
	}
	return o.Mail
}

// ExchangeName is the Exchange Name: Exchange.Name, else DisplayName.
func (o *Object) ExchangeName() string {
	if o.Exchange.Name != "" {
		return o.Exchange.Name
	}
	if o.DisplayName != "" {
		return o.DisplayName
	}
	return o.ID
}

// RecipientTypeDetails is Exchange's recipient type for the object, or ""
// when it is not a recipient.
func (o *Object) RecipientTypeDetails() string {
	if o.Exchange.RecipientTypeDetails != "" {
		return o.Exchange.RecipientTypeDetails
	}
	switch o.Kind {
	case cloud.KindUser:
		switch {
		case o.ExchangeLicensed:
			return "UserMailbox"
		case o.Mail != "" || len(o.ProxyAddresses) > 0:
			return "MailUser"
		default:
			return "User"
		}
	case cloud.KindGroup:
		switch o.GroupType() {
		case cloud.GroupMicrosoft365:
			return "GroupMailbox"
		case cloud.GroupDistribution:
			return "MailUniversalDistributionGroup"
		case cloud.GroupMailEnabledSecurity:
			return "MailUniversalSecurityGroup"
		}
	case cloud.KindContact:
		if o.Mail != "" || len(o.ProxyAddresses) > 0 {
			return "MailContact"
		}
	}
	return ""
}

// ExportError is an export (provisioning) error the sync engine recorded
// for an object, as Entra Connect reports them
// (https://learn.microsoft.com/entra/identity/hybrid/connect/tshoot-connect-sync-errors).
// Graph shows them on the object as onPremisesProvisioningErrors.
type ExportError struct {
	ObjectID    string `json:"objectId,omitempty"`
	ImmutableID string `json:"immutableId,omitempty"`
	// Attribute is the attribute at fault, e.g. ProxyAddresses,
	// UserPrincipalName.
	Attribute string `json:"attribute"`
	// ErrorType is e.g. AttributeValueMustBeUnique, DataValidationFailed,
	// InvalidSoftMatch, LargeObject.
	ErrorType string    `json:"errorType"`
	Value     string    `json:"value,omitempty"`
	Message   string    `json:"message"`
	Time      time.Time `json:"time"`
}

// Tombstone records a hard-deleted object for delta queries.
type Tombstone struct {
	ID   string     `json:"id"`
	Kind cloud.Kind `json:"kind"`
	Seq  uint64     `json:"seq"`
}

// memberChange is one membership change, for members@delta.
type memberChange struct {
	Seq     uint64 `json:"seq"`
	Group   string `json:"group"`
	Member  string `json:"member"`
	Removed bool   `json:"removed,omitempty"`
}

// state is everything the emulator persists.
type state struct {
	Version      int                    `json:"version"`
	InstanceID   string                 `json:"instanceId"`
	Seq          uint64                 `json:"seq"`
	DeltaEpoch   int                    `json:"deltaEpoch"`
	Objects      map[string]*Object     `json:"objects"`
	Tombstones   []Tombstone            `json:"tombstones,omitempty"`
	MemberLog    []memberChange         `json:"memberLog,omitempty"`
	ExportErrors []ExportError          `json:"exportErrors,omitempty"`
	Domains      []cloud.AcceptedDomain `json:"domains"`

	// Indexes, rebuilt on load: lower-cased proxy address -> id, lower-cased
	// UPN -> id, lower-cased LegacyExchangeDN -> id.
	proxyIdx  map[string]string
	upnIdx    map[string]string
	legacyIdx map[string]string
	// immutableIdx: kind + "\x00" + onPremisesImmutableId -> ids (a soft-
	// deleted twin and a live one may share it).
	immutableIdx map[string][]string
}

func immutableKey(kind cloud.Kind, id string) string { return string(kind) + "\x00" + id }

func (s *state) rebuildIndexes() {
	s.proxyIdx = make(map[string]string, len(s.Objects)*2)
	s.upnIdx = make(map[string]string, len(s.Objects))
	s.legacyIdx = make(map[string]string, len(s.Objects))
	s.immutableIdx = make(map[string][]string, len(s.Objects))
	for _, o := range s.Objects {
		s.index(o)
	}
}

func (s *state) index(o *Object) {
	for _, p := range o.ProxyAddresses {
		s.proxyIdx[strings.ToLower(p)] = o.ID
	}
	if o.Kind == cloud.KindUser && o.UserPrincipalName != "" {
		s.upnIdx[strings.ToLower(o.UserPrincipalName)] = o.ID
	}
	if o.Exchange.LegacyExchangeDN != "" {
		s.legacyIdx[strings.ToLower(o.Exchange.LegacyExchangeDN)] = o.ID
	}
	if o.OnPremisesImmutableID != "" {
		k := immutableKey(o.Kind, o.OnPremisesImmutableID)
		s.immutableIdx[k] = append(s.immutableIdx[k], o.ID)
	}
}

func (s *state) unindex(o *Object) {
	for _, p := range o.ProxyAddresses {
		k := strings.ToLower(p)
		if s.proxyIdx[k] == o.ID {
			delete(s.proxyIdx, k)
		}
	}
	if o.Kind == cloud.KindUser {
		k := strings.ToLower(o.UserPrincipalName)
		if s.upnIdx[k] == o.ID {
			delete(s.upnIdx, k)
		}
	}
	if k := strings.ToLower(o.Exchange.LegacyExchangeDN); k != "" && s.legacyIdx[k] == o.ID {
		delete(s.legacyIdx, k)
	}
	if o.OnPremisesImmutableID != "" {
		k := immutableKey(o.Kind, o.OnPremisesImmutableID)
		ids := slices.DeleteFunc(s.immutableIdx[k], func(id string) bool { return id == o.ID })
		if len(ids) == 0 {
			delete(s.immutableIdx, k)
		} else {
			s.immutableIdx[k] = ids
		}
	}
}

// Errors returned by Tx methods; test with errors.Is.
var (
	ErrNotFound     = errors.New("emulator: object not found")
	ErrInvalid      = errors.New("emulator: invalid object")
	ErrDeleted      = errors.New("emulator: object is soft-deleted")
	ErrNotDeleted   = errors.New("emulator: object is not soft-deleted")
	ErrNotSupported = errors.New("emulator: operation not supported for this object")
)

// UniquenessError is returned by Put when a value that must be unique in the
// tenant (a proxy address across all objects, a UPN across users) is held
// by another object, soft-deleted objects included, as Entra ID refuses it
// (AttributeValueMustBeUnique).
type UniquenessError struct {
	Attribute   string // "ProxyAddresses" or "UserPrincipalName"
	Value       string
	ConflictsID string
}

func (e *UniquenessError) Error() string {
	return fmt.Sprintf("emulator: %s value %q is already used by object %s", e.Attribute, e.Value, e.ConflictsID)
}

// Tx is a transaction on the tenant, valid only inside the function given
// to Update or View. Getters return copies: change an object by passing it
// to Put. When the Update function returns an error every change made
// through the Tx is rolled back.
type Tx struct {
	e        *Emulator
	s        *state
	now      time.Time
	readOnly bool
	// undo journal
	saved      map[string]*Object
	seq        uint64
	epoch      int
	nTomb      int
	nLog       int
	exportErrs []ExportError
	domains    []cloud.AcceptedDomain
	dirty      bool
}

func newTx(e *Emulator, s *state, now time.Time, readOnly bool) *Tx {
	return &Tx{
		e: e, s: s, now: now, readOnly: readOnly,
		saved: map[string]*Object{}, seq: s.Seq, epoch: s.DeltaEpoch,
		nTomb: len(s.Tombstones), nLog: len(s.MemberLog),
		exportErrs: slices.Clone(s.ExportErrors), domains: slices.Clone(s.Domains),
	}
}

func (tx *Tx) rollback() {
	for id, o := range tx.saved {
		if o == nil {
			delete(tx.s.Objects, id)
		} else {
			tx.s.Objects[id] = o
		}
	}
	tx.s.Seq, tx.s.DeltaEpoch = tx.seq, tx.epoch
	tx.s.Tombstones = tx.s.Tombstones[:tx.nTomb]
	tx.s.MemberLog = tx.s.MemberLog[:tx.nLog]
	tx.s.ExportErrors, tx.s.Domains = tx.exportErrs, tx.domains
	tx.s.rebuildIndexes()
}

func (tx *Tx) mustWrite() {
	if tx.readOnly {
		panic("emulator: write in a View transaction")
	}
	tx.dirty = true
}

// set replaces (o != nil) or removes the object id, journaling the old one.
func (tx *Tx) set(id string, o *Object) {
	tx.mustWrite()
	old := tx.s.Objects[id]
	if _, ok := tx.saved[id]; !ok {
		tx.saved[id] = old
	}
	if old != nil {
		tx.s.unindex(old)
	}
	if o == nil {
		delete(tx.s.Objects, id)
		return
	}
	tx.s.Objects[id] = o
	tx.s.index(o)
}

// newObjectID returns a random object id no object has. The random source
// may repeat ids an earlier process handed out (it is seeded, and the
// state outlives the process): an id in use is never reused, which would
// overwrite that object.
func (tx *Tx) newObjectID() string {
	for {
		if id := tx.e.newGUID(); tx.s.Objects[id] == nil {
			return id
		}
	}
}

func (tx *Tx) nextSeq() uint64 {
	tx.s.Seq++
	return tx.s.Seq
}

// Now is the emulator clock's time when the transaction started.
func (tx *Tx) Now() time.Time { return tx.now }

// Seq is the tenant's current change sequence number.
func (tx *Tx) Seq() uint64 { return tx.s.Seq }

// InitialDomain is the tenant's *.onmicrosoft.com (MOERA) domain.
func (tx *Tx) InitialDomain() string { return tx.e.initialDomain }

// Get returns a copy of the object with id, soft-deleted ones included, or
// nil.
func (tx *Tx) Get(id string) *Object { return tx.s.Objects[id].Clone() }

// FindByImmutableID returns the object of kind whose onPremisesImmutableId
// is immutableID (exact match, as Entra compares it), soft-deleted ones
// included, or nil.
func (tx *Tx) FindByImmutableID(kind cloud.Kind, immutableID string) *Object {
	if immutableID == "" {
		return nil
	}
	// Several objects may share the anchor (a soft-deleted twin and a new
	// one): prefer the live one, then the lowest id, as the scan did not
	// promise an order before the index existed.
	ids := slices.Clone(tx.s.immutableIdx[immutableKey(kind, immutableID)])
	slices.Sort(ids)
	var found *Object
	for _, id := range ids {
		o := tx.s.Objects[id]
		if o == nil {
			continue
		}
		if !o.Deleted() {
			return o.Clone()
		}
		if found == nil {
			found = o
		}
	}
	return found.Clone()
}

// FindByProxyAddress returns the object holding the proxy address,
// compared case-insensitively, or nil. An address without a prefix
// ("a@b.com") matches an SMTP proxy address of either case ("SMTP:a@b.com",
// "smtp:a@b.com").
func (tx *Tx) FindByProxyAddress(addr string) *Object {
	k := strings.ToLower(addr)
	if !strings.Contains(k, ":") {
		k = "smtp:" + k
	}
	if id, ok := tx.s.proxyIdx[k]; ok {
		return tx.s.Objects[id].Clone()
	}
	return nil
}

// addressHolder returns the stored object holding the proxy address p
// (with its prefix), or, for an X500 address, whose LegacyExchangeDN it
// is; nil when none does.
func (tx *Tx) addressHolder(p string) *Object {
	k := strings.ToLower(p)
	if id, ok := tx.s.proxyIdx[k]; ok {
		return tx.s.Objects[id]
	}
	if dn, ok := strings.CutPrefix(k, "x500:"); ok {
		if id, ok := tx.s.legacyIdx[dn]; ok {
			return tx.s.Objects[id]
		}
	}
	return nil
}

// freeAddress returns local@domain, or, when another object holds it,
// local2@domain, local3@domain, ... (the first free one), the way Exchange
// makes a generated address unique.
func (tx *Tx) freeAddress(local, domain string) string {
	addr := local + "@" + domain
	for n := 2; tx.addressHolder("smtp:"+addr) != nil; n++ {
		addr = local + strconv.Itoa(n) + "@" + domain
	}
	return addr
}

// FindByLegacyExchangeDN returns the recipient whose LegacyExchangeDN is
// dn (case-insensitive), or nil.
func (tx *Tx) FindByLegacyExchangeDN(dn string) *Object {
	if id, ok := tx.s.legacyIdx[strings.ToLower(dn)]; ok {
		return tx.s.Objects[id].Clone()
	}
	return nil
}

// FindByUPN returns the user with the userPrincipalName (case-insensitive),
// or nil.
func (tx *Tx) FindByUPN(upn string) *Object {
	if id, ok := tx.s.upnIdx[strings.ToLower(upn)]; ok {
		return tx.s.Objects[id].Clone()
	}
	return nil
}

// List returns copies of the live (not soft-deleted) objects of kind, by
// id. An empty kind lists every kind.
func (tx *Tx) List(kind cloud.Kind) []*Object { return tx.list(kind, false) }

// ListDeleted returns copies of the soft-deleted objects of kind, by id.
func (tx *Tx) ListDeleted(kind cloud.Kind) []*Object { return tx.list(kind, true) }

func (tx *Tx) list(kind cloud.Kind, deleted bool) []*Object {
	var out []*Object
	for _, o := range tx.s.Objects {
		if (kind == "" || o.Kind == kind) && o.Deleted() == deleted {
			out = append(out, o.Clone())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// objects returns the stored (not copied) objects of kind, sorted by id.
// Internal readers must not modify them.
func (tx *Tx) objects(kind cloud.Kind) []*Object {
	var out []*Object
	for _, o := range tx.s.Objects {
		if kind == "" || o.Kind == kind {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Put creates or replaces an object and records a delta change. An empty
// ID is assigned a new GUID; a non-empty ID that does not exist creates the
// object with that id. CreatedDateTime is kept from the stored object (set
// to Now when creating with it zero) and Seq is assigned. Putting an object
// equal to the stored one records no change. Put fails with ErrInvalid for
// a bad kind or members that do not exist, ErrDeleted for a soft-deleted
// object (Restore it first) and *UniquenessError for a proxy address or UPN
// held by another object. It returns a copy of what was stored.
func (tx *Tx) Put(o *Object) (*Object, error) {
	tx.mustWrite()
	if o == nil {
		return nil, fmt.Errorf("%w: nil object", ErrInvalid)
	}
	n := o.Clone()
	switch n.Kind {
	case cloud.KindUser, cloud.KindGroup, cloud.KindContact:
	default:
		return nil, fmt.Errorf("%w: kind %q", ErrInvalid, n.Kind)
	}
	if n.Kind != cloud.KindGroup && len(n.Members) > 0 {
		return nil, fmt.Errorf("%w: only groups have members", ErrInvalid)
	}
	var old *Object
	if n.ID == "" {
		n.ID = tx.newObjectID()
	} else {
		old = tx.s.Objects[n.ID]
	}
	if old != nil {
		if old.Kind != n.Kind {
			return nil, fmt.Errorf("%w: object %s is a %s, not a %s", ErrInvalid, n.ID, old.Kind, n.Kind)
		}
		if old.Deleted() {
			return nil, fmt.Errorf("%w: %s", ErrDeleted, n.ID)
		}
		n.CreatedDateTime = old.CreatedDateTime
		n.DeletedDateTime = nil
		if n.Exchange.LegacyExchangeDN == "" {
			n.Exchange.LegacyExchangeDN = old.Exchange.LegacyExchangeDN
		}
	} else if n.CreatedDateTime.IsZero() {
		n.CreatedDateTime = tx.now
	}
	if n.Exchange.LegacyExchangeDN == "" && n.RecipientTypeDetails() != "" {
		n.Exchange.LegacyExchangeDN = LegacyExchangeDN(n)
	}
	n.Members = dedupe(n.Members)
	for _, m := range n.Members {
		mo := tx.s.Objects[m]
		if mo == nil || mo.Deleted() || m == n.ID {
			return nil, fmt.Errorf("%w: member %s of group %s does not exist", ErrInvalid, m, n.ID)
		}
	}
	if err := tx.checkUnique(n); err != nil {
		return nil, err
	}
	if old != nil {
		n.Seq = old.Seq
		if reflect.DeepEqual(old, n) {
			return n, nil
		}
	}
	n.Seq = tx.nextSeq()
	var oldMembers []string
	if old != nil {
		oldMembers = old.Members
	}
	tx.logMembers(n.ID, oldMembers, n.Members, n.Seq)
	tx.set(n.ID, n)
	return n.Clone(), nil
}

func dedupe(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func (tx *Tx) checkUnique(n *Object) error {
	seen := map[string]bool{}
	for _, p := range n.ProxyAddresses {
		k := strings.ToLower(p)
		if !strings.Contains(k, ":") {
			return fmt.Errorf("%w: proxy address %q has no prefix", ErrInvalid, p)
		}
		if seen[k] {
			return fmt.Errorf("%w: proxy address %q appears twice", ErrInvalid, p)
		}
		seen[k] = true
		if id, ok := tx.s.proxyIdx[k]; ok && id != n.ID {
			return &UniquenessError{Attribute: "ProxyAddresses", Value: p, ConflictsID: id}
		}
		if x500, ok := strings.CutPrefix(k, "x500:"); ok {
			if id, ok := tx.s.legacyIdx[x500]; ok && id != n.ID {
				return &UniquenessError{Attribute: "ProxyAddresses", Value: p, ConflictsID: id}
			}
		}
	}
	if n.Kind == cloud.KindUser && n.UserPrincipalName != "" {
		if id, ok := tx.s.upnIdx[strings.ToLower(n.UserPrincipalName)]; ok && id != n.ID {
			return &UniquenessError{Attribute: "UserPrincipalName", Value: n.UserPrincipalName, ConflictsID: id}
		}
	}
	return nil
}

func (tx *Tx) logMembers(group string, before, after []string, seq uint64) {
	if len(before) == 0 && len(after) == 0 {
		return
	}
	b := make(map[string]bool, len(before))
	for _, m := range before {
		b[m] = true
	}
	a := make(map[string]bool, len(after))
	for _, m := range after {
		a[m] = true
		if !b[m] {
			tx.s.MemberLog = append(tx.s.MemberLog, memberChange{Seq: seq, Group: group, Member: m})
		}
	}
	for _, m := range before {
		if !a[m] {
			tx.s.MemberLog = append(tx.s.MemberLog, memberChange{Seq: seq, Group: group, Member: m, Removed: true})
		}
	}
}

// modify applies fn to a copy of the live object id and stores it as a
// change.
func (tx *Tx) modify(id string, fn func(o *Object) error) error {
	old := tx.s.Objects[id]
	if old == nil {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if old.Deleted() {
		return fmt.Errorf("%w: %s", ErrDeleted, id)
	}
	n := old.Clone()
	if err := fn(n); err != nil {
		return err
	}
	_, err := tx.Put(n)
	return err
}

// Delete soft-deletes the object: it leaves lists and reads, delta reports
// it as "@removed": {"reason": "changed"}, it keeps its proxy addresses
// (they still conflict) and it is removed from every group's members (and
// from Exchange's recipient lists), as Entra ID does (https://learn.microsoft.com/graph/api/directory-deleteditems-get).
// Restore brings it back; HardDelete removes it for good.
func (tx *Tx) Delete(id string) error {
	o := tx.s.Objects[id]
	if o == nil {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if o.Deleted() {
		return nil
	}
	tx.removeFromGroups(id)
	tx.removeFromRecipientLists(id)
	n := o.Clone()
	t := tx.now
	n.DeletedDateTime = &t
	n.Seq = tx.nextSeq()
	if len(n.Members) > 0 {
		tx.logMembers(id, n.Members, nil, n.Seq)
		n.Members = nil
	}
	tx.set(id, n)
	return nil
}

// HardDelete removes the object (live or soft-deleted) for good; delta
// reports it as "@removed": {"reason": "deleted"}.
func (tx *Tx) HardDelete(id string) error {
	o := tx.s.Objects[id]
	if o == nil {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	tx.removeFromGroups(id)
	tx.removeFromRecipientLists(id)
	seq := tx.nextSeq()
	if len(o.Members) > 0 {
		tx.logMembers(id, o.Members, nil, seq)
	}
	tx.set(id, nil)
	tx.s.Tombstones = append(tx.s.Tombstones, Tombstone{ID: id, Kind: o.Kind, Seq: seq})
	return nil
}

// Restore brings a soft-deleted object back (without its former group
// memberships).
func (tx *Tx) Restore(id string) error {
	o := tx.s.Objects[id]
	if o == nil {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if !o.Deleted() {
		return fmt.Errorf("%w: %s", ErrNotDeleted, id)
	}
	n := o.Clone()
	n.DeletedDateTime = nil
	n.Seq = tx.nextSeq()
	tx.set(id, n)
	return nil
}

// removeFromRecipientLists drops a deleted recipient from every
// recipient's Exchange recipient lists (ManagedBy, ModeratedBy, the
// delivery restrictions, moderation bypass, send-on-behalf, Send-As
// trustees) and from mailboxes' ForwardingAddress, as Exchange
// Online does: a restored object does not come back into them. These are
// Exchange attributes, which Graph's delta does not report, so the
// sequence numbers stay.
func (tx *Tx) removeFromRecipientLists(id string) {
	for _, o := range tx.s.Objects {
		x := &o.Exchange
		lists := []*[]string{&x.ModeratedBy, &x.BypassModerationFromSendersOrMembers, &x.AcceptMessagesOnlyFromSendersOrMembers,
			&x.RejectMessagesFromSendersOrMembers, &x.GrantSendOnBehalfTo, &x.ManagedBy, &x.SendAs}
		if !slices.ContainsFunc(lists, func(l *[]string) bool { return slices.Contains(*l, id) }) && x.ForwardingAddress != id {
			continue
		}
		n := o.Clone()
		nx := &n.Exchange
		if nx.ForwardingAddress == id {
			nx.ForwardingAddress = ""
		}
		for _, l := range []*[]string{&nx.ModeratedBy, &nx.BypassModerationFromSendersOrMembers, &nx.AcceptMessagesOnlyFromSendersOrMembers,
			&nx.RejectMessagesFromSendersOrMembers, &nx.GrantSendOnBehalfTo, &nx.ManagedBy, &nx.SendAs} {
			*l = slices.DeleteFunc(slices.Clone(*l), func(v string) bool { return v == id })
		}
		tx.set(n.ID, n)
	}
}

func (tx *Tx) removeFromGroups(member string) {
	for _, g := range tx.s.Objects {
		if g.Kind != cloud.KindGroup || !slices.Contains(g.Members, member) {
			continue
		}
		n := g.Clone()
		n.Members = slices.DeleteFunc(n.Members, func(m string) bool { return m == member })
		n.Seq = tx.nextSeq()
		tx.logMembers(n.ID, g.Members, n.Members, n.Seq)
		tx.set(n.ID, n)
	}
}

// SetMembers replaces a group's direct members with ids.
func (tx *Tx) SetMembers(groupID string, ids []string) error {
	return tx.modify(groupID, func(o *Object) error {
		if o.Kind != cloud.KindGroup {
			return fmt.Errorf("%w: %s is not a group", ErrNotSupported, groupID)
		}
		o.Members = slices.Clone(ids)
		return nil
	})
}

// AddMember adds member to a group's direct members, as SetMembers with it
// appended would, without re-checking the members already there (a
// membership change of a 65,000-member list stays cheap). A member
// already there changes nothing.
func (tx *Tx) AddMember(groupID, member string) error {
	return tx.changeMember(groupID, member, true)
}

// RemoveMember removes member from a group's direct members; one not
// there changes nothing.
func (tx *Tx) RemoveMember(groupID, member string) error {
	return tx.changeMember(groupID, member, false)
}

func (tx *Tx) changeMember(groupID, member string, add bool) error {
	tx.mustWrite()
	old := tx.s.Objects[groupID]
	switch {
	case old == nil:
		return fmt.Errorf("%w: %s", ErrNotFound, groupID)
	case old.Deleted():
		return fmt.Errorf("%w: %s", ErrDeleted, groupID)
	case old.Kind != cloud.KindGroup:
		return fmt.Errorf("%w: %s is not a group", ErrNotSupported, groupID)
	}
	if add {
		if mo := tx.s.Objects[member]; mo == nil || mo.Deleted() || member == groupID {
			return fmt.Errorf("%w: member %s of group %s does not exist", ErrInvalid, member, groupID)
		}
	}
	i := slices.Index(old.Members, member)
	if (i >= 0) == add {
		return nil
	}
	n := old.Clone()
	if add {
		n.Members = append(n.Members, member)
	} else {
		n.Members = slices.Delete(n.Members, i, i+1)
	}
	n.Seq = tx.nextSeq()
	tx.s.MemberLog = append(tx.s.MemberLog, memberChange{Seq: n.Seq, Group: groupID, Member: member, Removed: !add})
	tx.set(groupID, n)
	return nil
}

// SetExchangeLicense assigns (true) or removes a user's Exchange Online
// licence: a licensed user is a UserMailbox in Exchange.
func (tx *Tx) SetExchangeLicense(userID string, licensed bool) error {
	return tx.modify(userID, func(o *Object) error {
		if o.Kind != cloud.KindUser {
			return fmt.Errorf("%w: %s is not a user", ErrNotSupported, userID)
		}
		o.ExchangeLicensed = licensed
		return nil
	})
}

// SetCloudManaged sets a group's Source of Authority (what PATCH
// onPremisesSyncBehavior does). Only groups synced from on-premises can be
// converted; ErrNotSupported otherwise.
func (tx *Tx) SetCloudManaged(groupID string, cloudManaged bool) error {
	return tx.modify(groupID, func(o *Object) error {
		if o.Kind != cloud.KindGroup || !o.OnPremisesSyncEnabled {
			return fmt.Errorf("%w: %s is not a group synced from on-premises", ErrNotSupported, groupID)
		}
		o.IsCloudManaged = cloudManaged
		return nil
	})
}

// SetAuthMethods replaces a user's registered authentication methods
// (besides the password method every user has).
func (tx *Tx) SetAuthMethods(userID string, methods []cloud.AuthMethod) error {
	return tx.modify(userID, func(o *Object) error {
		if o.Kind != cloud.KindUser {
			return fmt.Errorf("%w: %s is not a user", ErrNotSupported, userID)
		}
		o.AuthMethods = slices.Clone(methods)
		for i := range o.AuthMethods {
			if o.AuthMethods[i].ID == "" {
				o.AuthMethods[i].ID = tx.e.newGUID()
			}
		}
		return nil
	})
}

// SetRegistrationDetail sets the user's row of the userRegistrationDetails
// report; ID and UPN are filled from the user.
func (tx *Tx) SetRegistrationDetail(userID string, d cloud.RegistrationDetail) error {
	return tx.modify(userID, func(o *Object) error {
		if o.Kind != cloud.KindUser {
			return fmt.Errorf("%w: %s is not a user", ErrNotSupported, userID)
		}
		d.ID, d.UPN = o.ID, o.UserPrincipalName
		if d.LastUpdated.IsZero() {
			d.LastUpdated = tx.now
		}
		d.MethodsRegistered = slices.Clone(d.MethodsRegistered)
		o.Registration = &d
		return nil
	})
}

// RecordExportError appends an export error (Time defaults to Now).
func (tx *Tx) RecordExportError(e ExportError) {
	tx.mustWrite()
	if e.Time.IsZero() {
		e.Time = tx.now
	}
	tx.s.ExportErrors = append(tx.s.ExportErrors, e)
}

// ExportErrors returns the recorded export errors, oldest first.
func (tx *Tx) ExportErrors() []ExportError { return slices.Clone(tx.s.ExportErrors) }

// ClearExportErrors removes the errors recorded for objectID or immutableID
// (either may be empty) and returns how many it removed.
func (tx *Tx) ClearExportErrors(objectID, immutableID string) int {
	before := len(tx.s.ExportErrors)
	kept := slices.DeleteFunc(slices.Clone(tx.s.ExportErrors), func(e ExportError) bool {
		return objectID != "" && e.ObjectID == objectID || immutableID != "" && e.ImmutableID == immutableID
	})
	if len(kept) != before {
		tx.mustWrite()
		tx.s.ExportErrors = kept
	}
	return before - len(kept)
}

// AcceptedDomains returns the tenant's accepted domains (Get-AcceptedDomain).
func (tx *Tx) AcceptedDomains() []cloud.AcceptedDomain { return slices.Clone(tx.s.Domains) }

// AddAcceptedDomain adds an Authoritative accepted domain; adding one that
// exists does nothing.
func (tx *Tx) AddAcceptedDomain(name string) {
	if tx.isAccepted(name) {
		return
	}
	tx.mustWrite()
	tx.s.Domains = append(tx.s.Domains, cloud.AcceptedDomain{DomainName: strings.ToLower(name), DomainType: "Authoritative"})
}

func (tx *Tx) isAccepted(domain string) bool {
	for _, d := range tx.s.Domains {
		if strings.EqualFold(d.DomainName, domain) {
			return true
		}
	}
	return false
}

func (tx *Tx) defaultDomain() string {
	for _, d := range tx.s.Domains {
		if d.Default {
			return d.DomainName
		}
	}
	return tx.e.initialDomain
}

// ExpireDeltaTokens makes every delta token issued so far unknown, so its
// next use gets 410 Gone (syncStateNotFound), as after Graph loses a sync
// state.
func (tx *Tx) ExpireDeltaTokens() {
	tx.mustWrite()
	tx.s.DeltaEpoch++
}
