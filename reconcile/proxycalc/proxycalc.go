package proxycalc

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
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

// Compute runs ProxyCalc for one object. See the package documentation for
// the rules and the choices made where KB 3190357 is silent.
func Compute(in Input, t Tenant, prev *Previous, opt Options) Result {
	c := &calc{in: in, t: t, prev: prev, opt: opt, kind: normKind(in.Kind), recipient: in.ExchangeRecipient}
	c.enforce = c.recipient && c.kind != KindContact
	c.verified = map[string]bool{}
	for _, d := range t.VerifiedDomains {
		c.verified[strings.ToLower(d)] = true
	}
	if t.InitialDomain != "" {
		c.verified[strings.ToLower(t.InitialDomain)] = true
	}
	return c.run()
}

func (c *calc) run() Result {
	in, prev := c.in, c.prev
	isUser := c.kind == KindUser
	moeraKind := c.kind != KindContact // users and groups get a MOERA

	// 1. On-premises proxyAddresses.
	var primaries, secondaries []string // SMTP addresses, no prefix
	var others []Address                // kept non-SMTP values
	hasProxy := false
	for _, raw := range in.ProxyAddresses {
		if raw == "" {
			continue // LDAP cannot hold an empty value; nothing to copy
		}
		hasProxy = true
		p, err := ad.ParseProxyAddress(raw)
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
			if !c.check(p.Address, raw, SourceProxyAddresses) {
				continue
			}
			if p.IsPrimary() {
				primaries = append(primaries, p.Address)
			} else {
				secondaries = append(secondaries, p.Address)
			}
		case typ == ad.TypeX500:
			if !strings.HasPrefix(p.Address, "/") || hasControl(p.Address) {
				c.drop(raw, SourceProxyAddresses, RuleDroppedMalformed, "an X500 address must be a DN starting with '/'")
				continue
			}
			others = append(others, Address{Value: raw, Rule: RuleKeptX500, Source: SourceProxyAddresses})
		case typ == ad.TypeSIP:
			if !c.check(p.Address, raw, SourceProxyAddresses) {
				continue
			}
			others = append(others, Address{Value: raw, Rule: RuleKeptSIP, Source: SourceProxyAddresses})
		case typ == ad.TypeEUM:
			if hasControl(p.Address) || strings.TrimSpace(p.Address) == "" {
				c.drop(raw, SourceProxyAddresses, RuleDroppedMalformed, "contains a control character or only spaces")
				continue
			}
			others = append(others, Address{Value: raw, Rule: RuleKeptEUM, Source: SourceProxyAddresses})
		case isLegacy(typ):
			c.drop(raw, SourceProxyAddresses, RuleDroppedLegacyType, "address type "+typ+" is a legacy protocol")
		default:
			c.drop(raw, SourceProxyAddresses, RuleDroppedUnsupportedType, "address type "+typ+" is not SMTP, X500, SIP or EUM")
		}
	}
	sortFold(primaries)
	sortFold(secondaries)
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
		var moeras, primaryMOERAs []string
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
	var primary, pSource string
	var pRule Rule
	var demoted []string
	set := func(addr string, r Rule, src string) { primary, pRule, pSource = addr, r, src }
	switch {
	case len(primaries) > 0:
		set(primaries[0], RulePrimaryFromProxyAddresses, SourceProxyAddresses)
		demoted = primaries[1:]
	case hasProxy && prevPrimary != "":
		// proxyAddresses is set, so ProxyCalc reads it and not mail; with no
		// SMTP: value there it keeps what it had. KB scenario 4 (last step)
		// and the x500-only case observed by DLConversionV2's author (seed
		// 001): a mail change no longer flows once Exchange hybrid has
		// written an x500 back to proxyAddresses.
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
			set(secondaries[0], RuleSecondaryPromoted, SourceProxyAddresses)
		}
	}

	// 6. mailNickName. A recipient with only secondaries and nothing to
	// name it by takes its first secondary as primary here, so that the
	// nickname (and MOERA) can come from it.
	if primary == "" && len(secondaries) > 0 && in.MailNickname == "" &&
		(prev == nil || prev.MailNickname == "") && !(isUser && localOf(in.UPN) != "") {
		set(secondaries[0], RuleSecondaryPromoted, SourceProxyAddresses)
	}
	var res Result
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
		set(secondaries[0], RuleSecondaryPromoted, SourceProxyAddresses)
	}

	// 9. Assemble; the first value for an address wins, so the primary is
	// never duplicated by a secondary.
	b := builder{seen: map[string]bool{}}
	if primary != "" {
		b.add(Address{Value: "SMTP:" + primary, Rule: pRule, Source: pSource})
	}
	for _, a := range demoted {
		b.add(Address{Value: "smtp:" + a, Rule: RuleExtraPrimaryDemoted, Source: SourceProxyAddresses})
	}
	for _, a := range secondaries {
		b.add(Address{Value: "smtp:" + a, Rule: RuleSecondaryFromProxyAddresses, Source: SourceProxyAddresses})
	}
	if isUser && in.UPN != "" && (c.recipient || proxySMTP) {
		if upnOK {
			b.add(Address{Value: "smtp:" + in.UPN, Rule: RuleUPNSecondary, Source: SourceUPN})
		} else {
			c.drop(in.UPN, SourceUPN, upnRule, upnWhy)
		}
	}
	if moera != "" {
		b.add(Address{Value: "smtp:" + moera, Rule: moeraRule, Source: SourceMOERA})
	}
	for _, a := range others {
		b.add(a)
	}
	if mailOK && pRule != RulePrimaryFromMail && !b.has("smtp:"+in.Mail) {
		switch pRule {
		case RuleKeptPreviousPrimary:
			c.drop(in.Mail, SourceMail, RuleDroppedMailIgnored, fmt.Sprintf(
				"proxyAddresses is set but has no SMTP: value, so the cloud keeps %s; add SMTP:%s to proxyAddresses", primary, in.Mail))
		default:
			c.drop(in.Mail, SourceMail, RuleDroppedMailIgnored, fmt.Sprintf(
				"proxyAddresses sets the primary SMTP:%s, which wins over mail", primary))
		}
	}

	res.ProxyAddresses = b.sorted()
	res.Mail = primary
	res.MailRule = pRule
	if primary == "" {
		res.MailRule = RuleNoPrimary
	}
	res.Dropped = c.dropped
	res.Recipient = c.recipient
	return res
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
	sort.Slice(s, func(i, j int) bool { return lessFold(s[i], s[j]) })
}

func lessFold(a, b string) bool {
	la, lb := strings.ToLower(a), strings.ToLower(b)
	if la != lb {
		return la < lb
	}
	return a < b
}

// builder collects addresses, collapsing case-insensitive duplicates of
// the whole value (type prefix included).
type builder struct {
	list []Address
	seen map[string]bool
}

// addressKey lower-cases the whole value, so "SMTP:A@x" and "smtp:a@x"
// share a key.
func addressKey(value string) string { return strings.ToLower(value) }

func (b *builder) has(value string) bool { return b.seen[addressKey(value)] }

func (b *builder) add(a Address) {
	k := addressKey(a.Value)
	if b.seen[k] {
		return
	}
	b.seen[k] = true
	b.list = append(b.list, a)
}

// sorted returns the list with an "SMTP:" primary (always added first)
// first and the rest sorted.
func (b *builder) sorted() []Address {
	if len(b.list) == 0 {
		return nil
	}
	out := append([]Address(nil), b.list...)
	rest := out
	if strings.HasPrefix(out[0].Value, "SMTP:") {
		rest = out[1:]
	}
	sort.Slice(rest, func(i, j int) bool { return lessFold(rest[i].Value, rest[j].Value) })
	return out
}
