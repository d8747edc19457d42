package ad

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"os"
	"strings"
	"testing"
)

// The fixtures are nTSecurityDescriptor values a Samba AD DC returned for
// a new universal distribution group: its DACL alone (read with the SD
// flags control asking for DACL_SECURITY_INFORMATION), the same after
// `samba-tool dsacl set --sddl="(D;;SDDT;;;WD)"` (deny Everyone Delete and
// Delete Subtree: the protection from accidental deletion), and that
// protected descriptor in full (owner, group, DACL and SACL).
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b64, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b64)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parse(t *testing.T, b []byte) *SecurityDescriptor {
	t.Helper()
	sd, err := ParseSecurityDescriptor(b)
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

// aclOf returns the ACL of a self-relative descriptor.
func aclOf(t *testing.T, b []byte) []byte {
	t.Helper()
	off := binary.LittleEndian.Uint32(b[16:20])
	size := binary.LittleEndian.Uint16(b[off+2 : off+4])
	return b[off : int(off)+int(size)]
}

func TestSecurityDescriptorFromTheDC(t *testing.T) {
	plain := parse(t, fixture(t, "sd-group-dacl.b64"))
	protected := parse(t, fixture(t, "sd-group-protected-dacl.b64"))
	full := parse(t, fixture(t, "sd-group-protected-full.b64"))
	if !plain.HasDACL || plain.ProtectedFromDeletion() || len(plain.ACEs) < 10 {
		t.Fatalf("unprotected group: %d entries, protected %v", len(plain.ACEs), plain.ProtectedFromDeletion())
	}
	if !protected.ProtectedFromDeletion() || !full.ProtectedFromDeletion() {
		t.Fatal("the protected group's descriptor does not read as protected")
	}
	if len(protected.ACEs) != len(plain.ACEs)+1 || len(full.ACEs) != len(protected.ACEs) {
		t.Fatalf("entries: %d unprotected, %d protected, %d in the full descriptor", len(plain.ACEs), len(protected.ACEs), len(full.ACEs))
	}
	first := protected.ACEs[0]
	if first.Type != AceTypeAccessDenied || first.SID != SIDEveryone || first.Mask != RightDelete|RightDeleteTree || first.Flags != 0 {
		t.Errorf("protection entry = %+v", first)
	}
	// Trustees of plain and object ACEs are decoded: Authenticated Users
	// and the domain's own SIDs.
	sids := map[string]bool{}
	objectACEs := 0
	for _, a := range plain.ACEs {
		sids[a.SID] = true
		if a.Type == AceTypeAccessAllowedObject {
			objectACEs++
		}
	}
	if !sids["S-1-5-11"] || !sids["S-1-5-18"] || objectACEs == 0 {
		t.Errorf("trustees %v, %d object entries", sids, objectACEs)
	}

	// Adding the protection as this package does gives the DACL the DC
	// wrote for samba-tool's, and removing it gives back the original.
	added, changed := plain.WithDeletionProtection(true)
	if !changed || !bytes.Equal(aclOf(t, added), aclOf(t, fixture(t, "sd-group-protected-dacl.b64"))) {
		t.Errorf("protecting: changed %v, DACL differs from the DC's", changed)
	}
	if !parse(t, added).ProtectedFromDeletion() {
		t.Error("protected descriptor does not read as protected")
	}
	removed, changed := protected.WithDeletionProtection(false)
	if !changed || !bytes.Equal(aclOf(t, removed), aclOf(t, fixture(t, "sd-group-dacl.b64"))) {
		t.Errorf("unprotecting: changed %v, DACL differs from the original", changed)
	}
	if _, changed := plain.WithDeletionProtection(false); changed {
		t.Error("unprotecting an unprotected descriptor changed it")
	}
	if _, changed := protected.WithDeletionProtection(true); changed {
		t.Error("protecting a protected descriptor changed it")
	}
	// A descriptor re-encoded unchanged has the same DACL.
	if !bytes.Equal(aclOf(t, plain.Bytes()), aclOf(t, fixture(t, "sd-group-dacl.b64"))) {
		t.Error("re-encoding changed the DACL")
	}
}

func TestProtectionNeedsAnExplicitDenyOfBothRights(t *testing.T) {
	everyone := []byte{1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}
	ace := func(typ, flags byte, mask uint32, sid []byte) []byte {
		b := make([]byte, 8)
		b[0], b[1] = typ, flags
		binary.LittleEndian.PutUint16(b[2:4], uint16(8+len(sid)))
		binary.LittleEndian.PutUint32(b[4:8], mask)
		return append(b, sid...)
	}
	users := []byte{1, 1, 0, 0, 0, 0, 0, 5, 11, 0, 0, 0} // S-1-5-11
	both := RightDelete | RightDeleteTree
	for _, tc := range []struct {
		name string
		ace  []byte
		want bool
	}{
		{"explicit deny of both", ace(AceTypeAccessDenied, 0, both|0x2, everyone), true},
		{"inherited", ace(AceTypeAccessDenied, AceFlagInherited, both, everyone), false},
		{"inherit only", ace(AceTypeAccessDenied, AceFlagInheritOnly|0x02, both, everyone), false},
		{"delete only", ace(AceTypeAccessDenied, 0, RightDelete, everyone), false},
		{"allow", ace(AceTypeAccessAllowed, 0, both, everyone), false},
		{"other trustee", ace(AceTypeAccessDenied, 0, both, users), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sd := parse(t, encodeDACL(0, 2, [][]byte{tc.ace}))
			if got := sd.ProtectedFromDeletion(); got != tc.want {
				t.Errorf("protected = %v, want %v", got, tc.want)
			}
		})
	}
	// Removing the protection keeps the other rights of a combined entry.
	sd := parse(t, encodeDACL(0, 2, [][]byte{ace(AceTypeAccessDenied, 0, both|0x2, everyone)}))
	out, _ := sd.WithDeletionProtection(false)
	if got := parse(t, out); len(got.ACEs) != 1 || got.ACEs[0].Mask != 0x2 {
		t.Errorf("after unprotecting: %+v", got.ACEs)
	}
}

func TestParseSecurityDescriptorRefusesBadInput(t *testing.T) {
	good := fixture(t, "sd-group-protected-full.b64")
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short header", good[:10]},
		{"bad revision", append([]byte{2}, good[1:]...)},
		{"not self-relative", func() []byte { b := bytes.Clone(good); b[3] &^= 0x80; return b }()},
		{"truncated DACL", good[:binary.LittleEndian.Uint32(good[16:20])+20]},
		{"DACL offset beyond", func() []byte { b := bytes.Clone(good); binary.LittleEndian.PutUint32(b[16:20], 1<<20); return b }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseSecurityDescriptor(tc.b); err == nil {
				t.Error("accepted")
			}
		})
	}
	// No DACL at all: not protected, no error.
	sd, err := ParseSecurityDescriptor([]byte{1, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	if err != nil || sd.HasDACL || sd.ProtectedFromDeletion() {
		t.Errorf("descriptor without DACL: %+v %v", sd, err)
	}
}

func FuzzParseSecurityDescriptor(f *testing.F) {
	for _, n := range []string{"sd-group-dacl.b64", "sd-group-protected-dacl.b64", "sd-group-protected-full.b64"} {
		b64, err := os.ReadFile("testdata/" + n)
		if err != nil {
			f.Fatal(err)
		}
		b, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b64)))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sd, err := ParseSecurityDescriptor(b)
		if err != nil {
			return
		}
		// Whatever parses re-encodes and parses again to the same entries.
		again, err := ParseSecurityDescriptor(sd.Bytes())
		if err != nil || len(again.ACEs) != len(sd.ACEs) {
			t.Fatalf("re-encoded descriptor: %v, %d entries, want %d", err, len(again.ACEs), len(sd.ACEs))
		}
		sd.WithDeletionProtection(true)
		sd.WithDeletionProtection(false)
	})
}
