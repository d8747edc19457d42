package plan

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/reconcile/proxycalc"
)

// Every text a finding shows an admin is built here, from the finding's
// Facts, one type per kind:
//
//   - kindText: what Render prints once for all the findings of a kind,
//     without any object's values;
//   - describe: the finding's Evidence, Explanation and Fix, for --json and
//     the verbose rendering (Build calls it as it adds the finding);
//   - line: what the compact rendering prints on the finding's one line
//     after the object's name: the key values and the action.
//
// The texts are built by concatenation (one allocation each) rather than
// fmt: Build describes tens of thousands of findings on a large tenant.

// Public sources the kind texts cite: title and address.
const (
	kbProxyAddresses = `KB 3190357, "How the proxyAddresses attribute is populated in Microsoft Entra ID", ` +
		"https://learn.microsoft.com/en-us/troubleshoot/entra/entra-id/user-prov-sync/proxyaddresses-attribute-populate"
	learnSyncErrors = `"Understanding errors during Microsoft Entra synchronization", ` +
		"https://learn.microsoft.com/en-us/entra/identity/hybrid/connect/tshoot-connect-sync-errors"
	learnDuplicateResiliency = `"Identity synchronization and duplicate attribute resiliency", ` +
		"https://learn.microsoft.com/en-us/entra/identity/hybrid/connect/how-to-connect-syncservice-duplicate-attribute-resiliency"
	learnCertificateUserIDs = `"Mapping to the certificateUserIds attribute in Microsoft Entra ID", ` +
		"https://learn.microsoft.com/en-us/entra/identity/authentication/concept-certificate-based-authentication-certificateuserids"
)

// kindDoc is what Render prints once for the findings of a kind: what
// they mean, what to do, and the public article that says so ("" when
// none).
type kindDoc struct {
	explanation, fix, source string
}

// kindText returns the text Render prints once for the findings of kind k.
func kindText(k FindingKind) kindDoc {
	switch k {
	case MailNotPrimary:
		return kindDoc{
			"proxyAddresses is set but SMTP:<mail> is not its primary, so Entra ID ignores mail (as after Exchange " +
				"hybrid writes an x500 value back). error: mail to the new address does not arrive; warning: the next " +
				"change to mail will not reach the cloud.",
			"make mail the SMTP: value and keep the cloud's current primary as an smtp: value, in one modify of " +
				"proxyAddresses (\"~ fix\": hybridsync apply writes it).",
			kbProxyAddresses,
		}
	case AddressDropped:
		return kindDoc{
			"Entra ID discards on-premises values it cannot use (a domain the tenant has not verified, a reserved " +
				"domain, a legacy type such as X400, a malformed value): the cloud will not hold them, and mail sent " +
				"to them does not reach Exchange Online.",
			"verify the domain in the tenant, or correct or remove the value in AD; only an admin knows whether it " +
				"is still needed, so nothing is changed automatically.",
			kbProxyAddresses,
		}
	case DuplicateAddress:
		return kindDoc{
			"more than one object holds the address. Entra ID requires every address to be unique in the tenant: " +
				"the sync quarantines it on the object exported second (AttributeValueMustBeUnique), and mail to it " +
				"reaches only the object that holds it first.",
			"keep the address on one object only: remove it from the others in AD (or in Exchange Online from a cloud-only object).",
			learnDuplicateResiliency,
		}
	case LargeObject:
		return kindDoc{
			"the object holds more proxyAddresses values than the limit planned for. Entra Connect refuses to " +
				"export an object over its size limit (LargeObject; about 332 proxyAddresses on a user with few other " +
				"attributes), so none of its changes reach the cloud.",
			"remove the values no longer used (old smtp: and x500: values) from proxyAddresses in AD.",
			learnSyncErrors,
		}
	case CertificateUserIDFormat:
		return kindDoc{
			"certificateUserIds values must follow the X509:<PN>, <RFC822>, <SKI>, <SHA1-PUKEY>, <S> or <I>...<S>/<SR> " +
				"formats with the exact case, and a user holds only a few of them; Entra ID rejects the export of a " +
				"user that breaks this (DataValidationFailed), so none of its changes are written.",
			"correct the sync rule that writes certificateUserIds (or the AD value).",
			learnCertificateUserIDs,
		}
	case AddressDrift:
		return kindDoc{
			"the cloud's addresses differ from what hybridsync predicts from AD, and no other finding explains it: " +
				"a sync cycle may not have run since AD changed, an export may be failing, or the object was changed in the cloud.",
			"run a delta sync cycle (Start-ADSyncSyncCycle -PolicyType Delta), check the object's export errors in " +
				"Synchronization Service Manager, then plan again.",
			learnSyncErrors,
		}
	case UPNSecondaryByDesign:
		return kindDoc{
			"the cloud lists the userPrincipalName as a secondary address although AD proxyAddresses does not hold " +
				"it: Entra ID adds it to every Exchange Online recipient by design. This is not drift.",
			"none needed.",
			kbProxyAddresses,
		}
	case MissingInCloud:
		return kindDoc{
			"the object is in sync scope, but no cloud object has its anchor (onPremisesImmutableId, " +
				"or a group's SID): the next sync cycle should create it, unless an export error blocks it.",
			"run a sync cycle; if the object still has no cloud twin, check its export errors in Synchronization Service Manager.",
			"",
		}
	case MissingInAD:
		return kindDoc{
			"a synced cloud object has no AD source in sync scope, so the next sync cycle soft-deletes it (restorable " +
				"for 30 days) and it counts against the delete threshold; after an incomplete read no deletion is counted.",
			"if it must stay, bring its AD source back into scope (move it under a scope OU, mail-enable it, or " +
				"restore it from the AD Recycle Bin) before the next sync; otherwise nothing to do.",
			"",
		}
	case TypeMismatch:
		return kindDoc{
			"an AD object's anchor matches a cloud object of another type, so Entra Connect cannot update it and the export fails.",
			"decide which object is right: delete the cloud object so the sync recreates it with the right type, or correct the AD object.",
			learnSyncErrors,
		}
	case AnchorInvalid:
		return kindDoc{
			"the object is in sync scope but its source anchor cannot be computed, so it cannot be joined; no " +
				"deletion is proposed while this is so.",
			"re-read the object; if the anchor is really missing or malformed, fix the AD read or the anchor configuration.",
			"",
		}
	case MigratedListAddress:
		return kindDoc{
			"a list migrated to Exchange Online had its primary address changed in the cloud (the Exchange admin " +
				"center, Set-DistributionGroup), but the on-premises dynamic list that keeps on-premises senders " +
				"reaching it still carries the old one: on-premises Exchange does not know the new address, so its " +
				"senders cannot reach the list by it and its address book shows the old one.",
			"give the dynamic list the cloud's primary address, keeping the old one as an smtp: value, in one modify " +
				"of mail and proxyAddresses (\"~ fix\": hybridsync apply writes it); change a migrated list's address " +
				"with hybridsync migrate address, which writes both directories.",
			"",
		}
	}
	return kindDoc{}
}

// findingText builds the texts of one finding from its facts.
type findingText interface {
	// describe returns f's Evidence, Explanation and Fix.
	describe(f *Finding) (evidence, explanation, fix string)
	// line returns what the compact rendering prints after f's name: the
	// key values and the action ("~ fix: ..." or "no automatic fix: ...").
	line(f *Finding) (values, action string)
}

// text returns the facts that are set, or nil.
func (x *Facts) text() findingText {
	switch {
	case x.MailNotPrimary != nil:
		return x.MailNotPrimary
	case x.AddressDropped != nil:
		return x.AddressDropped
	case x.DuplicateAddress != nil:
		return x.DuplicateAddress
	case x.LargeObject != nil:
		return x.LargeObject
	case x.CertificateUserIDFormat != nil:
		return x.CertificateUserIDFormat
	case x.AddressDrift != nil:
		return x.AddressDrift
	case x.UPNSecondaryByDesign != nil:
		return x.UPNSecondaryByDesign
	case x.MissingInCloud != nil:
		return x.MissingInCloud
	case x.MissingInAD != nil:
		return x.MissingInAD
	case x.TypeMismatch != nil:
		return x.TypeMismatch
	case x.AnchorInvalid != nil:
		return x.AnchorInvalid
	case x.MigratedListAddress != nil:
		return x.MigratedListAddress
	}
	return nil
}

// describe sets f's Evidence, Explanation and Fix from its facts.
func (f *Finding) describe() {
	if t := f.Facts.text(); t != nil {
		f.Evidence, f.Explanation, f.Fix = t.describe(f)
	}
}

// line returns f's compact line after its name. Without facts (a plan
// written by an older version) it falls back to the evidence.
func (f *Finding) line() (values, action string) {
	if t := f.Facts.text(); t != nil {
		return t.line(f)
	}
	if f.Action != nil {
		return f.Evidence, "~ fix: " + describeChange(f.Action)
	}
	return f.Evidence, "no automatic fix"
}

// --- MailNotPrimary

func (x *MailNotPrimaryFacts) describe(f *Finding) (evidence, explanation, fix string) {
	state := x.state()
	twin, twinMail := "", ""
	if x.HasTwin {
		twin, twinMail = "; cloud mail now ", orNone(x.CloudMail)
	}
	evidence = "mail " + x.Mail + "; " + state + "; predicted cloud primary " + orNone(x.PredictedPrimary) + twin + twinMail
	if f.Severity == SeverityWarning { // the cloud's primary is mail today
		cause := ""
		if len(x.Primaries) == 0 {
			cause = " (as after Exchange hybrid writes an x500 value back to proxyAddresses of a user that had only mail)"
		}
		explanation = f.ObjectDN + ": mail is " + x.Mail + " and the cloud's primary is " + x.PredictedPrimary + " today, but " +
			state + ", so ProxyCalc reads proxyAddresses and not mail: the next change to mail will not reach the cloud" +
			cause + ". " + f.Rule.Explain()
	} else {
		explanation = f.ObjectDN + ": mail is " + x.Mail + " but " + state + ", so ProxyCalc reads proxyAddresses instead of mail " +
			"and the cloud's primary SMTP address is " + orNone(x.PredictedPrimary) + "; mail sent to " + x.Mail +
			" does not reach the Exchange Online recipient. " + f.Rule.Explain()
	}
	act := f.Action
	if act == nil {
		act = x.Proposed
	}
	kept := ""
	if len(x.Kept) > 0 {
		kept = "; the cloud's primary then follows mail and " + strings.Join(x.Kept, ", ") +
			" stays a secondary address, so it still receives mail"
	}
	if x.Blocked != "" {
		fix = "Not proposed automatically: " + x.blockedWhy() + ". Then dual write in AD, in one modify of proxyAddresses: " +
			describeChange(act) + kept + "."
	} else {
		fix = "Dual write in AD, in one modify of proxyAddresses: " + describeChange(act) + kept + "."
	}
	return evidence, explanation, fix
}

// state says what proxyAddresses holds instead of SMTP:mail.
func (x *MailNotPrimaryFacts) state() string {
	switch len(x.Primaries) {
	case 0:
		return "proxyAddresses holds no SMTP: value (it holds " + listValues(x.Held) + ")"
	case 1:
		return "the primary SMTP address in proxyAddresses is " + x.Primaries[0].String()
	}
	return "proxyAddresses holds several SMTP: values (" + listValues(proxyStrings(x.Primaries)) + ")"
}

func (x *MailNotPrimaryFacts) blockedWhy() string {
	switch x.Blocked {
	case BlockMailInvalid:
		return "mail " + x.Mail + " is not an address the cloud accepts"
	case BlockDomainNotAccepted:
		return "the domain " + domainOf(x.Mail) + " is not an accepted domain of the tenant; accept it first"
	case BlockMailDuplicate:
		return x.Mail + " is also held by another object (see DuplicateAddress); resolve that first"
	case BlockTooManyValues:
		return "the object would hold more proxyAddresses than the limit (see LargeObject); remove unused values first"
	}
	return string(x.Blocked)
}

func (x *MailNotPrimaryFacts) line(f *Finding) (values, action string) {
	var smtp string
	switch len(x.Primaries) {
	case 0:
		smtp = "no SMTP: value (" + heldTypes(x.Held) + ")"
	case 1:
		smtp = "SMTP:" + x.Primaries[0].Address
	default:
		smtp = "several SMTP: values (" + listValues(proxyStrings(x.Primaries)) + ")"
	}
	primary := orNone(x.PredictedPrimary)
	if x.PredictedPrimary != "" && strings.EqualFold(x.PredictedPrimary, x.Mail) {
		primary = "= mail"
	}
	values = "mail " + x.Mail + "; " + smtp + "; cloud primary " + primary
	if x.HasTwin && !strings.EqualFold(x.CloudMail, x.PredictedPrimary) {
		values += " (cloud mail now " + orNone(x.CloudMail) + ")"
	}
	if f.Action == nil {
		return values, "no automatic fix: " + x.blockedShort()
	}
	var parts []string
	if len(f.Action.Delete) > 0 {
		parts = append(parts, "delete "+strings.Join(f.Action.Delete, ", "))
	}
	for _, v := range f.Action.Add {
		if slices.ContainsFunc(x.Kept, func(k string) bool { return v == "smtp:"+k }) {
			parts = append(parts, "keep "+v)
		} else {
			parts = append(parts, "add "+v)
		}
	}
	return values, "~ fix: " + strings.Join(parts, ", ")
}

func (x *MailNotPrimaryFacts) blockedShort() string {
	switch x.Blocked {
	case BlockMailInvalid:
		return "mail is not a valid address"
	case BlockDomainNotAccepted:
		return "domain " + domainOf(x.Mail) + " is not accepted in the tenant"
	case BlockMailDuplicate:
		return "another object holds mail too (see DuplicateAddress)"
	case BlockTooManyValues:
		return "too many proxyAddresses values (see LargeObject)"
	}
	return string(x.Blocked)
}

// heldTypes says what proxyAddresses holds when it holds no SMTP: value,
// e.g. "x500 only".
func heldTypes(held []string) string {
	var types []string
	for _, v := range held {
		t, _, ok := strings.Cut(v, ":")
		if !ok {
			t = "malformed"
		}
		t = strings.ToLower(t)
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	slices.Sort(types)
	return strings.Join(types, ", ") + " only"
}

func proxyStrings(ps []ad.ProxyAddress) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// --- AddressDropped

func (x *AddressDroppedFacts) describe(f *Finding) (evidence, explanation, fix string) {
	v, attr := x.Value, f.Attribute
	evidence = v + ": " + x.Reason
	explanation = f.ObjectDN + ": the cloud will not hold " + v + " from " + attr + ": " + x.Reason + ". " + f.Rule.Explain()
	switch f.Rule {
	case proxycalc.RuleDroppedMalformed:
		fix = "Correct or remove " + v + " in " + attr + " in AD."
	case proxycalc.RuleDroppedReserved:
		fix = "Remove " + v + " from " + attr + " in AD; the cloud adds its own MOERA."
	case proxycalc.RuleDroppedLegacyType, proxycalc.RuleDroppedUnsupportedType:
		fix = "Remove " + v + " from proxyAddresses in AD if nothing uses it any more."
	case proxycalc.RuleDroppedUnverifiedDomain:
		if attr == "userPrincipalName" {
			fix = "Add and verify " + domainOf(v) + " as an accepted domain of the tenant, or give the user a userPrincipalName in a verified domain, in AD."
		} else {
			fix = "Add and verify " + domainOf(v) + " as an accepted domain of the tenant, or remove " + v + " from " + attr + " in AD."
		}
	case proxycalc.RuleDroppedMOERACollision:
		fix = "Give the object a mailNickname no other object uses, in AD."
	default:
		fix = f.Rule.Explain()
	}
	return evidence, explanation, fix
}

func (x *AddressDroppedFacts) line(f *Finding) (values, action string) {
	values = x.Value + " (" + f.Attribute + "): " + x.Reason
	switch f.Rule {
	case proxycalc.RuleDroppedMalformed:
		action = "correct or remove it"
	case proxycalc.RuleDroppedReserved:
		action = "remove it (the cloud adds its own MOERA)"
	case proxycalc.RuleDroppedLegacyType, proxycalc.RuleDroppedUnsupportedType:
		action = "remove it if nothing uses it"
	case proxycalc.RuleDroppedUnverifiedDomain:
		if f.Attribute == "userPrincipalName" {
			action = "verify the domain or change the UPN"
		} else {
			action = "verify the domain or remove the value"
		}
	case proxycalc.RuleDroppedMOERACollision:
		action = "give the object a unique mailNickname"
	default:
		action = "an admin decides"
	}
	return values, "no automatic fix: " + action
}

// --- DuplicateAddress

func (x *DuplicateAddressFacts) describe(f *Finding) (evidence, explanation, fix string) {
	others := make([]string, len(x.Others))
	for i, h := range x.Others {
		if h.DN != "" {
			others[i] = h.DN + " (AD " + strings.Join(h.Attributes, ", ") + ")"
		} else {
			others[i] = describeCloudObject(string(h.CloudKind), h.Name, h.CloudID) + " (cloud-only, " + strings.Join(h.Attributes, ", ") + ")"
		}
	}
	held := strings.Join(others, "; ")
	evidence = x.Address + " is also held by " + held
	explanation = f.ObjectDN + ": the address " + x.Address + " is also held by " + held + ". Entra ID requires every address " +
		"to be unique in the tenant, so the sync quarantines it on the object exported second and reports " +
		"AttributeValueMustBeUnique (KB 2647098); mail to " + x.Address + " then reaches only the object that holds it first."
	fix = "Keep " + x.Address + " on one object only: remove it in AD from the others (or in Exchange Online from a cloud-only object)."
	return evidence, explanation, fix
}

func (x *DuplicateAddressFacts) line(f *Finding) (values, action string) {
	names := make([]string, len(x.Others))
	for i, h := range x.Others {
		if h.DN != "" {
			names[i] = h.Name
			if h.Name == "" || h.Name == f.Name { // the same name: the DN tells them apart
				names[i] = h.DN
			}
		} else {
			names[i] = "cloud-only " + string(h.CloudKind) + " " + cmp.Or(h.Name, h.CloudID)
		}
	}
	return x.Address + " (" + f.Attribute + "), also on " + strings.Join(names, ", "),
		"no automatic fix: choose the object that keeps it"
}

// sortHolders orders holders as the evidence lists them: AD objects by DN,
// then cloud objects by kind, name and id.
func sortHolders(hs []Holder) {
	slices.SortFunc(hs, func(x, y Holder) int {
		if (x.DN == "") != (y.DN == "") {
			if x.DN != "" {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(x.DN, y.DN), cmp.Compare(x.CloudKind, y.CloudKind), cmp.Compare(x.Name, y.Name),
			cmp.Compare(x.CloudID, y.CloudID), slices.Compare(x.Attributes, y.Attributes))
	})
}

// --- LargeObject

func (x *LargeObjectFacts) describe(f *Finding) (evidence, explanation, fix string) {
	n, limit := strconv.Itoa(x.Values), strconv.Itoa(x.Limit)
	evidence = n + " proxyAddresses values; the limit planned for is " + limit
	explanation = f.ObjectDN + " holds " + n + " proxyAddresses values, more than " + limit + ". Entra Connect refuses to export " +
		"an object whose attributes exceed its size limit (LargeObject, about 332 proxyAddresses on a user with few other " +
		"attributes), so none of its changes reach the cloud."
	fix = "Remove at least " + strconv.Itoa(x.Values-x.Limit) + " addresses that are no longer used (old smtp: and x500: values) from proxyAddresses in AD."
	return evidence, explanation, fix
}

func (x *LargeObjectFacts) line(*Finding) (values, action string) {
	return strconv.Itoa(x.Values) + " proxyAddresses values, limit " + strconv.Itoa(x.Limit),
		"no automatic fix: remove at least " + strconv.Itoa(x.Values-x.Limit) + " unused values in AD"
}

// --- CertificateUserIDFormat

func (x *CertificateUserIDFormatFacts) describe(f *Finding) (evidence, explanation, fix string) {
	const rejected = "Entra ID rejects the export with DataValidationFailed"
	if x.Value == "" { // too many values
		n, limit := strconv.Itoa(x.Count), strconv.Itoa(x.Limit)
		evidence = n + " values: " + listValues(x.Values) + "; at most " + limit + " are allowed"
		explanation = f.ObjectDN + ": " + f.Attribute + " maps " + n + " values to certificateUserIds, which holds at most " +
			limit + "; " + rejected + "."
		fix = "Map at most " + limit + " values to certificateUserIds."
		return evidence, explanation, fix
	}
	evidence = x.Value + " " + x.Problem
	explanation = f.ObjectDN + ": the certificateUserIds value " + x.Value + " " + x.Problem + ". The X509:<mapping> prefixes " +
		"are case-sensitive (\"Mapping to the certificateUserIds attribute in Microsoft Entra ID\"), so " + rejected +
		" and none of the user's changes are written."
	if x.Corrected != "" {
		fix = "Write " + x.Corrected + " instead of " + x.Value + ": correct the case in the sync rule expression " +
			"(e.g. \"X509:<PN>\"&[userPrincipalName]) or the AD value."
	} else {
		fix = "Correct the sync rule (or the AD value) so it writes one of the formats " + CertificateUserIDFormats + " (case-sensitive)."
	}
	return evidence, explanation, fix
}

func (x *CertificateUserIDFormatFacts) line(*Finding) (values, action string) {
	if x.Value == "" {
		return strconv.Itoa(x.Count) + " values, at most " + strconv.Itoa(x.Limit),
			"no automatic fix: map at most " + strconv.Itoa(x.Limit) + " values in the sync rule"
	}
	if x.Corrected != "" {
		return x.Value + ": " + x.Problem, "no automatic fix: write " + x.Corrected + " (sync rule or AD value)"
	}
	return x.Value + ": " + x.Problem, "no automatic fix: correct the sync rule or the AD value"
}

// --- AddressDrift

func (x *AddressDriftFacts) describe(f *Finding) (evidence, explanation, fix string) {
	evidence = x.diffs()
	explanation = f.ObjectDN + ": the cloud's addresses differ from what ProxyCalc predicts from AD (" + evidence +
		"), and no other finding explains it: a sync cycle may not have run since AD changed, an export may be failing, " +
		"or the object was changed in the cloud."
	fix = "Run a delta sync cycle (Start-ADSyncSyncCycle -PolicyType Delta), check the export errors of " + f.ObjectDN +
		" in Synchronization Service Manager, then plan again."
	return evidence, explanation, fix
}

// diffs lists the differences, e.g. "predicted but not in the cloud: ...".
func (x *AddressDriftFacts) diffs() string {
	var diffs []string
	if len(x.Missing) > 0 {
		missing := make([]string, len(x.Missing))
		for i, m := range x.Missing {
			missing[i] = m.Value + " (" + string(m.Rule) + ")"
		}
		diffs = append(diffs, "predicted but not in the cloud: "+listValues(missing))
	}
	if len(x.Extra) > 0 {
		diffs = append(diffs, "in the cloud but not predicted: "+listValues(x.Extra))
	}
	switch {
	case x.PrimaryDiffers:
		diffs = append(diffs, "primary predicted "+orNone(x.PredictedPrimary)+", in the cloud "+orNone(x.CloudPrimary))
	case x.MailDiffers:
		diffs = append(diffs, "mail predicted "+orNone(x.PredictedPrimary)+", in the cloud "+orNone(x.CloudMail))
	}
	return strings.Join(diffs, "; ")
}

func (x *AddressDriftFacts) line(*Finding) (values, action string) {
	return x.diffs(), "no automatic fix: run a sync cycle, then check export errors"
}

// --- UPNSecondaryByDesign

func (x *UPNSecondaryFacts) describe(f *Finding) (evidence, explanation, fix string) {
	evidence = "cloud proxyAddresses hold " + x.CloudValue + "; userPrincipalName " + orNone(x.UPN) + "; primary " +
		orNone(x.CloudPrimary) + "; not in AD proxyAddresses"
	explanation = f.ObjectDN + ": the cloud lists the userPrincipalName as the secondary address " + x.CloudValue +
		" although AD proxyAddresses does not hold it. " + proxycalc.RuleUPNSecondary.Explain()
	return evidence, explanation, "None needed."
}

func (x *UPNSecondaryFacts) line(*Finding) (values, action string) {
	return x.CloudValue + " in the cloud, not in AD proxyAddresses", "none needed: by design"
}

// --- MissingInCloud

func (x *MissingInCloudFacts) describe(f *Finding) (evidence, explanation, fix string) {
	evidence = "no cloud object has onPremisesImmutableId " + x.ImmutableID
	if x.SID != "" {
		evidence += " or onPremisesSecurityIdentifier " + x.SID
	}
	explanation = f.ObjectDN + " is in sync scope, but " + evidence +
		": the next sync cycle should create it, unless an export error blocks it."
	if x.CloudIncomplete {
		explanation += " The cloud read was incomplete, so its twin may be in the part not read."
	}
	fix = "Run a sync cycle; if " + f.ObjectDN + " still has no cloud object, check its export errors in Synchronization Service Manager."
	return evidence, explanation, fix
}

func (x *MissingInCloudFacts) line(*Finding) (values, action string) {
	values = "no cloud object with onPremisesImmutableId " + x.ImmutableID
	if x.CloudIncomplete {
		values += " (cloud read incomplete)"
	}
	return values, "no automatic fix: the next sync should create it"
}

// --- MissingInAD

func (x *MissingInADFacts) describe(f *Finding) (evidence, explanation, fix string) {
	cloudName := describeCloudObject(string(x.CloudKind), cmp.Or(x.DisplayName, x.Mail), f.CloudID)
	evidence = cloudName + " has onPremisesSyncEnabled, onPremisesImmutableId " + orNone(x.ImmutableID) +
		", onPremisesDistinguishedName " + orNone(f.ObjectDN) + "; no AD object in scope has that anchor"
	src := ""
	if x.SourceDN != "" {
		evidence += "; its AD source " + x.SourceDN + " is not synced because " + x.SourceReason
		src = " Its AD source " + x.SourceDN + " is read but not synced: " + x.SourceReason + "."
	}
	name := cmp.Or(f.ObjectDN, cloudName)
	anchored := "cloud " + string(x.CloudKind) + " " + strconv.Quote(x.DisplayName) + " (id " + f.CloudID +
		", onPremisesImmutableId " + orNone(x.ImmutableID) + ")"
	if x.DeletionsBlocked != "" {
		explanation = name + ": " + anchored + " has no AD source in the snapshot, but the plan counts no deletion (" +
			x.DeletionsBlocked + "): not proposing deletion." + src
		fix = "Plan again from a complete read before deciding anything about this object."
	} else {
		explanation = name + ": " + anchored + " has no AD source in sync scope, so the next sync cycle soft-deletes it " +
			"(restorable for 30 days); it counts against the delete threshold." + src
		fix = "If it must stay, bring its AD source back into sync scope (move it under a scope OU, mail-enable it, or " +
			"restore it from the AD Recycle Bin) before the next sync; otherwise nothing to do."
	}
	return evidence, explanation, fix
}

func (x *MissingInADFacts) line(f *Finding) (values, action string) {
	values = "cloud " + string(x.CloudKind) + " " + f.CloudID + ", onPremisesImmutableId " + orNone(x.ImmutableID)
	if x.SourceDN != "" {
		values += "; AD source not synced: " + x.SourceReason
	}
	if x.DeletionsBlocked != "" {
		return values, "not counted as a deletion: " + x.DeletionsBlocked
	}
	return values, "no automatic fix: the next sync deletes it"
}

// --- TypeMismatch

func (x *TypeMismatchFacts) describe(f *Finding) (evidence, explanation, fix string) {
	evidence = "AD " + string(x.ADKind) + ", cloud " + string(x.CloudKind) + " " + f.CloudID + " joined by " + x.JoinedBy
	explanation = f.ObjectDN + " is an AD " + string(x.ADKind) + " (a cloud " + string(x.WantKind) + ") but its " + x.JoinedBy + " " +
		orNone(x.ImmutableID) + " matches " + describeCloudObject(string(x.CloudKind), x.CloudName, f.CloudID) +
		", so Entra Connect cannot update it and the export fails."
	fix = "Decide which object is right: delete the cloud " + string(x.CloudKind) + " " + f.CloudID + " so the sync recreates it as a " +
		string(x.WantKind) + ", or correct the AD object."
	return evidence, explanation, fix
}

func (x *TypeMismatchFacts) line(f *Finding) (values, action string) {
	return "AD " + string(x.ADKind) + " joined by " + x.JoinedBy + " to cloud " + string(x.CloudKind) + " " + f.CloudID,
		"no automatic fix: decide which object is right"
}

// --- AnchorInvalid

func (x *AnchorInvalidFacts) describe(f *Finding) (evidence, explanation, fix string) {
	explanation = f.ObjectDN + " is in sync scope but its source anchor cannot be computed (" + x.Error +
		"), so it cannot be joined; no deletion is proposed while this is so."
	fix = "Re-read the object; if the anchor is really missing or malformed, fix the AD read or the anchor configuration."
	return x.Error, explanation, fix
}

func (x *AnchorInvalidFacts) line(*Finding) (values, action string) {
	return x.Error, "no automatic fix: check the anchor"
}

// --- MigratedListAddress

func (x *MigratedListAddressFacts) describe(f *Finding) (evidence, explanation, fix string) {
	evidence = "cloud primary " + x.CloudPrimary + "; on-premises dynamic list primary " + orNone(x.OnPremisesPrimary) +
		"; routing contact " + x.ContactDN + " targets " + x.RoutingAddress
	explanation = f.ObjectDN + " is the on-premises dynamic list of the migrated list " +
		describeCloudObject("group", x.CloudName, f.CloudID) + " (its filter names the routing contact " + x.ContactDN +
		", whose target address " + x.RoutingAddress + " the cloud list holds). The cloud list's primary address is now " +
		x.CloudPrimary + ", but the dynamic list still carries " + orNone(x.OnPremisesPrimary) +
		": on-premises senders cannot reach the list by its new address."
	fix = "Make " + x.CloudPrimary + " the dynamic list's mail and SMTP: value, keeping " + orNone(x.OnPremisesPrimary) +
		" as an smtp: value (hybridsync apply writes it: " + describeChange(f.Action) + "). Change a migrated list's " +
		"address with hybridsync migrate address, which writes both directories."
	return evidence, explanation, fix
}

func (x *MigratedListAddressFacts) line(f *Finding) (values, action string) {
	return "cloud " + x.CloudPrimary + ", on premises " + orNone(x.OnPremisesPrimary), "~ fix: " + describeChange(f.Action)
}

// --- helpers

// describeCloudObject names a cloud object for evidence, e.g.
// `cloud group "Old Team" (id g-old)`.
func describeCloudObject(kind, name, id string) string {
	return "cloud " + kind + " " + strconv.Quote(name) + " (id " + id + ")"
}

// describeChange says what an action deletes and adds.
func describeChange(a *Action) string {
	if a == nil {
		return ""
	}
	var parts []string
	if a.NewMail != "" {
		parts = append(parts, "mail "+orNone(a.Mail)+" -> "+a.NewMail)
	}
	if len(a.Delete) > 0 {
		parts = append(parts, "delete "+strings.Join(a.Delete, ", "))
	}
	if len(a.Add) > 0 {
		parts = append(parts, "add "+strings.Join(a.Add, ", "))
	}
	return strings.Join(parts, ", then ")
}

// listValues shows at most 5 values, sorted.
func listValues(vals []string) string {
	if len(vals) == 1 {
		return vals[0]
	}
	v := slices.Clone(vals)
	slices.SortFunc(v, func(x, y string) int {
		if c := cmp.Compare(strings.ToLower(x), strings.ToLower(y)); c != 0 {
			return c
		}
		return cmp.Compare(x, y)
	})
	if len(v) > 5 {
		return strings.Join(v[:5], ", ") + " and " + strconv.Itoa(len(v)-5) + " more"
	}
	return strings.Join(v, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
