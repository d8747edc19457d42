package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/reports"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/hybridsync/hybridsync/cloud"
)

// rawJSON sends a request to an absolute Graph URL (used for the beta
// endpoints the v1.0 SDK does not model) and decodes the JSON answer into
// out when out is not nil.
func (c *Client) rawJSON(ctx context.Context, method abs.HttpMethod, rawURL string, body any, out any) error {
	ri := abs.NewRequestInformation()
	ri.Method = method
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	ri.SetUri(*u)
	ri.Headers.Add("Accept", "application/json")
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		ri.SetStreamContentAndContentType(data, "application/json")
	}
	if out == nil {
		return c.adapter.SendNoContent(ctx, ri, errorMappings())
	}
	res, err := c.adapter.SendPrimitive(ctx, ri, "[]byte", errorMappings())
	if err != nil {
		return err
	}
	data, _ := res.([]byte)
	if len(data) == 0 {
		return fmt.Errorf("empty response from %s", rawURL)
	}
	return json.Unmarshal(data, out)
}

// GroupSyncBehavior reads a group's Source of Authority (beta).
//
// Ref: https://learn.microsoft.com/graph/api/onpremisessyncbehavior-get?view=graph-rest-beta
func (c *Client) GroupSyncBehavior(ctx context.Context, groupID string) (cloud.SyncBehavior, error) {
	var out cloud.SyncBehavior
	u := c.beta + "/groups/" + url.PathEscape(groupID) + "/onPremisesSyncBehavior"
	err := c.do(ctx, "GroupSyncBehavior", func(ctx context.Context) error {
		return c.rawJSON(ctx, abs.GET, u, nil, &out)
	})
	if err != nil {
		return out, fmt.Errorf("graph.GroupSyncBehavior %s: %w", groupID, err)
	}
	return out, nil
}

// SetGroupSyncBehavior converts a group's Source of Authority (beta).
//
// Ref: https://learn.microsoft.com/graph/api/onpremisessyncbehavior-update?view=graph-rest-beta
func (c *Client) SetGroupSyncBehavior(ctx context.Context, groupID string, b cloud.SyncBehavior) error {
	u := c.beta + "/groups/" + url.PathEscape(groupID) + "/onPremisesSyncBehavior"
	err := c.do(ctx, "SetGroupSyncBehavior", func(ctx context.Context) error {
		return c.rawJSON(ctx, abs.PATCH, u, b, nil)
	})
	if err != nil {
		return fmt.Errorf("graph.SetGroupSyncBehavior %s: %w", groupID, err)
	}
	return nil
}

// RevokeSignInSessions invalidates a user's refresh tokens.
//
// Ref: https://learn.microsoft.com/graph/api/user-revokesigninsessions
func (c *Client) RevokeSignInSessions(ctx context.Context, userID string) error {
	err := c.do(ctx, "RevokeSignInSessions", func(ctx context.Context) error {
		_, err := users.NewItemRevokeSignInSessionsRequestBuilderInternal(map[string]string{"user%2Did": userID}, c.adapter).
			PostAsRevokeSignInSessionsPostResponse(ctx, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("graph.RevokeSignInSessions %s: %w", userID, err)
	}
	return nil
}

// RegistrationDetails streams the userRegistrationDetails report.
//
// Ref: https://learn.microsoft.com/graph/api/authenticationmethodsroot-list-userregistrationdetails
func (c *Client) RegistrationDetails(ctx context.Context, fn func(*cloud.RegistrationDetail) error) (cloud.ReadResult, error) {
	const op = "RegistrationDetails"
	var res cloud.ReadResult
	next := ""
	seen := map[string]bool{}
	for {
		var (
			rows []*cloud.RegistrationDetail
			link string
		)
		err := c.do(ctx, op, func(ctx context.Context) error {
			b := reports.NewAuthenticationMethodsUserRegistrationDetailsRequestBuilderInternal(map[string]string{}, c.adapter)
			if next != "" {
				b = reports.NewAuthenticationMethodsUserRegistrationDetailsRequestBuilder(next, c.adapter)
			}
			resp, err := b.Get(ctx, nil)
			if err != nil {
				return err
			}
			rows = rows[:0]
			for _, r := range resp.GetValue() {
				d := &cloud.RegistrationDetail{
					ID: str(r.GetId()), UPN: str(r.GetUserPrincipalName()),
					IsMFACapable: boolean(r.GetIsMfaCapable()), IsMFARegistered: boolean(r.GetIsMfaRegistered()),
					IsPasswordlessCapable: boolean(r.GetIsPasswordlessCapable()), MethodsRegistered: r.GetMethodsRegistered(),
				}
				if t := r.GetLastUpdatedDateTime(); t != nil {
					d.LastUpdated = *t
				}
				rows = append(rows, d)
			}
			link = str(resp.GetOdataNextLink())
			return nil
		})
		res.Requests++
		if err != nil {
			return res, fmt.Errorf("graph.%s: incomplete after %d rows: %w", op, res.Objects, err)
		}
		for _, r := range rows {
			if err := fn(r); err != nil {
				return res, err
			}
			res.Objects++
		}
		if link == "" {
			res.Complete = true
			return res, nil
		}
		if seen[link] {
			return res, fmt.Errorf("graph.%s: the server sent the same nextLink twice", op)
		}
		seen[link] = true
		next = link
	}
}

// AuthMethods lists a user's registered authentication methods.
//
// Ref: https://learn.microsoft.com/graph/api/authentication-list-methods
func (c *Client) AuthMethods(ctx context.Context, userID string) ([]cloud.AuthMethod, error) {
	var out []cloud.AuthMethod
	err := c.do(ctx, "AuthMethods", func(ctx context.Context) error {
		resp, err := users.NewItemAuthenticationMethodsRequestBuilderInternal(map[string]string{"user%2Did": userID}, c.adapter).Get(ctx, nil)
		if err != nil {
			return err
		}
		out = out[:0]
		for _, m := range resp.GetValue() {
			t := strings.TrimPrefix(str(m.GetOdataType()), "#microsoft.graph.")
			am := cloud.AuthMethod{ID: str(m.GetId()), Type: t}
			// The SDK decodes each method's own type; those with a name
			// (Authenticator devices, FIDO2 keys, ...) expose it.
			if named, ok := m.(interface{ GetDisplayName() *string }); ok {
				am.DisplayName = str(named.GetDisplayName())
			} else if dn, ok := m.GetAdditionalData()["displayName"].(*string); ok && dn != nil {
				am.DisplayName = *dn
			}
			out = append(out, am)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("graph.AuthMethods %s: %w", userID, err)
	}
	return out, nil
}
