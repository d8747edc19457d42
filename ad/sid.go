package ad

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// GUIDString formats a 16-byte objectGUID in the registry form AD tools
// print (and Entra stores, base64-encoded, as onPremisesImmutableId): the
// first three groups are little-endian on the wire.
func GUIDString(b []byte) (string, error) {
	if len(b) != 16 {
		return "", fmt.Errorf("objectGUID has %d bytes, want 16", len(b))
	}
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(b[0:4]),
		binary.LittleEndian.Uint16(b[4:6]),
		binary.LittleEndian.Uint16(b[6:8]),
		b[8:10], b[10:16]), nil
}

// GUIDBytes is the inverse of GUIDString.
func GUIDBytes(s string) ([]byte, error) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return nil, fmt.Errorf("GUID %q: want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", s)
	}
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 {
		return nil, fmt.Errorf("GUID %q: want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", s)
	}
	raw, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("GUID %q: %w", s, err)
	}
	out := make([]byte, 16)
	binary.LittleEndian.PutUint32(out[0:4], binary.BigEndian.Uint32(raw[0:4]))
	binary.LittleEndian.PutUint16(out[4:6], binary.BigEndian.Uint16(raw[4:6]))
	binary.LittleEndian.PutUint16(out[6:8], binary.BigEndian.Uint16(raw[6:8]))
	copy(out[8:], raw[8:])
	return out, nil
}

// SIDString formats a binary objectSid as S-1-5-21-...
// (MS-DTYP §2.4.2.2: revision, sub-authority count, 48-bit big-endian
// authority, little-endian 32-bit sub-authorities).
func SIDString(b []byte) (string, error) {
	if len(b) < 8 {
		return "", fmt.Errorf("objectSid has %d bytes, want at least 8", len(b))
	}
	n := int(b[1])
	if len(b) != 8+4*n {
		return "", fmt.Errorf("objectSid has %d bytes for %d sub-authorities", len(b), n)
	}
	var auth uint64
	for _, c := range b[2:8] {
		auth = auth<<8 | uint64(c)
	}
	var sb strings.Builder
	sb.WriteString("S-")
	sb.WriteString(strconv.Itoa(int(b[0])))
	sb.WriteByte('-')
	sb.WriteString(strconv.FormatUint(auth, 10))
	for i := 0; i < n; i++ {
		sb.WriteByte('-')
		sb.WriteString(strconv.FormatUint(uint64(binary.LittleEndian.Uint32(b[8+4*i:])), 10))
	}
	return sb.String(), nil
}
