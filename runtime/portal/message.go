package portal

import (
	"errors"
	"fmt"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// Portal messages carry a TCP stream over routing. Ockam's four, BARE
// encoded (a tag byte, then the variant's fields):
//
//	00 Ping        inlet -> outlet listener: open a stream
//	01 Pong        outlet stream -> inlet stream: opened; its return route
//	               is the way to the outlet's stream worker
//	02 Disconnect  either way: the stream is gone
//	03 Payload     uleb128(len) bytes: stream data, at most DefaultChunk
//
// ockamtop's extensions, above Ockam's tags (an Ockam peer never sends
// them, and a stream between ockamtop nodes needs them):
//
//	04 Credit      uleb128(n): the receiver wrote n more bytes to its socket,
//	               so the sender may send n more. A sender starts with
//	               DefaultWindow bytes of credit and never has more than that
//	               in flight, so no node buffers more than a window for a
//	               stream, and a slow reader stalls only its own stream.
//	05 HalfClose   the sender read EOF: after the data already sent, the
//	               receiver shuts down its socket's write side, and the
//	               stream goes on in the other direction until that one
//	               ends too (TCP half-close, which Ockam's Disconnect cuts).
//	06 KeepAlive   nothing: an end that has sent nothing for a while says
//	               this, and an end that has heard nothing for three times
//	               as long gives the stream up. A node that dies on the way
//	               can tell no one, so this is how its streams end.
//	07 Broken      the sender found a message of the stream missing,
//	               duplicated or out of order, or its socket was reset (the
//	               client or the target reset its connection), and closed
//	               its end: the receiver resets its socket too, so that
//	               neither client takes a cut stream for a whole one.
//	08 Window      uleb128(n): the sender takes n bytes in flight, not
//	               DefaultWindow, in Payloads of up to chunkFor(n): the
//	               receiver's credit grows by the difference. An inlet
//	               whose whole route is TCP between ockamtop nodes sends it
//	               after the Pong (InletOptions.Window); the outlet's
//	               stream answers with its own, and both ends then move
//	               data in large chunks. A UDP hop on the way, whose
//	               reassembly takes messages of a few hundred KiB at most,
//	               or an Ockam peer, never sees one. A window only grows:
//	               an end whose streams share a budget (window_budget.go)
//	               sends a larger Window as its stream's share grows, and
//	               keeps the other end below a window that is now more
//	               than its share by giving back less Credit than it
//	               wrote, which needs no message.
//
// Message numbers. Ockam's Payload may end with an optional packet counter,
// [has_counter u8][u16 little endian] (Ockam numbers the packets of a
// stream since its portals run over UDP puncture). An ockamtop stream end
// numbers every message it sends after the Ping and Pong, in one sequence
// from 0 (wrapping at 2^16): Payload with Ockam's counter, Credit,
// HalfClose, Disconnect, KeepAlive and Broken with the same trailer. The
// other end expects exactly the next number: a message lost, duplicated or
// overtaken on the way (a UDP hop loses, and may reorder, whole messages;
// see runtime/udp/connection.go) is seen at the next message, or at the
// next KeepAlive for a lost last one, and closes the stream as Broken.
// Only a run of exactly 65,536 lost messages in a row would go unseen. A
// message without a trailer (from an Ockam peer) is not checked.

type portalTag byte

const (
	portalPing       portalTag = 0x00
	portalPong       portalTag = 0x01
	portalDisconnect portalTag = 0x02
	portalPayload    portalTag = 0x03
	portalCredit     portalTag = 0x04
	portalHalfClose  portalTag = 0x05
	portalKeepAlive  portalTag = 0x06
	portalBroken     portalTag = 0x07
	portalWindow     portalTag = 0x08
)

// DefaultChunk is the most stream data one Payload carries in the default
// window: Ockam's MAX_PAYLOAD_SIZE.
const DefaultChunk = 48 << 10

// DefaultWindow is how many bytes of one stream may be in flight, sent and
// not yet written out by the other end, unless a Window says more.
const DefaultWindow = 256 << 10

// LargeWindow is the window of a stream whose route is TCP between
// ockamtop nodes (InletOptions.Window), and the most a Window may ask.
// Its chunks, of LargeChunk, cross each node in one splice
// (runtime/splice) where Ockam's cost a dozen; eight are in flight, so that
// the sender seldom waits for a Credit (with four it waited every other
// chunk, and carried 7-9% less).
const LargeWindow = 4 << 20

// LargeChunk is the largest Payload of a large window: the largest payload
// the node's pooled buffers take whole.
const LargeChunk = runtime.LargePayload

// chunkFor is the largest Payload a stream sends into a window: Ockam's
// size in the default window, a quarter of a larger one up to LargeChunk.
func chunkFor(window int) int {
	if window <= DefaultWindow {
		return DefaultChunk
	}
	return min(window/4, LargeChunk)
}

// payloadHeaderMax is the longest Payload header: a tag and a uleb128 of
// at most three bytes (LargeChunk < 2^21).
const payloadHeaderMax = 4

// payloadHeadroom is the room a reader leaves before the data it reads, so
// that the Payload header is written in place, and before it what a secure
// channel on the way puts there to seal the message in place: its nonce
// and the head of its plaintext, which holds two short routes.
const payloadHeadroom = payloadHeaderMax + 156

var errBadPortalMessage = errors.New("malformed portal message")

// portalMessage is a decoded portal message.
type portalMessage struct {
	tag portalTag
	// data is Payload's bytes (aliasing the message).
	data []byte
	// n is Credit's count, or Window's size.
	n uint64
	// seq is the message's number, when hasSeq.
	seq    uint16
	hasSeq bool
}

// seqSize is the size of a message number trailer.
const seqSize = 3

// appendSeq appends a message number: Ockam's optional packet counter.
func appendSeq(b []byte, seq uint16) []byte {
	return append(b, 1, byte(seq), byte(seq>>8))
}

// numbered reports whether a stream numbers a message with this payload:
// all but Ping and Pong, which open it.
func numbered(payload []byte) bool {
	return len(payload) > 0 && portalTag(payload[0]) != portalPing && portalTag(payload[0]) != portalPong
}

func encodePortal(tag portalTag) []byte { return []byte{byte(tag)} }

func encodeCredit(n int) []byte {
	return wire.AppendUvarint([]byte{byte(portalCredit)}, uint64(n))
}

func encodeWindow(n int) []byte {
	return wire.AppendUvarint([]byte{byte(portalWindow)}, uint64(n))
}

// framePayload writes the Payload header just before buf[payloadHeadroom:
// payloadHeadroom+n] and returns the whole message.
func framePayload(buf []byte, n int) []byte {
	var hdr [payloadHeaderMax]byte
	h := wire.AppendUvarint(append(hdr[:0], byte(portalPayload)), uint64(n))
	start := payloadHeadroom - len(h)
	copy(buf[start:], h)
	return buf[start : payloadHeadroom+n]
}

func decodePortal(b []byte) (portalMessage, error) {
	if len(b) == 0 {
		return portalMessage{}, fmt.Errorf("%w: empty", errBadPortalMessage)
	}
	m := portalMessage{tag: portalTag(b[0])}
	rest := b[1:]
	var err error
	switch m.tag {
	case portalPing, portalPong:
	case portalDisconnect, portalHalfClose, portalKeepAlive, portalBroken:
		rest = m.readSeq(rest)
	case portalPayload:
		m.data, rest, err = wire.Bytes(rest)
		if err == nil {
			rest = m.readSeq(rest)
		}
	case portalCredit, portalWindow:
		m.n, rest, err = wire.Uvarint(rest)
		if err == nil {
			rest = m.readSeq(rest)
		}
	default:
		return m, fmt.Errorf("%w: unknown tag %#x", errBadPortalMessage, b[0])
	}
	if err != nil {
		return m, fmt.Errorf("%w: %w", errBadPortalMessage, err)
	}
	if len(rest) != 0 {
		return m, fmt.Errorf("%w: %d bytes after tag %#x", errBadPortalMessage, len(rest), b[0])
	}
	return m, nil
}

// readSeq reads an optional message number ([0] or [1][u16 LE]) that ends
// the message; anything else is left for the caller to refuse.
func (m *portalMessage) readSeq(rest []byte) []byte {
	switch {
	case len(rest) == 1 && rest[0] == 0:
		return nil
	case len(rest) == seqSize && rest[0] == 1:
		m.seq, m.hasSeq = uint16(rest[1])|uint16(rest[2])<<8, true
		return nil
	}
	return rest
}

// decodeSplicedPayload reads a spliced Payload whose data is exactly its
// pipe's bytes: head is the tag and the length, sp's tail the message
// number. ok is false for anything else.
func decodeSplicedPayload(head []byte, sp *runtime.Spliced) (m portalMessage, ok bool) {
	if len(head) == 0 || portalTag(head[0]) != portalPayload {
		return m, false
	}
	n, rest, err := wire.Uvarint(head[1:])
	if err != nil || len(rest) != 0 || n != uint64(sp.Pipe().Held()) {
		return m, false
	}
	m.tag = portalPayload
	if len(m.readSeq(sp.Tail())) != 0 {
		return m, false
	}
	return m, true
}
