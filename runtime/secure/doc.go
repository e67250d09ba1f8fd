// Package secure is the wire of Ockam's secure channels, as ockam_identity
// (v0.128 and later) writes it: the Noise XX handshake (handshake.go),
// identities and purpose key attestations (identity.go), the data phase
// with its nonces, rekeying and replay window (cipher.go), the messages
// inside the channel and the handshake payloads (message.go), and the
// subset of CBOR they are written in (cbor.go). It has no I/O: the
// runtime's secure channel workers move these bytes between nodes.
//
// Every format here comes from Ockam's source, and each file says where
// from. What the tests prove against Ockam's own bytes: the handshake
// reproduces handshake.rs's test vectors byte for byte, and an identity
// exported by Ockam verifies, has the identifier Ockam gives it, and is
// rebuilt byte for byte from its secret key. What could not be checked
// without a running Ockam node, and rests on reading the source:
//
//   - the final key split's orientation (no vector prints the keys);
//   - the CBOR of SecureChannelPaddedMessage and IdentityAndCredentials as
//     Ockam decodes them, and the purpose key attestation as Ockam
//     verifies it (golden bytes here are ockamtop's own reading);
//   - the rekey schedule past the first interval between two
//     implementations.
//
// ockamtop's portal messages are its own (see runtime/portal_message.go),
// so a portal through a channel talks to ockamtop, not to an Ockam node,
// whatever the channel's compatibility.
package secure
