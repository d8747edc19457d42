package adldap

import (
	"context"
	"fmt"

	"github.com/go-ldap/ldap/v3"
	"github.com/hybridsync/hybridsync/ad"
)

// Modify applies changes to dn atomically: AD applies all or none.
func (c *Client) Modify(ctx context.Context, dn string, changes ...ad.Change) error {
	req, err := modifyRequest(dn, changes)
	if err != nil {
		return err
	}
	return c.write(ctx, "ad.Modify", func(cn conn) error {
		if err := cn.Modify(req); err != nil {
			return fmt.Errorf("modify %s: %w", dn, err)
		}
		return nil
	})
}

func modifyRequest(dn string, changes []ad.Change) (*ldap.ModifyRequest, error) {
	req := ldap.NewModifyRequest(dn, nil)
	for _, ch := range changes {
		switch ch.Op {
		case ad.AddValues:
			req.Add(ch.Attr, ch.Values)
		case ad.DeleteValues:
			req.Delete(ch.Attr, ch.Values)
		case ad.ReplaceValues:
			req.Replace(ch.Attr, ch.Values)
		default:
			return nil, fmt.Errorf("ad.Modify %s: unknown change op %d", dn, ch.Op)
		}
	}
	return req, nil
}

// Add creates an entry at dn.
func (c *Client) Add(ctx context.Context, dn string, attrs []ad.Attribute) error {
	req := ldap.NewAddRequest(dn, nil)
	for _, a := range attrs {
		req.Attribute(a.Name, a.Values)
	}
	return c.write(ctx, "ad.Add", func(cn conn) error {
		if err := cn.Add(req); err != nil {
			return fmt.Errorf("add %s: %w", dn, err)
		}
		return nil
	})
}

// Move moves dn under newParent, keeping its name, and returns the new DN.
func (c *Client) Move(ctx context.Context, dn, newParent string) (string, error) {
	d, err := ad.ParseDN(dn)
	if err != nil {
		return "", fmt.Errorf("Move: %w", err)
	}
	rdn := d.RDNs[0].String()
	req := ldap.NewModifyDNRequest(dn, rdn, true, newParent)
	err = c.write(ctx, "ad.Move", func(cn conn) error {
		if err := cn.ModifyDN(req); err != nil {
			return fmt.Errorf("move %s under %s: %w", dn, newParent, err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return rdn + "," + newParent, nil
}

// Rename gives dn a new common name in the same container and returns the
// new DN. newName is the raw name; it is escaped here.
func (c *Client) Rename(ctx context.Context, dn, newName string) (string, error) {
	parent, err := ad.ParentDN(dn)
	if err != nil {
		return "", fmt.Errorf("Rename: %w", err)
	}
	d, _ := ad.ParseDN(dn)
	attr := d.RDNs[0].Attributes[0].Type
	rdn := attr + "=" + ldap.EscapeDN(newName)
	req := ldap.NewModifyDNRequest(dn, rdn, true, "")
	err = c.write(ctx, "ad.Rename", func(cn conn) error {
		if err := cn.ModifyDN(req); err != nil {
			return fmt.Errorf("rename %s to %s: %w", dn, rdn, err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return rdn + "," + parent, nil
}

// Delete removes a leaf entry.
func (c *Client) Delete(ctx context.Context, dn string) error {
	return c.write(ctx, "ad.Delete", func(cn conn) error {
		if err := cn.Del(ldap.NewDelRequest(dn, nil)); err != nil {
			return fmt.Errorf("delete %s: %w", dn, err)
		}
		return nil
	})
}

// CreateOU creates an organizational unit named name under parent and
// returns its DN.
func (c *Client) CreateOU(ctx context.Context, parent, name string) (string, error) {
	dn := ad.ChildDN("OU", name, parent)
	return dn, c.Add(ctx, dn, []ad.Attribute{
		{Name: "objectClass", Values: []string{"top", "organizationalUnit"}},
		{Name: "ou", Values: []string{name}},
	})
}

// Contact describes a mail contact to create.
type Contact struct {
	Name           string // CN, raw
	DisplayName    string
	Mail           string
	MailNickname   string
	TargetAddress  string // e.g. "SMTP:partner@fabrikam.com"
	ProxyAddresses []string
	// HiddenFromAddressLists sets msExchHideFromAddressLists.
	HiddenFromAddressLists bool
	// ExtensionAttributes maps 1..15 to extensionAttributeN values.
	ExtensionAttributes map[int]string
	LegacyExchangeDN    string
	Extra               []ad.Attribute
}

// CreateContact creates a contact under parent and returns its DN.
func (c *Client) CreateContact(ctx context.Context, parent string, ct Contact) (string, error) {
	dn := ad.ChildDN("CN", ct.Name, parent)
	attrs := []ad.Attribute{{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "contact"}}}
	attrs = appendIf(attrs, "displayName", ct.DisplayName)
	attrs = appendIf(attrs, "mail", ct.Mail)
	attrs = appendIf(attrs, "mailNickname", ct.MailNickname)
	attrs = appendIf(attrs, "targetAddress", ct.TargetAddress)
	attrs, err := appendExchange(attrs, ct.ProxyAddresses, ct.HiddenFromAddressLists, ct.ExtensionAttributes, ct.LegacyExchangeDN)
	if err != nil {
		return "", fmt.Errorf("ad.CreateContact %s: %w", dn, err)
	}
	attrs = append(attrs, ct.Extra...)
	return dn, c.Add(ctx, dn, attrs)
}

// DynamicDL describes an Exchange dynamic distribution list to create.
type DynamicDL struct {
	Name         string // CN, raw
	DisplayName  string
	Mail         string
	MailNickname string
	// Filter is the LDAP filter (msExchDynamicDLFilter) and BaseDN the
	// container it is evaluated under (msExchDynamicDLBaseDN).
	Filter         string
	BaseDN         string
	ProxyAddresses []string
	// HiddenFromAddressLists sets msExchHideFromAddressLists.
	HiddenFromAddressLists bool
	// ExtensionAttributes maps 1..15 to extensionAttributeN values.
	ExtensionAttributes map[int]string
	LegacyExchangeDN    string
	Extra               []ad.Attribute
}

// CreateDynamicDL creates an msExchDynamicDistributionList under parent and
// returns its DN.
func (c *Client) CreateDynamicDL(ctx context.Context, parent string, d DynamicDL) (string, error) {
	dn := ad.ChildDN("CN", d.Name, parent)
	attrs := []ad.Attribute{{Name: "objectClass", Values: []string{"top", "msExchDynamicDistributionList"}}}
	attrs = appendIf(attrs, "displayName", d.DisplayName)
	attrs = appendIf(attrs, "mail", d.Mail)
	attrs = appendIf(attrs, "mailNickname", d.MailNickname)
	attrs = appendIf(attrs, "msExchDynamicDLFilter", d.Filter)
	attrs = appendIf(attrs, "msExchDynamicDLBaseDN", d.BaseDN)
	attrs, err := appendExchange(attrs, d.ProxyAddresses, d.HiddenFromAddressLists, d.ExtensionAttributes, d.LegacyExchangeDN)
	if err != nil {
		return "", fmt.Errorf("ad.CreateDynamicDL %s: %w", dn, err)
	}
	attrs = append(attrs, d.Extra...)
	return dn, c.Add(ctx, dn, attrs)
}

// appendExchange adds the Exchange recipient attributes contacts and
// dynamic DLs share.
func appendExchange(attrs []ad.Attribute, proxies []string, hidden bool, ext map[int]string, legacyDN string) ([]ad.Attribute, error) {
	if len(proxies) > 0 {
		attrs = append(attrs, ad.Attribute{Name: "proxyAddresses", Values: proxies})
	}
	if hidden {
		attrs = append(attrs, ad.Attribute{Name: "msExchHideFromAddressLists", Values: []string{"TRUE"}})
	}
	for n := 1; n <= len(extensionAttributeNames); n++ {
		attrs = appendIf(attrs, extensionAttributeNames[n-1], ext[n])
	}
	for n := range ext {
		if n < 1 || n > len(extensionAttributeNames) {
			return nil, fmt.Errorf("extension attribute %d is outside 1..%d", n, len(extensionAttributeNames))
		}
	}
	return appendIf(attrs, "legacyExchangeDN", legacyDN), nil
}

func appendIf(attrs []ad.Attribute, name, value string) []ad.Attribute {
	if value == "" {
		return attrs
	}
	return append(attrs, ad.Attribute{Name: name, Values: []string{value}})
}
