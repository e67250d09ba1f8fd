package securechannel

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/portal"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/secure"
)

// streamHeadroom is the room before a chunk's data in these tests: what a
// portal stream's reader leaves (runtime/portal's TestPayloadHeadroomSeals
// holds the stream's to what sealing in place needs).
const streamHeadroom = 160

// streamChunk makes a message as a portal stream's reader does: n bytes
// read into a pooled buffer after streamHeadroom, the Payload header
// written before them and room for a message number after, in place. It returns the message and a copy
// of its payload.
func streamChunk(t *testing.T, n int) (*runtime.Routed, []byte) {
	t.Helper()
	pooled := runtime.GetBuffer(streamHeadroom + n + 3)
	if pooled == nil {
		t.Fatalf("no pooled buffer for a %d-byte chunk", n)
	}
	buf := (*pooled)[:streamHeadroom+n+3]
	for i := range n {
		buf[streamHeadroom+i] = byte(i * 7)
	}
	h := binary.AppendUvarint([]byte{0x03}, uint64(n)) // a Payload's tag and uleb128 length
	payload := buf[streamHeadroom-len(h):]
	copy(payload, h)
	want := append([]byte(nil), payload...)
	return runtime.NewRouted(routing.Message{
		// The encryptor's address, then the outlet past the other side;
		// the stream's address to answer to, 32 hex digits as a node names
		// its streams.
		Onward:  routing.Route{routing.LocalAddress(runtime.RandomAddress()), routing.LocalAddress("an_outlet_with_a_long_name")},
		Return:  routing.Route{routing.LocalAddress(runtime.RandomAddress())},
		Payload: payload,
	}, nil, pooled, nil), want
}

func TestSealInPlace(t *testing.T) {
	for _, n := range []int{sealInPlaceMin, 4 << 10, 32 << 10, portal.DefaultChunk, portal.LargeChunk} {
		msg, want := streamChunk(t, n)
		pooled := msg.TakeBuffer()
		var head []byte
		plain := sealInPlace(msg, pooled, &head)
		if plain == nil {
			t.Fatalf("%d bytes: sealInPlace did not take the stream's buffer", n)
		}
		var key [32]byte
		sealed, err := secure.NewEncryptor(key).Seal(plain[:0], plain[8:])
		if err != nil {
			t.Fatal(err)
		}
		if &sealed[0] != &plain[0] {
			t.Fatalf("%d bytes: sealed outside the stream's buffer", n)
		}
		opened, _, err := secure.NewDecryptor(key).OpenInPlace(sealed)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		// The plaintext is the one AppendPayload makes of a copy.
		if copied := secure.AppendPayload(nil, msg.Onward[1:], msg.Return, want); !bytes.Equal(opened, copied) {
			t.Fatalf("%d bytes: the plaintext sealed in place differs from the copied one", n)
		}
		m, err := secure.DecodeMessage(opened)
		if err != nil || !bytes.Equal(m.Body, want) || !m.Onward.Equal(msg.Onward[1:]) || !m.Return.Equal(msg.Return) {
			t.Fatalf("%d bytes: decoded %+v, %v", n, m.Onward, err)
		}
		runtime.PutBuffer(pooled)
	}
}

func TestSealInPlaceFallsBack(t *testing.T) {
	var head []byte
	// A small payload: copying it costs nothing.
	small, _ := streamChunk(t, 100)
	if plain := sealInPlace(small, small.TakeBuffer(), &head); plain != nil {
		t.Error("sealed a small payload in place")
	}
	// A payload in no pooled buffer.
	msg, _ := streamChunk(t, portal.DefaultChunk)
	if plain := sealInPlace(msg, nil, &head); plain != nil {
		t.Error("sealed in place a payload without its buffer")
	}
	// A payload that is not in its message's buffer.
	msg, _ = streamChunk(t, portal.DefaultChunk)
	msg.Payload = append([]byte(nil), msg.Payload...)
	if plain := sealInPlace(msg, msg.TakeBuffer(), &head); plain != nil {
		t.Error("sealed in place a payload outside its buffer")
	}
	// A payload with no room before it.
	msg, _ = streamChunk(t, portal.DefaultChunk)
	pooled := msg.TakeBuffer()
	msg.Payload = (*pooled)[8 : 8+len(msg.Payload)]
	if plain := sealInPlace(msg, pooled, &head); plain != nil {
		t.Error("sealed in place a payload with no room before it")
	}
	// No room after it for the padding and the tag.
	msg, _ = streamChunk(t, portal.DefaultChunk)
	pooled = msg.TakeBuffer()
	off := len(*pooled) - cap(msg.Payload)
	short := (*pooled)[:off+len(msg.Payload)+secure.Overhead]
	short = short[:len(short):len(short)]
	msg.Payload = short[off : off+len(msg.Payload)]
	if plain := sealInPlace(msg, &short, &head); plain != nil {
		t.Error("sealed in place a payload with no room after it")
	}
}
