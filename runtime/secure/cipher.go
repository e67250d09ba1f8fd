package secure

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The data phase is Ockam's (secure_channel/encryptor.rs, decryptor.rs,
// key_tracker.rs, nonce_tracker.rs, nonce.rs):
//
//   - An encrypted message is the nonce as a big-endian u64, then the
//     AES-256-GCM ciphertext and tag of the plaintext, with empty
//     associated data. The GCM nonce is 4 zero bytes and the same u64.
//   - Each side counts its nonces from 0. Before encrypting nonce n, when
//     n > 0 and n % 32 == 0, the key is replaced by REKEY(key): the first
//     32 bytes of AES-GCM(key, nonce = u64::MAX, 32 zero bytes).
//   - The receiver keeps the current and the previous key: a nonce in the
//     current 32-interval uses the current key, one in a later interval a
//     key rekeyed from it as many times (kept once a message decrypts with
//     it), one in the interval before the previous key; older ones are
//     refused.
//   - A 64-bit window refuses a nonce seen before, or one more than 32
//     behind the highest seen.
//
// One deliberate difference, on the receiving side only: Ockam refuses a
// nonce more than 32 ahead of the highest seen (one interval ahead for its
// key), which ends a channel for good once 33 messages in a row are lost
// on the way. A relay that registers again loses what was in flight, so
// ockamtop accepts nonces up to MaxNonceGap ahead. What ockamtop sends is
// exactly what Ockam sends, so an Ockam peer is not affected.
//
// A message that fails any of this is dropped; the channel goes on. What
// could not be checked without a running Ockam node: interoperation of the
// rekey schedule past the first interval (the source is unambiguous, but no
// vector crosses it).

const (
	// RekeyInterval is Ockam's KEY_RENEWAL_INTERVAL.
	RekeyInterval = 32
	// MaxNonceGap is how far ahead of the highest nonce seen a message is
	// accepted: at most 2048 rekeys to find its key.
	MaxNonceGap = 1 << 16
	nonceSize   = 8
	// Overhead is what encryption adds to a plaintext.
	Overhead = nonceSize + tagSize
)

// Errors of the data phase.
var (
	// ErrDecrypt is a message that does not decrypt: tampered with, too
	// short, or under a key that does not match its nonce.
	ErrDecrypt = errors.New("secure channel: message does not decrypt")
	// ErrReplay is a nonce seen before, or outside the window.
	ErrReplay = errors.New("secure channel: nonce replayed or outside the window")
	// ErrNonceExhausted is an encryptor at the last nonce.
	ErrNonceExhausted = errors.New("secure channel: nonces exhausted")
)

func newGCM(key *[keySize]byte) cipher.AEAD {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // unreachable: the key is 32 bytes
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		panic(err) // unreachable: standard nonce and tag sizes
	}
	return g
}

func gcmNonce(n uint64) []byte {
	var b [12]byte
	binary.BigEndian.PutUint64(b[4:], n)
	return b[:]
}

// rekey is Ockam's Encryptor::rekey.
func rekey(g cipher.AEAD) (k [keySize]byte) {
	var zeros [keySize]byte
	out := g.Seal(nil, gcmNonce(math.MaxUint64), zeros[:], nil)
	copy(k[:], out)
	clear(out)
	return k
}

// Encryptor encrypts one direction of a channel. It is not safe for
// concurrent use.
type Encryptor struct {
	gcm   cipher.AEAD
	nonce uint64
}

// NewEncryptor starts encrypting under key at nonce 0.
func NewEncryptor(key [keySize]byte) *Encryptor {
	return &Encryptor{gcm: newGCM(&key)}
}

// Nonce is the nonce the next message gets.
func (e *Encryptor) Nonce() uint64 { return e.nonce }

// Seal appends the encrypted message of plaintext to dst. To encrypt in
// place, put the plaintext at buf[8:] and pass buf[:0] as dst: the nonce
// goes before it, and the ciphertext over it (cap(buf) must hold the
// tag).
func (e *Encryptor) Seal(dst, plaintext []byte) ([]byte, error) {
	n := e.nonce
	if n == math.MaxUint64 {
		return nil, ErrNonceExhausted
	}
	e.nonce++
	if n > 0 && n%RekeyInterval == 0 {
		k := rekey(e.gcm)
		e.gcm = newGCM(&k)
		clear(k[:])
	}
	dst = binary.BigEndian.AppendUint64(dst, n)
	return e.gcm.Seal(dst, gcmNonce(n), plaintext, nil), nil
}

// Decryptor decrypts the other direction. It is not safe for concurrent
// use.
type Decryptor struct {
	current, previous cipher.AEAD
	rekeys            uint64 // how many times current was rekeyed
	// The replay window: highest is the highest nonce seen, bit i of seen
	// is nonce highest-i.
	highest uint64
	seen    uint64
}

// NewDecryptor starts decrypting under key.
func NewDecryptor(key [keySize]byte) *Decryptor {
	return &Decryptor{current: newGCM(&key)}
}

// mark checks nonce n against the window and returns the window with n in
// it, without changing d (it changes only once the message decrypts).
func (d *Decryptor) mark(n uint64) (highest, seen uint64, err error) {
	if n > d.highest {
		shift := n - d.highest
		switch {
		case shift > MaxNonceGap:
			return 0, 0, ErrReplay
		case shift >= 64:
			return n, 1, nil
		}
		return n, d.seen<<shift | 1, nil
	}
	back := d.highest - n
	if back > RekeyInterval {
		return 0, 0, ErrReplay
	}
	bit := uint64(1) << back
	if d.seen&bit != 0 {
		return 0, 0, ErrReplay
	}
	return d.highest, d.seen | bit, nil
}

// candidate is a key found for a later interval, kept if its message
// decrypts.
type candidate struct {
	g, prev cipher.AEAD
	rekeys  uint64
}

// key picks the key for nonce n as Ockam's KeyTracker::get_key does, and
// for later intervals rekeys as many times as it takes (see above); next
// is set when the key is a new one.
func (d *Decryptor) key(n uint64) (g cipher.AEAD, next *candidate, err error) {
	interval := n / RekeyInterval
	switch {
	case interval == d.rekeys:
		return d.current, nil, nil
	case interval+1 == d.rekeys && d.previous != nil:
		return d.previous, nil, nil
	case interval < d.rekeys:
		return nil, nil, ErrReplay
	}
	c := &candidate{g: d.current, rekeys: d.rekeys}
	for c.rekeys < interval {
		k := rekey(c.g)
		c.prev, c.g = c.g, newGCM(&k)
		clear(k[:])
		c.rekeys++
	}
	return c.g, c, nil
}

// OpenInPlace decrypts msg over itself: the plaintext it returns is
// msg[Overhead-tagSize:], shortened. msg is clobbered even when it fails.
func (d *Decryptor) OpenInPlace(msg []byte) ([]byte, uint64, error) {
	if len(msg) < Overhead {
		return nil, 0, fmt.Errorf("%w: %d bytes, want at least %d", ErrDecrypt, len(msg), Overhead)
	}
	return d.Open(msg[nonceSize:nonceSize], msg)
}

// Open decrypts the encrypted message msg, appending the plaintext to dst.
// dst may be msg[8:8], to decrypt in place.
// It returns the message's nonce. A message that fails leaves d as it was.
func (d *Decryptor) Open(dst, msg []byte) ([]byte, uint64, error) {
	if len(msg) < Overhead {
		return nil, 0, fmt.Errorf("%w: %d bytes, want at least %d", ErrDecrypt, len(msg), Overhead)
	}
	n := binary.BigEndian.Uint64(msg)
	highest, seen, err := d.mark(n)
	if err != nil {
		return nil, n, fmt.Errorf("nonce %d: %w", n, err)
	}
	g, next, err := d.key(n)
	if err != nil {
		return nil, n, fmt.Errorf("nonce %d: no key: %w", n, err)
	}
	out, err := g.Open(dst, gcmNonce(n), msg[nonceSize:], nil)
	if err != nil {
		return nil, n, fmt.Errorf("nonce %d: %w", n, ErrDecrypt)
	}
	d.highest, d.seen = highest, seen
	if next != nil {
		d.previous, d.current, d.rekeys = next.prev, next.g, next.rekeys
	}
	return out, n, nil
}
