package portal

import (
	"bytes"
	"testing"
)

// FuzzPortalMessage feeds arbitrary payloads to decodePortal. It must never
// panic, and every message it accepts must re-encode, with the encoder the
// node itself uses for that tag, to bytes that decode to the same message.
// The bytes may differ where the codec allows two spellings: a trailer
// saying there is no message number, 00, is not re-encoded, and a number
// (Credit, Window) is re-encoded in its shortest uleb128.
//
// A tag decodePortal accepts and this target cannot re-encode fails it:
// a new message type brings its encoder here. The seeds hold every tag
// byte alone and with a 00 after it, so that plain go test finds one.
func FuzzPortalMessage(f *testing.F) {
	chunk := bytes.Repeat([]byte{0xab}, 200)
	for _, seed := range [][]byte{
		nil,
		encodePortal(portalPing),
		encodePortal(portalPong),
		encodePortal(portalDisconnect),
		encodePortal(portalHalfClose),
		encodePortal(portalKeepAlive),
		{byte(portalPing), 0x00},
		{0x07},
		{0x08},
		{byte(portalKeepAlive), 0x01, 0x02, 0x00},
		{byte(portalDisconnect), 0x00},
		{byte(portalCredit), 0x10, 0x01, 0xff, 0xff},
		{0xff},
		encodeCredit(0),
		encodeCredit(DefaultWindow),
		encodeWindow(DefaultWindow),
		encodeWindow(LargeWindow),
		appendSeq(encodeWindow(LargeWindow), 7),
		{byte(portalWindow), 0x80, 0x00},
		{byte(portalCredit)},
		{byte(portalCredit), 0x80, 0x00},
		{byte(portalCredit), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		{byte(portalCredit), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},
		{byte(portalPayload), 0x00},
		{byte(portalPayload), 0x03, 'a', 'b', 'c'},
		{byte(portalPayload), 0x03, 'a', 'b', 'c', 0x00},
		{byte(portalPayload), 0x03, 'a', 'b', 'c', 0x01, 0x07, 0x00},
		{byte(portalPayload), 0x03, 'a', 'b', 'c', 0x01, 0x07},
		{byte(portalPayload), 0x03, 'a', 'b', 'c', 0x02},
		{byte(portalPayload), 0x83, 0x00, 'a', 'b', 'c'},
		{byte(portalPayload), 0x05, 'a'},
		payloadMessage(chunk),
	} {
		f.Add(seed)
	}
	for tag := range 256 {
		f.Add([]byte{byte(tag)})
		f.Add([]byte{byte(tag), 0x00})
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodePortal(data)
		if err != nil {
			return
		}
		var enc []byte
		switch m.tag {
		case portalPing, portalPong:
			if len(data) != 1 {
				t.Fatalf("decodePortal(%x): tag %d with %d bytes after it", data, m.tag, len(data)-1)
			}
			enc = encodePortal(m.tag)
		case portalDisconnect, portalHalfClose, portalKeepAlive, portalBroken:
			if len(data) != 1 && len(data) != 2 && len(data) != 1+seqSize {
				t.Fatalf("decodePortal(%x): tag %d with %d bytes after it", data, m.tag, len(data)-1)
			}
			enc = encodePortal(m.tag)
		case portalCredit:
			enc = encodeCredit(int(m.n)) // the bits survive the int conversion
		case portalWindow:
			enc = encodeWindow(int(m.n))
		case portalPayload:
			if len(m.data) >= 1<<21 {
				t.Skip("no room for the header in payloadHeadroom") // never a fuzz input's size
			}
			enc = payloadMessage(m.data)
		default:
			t.Fatalf("decodePortal(%x) accepts tag %#x, which this target cannot re-encode: add its encoder", data, m.tag)
		}
		if m.hasSeq {
			enc = appendSeq(enc, m.seq)
		}
		m2, err := decodePortal(enc)
		if err != nil {
			t.Fatalf("decodePortal(%x) = %+v, re-encoded as %x, which fails: %v", data, m, enc, err)
		}
		if m2.tag != m.tag || m2.n != m.n || !bytes.Equal(m2.data, m.data) || m2.seq != m.seq || m2.hasSeq != m.hasSeq {
			t.Fatalf("decodePortal(%x) = %+v, re-encoded as %x, decodes to %+v", data, m, enc, m2)
		}
		if (m.tag == portalCredit || m.tag == portalWindow) && !m.hasSeq && !bytes.Equal(enc, data) && len(enc) >= len(data) {
			t.Fatalf("decodePortal(%x): %#x re-encoded as %x, differently and no shorter", data, m.tag, enc)
		}
	})
}

// payloadMessage encodes data as a Payload the way a stream does: read into
// a buffer after payloadHeadroom bytes, header written in place.
func payloadMessage(data []byte) []byte {
	buf := make([]byte, payloadHeadroom+len(data))
	copy(buf[payloadHeadroom:], data)
	return framePayload(buf, len(data))
}
