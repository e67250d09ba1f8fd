package secure

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Identities are Ockam's (ockam_identity/src/models): an identity is a
// change history, a CBOR array of changes
//
//	Change         = [data: bytes, signature: ChangeSignature, previous_signature?: ChangeSignature]
//	data           = CBOR VersionedData [version = 1, data_type = 1, ChangeData bytes]
//	ChangeData     = [previous_change: bytes32 | null, primary_public_key: PrimaryPublicKey,
//	                  revoke_all_purpose_keys: bool, attestations_valid_from: u64,
//	                  attestations_valid_until: u64]
//	PrimaryPublicKey = [0, [Ed25519 public key: bytes32]]   (1 = ECDSA P-256, not supported here)
//	ChangeSignature  = [0, [Ed25519 signature: bytes64]]
//
// A change's hash is SHA-256 of its data (the VersionedData bytes); the
// identifier is "I" + hex of the first change's hash, all 32 bytes
// (identifiers.rs: IDENTIFIER_LEN = 32, no truncation). Each signature is
// Ed25519 over that 32-byte hash, by the change's own key and, from the
// second change on, by the previous change's key too
// (identity_keys.rs make_change; identity_verification.rs).
//
// identity_test.go decodes and verifies an identity exported by Ockam (its
// examples/rust/get_started 06-credentials-exchange-server.rs) and rebuilds
// it byte for byte from the secret key and timestamps it was made with.
// What could not be checked without a running Ockam node: that Ockam
// accepts an identity with more than one change made by ockamtop (ockamtop
// only makes single-change identities, but verifies longer histories).

// Identifier names an identity.
type Identifier [32]byte

// String is Ockam's text form, "I" and 64 hex digits.
func (id Identifier) String() string { return "I" + hex.EncodeToString(id[:]) }

// ParseIdentifier reads an identifier in Ockam's text form.
func ParseIdentifier(s string) (Identifier, error) {
	var id Identifier
	h, ok := strings.CutPrefix(s, "I")
	if !ok {
		return id, fmt.Errorf("identifier %q does not start with I", s)
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("identifier %q: want I and %d hex digits", s, 2*len(id))
	}
	copy(id[:], b)
	return id, nil
}

// Data types of VersionedData (change_history.rs, purpose_key_attestation.rs).
const (
	changeDataType      = 1
	attestationDataType = 2
	versionedDataV1     = 1
)

// Ockam's default lifetimes (identity_builder.rs, builder/secure_channel.rs).
const (
	identityTTL    = 10 * 365 * 24 * time.Hour
	purposeKeyTTL  = 5 * 365 * 24 * time.Hour
	maxClockDrift  = 60 * time.Second
	maxChanges     = 64
	ed25519Variant = 0
)

// ErrIdentity is an identity or attestation that does not verify.
var ErrIdentity = errors.New("invalid identity")

// PeerIdentity is a verified change history.
type PeerIdentity struct {
	Identifier Identifier
	// ChangeHistory is its CBOR, as received.
	ChangeHistory []byte
	// latest is the last change: its hash, key and validity.
	latestHash            [32]byte
	latestKey             ed25519.PublicKey
	validFrom, validUntil uint64
}

// Identity is a private identity: a single-change history and its key.
type Identity struct {
	PeerIdentity
	key ed25519.PrivateKey
}

// NewIdentity makes an identity with a new Ed25519 key, valid from now for
// Ockam's default ten years.
func NewIdentity(now time.Time) (*Identity, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate identity key: %w", err)
	}
	from := uint64(now.Unix())
	return identityFromKey(key, from, from+uint64(identityTTL/time.Second))
}

// identityFromKey builds the first change of an identity, as Ockam's
// make_change does.
func identityFromKey(key ed25519.PrivateKey, from, until uint64) (*Identity, error) {
	pub := key.Public().(ed25519.PublicKey)
	cd := appendArray(nil, 5)
	cd = append(cd, cborNull) // previous_change: none for the first change
	cd = appendVariant(cd, ed25519Variant, pub)
	cd = appendBool(cd, false)
	cd = appendUint(cd, from)
	cd = appendUint(cd, until)
	data := appendVersioned(nil, changeDataType, cd)
	hash := sha256.Sum256(data)
	sig := ed25519.Sign(key, hash[:])
	ch := appendArray(nil, 1)
	ch = appendArray(ch, 2) // previous_signature is None and trailing: left out
	ch = appendBytes(ch, data)
	ch = appendVariant(ch, ed25519Variant, sig)
	peer, err := VerifyChangeHistory(ch)
	if err != nil {
		return nil, fmt.Errorf("identity made here does not verify: %w", err)
	}
	return &Identity{PeerIdentity: *peer, key: key}, nil
}

// appendVersioned writes VersionedData [1, dataType, data] as bytes.
func appendVersioned(dst []byte, dataType uint64, data []byte) []byte {
	dst = appendArray(dst, 3)
	dst = appendUint(dst, versionedDataV1)
	dst = appendUint(dst, dataType)
	return appendBytes(dst, data)
}

// versioned reads VersionedData and returns its data, checking the version
// and the type.
func versioned(b []byte, dataType uint64) ([]byte, error) {
	d := &decoder{b: b}
	if _, err := d.array("versioned data", 3, 3); err != nil {
		return nil, err
	}
	v, err := d.uint("version")
	if err != nil {
		return nil, err
	}
	if v != versionedDataV1 {
		return nil, fmt.Errorf("version %d, want %d", v, versionedDataV1)
	}
	t, err := d.uint("data type")
	if err != nil {
		return nil, err
	}
	if t != dataType {
		return nil, fmt.Errorf("data type %d, want %d", t, dataType)
	}
	data, err := d.bytes("data")
	if err != nil {
		return nil, err
	}
	return data, d.end("versioned data")
}

var ed25519Sizes = map[uint64]int{ed25519Variant: ed25519.SignatureSize}
var ed25519KeySizes = map[uint64]int{ed25519Variant: ed25519.PublicKeySize}

// VerifyChangeHistory decodes a change history, checks that its changes
// chain and that every signature holds, and returns the identity.
func VerifyChangeHistory(b []byte) (*PeerIdentity, error) {
	d := &decoder{b: b}
	p, err := d.changeHistory()
	if err != nil {
		return nil, err
	}
	if err := d.end("change history"); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	return p, nil
}

// changeHistory reads and verifies a change history at d.
func (d *decoder) changeHistory() (*PeerIdentity, error) {
	start := d.off
	n, err := d.array("change history", 1, maxChanges)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	var p PeerIdentity
	for i := 0; i < n; i++ {
		if err := d.change(&p, i); err != nil {
			return nil, fmt.Errorf("%w: change %d: %v", ErrIdentity, i+1, err)
		}
	}
	p.ChangeHistory = bytes.Clone(d.b[start:d.off])
	return &p, nil
}

// change reads change i and checks it against the changes before it,
// whose outcome p holds.
func (d *decoder) change(p *PeerIdentity, i int) error {
	nf, err := d.array("change", 2, 3)
	if err != nil {
		return err
	}
	data, err := d.bytes("data")
	if err != nil {
		return err
	}
	_, sig, err := d.bytesVariant("signature", ed25519Sizes)
	if err != nil {
		return err
	}
	var prevSig []byte
	if nf == 3 && !d.null() {
		if _, prevSig, err = d.bytesVariant("previous signature", ed25519Sizes); err != nil {
			return err
		}
	}
	cdBytes, err := versioned(data, changeDataType)
	if err != nil {
		return err
	}
	cd := &decoder{b: cdBytes}
	if _, err := cd.array("change data", 5, 5); err != nil {
		return err
	}
	var prev []byte
	if !cd.null() {
		if prev, err = cd.bytes("previous change"); err != nil {
			return err
		}
	}
	_, key, err := cd.bytesVariant("primary public key", ed25519KeySizes)
	if err != nil {
		return fmt.Errorf("%v (only Ed25519 identities are supported)", err)
	}
	if _, err := cd.bool("revoke all purpose keys"); err != nil {
		return err
	}
	from, err := cd.uint("attestations valid from")
	if err != nil {
		return err
	}
	until, err := cd.uint("attestations valid until")
	if err != nil {
		return err
	}
	if err := cd.end("change data"); err != nil {
		return err
	}
	hash := sha256.Sum256(data)
	if i == 0 {
		if prev != nil {
			return errors.New("the first change names a previous change")
		}
		p.Identifier = hash
	} else {
		switch {
		case !bytes.Equal(prev, p.latestHash[:]):
			return errors.New("previous change hash does not match the change before")
		case from < p.validFrom:
			return errors.New("valid from before the change before")
		case prevSig == nil:
			return errors.New("no signature by the previous key")
		case !ed25519.Verify(p.latestKey, hash[:], prevSig):
			return errors.New("signature by the previous key does not verify")
		}
	}
	if !ed25519.Verify(ed25519.PublicKey(key), hash[:], sig) {
		return errors.New("self-signature does not verify")
	}
	p.latestHash, p.latestKey, p.validFrom, p.validUntil = hash, key, from, until
	return nil
}

// Attestation is a PurposeKeyAttestation for a secure channel static key
// (purpose_key_attestation.rs):
//
//	PurposeKeyAttestation     = [data: bytes, signature: [0, [Ed25519 signature]]]
//	data                      = VersionedData [1, 2, PurposeKeyAttestationData bytes]
//	PurposeKeyAttestationData = [subject: bytes32, subject_latest_change_hash: bytes32,
//	                             public_key: [0, [X25519 public key: bytes32]],
//	                             created_at: u64, expires_at: u64]
//
// The signature is Ed25519, by the identity's latest key, over SHA-256 of
// data. Variant 1 of public_key (a credential signing key) is refused here,
// as Ockam refuses it in a handshake.
type Attestation []byte

// Attest makes the attestation binding the X25519 key static to id, valid
// from now for Ockam's default five years.
func (id *Identity) Attest(static []byte, now time.Time) Attestation {
	from := uint64(now.Unix())
	until := min(from+uint64(purposeKeyTTL/time.Second), id.validUntil)
	ad := appendArray(nil, 5)
	ad = appendBytes(ad, id.Identifier[:])
	ad = appendBytes(ad, id.latestHash[:])
	ad = appendVariant(ad, 0, static)
	ad = appendUint(ad, max(from, id.validFrom))
	ad = appendUint(ad, until)
	data := appendVersioned(nil, attestationDataType, ad)
	hash := sha256.Sum256(data)
	out := appendArray(nil, 2)
	out = appendBytes(out, data)
	return appendVariant(out, ed25519Variant, ed25519.Sign(id.key, hash[:]))
}

// verifyAttestation reads an attestation at d and checks it as Ockam's
// verify_purpose_key_attestation does; it returns the attested X25519 key.
func (d *decoder) verifyAttestation(p *PeerIdentity, now time.Time) ([]byte, error) {
	if _, err := d.array("purpose key attestation", 2, 2); err != nil {
		return nil, err
	}
	data, err := d.bytes("attestation data")
	if err != nil {
		return nil, err
	}
	_, sig, err := d.bytesVariant("attestation signature", ed25519Sizes)
	if err != nil {
		return nil, err
	}
	ad, err := versioned(data, attestationDataType)
	if err != nil {
		return nil, err
	}
	a := &decoder{b: ad}
	if _, err := a.array("attestation data", 5, 5); err != nil {
		return nil, err
	}
	var subject, latest [32]byte
	if err := a.fixed("subject", subject[:]); err != nil {
		return nil, err
	}
	if err := a.fixed("subject latest change hash", latest[:]); err != nil {
		return nil, err
	}
	_, static, err := a.bytesVariant("purpose public key", map[uint64]int{0: keySize})
	if err != nil {
		return nil, fmt.Errorf("%v (want a secure channel static key)", err)
	}
	created, err := a.uint("created at")
	if err != nil {
		return nil, err
	}
	expires, err := a.uint("expires at")
	if err != nil {
		return nil, err
	}
	if err := a.end("attestation data"); err != nil {
		return nil, err
	}
	t := uint64(now.Unix())
	hash := sha256.Sum256(data)
	switch {
	case subject != p.Identifier:
		return nil, fmt.Errorf("attestation is for %s, not %s", Identifier(subject), p.Identifier)
	case latest != p.latestHash:
		return nil, errors.New("attestation is not by the latest change")
	case expires > p.validUntil || created < p.validFrom:
		return nil, errors.New("attestation outlives the identity key")
	case created > t && created-t > uint64(maxClockDrift/time.Second):
		return nil, errors.New("attestation is created in the future")
	case expires < t:
		return nil, errors.New("attestation has expired")
	case !ed25519.Verify(p.latestKey, hash[:], sig):
		return nil, errors.New("attestation signature does not verify")
	}
	return static, nil
}
