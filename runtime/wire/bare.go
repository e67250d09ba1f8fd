package wire

import (
	"errors"
	"fmt"
)

// BARE (https://baremessages.org) is how Ockam encodes application payloads:
// a string or a byte array is its length as a ULEB128 integer, then its
// bytes. "hello" is 05 68 65 6c 6c 6f.

// ErrBadBARE is a payload that is not the BARE value it should be.
var ErrBadBARE = errors.New("malformed BARE value")

// AppendUvarint appends n as ULEB128.
func AppendUvarint(dst []byte, n uint64) []byte {
	for n >= 0x80 {
		dst = append(dst, byte(n)|0x80)
		n >>= 7
	}
	return append(dst, byte(n))
}

// Uvarint reads a ULEB128 integer and returns it with the rest of b.
func Uvarint(b []byte) (uint64, []byte, error) {
	var n uint64
	for i := 0; i < len(b) && i < 10; i++ {
		c := b[i]
		if i == 9 && c > 1 {
			return 0, nil, fmt.Errorf("%w: integer overflows 64 bits", ErrBadBARE)
		}
		n |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return n, b[i+1:], nil
		}
	}
	return 0, nil, fmt.Errorf("%w: truncated integer", ErrBadBARE)
}

// AppendString appends s as a BARE string.
func AppendString(dst []byte, s string) []byte {
	return append(AppendUvarint(dst, uint64(len(s))), s...)
}

// AppendBytes appends b as BARE data.
func AppendBytes(dst []byte, b []byte) []byte {
	return append(AppendUvarint(dst, uint64(len(b))), b...)
}

// Bytes reads BARE data and returns it, aliasing b, with the rest of b.
func Bytes(b []byte) ([]byte, []byte, error) {
	n, rest, err := Uvarint(b)
	if err != nil {
		return nil, nil, err
	}
	if n > uint64(len(rest)) {
		return nil, nil, fmt.Errorf("%w: %d bytes announced, %d present", ErrBadBARE, n, len(rest))
	}
	return rest[:n], rest[n:], nil
}

// String reads a payload that is exactly one BARE string.
func String(payload []byte) (string, error) {
	b, rest, err := Bytes(payload)
	if err != nil {
		return "", err
	}
	if len(rest) != 0 {
		return "", fmt.Errorf("%w: %d bytes after the string", ErrBadBARE, len(rest))
	}
	return string(b), nil
}

// EncodeString returns s as a BARE payload.
func EncodeString(s string) []byte { return AppendString(nil, s) }
