package emulator

import (
	"slices"
	"strings"

	"github.com/hybridsync/hybridsync/cloud"
)

// Get-, Add- and Remove-RecipientPermission: Send-As, granted on a
// recipient to a trustee
// (https://learn.microsoft.com/powershell/module/exchange/add-recipientpermission).

// trusteeName is how Get-RecipientPermission names a trustee: a user by
// its user principal name, anything else by its Name.
func trusteeName(o *Object) string {
	if o.Kind == cloud.KindUser && o.UserPrincipalName != "" {
		return o.UserPrincipalName
	}
	return o.ExchangeName()
}

func (e *Emulator) getRecipientPermission(p params) func(*Tx) (exoResult, *exoError) {
	return func(tx *Tx) (exoResult, *exoError) {
		if xe := p.only("Identity", "Trustee", "AccessRights", "ResultSize"); xe != nil {
			return exoResult{}, xe
		}
		var on []*Object
		if ident, ok, xe := p.str("Identity"); xe != nil {
			return exoResult{}, xe
		} else if ok && ident != "" {
			o, xe := e.resolve(tx, ident, nil, true)
			if xe != nil {
				return exoResult{}, xe
			}
			on = []*Object{o}
		} else {
			for _, o := range tx.objects("") {
				if e.isRecipient(o) {
					on = append(on, o)
				}
			}
		}
		trustee := ""
		if t, ok, xe := p.str("Trustee"); xe != nil {
			return exoResult{}, xe
		} else if ok && t != "" {
			o, xe := e.resolve(tx, t, nil, true)
			if xe != nil {
				return exoResult{}, xe
			}
			trustee = o.ID
		}
		rows := []map[string]any{}
		for _, o := range on {
			for _, id := range o.Exchange.SendAs {
				t := tx.s.Objects[id]
				if t == nil || t.Deleted() || trustee != "" && id != trustee {
					continue
				}
				rows = append(rows, map[string]any{"Identity": o.ExchangeName(), "Trustee": trusteeName(t),
					"AccessControlType": "Allow", "AccessRights": []string{"SendAs"}, "IsInherited": false, "InheritanceType": "None"})
			}
		}
		return exoResult{rows: rows}, nil
	}
}

// changeRecipientPermission is Add-/Remove-RecipientPermission -Identity
// -Trustee -AccessRights SendAs. Granting what is granted, or removing what
// is not, is a warning in Exchange Online, not an error: nothing changes.
func (e *Emulator) changeRecipientPermission(p params, add bool) func(*Tx) (exoResult, *exoError) {
	return func(tx *Tx) (exoResult, *exoError) {
		if xe := p.only("Identity", "Trustee", "AccessRights"); xe != nil {
			return exoResult{}, xe
		}
		rights, _, xe := p.strs("AccessRights")
		if xe != nil {
			return exoResult{}, xe
		}
		if len(rights) != 1 || !strings.EqualFold(rights[0], "SendAs") {
			return exoResult{}, p.bindErr("AccessRights", "Cannot convert value to type \"Microsoft.Exchange.Management.RecipientTasks.RecipientAccessRight\": only SendAs is valid.")
		}
		ident, _, xe := p.str("Identity")
		if xe != nil {
			return exoResult{}, xe
		}
		o, xe := e.resolve(tx, ident, nil, false)
		if xe != nil {
			return exoResult{}, xe
		}
		tident, _, xe := p.str("Trustee")
		if xe != nil {
			return exoResult{}, xe
		}
		t, xe := e.resolve(tx, tident, nil, false)
		if xe != nil {
			return exoResult{}, xe
		}
		n := o.Clone()
		has := slices.Contains(n.Exchange.SendAs, t.ID)
		switch {
		case add && !has:
			n.Exchange.SendAs = append(n.Exchange.SendAs, t.ID)
		case !add && has:
			n.Exchange.SendAs = slices.DeleteFunc(n.Exchange.SendAs, func(id string) bool { return id == t.ID })
		default:
			return exoResult{}, nil
		}
		tx.set(n.ID, n)
		return exoResult{}, nil
	}
}
