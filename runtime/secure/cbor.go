package secure

import (
	"errors"
	"fmt"

	"github.com/ockamtop/ockamtop/runtime/cbor"
	"github.com/ockamtop/ockamtop/runtime/routing"
)

// The CBOR that Ockam's identity and secure channel types are written in,
// by minicbor-derive (Ockam's codec):
//
//   - a struct is an array of its fields in index order; trailing fields
//     that are None are left out (the array is shorter), a None before a
//     present field is null (0xf6);
//   - an enum is [variant index, [fields...]]; a unit variant is
//     [index, []];
//   - #[cbor(transparent)] types (ChangeHistory, Identifier, Route) are
//     their single field; byte arrays marked minicbor::bytes are byte
//     strings.
//
// This is a hand-written subset rather than github.com/fxamacker/cbor/v2:
// that library has a toarray struct tag but neither minicbor's dropped
// trailing Nones nor its enum shape, so every type would need a custom
// marshaller anyway, and the signed bytes (a change's data, an
// attestation's data) are hashed as received, never re-encoded. The
// subset is: unsigned integers, byte strings, arrays, booleans and null.
// Decoding rejects anything else where a known field is expected, and
// never panics.

const (
	cborFalse = 0xf4
	cborTrue  = 0xf5
	cborNull  = 0xf6
)

var errTruncated = errors.New("cbor: truncated")

func appendArray(dst []byte, n int) []byte   { return cbor.AppendHead(dst, cbor.Array, uint64(n)) }
func appendUint(dst []byte, n uint64) []byte { return cbor.AppendHead(dst, cbor.Uint, n) }
func appendBytes(dst, b []byte) []byte {
	return append(cbor.AppendHead(dst, cbor.Bytes, uint64(len(b))), b...)
}
func appendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, cborTrue)
	}
	return append(dst, cborFalse)
}

// appendVariant writes an enum variant with one field: [index, [field]].
func appendVariant(dst []byte, index uint64, field []byte) []byte {
	dst = appendArray(dst, 2)
	dst = appendUint(dst, index)
	dst = appendArray(dst, 1)
	return appendBytes(dst, field)
}

// decoder reads items from b; every read is bounds-checked.
type decoder struct {
	b   []byte
	off int
}

func (d *decoder) head() (major byte, arg uint64, err error) {
	if d.off >= len(d.b) {
		return 0, 0, errTruncated
	}
	c := d.b[d.off]
	d.off++
	major, info := c>>5, c&0x1f
	size := 0
	switch {
	case info < 24:
		return major, uint64(info), nil
	case info == 24:
		size = 1
	case info == 25:
		size = 2
	case info == 26:
		size = 4
	case info == 27:
		size = 8
	default:
		return 0, 0, fmt.Errorf("cbor: indefinite or reserved length (0x%02x) not supported", c)
	}
	if len(d.b)-d.off < size {
		return 0, 0, errTruncated
	}
	for i := 0; i < size; i++ {
		arg = arg<<8 | uint64(d.b[d.off+i])
	}
	d.off += size
	return major, arg, nil
}

// array reads an array head and checks its length is within [min, max].
func (d *decoder) array(what string, min, max int) (int, error) {
	major, n, err := d.head()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if major != cbor.Array {
		return 0, fmt.Errorf("%s: want an array, got major type %d", what, major)
	}
	if n < uint64(min) || n > uint64(max) {
		return 0, fmt.Errorf("%s: array of %d items, want %d to %d", what, n, min, max)
	}
	return int(n), nil
}

func (d *decoder) uint(what string) (uint64, error) {
	major, n, err := d.head()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if major != cbor.Uint {
		return 0, fmt.Errorf("%s: want an unsigned integer, got major type %d", what, major)
	}
	return n, nil
}

// bytes reads a byte string; the result aliases the input.
func (d *decoder) bytes(what string) ([]byte, error) {
	major, n, err := d.head()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if major != cbor.Bytes {
		return nil, fmt.Errorf("%s: want a byte string, got major type %d", what, major)
	}
	if n > uint64(len(d.b)-d.off) {
		return nil, fmt.Errorf("%s: %d bytes announced, %d left: %w", what, n, len(d.b)-d.off, errTruncated)
	}
	s := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return s, nil
}

// fixed reads a byte string of exactly len(out) bytes into out.
func (d *decoder) fixed(what string, out []byte) error {
	b, err := d.bytes(what)
	if err != nil {
		return err
	}
	if len(b) != len(out) {
		return fmt.Errorf("%s: %d bytes, want %d", what, len(b), len(out))
	}
	copy(out, b)
	return nil
}

func (d *decoder) bool(what string) (bool, error) {
	if d.off >= len(d.b) {
		return false, fmt.Errorf("%s: %w", what, errTruncated)
	}
	switch d.b[d.off] {
	case cborTrue:
		d.off++
		return true, nil
	case cborFalse:
		d.off++
		return false, nil
	}
	return false, fmt.Errorf("%s: want a boolean, got 0x%02x", what, d.b[d.off])
}

// null consumes a null if one is next.
func (d *decoder) null() bool {
	if d.off < len(d.b) && d.b[d.off] == cborNull {
		d.off++
		return true
	}
	return false
}

// variant reads an enum head [index, [fields]] and returns the index and
// the number of fields.
func (d *decoder) variant(what string) (uint64, int, error) {
	if _, err := d.array(what, 2, 2); err != nil {
		return 0, 0, err
	}
	idx, err := d.uint(what + " variant")
	if err != nil {
		return 0, 0, err
	}
	n, err := d.array(what+" fields", 0, 8)
	if err != nil {
		return 0, 0, err
	}
	return idx, n, nil
}

// bytesVariant reads an enum whose variants each hold one byte string of
// a fixed size; sizes maps the variant index to that size.
func (d *decoder) bytesVariant(what string, sizes map[uint64]int) (uint64, []byte, error) {
	idx, n, err := d.variant(what)
	if err != nil {
		return 0, nil, err
	}
	size, ok := sizes[idx]
	if !ok {
		return 0, nil, fmt.Errorf("%s: unknown variant %d", what, idx)
	}
	if n != 1 {
		return 0, nil, fmt.Errorf("%s: variant %d has %d fields, want 1", what, idx, n)
	}
	out := make([]byte, size)
	if err := d.fixed(what, out); err != nil {
		return 0, nil, err
	}
	return idx, out, nil
}

// route reads a route of at most routing.MaxRouteLength addresses.
func (d *decoder) route(what string) (routing.Route, error) {
	n, err := d.array(what, 0, routing.MaxRouteLength)
	if err != nil {
		return nil, err
	}
	r := make(routing.Route, 0, n)
	for i := 0; i < n; i++ {
		if _, err := d.array("address", 2, 2); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		t, err := d.uint("transport type")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if t > 0xff {
			return nil, fmt.Errorf("%s: transport type %d is over 255", what, t)
		}
		v, err := d.bytes("address value")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		r = append(r, routing.Address{Type: routing.TransportType(t), Value: string(v)})
	}
	return r, nil
}

// end checks that nothing follows the item just read.
func (d *decoder) end(what string) error {
	if d.off != len(d.b) {
		return fmt.Errorf("%s: %d bytes after the end", what, len(d.b)-d.off)
	}
	return nil
}

// maxSkipDepth bounds the nesting of items skipped unread.
const maxSkipDepth = 16

// skip reads one item of any definite-length type and discards it: the
// fields a peer may send that ockamtop does not read (credentials, fields
// added by a later Ockam).
func (d *decoder) skip(depth int) error {
	if depth > maxSkipDepth {
		return fmt.Errorf("cbor: items nested deeper than %d", maxSkipDepth)
	}
	major, n, err := d.head()
	if err != nil {
		return err
	}
	switch major {
	case 2, 3: // byte and text strings
		if n > uint64(len(d.b)-d.off) {
			return errTruncated
		}
		d.off += int(n)
	case 4, 5: // arrays and maps
		if n > uint64(len(d.b)-d.off) {
			return errTruncated
		}
		if major == 5 {
			n *= 2
		}
		for i := uint64(0); i < n; i++ {
			if err := d.skip(depth + 1); err != nil {
				return err
			}
		}
	case 6: // a tag and its item
		return d.skip(depth + 1)
	}
	return nil
}
