package proxycalc

// Rule names the ProxyCalc rule behind a value in a Result. The string is
// stable and safe to store or print.
type Rule string

// Rules that choose the primary SMTP address, and so mail.
const (
	RulePrimaryFromProxyAddresses Rule = "primary-from-proxyaddresses"
	RulePrimaryFromMail           Rule = "primary-from-mail"
	RulePrimaryFromUPN            Rule = "primary-from-upn"
	RuleKeptPreviousPrimary       Rule = "kept-previous-primary"
	RuleMOERAPromoted             Rule = "moera-promoted"
	RuleSecondaryPromoted         Rule = "secondary-promoted"
	RuleNoPrimary                 Rule = "no-primary"
)

// Rules that add secondary addresses.
const (
	RuleSecondaryFromProxyAddresses Rule = "secondary-from-proxyaddresses"
	RuleExtraPrimaryDemoted         Rule = "extra-primary-demoted"
	RuleUPNSecondary                Rule = "upn-secondary"
	RuleMOERA                       Rule = "moera"
	RuleKeptPreviousMOERA           Rule = "kept-previous-moera"
	RuleKeptX500                    Rule = "kept-x500"
	RuleKeptSIP                     Rule = "kept-sip"
	RuleKeptEUM                     Rule = "kept-eum"
)

// Rules that discard an on-premises value (used in Dropped).
const (
	RuleDroppedReserved         Rule = "dropped-reserved-domain"
	RuleDroppedLegacyType       Rule = "dropped-legacy-type"
	RuleDroppedUnsupportedType  Rule = "dropped-unsupported-type"
	RuleDroppedMalformed        Rule = "dropped-malformed"
	RuleDroppedUnverifiedDomain Rule = "dropped-unverified-domain"
	RuleDroppedMailIgnored      Rule = "dropped-mail-ignored"
	RuleDroppedMOERACollision   Rule = "dropped-moera-collision"
)

// Rules that choose mailNickName.
const (
	RuleNicknameFromAD      Rule = "nickname-from-ad"
	RuleNicknameKept        Rule = "nickname-kept-previous"
	RuleNicknameFromPrimary Rule = "nickname-from-primary"
	RuleNicknameFromUPN     Rule = "nickname-from-upn"
	RuleNicknameNone        Rule = "nickname-none"
)

var explanations = map[Rule]string{
	RulePrimaryFromProxyAddresses: "The primary SMTP address is the SMTP: value of the on-premises proxyAddresses, which always wins over mail (KB 3190357, scenario 3); change the SMTP: value on-premises to change it.",
	RulePrimaryFromMail:           "The primary SMTP address is the on-premises mail attribute because proxyAddresses offers no usable SMTP: value (KB 3190357, scenario 2); change mail on-premises, or stamp an SMTP: value in proxyAddresses, to change it.",
	RulePrimaryFromUPN:            "The primary SMTP address is the userPrincipalName because the object has neither a usable SMTP: proxyAddresses value nor mail (KB 3190357, scenarios 1, 4 and 5); set mail or an SMTP: proxyAddresses value on-premises to choose another.",
	RuleKeptPreviousPrimary:       "The cloud keeps its previous primary SMTP address because on-premises proxyAddresses is set but holds no usable SMTP: value, so mail is no longer read (KB 3190357, scenario 4; the same happens once Exchange hybrid has written an x500 value back to proxyAddresses of a user that had only mail); add SMTP:<new address> to proxyAddresses on-premises to change it.",
	RuleMOERAPromoted:             "The MOERA (mailNickName@initial domain) is the primary SMTP address because no other primary is available, for example after the Exchange Online licence was removed (KB 3190357, scenario 4); set mail or an SMTP: proxyAddresses value on-premises to replace it.",
	RuleSecondaryPromoted:         "No primary SMTP address was available, so the first secondary smtp: value is used as primary (KB 3190357 is silent on this case; hybridsync's choice); add one SMTP: value to proxyAddresses on-premises to choose it explicitly.",
	RuleNoPrimary:                 "The object has no primary SMTP address, so mail stays empty, because it has no usable mail or proxyAddresses and is not an Exchange Online recipient (KB 3190357, scenario 1); set mail or proxyAddresses, or assign an Exchange Online licence, if it needs an address.",

	RuleSecondaryFromProxyAddresses: "This secondary address is a smtp: value of the on-premises proxyAddresses (KB 3190357); remove or change it in proxyAddresses on-premises.",
	RuleExtraPrimaryDemoted:         "On-premises proxyAddresses holds more than one SMTP: value, so this one is kept only as a secondary (KB 3190357 is silent; hybridsync keeps the alphabetically first as primary); leave exactly one SMTP: value on-premises.",
	RuleUPNSecondary:                "The userPrincipalName is always added as a secondary address of an Exchange Online recipient by design and goes away only if the UPN changes on-premises (KB 3190357, scenarios 1-4); this is not drift and needs no action.",
	RuleMOERA:                       "The Microsoft Online Email Routing Address, mailNickName@initial domain, is added to every Exchange Online recipient by design (KB 3190357, scenarios 1-3 and 6); this is not drift and needs no action.",
	RuleKeptPreviousMOERA:           "The MOERA assigned at an earlier sync is kept when mailNickName or the primary address changes (KB 3190357, scenarios 3 and 5); this is by design, not drift.",
	RuleKeptX500:                    "X500 values are kept so replies to messages sent to a mailbox's old legacyExchangeDN still resolve (KB 3190357 lists X500 as a known type and discards only legacy types); keep them on-premises.",
	RuleKeptSIP:                     "SIP values are kept for Teams and Skype for Business routing (KB 3190357 lists SIP as a known proxyAddresses type); change them on-premises if the SIP address is wrong.",
	RuleKeptEUM:                     "EUM (Exchange Unified Messaging) values are copied as they are (KB 3190357 does not list EUM among the discarded legacy types); remove them on-premises if Unified Messaging is no longer used.",

	RuleDroppedReserved:         "The value uses a reserved domain (*.onmicrosoft.com or *.microsoftonline.com), which ProxyCalc discards from on-premises values (KB 3190357, scenario 3); remove it on-premises, since the cloud adds its own MOERA.",
	RuleDroppedLegacyType:       "The value uses a legacy address type such as MSMAIL or X400, which ProxyCalc discards (KB 3190357); remove it from proxyAddresses on-premises.",
	RuleDroppedUnsupportedType:  "The value's address type is neither SMTP, X500, SIP nor EUM, so it is not expected in the cloud (KB 3190357 discards legacy protocols; hybridsync treats unknown types the same way); remove it on-premises or confirm it is not needed in Exchange Online.",
	RuleDroppedMalformed:        "The value is malformed (missing its SMTP: prefix, containing a space or another character RFC 5322 forbids), so ProxyCalc discards it (KB 3190357); correct it on-premises.",
	RuleDroppedUnverifiedDomain: "The address's domain is not verified in the tenant and the object is an Exchange Online recipient, so ProxyCalc removes it (KB 3190357); verify the domain in Microsoft Entra ID or remove the address on-premises.",
	RuleDroppedMailIgnored:      "The on-premises mail value is not used because proxyAddresses is set and controls the addresses (KB 3190357; as once Exchange hybrid has written an x500 value back to proxyAddresses of a user that had only mail); add SMTP:<mail> to proxyAddresses on-premises to make it the primary.",
	RuleDroppedMOERACollision:   "Every MOERA tried for this mailNickName, including those with 4 digits appended, is used by another object, so none was added (KB 3190357, scenario 6); give the object a distinct mailNickName on-premises.",

	RuleNicknameFromAD:      "mailNickName is the on-premises mailNickName (KB 3190357, scenarios 5 and 6); change it on-premises.",
	RuleNicknameKept:        "mailNickName keeps the value the cloud already holds because the on-premises mailNickName is not set (KB 3190357, scenario 3); set mailNickName on-premises to change it.",
	RuleNicknameFromPrimary: "mailNickName is the local part of the primary SMTP address because the on-premises mailNickName is not set (KB 3190357, scenarios 2-4); set mailNickName on-premises to choose another.",
	RuleNicknameFromUPN:     "mailNickName is the userPrincipalName prefix because it is mandatory and nothing else supplies it (KB 3190357, scenario 1); set mailNickName on-premises to choose another.",
	RuleNicknameNone:        "mailNickName is empty because neither mailNickName, a primary address nor a UPN is available (KB 3190357 derives it from those); set mailNickName on-premises.",
}

// Explain returns one sentence an Exchange admin can act on, citing KB
// 3190357. It returns "" for a Rule this package does not define.
func (r Rule) Explain() string { return explanations[r] }

// AllRules returns every Rule this package defines, in a stable order.
func AllRules() []Rule {
	return []Rule{
		RulePrimaryFromProxyAddresses, RulePrimaryFromMail, RulePrimaryFromUPN,
		RuleKeptPreviousPrimary, RuleMOERAPromoted, RuleSecondaryPromoted, RuleNoPrimary,
		RuleSecondaryFromProxyAddresses, RuleExtraPrimaryDemoted, RuleUPNSecondary,
		RuleMOERA, RuleKeptPreviousMOERA, RuleKeptX500, RuleKeptSIP, RuleKeptEUM,
		RuleDroppedReserved, RuleDroppedLegacyType, RuleDroppedUnsupportedType,
		RuleDroppedMalformed, RuleDroppedUnverifiedDomain, RuleDroppedMailIgnored,
		RuleDroppedMOERACollision,
		RuleNicknameFromAD, RuleNicknameKept, RuleNicknameFromPrimary,
		RuleNicknameFromUPN, RuleNicknameNone,
	}
}
