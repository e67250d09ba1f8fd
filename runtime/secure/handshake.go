package secure

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// The handshake is Noise XX as Ockam writes it in
// ockam_identity/src/secure_channel/handshake/handshake.rs (v0.128 and
// later):
//
//	-> e
//	<- e, ee, s, es           (payload: the responder's identity)
//	-> s, se                  (payload: the initiator's identity)
//
// with X25519, AES-256-GCM and SHA-256, and these differences from the
// Noise specification, each taken from that file:
//
//   - The protocol name is OCKAM_XX_25519_AES256_GCM_SHA256, exactly 32
//     bytes. Initialization sets ck = name and h = SHA-256(name) (Noise
//     would set h = name for a 32-byte name). There is no prologue.
//   - HKDF is RFC 5869 HKDF-SHA-256 with salt = ck, the DH output as input
//     key material, empty info, and 64 bytes of output split in two; it is
//     the same function as Noise's HMAC construction.
//   - The AEAD nonce of handshake messages is 4 zero bytes then n as a
//     big-endian u64 (Noise's AESGCM nonce encoding).
//   - The final split (set_final_state) is HKDF(ck, empty) = k1, k2; the
//     initiator encrypts with k2 and decrypts with k1, the responder the
//     other way round: the reverse of Noise's Split.
//   - Message 1 carries an empty payload; handshake messages travel as raw
//     bytes (no BARE or CBOR wrapper) to the other side's decryptor
//     address, and are at most 65535 bytes.
//
// handshake_test.go reproduces the vectors of handshake.rs byte for byte.
// What could not be checked without a running Ockam node: the final keys
// (handshake.rs does not print them), so the split's orientation rests on
// reading set_final_state.

// ProtocolName is Ockam's Noise protocol name, which is also the initial
// chaining key.
var ProtocolName = [32]byte([]byte("OCKAM_XX_25519_AES256_GCM_SHA256"))

const (
	keySize = 32
	tagSize = 16
	// MaxHandshakeMessage is Ockam's NOISE_MAX_MESSAGE_SIZE.
	MaxHandshakeMessage = 65535
)

// Errors of the handshake.
var (
	// ErrHandshakeMessage is a handshake message that is too short, too
	// long, or that fails to decrypt.
	ErrHandshakeMessage = errors.New("secure channel: bad handshake message")
	// ErrHandshakeState is a message at a point of the handshake that does
	// not expect it.
	ErrHandshakeState = errors.New("secure channel: handshake message out of order")
)

// Keys are the data-phase keys a finished handshake yields.
type Keys struct {
	Encrypt, Decrypt [keySize]byte
}

// step is where a handshake is.
type step uint8

const (
	stepMessage1 step = iota // initiator: write 1; responder: read 1
	stepMessage2
	stepMessage3
	stepDone
)

// Handshake is one side of a Noise XX handshake.
type Handshake struct {
	initiator bool
	step      step
	s, e      *ecdh.PrivateKey
	re, rs    *ecdh.PublicKey
	h, ck     [32]byte
	k         [keySize]byte
	hasK      bool
	n         uint64
}

// NewHandshake starts a handshake with static key s and a fresh ephemeral
// key.
func NewHandshake(initiator bool, s *ecdh.PrivateKey) (*Handshake, error) {
	e, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ephemeral key: %w", err)
	}
	return newHandshake(initiator, ProtocolName, s, e), nil
}

// newHandshake is NewHandshake with the name and ephemeral key given, for
// test vectors.
func newHandshake(initiator bool, name [32]byte, s, e *ecdh.PrivateKey) *Handshake {
	hs := &Handshake{initiator: initiator, s: s, e: e}
	hs.ck = name
	hs.h = sha256.Sum256(name[:])
	return hs
}

// RemoteStatic is the peer's static key, known after message 2
// (initiator) or 3 (responder).
func (hs *Handshake) RemoteStatic() *ecdh.PublicKey { return hs.rs }

func (hs *Handshake) mixHash(data []byte) {
	d := sha256.New()
	d.Write(hs.h[:])
	d.Write(data)
	d.Sum(hs.h[:0])
}

// mixKey is Ockam's hkdf step: ck, k = HKDF(ck, ikm), n = 0.
func (hs *Handshake) mixKey(ikm []byte) error {
	out, err := hkdf.Key(sha256.New, ikm, hs.ck[:], "", 2*keySize)
	if err != nil {
		return fmt.Errorf("hkdf: %w", err)
	}
	copy(hs.ck[:], out[:keySize])
	copy(hs.k[:], out[keySize:])
	clear(out)
	hs.hasK, hs.n = true, 0
	return nil
}

func (hs *Handshake) dh(priv *ecdh.PrivateKey, pub *ecdh.PublicKey) error {
	shared, err := priv.ECDH(pub)
	if err != nil {
		return fmt.Errorf("%w: x25519: %v", ErrHandshakeMessage, err)
	}
	err = hs.mixKey(shared)
	clear(shared)
	return err
}

func (hs *Handshake) aead() (cipher.AEAD, []byte, error) {
	block, err := aes.NewCipher(hs.k[:])
	if err != nil {
		return nil, nil, err
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, err
	}
	nonce := make([]byte, 12)
	binary.BigEndian.PutUint64(nonce[4:], hs.n)
	return g, nonce, nil
}

func (hs *Handshake) encryptAndHash(dst, p []byte) ([]byte, error) {
	g, nonce, err := hs.aead()
	if err != nil {
		return nil, err
	}
	start := len(dst)
	dst = g.Seal(dst, nonce, p, hs.h[:])
	hs.mixHash(dst[start:])
	hs.n++
	return dst, nil
}

func (hs *Handshake) decryptAndHash(c []byte) ([]byte, error) {
	g, nonce, err := hs.aead()
	if err != nil {
		return nil, err
	}
	p, err := g.Open(nil, nonce, c, hs.h[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHandshakeMessage, err)
	}
	hs.mixHash(c)
	hs.n++
	return p, nil
}

func (hs *Handshake) expect(initiator bool, s step) error {
	if hs.initiator != initiator || hs.step != s {
		return ErrHandshakeState
	}
	return nil
}

func tooLong(m []byte) error {
	if len(m) > MaxHandshakeMessage {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrHandshakeMessage, len(m), MaxHandshakeMessage)
	}
	return nil
}

func short(m []byte, n int) error {
	if len(m) < n {
		return fmt.Errorf("%w: %d bytes, want at least %d", ErrHandshakeMessage, len(m), n)
	}
	return nil
}

// WriteMessage1 is the initiator's first message: e, then payload in clear.
func (hs *Handshake) WriteMessage1(payload []byte) ([]byte, error) {
	if err := hs.expect(true, stepMessage1); err != nil {
		return nil, err
	}
	e := hs.e.PublicKey().Bytes()
	hs.mixHash(e)
	hs.mixHash(payload)
	m := append(e, payload...)
	if err := tooLong(m); err != nil {
		return nil, err
	}
	hs.step = stepMessage2
	return m, nil
}

// ReadMessage1 is the responder reading message 1.
func (hs *Handshake) ReadMessage1(m []byte) ([]byte, error) {
	if err := hs.expect(false, stepMessage1); err != nil {
		return nil, err
	}
	if err := errors.Join(tooLong(m), short(m, keySize)); err != nil {
		return nil, err
	}
	re, err := ecdh.X25519().NewPublicKey(m[:keySize])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHandshakeMessage, err)
	}
	hs.re = re
	hs.mixHash(m[:keySize])
	payload := m[keySize:]
	hs.mixHash(payload)
	hs.step = stepMessage2
	return append([]byte(nil), payload...), nil
}

// WriteMessage2 is the responder's message: e, ee, s, es, payload.
func (hs *Handshake) WriteMessage2(payload []byte) ([]byte, error) {
	if err := hs.expect(false, stepMessage2); err != nil {
		return nil, err
	}
	m := hs.e.PublicKey().Bytes()
	hs.mixHash(m)
	if err := hs.dh(hs.e, hs.re); err != nil {
		return nil, err
	}
	m, err := hs.writeStatic(m, payload)
	if err != nil {
		return nil, err
	}
	hs.step = stepMessage3
	return m, nil
}

// ReadMessage2 is the initiator reading message 2; it returns the
// responder's payload, and RemoteStatic is then set.
func (hs *Handshake) ReadMessage2(m []byte) ([]byte, error) {
	if err := hs.expect(true, stepMessage2); err != nil {
		return nil, err
	}
	if err := errors.Join(tooLong(m), short(m, 2*keySize+2*tagSize)); err != nil {
		return nil, err
	}
	re, err := ecdh.X25519().NewPublicKey(m[:keySize])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHandshakeMessage, err)
	}
	hs.re = re
	hs.mixHash(m[:keySize])
	if err := hs.dh(hs.e, hs.re); err != nil {
		return nil, err
	}
	payload, err := hs.readStatic(m[keySize:])
	if err != nil {
		return nil, err
	}
	hs.step = stepMessage3
	return payload, nil
}

// WriteMessage3 is the initiator's last message: s, se, payload. The
// handshake is then done.
func (hs *Handshake) WriteMessage3(payload []byte) ([]byte, error) {
	if err := hs.expect(true, stepMessage3); err != nil {
		return nil, err
	}
	m, err := hs.writeStatic(nil, payload)
	if err != nil {
		return nil, err
	}
	hs.step = stepDone
	return m, nil
}

// ReadMessage3 is the responder reading message 3; it returns the
// initiator's payload, and RemoteStatic is then set.
func (hs *Handshake) ReadMessage3(m []byte) ([]byte, error) {
	if err := hs.expect(false, stepMessage3); err != nil {
		return nil, err
	}
	if err := errors.Join(tooLong(m), short(m, keySize+2*tagSize)); err != nil {
		return nil, err
	}
	payload, err := hs.readStatic(m)
	if err != nil {
		return nil, err
	}
	hs.step = stepDone
	return payload, nil
}

// writeStatic appends the tokens messages 2 and 3 end with: s (our static
// key, encrypted), the DH of our static key with the peer's ephemeral one
// (es for the responder, se for the initiator), and the payload.
func (hs *Handshake) writeStatic(m, payload []byte) ([]byte, error) {
	m, err := hs.encryptAndHash(m, hs.s.PublicKey().Bytes())
	if err != nil {
		return nil, err
	}
	if err := hs.dh(hs.s, hs.re); err != nil {
		return nil, err
	}
	if m, err = hs.encryptAndHash(m, payload); err != nil {
		return nil, err
	}
	return m, tooLong(m)
}

// readStatic reads what writeStatic wrote: the peer's static key, which
// becomes RemoteStatic, the DH of our ephemeral key with it, and returns
// the payload. m's length has been checked.
func (hs *Handshake) readStatic(m []byte) ([]byte, error) {
	rs, err := hs.decryptAndHash(m[:keySize+tagSize])
	if err != nil {
		return nil, err
	}
	if hs.rs, err = ecdh.X25519().NewPublicKey(rs); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHandshakeMessage, err)
	}
	if err := hs.dh(hs.e, hs.rs); err != nil {
		return nil, err
	}
	return hs.decryptAndHash(m[keySize+tagSize:])
}

// Split returns the data-phase keys of a finished handshake, as Ockam's
// set_final_state makes them, and wipes the handshake's secrets.
func (hs *Handshake) Split() (Keys, error) {
	if hs.step != stepDone {
		return Keys{}, ErrHandshakeState
	}
	out, err := hkdf.Key(sha256.New, nil, hs.ck[:], "", 2*keySize)
	if err != nil {
		return Keys{}, fmt.Errorf("hkdf: %w", err)
	}
	var k Keys
	k1, k2 := out[:keySize], out[keySize:]
	if hs.initiator {
		copy(k.Encrypt[:], k2)
		copy(k.Decrypt[:], k1)
	} else {
		copy(k.Encrypt[:], k1)
		copy(k.Decrypt[:], k2)
	}
	clear(out)
	clear(hs.ck[:])
	clear(hs.k[:])
	hs.e = nil
	return k, nil
}
