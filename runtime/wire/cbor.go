package wire

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ockamtop/ockamtop/runtime/cbor"
)

// The subset of CBOR (RFC 8949) that routing frames use: unsigned integers,
// byte and text strings, and arrays. Decoding also skips, without
// interpreting, any other well-formed item, so that a peer may append fields
// we do not know.

const (
	// indefinite is the additional-information value of an indefinite
	// length item; breakCode ends one.
	indefinite = 31
	breakCode  = 0xff

	// maxSkipDepth bounds the nesting of unknown items we are willing to
	// skip, so that a hostile frame cannot exhaust the stack.
	maxSkipDepth = 16
)

var errTruncated = errors.New("cbor: truncated item")

// decoder reads CBOR items from a byte slice. It never panics: every read is
// bounds-checked and reports errTruncated or a descriptive error.
type decoder struct {
	b   []byte
	off int
}

// head reads an item head and returns its major type, its additional
// information and its argument. For indefinite items the argument is 0 and
// info is 31.
func (d *decoder) head() (major byte, info byte, arg uint64, err error) {
	if d.off >= len(d.b) {
		return 0, 0, 0, errTruncated
	}
	c := d.b[d.off]
	d.off++
	major, info = c>>5, c&0x1f
	switch {
	case info < 24:
		return major, info, uint64(info), nil
	case info == 24:
		if d.off+1 > len(d.b) {
			return 0, 0, 0, errTruncated
		}
		arg = uint64(d.b[d.off])
		d.off++
	case info == 25:
		if d.off+2 > len(d.b) {
			return 0, 0, 0, errTruncated
		}
		arg = uint64(binary.BigEndian.Uint16(d.b[d.off:]))
		d.off += 2
	case info == 26:
		if d.off+4 > len(d.b) {
			return 0, 0, 0, errTruncated
		}
		arg = uint64(binary.BigEndian.Uint32(d.b[d.off:]))
		d.off += 4
	case info == 27:
		if d.off+8 > len(d.b) {
			return 0, 0, 0, errTruncated
		}
		arg = binary.BigEndian.Uint64(d.b[d.off:])
		d.off += 8
	case info == indefinite:
		if major == cbor.Uint || major == cbor.Neg || major == cbor.Tag {
			return 0, 0, 0, fmt.Errorf("cbor: major type %d cannot have indefinite length", major)
		}
		return major, info, 0, nil
	default:
		return 0, 0, 0, fmt.Errorf("cbor: reserved additional information %d", info)
	}
	return major, info, arg, nil
}

// arrayLen reads an array head. It returns -1 for an indefinite array, which
// the caller ends with atBreak.
func (d *decoder) arrayLen(what string) (int, error) {
	major, info, n, err := d.head()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if major != cbor.Array {
		return 0, fmt.Errorf("%s: want an array, got major type %d", what, major)
	}
	if info == indefinite {
		return -1, nil
	}
	// Every element takes at least one byte: a longer count is a lie.
	if n > uint64(len(d.b)-d.off) {
		return 0, fmt.Errorf("%s: array of %d items in %d bytes: %w", what, n, len(d.b)-d.off, errTruncated)
	}
	return int(n), nil
}

// atBreak reports, for an indefinite array, whether the next byte ends it,
// and consumes it if so.
func (d *decoder) atBreak() (bool, error) {
	if d.off >= len(d.b) {
		return false, errTruncated
	}
	if d.b[d.off] == breakCode {
		d.off++
		return true, nil
	}
	return false, nil
}

// more reports whether an array with n items (n == -1: indefinite) that has
// had i items read has another one.
func (d *decoder) more(n, i int) (bool, error) {
	if n >= 0 {
		return i < n, nil
	}
	brk, err := d.atBreak()
	return !brk && err == nil, err
}

// uint reads an unsigned integer.
func (d *decoder) uint(what string) (uint64, error) {
	major, _, n, err := d.head()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if major != cbor.Uint {
		return 0, fmt.Errorf("%s: want an unsigned integer, got major type %d", what, major)
	}
	return n, nil
}

// str reads a definite byte string (major 2) or text string (major 3) and
// returns a slice of the input.
func (d *decoder) str(what string, want byte) ([]byte, error) {
	major, info, n, err := d.head()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if major != want {
		return nil, fmt.Errorf("%s: want major type %d, got %d", what, want, major)
	}
	if info == indefinite {
		return nil, fmt.Errorf("%s: indefinite-length strings are not supported", what)
	}
	if n > uint64(len(d.b)-d.off) {
		return nil, fmt.Errorf("%s: %d bytes announced, %d left: %w", what, n, len(d.b)-d.off, errTruncated)
	}
	s := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return s, nil
}

// skip reads one well-formed item of any type and discards it.
func (d *decoder) skip(depth int) error {
	if depth > maxSkipDepth {
		return fmt.Errorf("cbor: items nested deeper than %d", maxSkipDepth)
	}
	major, info, n, err := d.head()
	if err != nil {
		return err
	}
	switch major {
	case cbor.Uint, cbor.Neg:
		return nil
	case cbor.Bytes, cbor.Text:
		if info == indefinite {
			for {
				brk, err := d.atBreak()
				if err != nil || brk {
					return err
				}
				if _, err := d.str("chunk", major); err != nil {
					return err
				}
			}
		}
		if n > uint64(len(d.b)-d.off) {
			return errTruncated
		}
		d.off += int(n)
		return nil
	case cbor.Array, cbor.Map:
		per := uint64(1)
		if major == cbor.Map {
			per = 2
		}
		if info == indefinite {
			for {
				brk, err := d.atBreak()
				if err != nil || brk {
					return err
				}
				for j := uint64(0); j < per; j++ {
					if err := d.skip(depth + 1); err != nil {
						return err
					}
				}
			}
		}
		if n > uint64(len(d.b)-d.off) {
			return errTruncated
		}
		for i := uint64(0); i < n*per; i++ {
			if err := d.skip(depth + 1); err != nil {
				return err
			}
		}
		return nil
	case cbor.Tag:
		return d.skip(depth + 1)
	default: // simple values and floats carry no nested items
		if info == indefinite {
			return errors.New("cbor: unexpected break")
		}
		return nil
	}
}
