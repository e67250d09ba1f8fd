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

	"github.com/ockamtop/ockamtop/runtime/cbor"
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
	dst, _ = appendBody(dst, m, -1)
	return dst
}

// appendBody appends the body of m with its payload when payloadLen < 0,
// or without the payload's bytes, which are payloadLen; at is where they
// go.
func appendBody(dst []byte, m *routing.Message, payloadLen int) (out []byte, at int) {
	withPayload := payloadLen < 0
	if withPayload {
		payloadLen = len(m.Payload)
	}
	n := uint64(3)
	if m.Tracing != "" {
		n = 4
	}
	dst = cbor.AppendHead(dst, cbor.Array, n)
	dst = cbor.AppendRoute(dst, m.Onward)
	dst = cbor.AppendRoute(dst, m.Return)
	dst = cbor.AppendHead(dst, cbor.Bytes, uint64(payloadLen))
	at = len(dst)
	if withPayload {
		dst = append(dst, m.Payload...)
	}
	if m.Tracing != "" {
		dst = cbor.AppendHead(dst, cbor.Text, uint64(len(m.Tracing)))
		dst = append(dst, m.Tracing...)
	}
	return dst, at
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

// AppendFrameAround appends a frame whose payload, of payloadLen bytes,
// the caller writes itself at index at of the result (m.Payload is not
// used): out[:at], the payload, then out[at:].
func AppendFrameAround(dst []byte, m *routing.Message, payloadLen int) (out []byte, at int, err error) {
	around := *m
	around.Payload = nil
	return appendFrameLen(dst, &around, payloadLen)
}

func appendFrame(dst []byte, m *routing.Message, withPayload bool) ([]byte, int, error) {
	if !withPayload {
		return appendFrameLen(dst, m, len(m.Payload))
	}
	return appendFrameLen(dst, m, -1)
}

// appendFrameLen appends a frame with its payload when payloadLen < 0, or
// around a payload of payloadLen bytes.
func appendFrameLen(dst []byte, m *routing.Message, payloadLen int) ([]byte, int, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst, at := appendBody(dst, m, payloadLen)
	n := len(dst) - start - headerSize
	if payloadLen >= 0 {
		n += payloadLen
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
	h, err := decodeHead(body, via)
	if err != nil {
		return routing.Message{}, err
	}
	end := h.PayloadAt + h.PayloadLen
	if end > len(body) {
		return routing.Message{}, fmt.Errorf("%w: payload: %d bytes announced, %d left: %w", ErrMalformedBody, h.PayloadLen, len(body)-h.PayloadAt, errTruncated)
	}
	h.Message.Payload = body[h.PayloadAt:end]
	if err := h.DecodeRest(body[end:]); err != nil {
		return routing.Message{}, err
	}
	return h.Message, nil
}

// Head is the start of a frame body, up to its payload's bytes: a reader
// that has it can decide where the message goes before it reads the
// payload, and move the payload's bytes without looking at them.
type Head struct {
	// Message has the routes; its Payload is not set.
	Message routing.Message
	// PayloadAt is where the payload's bytes start in the body, and
	// PayloadLen how many there are.
	PayloadAt, PayloadLen int
	// items is the message array's count, -1 if indefinite.
	items int
}

// ErrShortHead is a body prefix that ends before its payload's bytes start.
var ErrShortHead = errors.New("frame head incomplete")

// DecodeHeadVia decodes the start of a frame body that arrived over the
// connection at via (pushed onto the return route, as DecodeBodyVia does).
// prefix is the body's first bytes: the payload's bytes need not be there.
// A prefix that ends inside the head is ErrShortHead; anything else wrong
// is ErrMalformedBody, as DecodeBodyVia reports it.
func DecodeHeadVia(prefix []byte, via routing.Address) (Head, error) {
	h, err := decodeHead(prefix, &via)
	if errors.Is(err, errTruncated) {
		return h, ErrShortHead
	}
	return h, err
}

func decodeHead(body []byte, via *routing.Address) (Head, error) {
	d := decoder{b: body}
	fail := func(err error) (Head, error) {
		return Head{}, fmt.Errorf("%w: %w", ErrMalformedBody, err)
	}
	n, err := d.arrayLen("message")
	if err != nil {
		return fail(err)
	}
	if n >= 0 && n < 3 {
		return fail(fmt.Errorf("message has %d items, want at least 3", n))
	}
	h := Head{items: n}
	for i := range 2 {
		if ok, err := d.more(n, i); err != nil {
			return fail(err)
		} else if !ok {
			return fail(fmt.Errorf("message has %d items, want at least 3", i))
		}
		if i == 0 {
			h.Message.Onward, err = d.route("onward_route", nil)
		} else {
			h.Message.Return, err = d.route("return_route", via)
		}
		if err != nil {
			return fail(err)
		}
	}
	if ok, err := d.more(n, 2); err != nil {
		return fail(err)
	} else if !ok {
		return fail(errors.New("message has 2 items, want at least 3"))
	}
	major, info, size, err := d.head()
	switch {
	case err != nil:
		return fail(fmt.Errorf("payload: %w", err))
	case major != cbor.Bytes:
		return fail(fmt.Errorf("payload: want major type %d, got %d", cbor.Bytes, major))
	case info == indefinite:
		return fail(errors.New("payload: indefinite-length strings are not supported"))
	case size > MaxBodySize:
		return fail(fmt.Errorf("payload: %d bytes announced: %w", size, errTruncated))
	}
	h.PayloadAt, h.PayloadLen = d.off, int(size)
	return h, nil
}

// DecodeRest decodes what follows the payload in the body: the optional
// tracing context, and items a newer peer added, which are skipped. rest
// must be all of it.
func (h *Head) DecodeRest(rest []byte) error {
	d := decoder{b: rest}
	for i := 3; ; i++ {
		ok, err := d.more(h.items, i)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMalformedBody, err)
		}
		if !ok {
			break
		}
		switch i {
		case 3:
			if d.off < len(d.b) && d.b[d.off] == 0xf6 { // null: no tracing context
				d.off++
				continue
			}
			var t []byte
			t, err = d.str("tracing_context", cbor.Text)
			h.Message.Tracing = string(t)
		default:
			err = d.skip(0)
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMalformedBody, err)
		}
	}
	if d.off != len(d.b) {
		return fmt.Errorf("%w: %d bytes after the message", ErrMalformedBody, len(d.b)-d.off)
	}
	return nil
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
	v, err := d.str("address value", cbor.Bytes)
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
