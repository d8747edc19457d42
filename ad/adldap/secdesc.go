package adldap

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-ldap/ldap/v3"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// daclSecurityInformation is DACL_SECURITY_INFORMATION (MS-DTYP §2.4.7):
// with the SD flags control, a read of nTSecurityDescriptor returns the
// DACL only (no owner, group or SACL, which need more rights), and a write
// replaces the DACL only.
const daclSecurityInformation = 0x4

// ReadDACL reads the DACL of dn's nTSecurityDescriptor, asking for it alone
// with the LDAP_SERVER_SD_FLAGS_OID control (so an account that may read
// permissions but not the SACL gets it). A missing object is a NotFound
// error; a descriptor the DC did not return (the account lacks
// READ_CONTROL) or cannot be decoded is a Terminal one.
func (c *Client) ReadDACL(ctx context.Context, dn string) (*ad.SecurityDescriptor, error) {
	const op = "ad.ReadDACL"
	entries, err := c.searchAll(ctx, SearchRequest{BaseDN: dn, Scope: ScopeBase, Filter: "(objectClass=*)",
		Attributes: []string{"nTSecurityDescriptor"}, SDFlags: daclSecurityInformation})
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, dn, err)
	}
	if len(entries) == 0 {
		return nil, retry.New(op, retry.NotFound, fmt.Errorf("%s does not exist", dn))
	}
	raw := entries[0].GetRawAttributeValue("nTSecurityDescriptor")
	if len(raw) == 0 {
		return nil, retry.New(op, retry.Terminal, fmt.Errorf("%s: the DC returned no nTSecurityDescriptor (the account needs the right to read permissions)", dn))
	}
	sd, err := ad.ParseSecurityDescriptor(raw)
	if err != nil {
		return nil, retry.New(op, retry.Terminal, fmt.Errorf("%s: %w", dn, err))
	}
	return sd, nil
}

// ProtectedFromDeletion reports whether dn is protected from accidental
// deletion: its DACL holds an explicit entry denying Everyone (S-1-1-0)
// DELETE and DELETE_TREE, as Active Directory Users and Computers'
// "Protect object from accidental deletion" and
// Set-ADObject -ProtectedFromAccidentalDeletion $true write
// (ad.SecurityDescriptor.ProtectedFromDeletion). The entry alone does not
// stop a delete by whoever may delete the parent's children ("Access
// Control and Object Deletion",
// https://learn.microsoft.com/windows/win32/ad/access-control-and-object-deletion),
// which is why ADUC also denies Everyone "Delete all child objects" on the
// parent; but it is what AD tools show as the protection, and what an
// admin who set it expects to be honoured.
func (c *Client) ProtectedFromDeletion(ctx context.Context, dn string) (bool, error) {
	sd, err := c.ReadDACL(ctx, dn)
	if err != nil {
		return false, err
	}
	return sd.ProtectedFromDeletion(), nil
}

// SetProtectedFromDeletion turns that protection on or off on dn (the
// object's own entry; the parent's "deny Delete Child" entry that ADUC also
// writes is left alone). It reads the DACL, changes only the protection
// entry, and writes the DACL back with the SD flags control; it writes
// nothing when the protection already is as asked. A DACL changed by
// someone else between the read and the write is overwritten: this is a
// tool for tests and labs, not for concurrent administration.
func (c *Client) SetProtectedFromDeletion(ctx context.Context, dn string, protect bool) error {
	const op = "ad.SetProtectedFromDeletion"
	sd, err := c.ReadDACL(ctx, dn)
	if err != nil {
		return err
	}
	if !sd.HasDACL {
		return retry.New(op, retry.Terminal, errors.New(dn+": the object has no DACL"))
	}
	out, changed := sd.WithDeletionProtection(protect)
	if !changed {
		return nil
	}
	req := ldap.NewModifyRequest(dn, []ldap.Control{&ldap.ControlMicrosoftSDFlags{Criticality: true, ControlValue: daclSecurityInformation}})
	req.Replace("nTSecurityDescriptor", []string{string(out)})
	return c.write(ctx, op, func(cn conn) error {
		if err := cn.Modify(req); err != nil {
			return fmt.Errorf("modify nTSecurityDescriptor of %s: %w", dn, err)
		}
		return nil
	})
}
