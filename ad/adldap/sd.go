package adldap

import (
	"context"
	"fmt"

	"github.com/go-ldap/ldap/v3"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// oidSDFlags is LDAP_SERVER_SD_FLAGS_OID.
//
// Ref: https://learn.microsoft.com/openspecs/windows_protocols/ms-adts/3888c2b7-35b9-45b7-afeb-b772aa932dd0
const oidSDFlags = "1.2.840.113556.1.4.801"

// sdFlagsDACL asks for the DACL part of nTSecurityDescriptor.
const sdFlagsDACL = 4

// sdFlagsControl is the SD flags control with the given flags: its value
// is the BER of SEQUENCE { INTEGER flags }.
func sdFlagsControl(flags uint8) ldap.Control {
	return ldap.NewControlString(oidSDFlags, true, string([]byte{0x30, 0x03, 0x02, 0x01, flags}))
}

// ProtectedFromDeletion reports whether the object's DACL denies Everyone
// the right to delete it ("Protect object from accidental deletion" in
// Active Directory Users and Computers): a migration that moves or deletes
// the object would be refused.
func (c *Client) ProtectedFromDeletion(ctx context.Context, dn string) (bool, error) {
	const op = "ad.ProtectedFromDeletion"
	entries, err := c.searchAll(ctx, SearchRequest{BaseDN: dn, Scope: ScopeBase, Filter: "(objectClass=*)",
		Attributes: []string{"nTSecurityDescriptor"}, SDFlags: sdFlagsDACL})
	if err != nil {
		return false, fmt.Errorf("%s %s: %w", op, dn, err)
	}
	if len(entries) != 1 {
		return false, retry.New(op, retry.NotFound, fmt.Errorf("%s not found", dn))
	}
	sd := entries[0].GetRawAttributeValue("nTSecurityDescriptor")
	if len(sd) == 0 {
		return false, retry.New(op, retry.Terminal, fmt.Errorf("%s: nTSecurityDescriptor was not returned (the bind account may not read it)", dn))
	}
	protected, err := ad.DeniesEveryoneDelete(sd)
	if err != nil {
		return false, retry.New(op, retry.Terminal, fmt.Errorf("%s: %w", dn, err))
	}
	return protected, nil
}
