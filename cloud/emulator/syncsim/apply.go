package syncsim

import (
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/cloud/emulator"
	"github.com/hybridsync/hybridsync/reconcile/plan"
	"github.com/hybridsync/hybridsync/reconcile/proxycalc"
)

// Entra Connect's export error texts: AttributeValueMustBeUnique (KB 2647098,
// event 6941) and DataValidationFailed (as shown by Synchronization
// Service Manager).
const (
	msgNotUnique = "Unable to update this object because the following attributes associated with this object " +
		"have values that may already be associated with another object in your local directory services: " +
		"[%s %s;]. Correct or remove the duplicate values in your local directory. Please refer to " +
		"https://support.microsoft.com/kb/2647098 for more information on identifying objects with duplicate attribute values."
	msgDataValidation = "Unable to update this object in Azure Active Directory, because the attribute [%s], is not valid. " +
		"Update the value in your local directory services."
)

// status is what a cycle did to one object.
type status int

const (
	stUnchanged status = iota
	stUpdated
	stCreated
	stSkipped // cloud twin not managed by sync
)

// outcome is one projected object.
type outcome struct {
	it     *item
	id     string // cloud object id
	status status
	errs   []emulator.ExportError
	// conflicted is set when a value was quarantined.
	conflicted bool
}

// applier applies one read to the tenant inside one transaction.
type applier struct {
	tx       *emulator.Tx
	cfg      Config
	log      *slog.Logger
	rd       *readSet
	tenant   proxycalc.Tenant
	accepted map[string]bool
	initial  string
	// prevErrs are the export errors recorded before the cycle, by
	// immutableId and by object id.
	prevByIID, prevByID map[string][]emulator.ExportError

	counts           counts
	pendingDeletions int
}

func newApplier(tx *emulator.Tx, cfg Config, rd *readSet) *applier {
	a := &applier{tx: tx, cfg: cfg, log: cfg.Logger, rd: rd, initial: tx.InitialDomain(), accepted: map[string]bool{},
		prevByIID: map[string][]emulator.ExportError{}, prevByID: map[string][]emulator.ExportError{}}
	a.tenant.InitialDomain = a.initial
	for _, d := range tx.AcceptedDomains() {
		a.tenant.VerifiedDomains = append(a.tenant.VerifiedDomains, d.DomainName)
		a.accepted[strings.ToLower(d.DomainName)] = true
	}
	a.accepted[strings.ToLower(a.initial)] = true
	for _, e := range tx.ExportErrors() {
		if e.ImmutableID != "" {
			a.prevByIID[e.ImmutableID] = append(a.prevByIID[e.ImmutableID], e)
		} else if e.ObjectID != "" {
			a.prevByID[e.ObjectID] = append(a.prevByID[e.ObjectID], e)
		}
	}
	return a
}

func (a *applier) apply() error {
	// Deletions are decided first so that a cycle over the threshold
	// touches nothing.
	seen := make(map[string]bool, len(a.rd.items))
	for _, it := range a.rd.items {
		seen[it.iid] = true
	}
	var doomed []*emulator.Object
	for _, k := range []cloud.Kind{cloud.KindUser, cloud.KindGroup, cloud.KindContact} {
		for _, o := range a.tx.List(k) {
			if o.SyncManaged() && o.OnPremisesImmutableID != "" && !seen[o.OnPremisesImmutableID] {
				doomed = append(doomed, o)
			}
		}
	}
	if a.cfg.DeleteThreshold >= 0 && len(doomed) > a.cfg.DeleteThreshold {
		a.pendingDeletions = len(doomed)
		return fmt.Errorf("%w: the cycle would delete %d objects, more than the threshold of %d; nothing was applied",
			ErrDeletionThresholdExceeded, len(doomed), a.cfg.DeleteThreshold)
	}

	outs := make([]*outcome, 0, len(a.rd.items))
	for _, it := range a.rd.items {
		out, err := a.project(it)
		if err != nil {
			return err
		}
		outs = append(outs, out)
	}
	// Values quarantined because another object held them may have been
	// released later in the same pass.
	for i, out := range outs {
		if !out.conflicted {
			continue
		}
		again, err := a.project(out.it)
		if err != nil {
			return err
		}
		again.status = max(again.status, out.status) // created stays created
		outs[i] = again
	}

	cloudIDs := make(map[string]string, len(outs))
	for _, out := range outs {
		if out.id != "" {
			cloudIDs[out.it.iid] = out.id
		}
	}
	for _, out := range outs {
		if out.status == stSkipped {
			continue
		}
		if out.it.kind == cloud.KindGroup {
			changed, err := a.setMembers(out, cloudIDs)
			if err != nil {
				return err
			}
			linksChanged, err := a.setGroupLinks(out, cloudIDs)
			if err != nil {
				return err
			}
			if (changed || linksChanged) && out.status == stUnchanged {
				out.status = stUpdated
			}
		}
		a.syncExportErrors(out)
	}

	for _, o := range doomed {
		del := a.tx.Delete
		if o.Kind == cloud.KindGroup && o.GroupType() != cloud.GroupMicrosoft365 {
			// Security and distribution groups are deleted for good at
			// once; only Microsoft 365 groups go to the recycle bin
			// (https://learn.microsoft.com/graph/api/group-delete).
			del = a.tx.HardDelete
		}
		if err := del(o.ID); err != nil {
			return fmt.Errorf("syncsim: delete %s: %w", o.ID, err)
		}
		a.tx.ClearExportErrors(o.ID, o.OnPremisesImmutableID)
		a.log.Info("deleted object no longer in scope", "id", o.ID, "kind", o.Kind, "dn", o.OnPremisesDistinguishedName)
		a.counts.deleted++
	}
	for _, out := range outs {
		switch out.status {
		case stCreated:
			a.counts.created++
		case stUpdated:
			a.counts.updated++
		case stUnchanged:
			a.counts.unchanged++
		case stSkipped:
			a.counts.skippedCloud++
		}
	}
	return nil
}

// project creates or updates the cloud twin of one recipient.
func (a *applier) project(it *item) (*outcome, error) {
	r, tx := it.r, a.tx
	out := &outcome{it: it}
	existing := tx.FindByImmutableID(it.kind, it.iid)
	if existing != nil && !existing.SyncManaged() {
		a.log.Debug("cloud twin not managed by sync, left alone", "dn", r.DN, "id", existing.ID)
		out.status = stSkipped
		if !existing.Deleted() {
			out.id = existing.ID
		}
		return out, nil
	}
	out.status = stUnchanged
	if existing == nil {
		out.status = stCreated
	} else if existing.Deleted() {
		// Entra ID restores a soft-deleted object on a hard match.
		if err := tx.Restore(existing.ID); err != nil {
			return nil, fmt.Errorf("syncsim: restore %s: %w", existing.ID, err)
		}
		existing = tx.Get(existing.ID)
		out.status = stCreated
	}

	o := &emulator.Object{Kind: it.kind}
	if existing != nil {
		o = existing.Clone()
	}
	self := o.ID // "" for a new object
	o.OnPremisesSyncEnabled = true
	o.OnPremisesImmutableID = it.iid
	o.OnPremisesSecurityIdentifier = r.SID
	o.OnPremisesDistinguishedName = r.DN
	o.DisplayName = r.DisplayName
	if o.DisplayName == "" {
		o.DisplayName = r.Name
	}
	if it.kind == cloud.KindGroup {
		o.MailEnabled = r.MailEnabled()
		o.SecurityEnabled = r.GroupType != nil && r.GroupType.Security
		o.GroupTypes = nil
		o.Exchange.ModerationEnabled = r.ModerationEnabled
		o.Exchange.RequireSenderAuthenticationEnabled = r.RequireSenderAuth
	}
	o.Exchange.HiddenFromAddressListsEnabled = r.HiddenFromGAL
	for i := range o.Exchange.CustomAttributes {
		o.Exchange.CustomAttributes[i] = r.ExtensionAttributes["extensionAttribute"+strconv.Itoa(i+1)]
	}

	licensed := it.kind == cloud.KindUser && a.rd.licensed[plan.DNKey(r.DN)]
	in := plan.ProxyCalcInput(r, licensed) // as the planner predicts it
	var prev *proxycalc.Previous
	if existing != nil {
		prev = &proxycalc.Previous{Mail: existing.Mail, MailNickname: existing.MailNickname, ProxyAddresses: existing.ProxyAddresses}
	}
	res := proxycalc.Compute(in, a.tenant, prev, proxycalc.Options{TakenMOERA: func(addr string) bool {
		h := tx.FindByProxyAddress(addr)
		return h != nil && h.ID != self
	}})
	for _, d := range res.Dropped {
		if d.Rule != proxycalc.RuleDroppedMalformed {
			continue
		}
		attr := map[string]string{proxycalc.SourceProxyAddresses: AttrProxyAddresses, proxycalc.SourceMail: AttrMail}[d.Source]
		if attr == "" {
			continue
		}
		a.log.Warn("malformed value not synced", "dn", r.DN, "attribute", attr, "value", d.Value, "reason", d.Reason)
		out.errs = append(out.errs, emulator.ExportError{
			ErrorType: ErrorTypeDataValidation, Attribute: attr, Value: d.Value,
			Message: fmt.Sprintf(msgDataValidation, exportAttrName(attr)),
		})
	}
	o.Mail, o.MailNickname, o.ProxyAddresses = res.Mail, res.MailNickname, nilIfEmpty(res.Values())
	if it.kind == cloud.KindUser {
		o.UserPrincipalName = a.cloudUPN(r)
	}

	// Put, quarantining every value another object holds (duplicate
	// attribute resiliency): the rest of the object still syncs.
	maxAttempts := len(o.ProxyAddresses) + 3
	for attempt := 0; ; attempt++ {
		stored, err := tx.Put(o)
		var ue *emulator.UniquenessError
		if errors.As(err, &ue) && attempt < maxAttempts {
			out.conflicted = true
			switch ue.Attribute {
			case "UserPrincipalName":
				out.errs = append(out.errs, notUnique(AttrUserPrincipalName, o.UserPrincipalName))
				a.log.Warn("userPrincipalName held by another object", "dn", r.DN, "upn", o.UserPrincipalName, "holder", ue.ConflictsID)
				if existing != nil && existing.UserPrincipalName != "" && !strings.EqualFold(existing.UserPrincipalName, o.UserPrincipalName) {
					o.UserPrincipalName = existing.UserPrincipalName
				} else {
					upn, err := a.placeholderUPN(o.UserPrincipalName, it.iid, self)
					if err != nil {
						return nil, fmt.Errorf("syncsim: %s: %w", r.DN, err)
					}
					o.UserPrincipalName = upn
				}
			default:
				out.errs = append(out.errs, notUnique(AttrProxyAddresses, ue.Value))
				a.log.Warn("proxy address held by another object, quarantined", "dn", r.DN, "value", ue.Value, "holder", ue.ConflictsID)
				o.ProxyAddresses, o.Mail = quarantine(o.ProxyAddresses, ue.Value, a.initial)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("syncsim: put %s: %w", r.DN, err)
		}
		out.id = stored.ID
		if existing != nil && out.status == stUnchanged && stored.Seq != existing.Seq {
			out.status = stUpdated
		}
		if it.kind == cloud.KindUser && stored.ExchangeLicensed != licensed {
			if err := tx.SetExchangeLicense(stored.ID, licensed); err != nil {
				return nil, fmt.Errorf("syncsim: licence %s: %w", r.DN, err)
			}
			if out.status == stUnchanged {
				out.status = stUpdated
			}
		}
		for i := range out.errs {
			out.errs[i].ObjectID, out.errs[i].ImmutableID = stored.ID, it.iid
		}
		a.log.Debug("projected", "dn", r.DN, "id", stored.ID, "status", out.status, "export_errors", len(out.errs))
		return out, nil
	}
}

func exportAttrName(attr string) string {
	switch attr {
	case AttrProxyAddresses:
		return "ProxyAddresses"
	case AttrUserPrincipalName:
		return "UserPrincipalName"
	case AttrMail:
		return "Mail"
	}
	return attr
}

func notUnique(attr, value string) emulator.ExportError {
	return emulator.ExportError{
		ErrorType: ErrorTypeNotUnique, Attribute: attr, Value: value,
		Message: fmt.Sprintf(msgNotUnique, exportAttrName(attr), value),
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// quarantine removes value from addrs. When it was the primary, the MOERA
// (else the first remaining smtp: value) is promoted; it returns the new
// addresses and mail.
func quarantine(addrs []string, value, initialDomain string) ([]string, string) {
	var rest []string
	wasPrimary := false
	for _, v := range addrs {
		if strings.EqualFold(v, value) {
			wasPrimary = wasPrimary || strings.HasPrefix(v, "SMTP:")
			continue
		}
		rest = append(rest, v)
	}
	mail := ""
	promote := -1
	for i, v := range rest {
		switch {
		case strings.HasPrefix(v, "SMTP:"):
			return nilIfEmpty(rest), v[5:]
		case wasPrimary && strings.EqualFold(v[:min(len(v), 5)], "smtp:"):
			if promote < 0 || strings.HasSuffix(strings.ToLower(v), "@"+strings.ToLower(initialDomain)) &&
				!strings.HasSuffix(strings.ToLower(rest[promote]), "@"+strings.ToLower(initialDomain)) {
				promote = i
			}
		}
	}
	if promote >= 0 {
		mail = rest[promote][5:]
		rest = append([]string{"SMTP:" + mail}, slices.Delete(rest, promote, promote+1)...)
	}
	return nilIfEmpty(rest), mail
}

// cloudUPN is the userPrincipalName Entra ID gives the user: the AD UPN,
// with the initial domain when its suffix is not an accepted domain; an
// empty UPN becomes sAMAccountName@initial domain.
func (a *applier) cloudUPN(r *ad.Recipient) string {
	upn := r.UPN
	if upn == "" {
		prefix := r.SAMAccountName
		if prefix == "" {
			prefix = r.MailNickname
		}
		if prefix == "" {
			prefix = strings.ReplaceAll(r.GUID, "-", "")
		}
		return prefix + "@" + a.initial
	}
	at := strings.LastIndexByte(upn, '@')
	if at < 0 {
		return upn + "@" + a.initial
	}
	if !a.accepted[strings.ToLower(upn[at+1:])] {
		return upn[:at] + "@" + a.initial
	}
	return upn
}

// placeholderUPN is the UPN duplicate attribute resiliency gives a user
// whose UPN is taken: <prefix><4 digits>@<initial domain>. The digits are a
// hash of the immutableId and attempt, so they are reproducible.
func (a *applier) placeholderUPN(upn, iid, self string) (string, error) {
	prefix := upn
	if at := strings.LastIndexByte(upn, '@'); at >= 0 {
		prefix = upn[:at]
	}
	for attempt := 0; attempt < 1000; attempt++ {
		h := fnv.New32a()
		fmt.Fprintf(h, "%s\x00%d", iid, attempt)
		cand := fmt.Sprintf("%s%04d@%s", prefix, h.Sum32()%10000, a.initial)
		if o := a.tx.FindByUPN(cand); o == nil || o.ID == self {
			return cand, nil
		}
	}
	return "", fmt.Errorf("no free placeholder UPN for %s", upn)
}

// setMembers sets a synced group's members to the cloud ids of its AD
// members synced in this read. It reports whether they changed.
func (a *applier) setMembers(out *outcome, cloudIDs map[string]string) (bool, error) {
	var ids []string
	for _, m := range out.it.r.Members {
		iid, ok := a.rd.byDN[plan.DNKey(m)]
		id := cloudIDs[iid]
		if !ok || id == "" || id == out.id {
			a.counts.droppedMembers++
			a.log.Debug("member not synced, reference dropped", "group", out.it.r.DN, "member", m)
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	cur := a.tx.Get(out.id)
	if cur == nil {
		return false, fmt.Errorf("syncsim: group %s vanished", out.id)
	}
	have := slices.Clone(cur.Members)
	slices.Sort(have)
	if slices.Equal(have, ids) {
		return false, nil
	}
	if err := a.tx.SetMembers(out.id, ids); err != nil {
		return false, fmt.Errorf("syncsim: members of %s: %w", out.it.r.DN, err)
	}
	return true, nil
}

// setGroupLinks sets a synced group's Exchange recipient lists from its AD
// links, as Entra Connect's group rules flow them: owners (managedBy and
// msExchCoManagedByLink), moderators (msExchModeratedByLink), moderation
// bypass (msExchBypassModerationLink), accepted senders (authOrig and
// dLMemSubmitPerms), rejected senders (unauthOrig and dLMemRejectPerms)
// and send-on-behalf (publicDelegates). Links to objects this read does
// not sync are dropped, as for members. It reports whether they changed.
func (a *applier) setGroupLinks(out *outcome, cloudIDs map[string]string) (bool, error) {
	r := out.it.r
	resolve := func(dnLists ...[]string) []string {
		ids := []string{}
		for _, l := range dnLists {
			for _, m := range l {
				if m == "" {
					continue
				}
				id := cloudIDs[a.rd.byDN[plan.DNKey(m)]]
				if id == "" {
					continue
				}
				if !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
			}
		}
		return ids
	}
	cur := a.tx.Get(out.id)
	if cur == nil {
		return false, fmt.Errorf("syncsim: group %s vanished", out.id)
	}
	n := cur.Clone()
	x := &n.Exchange
	x.ManagedBy = resolve([]string{r.ManagedBy}, r.CoManagedBy)
	x.ModeratedBy = resolve(r.ModeratedBy)
	x.BypassModerationFromSendersOrMembers = resolve(r.BypassModeration)
	x.AcceptMessagesOnlyFromSendersOrMembers = resolve(r.AcceptFrom, r.AcceptFromMembersOf)
	x.RejectMessagesFromSendersOrMembers = resolve(r.RejectFrom, r.RejectFromMembersOf)
	x.GrantSendOnBehalfTo = resolve(r.SendOnBehalf)
	same := func(a, b []string) bool { return len(a) == 0 && len(b) == 0 || slices.Equal(a, b) }
	cx := &cur.Exchange
	if same(cx.ManagedBy, x.ManagedBy) && same(cx.ModeratedBy, x.ModeratedBy) &&
		same(cx.BypassModerationFromSendersOrMembers, x.BypassModerationFromSendersOrMembers) &&
		same(cx.AcceptMessagesOnlyFromSendersOrMembers, x.AcceptMessagesOnlyFromSendersOrMembers) &&
		same(cx.RejectMessagesFromSendersOrMembers, x.RejectMessagesFromSendersOrMembers) &&
		same(cx.GrantSendOnBehalfTo, x.GrantSendOnBehalfTo) {
		return false, nil
	}
	if _, err := a.tx.Put(n); err != nil {
		return false, fmt.Errorf("syncsim: owners, moderation and delivery restrictions of %s: %w", r.DN, err)
	}
	return true, nil
}

// syncExportErrors makes the tenant's export errors for the object those of
// this cycle, keeping the first-seen time of errors that persist and
// writing nothing when they are unchanged.
func (a *applier) syncExportErrors(out *outcome) {
	var prev []emulator.ExportError
	prev = append(prev, a.prevByIID[out.it.iid]...)
	prev = append(prev, a.prevByID[out.id]...)
	key := func(e emulator.ExportError) string {
		return strings.Join([]string{e.ErrorType, e.Attribute, strings.ToLower(e.Value), e.ObjectID, e.ImmutableID}, "\x00")
	}
	prevTime := map[string]emulator.ExportError{}
	for _, e := range prev {
		prevTime[key(e)] = e
	}
	want := out.errs[:0:0]
	seen := map[string]bool{}
	for _, e := range out.errs {
		if k := key(e); !seen[k] {
			seen[k] = true
			if p, ok := prevTime[k]; ok {
				e.Time = p.Time
			}
			want = append(want, e)
		}
	}
	same := len(prev) == len(want)
	for _, e := range want {
		if _, ok := prevTime[key(e)]; !ok {
			same = false
		}
	}
	if !same {
		if len(prev) > 0 {
			a.tx.ClearExportErrors(out.id, out.it.iid)
		}
		for _, e := range want {
			a.tx.RecordExportError(e)
		}
	}
	// Report what the tenant now holds (times filled in).
	for i := range want {
		if want[i].Time.IsZero() {
			want[i].Time = a.tx.Now()
		}
	}
	out.errs = want
	a.counts.exportErrors = append(a.counts.exportErrors, want...)
}
