package ad

import (
	"encoding/binary"
	"testing"
)

// sdWith builds a self-relative security descriptor whose DACL holds aces.
func sdWith(aces ...[]byte) []byte {
	acl := make([]byte, 8)
	for _, a := range aces {
		acl = append(acl, a...)
	}
	acl[0] = 2
	binary.LittleEndian.PutUint16(acl[2:], uint16(len(acl)))
	binary.LittleEndian.PutUint16(acl[4:], uint16(len(aces)))
	sd := make([]byte, 20)
	sd[0] = 1
	binary.LittleEndian.PutUint16(sd[2:], 0x8004) // self-relative, DACL present
	binary.LittleEndian.PutUint32(sd[16:], 20)
	return append(sd, acl...)
}

func ace(typ byte, mask uint32, sid []byte) []byte {
	a := make([]byte, 8, 8+len(sid))
	a[0] = typ
	binary.LittleEndian.PutUint32(a[4:], mask)
	a = append(a, sid...)
	binary.LittleEndian.PutUint16(a[2:], uint16(len(a)))
	return a
}

func TestDeniesEveryoneDelete(t *testing.T) {
	authUsers := []byte{1, 1, 0, 0, 0, 0, 0, 5, 11, 0, 0, 0}
	for _, tc := range []struct {
		name string
		sd   []byte
		want bool
	}{
		{"protected (ADUC's deny delete and delete tree)", sdWith(ace(0x00, 0x20094, authUsers), ace(aceAccessDenied, rightDelete|rightDeleteTree, everyone)), true},
		{"deny delete tree only", sdWith(ace(aceAccessDenied, rightDeleteTree, everyone)), true},
		{"allow only", sdWith(ace(0x00, 0xf01ff, everyone)), false},
		{"deny something else", sdWith(ace(aceAccessDenied, 0x20, everyone)), false},
		{"deny delete to someone else", sdWith(ace(aceAccessDenied, rightDelete, authUsers)), false},
		{"no DACL", make([]byte, 20), false},
	} {
		got, err := DeniesEveryoneDelete(tc.sd)
		if err != nil || got != tc.want {
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	for _, bad := range [][]byte{nil, make([]byte, 10), append(make([]byte, 16), 0xff, 0, 0, 0)} {
		if _, err := DeniesEveryoneDelete(bad); err == nil {
			t.Errorf("% x: no error", bad)
		}
	}
}
