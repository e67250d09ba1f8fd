package cbor

import (
	"bytes"
	"testing"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

func TestAppendHead(t *testing.T) {
	for _, c := range []struct {
		major byte
		n     uint64
		want  []byte
	}{
		{Uint, 0, []byte{0x00}},
		{Uint, 23, []byte{0x17}},
		{Uint, 24, []byte{0x18, 0x18}},
		{Bytes, 0xff, []byte{0x58, 0xff}},
		{Array, 0x100, []byte{0x99, 0x01, 0x00}},
		{Text, 0x10000, []byte{0x7a, 0x00, 0x01, 0x00, 0x00}},
		{Uint, 1 << 32, []byte{0x1b, 0, 0, 0, 1, 0, 0, 0, 0}},
	} {
		if got := AppendHead(nil, c.major, c.n); !bytes.Equal(got, c.want) {
			t.Errorf("AppendHead(%d, %d) = % x, want % x", c.major, c.n, got, c.want)
		}
	}
}

// The route of the seeds' echo, 0#echo, as Ockam writes it.
func TestAppendRoute(t *testing.T) {
	got := AppendRoute(nil, routing.Route{routing.LocalAddress("echo")})
	want := []byte{0x81, 0x82, 0x00, 0x44, 'e', 'c', 'h', 'o'}
	if !bytes.Equal(got, want) {
		t.Errorf("AppendRoute = % x, want % x", got, want)
	}
}
