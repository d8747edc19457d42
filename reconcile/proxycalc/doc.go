// Package proxycalc predicts the mail, mailNickName and proxyAddresses that
// Microsoft Entra ID computes for a synchronized on-premises object: the
// "proxy calculation" (ProxyCalc) described in Microsoft's KB 3190357, "How
// the proxyAddresses attribute is populated in Microsoft Entra ID".
//
// Compute is pure: no I/O, no clock, and no randomness except what the
// caller injects through Options. The tenant emulator's sync-engine
// simulator uses it to decide what the cloud holds after a sync, and the
// reconcile planner uses it to predict that state and explain findings, so
// every output address and every discarded on-premises value carries the
// Rule that produced it; Rule.Explain gives one sentence an Exchange admin
// can act on. A Calculator gives the same results for many objects of one
// tenant while reusing its working memory (the planner computes a million
// objects per run).
//
// # What the KB states (and Compute implements)
//
//   - The primary SMTP address is the on-premises "SMTP:" proxyAddresses
//     value, else mail, else (for Exchange Online recipients) the
//     userPrincipalName. mail is the primary without its prefix.
//   - mailNickName is the on-premises mailNickName, else the value the cloud
//     already holds, else the primary's local part, else the UPN prefix (it
//     is mandatory, so even a user with no mail attributes gets one).
//   - On-premises values with a reserved suffix (*.onmicrosoft.com,
//     *.microsoftonline.com), a legacy type (MSMAIL, X400, ...), or that are
//     not RFC 5322 compliant are discarded; so are values in unverified
//     domains when the object is an Exchange Online recipient.
//   - Recipients get the MOERA (mailNickName@initial domain) and the UPN as
//     secondaries. An existing MOERA is kept when mailNickName or the primary
//     changes (scenarios 3 and 5); a MOERA already used by another object
//     gets 4 digits appended to the nickname (scenario 6).
//   - When the licence is removed from a user whose primary was the UPN, the
//     MOERA is promoted to primary (scenario 4).
//
// The KB (as indexed) has six scenarios; kb_test.go reproduces each of them
// value for value.
//
// # Observed, not documented
//
// Tim McMichael's article "Office 365: Provisioning Exchange Online
// mailboxes with only a mail attribute…"
// (https://timmcmic.blog/2024/01/30/office-365-provisioning-exchange-online-mailboxes-with-only-a-mail-attribute/)
// shows that a user with only mail and no licence is not an
// Exchange Online recipient and holds just its primary; that a licence or a
// remote-mailbox provisioning makes it one (and the UPN is then always a
// secondary); and that once proxyAddresses holds any value, even just an
// x500 written back by Exchange hybrid, ProxyCalc reads proxyAddresses
// instead of mail, so later mail changes no longer flow. Compute models that
// as RuleKeptPreviousPrimary plus a RuleDroppedMailIgnored entry. The same
// report shows Exchange Online keeping a replaced primary as a secondary;
// that happens in Exchange Online after ProxyCalc (KB scenario 3 shows Entra
// dropping the old primary), so it is not modelled here.
//
// # Where the KB is silent (choices made here)
//
//   - X500, SIP and EUM values are kept: the KB names X500 and SIP as known
//     proxyAddresses types and discards only "legacy protocols like MSMAIL,
//     X400"; Exchange hybrid relies on X500 for replies to old addresses.
//     Legacy types (MS, MSMAIL, X400, CCMAIL, NOTES, GWISE) are dropped;
//     any other type is dropped as unsupported.
//   - SIP values are addresses with a domain suffix, so the reserved-suffix
//     and unverified-domain rules apply to them as to SMTP values.
//   - A domain is verified when it equals (case-insensitively) a verified
//     domain or the initial domain; subdomains are not implied.
//   - The unverified-domain rule applies to recipient users and groups, not
//     to contacts: a mail contact's address is external by definition.
//   - Groups that are recipients get a MOERA (Exchange Online gives mail-
//     enabled groups alias@<initial domain>); contacts get none. Neither gets
//     a UPN address.
//   - The UPN is added as a secondary to recipients and also to a user whose
//     on-premises proxyAddresses supplies an SMTP value (scenario 4's last
//     step shows this for an unlicensed user). Its domain must be verified.
//   - With several "SMTP:" values on-premises, the case-insensitively first
//     is primary and the others become secondaries (RuleExtraPrimaryDemoted),
//     so the result does not depend on LDAP value order.
//   - When the object holds SMTP values but none of the KB's sources yields
//     a primary: a non-recipient user takes its UPN; a recipient user or
//     group takes its MOERA (RuleMOERAPromoted); anything else, or an object
//     with nothing to derive a nickname from, takes its first secondary
//     (RuleSecondaryPromoted). So there is always exactly one primary.
//   - The x500-only rule keeps the previous primary only when there is one;
//     on the first sync mail is used (and then kept on later syncs).
//   - Options.Digits nil: the 4 digits are an FNV-1a hash of the UPN, mail,
//     mailNickName and attempt number, so results stay reproducible.
//   - A MOERA is kept for a non-recipient only when it is the primary.
//   - Local parts must be an RFC 5322 dot-atom (no quoted strings), domains
//     ASCII host names with at least two labels; see ValidateAddress.
package proxycalc
