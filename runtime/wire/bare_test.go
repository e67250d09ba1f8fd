package wire

import (
	"bytes"
	"errors"
	"testing"
)

func TestBARE(t *testing.T) {
	if got := EncodeString("hello"); !bytes.Equal(got, []byte{0x05, 'h', 'e', 'l', 'l', 'o'}) {
		t.Fatalf("EncodeString(hello) = %x", got)
	}
	long := string(bytes.Repeat([]byte("a"), 300))
	enc := EncodeString(long)
	if !bytes.Equal(enc[:2], []byte{0xac, 0x02}) { // 300 = 0b10_0101100
		t.Fatalf("length of 300 encoded as %x", enc[:2])
	}
	if s, err := String(enc); err != nil || s != long {
		t.Fatalf("String round trip: %v", err)
	}
	for _, bad := range [][]byte{
		nil,                            // no length
		{0x05, 'h'},                    // short
		{0x80},                         // truncated length
		{0x01, 'a', 'b'},               // trailing bytes
		bytes.Repeat([]byte{0xff}, 11), // overflowing length
	} {
		if _, err := String(bad); !errors.Is(err, ErrBadBARE) {
			t.Errorf("String(%x) = %v, want ErrBadBARE", bad, err)
		}
	}
}
