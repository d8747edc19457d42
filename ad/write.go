package ad

import (
	"context"
	"fmt"

	"github.com/go-ldap/ldap/v3"
)

// ChangeOp is the kind of a value-level change (RFC 4511 §4.6).
type ChangeOp int

const (
	// AddValues adds the listed values; it fails with a conflict if one
	// is already there, so a concurrent add is noticed, not duplicated.
	AddValues ChangeOp = iota
	// DeleteValues removes the listed values (all values when none are
	// listed); it fails with a conflict if a listed value is already gone.
	DeleteValues
	// ReplaceValues sets the attribute to exactly the listed values. Use
	// it for single-valued attributes only: on a multi-valued attribute it
	// overwrites concurrent edits.
	ReplaceValues
)

// Change is one attribute change in a Modify.
type Change struct {
	Op     ChangeOp
	Attr   string
	Values []string
}

// Attribute is one attribute of a new entry.
type Attribute struct {
	Name   string
	Values []string
}

// Modify applies changes to dn atomically: AD applies all or none.
func (c *Client) Modify(ctx context.Context, dn string, changes ...Change) error {
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

func modifyRequest(dn string, changes []Change) (*ldap.ModifyRequest, error) {
	req := ldap.NewModifyRequest(dn, nil)
	for _, ch := range changes {
		switch ch.Op {
		case AddValues:
			req.Add(ch.Attr, ch.Values)
		case DeleteValues:
			req.Delete(ch.Attr, ch.Values)
		case ReplaceValues:
			req.Replace(ch.Attr, ch.Values)
		default:
			return nil, fmt.Errorf("ad.Modify %s: unknown change op %d", dn, ch.Op)
		}
	}
	return req, nil
}

// Add creates an entry at dn.
func (c *Client) Add(ctx context.Context, dn string, attrs []Attribute) error {
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
	d, err := ParseDN(dn)
	if err != nil {
		return "", fmt.Errorf("ad.Move: %w", err)
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
	parent, err := ParentDN(dn)
	if err != nil {
		return "", fmt.Errorf("ad.Rename: %w", err)
	}
	d, _ := ParseDN(dn)
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
	dn := ChildDN("OU", name, parent)
	return dn, c.Add(ctx, dn, []Attribute{
		{"objectClass", []string{"top", "organizationalUnit"}},
		{"ou", []string{name}},
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
	Extra          []Attribute
}

// CreateContact creates a contact under parent and returns its DN.
func (c *Client) CreateContact(ctx context.Context, parent string, ct Contact) (string, error) {
	dn := ChildDN("CN", ct.Name, parent)
	attrs := []Attribute{{"objectClass", []string{"top", "person", "organizationalPerson", "contact"}}}
	attrs = appendIf(attrs, "displayName", ct.DisplayName)
	attrs = appendIf(attrs, "mail", ct.Mail)
	attrs = appendIf(attrs, "mailNickname", ct.MailNickname)
	attrs = appendIf(attrs, "targetAddress", ct.TargetAddress)
	if len(ct.ProxyAddresses) > 0 {
		attrs = append(attrs, Attribute{"proxyAddresses", ct.ProxyAddresses})
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
	Extra          []Attribute
}

// CreateDynamicDL creates an msExchDynamicDistributionList under parent and
// returns its DN.
func (c *Client) CreateDynamicDL(ctx context.Context, parent string, d DynamicDL) (string, error) {
	dn := ChildDN("CN", d.Name, parent)
	attrs := []Attribute{{"objectClass", []string{"top", "msExchDynamicDistributionList"}}}
	attrs = appendIf(attrs, "displayName", d.DisplayName)
	attrs = appendIf(attrs, "mail", d.Mail)
	attrs = appendIf(attrs, "mailNickname", d.MailNickname)
	attrs = appendIf(attrs, "msExchDynamicDLFilter", d.Filter)
	attrs = appendIf(attrs, "msExchDynamicDLBaseDN", d.BaseDN)
	if len(d.ProxyAddresses) > 0 {
		attrs = append(attrs, Attribute{"proxyAddresses", d.ProxyAddresses})
	}
	attrs = append(attrs, d.Extra...)
	return dn, c.Add(ctx, dn, attrs)
}

func appendIf(attrs []Attribute, name, value string) []Attribute {
	if value == "" {
		return attrs
	}
	return append(attrs, Attribute{name, []string{value}})
}
