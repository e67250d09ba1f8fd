// Package cbor writes what the TCP transport's frames (runtime/wire) and
// the secure channels' messages (runtime/secure) both write in CBOR (RFC
// 8949): an item's head, and a route as Ockam encodes one. Each of those
// packages decodes what it reads itself, as strictly as its protocol
// needs: a frame skips items it does not know, a handshake refuses them.
package cbor

import (
	"encoding/binary"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

// The major types of an item head.
const (
	Uint  = 0
	Neg   = 1
	Bytes = 2
	Text  = 3
	Array = 4
	Map   = 5
	Tag   = 6
	Other = 7
)

// AppendHead writes an item head with the shortest argument encoding, as
// Ockam's minicbor does.
func AppendHead(dst []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(dst, m|byte(n))
	case n <= 0xff:
		return append(dst, m|24, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, m|25), uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(dst, m|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, m|27), n)
}

// AppendRoute writes a route as Ockam does: an array of addresses, each an
// array of its transport type and its value's bytes (ockam_core's Route is
// transparent over its addresses).
func AppendRoute(dst []byte, r routing.Route) []byte {
	dst = AppendHead(dst, Array, uint64(len(r)))
	for _, a := range r {
		dst = append(dst, Array<<5|2)
		dst = AppendHead(dst, Uint, uint64(a.Type))
		dst = AppendHead(dst, Bytes, uint64(len(a.Value)))
		dst = append(dst, a.Value...)
	}
	return dst
}
