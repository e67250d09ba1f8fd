package wire

import (
	"errors"
	"fmt"

	"github.com/ockamtop/ockamtop/runtime/cbor"
)

// The datagrams of Ockam's UDP transport (ockam_transport_udp, from
// messages/transport_message.rs and workers/pending_messages since Ockam's
// PR #8685). A routing message is encoded as on TCP, the CBOR body
//
//	[onward_route, return_route, payload, ?tracing_context]
//
// without the length prefix (messages/routing_message.rs), then cut into
// parts of at most MaxUDPPartPayload bytes. Each part is one datagram of at
// most MaxDatagram bytes:
//
//	part = CBOR [version(uint) = 1, routing_number(uint16), offset(uint16),
//	             total(uint16), payload(bytes)]
//
// routing_number names the message: a sender starts it at a random value
// and adds one per message, wrapping at 2^16 (messages/routing_number.rs).
// offset is the part's index, from 0, and total the number of parts. The
// receiver puts a message together from parts that may come out of order.
//
// Ockam's sender computes total as len/493 + 1, which for a body of an exact
// multiple of 493 bytes gives an empty last part that Ockam's own receiver
// refuses. ockamtop sends ceil(len/493) parts, and accepts an empty last
// part, so that it reads both.

// UDPVersion is the first item of every part: Ockam's CURRENT_VERSION.
const UDPVersion = 1

// MaxDatagram is the largest datagram sent or accepted: Ockam's
// MAX_ON_THE_WIRE_SIZE, 576-byte IP packets (RFC 1122) less the IP and UDP
// headers.
const MaxDatagram = 508

// MaxUDPPartPayload is the most message bytes one part carries: Ockam's
// MAX_PAYLOAD_SIZE, so that a part with the largest header still fits in
// MaxDatagram.
const MaxUDPPartPayload = 493

// MaxUDPMessage is the largest routing message body ockamtop sends or puts
// together over UDP: a full portal chunk (48 KiB) with long routes fits.
const MaxUDPMessage = 64 << 10

// MaxUDPParts is how many parts the largest message has.
const MaxUDPParts = (MaxUDPMessage + MaxUDPPartPayload - 1) / MaxUDPPartPayload

// Errors of the datagram codec.
var (
	// ErrUDPVersion is a part of another protocol version.
	ErrUDPVersion = errors.New("unsupported UDP transport version")
	// ErrMalformedPart is a datagram that is not a part.
	ErrMalformedPart = errors.New("malformed UDP datagram")
	// ErrUDPMessageTooLarge is a message over MaxUDPMessage bytes.
	ErrUDPMessageTooLarge = errors.New("message too large for the UDP transport")
)

// UDPPart is one datagram of a routing message.
type UDPPart struct {
	RoutingNumber uint16
	Offset        uint16
	Total         uint16
	// Payload is this part's slice of the message body.
	Payload []byte
}

// UDPPartCount is how many parts a body of n bytes is sent in: the ceiling
// of n / MaxUDPPartPayload, and 1 for an empty body.
func UDPPartCount(n int) int {
	if n == 0 {
		return 1
	}
	return (n + MaxUDPPartPayload - 1) / MaxUDPPartPayload
}

// UDPPartOf returns the part at offset of body, sent as message rn.
func UDPPartOf(body []byte, rn uint16, offset int) UDPPart {
	total := UDPPartCount(len(body))
	start := offset * MaxUDPPartPayload
	end := min(start+MaxUDPPartPayload, len(body))
	return UDPPart{RoutingNumber: rn, Offset: uint16(offset), Total: uint16(total), Payload: body[start:end]}
}

// CheckUDPMessage refuses a body too large to send over UDP.
func CheckUDPMessage(body []byte) error {
	if len(body) > MaxUDPMessage {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrUDPMessageTooLarge, len(body), MaxUDPMessage)
	}
	return nil
}

// AppendUDPPart appends the datagram of p to dst.
func AppendUDPPart(dst []byte, p UDPPart) []byte {
	dst = append(dst, 0x85) // array of five
	dst = cbor.AppendHead(dst, cbor.Uint, UDPVersion)
	dst = cbor.AppendHead(dst, cbor.Uint, uint64(p.RoutingNumber))
	dst = cbor.AppendHead(dst, cbor.Uint, uint64(p.Offset))
	dst = cbor.AppendHead(dst, cbor.Uint, uint64(p.Total))
	dst = cbor.AppendHead(dst, cbor.Bytes, uint64(len(p.Payload)))
	return append(dst, p.Payload...)
}

// DecodeUDPPart reads a datagram. The payload aliases b. It checks what a
// part says on its own: the version, total from 1 to MaxUDPParts, offset
// below total, a payload of at most MaxUDPPartPayload bytes; whether the
// parts of one message agree is the receiver's business.
func DecodeUDPPart(b []byte) (UDPPart, error) {
	var p UDPPart
	fail := func(err error) (UDPPart, error) {
		return UDPPart{}, fmt.Errorf("%w: %w", ErrMalformedPart, err)
	}
	if len(b) > MaxDatagram {
		return fail(fmt.Errorf("%d bytes, the limit is %d", len(b), MaxDatagram))
	}
	d := decoder{b: b}
	n, err := d.arrayLen("part")
	if err != nil {
		return fail(err)
	}
	if n >= 0 && n < 5 {
		return fail(fmt.Errorf("part has %d items, want 5", n))
	}
	u16 := func(what string) (uint16, error) {
		v, err := d.uint(what)
		if err == nil && v > 0xffff {
			err = fmt.Errorf("%s %d is over 65535", what, v)
		}
		return uint16(v), err
	}
	v, err := d.uint("version")
	if err != nil {
		return fail(err)
	}
	if v != UDPVersion {
		return UDPPart{}, fmt.Errorf("%w: version %d, we speak %d", ErrUDPVersion, v, UDPVersion)
	}
	if p.RoutingNumber, err = u16("routing number"); err != nil {
		return fail(err)
	}
	if p.Offset, err = u16("offset"); err != nil {
		return fail(err)
	}
	if p.Total, err = u16("total"); err != nil {
		return fail(err)
	}
	if p.Payload, err = d.str("payload", cbor.Bytes); err != nil {
		return fail(err)
	}
	// Later items, from a newer peer, are skipped.
	for i := 5; ; i++ {
		ok, err := d.more(n, i)
		if err != nil {
			return fail(err)
		}
		if !ok {
			break
		}
		if err := d.skip(0); err != nil {
			return fail(err)
		}
	}
	switch {
	case d.off != len(d.b):
		return fail(fmt.Errorf("%d bytes after the part", len(d.b)-d.off))
	case p.Total == 0:
		return fail(errors.New("total of 0 parts"))
	case int(p.Total) > MaxUDPParts:
		return fail(fmt.Errorf("total of %d parts, the limit is %d (%d bytes)", p.Total, MaxUDPParts, MaxUDPMessage))
	case p.Offset >= p.Total:
		return fail(fmt.Errorf("offset %d of %d parts", p.Offset, p.Total))
	case len(p.Payload) > MaxUDPPartPayload:
		return fail(fmt.Errorf("part of %d bytes, the limit is %d", len(p.Payload), MaxUDPPartPayload))
	}
	return p, nil
}
