package udpportal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// The messages byte for byte: what another implementation must send.
var goldenMessages = []struct {
	name string
	hex  string
	want message
}{
	{"close", "41", message{tag: tagClose}},
	{"empty datagram", "4000", message{tag: tagDatagram, data: []byte{}}},
	{"dns query head", "400c" + "abcd01000001000000000000", message{tag: tagDatagram, data: []byte{0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}}},
	{"hello", "400568656c6c6f", message{tag: tagDatagram, data: []byte("hello")}},
	// 200 bytes: a two-byte length.
	{"200 bytes", "40c801" + strings.Repeat("ab", 200), message{tag: tagDatagram, data: bytes.Repeat([]byte{0xab}, 200)}},
	// The largest: 65535 = ff ff 03.
	{"largest", "40ffff03" + strings.Repeat("00", MaxDatagram), message{tag: tagDatagram, data: make([]byte, MaxDatagram)}},
}

func TestGoldenMessages(t *testing.T) {
	for _, g := range goldenMessages {
		b, err := hex.DecodeString(g.hex)
		if err != nil {
			t.Fatal(err)
		}
		m, err := decode(b)
		if err != nil {
			t.Fatalf("%s: decode(%.40s...): %v", g.name, g.hex, err)
		}
		if m.tag != g.want.tag || !bytes.Equal(m.data, g.want.data) {
			t.Fatalf("%s: decoded %+v, want %+v", g.name, m, g.want)
		}
		var enc []byte
		switch m.tag {
		case tagClose:
			enc = encodeClose()
		case tagDatagram:
			enc = appendDatagram(nil, m.data)
			// The reader's in-place framing writes the same bytes.
			if framed := datagramMessage(m.data); !bytes.Equal(framed, enc) {
				t.Fatalf("%s: framed in place as %x, appended as %x", g.name, framed, enc)
			}
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("%s: encoded as %.40x..., want %.40s...", g.name, enc, g.hex)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, tc := range []struct {
		hex, want string
	}{
		{"", "empty"},
		{"40", "truncated"},
		{"4005616263", "5 bytes announced, 3 present"},
		{"410a", "1 bytes after"},
		{"40016161", "1 bytes after"},
		{"40808004" + strings.Repeat("00", 65536), "more than 65535"},
		{"00", "TCP portal's"},
		{"0305616263", "TCP portal's"},
		{"ff", "unknown tag 0xff"},
	} {
		b, _ := hex.DecodeString(tc.hex)
		_, err := decode(b)
		if !errors.Is(err, errBadMessage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("decode(%.20s): %v, want an error saying %q", tc.hex, err, tc.want)
		}
	}
}

// FuzzUDPPortalMessage feeds arbitrary payloads to decode. It must never
// panic, and every message it accepts must re-encode, with the encoders
// the inlet and the outlet use, to bytes that decode to the same message:
// the same bytes, but for a length written longer than it needs to be.
//
// A tag decode accepts and this target cannot re-encode fails it: a new
// message type brings its encoder here. The seeds hold every tag byte
// alone and with a 00 after it.
func FuzzUDPPortalMessage(f *testing.F) {
	for _, g := range goldenMessages[:5] {
		b, _ := hex.DecodeString(g.hex)
		f.Add(b)
	}
	for _, seed := range [][]byte{
		nil,
		{0x40, 0x83, 0x00, 'a', 'b', 'c'},
		{0x40, 0x05, 'a'},
		{0x40, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	} {
		f.Add(seed)
	}
	for tag := range 256 {
		f.Add([]byte{byte(tag)})
		f.Add([]byte{byte(tag), 0x00})
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decode(data)
		if err != nil {
			return
		}
		var enc []byte
		switch m.tag {
		case tagClose:
			if len(data) != 1 {
				t.Fatalf("decode(%x): Close with %d bytes after it", data, len(data)-1)
			}
			enc = encodeClose()
		case tagDatagram:
			if len(m.data) > MaxDatagram {
				t.Fatalf("decode(%x): a datagram of %d bytes", data, len(m.data))
			}
			enc = datagramMessage(m.data)
			if !bytes.Equal(enc, appendDatagram(nil, m.data)) {
				t.Fatalf("datagram %x: framed in place and appended differ", m.data)
			}
		default:
			t.Fatalf("decode(%x) accepts tag %#x, which this target cannot re-encode: add its encoder", data, m.tag)
		}
		m2, err := decode(enc)
		if err != nil {
			t.Fatalf("decode(%x) = %+v, re-encoded as %x, which fails: %v", data, m, enc, err)
		}
		if m2.tag != m.tag || !bytes.Equal(m2.data, m.data) {
			t.Fatalf("decode(%x) = %+v, re-encoded as %x, decodes to %+v", data, m, enc, m2)
		}
		if len(enc) > len(data) || len(enc) == len(data) && !bytes.Equal(enc, data) {
			t.Fatalf("decode(%x): re-encoded as %x, differently and no shorter", data, enc)
		}
	})
}

// datagramMessage frames data the way the inlet and the outlet do: read
// into a buffer after headroom bytes, header written in place.
func datagramMessage(data []byte) []byte {
	buf := make([]byte, headroom+len(data))
	copy(buf[headroom:], data)
	return frameDatagram(buf, len(data))
}
