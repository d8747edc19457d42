package emulator

import "strings"

// Get-Mailbox and Set-Mailbox, for what hybridsync reads and writes of
// mailboxes: forwarding (ForwardingAddress, DeliverToMailboxAndForward).

func isMailbox(o *Object) bool {
	return strings.HasSuffix(o.RecipientTypeDetails(), "Mailbox") && o.RecipientTypeDetails() != "GroupMailbox"
}

// mailboxRow is a Get-Mailbox row: ForwardingAddress names the target as
// Exchange does, by its Name ($null when there is none).
func mailboxRow(tx *Tx, o *Object) map[string]any {
	row := recipientRow(o)
	row["ForwardingAddress"] = nil
	if t := tx.s.Objects[o.Exchange.ForwardingAddress]; t != nil && !t.Deleted() {
		row["ForwardingAddress"] = t.ExchangeName()
	}
	row["ForwardingSmtpAddress"] = nil
	row["DeliverToMailboxAndForward"] = o.Exchange.DeliverToMailboxAndForward
	return row
}

func (e *Emulator) getMailbox(p params) func(*Tx) (exoResult, *exoError) {
	return func(tx *Tx) (exoResult, *exoError) {
		if xe := p.only("Identity", "Filter", "ResultSize", "RecipientTypeDetails"); xe != nil {
			return exoResult{}, xe
		}
		return e.listRecipients(tx, p, isMailbox, func(o *Object) map[string]any { return mailboxRow(tx, o) })
	}
}

// setMailbox is Set-Mailbox -Identity [-ForwardingAddress identity|$null]
// [-DeliverToMailboxAndForward bool]. Exchange Online takes these on a
// mailbox whose user is synced from on premises too: they are Exchange
// Online's own attributes.
func (e *Emulator) setMailbox(p params) func(*Tx) (exoResult, *exoError) {
	return func(tx *Tx) (exoResult, *exoError) {
		if xe := p.only("Identity", "ForwardingAddress", "DeliverToMailboxAndForward"); xe != nil {
			return exoResult{}, xe
		}
		ident, _, xe := p.str("Identity")
		if xe != nil {
			return exoResult{}, xe
		}
		mb, xe := e.resolve(tx, ident, isMailbox, false)
		if xe != nil {
			return exoResult{}, xe
		}
		n := mb.Clone()
		if p.has("ForwardingAddress") {
			target, _, xe := p.str("ForwardingAddress") // "" for $null
			if xe != nil {
				return exoResult{}, xe
			}
			n.Exchange.ForwardingAddress = ""
			if target != "" {
				t, xe := e.resolve(tx, target, nil, false)
				if xe != nil {
					return exoResult{}, xe
				}
				n.Exchange.ForwardingAddress = t.ID
			}
		}
		if v, ok, xe := p.boolean("DeliverToMailboxAndForward"); xe != nil {
			return exoResult{}, xe
		} else if ok {
			n.Exchange.DeliverToMailboxAndForward = v
		}
		tx.set(n.ID, n)
		return exoResult{}, nil
	}
}
