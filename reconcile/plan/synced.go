package plan

import (
	"strings"

	"github.com/hybridsync/hybridsync/ad"
)

// NotSynced returns why Entra Connect's out-of-box rules do not sync r,
// wherever it is, or "" when they do: every user but the system accounts
// listed below, every security group, and the distribution groups and
// contacts that are mail-enabled. Dynamic distribution groups are never
// synced. The planner and the sync simulator both decide with it.
//
// https://learn.microsoft.com/entra/identity/hybrid/connect/concept-azure-ad-connect-sync-default-configuration
// ("Out-of-box rules from on-premises to Microsoft Entra ID").
func NotSynced(r *ad.Recipient) string {
	if r.Deleted {
		return "it is deleted in AD"
	}
	switch r.Kind {
	case ad.KindUser:
		switch {
		case r.CriticalSystemObject:
			return "it is a critical system object (isCriticalSystemObject)"
		case hasPrefixFold(r.SAMAccountName, "AAD_") || hasPrefixFold(r.SAMAccountName, "MSOL_"):
			return "it is a sync service account (sAMAccountName AAD_ or MSOL_)"
		case strings.EqualFold(r.SAMAccountName, "SUPPORT_388945a0") || hasPrefixFold(r.MailNickname, "SystemMailbox{") ||
			casAccount(r.MailNickname) || casAccount(r.SAMAccountName):
			return "it is an Exchange system account, which would not work in Exchange Online"
		case r.RecipientTypeDetails&0x21C07000 != 0:
			return "its msExchRecipientTypeDetails marks an Exchange system object (a system, arbitration, discovery or public folder mailbox, or a mailbox plan) that would not work in Exchange Online"
		}
		return ""
	case ad.KindGroup:
		switch {
		case r.CriticalSystemObject:
			return "it is a critical system object (isCriticalSystemObject)"
		case r.RecipientTypeDetails&0x40000000 != 0:
			return "it is an Exchange role group"
		case (r.GroupType == nil || !r.GroupType.Security) && !r.MailEnabled():
			return "it is a distribution group that is not mail-enabled"
		}
		return ""
	case ad.KindContact:
		if !r.MailEnabled() {
			return "it is not mail-enabled"
		}
		return ""
	case ad.KindDynamicDL:
		return "dynamic distribution groups are not synced"
	}
	return "its object class is not synced"
}

// casAccount reports whether name is an Exchange CAS_{...} system account.
func casAccount(name string) bool {
	return hasPrefixFold(name, "CAS_") && strings.Contains(name, "}")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// ExchangeRecipient reports whether Exchange Online makes r a recipient,
// ProxyCalc's Input.ExchangeRecipient: a user when it is licensed or
// provisioned as a remote mailbox, a group or contact when it is
// mail-enabled. A security group without mail attributes, or a user with
// neither licence nor mailbox, is synced but gets no address.
func ExchangeRecipient(r *ad.Recipient, licensed bool) bool {
	if r.Kind == ad.KindUser {
		return licensed || r.IsRemoteMailbox()
	}
	return r.MailEnabled()
}
