// Package wire is the byte format of ockamtop's TCP transport, compatible
// with Ockam's (v0.128 and later), of its UDP transport's datagrams (udp.go),
// and the BARE encoding of application payloads.
//
// A connection starts with one byte from each side, the protocol version.
// After that each side writes frames:
//
//	frame = length(u32, big endian) body
//	body  = CBOR [onward_route, return_route, payload, ?tracing_context]
//	route = CBOR [address, ...]
//	address = CBOR [transport_type(uint), value(bytes)]
//	payload = CBOR bytes
//	tracing_context = CBOR text (or null: absent)
//
// Items after the fourth are ignored, so that a newer peer may add fields.
package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

// ProtocolVersion is the byte each side sends first on a new connection.
// Version 1 is Ockam's only version of the framed CBOR transport.
const ProtocolVersion byte = 0x01

// MaxBodySize is the largest frame body a connection accepts or sends.
const MaxBodySize = 16 << 20

// headerSize is the size of the length prefix.
const headerSize = 4

// Errors a frame decoder returns. They wrap the details.
var (
	// ErrFrameTooLarge is a length prefix above MaxBodySize.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrMalformedBody is a body that is not a routing message.
	ErrMalformedBody = errors.New("malformed frame body")
	// ErrRouteTooLong is a route of more than routing.MaxRouteLength
	// addresses; it comes wrapped in ErrMalformedBody.
	ErrRouteTooLong = errors.New("route too long")
)

// AppendBody appends the CBOR body of m to dst.
func AppendBody(dst []byte, m *routing.Message) []byte {
	dst, _ = appendBody(dst, m, true)
	return dst
}

// appendBody appends the body of m, with or without the payload's bytes;
// at is where they go.
func appendBody(dst []byte, m *routing.Message, withPayload bool) (out []byte, at int) {
	n := uint64(3)
	if m.Tracing != "" {
		n = 4
	}
	dst = appendHead(dst, majorArray, n)
	dst = appendRoute(dst, m.Onward)
	dst = appendRoute(dst, m.Return)
	dst = appendHead(dst, majorBytes, uint64(len(m.Payload)))
	at = len(dst)
	if withPayload {
		dst = append(dst, m.Payload...)
	}
	if m.Tracing != "" {
		dst = appendHead(dst, majorText, uint64(len(m.Tracing)))
		dst = append(dst, m.Tracing...)
	}
	return dst, at
}

func appendRoute(dst []byte, r routing.Route) []byte {
	dst = appendHead(dst, majorArray, uint64(len(r)))
	for _, a := range r {
		dst = append(dst, 0x82) // array of two
		dst = appendHead(dst, majorUint, uint64(a.Type))
		dst = appendHead(dst, majorBytes, uint64(len(a.Value)))
		dst = append(dst, a.Value...)
	}
	return dst
}

// AppendFrame appends a whole frame, length prefix and body, to dst. It
// fails if the body would exceed MaxBodySize.
func AppendFrame(dst []byte, m *routing.Message) ([]byte, error) {
	dst, _, err := appendFrame(dst, m, true)
	return dst, err
}

// AppendFrameSplit appends a frame without its payload's bytes, which
// belong at index at of the result: a writer sends out[:at], the payload,
// then out[at:] (one writev, no copy of the payload).
func AppendFrameSplit(dst []byte, m *routing.Message) (out []byte, at int, err error) {
	return appendFrame(dst, m, false)
}

func appendFrame(dst []byte, m *routing.Message, withPayload bool) ([]byte, int, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst, at := appendBody(dst, m, withPayload)
	n := len(dst) - start - headerSize
	if !withPayload {
		n += len(m.Payload)
	}
	if n > MaxBodySize {
		return dst[:start], start, fmt.Errorf("encode frame: body of %d bytes: %w (max %d)", n, ErrFrameTooLarge, MaxBodySize)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(n))
	return dst, at, nil
}

// DecodeBody reads a frame body. The returned payload aliases body; address
// values and the tracing context are copied.
func DecodeBody(body []byte) (routing.Message, error) {
	return decodeBody(body, nil)
}

// DecodeBodyVia reads a frame body that arrived over the connection whose
// worker is at via, and pushes via onto the return route, as the receiving
// transport does: replies go back over that connection. It costs no second
// copy of the return route.
func DecodeBodyVia(body []byte, via routing.Address) (routing.Message, error) {
	return decodeBody(body, &via)
}

func decodeBody(body []byte, via *routing.Address) (routing.Message, error) {
	var m routing.Message
	d := decoder{b: body}
	n, err := d.arrayLen("message")
	if err != nil {
		return m, fmt.Errorf("%w: %w", ErrMalformedBody, err)
	}
	if n >= 0 && n < 3 {
		return m, fmt.Errorf("%w: message has %d items, want at least 3", ErrMalformedBody, n)
	}
	fail := func(err error) (routing.Message, error) {
		return routing.Message{}, fmt.Errorf("%w: %w", ErrMalformedBody, err)
	}
	for i := 0; ; i++ {
		ok, err := d.more(n, i)
		if err != nil {
			return fail(err)
		}
		if !ok {
			if i < 3 {
				return fail(fmt.Errorf("message has %d items, want at least 3", i))
			}
			break
		}
		switch i {
		case 0:
			m.Onward, err = d.route("onward_route", nil)
		case 1:
			m.Return, err = d.route("return_route", via)
		case 2:
			m.Payload, err = d.str("payload", majorBytes)
		case 3:
			if d.off < len(d.b) && d.b[d.off] == 0xf6 { // null: no tracing context
				d.off++
				continue
			}
			var t []byte
			t, err = d.str("tracing_context", majorText)
			m.Tracing = string(t)
		default:
			err = d.skip(0)
		}
		if err != nil {
			return fail(err)
		}
	}
	if d.off != len(d.b) {
		return fail(fmt.Errorf("%d bytes after the message", len(d.b)-d.off))
	}
	return m, nil
}

// route reads a route; head, if not nil, goes first. A route over
// routing.MaxRouteLength addresses is refused before it is read: a 16 MiB
// frame of tiny addresses must not cost millions of them.
func (d *decoder) route(what string, head *routing.Address) (routing.Route, error) {
	n, err := d.arrayLen(what)
	if err != nil {
		return nil, err
	}
	if n > routing.MaxRouteLength {
		return nil, fmt.Errorf("%s of %d addresses: %w", what, n, ErrRouteTooLong)
	}
	var r routing.Route
	if head != nil {
		r = make(routing.Route, 1, max(n, 0)+1)
		r[0] = *head
	} else if n > 0 {
		r = make(routing.Route, 0, n)
	}
	for i := 0; ; i++ {
		ok, err := d.more(n, i)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if !ok {
			return r, nil
		}
		if i == routing.MaxRouteLength {
			return nil, fmt.Errorf("%s of more than %d addresses: %w", what, i, ErrRouteTooLong)
		}
		a, err := d.address()
		if err != nil {
			return nil, fmt.Errorf("%s: address %d: %w", what, i, err)
		}
		r = append(r, a)
	}
}

func (d *decoder) address() (routing.Address, error) {
	n, err := d.arrayLen("address")
	if err != nil {
		return routing.Address{}, err
	}
	if n >= 0 && n < 2 {
		return routing.Address{}, fmt.Errorf("address has %d items, want 2", n)
	}
	t, err := d.uint("transport type")
	if err != nil {
		return routing.Address{}, err
	}
	if t > 0xff {
		return routing.Address{}, fmt.Errorf("transport type %d is over 255", t)
	}
	v, err := d.str("address value", majorBytes)
	if err != nil {
		return routing.Address{}, err
	}
	for i := 2; ; i++ {
		ok, err := d.more(n, i)
		if err != nil {
			return routing.Address{}, err
		}
		if !ok {
			break
		}
		if err := d.skip(0); err != nil {
			return routing.Address{}, err
		}
	}
	return routing.Address{Type: routing.TransportType(t), Value: string(v)}, nil
}

// ReadFrameLength reads a frame's length prefix, refusing a length above
// MaxBodySize. io.EOF means the peer closed between frames.
func ReadFrameLength(r io.Reader) (int, error) {
	var hdr [headerSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, err
	}
	return FrameLength(hdr[:])
}

// PeekFrameLength reads a frame's length prefix from a buffered reader
// without copying it, refusing a length above MaxBodySize. io.EOF means the
// peer closed between frames.
func PeekFrameLength(br *bufio.Reader) (int, error) {
	hdr, err := br.Peek(headerSize)
	if err != nil {
		if errors.Is(err, io.EOF) && len(hdr) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	_, _ = br.Discard(headerSize) // Peek has it buffered
	return FrameLength(hdr)
}

// FrameLength decodes a frame's length prefix, refusing a length above
// MaxBodySize.
func FrameLength(hdr []byte) (int, error) {
	n := binary.BigEndian.Uint32(hdr[:headerSize])
	if n > MaxBodySize {
		return 0, fmt.Errorf("read frame: length %d: %w (max %d)", n, ErrFrameTooLarge, MaxBodySize)
	}
	return int(n), nil
}

// ReadFrameBody reads a body of the length ReadFrameLength returned into
// body, which must have that length.
func ReadFrameBody(r io.Reader, body []byte) error {
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read frame body of %d bytes: %w", len(body), err)
	}
	return nil
}

// ReadFrame reads one frame from r and returns its body. It reuses buf when
// it is large enough; the caller owns the result until the next call that is
// given it. A length above MaxBodySize is refused before anything is read.
func ReadFrame(r io.Reader, buf []byte) ([]byte, error) {
	n, err := ReadFrameLength(r)
	if err != nil {
		return nil, err // io.EOF here is a clean end between frames
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if err := ReadFrameBody(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}
