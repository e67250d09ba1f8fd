package secure

import (
	"fmt"
	"time"

	"github.com/ockamtop/ockamtop/runtime/cbor"
	"github.com/ockamtop/ockamtop/runtime/routing"
)

// The plaintext of a data-phase message is Ockam's
// SecureChannelPaddedMessage (secure_channel/message.rs):
//
//	SecureChannelPaddedMessage = [message: SecureChannelMessage, padding: bytes]
//	SecureChannelMessage       = [0, [PlaintextPayloadMessage]]
//	                           | [1, [RefreshCredentialsMessage]]
//	                           | [2, []]                                  (Close)
//	PlaintextPayloadMessage    = [onward_route, return_route, payload: bytes]
//	RefreshCredentialsMessage  = [change_history, credentials: [...]]
//
// Ockam sends empty padding; so does ockamtop. The handshake payload of
// messages 2 and 3 is IdentityAndCredentials
// (handshake/handshake_state_machine.rs):
//
//	IdentityAndCredentials = [change_history, purpose_key_attestation, credentials: [...]]
//
// ockamtop presents no credentials and reads none (it has no authority):
// credentials a peer sends are skipped, as Ockam does without an authority.

// Kind is the kind of a SecureChannelMessage.
type Kind uint8

// The message kinds, with Ockam's variant indexes.
const (
	Payload            Kind = 0
	RefreshCredentials Kind = 1
	Close              Kind = 2
)

// Message is a decoded plaintext.
type Message struct {
	Kind Kind
	// Onward, Return and Body are a Payload's; Body aliases the plaintext.
	Onward, Return routing.Route
	Body           []byte
	// ChangeHistory is a RefreshCredentials' change history, as received.
	ChangeHistory []byte
}

// AppendPayload appends the plaintext of a Payload message.
func AppendPayload(dst []byte, onward, ret routing.Route, body []byte) []byte {
	dst = AppendPayloadHead(dst, onward, ret, len(body))
	dst = append(dst, body...)
	return append(dst, PayloadPadding)
}

// AppendPayloadHead appends what comes before the body in the plaintext
// of a Payload message whose body is bodyLen bytes long. The body and
// then PayloadPadding follow it: a caller that has the body in a buffer
// already writes the head before it and the padding after it, and seals
// the whole in place.
func AppendPayloadHead(dst []byte, onward, ret routing.Route, bodyLen int) []byte {
	dst = appendArray(dst, 2)
	dst = appendArray(dst, 2)
	dst = appendUint(dst, uint64(Payload))
	dst = appendArray(dst, 1)
	dst = appendArray(dst, 3)
	dst = cbor.AppendRoute(dst, onward)
	dst = cbor.AppendRoute(dst, ret)
	return cbor.AppendHead(dst, cbor.Bytes, uint64(bodyLen))
}

// PayloadPadding is the last byte of a Payload message's plaintext: its
// padding, an empty byte string.
const PayloadPadding = cbor.Bytes << 5

// PayloadRoom bounds the size of the plaintext AppendPayload makes, for
// a buffer that must hold it.
func PayloadRoom(onward, ret routing.Route, body int) int {
	n := body + 32
	for _, r := range []routing.Route{onward, ret} {
		for _, a := range r {
			n += len(a.Value) + 12
		}
	}
	return n
}

// AppendClose appends the plaintext of a Close message.
func AppendClose(dst []byte) []byte {
	dst = appendArray(dst, 2)
	dst = appendArray(dst, 2)
	dst = appendUint(dst, uint64(Close))
	dst = appendArray(dst, 0)
	return appendBytes(dst, nil)
}

// DecodeMessage reads a plaintext. It never panics.
func DecodeMessage(b []byte) (Message, error) {
	d := &decoder{b: b}
	var m Message
	if _, err := d.array("padded message", 2, 2); err != nil {
		return m, err
	}
	idx, n, err := d.variant("secure channel message")
	if err != nil {
		return m, err
	}
	m.Kind = Kind(idx)
	switch {
	case idx == uint64(Payload) && n == 1:
		if _, err := d.array("payload message", 3, 3); err != nil {
			return m, err
		}
		if m.Onward, err = d.route("onward route"); err != nil {
			return m, err
		}
		if m.Return, err = d.route("return route"); err != nil {
			return m, err
		}
		if m.Body, err = d.bytes("payload"); err != nil {
			return m, err
		}
	case idx == uint64(RefreshCredentials) && n == 1:
		if _, err := d.array("refresh credentials", 2, 2); err != nil {
			return m, err
		}
		start := d.off
		if err := d.skip(0); err != nil {
			return m, fmt.Errorf("change history: %w", err)
		}
		m.ChangeHistory = b[start:d.off]
		if err := d.skip(0); err != nil {
			return m, fmt.Errorf("credentials: %w", err)
		}
	case idx == uint64(Close) && n == 0:
	default:
		return m, fmt.Errorf("secure channel message: variant %d with %d fields", idx, n)
	}
	if _, err := d.bytes("padding"); err != nil {
		return m, err
	}
	return m, d.end("padded message")
}

// HandshakePayload is what a side sends in message 2 or 3: its identity
// and the attestation of its static key.
func HandshakePayload(id *Identity, att Attestation) []byte {
	b := appendArray(nil, 3)
	b = append(b, id.ChangeHistory...)
	b = append(b, att...)
	return appendArray(b, 0) // no credentials
}

// VerifyHandshakePayload reads the peer's IdentityAndCredentials, verifies
// the identity and that its attestation binds static, the Noise static
// key the peer used in the handshake.
func VerifyHandshakePayload(b, static []byte, now time.Time) (*PeerIdentity, error) {
	d := &decoder{b: b}
	n, err := d.array("identity and credentials", 3, 8)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	p, err := d.changeHistory()
	if err != nil {
		return nil, err
	}
	attested, err := d.verifyAttestation(p, now)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: purpose key attestation: %v", ErrIdentity, p.Identifier, err)
	}
	if string(attested) != string(static) {
		return nil, fmt.Errorf("%w: %s: the attested key is not the handshake's static key", ErrIdentity, p.Identifier)
	}
	for i := 2; i < n; i++ {
		if err := d.skip(0); err != nil {
			return nil, fmt.Errorf("%w: credentials: %v", ErrIdentity, err)
		}
	}
	if err := d.end("identity and credentials"); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	return p, nil
}
