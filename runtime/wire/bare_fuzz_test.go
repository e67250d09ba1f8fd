package wire

import (
	"bytes"
	"testing"
)

// FuzzBare feeds arbitrary bytes to the BARE readers. They must never
// panic, what they accept must re-encode to a value that reads back the
// same, and when the input's length prefix was minimal (the only form the
// encoders write) the re-encoding is the consumed prefix, byte for byte.
// Uvarint accepts non-minimal ULEB128 (80 00 is 0): that is allowed, but
// then the re-encoding must be shorter and still read back to the value.
func FuzzBare(f *testing.F) {
	for _, seed := range [][]byte{
		nil,
		{0x00},
		{0x05, 'h', 'e', 'l', 'l', 'o'},
		{0x05, 'h', 'e', 'l', 'l', 'o', 0x00},
		{0x05, 'h'},
		{0x80, 0x00},
		{0x81, 0x00, 'a'},
		{0xac, 0x02},
		{0x7f},
		bytes.Repeat([]byte{0xff}, 9),
		append(bytes.Repeat([]byte{0xff}, 9), 0x01),
		append(bytes.Repeat([]byte{0xff}, 9), 0x02),
		append(bytes.Repeat([]byte{0x80}, 9), 0x00),
		bytes.Repeat([]byte{0xff}, 11),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkUvarint(t, data)
		checkBytes(t, data)
		checkString(t, data)
	})
}

func checkUvarint(t *testing.T, data []byte) {
	n, rest, err := Uvarint(data)
	if err != nil {
		if rest != nil || n != 0 {
			t.Fatalf("Uvarint(%x) failed (%v) but returned %d, %x", data, err, n, rest)
		}
		return
	}
	used := consumed(t, data, rest)
	if len(used) == 0 || len(used) > 10 {
		t.Fatalf("Uvarint(%x) consumed %d bytes", data, len(used))
	}
	enc := AppendUvarint(nil, n)
	if minimalUvarint(used) {
		if !bytes.Equal(enc, used) {
			t.Fatalf("Uvarint(%x) = %d: re-encoded as %x, want %x", data, n, enc, used)
		}
	} else if len(enc) >= len(used) {
		t.Fatalf("Uvarint(%x) = %d: non-minimal %x re-encoded as %x, no shorter", data, n, used, enc)
	}
	n2, rest2, err := Uvarint(enc)
	if err != nil || n2 != n || len(rest2) != 0 {
		t.Fatalf("Uvarint(AppendUvarint(%d)) = %d, %x, %v", n, n2, rest2, err)
	}
}

func checkBytes(t *testing.T, data []byte) {
	b, rest, err := Bytes(data)
	if err != nil {
		return
	}
	used := consumed(t, data, rest)
	if len(b) > len(used) || !bytes.Equal(used[len(used)-len(b):], b) {
		t.Fatalf("Bytes(%x) = %x, which is not at the end of the consumed %x", data, b, used)
	}
	enc := AppendBytes(nil, b)
	if minimalUvarint(used[:len(used)-len(b)]) && !bytes.Equal(enc, used) {
		t.Fatalf("Bytes(%x) = %x: re-encoded as %x, want %x", data, b, enc, used)
	}
	b2, rest2, err := Bytes(enc)
	if err != nil || !bytes.Equal(b2, b) || len(rest2) != 0 {
		t.Fatalf("Bytes(AppendBytes(%x)) = %x, %x, %v", b, b2, rest2, err)
	}
}

func checkString(t *testing.T, data []byte) {
	s, err := String(data)
	if err != nil {
		return
	}
	b, rest, err := Bytes(data)
	if err != nil || len(rest) != 0 || string(b) != s {
		t.Fatalf("String(%x) = %q but Bytes gives %x, %x, %v", data, s, b, rest, err)
	}
	enc := EncodeString(s)
	if minimalUvarint(data[:len(data)-len(s)]) && !bytes.Equal(enc, data) {
		t.Fatalf("String(%x) = %q: re-encoded as %x", data, s, enc)
	}
	s2, err := String(enc)
	if err != nil || s2 != s {
		t.Fatalf("String(EncodeString(%q)) = %q, %v", s, s2, err)
	}
}

// consumed returns the prefix of data that a reader used, given the rest it
// returned, which must be a suffix of data.
func consumed(t *testing.T, data, rest []byte) []byte {
	t.Helper()
	if len(rest) > len(data) || !bytes.Equal(data[len(data)-len(rest):], rest) {
		t.Fatalf("rest %x is not a suffix of %x", rest, data)
	}
	return data[:len(data)-len(rest)]
}

// minimalUvarint reports whether u, one whole ULEB128 integer, is in its
// shortest form: a single byte, or a last byte that is not zero.
func minimalUvarint(u []byte) bool {
	return len(u) == 1 || (len(u) > 1 && u[len(u)-1] != 0)
}
