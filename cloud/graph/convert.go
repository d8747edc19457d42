package graph

import (
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/hybridsync/hybridsync/cloud"
)

// Fields asked for ($select) per kind: only what hybridsync uses.
var (
	userFields    = []string{"id", "displayName", "mail", "mailNickname", "userPrincipalName", "proxyAddresses", "onPremisesSyncEnabled", "onPremisesImmutableId", "onPremisesSecurityIdentifier", "onPremisesDistinguishedName"}
	groupFields   = []string{"id", "displayName", "mail", "mailNickname", "proxyAddresses", "groupTypes", "mailEnabled", "securityEnabled", "onPremisesSyncEnabled", "onPremisesSecurityIdentifier"}
	contactFields = []string{"id", "displayName", "mail", "mailNickname", "proxyAddresses", "onPremisesSyncEnabled"}
)

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func boolean(p *bool) bool { return p != nil && *p }

// removal reads the "@removed" annotation of a delta result.
func removal(h interface{ GetAdditionalData() map[string]any }) *cloud.Removal {
	raw, ok := h.GetAdditionalData()["@removed"]
	if !ok {
		return nil
	}
	r := &cloud.Removal{Reason: "deleted"}
	switch v := raw.(type) {
	case map[string]any:
		if s, ok := v["reason"].(*string); ok && s != nil {
			r.Reason = *s
		} else if s, ok := v["reason"].(string); ok {
			r.Reason = s
		}
	}
	return r
}

func fromUser(u models.Userable) *cloud.Object {
	return &cloud.Object{
		Kind:                  cloud.KindUser,
		ID:                    str(u.GetId()),
		DisplayName:           str(u.GetDisplayName()),
		Mail:                  str(u.GetMail()),
		MailNickname:          str(u.GetMailNickname()),
		UPN:                   str(u.GetUserPrincipalName()),
		ProxyAddresses:        u.GetProxyAddresses(),
		OnPremisesSyncEnabled: boolean(u.GetOnPremisesSyncEnabled()),
		OnPremisesImmutableID: str(u.GetOnPremisesImmutableId()),
		OnPremisesSID:         str(u.GetOnPremisesSecurityIdentifier()),
		OnPremisesDN:          str(u.GetOnPremisesDistinguishedName()),
		Removed:               removal(u),
	}
}

func fromGroup(g models.Groupable) *cloud.Object {
	o := &cloud.Object{
		Kind:                  cloud.KindGroup,
		ID:                    str(g.GetId()),
		DisplayName:           str(g.GetDisplayName()),
		Mail:                  str(g.GetMail()),
		MailNickname:          str(g.GetMailNickname()),
		ProxyAddresses:        g.GetProxyAddresses(),
		GroupTypes:            g.GetGroupTypes(),
		MailEnabled:           boolean(g.GetMailEnabled()),
		SecurityEnabled:       boolean(g.GetSecurityEnabled()),
		OnPremisesSyncEnabled: boolean(g.GetOnPremisesSyncEnabled()),
		OnPremisesSID:         str(g.GetOnPremisesSecurityIdentifier()),
		Removed:               removal(g),
	}
	o.GroupType = cloud.ClassifyGroup(o.GroupTypes, o.MailEnabled, o.SecurityEnabled)
	return o
}

func fromContact(c models.OrgContactable) *cloud.Object {
	return &cloud.Object{
		Kind:                  cloud.KindContact,
		ID:                    str(c.GetId()),
		DisplayName:           str(c.GetDisplayName()),
		Mail:                  str(c.GetMail()),
		MailNickname:          str(c.GetMailNickname()),
		ProxyAddresses:        c.GetProxyAddresses(),
		OnPremisesSyncEnabled: boolean(c.GetOnPremisesSyncEnabled()),
		Removed:               removal(c),
	}
}

// kindOfODataType maps "#microsoft.graph.user" etc. to a Kind.
func kindOfODataType(t string) cloud.Kind {
	switch t {
	case "#microsoft.graph.user":
		return cloud.KindUser
	case "#microsoft.graph.group":
		return cloud.KindGroup
	case "#microsoft.graph.orgContact":
		return cloud.KindContact
	}
	return cloud.Kind(t)
}
