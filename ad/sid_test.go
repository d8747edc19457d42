package ad

import (
	"bytes"
	"testing"
)

var knownGUIDBytes = []byte{0x38, 0x35, 0xd2, 0x99, 0x9f, 0x1a, 0xf0, 0x4f, 0xbb, 0x29, 0xb5, 0x18, 0x32, 0x3c, 0xba, 0xcc}

const knownGUID = "99d23538-1a9f-4ff0-bb29-b518323cbacc"

func TestGUIDString(t *testing.T) {
	got, err := GUIDString(knownGUIDBytes)
	if err != nil || got != knownGUID {
		t.Fatalf("GUIDString = %q, %v; want %q", got, err, knownGUID)
	}
	zero, err := GUIDString(make([]byte, 16))
	if err != nil || zero != "00000000-0000-0000-0000-000000000000" {
		t.Errorf("GUIDString(zeros) = %q, %v", zero, err)
	}
	for _, n := range []int{0, 1, 15, 17, 32} {
		if s, err := GUIDString(make([]byte, n)); err == nil {
			t.Errorf("GUIDString(%d bytes) = %q, want an error", n, s)
		}
	}
}

func TestGUIDBytes(t *testing.T) {
	t.Run("known value", func(t *testing.T) {
		b, err := GUIDBytes(knownGUID)
		if err != nil || !bytes.Equal(b, knownGUIDBytes) {
			t.Fatalf("GUIDBytes(%q) = % x, %v; want % x", knownGUID, b, err, knownGUIDBytes)
		}
	})
	t.Run("upper case", func(t *testing.T) {
		b, err := GUIDBytes("99D23538-1A9F-4FF0-BB29-B518323CBACC")
		if err != nil || !bytes.Equal(b, knownGUIDBytes) {
			t.Fatalf("GUIDBytes(upper) = % x, %v", b, err)
		}
	})
	t.Run("round trip", func(t *testing.T) {
		for i := 0; i < 64; i++ {
			in := make([]byte, 16)
			for j := range in {
				in[j] = byte(i*31 + j*17 + j*j)
			}
			s, err := GUIDString(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := GUIDBytes(s)
			if err != nil || !bytes.Equal(out, in) {
				t.Fatalf("GUIDBytes(GUIDString(% x)) = % x, %v", in, out, err)
			}
			if again, _ := GUIDString(out); again != s {
				t.Fatalf("GUIDString round trip %q -> %q", s, again)
			}
		}
	})
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"one hex digit short", "99d23538-1a9f-4ff0-bb29-b518323cbac"},
		{"one hex digit long", "99d23538-1a9f-4ff0-bb29-b518323cbacc0"},
		{"bad hex", "zzd23538-1a9f-4ff0-bb29-b518323cbacc"},
		{"missing dashes", "99d235381a9f4ff0bb29b518323cbacc"},
		{"one dash missing", "99d23538-1a9f4ff0-bb29-b518323cbacc"},
		{"extra dash", "99d23538-1a9f-4ff0-bb29-b518-323cbacc"},
		{"braces", "{99d23538-1a9f-4ff0-bb29-b518323cbacc}"},
		{"base64", "ODXSmZ8a8E+7KbUYMjy6zA=="},
	} {
		t.Run("error "+tc.name, func(t *testing.T) {
			if b, err := GUIDBytes(tc.in); err == nil {
				t.Errorf("GUIDBytes(%q) = % x, want an error", tc.in, b)
			}
		})
	}
}

func TestSIDString(t *testing.T) {
	domainUser := []byte{
		0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
		0x15, 0x00, 0x00, 0x00,
		0x69, 0xc2, 0x18, 0x6b,
		0x9b, 0xdf, 0x97, 0x3a,
		0x96, 0x34, 0xab, 0x9d,
		0x25, 0x18, 0x00, 0x00,
	}
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"domain user", domainUser, "S-1-5-21-1796784745-983031707-2645243030-6181"},
		{"builtin administrators", []byte{0x01, 0x02, 0, 0, 0, 0, 0, 0x05, 0x20, 0, 0, 0, 0x20, 0x02, 0, 0}, "S-1-5-32-544"},
		{"everyone", []byte{0x01, 0x01, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0}, "S-1-1-0"},
		{"no sub-authorities", []byte{0x01, 0x00, 0, 0, 0, 0, 0, 0x05}, "S-1-5"},
		{"48-bit authority", []byte{0x01, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06}, "S-1-1108152157446"},
		{"max sub-authority", []byte{0x01, 0x01, 0, 0, 0, 0, 0, 0x05, 0xff, 0xff, 0xff, 0xff}, "S-1-5-4294967295"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SIDString(tc.in)
			if err != nil || got != tc.want {
				t.Errorf("SIDString(% x) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"nil", nil},
		{"short header", []byte{0x01, 0x05, 0, 0, 0, 0, 0}},
		{"truncated sub-authorities", domainUser[:len(domainUser)-1]},
		{"missing last sub-authority", domainUser[:len(domainUser)-4]},
		{"extra bytes", append(append([]byte{}, domainUser...), 0)},
		{"count says one, none present", []byte{0x01, 0x01, 0, 0, 0, 0, 0, 0x05}},
	} {
		t.Run("error "+tc.name, func(t *testing.T) {
			if s, err := SIDString(tc.in); err == nil {
				t.Errorf("SIDString(% x) = %q, want an error", tc.in, s)
			}
		})
	}
}
