package migrate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// MaxNameLength is the longest Name Exchange Online takes.
const MaxNameLength = 64

// GroupImage is the on-premises group as captured: what the saga changes,
// and what a rollback restores.
type GroupImage struct {
	DN               string            `json:"dn"`
	GUID             string            `json:"objectGUID"`
	SID              string            `json:"objectSid"`
	Name             string            `json:"name"`
	DisplayName      string            `json:"displayName,omitempty"`
	Mail             string            `json:"mail,omitempty"`
	MailNickname     string            `json:"mailNickname,omitempty"`
	ProxyAddresses   []string          `json:"proxyAddresses,omitempty"`
	LegacyExchangeDN string            `json:"legacyExchangeDN,omitempty"`
	Hidden           bool              `json:"hidden,omitempty"`
	Extension        map[string]string `json:"extensionAttributes,omitempty"`
	Members          []string          `json:"members,omitempty"`
	// Security is true for a mail-enabled security group.
	Security bool `json:"security,omitempty"`
	// SAMAccountName and GroupType (raw) let a rollback recreate a deleted
	// group.
	SAMAccountName string `json:"sAMAccountName,omitempty"`
	GroupType      int64  `json:"groupType,omitempty"`
}

// Ref is a recipient a list refers to (a member, owner, moderator or
// sender), resolved to its cloud recipient.
type Ref struct {
	DN string `json:"dn"`
	// Cloud is the cloud recipient's ExternalDirectoryObjectId ("" when
	// it did not resolve).
	Cloud string `json:"cloud,omitempty"`
	// Address is the recipient's primary SMTP address, for messages.
	Address string `json:"address,omitempty"`
	// Group is set when the recipient is a mail-enabled group (nesting).
	Group bool `json:"group,omitempty"`
	// ID is the on-premises object's objectGUID, lower case.
	ID string `json:"id,omitempty"`
	// Migrated is set when the recipient is a group migrated before (its
	// saga is done): Cloud is then its cloud list.
	Migrated bool `json:"migrated,omitempty"`
}

// AssessContext is what an assessment inside a batch knows beyond the
// directories.
type AssessContext struct {
	// Migrated are the sagas in the journal: a member that is a group
	// migrated before (its original, or its routing contact) resolves to
	// the cloud list its saga made.
	Migrated []*Saga
	// InBatch reports whether a child group (by objectGUID) migrates in
	// an earlier wave of the same batch, so that it does not stop its
	// parent; nil: none does.
	InBatch func(id string) bool
	// Children are the group's child groups in the batch as the batch
	// found them before its first wave (objectGUIDs). One migrated since
	// whose membership the directory no longer shows (its original was
	// deleted) is still a member of the new cloud list.
	Children []string
}

// Capture is what a saga reads before writing anything.
type Capture struct {
	Group GroupImage `json:"group"`
	// TwinID is the synced cloud twin's object id; TwinLegacyExchangeDN
	// its Exchange X.500 address.
	TwinID               string `json:"twinID"`
	TwinLegacyExchangeDN string `json:"twinLegacyExchangeDN,omitempty"`
	// TwinAddresses are the twin's EmailAddresses in Exchange.
	TwinAddresses []string `json:"twinAddresses,omitempty"`
	// Primary is the group's primary SMTP address; Alias its alias.
	Primary string `json:"primary"`
	Alias   string `json:"alias"`
	// The lists, resolved to cloud recipients.
	Members          []Ref `json:"members,omitempty"`
	Owners           []Ref `json:"owners,omitempty"`
	ModeratedBy      []Ref `json:"moderatedBy,omitempty"`
	BypassModeration []Ref `json:"bypassModeration,omitempty"`
	AcceptFrom       []Ref `json:"acceptFrom,omitempty"`
	RejectFrom       []Ref `json:"rejectFrom,omitempty"`
	SendOnBehalf     []Ref `json:"sendOnBehalf,omitempty"`
	Moderated        bool  `json:"moderated,omitempty"`
	RequireAuth      bool  `json:"requireSenderAuthentication,omitempty"`
	// References are the objects that name the group (on premises) or its
	// synced twin (in the cloud), for the recreate path to re-point and a
	// rollback to put back.
	References *References `json:"references,omitempty"`
}

// Problem is one reason a group cannot be migrated now.
type Problem struct {
	// Code is stable (for --json and tests): not-found, not-a-group,
	// not-mail-enabled, not-universal, not-synced, protected, unresolved,
	// nested, domain-not-accepted, nosync-in-scope, nosync-name-taken,
	// name-too-long, unsupported.
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Assessment is what `migrate plan` says of one group: how it would move,
// why, what stops it, and the steps.
type Assessment struct {
	Group    string    `json:"group"`
	ID       string    `json:"id,omitempty"`
	DN       string    `json:"dn,omitempty"`
	Method   Method    `json:"method,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Problems []Problem `json:"problems"`
	Steps    []Step    `json:"steps,omitempty"`
	Capture  *Capture  `json:"-"`
	// Status, when set, says the group's migration has started (or is
	// done): where its saga is. The group is then not assessed again,
	// since the saga changed what an assessment reads.
	Status string `json:"status,omitempty"`
	// Wave is the group's wave in its batch (1 first), 0 when it cannot
	// migrate in the batch.
	Wave int `json:"wave,omitempty"`
}

// Ready reports whether nothing stops the migration.
func (a *Assessment) Ready() bool { return len(a.Problems) == 0 }

func (a *Assessment) add(code, format string, args ...any) {
	a.Problems = append(a.Problems, Problem{Code: code, Message: fmt.Sprintf(format, args...)})
}

// Assess reads the group and its cloud twin, resolves every recipient the
// group names, checks everything that would stop the migration (reporting
// every problem, not just the first), and chooses the method. It writes
// nothing. An error means a read failed (the directories could not be
// asked), not that the group has problems.
func (e *Env) Assess(ctx context.Context, group string, o Options) (*Assessment, error) {
	return e.AssessWith(ctx, group, o, AssessContext{})
}

// AssessWith is Assess inside a batch: see AssessContext.
func (e *Env) AssessWith(ctx context.Context, group string, o Options, ac AssessContext) (*Assessment, error) {
	a := &Assessment{Group: group, Problems: []Problem{}}
	r, err := e.findGroup(ctx, group)
	if err != nil {
		if retry.ClassOf(err) == retry.NotFound {
			a.add("not-found", "no object in Active Directory has %s (as objectGUID, mail or proxyAddresses)", group)
			return a, nil
		}
		return nil, fmt.Errorf("migrate: read %s: %w", group, err)
	}
	a.ID, a.DN = strings.ToLower(r.GUID), r.DN
	c := &Capture{Group: imageOf(r)}
	a.Capture = c
	if r.Kind != ad.KindGroup {
		a.add("not-a-group", "%s is a %s, not a group", r.DN, r.Kind)
		return a, nil
	}
	c.Primary, c.Alias = primaryOf(r), r.MailNickname
	if c.Alias == "" {
		c.Alias, _, _ = strings.Cut(c.Primary, "@")
	}
	if !r.MailEnabled() || c.Primary == "" {
		a.add("not-mail-enabled", "%s is not mail-enabled (no mail or SMTP proxy address)", r.DN)
	}
	switch {
	case r.GroupType == nil:
		a.add("not-a-group", "%s has no groupType", r.DN)
	case r.GroupType.Scope != ad.ScopeUniversal:
		a.add("not-universal", "%s is a %s group; Exchange Online distribution lists are universal: convert it to universal first", r.DN, r.GroupType.Scope)
	}
	if n := len([]rune(r.Name)); n > MaxNameLength {
		a.add("name-too-long", "the name of %s has %d characters; Exchange Online takes at most %d", r.DN, n, MaxNameLength)
	}
	if protected, err := e.Dir.ProtectedFromDeletion(ctx, r.DN); err != nil {
		return nil, fmt.Errorf("migrate: read the security descriptor of %s: %w", r.DN, err)
	} else if protected {
		a.add("protected", "%s is protected from accidental deletion; clear \"Protect object from accidental deletion\" first (the migration moves it)", r.DN)
	}
	if o.NoSyncOU == "" {
		a.add("nosync-in-scope", "no no-sync OU is configured for %s", r.DN)
	} else if e.Scope.Contains(ad.ChildDN("CN", "probe", o.NoSyncOU)) {
		a.add("nosync-in-scope", "the no-sync OU %s is inside the sync scope, so moving the group there would not take it out of sync", o.NoSyncOU)
	}
	if err := e.checkDomains(ctx, a, c); err != nil {
		return nil, err
	}
	if err := e.captureTwin(ctx, a, c, r); err != nil {
		return nil, err
	}
	if err := e.resolveLists(ctx, a, c, r, o, ac); err != nil {
		return nil, err
	}
	e.chooseMethod(ctx, a, c, r, o)
	if a.Method == MethodRecreate && o.NoSyncOU != "" {
		if err := e.checkNoSyncName(ctx, a, r, o.NoSyncOU); err != nil {
			return nil, err
		}
	}
	if a.Method == MethodRecreate && a.Ready() {
		if c.References, err = e.captureReferences(ctx, c); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// checkNoSyncName reports an object of the group's name already in the
// no-sync OU, where the recreate path moves the group.
func (e *Env) checkNoSyncName(ctx context.Context, a *Assessment, r *ad.Recipient, noSyncOU string) error {
	rdn, err := ad.RDNValue(r.DN)
	if err != nil {
		return fmt.Errorf("migrate: name of %s: %w", r.DN, err)
	}
	there := ad.ChildDN("CN", rdn, noSyncOU)
	other, err := e.Dir.ReadRecipient(ctx, there)
	switch {
	case notFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("migrate: read %s: %w", there, err)
	case !strings.EqualFold(other.GUID, r.GUID):
		a.add("nosync-name-taken", "the no-sync OU already holds an object named %q (%s), so %s cannot be moved there; rename one of them", rdn, there, r.DN)
	}
	return nil
}

// findGroup reads the group by objectGUID or address.
func (e *Env) findGroup(ctx context.Context, group string) (*ad.Recipient, error) {
	if guid, ok := guidOf(group); ok {
		r, _, err := e.Dir.FindByGUIDOnDC(ctx, guid)
		return r, err
	}
	return e.Dir.FindByAddress(ctx, group)
}

func imageOf(r *ad.Recipient) GroupImage {
	g := GroupImage{DN: r.DN, GUID: strings.ToLower(r.GUID), SID: r.SID, Name: r.Name, DisplayName: r.DisplayName,
		Mail: r.Mail, MailNickname: r.MailNickname, ProxyAddresses: r.ProxyAddresses.Raw(), LegacyExchangeDN: r.LegacyExchangeDN,
		Hidden: r.HiddenFromGAL, Extension: maps.Clone(r.ExtensionAttributes), Members: slices.Clone(r.Members)}
	g.SAMAccountName = r.SAMAccountName
	if r.GroupType != nil {
		g.Security, g.GroupType = r.GroupType.Security, r.GroupType.Raw
	}
	return g
}

// primaryOf is the recipient's primary SMTP address: the SMTP: value of
// proxyAddresses, or mail.
func primaryOf(r *ad.Recipient) string {
	if p, ok := r.ProxyAddresses.PrimarySMTP(); ok {
		return p.Address
	}
	return r.Mail
}

// checkDomains reports the group's SMTP addresses in domains the tenant
// does not accept.
func (e *Env) checkDomains(ctx context.Context, a *Assessment, c *Capture) error {
	ds, err := e.Exchange.AcceptedDomains(ctx)
	if err != nil {
		return fmt.Errorf("migrate: read the accepted domains: %w", err)
	}
	accepted := map[string]bool{strings.ToLower(e.InitialDomain): true, strings.ToLower(e.routingDomain()): true}
	for _, d := range ds {
		accepted[strings.ToLower(d.DomainName)] = true
	}
	addrs := []string{c.Group.Mail}
	for _, v := range c.Group.ProxyAddresses {
		if p, err := ad.ParseProxyAddress(v); err == nil && p.IsSMTP() {
			addrs = append(addrs, p.Address)
		}
	}
	seen := map[string]bool{}
	for _, addr := range addrs {
		_, dom, ok := strings.Cut(addr, "@")
		dom = strings.ToLower(dom)
		if !ok || seen[dom] {
			continue
		}
		seen[dom] = true
		if !accepted[dom] {
			a.add("domain-not-accepted", "%s is in %s, which is not an accepted domain of the tenant: accept the domain, or remove the address", addr, dom)
		}
	}
	return nil
}

// captureTwin finds the group's synced twin in Graph (by
// onPremisesSecurityIdentifier) and Exchange.
func (e *Env) captureTwin(ctx context.Context, a *Assessment, c *Capture, r *ad.Recipient) error {
	if r.SID == "" {
		a.add("not-synced", "%s has no objectSid, so no cloud group can be its synced twin", r.DN)
		return nil
	}
	var twins []*cloud.Object
	_, err := e.Graph.List(ctx, cloud.KindGroup, cloud.ListOptions{Filter: "onPremisesSecurityIdentifier eq " + cloud.Quote(r.SID)}, func(o *cloud.Object) error {
		twins = append(twins, o)
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate: find the cloud twin of %s: %w", r.DN, err)
	}
	switch len(twins) {
	case 0:
		a.add("not-synced", "no cloud group has onPremisesSecurityIdentifier %s: %s is not synced (is it in the sync scope, and has a sync cycle run?)", r.SID, r.DN)
		return nil
	case 1:
	default:
		a.add("not-synced", "%d cloud groups have onPremisesSecurityIdentifier %s", len(twins), r.SID)
		return nil
	}
	t := twins[0]
	c.TwinID = t.ID
	if !t.OnPremisesSyncEnabled {
		a.add("not-synced", "the cloud twin %s of %s is not synced from on premises (already migrated, or cloud-managed)", t.ID, r.DN)
	}
	dg, err := e.Exchange.GetDistributionGroup(ctx, t.ID)
	switch {
	case retry.ClassOf(err) == retry.NotFound:
		a.add("not-synced", "Exchange Online has no distribution group for the cloud twin %s of %s", t.ID, r.DN)
		return nil
	case err != nil:
		return fmt.Errorf("migrate: read the distribution group %s: %w", t.ID, err)
	}
	c.TwinLegacyExchangeDN, c.TwinAddresses = dg.LegacyExchangeDN, slices.Clone(dg.EmailAddresses)
	if !dg.IsDirSynced {
		a.add("not-synced", "Exchange Online shows %s as not synced (IsDirSynced false)", dg.PrimarySMTPAddress)
	}
	switch dg.RecipientTypeDetails {
	case "", "MailUniversalDistributionGroup", "MailUniversalSecurityGroup":
	default:
		a.add("not-a-group", "Exchange Online holds %s as a %s, not a distribution list or mail-enabled security group", dg.PrimarySMTPAddress, dg.RecipientTypeDetails)
	}
	return nil
}

// resolveLists resolves every recipient the group names to a cloud
// recipient, and reports those that do not resolve and the nested groups.
func (e *Env) resolveLists(ctx context.Context, a *Assessment, c *Capture, r *ad.Recipient, o Options, ac AssessContext) error {
	owners := slices.Clone(r.CoManagedBy)
	if r.ManagedBy != "" {
		owners = append([]string{r.ManagedBy}, owners...)
	}
	refs, err := e.resolveAll(ctx, r.DN, len(r.Members), slices.Concat(r.Members, owners, r.ModeratedBy, r.BypassModeration,
		r.AcceptFrom, r.AcceptFromMembersOf, r.RejectFrom, r.RejectFromMembersOf, r.SendOnBehalf), ac.Migrated)
	if err != nil {
		return err
	}
	resolve := func(dns []string, what string) []Ref {
		out := make([]Ref, 0, len(dns))
		for _, dn := range dns {
			ref := refs[ad.CanonicalDN(dn)]
			if ref.Cloud == "" {
				a.add("unresolved", "%s %s has no cloud recipient (%s): it would be lost from the cloud list; bring it into the sync scope or remove it", what, dn, orNone(ref.Address))
			}
			out = append(out, ref)
		}
		return out
	}
	c.Members = resolve(r.Members, "member")
	c.Members = append(c.Members, missingChildren(c.Members, ac)...)
	c.Owners = resolve(owners, "owner")
	c.ModeratedBy = resolve(r.ModeratedBy, "moderator")
	c.BypassModeration = resolve(r.BypassModeration, "moderation bypass")
	c.AcceptFrom = resolve(slices.Concat(r.AcceptFrom, r.AcceptFromMembersOf), "accepted sender")
	c.RejectFrom = resolve(slices.Concat(r.RejectFrom, r.RejectFromMembersOf), "rejected sender")
	c.SendOnBehalf = resolve(r.SendOnBehalf, "send-on-behalf delegate")
	c.Moderated, c.RequireAuth = r.ModerationEnabled, r.RequireSenderAuth
	if !o.SkipNestedGroupCheck {
		for _, m := range c.Members {
			if m.Group && !m.Migrated && (ac.InBatch == nil || !ac.InBatch(m.ID)) {
				a.add("nested", "member %s is a mail-enabled group: migrate it first, or set skip_nested_group_check to keep the synced child as a member of the cloud list", m.DN)
			}
		}
	}
	return nil
}

// migratedAs returns the migrated saga whose group is id, or whose
// routing contact is dn, or nil.
func migratedAs(sagas []*Saga, id, dn string) *Saga {
	for _, s := range sagas {
		if s.State != StateMigrated || s.Capture == nil || s.Made.CloudListID == "" {
			continue
		}
		if strings.EqualFold(s.ID, id) || (s.Made.ContactDN != "" && ad.EqualDN(s.Made.ContactDN, dn)) {
			return s
		}
	}
	return nil
}

// missingChildren returns the batch's child groups migrated since the
// batch began that members no longer shows (their original deleted), as
// members of the new cloud list.
func missingChildren(members []Ref, ac AssessContext) []Ref {
	var out []Ref
	for _, id := range ac.Children {
		if slices.ContainsFunc(members, func(m Ref) bool { return strings.EqualFold(m.ID, id) }) {
			continue
		}
		for _, s := range ac.Migrated {
			if strings.EqualFold(s.ID, id) && s.State == StateMigrated && s.Capture != nil && s.Made.CloudListID != "" {
				out = append(out, Ref{DN: s.Capture.Group.DN, ID: s.ID, Cloud: s.Made.CloudListID, Address: s.Capture.Primary, Group: true, Migrated: true})
			}
		}
	}
	return out
}

// chooseMethod decides the path: SOA when asked, or with auto when the
// tenant converts the group's Source of Authority and the group qualifies;
// recreate otherwise.
func (e *Env) chooseMethod(ctx context.Context, a *Assessment, c *Capture, r *ad.Recipient, o Options) {
	soaWhyNot := ""
	switch {
	case c.TwinID == "":
		soaWhyNot = "it has no synced cloud twin to convert"
	case slices.ContainsFunc(c.Members, func(m Ref) bool { return m.Group }):
		soaWhyNot = "it has mail-enabled child groups, and a Source of Authority conversion does not cover nested groups"
	case len(r.ExtensionAttributes) > 0:
		soaWhyNot = "it uses extensionAttribute1-15, which a converted group cannot manage in the cloud"
	default:
		if _, err := e.Graph.GroupSyncBehavior(ctx, c.TwinID); err != nil {
			soaWhyNot = "the tenant does not convert its Source of Authority (" + err.Error() + ")"
		}
	}
	switch o.Method {
	case string(MethodSOA):
		a.Method, a.Reason = MethodSOA, "method: soa in the config"
		if soaWhyNot != "" {
			a.add("unsupported", "method soa cannot migrate %s: %s", r.DN, soaWhyNot)
		}
	case string(MethodRecreate):
		a.Method, a.Reason = MethodRecreate, "method: recreate in the config"
	default:
		if soaWhyNot == "" {
			a.Method, a.Reason = MethodSOA, "auto: the tenant converts the group's Source of Authority, so the same cloud object stays, with no mail-flow gap"
		} else {
			a.Method, a.Reason = MethodRecreate, "auto: recreate, because "+soaWhyNot
		}
	}
	a.Steps = Steps(a.Method, o.HybridMailFlow, o.KeepOriginal)
}

// guidOf returns the objectGUID a group is given by, if it is one.
func guidOf(s string) (string, bool) {
	t := strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	if _, err := ad.GUIDBytes(t); err != nil || strings.Contains(s, "@") {
		return "", false
	}
	return strings.ToLower(t), true
}

func orNone(s string) string {
	if s == "" {
		return "no address"
	}
	return s
}

func cutSuffixFold(s, suffix string) (string, bool) {
	if len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix) {
		return s[:len(s)-len(suffix)], true
	}
	return "", false
}

// customAttributes maps extensionAttributeN values to Exchange's
// CustomAttributeN.
func customAttributes(ext map[string]string) map[int]string {
	out := map[int]string{}
	for k, v := range ext {
		if n, err := strconv.Atoi(strings.TrimPrefix(k, "extensionAttribute")); err == nil && n >= 1 && n <= 15 {
			out[n] = v
		}
	}
	return out
}

var errStop = errors.New("migrate: stopped")
