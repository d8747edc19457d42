package proxycalc

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/internal/lower"
)

// Object kinds accepted in Input.Kind.
const (
	KindUser    = "user"
	KindGroup   = "group"
	KindContact = "contact"
)

// Sources recorded in Address.Source and Dropped.Source.
const (
	SourceProxyAddresses = "proxyAddresses"
	SourceMail           = "mail"
	SourceUPN            = "userPrincipalName"
	SourceMOERA          = "MOERA"
	SourcePrevious       = "previous" // the value the cloud already held
)

// LegacyTypes are the proxyAddresses types ProxyCalc discards ("legacy
// protocols like MSMAIL, X400, etc." in KB 3190357), upper-cased: MS Mail
// (written MS or MSMAIL), X.400, cc:Mail, Lotus Notes and GroupWise.
var LegacyTypes = []string{"MS", "MSMAIL", "X400", "CCMAIL", "NOTES", "GWISE"}

// Input is one on-premises object as the sync engine sees it.
type Input struct {
	// Kind is KindUser, KindGroup or KindContact (case-insensitive); ""
	// means KindUser, any other value is treated like a contact (no UPN, no
	// MOERA).
	Kind         string
	Mail         string
	MailNickname string
	// UPN is the userPrincipalName; only users use it.
	UPN string
	// ProxyAddresses holds the raw AD values, e.g. "SMTP:a@contoso.com",
	// "smtp:b@contoso.com", "x500:/o=...".
	ProxyAddresses []string
	// Parsed, when not nil, replaces ProxyAddresses (which is then
	// ignored) with an attribute already parsed: Compute treats it as
	// ProxyAddresses = Parsed.Raw() (the parsed values in order, then the
	// malformed ones) without building those strings again.
	Parsed *ad.ProxyAddresses
	// ExchangeRecipient is, for users, true when licensed for Exchange
	// Online or provisioned as a remote mailbox (msExchRecipientTypeDetails
	// remote mailbox / msExchRemoteRecipientType set); such users get the
	// UPN and MOERA as secondaries. Set it for every mail-enabled group or
	// contact.
	ExchangeRecipient bool
}

// Tenant is the tenant context.
type Tenant struct {
	// InitialDomain is the MOERA domain, e.g. "contoso.onmicrosoft.com".
	// The case given is the case MOERAs are written with.
	InitialDomain string
	// VerifiedDomains are the tenant's verified domains. Addresses in other
	// domains are dropped for Exchange recipients; the initial domain counts
	// as verified.
	VerifiedDomains []string
}

// Previous is the object's current cloud state, nil on the first sync.
// ProxyCalc keeps some values across syncs: the mailNickName when the
// on-premises one is unset, the MOERA, and the primary while proxyAddresses
// is set without an SMTP: value.
type Previous struct {
	Mail           string
	MailNickname   string
	ProxyAddresses []string
}

// Options injects the tenant-wide state and randomness ProxyCalc needs.
type Options struct {
	// TakenMOERA reports whether addr (no prefix) is a MOERA already used by
	// another object; it must answer false for this object's own addresses.
	// nil means no address is taken.
	TakenMOERA func(addr string) bool
	// Digits returns the 4 decimal digits appended to mailNickName when the
	// MOERA is taken (scenario 6). nil, or an answer that is not 4 digits,
	// means a deterministic hash of the UPN (or nickname) and attempt number.
	Digits func() string
}

// Address is one cloud proxyAddresses value and why it is there.
type Address struct {
	// Value is as the cloud stores it: "SMTP:x@y" (primary), "smtp:x@y",
	// or a kept non-SMTP value verbatim ("x500:/o=...", "SIP:x@y").
	Value  string
	Rule   Rule
	Source string // SourceProxyAddresses, SourceMail, SourceUPN, SourceMOERA or SourcePrevious
}

// Dropped is an on-premises value the cloud will not hold, and why.
type Dropped struct {
	Value  string
	Rule   Rule
	Reason string // the specific defect, e.g. "contains a space"
	Source string // SourceProxyAddresses, SourceMail, SourceUPN or SourceMOERA
}

// Result is the cloud's view of the object after ProxyCalc.
type Result struct {
	Mail         string
	MailNickname string
	// ProxyAddresses: the primary first, then the rest sorted
	// case-insensitively (ties broken by exact value).
	ProxyAddresses []Address
	// Dropped lists discarded on-premises values in evaluation order:
	// proxyAddresses in input order, then mail, userPrincipalName, MOERA.
	Dropped      []Dropped
	MailRule     Rule // the rule that chose the primary, or RuleNoPrimary
	NicknameRule Rule
	// Recipient reports whether the object is an Exchange Online recipient.
	// A user with only mail and no licence is not; it keeps just its primary.
	Recipient bool
}

// Primary returns the primary SMTP address ("SMTP:" value).
func (r Result) Primary() (Address, bool) {
	if len(r.ProxyAddresses) > 0 && strings.HasPrefix(r.ProxyAddresses[0].Value, "SMTP:") {
		return r.ProxyAddresses[0], true
	}
	return Address{}, false
}

// Values returns the proxyAddresses values in Result order.
func (r Result) Values() []string {
	out := make([]string, len(r.ProxyAddresses))
	for i, a := range r.ProxyAddresses {
		out[i] = a.Value
	}
	return out
}

// AsPrevious returns the cloud state r describes, to pass to the next
// Compute call for the same object.
func (r Result) AsPrevious() *Previous {
	return &Previous{Mail: r.Mail, MailNickname: r.MailNickname, ProxyAddresses: r.Values()}
}

// maxMOERAAttempts bounds the search for a free MOERA with digits appended.
const maxMOERAAttempts = 32

// Calculator runs Compute for one tenant, keeping what every call needs
// (the verified domains) and its working space between calls. It is not
// safe for concurrent use.
type Calculator struct {
	t        Tenant
	verified map[string]bool
	scratch  scratch
}

// NewCalculator returns a Calculator for t.
func NewCalculator(t Tenant) *Calculator {
	return &Calculator{t: t, verified: verifiedSet(t)}
}

// Compute is Compute(in, t, prev, opt) for the Calculator's tenant t.
func (k *Calculator) Compute(in Input, prev *Previous, opt Options) Result {
	var res Result
	k.ComputeInto(&res, in, prev, opt)
	return res
}

// ComputeInto is Compute writing its result into res, reusing the memory
// of res.ProxyAddresses and res.Dropped: what a previous result in res
// held there is overwritten. Callers that compute many objects and keep no
// result slices use it to allocate almost nothing per object.
func (k *Calculator) ComputeInto(res *Result, in Input, prev *Previous, opt Options) {
	c := calc{in: in, t: k.t, prev: prev, opt: opt, kind: normKind(in.Kind), recipient: in.ExchangeRecipient,
		verified: k.verified, scratch: &k.scratch, dropped: res.Dropped[:0]}
	c.enforce = c.recipient && c.kind != KindContact
	c.run(res, res.ProxyAddresses[:0])
}

// scratch is working space a Calculator reuses between calls.
type scratch struct {
	primaries, secondaries []smtpValue
	others                 []Address
	moeras, primaryMOERAs  []string
	list                   []entry
	seen                   map[string]bool
}

// smtpValue is an on-premises SMTP address without its prefix, and the
// value as read when it is exactly "SMTP:"+addr (primaries) or
// "smtp:"+addr (secondaries), else "".
type smtpValue struct {
	addr, raw string
}

// calc holds one Compute call's state.
type calc struct {
	in        Input
	t         Tenant
	prev      *Previous
	opt       Options
	kind      string
	recipient bool
	enforce   bool // drop unverified domains
	verified  map[string]bool
	dropped   []Dropped
	*scratch
}

func (c *calc) drop(value, source string, r Rule, reason string) {
	c.dropped = append(c.dropped, Dropped{Value: value, Rule: r, Reason: reason, Source: source})
}

// usable checks an address with a domain suffix (SMTP or SIP) against the
// malformed, reserved and unverified-domain rules; enforce says whether the
// unverified rule applies. It returns the rule and reason when the address
// is not usable, or "" and "".
func (c *calc) usable(addr string, enforce bool) (Rule, string) {
	if err := ValidateAddress(addr); err != nil {
		return RuleDroppedMalformed, err.Error()
	}
	d := domainOf(addr)
	if IsReservedDomain(d) {
		return RuleDroppedReserved, "domain " + d + " is reserved"
	}
	if enforce && !c.verified[strings.ToLower(d)] {
		return RuleDroppedUnverifiedDomain, "domain " + d + " is not verified in the tenant"
	}
	return "", ""
}

// check is usable with the object's enforce flag, recording a drop.
func (c *calc) check(addr, value, source string) bool {
	if r, why := c.usable(addr, c.enforce); r != "" {
		c.drop(value, source, r, why)
		return false
	}
	return true
}

func normKind(k string) string {
	switch k = strings.ToLower(k); k {
	case "", KindUser:
		return KindUser
	case KindGroup:
		return KindGroup
	default:
		return KindContact
	}
}

// verifiedSet holds t's verified domains and its initial domain,
// lower-cased.
func verifiedSet(t Tenant) map[string]bool {
	v := make(map[string]bool, len(t.VerifiedDomains)+1)
	for _, d := range t.VerifiedDomains {
		v[strings.ToLower(d)] = true
	}
	if t.InitialDomain != "" {
		v[strings.ToLower(t.InitialDomain)] = true
	}
	return v
}

// Compute runs ProxyCalc for one object. See the package documentation for
// the rules and the choices made where KB 3190357 is silent.
func Compute(in Input, t Tenant, prev *Previous, opt Options) Result {
	c := calc{in: in, t: t, prev: prev, opt: opt, kind: normKind(in.Kind), recipient: in.ExchangeRecipient,
		verified: verifiedSet(t), scratch: &scratch{}}
	c.enforce = c.recipient && c.kind != KindContact
	var res Result
	c.run(&res, nil)
	return res
}

// wellFormed reports whether ParseProxyAddress(p.String()) returns p
// itself, so that p can be used without building and parsing the string.
func wellFormed(p ad.ProxyAddress) bool {
	if p.Prefix == "" || len(p.Prefix) > 9 || p.Address == "" {
		return false
	}
	for i := 0; i < len(p.Prefix); i++ {
		if c := p.Prefix[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// proxyInput returns the i'th on-premises proxyAddresses value of in,
// parsed, and the value as read when it is at hand without building it
// ("" otherwise; call rawOf for it).
func (c *calc) proxyInput(i int) (p ad.ProxyAddress, raw string, err error) {
	if ps := c.in.Parsed; ps != nil {
		if i < len(ps.Values) {
			if p = ps.Values[i]; wellFormed(p) {
				return p, "", nil
			}
			raw = p.String()
		} else {
			raw = ps.Malformed[i-len(ps.Values)]
		}
	} else {
		raw = c.in.ProxyAddresses[i]
	}
	if raw == "" {
		return ad.ProxyAddress{}, "", nil
	}
	p, err = ad.ParseProxyAddress(raw)
	return p, raw, err
}

// rawOf is the value p was parsed from: raw, or p's string when raw was
// not at hand.
func rawOf(p ad.ProxyAddress, raw string) string {
	if raw != "" {
		return raw
	}
	return p.String()
}

func (c *calc) run(res *Result, out []Address) {
	in, prev := c.in, c.prev
	isUser := c.kind == KindUser
	moeraKind := c.kind != KindContact // users and groups get a MOERA

	// 1. On-premises proxyAddresses.
	primaries, secondaries := c.primaries[:0], c.secondaries[:0] // SMTP addresses, no prefix
	others := c.others[:0]                                       // kept non-SMTP values
	hasProxy := false
	n := len(in.ProxyAddresses)
	if in.Parsed != nil {
		n = len(in.Parsed.Values) + len(in.Parsed.Malformed)
	}
	for i := 0; i < n; i++ {
		p, raw, err := c.proxyInput(i)
		if p.Prefix == "" && err == nil {
			continue // LDAP cannot hold an empty value; nothing to copy
		}
		hasProxy = true
		if err != nil {
			why := "not of the form TYPE:address"
			if !strings.Contains(raw, ":") {
				why = "missing the protocol prefix (SMTP:, smtp:, X500:, ...)"
			}
			c.drop(raw, SourceProxyAddresses, RuleDroppedMalformed, why)
			continue
		}
		switch typ := p.Type(); {
		case typ == ad.TypeSMTP:
			if r, why := c.usable(p.Address, c.enforce); r != "" {
				c.drop(rawOf(p, raw), SourceProxyAddresses, r, why)
				continue
			}
			if p.IsPrimary() {
				v := smtpValue{addr: p.Address}
				if p.Prefix == "SMTP" {
					v.raw = raw
				}
				primaries = append(primaries, v)
			} else {
				v := smtpValue{addr: p.Address}
				if p.Prefix == "smtp" {
					v.raw = raw
				}
				secondaries = append(secondaries, v)
			}
		case typ == ad.TypeX500:
			if !strings.HasPrefix(p.Address, "/") || hasControl(p.Address) {
				c.drop(rawOf(p, raw), SourceProxyAddresses, RuleDroppedMalformed, "an X500 address must be a DN starting with '/'")
				continue
			}
			others = append(others, Address{Value: c.verbatim(p, raw), Rule: RuleKeptX500, Source: SourceProxyAddresses})
		case typ == ad.TypeSIP:
			if r, why := c.usable(p.Address, c.enforce); r != "" {
				c.drop(rawOf(p, raw), SourceProxyAddresses, r, why)
				continue
			}
			others = append(others, Address{Value: c.verbatim(p, raw), Rule: RuleKeptSIP, Source: SourceProxyAddresses})
		case typ == ad.TypeEUM:
			if hasControl(p.Address) || strings.TrimSpace(p.Address) == "" {
				c.drop(rawOf(p, raw), SourceProxyAddresses, RuleDroppedMalformed, "contains a control character or only spaces")
				continue
			}
			others = append(others, Address{Value: c.verbatim(p, raw), Rule: RuleKeptEUM, Source: SourceProxyAddresses})
		case isLegacy(typ):
			c.drop(rawOf(p, raw), SourceProxyAddresses, RuleDroppedLegacyType, "address type "+typ+" is a legacy protocol")
		default:
			c.drop(rawOf(p, raw), SourceProxyAddresses, RuleDroppedUnsupportedType, "address type "+typ+" is not SMTP, X500, SIP or EUM")
		}
	}
	c.primaries, c.secondaries, c.others = primaries, secondaries, others
	sortSMTP(primaries)
	sortSMTP(secondaries)
	proxySMTP := len(primaries)+len(secondaries) > 0

	// 2. mail.
	mailOK := in.Mail != "" && c.check(in.Mail, in.Mail, SourceMail)

	// 3. userPrincipalName: users only, and its domain must be verified
	// whether or not the user is a recipient (a cloud UPN is always in a
	// verified domain). Drops are recorded only when the UPN would be used.
	var upnRule Rule
	var upnWhy string
	upnOK := false
	if isUser && in.UPN != "" {
		upnRule, upnWhy = c.usable(in.UPN, true)
		upnOK = upnRule == ""
	}

	// 4. What the cloud already holds.
	var prevPrimary, prevMOERA string
	if prev != nil {
		// The MOERA is the initial-domain address; a secondary one is
		// preferred, the primary one (after scenario 4) is the fallback.
		moeras, primaryMOERAs := c.moeras[:0], c.primaryMOERAs[:0]
		for _, v := range prev.ProxyAddresses {
			p, err := ad.ParseProxyAddress(v)
			if err != nil || !p.IsSMTP() {
				continue
			}
			if p.IsPrimary() && prevPrimary == "" {
				prevPrimary = p.Address
			}
			if c.isMOERA(p.Address) {
				if p.IsPrimary() {
					primaryMOERAs = append(primaryMOERAs, p.Address)
				} else {
					moeras = append(moeras, p.Address)
				}
			}
		}
		c.moeras, c.primaryMOERAs = moeras, primaryMOERAs
		if prevPrimary == "" {
			prevPrimary = prev.Mail
		}
		if len(moeras) == 0 {
			moeras = primaryMOERAs
		}
		if len(moeras) > 0 {
			sortFold(moeras)
			prevMOERA = moeras[0]
		}
	}

	// 5. The primary, as far as it does not depend on the MOERA.
	var primary, pSource, pRaw string
	var pRule Rule
	var demoted []smtpValue
	set := func(addr string, r Rule, src string) { primary, pRule, pSource, pRaw = addr, r, src, "" }
	switch {
	case len(primaries) > 0:
		set(primaries[0].addr, RulePrimaryFromProxyAddresses, SourceProxyAddresses)
		pRaw = primaries[0].raw
		demoted = primaries[1:]
	case hasProxy && prevPrimary != "":
		// proxyAddresses is set, so ProxyCalc reads it and not mail; with no
		// SMTP: value there it keeps what it had. KB scenario 4 (last step)
		// and the x500-only case (Tim McMichael, "Office 365: Provisioning
		// Exchange Online mailboxes with only a mail attribute…", see doc.go):
		// a mail change no longer flows once Exchange hybrid has written an
		// x500 back to proxyAddresses.
		set(prevPrimary, RuleKeptPreviousPrimary, SourcePrevious)
	case mailOK:
		// Also the first sync of an x500-only object: nothing to keep yet.
		set(in.Mail, RulePrimaryFromMail, SourceMail)
	case !c.recipient && !hasProxy && prevPrimary != "" && c.isMOERA(prevPrimary):
		// Steady state after KB scenario 4's licence removal.
		set(prevPrimary, RuleMOERAPromoted, SourceMOERA)
	case c.recipient && upnOK:
		set(in.UPN, RulePrimaryFromUPN, SourceUPN)
	case isUser && !c.recipient && prevMOERA != "" && strings.EqualFold(prevPrimary, in.UPN):
		// KB scenario 4: the licence is removed from a user whose primary
		// was its UPN; the MOERA is promoted.
		set(prevMOERA, RuleMOERAPromoted, SourceMOERA)
	case len(secondaries) > 0 && !(c.recipient && moeraKind):
		// KB silent: SMTP values but no primary. Non-recipients (and
		// contacts) take the UPN when it is usable, else the first
		// secondary; recipients take the MOERA below.
		if isUser && upnOK {
			set(in.UPN, RulePrimaryFromUPN, SourceUPN)
		} else {
			set(secondaries[0].addr, RuleSecondaryPromoted, SourceProxyAddresses)
		}
	}

	// 6. mailNickName. A recipient with only secondaries and nothing to
	// name it by takes its first secondary as primary here, so that the
	// nickname (and MOERA) can come from it.
	if primary == "" && len(secondaries) > 0 && in.MailNickname == "" &&
		(prev == nil || prev.MailNickname == "") && !(isUser && localOf(in.UPN) != "") {
		set(secondaries[0].addr, RuleSecondaryPromoted, SourceProxyAddresses)
	}
	*res = Result{ProxyAddresses: res.ProxyAddresses, Dropped: res.Dropped}
	switch {
	case in.MailNickname != "":
		res.MailNickname, res.NicknameRule = in.MailNickname, RuleNicknameFromAD
	case prev != nil && prev.MailNickname != "":
		res.MailNickname, res.NicknameRule = prev.MailNickname, RuleNicknameKept
	case primary != "" && localOf(primary) != "":
		res.MailNickname, res.NicknameRule = localOf(primary), RuleNicknameFromPrimary
	case isUser && localOf(in.UPN) != "":
		res.MailNickname, res.NicknameRule = localOf(in.UPN), RuleNicknameFromUPN
	default:
		res.NicknameRule = RuleNicknameNone
	}

	// 7. MOERA: for recipient users and groups, kept from the cloud when it
	// has one (scenarios 3 and 5), else mailNickName@initial domain.
	var moera string
	var moeraRule Rule
	if c.recipient && moeraKind && pRule != RuleMOERAPromoted && c.t.InitialDomain != "" {
		if prevMOERA != "" {
			moera, moeraRule = prevMOERA, RuleKeptPreviousMOERA
		} else if res.MailNickname != "" {
			moera, moeraRule = c.newMOERA(res.MailNickname), RuleMOERA
		}
	}

	// 8. Primaries that depend on the MOERA, then the last resort.
	if primary == "" && c.recipient && moeraKind && moera != "" {
		set(moera, RuleMOERAPromoted, SourceMOERA)
		moera = ""
	}
	if primary == "" && len(secondaries) > 0 {
		set(secondaries[0].addr, RuleSecondaryPromoted, SourceProxyAddresses)
	}

	// 9. Assemble; the first value for an address wins, so the primary is
	// never duplicated by a secondary.
	b := builder{list: c.list[:0], seen: c.seen}
	if primary != "" {
		b.addSMTP(entry{prefix: "SMTP", addr: primary, raw: pRaw, rule: pRule, source: pSource})
	}
	for _, a := range demoted {
		b.addSMTP(entry{prefix: "smtp", addr: a.addr, rule: RuleExtraPrimaryDemoted, source: SourceProxyAddresses})
	}
	for _, a := range secondaries {
		b.addSMTP(entry{prefix: "smtp", addr: a.addr, raw: a.raw, rule: RuleSecondaryFromProxyAddresses, source: SourceProxyAddresses})
	}
	if isUser && in.UPN != "" && (c.recipient || proxySMTP) {
		if upnOK {
			b.addSMTP(entry{prefix: "smtp", addr: in.UPN, rule: RuleUPNSecondary, source: SourceUPN})
		} else {
			c.drop(in.UPN, SourceUPN, upnRule, upnWhy)
		}
	}
	if moera != "" {
		b.addSMTP(entry{prefix: "smtp", addr: moera, rule: moeraRule, source: SourceMOERA})
	}
	for _, a := range others {
		b.addOther(a)
	}
	if mailOK && pRule != RulePrimaryFromMail && !b.hasSMTP(in.Mail) {
		switch pRule {
		case RuleKeptPreviousPrimary:
			c.drop(in.Mail, SourceMail, RuleDroppedMailIgnored, fmt.Sprintf(
				"proxyAddresses is set but has no SMTP: value, so the cloud keeps %s; add SMTP:%s to proxyAddresses", primary, in.Mail))
		default:
			c.drop(in.Mail, SourceMail, RuleDroppedMailIgnored, fmt.Sprintf(
				"proxyAddresses sets the primary SMTP:%s, which wins over mail", primary))
		}
	}
	c.list, c.seen = b.list, b.seen
	if b.seen != nil {
		clear(b.seen)
	}

	res.ProxyAddresses = c.sorted(out, b.list)
	res.Mail = primary
	res.MailRule = pRule
	if primary == "" {
		res.MailRule = RuleNoPrimary
	}
	res.Dropped = c.dropped
	res.Recipient = c.recipient
}

// verbatim is the value of a kept non-SMTP proxyAddresses value, sharing
// the string of an equal value the cloud already holds when p's is not at
// hand.
func (c *calc) verbatim(p ad.ProxyAddress, raw string) string {
	if raw != "" {
		return raw
	}
	return c.value(p.Prefix, p.Address, "")
}

// value returns prefix+":"+addr: raw when it is that value, else an equal
// value the cloud already holds (prev), else a new string.
func (c *calc) value(prefix, addr, raw string) string {
	if raw != "" {
		return raw
	}
	if c.prev != nil {
		n := len(prefix) + 1 + len(addr)
		for _, v := range c.prev.ProxyAddresses {
			if len(v) == n && v[len(prefix)] == ':' && v[:len(prefix)] == prefix && v[len(prefix)+1:] == addr {
				return v
			}
		}
	}
	return prefix + ":" + addr
}

// sorted returns the addresses collected, the "SMTP:" primary (always
// added first) first and the rest sorted, in out's memory. It returns nil
// (or out emptied) when there are none.
func (c *calc) sorted(out []Address, list []entry) []Address {
	if len(list) == 0 {
		return out
	}
	for _, e := range list {
		v := e.value
		if v == "" {
			v = c.value(e.prefix, e.addr, e.raw)
		}
		out = append(out, Address{Value: v, Rule: e.rule, Source: e.source})
	}
	rest := out
	if strings.HasPrefix(out[0].Value, "SMTP:") {
		rest = out[1:]
	}
	slices.SortFunc(rest, func(a, b Address) int { return compareFold(a.Value, b.Value) })
	return out
}

// isMOERA reports whether addr is in the tenant's initial domain.
func (c *calc) isMOERA(addr string) bool {
	return c.t.InitialDomain != "" && strings.EqualFold(domainOf(addr), c.t.InitialDomain)
}

// newMOERA returns a free mailNickName@initial domain, with 4 digits
// appended to the nickname when it is taken (KB scenario 6), or "" (with a
// drop recorded) when none is valid or free.
func (c *calc) newMOERA(nick string) string {
	base := nick + "@" + c.t.InitialDomain
	if err := ValidateAddress(base); err != nil {
		c.drop(base, SourceMOERA, RuleDroppedMalformed, "mailNickName "+nick+" does not form a valid MOERA: "+err.Error())
		return ""
	}
	taken := c.opt.TakenMOERA
	if taken == nil || !taken(base) {
		return base
	}
	for i := 0; i < maxMOERAAttempts; i++ {
		cand := nick + c.digits(i) + "@" + c.t.InitialDomain
		if ValidateAddress(cand) != nil {
			break // the nickname is too long to take 4 more characters
		}
		if !taken(cand) {
			return cand
		}
	}
	c.drop(base, SourceMOERA, RuleDroppedMOERACollision, "no free MOERA for mailNickName "+nick)
	return ""
}

// digits returns the attempt'th 4-digit suffix: Options.Digits when it
// answers 4 digits, else an FNV-1a hash of the UPN (or mail and nickname)
// and the attempt number.
func (c *calc) digits(attempt int) string {
	if c.opt.Digits != nil {
		if d := c.opt.Digits(); len(d) == 4 && strings.Trim(d, "0123456789") == "" {
			return d
		}
	}
	h := fnv.New32a()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d", c.in.UPN, c.in.Mail, c.in.MailNickname, attempt)
	return fmt.Sprintf("%04d", h.Sum32()%10000)
}

func isLegacy(typ string) bool {
	for _, l := range LegacyTypes {
		if typ == l {
			return true
		}
	}
	return false
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// sortFold sorts case-insensitively, ties broken by exact value.
func sortFold(s []string) {
	if len(s) > 1 {
		slices.SortFunc(s, compareFold)
	}
}

// sortSMTP sorts SMTP values by address as sortFold does.
func sortSMTP(s []smtpValue) {
	if len(s) > 1 {
		slices.SortFunc(s, func(a, b smtpValue) int { return compareFold(a.addr, b.addr) })
	}
}

func lessFold(a, b string) bool { return compareFold(a, b) < 0 }

// compareFold orders strings.ToLower(a) against strings.ToLower(b), then a
// against b. While both are ASCII it lower-cases byte by byte: lower-casing
// maps an ASCII prefix to the same bytes whatever follows it, so the first
// difference decides.
func compareFold(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		x, y := a[i], b[i]
		if x >= 0x80 || y >= 0x80 {
			return compareFoldSlow(a, b)
		}
		if x != y {
			if lx, ly := lower.Byte(x), lower.Byte(y); lx != ly {
				return int(lx) - int(ly)
			}
		}
	}
	if len(a) != len(b) {
		// One lower-cases to a proper prefix of the other: lower-casing
		// never empties a non-empty rest.
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

func compareFoldSlow(a, b string) int {
	if c := strings.Compare(strings.ToLower(a), strings.ToLower(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// entry is one value collected for the result: prefix+":"+addr for SMTP
// values (raw, when not "", is that value as read), or value verbatim.
type entry struct {
	prefix, addr, raw string
	value             string
	rule              Rule
	source            string
}

// builder collects addresses, collapsing case-insensitive duplicates of
// the whole value (type prefix included). SMTP values and the verbatim
// (X500, SIP, EUM) ones never collide: their lower-cased prefixes differ.
type builder struct {
	list []entry
	// seen holds the lower-cased values once the list is long enough
	// for linear searches to cost more than a map.
	seen map[string]bool
}

// mapAbove is the list length from which builder uses its map.
const mapAbove = 16

// key is the lower-cased whole value of e, so "SMTP:A@x" and "smtp:a@x"
// share a key.
func (e *entry) key() string {
	if e.value != "" {
		return strings.ToLower(e.value)
	}
	return "smtp:" + strings.ToLower(e.addr)
}

func (b *builder) useMap() bool {
	if len(b.list) < mapAbove {
		return false
	}
	if b.seen == nil {
		b.seen = map[string]bool{}
	}
	if len(b.seen) == 0 {
		for i := range b.list {
			b.seen[b.list[i].key()] = true
		}
	}
	return true
}

// hasSMTP reports whether an SMTP value for addr was added.
func (b *builder) hasSMTP(addr string) bool {
	if b.useMap() {
		return b.seen["smtp:"+strings.ToLower(addr)]
	}
	for i := range b.list {
		if e := &b.list[i]; e.value == "" && lower.Equal(e.addr, addr) {
			return true
		}
	}
	return false
}

func (b *builder) addSMTP(e entry) {
	if b.hasSMTP(e.addr) {
		return
	}
	if len(b.seen) > 0 {
		b.seen[e.key()] = true
	}
	b.list = append(b.list, e)
}

func (b *builder) addOther(a Address) {
	e := entry{value: a.Value, rule: a.Rule, source: a.Source}
	if b.useMap() {
		k := e.key()
		if b.seen[k] {
			return
		}
		b.seen[k] = true
	} else {
		for i := range b.list {
			if x := &b.list[i]; x.value != "" && lower.Equal(x.value, a.Value) {
				return
			}
		}
	}
	b.list = append(b.list, e)
}
