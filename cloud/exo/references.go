package exo

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// groupRecipientParams are Set-DistributionGroup's multi-valued recipient
// parameters, which take the @{Add=...; Remove=...} form.
var groupRecipientParams = []string{"ManagedBy", "ModeratedBy", "BypassModerationFromSendersOrMembers",
	"AcceptMessagesOnlyFromSendersOrMembers", "RejectMessagesFromSendersOrMembers", "GrantSendOnBehalfTo"}

// ListDistributionGroups is Get-DistributionGroup -ResultSize Unlimited
// [-Filter filter], streamed page by page.
func (c *Client) ListDistributionGroups(ctx context.Context, filter string, fn func(*cloud.DistributionGroup) error) (cloud.ReadResult, error) {
	params := map[string]any{"ResultSize": "Unlimited"}
	if filter != "" {
		params["Filter"] = filter
	}
	return c.Invoke(ctx, cmdGetDistributionGroup, params, func(row json.RawMessage) error {
		g, err := decodeGroup(cmdGetDistributionGroup, "", row)
		if err != nil {
			return err
		}
		return fn(g)
	})
}

// ChangeGroupRecipients is Set-DistributionGroup -Identity identity
// -<param> @{Add=add; Remove=remove}: it adds and removes recipients of one
// multi-valued recipient parameter (ManagedBy, the delivery restrictions,
// BypassModerationFromSendersOrMembers, GrantSendOnBehalfTo), leaving the
// others named there as they are.
func (c *Client) ChangeGroupRecipients(ctx context.Context, identity, param string, add, remove []string) error {
	op := fmt.Sprintf("exo %s %q -%s", cmdSetDistributionGroup, identity, param)
	known := false
	for _, p := range groupRecipientParams {
		if strings.EqualFold(p, param) {
			param, known = p, true
		}
	}
	if !known {
		return retry.New(op, retry.Terminal, fmt.Errorf("%s is not a recipient list parameter of %s", param, cmdSetDistributionGroup))
	}
	if len(add) == 0 && len(remove) == 0 {
		return nil
	}
	return c.run(ctx, cmdSetDistributionGroup, map[string]any{
		"Identity": identity, param: AddRemove(add, remove), bypassManagerCheck: true,
	})
}

const (
	cmdGetMailbox = "Get-Mailbox"
	cmdSetMailbox = "Set-Mailbox"
)

// GetMailbox is Get-Mailbox -Identity. No match is a NotFound error.
func (c *Client) GetMailbox(ctx context.Context, identity string) (*cloud.Mailbox, error) {
	row, err := c.one(ctx, cmdGetMailbox, identity, map[string]any{"Identity": identity})
	if err != nil {
		return nil, err
	}
	var m cloud.Mailbox
	if err := json.Unmarshal(row, &m); err != nil {
		return nil, decodeError(cmdGetMailbox, identity, err)
	}
	return &m, nil
}

// ListMailboxes is Get-Mailbox -ResultSize Unlimited [-Filter filter],
// streamed page by page.
func (c *Client) ListMailboxes(ctx context.Context, filter string, fn func(*cloud.Mailbox) error) (cloud.ReadResult, error) {
	params := map[string]any{"ResultSize": "Unlimited"}
	if filter != "" {
		params["Filter"] = filter
	}
	return c.Invoke(ctx, cmdGetMailbox, params, func(row json.RawMessage) error {
		var m cloud.Mailbox
		if err := json.Unmarshal(row, &m); err != nil {
			return decodeError(cmdGetMailbox, "", err)
		}
		return fn(&m)
	})
}

// SetMailboxForwarding is Set-Mailbox -Identity identity -ForwardingAddress
// to ($null when to is empty).
func (c *Client) SetMailboxForwarding(ctx context.Context, identity, to string) error {
	var fwd any
	if to != "" {
		fwd = to
	}
	return c.run(ctx, cmdSetMailbox, map[string]any{"Identity": identity, "ForwardingAddress": fwd})
}

const (
	cmdGetRecipientPermission    = "Get-RecipientPermission"
	cmdAddRecipientPermission    = "Add-RecipientPermission"
	cmdRemoveRecipientPermission = "Remove-RecipientPermission"
	sendAs                       = "SendAs"
)

// RecipientPermissions is Get-RecipientPermission -AccessRights SendAs
// -ResultSize Unlimited, with -Identity and -Trustee when given.
func (c *Client) RecipientPermissions(ctx context.Context, identity, trustee string) ([]cloud.RecipientPermission, error) {
	params := map[string]any{"AccessRights": []string{sendAs}, "ResultSize": "Unlimited"}
	setString(params, "Identity", identity)
	setString(params, "Trustee", trustee)
	var out []cloud.RecipientPermission
	_, err := c.Invoke(ctx, cmdGetRecipientPermission, params, func(row json.RawMessage) error {
		var p cloud.RecipientPermission
		if err := json.Unmarshal(row, &p); err != nil {
			return decodeError(cmdGetRecipientPermission, identity, err)
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GrantSendAs is Add-RecipientPermission -Identity -Trustee -AccessRights
// SendAs -Confirm:$false.
func (c *Client) GrantSendAs(ctx context.Context, identity, trustee string) error {
	return c.run(ctx, cmdAddRecipientPermission, map[string]any{"Identity": identity, "Trustee": trustee, "AccessRights": []string{sendAs}, "Confirm": false})
}

// RevokeSendAs is Remove-RecipientPermission -Identity -Trustee
// -AccessRights SendAs -Confirm:$false.
func (c *Client) RevokeSendAs(ctx context.Context, identity, trustee string) error {
	return c.run(ctx, cmdRemoveRecipientPermission, map[string]any{"Identity": identity, "Trustee": trustee, "AccessRights": []string{sendAs}, "Confirm": false})
}
