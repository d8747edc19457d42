package ad

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The self-relative SECURITY_DESCRIPTOR AD stores in nTSecurityDescriptor
// (MS-DTYP §2.4.6), its DACL (§2.4.5) and ACEs (§2.4.4), as far as
// hybridsync needs them: to tell whether an object is protected from
// accidental deletion, and to turn that protection on and off.

// ACE types (MS-DTYP §2.4.4.1).
const (
	AceTypeAccessAllowed       byte = 0x00
	AceTypeAccessDenied        byte = 0x01
	AceTypeAccessAllowedObject byte = 0x05
	AceTypeAccessDeniedObject  byte = 0x06
)

// ACE flags (MS-DTYP §2.4.4.1).
const (
	AceFlagInheritOnly byte = 0x08
	AceFlagInherited   byte = 0x10
)

// Access rights (MS-DTYP §2.4.3, MS-ADTS §5.1.3.2).
const (
	RightDelete     uint32 = 0x00010000 // DELETE
	RightDeleteTree uint32 = 0x00000040 // RIGHT_DS_DELETE_TREE
)

// SIDEveryone is the well-known SID of Everyone (World).
const SIDEveryone = "S-1-1-0"

// Security descriptor control bits (MS-DTYP §2.4.6).
const (
	sdDACLPresent      uint16 = 0x0004
	sdDACLAutoInherit  uint16 = 0x0400
	sdDACLProtected    uint16 = 0x1000
	sdDACLAutoInherReq uint16 = 0x0100
	sdSelfRelative     uint16 = 0x8000
	sdHeaderSize              = 20
	aclHeaderSize             = 8
)

// everyoneSID is S-1-1-0 in binary form.
var everyoneSID = []byte{1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}

// ACE is one access control entry of a DACL.
type ACE struct {
	Type  byte
	Flags byte
	Mask  uint32
	// SID is the trustee, in S-1-... form.
	SID string
	// raw is the whole ACE as stored, so a DACL can be written back with
	// the entries it did not change byte for byte.
	raw []byte
}

// SecurityDescriptor is the DACL part of a self-relative security
// descriptor: what an LDAP read of nTSecurityDescriptor with the SD flags
// control asking for DACL_SECURITY_INFORMATION returns, and what a write
// with it replaces.
type SecurityDescriptor struct {
	// Control holds the descriptor's control bits.
	Control uint16
	// HasDACL is false when the descriptor carries no DACL (SE_DACL_PRESENT
	// clear).
	HasDACL bool
	// ACLRevision is the DACL's revision (2, or 4 when it holds object
	// ACEs).
	ACLRevision byte
	ACEs        []ACE
}

// ParseSecurityDescriptor decodes the DACL of a self-relative security
// descriptor. Owner, group and SACL, if present, are skipped.
func ParseSecurityDescriptor(b []byte) (*SecurityDescriptor, error) {
	if len(b) < sdHeaderSize {
		return nil, fmt.Errorf("security descriptor: %d bytes, want at least %d", len(b), sdHeaderSize)
	}
	if b[0] != 1 {
		return nil, fmt.Errorf("security descriptor: revision %d, want 1", b[0])
	}
	sd := &SecurityDescriptor{Control: binary.LittleEndian.Uint16(b[2:4])}
	if sd.Control&sdSelfRelative == 0 {
		return nil, errors.New("security descriptor: not in self-relative form")
	}
	off := binary.LittleEndian.Uint32(b[16:20])
	if sd.Control&sdDACLPresent == 0 || off == 0 {
		return sd, nil
	}
	sd.HasDACL = true
	if uint64(off)+aclHeaderSize > uint64(len(b)) {
		return nil, fmt.Errorf("security descriptor: DACL offset %d beyond its %d bytes", off, len(b))
	}
	acl := b[off:]
	sd.ACLRevision = acl[0]
	size := int(binary.LittleEndian.Uint16(acl[2:4]))
	count := int(binary.LittleEndian.Uint16(acl[4:6]))
	if size < aclHeaderSize || size > len(acl) {
		return nil, fmt.Errorf("security descriptor: DACL size %d, %d bytes left", size, len(acl))
	}
	acl = acl[:size]
	pos := aclHeaderSize
	for i := 0; i < count; i++ {
		if pos+4 > len(acl) {
			return nil, fmt.Errorf("security descriptor: ACE %d of %d starts beyond the DACL", i+1, count)
		}
		aceSize := int(binary.LittleEndian.Uint16(acl[pos+2 : pos+4]))
		if aceSize < 8 || pos+aceSize > len(acl) {
			return nil, fmt.Errorf("security descriptor: ACE %d of %d has size %d, %d bytes left", i+1, count, aceSize, len(acl)-pos)
		}
		raw := acl[pos : pos+aceSize]
		ace, err := parseACE(raw)
		if err != nil {
			return nil, fmt.Errorf("security descriptor: ACE %d of %d: %w", i+1, count, err)
		}
		sd.ACEs = append(sd.ACEs, ace)
		pos += aceSize
	}
	return sd, nil
}

func parseACE(raw []byte) (ACE, error) {
	a := ACE{Type: raw[0], Flags: raw[1], Mask: binary.LittleEndian.Uint32(raw[4:8]), raw: append([]byte(nil), raw...)}
	sidAt := 8
	switch a.Type {
	case AceTypeAccessAllowed, AceTypeAccessDenied:
	case AceTypeAccessAllowedObject, AceTypeAccessDeniedObject:
		// Flags say which of the two optional GUIDs follow.
		if len(raw) < 12 {
			return a, errors.New("object ACE too short")
		}
		flags := binary.LittleEndian.Uint32(raw[8:12])
		sidAt = 12
		if flags&1 != 0 {
			sidAt += 16
		}
		if flags&2 != 0 {
			sidAt += 16
		}
	default:
		// Other types (audit, callback, ...) carry no trustee we need.
		return a, nil
	}
	if sidAt+8 > len(raw) {
		return a, errors.New("ACE too short for its SID")
	}
	n := int(raw[sidAt+1])
	if sidAt+8+4*n > len(raw) {
		return a, errors.New("ACE too short for its SID")
	}
	sid, err := SIDString(raw[sidAt : sidAt+8+4*n])
	if err != nil {
		return a, err
	}
	a.SID = sid
	return a, nil
}

// explicitOnObject reports whether the ACE is the object's own (not inherited)
// and applies to the object itself (not inherit-only).
func (a ACE) explicitOnObject() bool {
	return a.Flags&(AceFlagInherited|AceFlagInheritOnly) == 0
}

// isDeletionProtection reports whether a is AD's "protect object from
// accidental deletion" entry, or holds it: an explicit ACE denying
// Everyone DELETE and DELETE_TREE on the object.
func (a ACE) isDeletionProtection() bool {
	return a.Type == AceTypeAccessDenied && a.SID == SIDEveryone && a.explicitOnObject() &&
		a.Mask&(RightDelete|RightDeleteTree) == RightDelete|RightDeleteTree
}

// ProtectedFromDeletion reports whether the DACL holds AD's "protect object
// from accidental deletion" entry: an explicit ACE (not inherited, not
// inherit-only) denying Everyone (S-1-1-0) both DELETE and DELETE_TREE on
// the object, which is what Active Directory Users and Computers and
// Set-ADObject -ProtectedFromAccidentalDeletion write (they also deny
// Everyone "Delete all child objects" on the parent, since a deny of
// DELETE on the object alone yields to DELETE_CHILD on the parent).
func (sd *SecurityDescriptor) ProtectedFromDeletion() bool {
	for _, a := range sd.ACEs {
		if a.isDeletionProtection() {
			return true
		}
	}
	return false
}

// WithDeletionProtection returns a self-relative security descriptor
// holding only the DACL (for a write with DACL_SECURITY_INFORMATION) with
// the protection entry added (protect) or removed. Adding puts the entry
// first, where explicit deny entries go in canonical order; removing
// clears DELETE and DELETE_TREE from every explicit deny-Everyone entry
// and drops those left with no right. changed is false when the DACL
// already was as asked.
func (sd *SecurityDescriptor) WithDeletionProtection(protect bool) (out []byte, changed bool) {
	aces := make([][]byte, 0, len(sd.ACEs)+1)
	if protect {
		if sd.ProtectedFromDeletion() {
			return sd.Bytes(), false
		}
		ace := make([]byte, 8, 8+len(everyoneSID))
		ace[0], ace[1] = AceTypeAccessDenied, 0
		binary.LittleEndian.PutUint16(ace[2:4], uint16(8+len(everyoneSID)))
		binary.LittleEndian.PutUint32(ace[4:8], RightDelete|RightDeleteTree)
		aces = append(aces, append(ace, everyoneSID...))
	}
	for _, a := range sd.ACEs {
		if !protect && a.Type == AceTypeAccessDenied && a.SID == SIDEveryone && a.explicitOnObject() && a.Mask&(RightDelete|RightDeleteTree) != 0 {
			changed = true
			mask := a.Mask &^ (RightDelete | RightDeleteTree)
			if mask == 0 {
				continue
			}
			raw := append([]byte(nil), a.raw...)
			binary.LittleEndian.PutUint32(raw[4:8], mask)
			aces = append(aces, raw)
			continue
		}
		aces = append(aces, a.raw)
	}
	if !protect && !changed {
		return sd.Bytes(), false
	}
	return encodeDACL(sd.Control, sd.ACLRevision, aces), true
}

// Bytes encodes the descriptor's DACL as a self-relative security
// descriptor holding only it.
func (sd *SecurityDescriptor) Bytes() []byte {
	aces := make([][]byte, len(sd.ACEs))
	for i, a := range sd.ACEs {
		aces[i] = a.raw
	}
	return encodeDACL(sd.Control, sd.ACLRevision, aces)
}

func encodeDACL(control uint16, revision byte, aces [][]byte) []byte {
	if revision == 0 {
		revision = 2
	}
	aclSize := aclHeaderSize
	for _, a := range aces {
		aclSize += len(a)
	}
	b := make([]byte, sdHeaderSize, sdHeaderSize+aclSize)
	b[0] = 1
	control = control&(sdDACLAutoInherit|sdDACLProtected|sdDACLAutoInherReq) | sdDACLPresent | sdSelfRelative
	binary.LittleEndian.PutUint16(b[2:4], control)
	binary.LittleEndian.PutUint32(b[16:20], sdHeaderSize)
	acl := make([]byte, aclHeaderSize)
	acl[0] = revision
	binary.LittleEndian.PutUint16(acl[2:4], uint16(aclSize))
	binary.LittleEndian.PutUint16(acl[4:6], uint16(len(aces)))
	b = append(b, acl...)
	for _, a := range aces {
		b = append(b, a...)
	}
	return b
}
