package exo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// Cmdlet names, as sent in CmdletInput.CmdletName and X-CmdletName.
const (
	cmdGetAcceptedDomain      = "Get-AcceptedDomain"
	cmdGetRecipient           = "Get-Recipient"
	cmdGetDistributionGroup   = "Get-DistributionGroup"
	cmdNewDistributionGroup   = "New-DistributionGroup"
	cmdSetDistributionGroup   = "Set-DistributionGroup"
	cmdRemoveDistributionGrp  = "Remove-DistributionGroup"
	cmdGetGroupMember         = "Get-DistributionGroupMember"
	cmdAddGroupMember         = "Add-DistributionGroupMember"
	cmdRemoveGroupMember      = "Remove-DistributionGroupMember"
	cmdUpdateGroupMember      = "Update-DistributionGroupMember"
	bypassManagerCheck        = "BypassSecurityGroupManagerCheck"
	customAttributeCount      = 15
	customAttributeNameFormat = "CustomAttribute%d"
)

// AddRemove builds the hashtable form of a multi-valued cmdlet parameter,
// the REST spelling of PowerShell's @{Add=...; Remove=...}, for use with
// Invoke (e.g. "EmailAddresses": AddRemove([]string{"smtp:a@x"}, nil)).
// SetDistributionGroup itself always replaces whole values.
func AddRemove(add, remove []string) map[string]any {
	m := map[string]any{"@odata.type": "#Exchange.GenericHashTable"}
	if len(add) > 0 {
		m["Add"] = add
	}
	if len(remove) > 0 {
		m["Remove"] = remove
	}
	return m
}

// AcceptedDomains is Get-AcceptedDomain.
func (c *Client) AcceptedDomains(ctx context.Context) ([]cloud.AcceptedDomain, error) {
	var out []cloud.AcceptedDomain
	_, err := c.Invoke(ctx, cmdGetAcceptedDomain, nil, func(row json.RawMessage) error {
		var d cloud.AcceptedDomain
		if err := json.Unmarshal(row, &d); err != nil {
			return decodeError(cmdGetAcceptedDomain, "", err)
		}
		out = append(out, d)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetRecipient is Get-Recipient -Identity. No match is a NotFound error.
func (c *Client) GetRecipient(ctx context.Context, identity string) (*cloud.ExoRecipient, error) {
	rows, err := c.one(ctx, cmdGetRecipient, identity, map[string]any{"Identity": identity})
	if err != nil {
		return nil, err
	}
	var r cloud.ExoRecipient
	if err := json.Unmarshal(rows, &r); err != nil {
		return nil, decodeError(cmdGetRecipient, identity, err)
	}
	return &r, nil
}

// ListRecipients is Get-Recipient -ResultSize Unlimited [-Filter filter],
// streamed page by page.
func (c *Client) ListRecipients(ctx context.Context, filter string, fn func(*cloud.ExoRecipient) error) (cloud.ReadResult, error) {
	params := map[string]any{"ResultSize": "Unlimited"}
	if filter != "" {
		params["Filter"] = filter
	}
	return c.Invoke(ctx, cmdGetRecipient, params, func(row json.RawMessage) error {
		var r cloud.ExoRecipient
		if err := json.Unmarshal(row, &r); err != nil {
			return decodeError(cmdGetRecipient, "", err)
		}
		return fn(&r)
	})
}

// GetDistributionGroup is Get-DistributionGroup -Identity. No match is a
// NotFound error.
func (c *Client) GetDistributionGroup(ctx context.Context, identity string) (*cloud.DistributionGroup, error) {
	row, err := c.one(ctx, cmdGetDistributionGroup, identity, map[string]any{"Identity": identity})
	if err != nil {
		return nil, err
	}
	return decodeGroup(cmdGetDistributionGroup, identity, row)
}

// NewDistributionGroup is New-DistributionGroup. Empty fields are not sent.
// When g.Settings has fields set, one Set-DistributionGroup call sets them
// next. Members beyond Config.MemberChunk are added last, one
// Add-DistributionGroupMember each, Config.MemberConcurrency at a time. If the settings or an added member
// fail, the group is returned (as New-DistributionGroup returned it)
// together with the error. Settings that Set-DistributionGroup would
// refuse are refused before anything is created.
func (c *Client) NewDistributionGroup(ctx context.Context, g cloud.NewDistributionGroup) (*cloud.DistributionGroup, error) {
	op := fmt.Sprintf("exo %s %q", cmdNewDistributionGroup, g.Name)
	if strings.TrimSpace(g.Name) == "" {
		return nil, retry.New(op, retry.Terminal, errors.New("Name is required"))
	}
	settings, err := setGroupParams(g.Name, g.Settings)
	if err != nil {
		return nil, err
	}
	params := map[string]any{"Name": g.Name}
	setString(params, "DisplayName", g.DisplayName)
	setString(params, "Alias", g.Alias)
	setString(params, "PrimarySmtpAddress", g.PrimarySMTPAddress)
	setString(params, "Type", g.Type)
	if len(g.ManagedBy) > 0 {
		params["ManagedBy"] = g.ManagedBy
	}
	if g.ModerationEnabled {
		params["ModerationEnabled"] = true
	}
	if len(g.ModeratedBy) > 0 {
		params["ModeratedBy"] = g.ModeratedBy
	}
	if g.RequireSenderAuthentication != nil {
		params["RequireSenderAuthenticationEnabled"] = *g.RequireSenderAuthentication
	}
	members := uniqueMembers(g.Members)
	first, rest := members, []string(nil)
	if len(members) > c.cfg.MemberChunk {
		first, rest = members[:c.cfg.MemberChunk], members[c.cfg.MemberChunk:]
	}
	if len(first) > 0 {
		params["Members"] = first
	}

	var rows []json.RawMessage
	_, err = c.Invoke(ctx, cmdNewDistributionGroup, params, func(row json.RawMessage) error {
		rows = append(rows, row)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, retry.New(op, retry.Terminal, errors.New("the cmdlet succeeded but returned no group"))
	}
	created, err := decodeGroup(cmdNewDistributionGroup, g.Name, rows[0])
	if err != nil {
		return nil, err
	}
	identity := firstNonEmpty(created.ExternalDirectoryObjectID, created.GUID, created.PrimarySMTPAddress, g.Name)
	if len(settings) > 2 { // more than Identity and the manager-check bypass
		settings["Identity"] = identity
		if err := c.run(ctx, cmdSetDistributionGroup, settings); err != nil {
			return created, fmt.Errorf("setting the new group's other settings: %w", err)
		}
	}
	if len(rest) > 0 {
		if _, err := c.changeMembers(ctx, cmdAddGroupMember, identity, rest, c.AddGroupMember); err != nil {
			return created, err
		}
	}
	return created, nil
}

// SetDistributionGroup is Set-DistributionGroup with the set fields only;
// with none set it makes no request. Multi-valued fields replace the whole
// value (an empty list is sent as null, which clears it); CustomAttributes
// become CustomAttribute1..15 ("" is sent as null, which clears it).
// PrimarySmtpAddress and EmailAddresses cannot go in one call, so when both
// are set the primary is folded into EmailAddresses as its "SMTP:" entry.
func (c *Client) SetDistributionGroup(ctx context.Context, identity string, ch cloud.GroupChanges) error {
	params, err := setGroupParams(identity, ch)
	if err != nil {
		return err
	}
	if len(params) <= 2 { // Identity and the manager-check bypass only
		return nil
	}
	return c.run(ctx, cmdSetDistributionGroup, params)
}

// setGroupParams builds Set-DistributionGroup's parameters.
func setGroupParams(identity string, ch cloud.GroupChanges) (map[string]any, error) {
	op := fmt.Sprintf("exo %s %q", cmdSetDistributionGroup, identity)
	p := map[string]any{"Identity": identity, bypassManagerCheck: true}
	str := func(name string, v *string) {
		if v != nil {
			p[name] = *v
		}
	}
	boolean := func(name string, v *bool) {
		if v != nil {
			p[name] = *v
		}
	}
	list := func(name string, v *[]string) {
		if v == nil {
			return
		}
		if len(*v) == 0 {
			p[name] = nil
			return
		}
		p[name] = append([]string(nil), (*v)...)
	}
	str("Alias", ch.Alias)
	str("Name", ch.Name)
	str("DisplayName", ch.DisplayName)
	boolean("HiddenFromAddressListsEnabled", ch.HiddenFromAddressLists)
	boolean("RequireSenderAuthenticationEnabled", ch.RequireSenderAuthentication)
	boolean("ModerationEnabled", ch.ModerationEnabled)
	list("ManagedBy", ch.ManagedBy)
	list("ModeratedBy", ch.ModeratedBy)
	list("BypassModerationFromSendersOrMembers", ch.BypassModeration)
	list("AcceptMessagesOnlyFromSendersOrMembers", ch.AcceptMessagesOnlyFrom)
	list("RejectMessagesFromSendersOrMembers", ch.RejectMessagesFrom)
	list("GrantSendOnBehalfTo", ch.GrantSendOnBehalfTo)

	switch {
	case ch.EmailAddresses != nil:
		if len(*ch.EmailAddresses) == 0 {
			return nil, retry.New(op, retry.Terminal, errors.New("EmailAddresses cannot be emptied: a mail-enabled group needs a primary address"))
		}
		addrs := append([]string(nil), (*ch.EmailAddresses)...)
		if ch.PrimarySMTPAddress != nil {
			addrs = withPrimary(addrs, *ch.PrimarySMTPAddress)
		}
		p["EmailAddresses"] = addrs
	case ch.PrimarySMTPAddress != nil:
		p["PrimarySmtpAddress"] = *ch.PrimarySMTPAddress
	}

	for n, v := range ch.CustomAttributes {
		if n < 1 || n > customAttributeCount {
			return nil, retry.New(op, retry.Terminal, fmt.Errorf("custom attribute %d is outside 1..%d", n, customAttributeCount))
		}
		name := fmt.Sprintf(customAttributeNameFormat, n)
		if v == "" {
			p[name] = nil
		} else {
			p[name] = v
		}
	}
	return p, nil
}

// withPrimary makes primary the one "SMTP:" entry of addrs (adding it
// first when absent) and turns every other SMTP entry into "smtp:".
// Entries with no prefix are SMTP addresses.
func withPrimary(addrs []string, primary string) []string {
	found := false
	out := make([]string, 0, len(addrs)+1)
	for _, a := range addrs {
		prefix, addr := "smtp", a
		if i := strings.IndexByte(a, ':'); i > 0 {
			prefix, addr = a[:i], a[i+1:]
		}
		if !strings.EqualFold(prefix, "smtp") {
			out = append(out, a)
			continue
		}
		if strings.EqualFold(addr, primary) {
			if found {
				continue
			}
			found = true
			out = append(out, "SMTP:"+addr)
			continue
		}
		out = append(out, "smtp:"+addr)
	}
	if !found {
		out = append([]string{"SMTP:" + primary}, out...)
	}
	return out
}

// RemoveDistributionGroup is Remove-DistributionGroup -Confirm:$false.
func (c *Client) RemoveDistributionGroup(ctx context.Context, identity string) error {
	return c.run(ctx, cmdRemoveDistributionGrp, map[string]any{
		"Identity": identity, "Confirm": false, bypassManagerCheck: true,
	})
}

// GroupMembers is Get-DistributionGroupMember -ResultSize Unlimited. A
// listing cut short is an error, never a shorter list.
func (c *Client) GroupMembers(ctx context.Context, identity string) ([]cloud.ExoRecipient, error) {
	var out []cloud.ExoRecipient
	// Invoke reports success only once every page was read, so an error
	// is the only way a listing can end short.
	_, err := c.Invoke(ctx, cmdGetGroupMember, map[string]any{"Identity": identity, "ResultSize": "Unlimited"}, func(row json.RawMessage) error {
		var r cloud.ExoRecipient
		if err := json.Unmarshal(row, &r); err != nil {
			return decodeError(cmdGetGroupMember, identity, err)
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AddGroupMember is Add-DistributionGroupMember. A member already there is
// a Conflict error.
func (c *Client) AddGroupMember(ctx context.Context, identity, member string) error {
	return c.run(ctx, cmdAddGroupMember, map[string]any{
		"Identity": identity, "Member": member, bypassManagerCheck: true,
	})
}

// RemoveGroupMember is Remove-DistributionGroupMember -Confirm:$false. A
// member already gone is a Conflict error.
func (c *Client) RemoveGroupMember(ctx context.Context, identity, member string) error {
	return c.run(ctx, cmdRemoveGroupMember, map[string]any{
		"Identity": identity, "Member": member, "Confirm": false, bypassManagerCheck: true,
	})
}

// ReplaceGroupMembers leaves the group with exactly members (duplicates,
// compared case-insensitively, and empty entries dropped) by changing only
// what differs. It reads the current members (Get-DistributionGroupMember)
// and matches each wanted identity, case-insensitively, against every
// identifier of a current member: PrimarySmtpAddress, Alias, Identity,
// Name, Guid, ExternalDirectoryObjectId and each EmailAddresses value with
// or without its "smtp:" prefix. Wanted identities matching no member are
// added, one Add-DistributionGroupMember call each,
// Config.MemberConcurrency at a time; then members no wanted identity
// matched are removed, one Remove-DistributionGroupMember call each, as
// many at a time. "Already a member" and "isn't a
// member" count as done; a wanted identity that turns out to be "already a
// member" under another name (a UPN, say) is resolved with Get-Recipient
// first, so that the member it names is not removed. An unchanged list
// makes no write call. When the group is empty, its first
// Config.MemberChunk members are set with one Update-DistributionGroupMember
// call (which replaces the whole list, so it is used on an empty group
// only) and the rest added as above.
//
// Members are never removed to be re-added, so a failure part-way (the
// error says how far it got) leaves the group with its old members plus
// those added so far, less those removed so far; calling again with the
// same list finishes the job.
func (c *Client) ReplaceGroupMembers(ctx context.Context, identity string, members []string) error {
	members = uniqueMembers(members)
	current, err := c.GroupMembers(ctx, identity)
	if err != nil {
		return err
	}
	if len(current) == 0 {
		if len(members) == 0 {
			return nil
		}
		// The group is empty, so replacing its whole list loses nothing:
		// the first Config.MemberChunk members go in one call, the rest
		// are added MemberConcurrency at a time.
		first, rest := members, []string(nil)
		if len(members) > c.cfg.MemberChunk {
			first, rest = members[:c.cfg.MemberChunk], members[c.cfg.MemberChunk:]
		}
		if err := c.run(ctx, cmdUpdateGroupMember, map[string]any{
			"Identity": identity, "Members": first, "Confirm": false, bypassManagerCheck: true,
		}); err != nil {
			return err
		}
		_, err := c.changeMembers(ctx, cmdAddGroupMember, identity, rest, c.AddGroupMember)
		return err
	}

	m := newMemberMatch(current)
	var add []string
	for _, w := range members {
		if !m.keep(w) {
			add = append(add, w)
		}
	}
	already, err := c.changeMembers(ctx, cmdAddGroupMember, identity, add, c.AddGroupMember)
	if err != nil {
		return err
	}
	// Exchange knew these as members under a name the listing does not
	// show; find out which member each is before removing anything.
	for _, w := range already {
		r, err := c.GetRecipient(ctx, w)
		if err != nil {
			return fmt.Errorf("resolving %q, already a member under another name, before removing members: %w", w, err)
		}
		for _, k := range []string{r.GUID, r.ExternalDirectoryObjectID, r.PrimarySMTPAddress} {
			m.keep(k)
		}
	}
	_, err = c.changeMembers(ctx, cmdRemoveGroupMember, identity, m.unkept(), c.RemoveGroupMember)
	return err
}

// memberMatch matches identities against the identifiers of a group's
// current members.
type memberMatch struct {
	current []cloud.ExoRecipient
	byKey   map[string][]int
	kept    []bool
}

func newMemberMatch(current []cloud.ExoRecipient) *memberMatch {
	m := &memberMatch{current: current, byKey: make(map[string][]int, len(current)*6), kept: make([]bool, len(current))}
	for i, r := range current {
		for _, k := range memberKeys(r) {
			if ids := m.byKey[k]; len(ids) == 0 || ids[len(ids)-1] != i {
				m.byKey[k] = append(ids, i)
			}
		}
	}
	return m
}

// keep marks every member identity names (case-insensitively) as wanted
// and reports whether there was one. An identity naming several members
// keeps them all.
func (m *memberMatch) keep(identity string) bool {
	k := strings.ToLower(strings.TrimSpace(identity))
	if k == "" {
		return false
	}
	ids := m.byKey[k]
	for _, i := range ids {
		m.kept[i] = true
	}
	return len(ids) > 0
}

// unkept returns, in listing order, the identity to remove each member not
// kept by.
func (m *memberMatch) unkept() []string {
	var out []string
	for i, r := range m.current {
		if m.kept[i] {
			continue
		}
		if id := memberIdentity(r); id != "" {
			out = append(out, id)
		}
	}
	return out
}

// memberKeys returns the lower-cased identifiers a member answers to.
func memberKeys(r cloud.ExoRecipient) []string {
	keys := make([]string, 0, 6+2*len(r.EmailAddresses))
	add := func(v string) {
		if v = strings.ToLower(strings.TrimSpace(v)); v != "" {
			keys = append(keys, v)
		}
	}
	add(r.PrimarySMTPAddress)
	add(r.Alias)
	add(r.Identity)
	add(r.Name)
	add(r.GUID)
	add(r.ExternalDirectoryObjectID)
	for _, a := range r.EmailAddresses {
		add(a)
		if a = strings.TrimSpace(a); len(a) > 5 && strings.EqualFold(a[:5], "smtp:") {
			add(a[5:])
		}
	}
	return keys
}

// memberIdentity is what a member to remove is named by: its most stable
// unique identifier.
func memberIdentity(r cloud.ExoRecipient) string {
	return strings.TrimSpace(firstNonEmpty(r.GUID, r.ExternalDirectoryObjectID, r.PrimarySMTPAddress, r.Identity, r.Alias, r.Name))
}

// run invokes a cmdlet whose output is not needed.
func (c *Client) run(ctx context.Context, cmdlet string, params map[string]any) error {
	_, err := c.Invoke(ctx, cmdlet, params, func(json.RawMessage) error { return nil })
	return err
}

// one invokes a cmdlet expected to return exactly one row.
func (c *Client) one(ctx context.Context, cmdlet, identity string, params map[string]any) (json.RawMessage, error) {
	op := fmt.Sprintf("exo %s %q", cmdlet, identity)
	var rows []json.RawMessage
	_, err := c.Invoke(ctx, cmdlet, params, func(row json.RawMessage) error {
		rows = append(rows, row)
		if len(rows) > 1 {
			return retry.New(op, retry.Terminal, errors.New("identity matches more than one object"))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, retry.New(op, retry.NotFound, errors.New("no object returned"))
	}
	return rows[0], nil
}

// decodeGroup decodes a Get-/New-DistributionGroup row, gathering
// CustomAttribute1..15 into CustomAttributes (keyed by those names, empty
// values left out).
func decodeGroup(cmdlet, identity string, row json.RawMessage) (*cloud.DistributionGroup, error) {
	var g cloud.DistributionGroup
	if err := json.Unmarshal(row, &g); err != nil {
		return nil, decodeError(cmdlet, identity, err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(row, &fields); err != nil {
		return nil, decodeError(cmdlet, identity, err)
	}
	lower := make(map[string]json.RawMessage, len(fields))
	for k, v := range fields {
		lower[strings.ToLower(k)] = v
	}
	for n := 1; n <= customAttributeCount; n++ {
		name := fmt.Sprintf(customAttributeNameFormat, n)
		raw, ok := lower[strings.ToLower(name)]
		if !ok {
			continue
		}
		var v *string
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, decodeError(cmdlet, identity, fmt.Errorf("%s: %w", name, err))
		}
		if v == nil || *v == "" {
			continue
		}
		if g.CustomAttributes == nil {
			g.CustomAttributes = make(map[string]string)
		}
		g.CustomAttributes[name] = *v
	}
	return &g, nil
}

func decodeError(cmdlet, identity string, err error) error {
	op := "exo " + cmdlet
	if identity != "" {
		op = fmt.Sprintf("exo %s %q", cmdlet, identity)
	}
	return retry.New(op, retry.Terminal, fmt.Errorf("decoding result: %w", err))
}

// uniqueMembers drops empty and repeated (case-insensitively) entries,
// keeping the first occurrence's order.
func uniqueMembers(in []string) []string {
	seen := make(map[string]bool, len(in))
	var out []string
	for _, m := range in {
		m = strings.TrimSpace(m)
		k := strings.ToLower(m)
		if m == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, m)
	}
	return out
}

func setString(p map[string]any, name, v string) {
	if v != "" {
		p[name] = v
	}
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
