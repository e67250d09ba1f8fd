package runtime

import (
	"bytes"
	"testing"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/secure"
)

// streamChunk makes a Payload as a portal stream's reader does: n bytes
// read into a pooled buffer after payloadHeadroom, the header written in
// place, the message number appended.
func streamChunk(t *testing.T, n int) (*Routed, []byte) {
	t.Helper()
	pooled := getBufferFor(payloadHeadroom + n + seqSize)
	if pooled == nil && payloadHeadroom+n+seqSize <= smallBufferSize {
		pooled = getSmallBuffer() // an idle stream's first read (readIdle)
	}
	if pooled == nil {
		t.Fatalf("no pooled buffer for a %d-byte chunk", n)
	}
	buf := (*pooled)[:payloadHeadroom+n]
	for i := range n {
		buf[payloadHeadroom+i] = byte(i * 7)
	}
	payload := appendSeq(framePayload(buf, n), 3)
	want := append([]byte(nil), payload...)
	return &Routed{Message: routing.Message{
		// The encryptor's address, then the outlet past the other side;
		// the stream's address to answer to, 32 hex digits as a node names
		// its streams.
		Onward:  routing.Route{routing.LocalAddress(RandomAddress()), routing.LocalAddress("an_outlet_with_a_long_name")},
		Return:  routing.Route{routing.LocalAddress(RandomAddress())},
		Payload: payload,
	}, buf: pooled}, want
}

func TestSealInPlace(t *testing.T) {
	for _, n := range []int{sealInPlaceMin, 4 << 10, pooledFrameMin, MaxPortalChunk, LargeChunk} {
		msg, want := streamChunk(t, n)
		pooled := msg.buf
		var head []byte
		plain, got := sealInPlace(msg, &head)
		if plain == nil || got != pooled || msg.buf != nil {
			t.Fatalf("%d bytes: sealInPlace did not take the stream's buffer (plain %d bytes, buffer moved %v)", n, len(plain), got == pooled)
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
		putBuffer(got)
	}
}

func TestSealInPlaceFallsBack(t *testing.T) {
	var head []byte
	// A small payload: copying it costs nothing.
	small, _ := streamChunk(t, 100)
	if plain, _ := sealInPlace(small, &head); plain != nil {
		t.Error("sealed a small payload in place")
	}
	// A payload that is not in its message's buffer.
	msg, _ := streamChunk(t, MaxPortalChunk)
	msg.Payload = append([]byte(nil), msg.Payload...)
	if plain, _ := sealInPlace(msg, &head); plain != nil || msg.buf == nil {
		t.Error("sealed in place a payload outside its buffer")
	}
	// A payload with no room before it.
	msg, _ = streamChunk(t, MaxPortalChunk)
	off := len(*msg.buf) - cap(msg.Payload)
	msg.Payload = (*msg.buf)[:cap(*msg.buf)][off-payloadHeadroom+payloadHeaderMax:][:len(msg.Payload)]
	if plain, _ := sealInPlace(msg, &head); plain != nil || msg.buf == nil {
		t.Error("sealed in place a payload with no room before it")
	}
	// No room after it for the padding and the tag.
	msg, _ = streamChunk(t, MaxPortalChunk)
	off = len(*msg.buf) - cap(msg.Payload)
	short := (*msg.buf)[:off+len(msg.Payload)+secure.Overhead]
	short = short[:len(short):len(short)]
	msg.buf = &short
	msg.Payload = short[off : off+len(msg.Payload)]
	if plain, _ := sealInPlace(msg, &head); plain != nil || msg.buf == nil {
		t.Error("sealed in place a payload with no room after it")
	}
}
