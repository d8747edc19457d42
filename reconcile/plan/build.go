package plan

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/lower"
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

// ProxyCalcInput is r as ProxyCalc sees it; Build predicts every object
// with it. Users are Exchange Online recipients when licensed or
// provisioned as a remote mailbox, groups and contacts when mail-enabled
// (ExchangeRecipient). proxyAddresses is passed parsed (Input.Parsed points into r), so r
// must not change while the Input is in use.
func ProxyCalcInput(r *ad.Recipient, licensed bool) proxycalc.Input {
	in := proxycalc.Input{Kind: string(r.Kind), Mail: r.Mail, MailNickname: r.MailNickname,
		Parsed: &r.ProxyAddresses, ExchangeRecipient: ExchangeRecipient(r, licensed)}
	if r.Kind == ad.KindUser {
		in.UPN = r.UPN
	}
	return in
}

// Build joins the snapshots, checks every AD object in scope and proposes
// the actions. When the plan exceeds Options' limits it returns the plan
// (for display only, with Refused set) and a *LimitError.
func Build(a ADSnapshot, c CloudSnapshot, opts Options) (Plan, error) {
	j := join(a, c, opts)
	opts = opts.withDefaults()
	b := &builder{a: a, c: c, opts: opts, j: j,
		accepted: map[string]bool{}, dup: map[*ad.Recipient]map[string]bool{}}
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
	b.calc = proxycalc.NewCalculator(b.tenant)
	b.licensed = newDNSet(a.Licensed)
	b.moeras = newMOERAIndex(j.objs, c.InitialDomain)
	b.taken = b.takenMOERA
	b.run()
	return b.finish()
}

type builder struct {
	a        ADSnapshot
	c        CloudSnapshot
	opts     Options
	j        *joined
	tenant   proxycalc.Tenant
	accepted map[string]bool // lower-case, initial domain included
	licensed dnSet           // DNKey of the licensed DNs
	// licensedSubs says which subjects are users licensed.
	licensedSubs []bool
	// moeras finds the cloud objects holding an address in the initial
	// domain (proxyAddresses or mail), for ProxyCalc's TakenMOERA.
	moeras moeraIndex
	// dup holds, per AD object, the lower-case addresses another object
	// also holds.
	dup map[*ad.Recipient]map[string]bool
	// subs are the subjects, as indexes in j.in: AD objects in scope that
	// are paired or have no twin, in adCmp order.
	subs []int32
	// addrs finds the subjects holding an SMTP address (mail or
	// proxyAddresses) by its lower-case form; see duplicates.
	addrs table
	// pending are the MailNotPrimary findings waiting for the cloud's
	// holders of an address; see mailNotPrimary.
	pending  []*pendingMail
	findings []Finding
	actions  []*Action
	// orphans counts Join.Orphans.
	orphans int

	// Per subject: ProxyCalc, its result and its input, reused.
	calc  *proxycalc.Calculator
	res   proxycalc.Result
	prev  proxycalc.Previous
	taken func(string) bool // b.takenMOERA
	twin  *cloud.Object     // the subject's twin, for takenMOERA
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
	key  dnKey // DNKey(r.DN)
	i    int   // index in builder.subs
}

// subject returns subs[i].
func (b *builder) subject(i int) subject {
	e := &b.j.in[b.subs[i]]
	s := subject{r: b.j.rec(e.rec), key: b.j.key(e.rec), i: i}
	if e.twin >= 0 {
		s.twin = b.j.objs[e.twin]
	}
	return s
}

func (b *builder) run() {
	// The subjects are Join's Pairs and ADOnly, sorted stably by adCmp:
	// both are in adCmp order already, and where objects compare equal the
	// pairs come first.
	j := b.j
	b.subs = make([]int32, 0, len(j.in))
	for m := range j.in {
		if k := j.in[m].kind; k == memberPair || k == memberADOnly {
			b.subs = append(b.subs, int32(m))
		}
	}
	rec := func(i int) int32 { return j.in[b.subs[i]].rec }
	for i := 0; i < len(b.subs); {
		k := i + 1
		for k < len(b.subs) && j.recCmp(rec(k-1), rec(k)) == 0 {
			k++
		}
		if k-i > 1 {
			slices.SortStableFunc(b.subs[i:k], func(x, y int32) int {
				return cmp.Compare(j.in[x].kind, j.in[y].kind) // memberPair first
			})
		}
		i = k
	}

	b.licensedSubs = b.licensed.hasEach(len(b.subs), func(i int) (dnKey, bool) {
		rec := j.in[b.subs[i]].rec
		return j.key(rec), j.rec(rec).Kind == ad.KindUser
	})
	b.duplicates()
	for i := range b.subs {
		b.check(b.subject(i))
	}
	b.finishMailNotPrimary()
	b.joinFindings()
	b.migratedLists()
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

// cloudSMTP yields the SMTP addresses (no prefix) a cloud object holds:
// its mail, then its proxyAddresses' SMTP values, in order.
func cloudSMTP(o *cloud.Object) iter.Seq[string] {
	return func(yield func(string) bool) {
		if o.Mail != "" && !yield(o.Mail) {
			return
		}
		for _, v := range o.ProxyAddresses {
			if p, err := ad.ParseProxyAddress(v); err == nil && p.IsSMTP() && !yield(p.Address) {
				return
			}
		}
	}
}

// check runs every per-object check on s.
func (b *builder) check(s subject) {
	r := s.r
	nraw := len(r.ProxyAddresses.Values) + len(r.ProxyAddresses.Malformed) // len(r.ProxyAddresses.Raw())
	in := ProxyCalcInput(r, b.licensedSubs[s.i])
	var prev *proxycalc.Previous
	if s.twin != nil {
		b.prev = proxycalc.Previous{Mail: s.twin.Mail, MailNickname: s.twin.MailNickname, ProxyAddresses: s.twin.ProxyAddresses}
		prev = &b.prev
	}
	b.twin = s.twin
	b.calc.ComputeInto(&b.res, in, prev, proxycalc.Options{TakenMOERA: b.taken})
	res := &b.res

	if max := b.opts.MaxProxyAddresses; max > 0 && nraw > max {
		b.add(Finding{
			Kind: LargeObject, Severity: SeverityError, ObjectDN: r.DN, ObjectGUID: r.GUID, Name: r.Name, Attribute: "proxyAddresses",
			Facts: Facts{LargeObject: &LargeObjectFacts{Values: nraw, Limit: max}},
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
	sev := SeverityWarning
	switch d.Rule {
	case proxycalc.RuleDroppedMalformed:
		if d.Source == proxycalc.SourceProxyAddresses || d.Source == proxycalc.SourceMail {
			sev = SeverityError // DataValidationFailed
		}
	case proxycalc.RuleDroppedLegacyType, proxycalc.RuleDroppedUnsupportedType:
		sev = SeverityInfo
	}
	b.add(Finding{
		Kind: AddressDropped, Severity: sev, ObjectDN: r.DN, ObjectGUID: r.GUID, Name: r.Name, Attribute: sourceAttr[d.Source],
		Rule: d.Rule, Facts: Facts{AddressDropped: &AddressDroppedFacts{Value: d.Value, Reason: d.Reason}},
	})
}

// mailNotPrimary checks that mail is the one SMTP: value of
// proxyAddresses when proxyAddresses is set (else ProxyCalc ignores mail:
// KB 3190357) and proposes the dual-write action. The finding waits in b.pending until the cloud's
// holders of an address are known (finishMailNotPrimary).
func (b *builder) mailNotPrimary(s subject, res *proxycalc.Result) {
	r, m := s.r, s.r.Mail
	if m == "" || len(r.ProxyAddresses.Values)+len(r.ProxyAddresses.Malformed) == 0 {
		return // without proxyAddresses ProxyCalc reads mail
	}
	n := 0
	var first ad.ProxyAddress
	for _, p := range r.ProxyAddresses.Values {
		if p.IsSMTP() && p.IsPrimary() {
			if n++; n == 1 {
				first = p
			}
		}
	}
	if n == 1 && strings.EqualFold(first.Address, m) {
		return
	}
	raw := r.ProxyAddresses.Raw()
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

	// The dual write: delete every other SMTP: value (re-adding it as
	// smtp:), add SMTP:mail unless there (deleting a smtp: twin of it).
	act := &Action{Kind: ActionDualWritePrimary, ObjectDN: r.DN, ObjectGUID: r.GUID, Attribute: "proxyAddresses",
		Mail: m, BeforeProxyAddresses: raw, USNChanged: r.USNChanged}
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
	pm := &pendingMail{s: s, act: act, old: old, primaries: primaries,
		resMail: res.Mail, resMailRule: res.MailRule}
	// The primary the cloud holds today though AD does not (the x500-only
	// case): keep it as a secondary in AD too, in the same modify, so it
	// still receives mail after the next sync, if no other object holds it
	// (the cloud's holders are looked for later). It is kept even when it
	// is the UPN: the cloud's UPN rule would keep it only until the UPN
	// changes.
	if c := cloudPrimary(s.twin, res.Mail); c != "" && !strings.EqualFold(c, m) && !hasFold(primaries, c) && !hasFold(secondaries, c) &&
		b.keepableInAD(s, c) {
		pm.keep = c
	}
	b.pending = append(b.pending, pm)
}

// cloudPrimary is the primary SMTP address twin holds today: its "SMTP:"
// value, else its mail; predicted (ProxyCalc's) when there is no twin yet.
func cloudPrimary(twin *cloud.Object, predicted string) string {
	if twin == nil {
		return predicted
	}
	for _, v := range twin.ProxyAddresses {
		if addr, ok := strings.CutPrefix(v, "SMTP:"); ok {
			return addr
		}
	}
	return twin.Mail
}

func hasFold(list []ad.ProxyAddress, addr string) bool {
	return slices.ContainsFunc(list, func(p ad.ProxyAddress) bool { return strings.EqualFold(p.Address, addr) })
}

// pendingMail is a MailNotPrimary finding waiting for the cloud's holders
// of keep.
type pendingMail struct {
	s         subject
	act       *Action
	old       []string
	primaries []ad.ProxyAddress
	// resMail and resMailRule are ProxyCalc's mail and rule.
	resMail     string
	resMailRule proxycalc.Rule
	// keep is the address to keep as a secondary unless a cloud object
	// other than the twin holds it ("" when none).
	keep        string
	heldInCloud bool
}

// finishMailNotPrimary looks up the cloud's holders of the addresses the
// pending findings would keep, in one pass over the cloud objects, then
// adds the findings in subject order.
func (b *builder) finishMailNotPrimary() {
	var t table
	n := 0
	for _, pm := range b.pending {
		if pm.keep != "" {
			n++
		}
	}
	if n > 0 {
		t = newTable(n)
		for i, pm := range b.pending {
			if pm.keep != "" {
				p := t.probe(hashLower(pm.keep))
				for {
					if _, _, ok := p.next(); !ok {
						break
					}
				}
				p.add(i, 0)
			}
		}
		look := func(o *cloud.Object, addr string) {
			p := t.probe(hashLower(addr))
			for {
				ref, _, ok := p.next()
				if !ok {
					return
				}
				if pm := b.pending[ref]; o != pm.s.twin && lower.Equal(pm.keep, addr) {
					pm.heldInCloud = true
				}
			}
		}
		for _, o := range b.j.objs {
			for addr := range cloudSMTP(o) {
				look(o, addr)
			}
		}
	}
	for _, pm := range b.pending {
		b.finishMail(pm)
	}
	b.pending = nil
}

// finishMail completes mailNotPrimary.
func (b *builder) finishMail(pm *pendingMail) {
	s, act, old, primaries := pm.s, pm.act, pm.old, pm.primaries
	r, m := s.r, s.r.Mail
	raw := act.BeforeProxyAddresses
	if c := pm.keep; c != "" && !pm.heldInCloud {
		act.Add = append(act.Add, "smtp:"+c)
		old = append(old, c)
	}

	// Why the action cannot be proposed, if it cannot.
	var block BlockReason
	switch {
	case !usableAddr(m):
		block = BlockMailInvalid
	case r.Kind != ad.KindContact && !b.accepted[strings.ToLower(domainOf(m))]:
		block = BlockDomainNotAccepted
	case b.dup[r][strings.ToLower(m)]:
		block = BlockMailDuplicate
	case b.opts.MaxProxyAddresses > 0 && len(raw)-len(act.Delete)+len(act.Add) > b.opts.MaxProxyAddresses:
		block = BlockTooManyValues
	}

	facts := &MailNotPrimaryFacts{Mail: m, Primaries: primaries, PredictedPrimary: pm.resMail, Kept: old, Blocked: block}
	if len(primaries) == 0 {
		facts.Held = raw
	}
	if s.twin != nil {
		facts.HasTwin, facts.CloudMail = true, s.twin.Mail
	}
	sev := SeverityError
	if strings.EqualFold(pm.resMail, m) {
		sev = SeverityWarning // the cloud's primary is mail today; the next change to mail will not flow
	}
	f := Finding{
		Kind: MailNotPrimary, Severity: sev, ObjectDN: r.DN, ObjectGUID: r.GUID, Name: r.Name, Attribute: "proxyAddresses",
		Rule: pm.resMailRule, Facts: Facts{MailNotPrimary: facts},
	}
	if block != "" {
		facts.Proposed = act
	} else {
		f.Action = act
		b.actions = append(b.actions, act)
	}
	b.add(f)
}

// keepableInAD is keepable, except for the cloud's holders: addr, which
// the cloud holds on s's twin, can be added to s in AD as a secondary:
// usable, in an accepted domain (not the MOERA), and held by no other
// subject. (Cloud objects the sync does not manage that hold an address a
// subject holds are among the cloud's holders too.)
func (b *builder) keepableInAD(s subject, addr string) bool {
	if !usableAddr(addr) || !b.accepted[strings.ToLower(domainOf(addr))] {
		return false
	}
	return !b.heldByOtherSubject(s.i, addr)
}

func (b *builder) certificateUserIDs(r *ad.Recipient) {
	if b.opts.CertificateUserIDs == nil || r.Kind != ad.KindUser {
		return
	}
	vals := b.opts.CertificateUserIDs(r)
	attr := b.opts.CertificateUserIDsAttr
	if max := b.opts.MaxCertificateUserIDs; len(vals) > max {
		b.add(Finding{
			Kind: CertificateUserIDFormat, Severity: SeverityError, ObjectDN: r.DN, ObjectGUID: r.GUID, Name: r.Name, Attribute: attr,
			Facts: Facts{CertificateUserIDFormat: &CertificateUserIDFormatFacts{Count: len(vals), Limit: max, Values: vals}},
		})
	}
	for _, v := range vals {
		prob, fixed := CheckCertificateUserID(v)
		if prob == "" {
			continue
		}
		b.add(Finding{
			Kind: CertificateUserIDFormat, Severity: SeverityError, ObjectDN: r.DN, ObjectGUID: r.GUID, Name: r.Name, Attribute: attr,
			Facts: Facts{CertificateUserIDFormat: &CertificateUserIDFormatFacts{Value: v, Problem: prob, Corrected: fixed}},
		})
	}
}

// drift compares the prediction to the twin.
func (b *builder) drift(s subject, res *proxycalc.Result) {
	r, twin := s.r, s.twin
	// upns are the lower-cased UPNs of r and its twin; addresses are
	// compared as their lower-cased forms compare.
	isUPNAddr := func(addr string) bool {
		return r.UPN != "" && lower.Equal(addr, r.UPN) || twin.UPN != "" && lower.Equal(addr, twin.UPN)
	}
	isUPN := func(v string) bool {
		if strings.HasPrefix(v, "SMTP:") {
			return false
		}
		p, err := ad.ParseProxyAddress(v)
		return err == nil && p.IsSMTP() && isUPNAddr(p.Address)
	}
	dup := b.dup[r]
	explained := func(v string) bool {
		if dup == nil {
			return false
		}
		p, err := ad.ParseProxyAddress(v)
		return err == nil && p.IsSMTP() && dup[strings.ToLower(p.Address)]
	}

	// act and pred are the sets of the cloud's and the predicted values,
	// lower-cased. When both lists hold the same values in the same order,
	// as they do for an object in sync, every value is in both.
	tv, pv := twin.ProxyAddresses, res.ProxyAddresses
	same := len(tv) == len(pv)
	for i := 0; same && i < len(tv); i++ {
		same = lower.Equal(tv[i], pv[i].Value)
	}
	var act, pred map[string]bool
	if !same && len(tv)*len(pv) > 256 {
		act, pred = make(map[string]bool, len(tv)), make(map[string]bool, len(pv))
		for _, v := range tv {
			act[strings.ToLower(v)] = true
		}
		for _, a := range pv {
			pred[strings.ToLower(a.Value)] = true
		}
	}
	inAct := func(v string) bool {
		switch {
		case same:
			return true
		case act != nil:
			return act[strings.ToLower(v)]
		}
		return slices.ContainsFunc(tv, func(t string) bool { return lower.Equal(t, v) })
	}
	inPred := func(v string) bool {
		switch {
		case same:
			return true
		case pred != nil:
			return pred[strings.ToLower(v)]
		}
		return slices.ContainsFunc(pv, func(a proxycalc.Address) bool { return lower.Equal(a.Value, v) })
	}

	var missing []DriftValue
	var extra []string
	for _, a := range pv {
		if !inAct(a.Value) && !explained(a.Value) && a.Rule != proxycalc.RuleUPNSecondary && !isUPN(a.Value) {
			missing = append(missing, DriftValue{Value: a.Value, Rule: a.Rule})
		}
	}
	upnInCloud := ""
	for _, v := range tv {
		if isUPN(v) {
			upnInCloud = v
		}
		if !inPred(v) && !explained(v) && !isUPN(v) {
			extra = append(extra, v)
		}
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
			if !inAct(a.Value) && !explained(a.Value) && a.Rule != proxycalc.RuleUPNSecondary && !isUPN(a.Value) {
				rule = a.Rule
				break
			}
		}
	}
	predPrimary := res.Mail
	var primaryDiffers, mailDiffers bool
	switch {
	case !strings.EqualFold(predPrimary, cloudPrimary) && !b.dup[r][strings.ToLower(predPrimary)]:
		primaryDiffers = true
		if rule == "" {
			rule = res.MailRule
		}
	case !strings.EqualFold(predPrimary, twin.Mail) && !b.dup[r][strings.ToLower(predPrimary)]:
		mailDiffers = true
		if rule == "" {
			rule = res.MailRule
		}
	}
	if len(missing) > 0 || len(extra) > 0 || primaryDiffers || mailDiffers {
		b.add(Finding{
			Kind: AddressDrift, Severity: SeverityWarning, ObjectDN: r.DN, ObjectGUID: r.GUID, CloudID: twin.ID, Name: r.Name,
			Attribute: "proxyAddresses", Rule: rule,
			Facts: Facts{AddressDrift: &AddressDriftFacts{Missing: missing, Extra: extra, PredictedPrimary: predPrimary,
				CloudPrimary: cloudPrimary, CloudMail: twin.Mail, PrimaryDiffers: primaryDiffers, MailDiffers: mailDiffers}},
		})
	}

	if upnInCloud != "" {
		up, _ := ad.ParseProxyAddress(upnInCloud)
		upn := strings.ToLower(up.Address)
		for _, p := range r.ProxyAddresses.Values {
			if p.IsSMTP() && strings.EqualFold(p.Address, upn) {
				return // AD asks for it: nothing to explain
			}
		}
		b.add(Finding{
			Kind: UPNSecondaryByDesign, Severity: SeverityInfo, ObjectDN: r.DN, ObjectGUID: r.GUID, CloudID: twin.ID, Name: r.Name,
			Attribute: "proxyAddresses", Rule: proxycalc.RuleUPNSecondary,
			Facts: Facts{UPNSecondaryByDesign: &UPNSecondaryFacts{CloudValue: upnInCloud, UPN: r.UPN, CloudPrimary: cloudPrimary}},
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
	if len(b.j.unanchored) > 0 {
		why = append(why, fmt.Sprintf("%d AD objects in scope have no usable anchor", len(b.j.unanchored)))
	}
	return strings.Join(why, ", ")
}

func (b *builder) joinFindings() {
	for m := range b.j.in {
		if b.j.in[m].kind != memberADOnly {
			continue
		}
		r := b.j.rec(b.j.in[m].rec)
		iid, _ := b.opts.Anchor.ImmutableID(r)
		facts := &MissingInCloudFacts{ImmutableID: iid, CloudIncomplete: !b.c.Complete}
		if r.Kind == ad.KindGroup {
			facts.SID = r.SID
		}
		b.add(Finding{
			Kind: MissingInCloud, Severity: SeverityWarning, ObjectDN: r.DN, ObjectGUID: r.GUID, Name: r.Name,
			Attribute: "onPremisesImmutableId", Facts: Facts{MissingInCloud: facts},
		})
	}
	blocked := b.deletionsBlocked()
	var orphans []Orphan
	b.j.leftovers(func(*cloud.Object) {}, func(o Orphan) { orphans = append(orphans, o) })
	b.orphans = len(orphans)
	for _, o := range orphans {
		facts := &MissingInADFacts{CloudKind: o.Cloud.Kind, DisplayName: o.Cloud.DisplayName, Mail: o.Cloud.Mail,
			ImmutableID: o.Cloud.OnPremisesImmutableID, SourceReason: o.SourceReason, DeletionsBlocked: blocked}
		if o.Source != nil {
			facts.SourceDN = o.Source.DN
		}
		b.add(Finding{
			Kind: MissingInAD, Severity: SeverityWarning, ObjectDN: o.Cloud.OnPremisesDN, CloudID: o.Cloud.ID,
			Name: o.Cloud.DisplayName, Attribute: "onPremisesImmutableId", Facts: Facts{MissingInAD: facts},
		})
	}
	for m := range b.j.in {
		e := &b.j.in[m]
		if e.kind != memberMismatch {
			continue
		}
		p := Pair{AD: b.j.rec(e.rec), Cloud: b.j.objs[e.twin], ImmutableID: b.j.pairIID(m), By: joinBy[e.by]}
		want, _ := CloudKind(p.AD.Kind)
		b.add(Finding{
			Kind: TypeMismatch, Severity: SeverityError, ObjectDN: p.AD.DN, ObjectGUID: p.AD.GUID, CloudID: p.Cloud.ID,
			Name: p.AD.Name, Attribute: "objectClass",
			Facts: Facts{TypeMismatch: &TypeMismatchFacts{ADKind: p.AD.Kind, WantKind: want, CloudKind: p.Cloud.Kind,
				CloudName: cmp.Or(p.Cloud.DisplayName, p.Cloud.Mail), JoinedBy: p.By, ImmutableID: p.ImmutableID}},
		})
	}
	for _, u := range b.j.unanchored {
		b.add(Finding{
			Kind: AnchorInvalid, Severity: SeverityError, ObjectDN: u.AD.DN, ObjectGUID: u.AD.GUID, Name: u.AD.Name,
			Attribute: "objectGUID", Facts: Facts{AnchorInvalid: &AnchorInvalidFacts{Error: u.Err.Error()}},
		})
	}
}

func (b *builder) add(f Finding) {
	if len(b.findings) == cap(b.findings) {
		// Double: append grows large slices by a quarter, copying the
		// findings many more times.
		b.findings = append(make([]Finding, 0, 2*cap(b.findings)+64), b.findings...)
	}
	b.findings = append(b.findings, f)
	b.findings[len(b.findings)-1].describe() // in place: a pointer to f would move it to the heap
}

// findingTail orders findings of the same kind and DN key: by DN, cloud
// id, attribute, evidence, severity and explanation.
func findingTail(x, y *Finding) int {
	return cmp.Or(
		cmp.Compare(x.ObjectDN, y.ObjectDN),
		cmp.Compare(x.CloudID, y.CloudID),
		cmp.Compare(x.Attribute, y.Attribute),
		cmp.Compare(x.Evidence, y.Evidence),
		cmp.Compare(x.Severity, y.Severity),
		cmp.Compare(x.Explanation, y.Explanation),
	)
}

// sortFindings sorts fs stably by kind (FindingKinds order), DN key, then
// findingTail, computing each finding's rank and DN key once.
func sortFindings(fs []Finding) {
	type item struct {
		rank int
		key  dnKey
		i    int
	}
	items := make([]item, len(fs))
	for i := range fs {
		items[i] = item{kindRank(fs[i].Kind), newDNKey(fs[i].ObjectDN), i}
	}
	slices.SortStableFunc(items, func(x, y item) int {
		return cmp.Or(cmp.Compare(x.rank, y.rank), x.key.compare(y.key), findingTail(&fs[x.i], &fs[y.i]))
	})
	// Move the findings to their places, following the permutation's
	// cycles: fs[k] takes fs[items[k].i].
	for k := range items {
		if items[k].i < 0 {
			continue
		}
		f := fs[k]
		for at := k; ; {
			from := items[at].i
			items[at].i = -1
			if from == k {
				fs[at] = f
				break
			}
			fs[at] = fs[from]
			at = from
		}
	}
}

// twinIDs sets the CloudID of the per-object findings that have none to
// the id of the object's twin: the twin of the pair with the same DN key
// and GUID (compared lower-cased), the last one when there are several.
func (b *builder) twinIDs() {
	type want struct {
		key dnKey
		f   []int
	}
	wants := map[uint64][]*want{} // by hash of DN key and lower-cased GUID
	hash := func(k dnKey, guid string) uint64 { return k.hash()*31 ^ hashLower(guid) }
	for i := range b.findings {
		f := &b.findings[i]
		if f.CloudID != "" || f.ObjectGUID == "" {
			continue
		}
		k := newDNKey(f.ObjectDN)
		h := hash(k, f.ObjectGUID)
		var w *want
		for _, x := range wants[h] {
			if x.key.equal(k) && lower.Equal(b.findings[x.f[0]].ObjectGUID, f.ObjectGUID) {
				w = x
				break
			}
		}
		if w == nil {
			w = &want{key: k}
			wants[h] = append(wants[h], w)
		}
		w.f = append(w.f, i)
	}
	if len(wants) == 0 {
		return
	}
	for m := range b.j.in {
		e := &b.j.in[m]
		if e.kind != memberPair {
			continue
		}
		r, key := b.j.rec(e.rec), b.j.key(e.rec)
		for _, w := range wants[hash(key, r.GUID)] {
			if w.key.equal(key) && lower.Equal(b.findings[w.f[0]].ObjectGUID, r.GUID) {
				for _, i := range w.f {
					b.findings[i].CloudID = b.j.objs[e.twin].ID
				}
			}
		}
	}
}

func (b *builder) finish() (Plan, error) {
	p := Plan{ADComplete: b.a.Complete, CloudComplete: b.c.Complete}
	// Per-object findings name the twin too.
	b.twinIDs()
	sortFindings(b.findings)
	// Actions in DN order; findings point into p.Actions.
	type item struct {
		key dnKey
		a   *Action
	}
	acts := make([]item, len(b.actions))
	for i, a := range b.actions {
		acts[i] = item{newDNKey(a.ObjectDN), a}
	}
	slices.SortStableFunc(acts, func(x, y item) int {
		return cmp.Or(x.key.compare(y.key), cmp.Compare(x.a.ObjectDN, y.a.ObjectDN),
			lower.Compare(x.a.ObjectGUID, y.a.ObjectGUID))
	})
	at := make(map[*Action]int, len(acts))
	if len(acts) > 0 {
		p.Actions = make([]Action, 0, len(acts))
	}
	for i, a := range acts {
		p.Actions = append(p.Actions, *a.a)
		at[a.a] = i
	}
	p.Findings = b.findings
	for i := range p.Findings {
		if a := p.Findings[i].Action; a != nil {
			p.Findings[i].Action = &p.Actions[at[a]]
		}
	}

	adds, pairs, mismatches := 0, 0, 0
	for m := range b.j.in {
		switch b.j.in[m].kind {
		case memberADOnly:
			adds++
		case memberPair:
			pairs++
		case memberMismatch:
			mismatches++
		}
	}
	s := Summary{ByKind: map[FindingKind]int{}, Adds: adds, Changes: len(p.Actions)}
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
		s.Deletes = b.orphans
	}
	p.Summary = s
	p.Fingerprint = b.fingerprint(p.Actions)

	if err := b.limits(s, pairs+mismatches+b.orphans); err != nil {
		p.Refused = err.Error()
		return p, err
	}
	return p, nil
}

func (b *builder) limits(s Summary, synced int) error {
	e := &LimitError{Deletes: s.Deletes, Changes: s.Changes, InScope: b.j.inScope, Synced: synced}
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
	// "initial\x00%s\x00domains\x00%s\x00", then per action
	// "object\x00%s\x00%d\x00%s\x00%d\x00%s\x00", written piece by piece.
	var buf []byte
	buf = append(buf, "initial\x00"...)
	buf = append(buf, strings.ToLower(b.tenant.InitialDomain)...)
	buf = append(buf, "\x00domains\x00"...)
	for i, d := range doms {
		if i > 0 {
			buf = append(buf, 0)
		}
		buf = append(buf, d...)
	}
	buf = append(buf, 0)
	h.Write(buf)
	var vals []string
	for _, a := range acts {
		vals = append(vals[:0], a.BeforeProxyAddresses...)
		slices.Sort(vals)
		buf = append(buf[:0], "object\x00"...)
		buf = append(buf, strings.ToLower(a.ObjectGUID)...)
		buf = append(buf, 0)
		buf = strconv.AppendInt(buf, a.USNChanged, 10)
		buf = append(buf, 0)
		buf = append(buf, a.Mail...)
		buf = append(buf, 0)
		buf = strconv.AppendInt(buf, int64(len(vals)), 10)
		buf = append(buf, 0)
		for i, v := range vals {
			if i > 0 {
				buf = append(buf, 0)
			}
			buf = append(buf, v...)
		}
		buf = append(buf, 0)
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}
