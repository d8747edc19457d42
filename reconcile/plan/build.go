package plan

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/reconcile/proxycalc"
)

// Plan is what Build proposes.
type Plan struct {
	// Findings are sorted by kind (FindingKinds order), then object.
	Findings []Finding `json:"findings"`
	// Actions are sorted by object DN; each finding's Action points into
	// this slice.
	Actions []Action `json:"actions"`
	Summary Summary  `json:"summary"`
	// ADComplete and CloudComplete are the snapshots' Complete flags.
	ADComplete    bool `json:"adComplete"`
	CloudComplete bool `json:"cloudComplete"`
	// Fingerprint is a SHA-256 over what the actions depend on (each
	// object's GUID, uSNChanged, mail and proxyAddresses, and the tenant's
	// domains), to refuse applying a plan whose inputs changed.
	Fingerprint string `json:"fingerprint"`
	// Refused is the LimitError text when Build refused the plan.
	Refused string `json:"refused,omitempty"`
}

// Summary counts a plan.
type Summary struct {
	Errors   int                 `json:"errors"`
	Warnings int                 `json:"warnings"`
	Infos    int                 `json:"infos"`
	ByKind   map[FindingKind]int `json:"byKind"`
	// Adds counts AD objects in scope without a twin: the next sync
	// creates them.
	Adds int `json:"adds"`
	// Changes counts the actions.
	Changes int `json:"changes"`
	// Deletes counts synced cloud objects without an AD source that the
	// next sync deletes; always 0 when a read was incomplete.
	Deletes int `json:"deletes"`
}

// ErrLimitExceeded is matched (errors.Is) by the *LimitError Build returns.
var ErrLimitExceeded = errors.New("plan: limit exceeded")

// LimitError is Build's refusal of a plan over Options' limits.
type LimitError struct {
	Deletes, Changes int
	// Synced counts the synced cloud objects, InScope the AD objects in
	// scope: the bases of the percentages.
	Synced, InScope int
	Reasons         []string
}

func (e *LimitError) Error() string {
	return "plan refused: " + strings.Join(e.Reasons, "; ")
}

// Is makes errors.Is(err, ErrLimitExceeded) true.
func (e *LimitError) Is(target error) bool { return target == ErrLimitExceeded }

// inputFor is r as ProxyCalc sees it, as the sync simulator builds it:
// users are Exchange Online recipients when licensed or provisioned as a
// remote mailbox; mail-enabled groups and contacts always are.
func inputFor(r *ad.Recipient, licensed bool) proxycalc.Input {
	in := proxycalc.Input{Kind: string(r.Kind), Mail: r.Mail, MailNickname: r.MailNickname,
		ProxyAddresses: r.ProxyAddresses.Raw(), ExchangeRecipient: true}
	if r.Kind == ad.KindUser {
		in.UPN = r.UPN
		in.ExchangeRecipient = licensed || r.IsRemoteMailbox()
	}
	return in
}

// Build joins the snapshots, checks every AD object in scope and proposes
// the actions. When the plan exceeds Options' limits it returns the plan
// (for display only, with Refused set) and a *LimitError.
func Build(a ADSnapshot, c CloudSnapshot, opts Options) (Plan, error) {
	opts = opts.withDefaults()
	b := &builder{a: a, c: c, opts: opts, j: JoinSnapshots(a, c, opts),
		accepted: map[string]bool{}, licensed: map[string]bool{}, holders: map[string][]*cloud.Object{},
		dup: map[*ad.Recipient]map[string]bool{}}
	b.tenant = proxycalc.Tenant{InitialDomain: c.InitialDomain}
	domains := slices.Clone(c.AcceptedDomains)
	slices.SortFunc(domains, func(x, y string) int { return cmp.Compare(strings.ToLower(x), strings.ToLower(y)) })
	for _, d := range domains {
		b.tenant.VerifiedDomains = append(b.tenant.VerifiedDomains, d)
		b.accepted[strings.ToLower(d)] = true
	}
	if c.InitialDomain != "" {
		b.accepted[strings.ToLower(c.InitialDomain)] = true
	}
	for dn, ok := range a.Licensed {
		if ok {
			b.licensed[DNKey(dn)] = true
		}
	}
	for _, o := range c.Objects {
		if o == nil || o.Removed != nil {
			continue
		}
		for _, addr := range cloudSMTP(o) {
			k := strings.ToLower(addr)
			if !slices.Contains(b.holders[k], o) {
				b.holders[k] = append(b.holders[k], o)
			}
		}
	}
	b.run()
	return b.finish()
}

type builder struct {
	a        ADSnapshot
	c        CloudSnapshot
	opts     Options
	j        Join
	tenant   proxycalc.Tenant
	accepted map[string]bool // lower-case, initial domain included
	licensed map[string]bool // DNKey
	// holders maps a lower-case SMTP address to the cloud objects holding
	// it (proxyAddresses or mail).
	holders map[string][]*cloud.Object
	// dup holds, per AD object, the lower-case addresses another object
	// also holds.
	dup map[*ad.Recipient]map[string]bool
	// addrs maps a lower-case SMTP address to its holders (AD objects in
	// scope, cloud objects the sync does not manage).
	addrs    map[string][]*holder
	findings []Finding
	actions  []*Action
}

// holder is an object holding an SMTP address: an AD object in scope or a
// cloud object the sync does not manage.
type holder struct {
	r     *ad.Recipient
	o     *cloud.Object
	addr  string   // as the object writes it
	attrs []string // where the object holds the address
}

// subject is an AD object in scope with its twin (nil when none).
type subject struct {
	r    *ad.Recipient
	twin *cloud.Object
	iid  string
}

func (b *builder) run() {
	var subs []subject
	for _, p := range b.j.Pairs {
		subs = append(subs, subject{p.AD, p.Cloud, p.ImmutableID})
	}
	for _, r := range b.j.ADOnly {
		iid, _ := b.opts.Anchor(r)
		subs = append(subs, subject{r: r, iid: iid})
	}
	slices.SortStableFunc(subs, func(x, y subject) int { return adCmp(x.r, y.r) })

	b.duplicates(subs)
	for _, s := range subs {
		b.check(s)
	}
	b.joinFindings()
}

// usableAddr reports whether addr can reach the cloud at all: valid and
// not in a reserved domain.
func usableAddr(addr string) bool {
	return proxycalc.ValidateAddress(addr) == nil && !proxycalc.IsReservedDomain(domainOf(addr))
}

func domainOf(addr string) string {
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		return addr[at+1:]
	}
	return ""
}

// cloudSMTP returns the SMTP addresses (no prefix) a cloud object holds.
func cloudSMTP(o *cloud.Object) []string {
	var out []string
	if o.Mail != "" {
		out = append(out, o.Mail)
	}
	for _, v := range o.ProxyAddresses {
		if p, err := ad.ParseProxyAddress(v); err == nil && p.IsSMTP() {
			out = append(out, p.Address)
		}
	}
	return out
}

// describeAD names an AD object for evidence.
func describeAD(r *ad.Recipient) string { return r.DN }

// describeCloud names a cloud object for evidence.
func describeCloud(o *cloud.Object) string {
	name := o.DisplayName
	if name == "" {
		name = o.Mail
	}
	return fmt.Sprintf("cloud %s %q (id %s)", o.Kind, name, o.ID)
}

// duplicates finds SMTP addresses held by more than one object: AD objects
// in scope (mail and proxyAddresses) and cloud objects the sync does not
// manage.
func (b *builder) duplicates(subs []subject) {
	idx := map[string][]*holder{}
	b.addrs = idx
	addAD := func(r *ad.Recipient, addr, attr string) {
		if !usableAddr(addr) {
			return
		}
		k := strings.ToLower(addr)
		for _, h := range idx[k] {
			if h.r == r {
				if !slices.Contains(h.attrs, attr) {
					h.attrs = append(h.attrs, attr)
				}
				return
			}
		}
		idx[k] = append(idx[k], &holder{r: r, addr: addr, attrs: []string{attr}})
	}
	for _, s := range subs {
		if s.r.Mail != "" {
			addAD(s.r, s.r.Mail, "mail")
		}
		for _, p := range s.r.ProxyAddresses.Values {
			if p.IsSMTP() {
				addAD(s.r, p.Address, "proxyAddresses")
			}
		}
	}
	clouds := slices.Clone(b.j.CloudOnly)
	for _, p := range b.j.CloudManaged {
		clouds = append(clouds, p.Cloud)
	}
	slices.SortStableFunc(clouds, cloudCmp)
	for _, o := range clouds {
		seen := map[string]bool{}
		for _, addr := range cloudSMTP(o) {
			k := strings.ToLower(addr)
			if seen[k] || idx[k] == nil {
				continue // only addresses an AD object also holds matter
			}
			seen[k] = true
			idx[k] = append(idx[k], &holder{o: o, addr: addr, attrs: []string{"proxyAddresses"}})
		}
	}
	for k, hs := range idx {
		if len(hs) < 2 {
			continue
		}
		for _, h := range hs {
			if h.r == nil {
				continue
			}
			if b.dup[h.r] == nil {
				b.dup[h.r] = map[string]bool{}
			}
			b.dup[h.r][k] = true
			var others []string
			for _, o := range hs {
				switch {
				case o == h:
				case o.r != nil:
					others = append(others, fmt.Sprintf("%s (AD %s)", describeAD(o.r), strings.Join(o.attrs, ", ")))
				default:
					others = append(others, fmt.Sprintf("%s (cloud-only, %s)", describeCloud(o.o), strings.Join(o.attrs, ", ")))
				}
			}
			slices.Sort(others)
			b.add(Finding{
				Kind: DuplicateAddress, Severity: SeverityError,
				ObjectDN: h.r.DN, ObjectGUID: h.r.GUID, Attribute: strings.Join(h.attrs, ", "),
				Evidence: fmt.Sprintf("%s is also held by %s", h.addr, strings.Join(others, "; ")),
				Explanation: fmt.Sprintf("%s: the address %s is also held by %s. Entra ID requires every address to be unique in the tenant, "+
					"so the sync quarantines it on the object exported second and reports AttributeValueMustBeUnique (KB 2647098); "+
					"mail to %s then reaches only the object that holds it first.", h.r.DN, h.addr, strings.Join(others, "; "), h.addr),
				Fix: fmt.Sprintf("Keep %s on one object only: remove it in AD from the others (or in Exchange Online from a cloud-only object).", h.addr),
			})
		}
	}
}

// check runs every per-object check on s.
func (b *builder) check(s subject) {
	r := s.r
	raw := r.ProxyAddresses.Raw()
	in := inputFor(r, b.licensed[DNKey(r.DN)])
	var prev *proxycalc.Previous
	if s.twin != nil {
		prev = &proxycalc.Previous{Mail: s.twin.Mail, MailNickname: s.twin.MailNickname, ProxyAddresses: s.twin.ProxyAddresses}
	}
	res := proxycalc.Compute(in, b.tenant, prev, proxycalc.Options{TakenMOERA: func(addr string) bool {
		for _, o := range b.holders[strings.ToLower(addr)] {
			if o != s.twin {
				return true
			}
		}
		return false
	}})

	if max := b.opts.MaxProxyAddresses; max > 0 && len(raw) > max {
		b.add(Finding{
			Kind: LargeObject, Severity: SeverityError, ObjectDN: r.DN, ObjectGUID: r.GUID, Attribute: "proxyAddresses",
			Evidence: fmt.Sprintf("%d proxyAddresses values; the limit planned for is %d", len(raw), max),
			Explanation: fmt.Sprintf("%s holds %d proxyAddresses values, more than %d. Entra Connect refuses to export an object whose "+
				"attributes exceed its size limit (LargeObject, about 332 proxyAddresses on a user with few other attributes), so none of its changes reach the cloud.",
				r.DN, len(raw), max),
			Fix: fmt.Sprintf("Remove at least %d addresses that are no longer used (old smtp: and x500: values) from proxyAddresses in AD.", len(raw)-max),
		})
	}

	mailDropped := false
	for _, d := range res.Dropped {
		if d.Rule == proxycalc.RuleDroppedMailIgnored {
			continue // MailNotPrimary explains it
		}
		if d.Source == proxycalc.SourceMail {
			mailDropped = true
		}
		b.dropped(r, d)
	}
	if !mailDropped {
		b.mailNotPrimary(s, res)
	}
	b.certificateUserIDs(r)
	if s.twin != nil {
		b.drift(s, res)
	}
}

var sourceAttr = map[string]string{
	proxycalc.SourceProxyAddresses: "proxyAddresses",
	proxycalc.SourceMail:           "mail",
	proxycalc.SourceUPN:            "userPrincipalName",
	proxycalc.SourceMOERA:          "mailNickname",
}

func (b *builder) dropped(r *ad.Recipient, d proxycalc.Dropped) {
	attr := sourceAttr[d.Source]
	sev, fix := SeverityWarning, ""
	switch d.Rule {
	case proxycalc.RuleDroppedMalformed:
		if d.Source == proxycalc.SourceProxyAddresses || d.Source == proxycalc.SourceMail {
			sev = SeverityError // DataValidationFailed
		}
		fix = fmt.Sprintf("Correct or remove %s in %s in AD.", d.Value, attr)
	case proxycalc.RuleDroppedReserved:
		fix = fmt.Sprintf("Remove %s from %s in AD; the cloud adds its own MOERA.", d.Value, attr)
	case proxycalc.RuleDroppedLegacyType, proxycalc.RuleDroppedUnsupportedType:
		sev = SeverityInfo
		fix = fmt.Sprintf("Remove %s from proxyAddresses in AD if nothing uses it any more.", d.Value)
	case proxycalc.RuleDroppedUnverifiedDomain:
		dom := domainOf(d.Value)
		fix = fmt.Sprintf("Add and verify %s as an accepted domain of the tenant, or remove %s from %s in AD.", dom, d.Value, attr)
	case proxycalc.RuleDroppedMOERACollision:
		fix = "Give the object a mailNickname no other object uses, in AD."
	default:
		fix = d.Rule.Explain()
	}
	b.add(Finding{
		Kind: AddressDropped, Severity: sev, ObjectDN: r.DN, ObjectGUID: r.GUID, Attribute: attr,
		Evidence: fmt.Sprintf("%s: %s", d.Value, d.Reason), Rule: d.Rule,
		Explanation: fmt.Sprintf("%s: the cloud will not hold %s from %s: %s. %s", r.DN, d.Value, attr, d.Reason, d.Rule.Explain()),
		Fix:         fix,
	})
}

// listValues shows at most 5 values, sorted.
func listValues(vals []string) string {
	v := slices.Clone(vals)
	slices.SortFunc(v, func(x, y string) int {
		if c := cmp.Compare(strings.ToLower(x), strings.ToLower(y)); c != 0 {
			return c
		}
		return cmp.Compare(x, y)
	})
	if len(v) > 5 {
		return strings.Join(v[:5], ", ") + fmt.Sprintf(" and %d more", len(v)-5)
	}
	return strings.Join(v, ", ")
}

// mailNotPrimary checks that mail is the one SMTP: value of
// proxyAddresses when proxyAddresses is set (seed 001) and proposes the
// dual-write action.
func (b *builder) mailNotPrimary(s subject, res proxycalc.Result) {
	r, m := s.r, s.r.Mail
	raw := r.ProxyAddresses.Raw()
	if m == "" || len(raw) == 0 {
		return // without proxyAddresses ProxyCalc reads mail
	}
	var primaries, secondaries []ad.ProxyAddress
	for _, p := range r.ProxyAddresses.Values {
		if !p.IsSMTP() {
			continue
		}
		if p.IsPrimary() {
			primaries = append(primaries, p)
		} else {
			secondaries = append(secondaries, p)
		}
	}
	if len(primaries) == 1 && strings.EqualFold(primaries[0].Address, m) {
		return
	}

	// The dual write: delete every other SMTP: value (re-adding it as
	// smtp:), add SMTP:mail unless there (deleting a smtp: twin of it).
	act := &Action{Kind: ActionDualWritePrimary, ObjectDN: r.DN, ObjectGUID: r.GUID, Attribute: "proxyAddresses",
		Mail: m, BeforeProxyAddresses: raw, USNChanged: r.USNChanged}
	hasFold := func(list []ad.ProxyAddress, addr string) bool {
		return slices.ContainsFunc(list, func(p ad.ProxyAddress) bool { return strings.EqualFold(p.Address, addr) })
	}
	kept := false
	var old []string
	for _, p := range primaries {
		if strings.EqualFold(p.Address, m) && !kept {
			kept = true
			continue
		}
		act.Delete = append(act.Delete, p.String())
		if !strings.EqualFold(p.Address, m) && !hasFold(secondaries, p.Address) &&
			!slices.ContainsFunc(act.Add, func(v string) bool { return strings.EqualFold(v, "smtp:"+p.Address) }) {
			act.Add = append(act.Add, "smtp:"+p.Address)
			old = append(old, p.Address)
		}
	}
	if !kept {
		for _, p := range secondaries {
			if strings.EqualFold(p.Address, m) {
				act.Delete = append(act.Delete, p.String())
			}
		}
		act.Add = append([]string{"SMTP:" + m}, act.Add...)
	}
	// The primary the cloud keeps though AD does not hold it (the x500-only
	// case): keep it as a secondary too, so it still receives mail.
	if c := res.Mail; c != "" && !strings.EqualFold(c, m) && !hasFold(primaries, c) && !hasFold(secondaries, c) &&
		!strings.EqualFold(c, r.UPN) && b.keepable(s, c) {
		act.Add = append(act.Add, "smtp:"+c)
		old = append(old, c)
	}

	// Why the action cannot be proposed, if it cannot.
	var block string
	switch {
	case !usableAddr(m):
		block = fmt.Sprintf("mail %s is not an address the cloud accepts", m)
	case r.Kind != ad.KindContact && !b.accepted[strings.ToLower(domainOf(m))]:
		block = fmt.Sprintf("the domain %s is not an accepted domain of the tenant; accept it first", domainOf(m))
	case b.dup[r][strings.ToLower(m)]:
		block = fmt.Sprintf("%s is also held by another object (see DuplicateAddress); resolve that first", m)
	case b.opts.MaxProxyAddresses > 0 && len(raw)-len(act.Delete)+len(act.Add) > b.opts.MaxProxyAddresses:
		block = "the object would hold more proxyAddresses than the limit (see LargeObject); remove unused values first"
	}

	var state string
	switch {
	case len(primaries) == 0:
		state = fmt.Sprintf("proxyAddresses holds no SMTP: value (it holds %s)", listValues(raw))
	case len(primaries) == 1:
		state = fmt.Sprintf("the primary SMTP address in proxyAddresses is %s", primaries[0])
	default:
		vals := make([]string, len(primaries))
		for i, p := range primaries {
			vals[i] = p.String()
		}
		state = fmt.Sprintf("proxyAddresses holds several SMTP: values (%s)", listValues(vals))
	}
	cloudPrimary := res.Mail
	evidence := fmt.Sprintf("mail %s; %s; predicted cloud primary %s", m, state, orNone(cloudPrimary))
	if s.twin != nil {
		evidence += fmt.Sprintf("; cloud mail now %s", orNone(s.twin.Mail))
	}
	sev := SeverityError
	var why string
	if strings.EqualFold(cloudPrimary, m) {
		sev = SeverityWarning
		why = fmt.Sprintf("%s: mail is %s and the cloud's primary is %s today, but %s, so ProxyCalc reads proxyAddresses and not mail: "+
			"the next change to mail will not reach the cloud (seed 001: Exchange hybrid wrote an x500 back to proxyAddresses).", r.DN, m, cloudPrimary, state)
	} else {
		why = fmt.Sprintf("%s: mail is %s but %s, so ProxyCalc reads proxyAddresses instead of mail and the cloud's primary SMTP address is %s; "+
			"mail sent to %s does not reach the Exchange Online recipient.", r.DN, m, state, orNone(cloudPrimary), m)
	}
	f := Finding{
		Kind: MailNotPrimary, Severity: sev, ObjectDN: r.DN, ObjectGUID: r.GUID, Attribute: "proxyAddresses",
		Evidence: evidence, Rule: res.MailRule,
		Explanation: why + " " + res.MailRule.Explain(),
	}
	dual := "dual write in AD, in one modify of proxyAddresses: " + describeChange(act)
	if len(old) > 0 {
		dual += fmt.Sprintf("; the cloud's primary then follows mail and %s stays a secondary address, so it still receives mail", strings.Join(old, ", "))
	}
	if block != "" {
		f.Fix = fmt.Sprintf("Not proposed automatically: %s. Then %s.", block, dual)
	} else {
		f.Fix = strings.ToUpper(dual[:1]) + dual[1:] + "."
		f.Action = act
		b.actions = append(b.actions, act)
	}
	b.add(f)
}

// keepable reports whether addr, which the cloud holds on s's twin, can be
// added to s in AD as a secondary: usable, in an accepted domain (not the
// MOERA), and held by no other object.
func (b *builder) keepable(s subject, addr string) bool {
	k := strings.ToLower(addr)
	if !usableAddr(addr) || !b.accepted[strings.ToLower(domainOf(addr))] {
		return false
	}
	for _, h := range b.addrs[k] {
		if h.r != s.r {
			return false
		}
	}
	for _, o := range b.holders[k] {
		if o != s.twin {
			return false
		}
	}
	return true
}

func describeChange(a *Action) string {
	var parts []string
	if len(a.Delete) > 0 {
		parts = append(parts, "delete "+strings.Join(a.Delete, ", "))
	}
	if len(a.Add) > 0 {
		parts = append(parts, "add "+strings.Join(a.Add, ", "))
	}
	return strings.Join(parts, ", then ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func (b *builder) certificateUserIDs(r *ad.Recipient) {
	if b.opts.CertificateUserIDs == nil || r.Kind != ad.KindUser {
		return
	}
	vals := b.opts.CertificateUserIDs(r)
	attr := b.opts.CertificateUserIDsAttr
	if max := b.opts.MaxCertificateUserIDs; len(vals) > max {
		b.add(Finding{
			Kind: CertificateUserIDFormat, Severity: SeverityError, ObjectDN: r.DN, ObjectGUID: r.GUID, Attribute: attr,
			Evidence: fmt.Sprintf("%d values: %s; at most %d are allowed", len(vals), listValues(vals), max),
			Explanation: fmt.Sprintf("%s: %s maps %d values to certificateUserIds, which holds at most %d; Entra ID rejects the export with DataValidationFailed.",
				r.DN, attr, len(vals), max),
			Fix: fmt.Sprintf("Map at most %d values to certificateUserIds.", max),
		})
	}
	for _, v := range vals {
		prob, fixed := CheckCertificateUserID(v)
		if prob == "" {
			continue
		}
		fix := fmt.Sprintf("Correct the sync rule (or the AD value) so it writes one of the formats %s (case-sensitive).", CertificateUserIDFormats)
		if fixed != "" {
			fix = fmt.Sprintf("Write %s instead of %s: correct the case in the sync rule expression (e.g. \"X509:<PN>\"&[userPrincipalName]) or the AD value.", fixed, v)
		}
		b.add(Finding{
			Kind: CertificateUserIDFormat, Severity: SeverityError, ObjectDN: r.DN, ObjectGUID: r.GUID, Attribute: attr,
			Evidence: fmt.Sprintf("%s %s", v, prob),
			Explanation: fmt.Sprintf("%s: the certificateUserIds value %s %s. The X509:<mapping> prefixes are case-sensitive, so Entra ID rejects "+
				"the export with DataValidationFailed (attribute [None], seed 001) and none of the user's changes are written.", r.DN, v, prob),
			Fix: fix,
		})
	}
}

// drift compares the prediction to the twin.
func (b *builder) drift(s subject, res proxycalc.Result) {
	r, twin := s.r, s.twin
	upns := map[string]bool{}
	for _, u := range []string{r.UPN, twin.UPN} {
		if u != "" {
			upns[strings.ToLower(u)] = true
		}
	}
	addrOf := func(v string) (string, bool) {
		p, err := ad.ParseProxyAddress(v)
		if err != nil || !p.IsSMTP() {
			return "", false
		}
		return strings.ToLower(p.Address), true
	}
	isUPN := func(v string) bool {
		a, ok := addrOf(v)
		return ok && upns[a] && !strings.HasPrefix(v, "SMTP:")
	}
	explained := func(v string) bool {
		a, ok := addrOf(v)
		return ok && b.dup[r][a]
	}

	act := map[string]bool{}
	for _, v := range twin.ProxyAddresses {
		act[strings.ToLower(v)] = true
	}
	pred := map[string]bool{}
	var missing, extra []string
	for _, a := range res.ProxyAddresses {
		pred[strings.ToLower(a.Value)] = true
		if !act[strings.ToLower(a.Value)] && !explained(a.Value) && a.Rule != proxycalc.RuleUPNSecondary && !isUPN(a.Value) {
			missing = append(missing, fmt.Sprintf("%s (%s)", a.Value, a.Rule))
		}
	}
	upnInCloud := ""
	for _, v := range twin.ProxyAddresses {
		if isUPN(v) {
			upnInCloud = v
		}
		if !pred[strings.ToLower(v)] && !explained(v) && !isUPN(v) {
			extra = append(extra, v)
		}
	}
	var diffs []string
	if len(missing) > 0 {
		diffs = append(diffs, "predicted but not in the cloud: "+listValues(missing))
	}
	if len(extra) > 0 {
		diffs = append(diffs, "in the cloud but not predicted: "+listValues(extra))
	}
	cloudPrimary := ""
	for _, v := range twin.ProxyAddresses {
		if strings.HasPrefix(v, "SMTP:") {
			cloudPrimary = v[len("SMTP:"):]
			break
		}
	}
	rule := proxycalc.Rule("")
	if len(missing) > 0 {
		for _, a := range res.ProxyAddresses {
			if !act[strings.ToLower(a.Value)] && !explained(a.Value) && a.Rule != proxycalc.RuleUPNSecondary && !isUPN(a.Value) {
				rule = a.Rule
				break
			}
		}
	}
	predPrimary := res.Mail
	switch {
	case !strings.EqualFold(predPrimary, cloudPrimary) && !b.dup[r][strings.ToLower(predPrimary)]:
		diffs = append(diffs, fmt.Sprintf("primary predicted %s, in the cloud %s", orNone(predPrimary), orNone(cloudPrimary)))
		if rule == "" {
			rule = res.MailRule
		}
	case !strings.EqualFold(predPrimary, twin.Mail) && !b.dup[r][strings.ToLower(predPrimary)]:
		diffs = append(diffs, fmt.Sprintf("mail predicted %s, in the cloud %s", orNone(predPrimary), orNone(twin.Mail)))
		if rule == "" {
			rule = res.MailRule
		}
	}
	if len(diffs) > 0 {
		ev := strings.Join(diffs, "; ")
		b.add(Finding{
			Kind: AddressDrift, Severity: SeverityWarning, ObjectDN: r.DN, ObjectGUID: r.GUID, CloudID: twin.ID,
			Attribute: "proxyAddresses", Evidence: ev, Rule: rule,
			Explanation: fmt.Sprintf("%s: the cloud's addresses differ from what ProxyCalc predicts from AD (%s), and no other finding explains it: "+
				"a sync cycle may not have run since AD changed, an export may be failing, or the object was changed in the cloud.", r.DN, ev),
			Fix: fmt.Sprintf("Run a delta sync cycle (Start-ADSyncSyncCycle -PolicyType Delta), check the export errors of %s in Synchronization Service Manager, then plan again.", r.DN),
		})
	}

	if upnInCloud != "" {
		upn, _ := addrOf(upnInCloud)
		for _, p := range r.ProxyAddresses.Values {
			if p.IsSMTP() && strings.EqualFold(p.Address, upn) {
				return // AD asks for it: nothing to explain
			}
		}
		b.add(Finding{
			Kind: UPNSecondaryByDesign, Severity: SeverityInfo, ObjectDN: r.DN, ObjectGUID: r.GUID, CloudID: twin.ID,
			Attribute: "proxyAddresses", Rule: proxycalc.RuleUPNSecondary,
			Evidence: fmt.Sprintf("cloud proxyAddresses hold %s; userPrincipalName %s; primary %s; not in AD proxyAddresses", upnInCloud, orNone(r.UPN), orNone(cloudPrimary)),
			Explanation: fmt.Sprintf("%s: the cloud lists the userPrincipalName as the secondary address %s although AD proxyAddresses does not hold it. "+
				"%s", r.DN, upnInCloud, proxycalc.RuleUPNSecondary.Explain()),
			Fix: "None needed.",
		})
	}
}

// deletionsBlocked returns why the plan may not count deletions, or "".
func (b *builder) deletionsBlocked() string {
	var why []string
	if !b.a.Complete {
		why = append(why, "AD read incomplete")
	}
	if !b.c.Complete {
		why = append(why, "cloud read incomplete")
	}
	if len(b.j.Unanchored) > 0 {
		why = append(why, fmt.Sprintf("%d AD objects in scope have no usable anchor", len(b.j.Unanchored)))
	}
	return strings.Join(why, ", ")
}

func (b *builder) joinFindings() {
	for _, r := range b.j.ADOnly {
		iid, _ := b.opts.Anchor(r)
		ev := fmt.Sprintf("no cloud object has onPremisesImmutableId %s", iid)
		if r.Kind == ad.KindGroup && r.SID != "" {
			ev += fmt.Sprintf(" or onPremisesSecurityIdentifier %s", r.SID)
		}
		why := fmt.Sprintf("%s is in sync scope and mail-enabled, but %s: the next sync cycle should create it, unless an export error blocks it.", r.DN, ev)
		if !b.c.Complete {
			why += " The cloud read was incomplete, so its twin may be in the part not read."
		}
		b.add(Finding{
			Kind: MissingInCloud, Severity: SeverityWarning, ObjectDN: r.DN, ObjectGUID: r.GUID,
			Attribute: "onPremisesImmutableId", Evidence: ev, Explanation: why,
			Fix: fmt.Sprintf("Run a sync cycle; if %s still has no cloud object, check its export errors in Synchronization Service Manager.", r.DN),
		})
	}
	blocked := b.deletionsBlocked()
	for _, o := range b.j.Orphans {
		dn := o.Cloud.OnPremisesDN
		ev := fmt.Sprintf("%s has onPremisesSyncEnabled, onPremisesImmutableId %s, onPremisesDistinguishedName %s; no AD object in scope has that anchor",
			describeCloud(o.Cloud), orNone(o.Cloud.OnPremisesImmutableID), orNone(dn))
		var why, fix string
		src := ""
		if o.Source != nil {
			src = fmt.Sprintf(" Its AD source %s is read but not synced: %s.", o.Source.DN, o.SourceReason)
			ev += fmt.Sprintf("; its AD source %s is not synced because %s", o.Source.DN, o.SourceReason)
		}
		name := dn
		if name == "" {
			name = describeCloud(o.Cloud)
		}
		anchored := fmt.Sprintf("cloud %s %q (id %s, onPremisesImmutableId %s)", o.Cloud.Kind, o.Cloud.DisplayName, o.Cloud.ID, orNone(o.Cloud.OnPremisesImmutableID))
		if blocked != "" {
			why = fmt.Sprintf("%s: %s has no AD source in the snapshot, but the %s: read incomplete: not proposing deletion.",
				name, anchored, blocked)
			fix = "Plan again from a complete read before deciding anything about this object."
		} else {
			why = fmt.Sprintf("%s: %s has no AD source in sync scope, so the next sync cycle soft-deletes it (restorable for 30 days); it counts against the delete threshold.",
				name, anchored)
			fix = "If it must stay, bring its AD source back into sync scope (move it under a scope OU, mail-enable it, or restore it from the AD Recycle Bin) before the next sync; otherwise nothing to do."
		}
		b.add(Finding{
			Kind: MissingInAD, Severity: SeverityWarning, ObjectDN: dn, CloudID: o.Cloud.ID,
			Attribute: "onPremisesImmutableId", Evidence: ev, Explanation: why + src, Fix: fix,
		})
	}
	for _, p := range b.j.TypeMismatches {
		want, _ := cloudKind(p.AD.Kind)
		ev := fmt.Sprintf("AD %s, cloud %s %s joined by %s", p.AD.Kind, p.Cloud.Kind, p.Cloud.ID, p.By)
		b.add(Finding{
			Kind: TypeMismatch, Severity: SeverityError, ObjectDN: p.AD.DN, ObjectGUID: p.AD.GUID, CloudID: p.Cloud.ID,
			Attribute: "objectClass", Evidence: ev,
			Explanation: fmt.Sprintf("%s is an AD %s (a cloud %s) but its %s %s matches %s, so Entra Connect cannot update it and the export fails.",
				p.AD.DN, p.AD.Kind, want, p.By, orNone(p.ImmutableID), describeCloud(p.Cloud)),
			Fix: fmt.Sprintf("Decide which object is right: delete the cloud %s %s so the sync recreates it as a %s, or correct the AD object.", p.Cloud.Kind, p.Cloud.ID, want),
		})
	}
	for _, u := range b.j.Unanchored {
		b.add(Finding{
			Kind: AnchorInvalid, Severity: SeverityError, ObjectDN: u.AD.DN, ObjectGUID: u.AD.GUID, Attribute: "objectGUID",
			Evidence:    u.Err.Error(),
			Explanation: fmt.Sprintf("%s is in sync scope but its source anchor cannot be computed (%v), so it cannot be joined; no deletion is proposed while this is so.", u.AD.DN, u.Err),
			Fix:         "Re-read the object; if the anchor is really missing or malformed, fix the AD read or the anchor configuration.",
		})
	}
}

func (b *builder) add(f Finding) { b.findings = append(b.findings, f) }

func findingCmp(x, y Finding) int {
	return cmp.Or(
		cmp.Compare(kindRank(x.Kind), kindRank(y.Kind)),
		cmp.Compare(DNKey(x.ObjectDN), DNKey(y.ObjectDN)),
		cmp.Compare(x.ObjectDN, y.ObjectDN),
		cmp.Compare(x.CloudID, y.CloudID),
		cmp.Compare(x.Attribute, y.Attribute),
		cmp.Compare(x.Evidence, y.Evidence),
		cmp.Compare(x.Severity, y.Severity),
		cmp.Compare(x.Explanation, y.Explanation),
	)
}

func (b *builder) finish() (Plan, error) {
	p := Plan{ADComplete: b.a.Complete, CloudComplete: b.c.Complete}
	// Per-object findings name the twin too.
	twins := map[[2]string]string{} // DN key and GUID -> twin id
	for _, pr := range b.j.Pairs {
		twins[[2]string{DNKey(pr.AD.DN), strings.ToLower(pr.AD.GUID)}] = pr.Cloud.ID
	}
	for i := range b.findings {
		if f := &b.findings[i]; f.CloudID == "" && f.ObjectGUID != "" {
			f.CloudID = twins[[2]string{DNKey(f.ObjectDN), strings.ToLower(f.ObjectGUID)}]
		}
	}
	slices.SortStableFunc(b.findings, findingCmp)
	// Actions in DN order; findings point into p.Actions.
	acts := slices.Clone(b.actions)
	slices.SortStableFunc(acts, func(x, y *Action) int {
		return cmp.Or(cmp.Compare(DNKey(x.ObjectDN), DNKey(y.ObjectDN)), cmp.Compare(x.ObjectDN, y.ObjectDN),
			cmp.Compare(strings.ToLower(x.ObjectGUID), strings.ToLower(y.ObjectGUID)))
	})
	at := map[*Action]int{}
	for i, a := range acts {
		p.Actions = append(p.Actions, *a)
		at[a] = i
	}
	p.Findings = b.findings
	for i := range p.Findings {
		if a := p.Findings[i].Action; a != nil {
			p.Findings[i].Action = &p.Actions[at[a]]
		}
	}

	s := Summary{ByKind: map[FindingKind]int{}, Adds: len(b.j.ADOnly), Changes: len(p.Actions)}
	for _, f := range p.Findings {
		s.ByKind[f.Kind]++
		switch f.Severity {
		case SeverityError:
			s.Errors++
		case SeverityWarning:
			s.Warnings++
		default:
			s.Infos++
		}
	}
	if b.deletionsBlocked() == "" {
		s.Deletes = len(b.j.Orphans)
	}
	p.Summary = s
	p.Fingerprint = b.fingerprint(p.Actions)

	if err := b.limits(s); err != nil {
		p.Refused = err.Error()
		return p, err
	}
	return p, nil
}

func (b *builder) limits(s Summary) error {
	e := &LimitError{Deletes: s.Deletes, Changes: s.Changes, InScope: b.j.InScope,
		Synced: len(b.j.Pairs) + len(b.j.TypeMismatches) + len(b.j.Orphans)}
	o := b.opts
	if !o.AllowDeletes {
		if o.DeleteThreshold >= 0 && s.Deletes > o.DeleteThreshold {
			e.Reasons = append(e.Reasons, fmt.Sprintf("%d deletions exceed the delete threshold of %d (set AllowDeletes to accept)", s.Deletes, o.DeleteThreshold))
		}
		if o.DeletePercent > 0 && e.Synced > 0 && pct(s.Deletes, e.Synced) > o.DeletePercent {
			e.Reasons = append(e.Reasons, fmt.Sprintf("%d deletions are %.1f%% of %d synced objects, more than %.1f%% (set AllowDeletes to accept)",
				s.Deletes, pct(s.Deletes, e.Synced), e.Synced, o.DeletePercent))
		}
	}
	if !o.AllowChanges {
		if o.ChangeThreshold > 0 && s.Changes > o.ChangeThreshold {
			e.Reasons = append(e.Reasons, fmt.Sprintf("%d changes exceed the change threshold of %d (set AllowChanges to accept)", s.Changes, o.ChangeThreshold))
		}
		if o.ChangePercent > 0 && e.InScope > 0 && pct(s.Changes, e.InScope) > o.ChangePercent {
			e.Reasons = append(e.Reasons, fmt.Sprintf("%d changes are %.1f%% of %d objects in scope, more than %.1f%% (set AllowChanges to accept)",
				s.Changes, pct(s.Changes, e.InScope), e.InScope, o.ChangePercent))
		}
	}
	if len(e.Reasons) == 0 {
		return nil
	}
	return e
}

func pct(n, of int) float64 { return float64(n) * 100 / float64(of) }

// fingerprint hashes what the actions depend on.
func (b *builder) fingerprint(acts []Action) string {
	h := sha256.New()
	doms := slices.Clone(b.tenant.VerifiedDomains)
	for i := range doms {
		doms[i] = strings.ToLower(doms[i])
	}
	slices.Sort(doms)
	fmt.Fprintf(h, "initial\x00%s\x00domains\x00%s\x00", strings.ToLower(b.tenant.InitialDomain), strings.Join(doms, "\x00"))
	for _, a := range acts {
		vals := slices.Clone(a.BeforeProxyAddresses)
		slices.Sort(vals)
		fmt.Fprintf(h, "object\x00%s\x00%d\x00%s\x00%d\x00%s\x00", strings.ToLower(a.ObjectGUID), a.USNChanged, a.Mail, len(vals), strings.Join(vals, "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil))
}
