package wire

import (
	"bytes"
	"errors"
	"testing"
)

// Golden datagrams, written out by hand from Ockam's UdpTransportMessage
// (a minicbor array of five: version, routing number, offset, total, bytes).
var goldenParts = []struct {
	name  string
	part  UDPPart
	bytes string
}{
	{
		name:  "one part",
		part:  UDPPart{RoutingNumber: 0x1234, Offset: 0, Total: 1, Payload: []byte("hi")},
		bytes: `85 | 01 | 19 12 34 | 00 | 01 | 42 68 69`,
	},
	{
		name:  "second of three, small routing number",
		part:  UDPPart{RoutingNumber: 7, Offset: 1, Total: 3, Payload: []byte{0xaa}},
		bytes: `85 | 01 | 07 | 01 | 03 | 41 aa`,
	},
	{
		name:  "empty last part, as Ockam's sender makes for an exact multiple of 493",
		part:  UDPPart{RoutingNumber: 0xffff, Offset: 2, Total: 3, Payload: []byte{}},
		bytes: `85 | 01 | 19 ff ff | 02 | 03 | 40`,
	},
}

func TestUDPPartGolden(t *testing.T) {
	for _, g := range goldenParts {
		t.Run(g.name, func(t *testing.T) {
			want := unhex(t, g.bytes)
			got := AppendUDPPart(nil, g.part)
			if !bytes.Equal(got, want) {
				t.Fatalf("encode: got % x, want % x", got, want)
			}
			p, err := DecodeUDPPart(want)
			if err != nil {
				t.Fatal(err)
			}
			if p.RoutingNumber != g.part.RoutingNumber || p.Offset != g.part.Offset || p.Total != g.part.Total || !bytes.Equal(p.Payload, g.part.Payload) {
				t.Fatalf("decode: got %+v, want %+v", p, g.part)
			}
		})
	}
}

// The largest part fits in a datagram, as Ockam's size test checks.
func TestUDPPartMaxSize(t *testing.T) {
	p := UDPPart{RoutingNumber: 0xffff, Offset: MaxUDPParts - 1, Total: MaxUDPParts, Payload: make([]byte, MaxUDPPartPayload)}
	if n := len(AppendUDPPart(nil, p)); n > MaxDatagram {
		t.Fatalf("largest part is %d bytes, over %d", n, MaxDatagram)
	}
	// Even with Ockam's largest header (every number at 65535).
	p.Offset, p.Total = 0xffff, 0xffff
	if n := len(AppendUDPPart(nil, p)); n > MaxDatagram {
		t.Fatalf("largest part is %d bytes, over %d", n, MaxDatagram)
	}
}

// total is the ceiling of len/493: no empty last part at exact multiples
// (the edge case Ockam's len/493+1 gets wrong).
func TestUDPPartCount(t *testing.T) {
	for _, c := range []struct{ n, parts int }{
		{0, 1}, {1, 1}, {492, 1}, {493, 1}, {494, 2}, {986, 2}, {987, 3}, {MaxUDPMessage, MaxUDPParts},
	} {
		if got := UDPPartCount(c.n); got != c.parts {
			t.Errorf("UDPPartCount(%d) = %d, want %d", c.n, got, c.parts)
		}
		body := bytes.Repeat([]byte{'x'}, c.n)
		var joined []byte
		for i := range c.parts {
			p := UDPPartOf(body, 9, i)
			if int(p.Total) != c.parts || int(p.Offset) != i {
				t.Fatalf("part %d of %d bytes: %+v", i, c.n, p)
			}
			if len(p.Payload) == 0 && c.n > 0 {
				t.Fatalf("empty part %d of a %d-byte body", i, c.n)
			}
			joined = append(joined, p.Payload...)
		}
		if !bytes.Equal(joined, body) {
			t.Fatalf("%d bytes: the parts do not join back", c.n)
		}
	}
	if err := CheckUDPMessage(make([]byte, MaxUDPMessage+1)); !errors.Is(err, ErrUDPMessageTooLarge) {
		t.Fatalf("CheckUDPMessage over the limit: %v", err)
	}
}

func TestUDPPartRefused(t *testing.T) {
	for _, c := range []struct {
		name, bytes string
		want        error
	}{
		{"empty", ``, ErrMalformedPart},
		{"not an array", `01`, ErrMalformedPart},
		{"four items", `84 01 00 00 01`, ErrMalformedPart},
		{"wrong version", `85 02 00 00 01 40`, ErrUDPVersion},
		{"total of 65535", `85 01 00 00 19 ff ff 40`, ErrMalformedPart},
		{"total of 0", `85 01 00 00 00 40`, ErrMalformedPart},
		{"offset past total", `85 01 00 03 03 40`, ErrMalformedPart},
		{"routing number over 16 bits", `85 01 1a 00 01 00 00 00 01 40`, ErrMalformedPart},
		{"payload truncated", `85 01 00 00 01 45 61`, ErrMalformedPart},
		{"trailing bytes", `85 01 00 00 01 40 00`, ErrMalformedPart},
		{"text payload", `85 01 00 00 01 60`, ErrMalformedPart},
	} {
		_, err := DecodeUDPPart(unhex(t, c.bytes))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	big := AppendUDPPart(nil, UDPPart{Total: 1, Payload: make([]byte, MaxDatagram)})
	if _, err := DecodeUDPPart(big); !errors.Is(err, ErrMalformedPart) {
		t.Errorf("oversized datagram: %v", err)
	}
	// A newer peer's extra items are skipped.
	if _, err := DecodeUDPPart(unhex(t, `86 01 00 00 01 40 f6`)); err != nil {
		t.Errorf("extra item: %v", err)
	}
}

// FuzzUDPPart: DecodeUDPPart never panics, and what it accepts encodes back
// to a datagram that decodes to the same part.
func FuzzUDPPart(f *testing.F) {
	for _, g := range goldenParts {
		f.Add(unhex(f, g.bytes))
	}
	f.Add([]byte{0x85, 0x01, 0x00, 0x00, 0x19, 0xff, 0xff, 0x40})
	f.Add([]byte{0x9f, 0x01, 0x00, 0x00, 0x01, 0x40, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodeUDPPart(data)
		if err != nil {
			return
		}
		q, err := DecodeUDPPart(AppendUDPPart(nil, p))
		if err != nil {
			t.Fatalf("re-encoded part refused: %v", err)
		}
		if q.RoutingNumber != p.RoutingNumber || q.Offset != p.Offset || q.Total != p.Total || !bytes.Equal(q.Payload, p.Payload) {
			t.Fatalf("round trip: %+v != %+v", q, p)
		}
	})
}
