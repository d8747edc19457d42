package ad

import (
	"encoding/binary"
	"fmt"
)

// Access rights and ACE types of a security descriptor (MS-DTYP 2.4.3,
// 2.4.4.1).
const (
	rightDelete     = 0x00010000 // DELETE
	rightDeleteTree = 0x00000040 // ADS_RIGHT_DS_DELETE_TREE

	aceAccessDenied       = 0x01
	aceAccessDeniedObject = 0x06
)

// everyone is the well-known SID S-1-1-0 in binary form.
var everyone = []byte{1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}

// DeniesEveryoneDelete reports whether the DACL of a self-relative
// security descriptor (nTSecurityDescriptor, MS-DTYP 2.4.6) denies
// Everyone (S-1-1-0) the right to delete the object or its tree: what
// "Protect object from accidental deletion" sets in Active Directory Users
// and Computers.
func DeniesEveryoneDelete(sd []byte) (bool, error) {
	if len(sd) < 20 {
		return false, fmt.Errorf("security descriptor of %d bytes is too short", len(sd))
	}
	dacl := int(binary.LittleEndian.Uint32(sd[16:20]))
	if dacl == 0 {
		return false, nil // no DACL: nothing is denied
	}
	if dacl+8 > len(sd) {
		return false, fmt.Errorf("security descriptor's DACL offset %d is past its end (%d bytes)", dacl, len(sd))
	}
	count := int(binary.LittleEndian.Uint16(sd[dacl+4 : dacl+6]))
	at := dacl + 8
	for i := 0; i < count; i++ {
		if at+4 > len(sd) {
			return false, fmt.Errorf("security descriptor's ACE %d is past its end", i)
		}
		typ, size := sd[at], int(binary.LittleEndian.Uint16(sd[at+2:at+4]))
		if size < 8 || at+size > len(sd) {
			return false, fmt.Errorf("security descriptor's ACE %d has size %d", i, size)
		}
		ace := sd[at : at+size]
		mask := binary.LittleEndian.Uint32(ace[4:8])
		var sid []byte
		switch typ {
		case aceAccessDenied:
			sid = ace[8:]
		case aceAccessDeniedObject:
			// Flags say which of the two GUIDs follow (MS-DTYP 2.4.4.4).
			if len(ace) < 12 {
				return false, fmt.Errorf("security descriptor's object ACE %d is too short", i)
			}
			flags, off := binary.LittleEndian.Uint32(ace[8:12]), 12
			if flags&1 != 0 {
				off += 16
			}
			if flags&2 != 0 {
				off += 16
			}
			if off > len(ace) {
				return false, fmt.Errorf("security descriptor's object ACE %d is too short", i)
			}
			if flags != 0 {
				at += size
				continue // applies to a property or a child class, not the object
			}
			sid = ace[off:]
		}
		if sid != nil && mask&(rightDelete|rightDeleteTree) != 0 && len(sid) >= len(everyone) && string(sid[:len(everyone)]) == string(everyone) {
			return true, nil
		}
		at += size
	}
	return false, nil
}
