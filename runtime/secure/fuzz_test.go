package secure

import (
	"crypto/ecdh"
	"crypto/rand"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

// FuzzDecodeMessage: any plaintext decodes or fails, never panics, and a
// payload re-encodes to what was decoded.
func FuzzDecodeMessage(f *testing.F) {
	f.Add(AppendClose(nil))
	f.Add(AppendPayload(nil, routing.Route{routing.LocalAddress("echo")}, nil, []byte("x")))
	f.Add([]byte{0x82, 0x82, 0x01, 0x81, 0x82, 0x80, 0x80, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil || m.Kind != Payload {
			return
		}
		again, err := DecodeMessage(AppendPayload(nil, m.Onward, m.Return, m.Body))
		if err != nil || !again.Onward.Equal(m.Onward) || string(again.Body) != string(m.Body) {
			t.Fatalf("re-encoding changed the message: %v", err)
		}
	})
}

// FuzzHandshake feeds arbitrary bytes to each read of the handshake and
// to the identity payload verification.
func FuzzHandshake(f *testing.F) {
	id, _ := NewIdentity(time.Now())
	s, _ := ecdh.X25519().GenerateKey(rand.Reader)
	f.Add(make([]byte, 32))
	f.Add(make([]byte, 96))
	f.Add(HandshakePayload(id, id.Attest(s.PublicKey().Bytes(), time.Now())))
	f.Add(unhex(f, ockamChangeHistory))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _ := NewHandshake(false, s)
		_, _ = r.ReadMessage1(b)
		i, _ := NewHandshake(true, s)
		m1, _ := i.WriteMessage1(nil)
		_, _ = i.ReadMessage2(b)
		r2, _ := NewHandshake(false, s)
		_, _ = r2.ReadMessage1(m1)
		_, _ = r2.WriteMessage2(nil)
		_, _ = r2.ReadMessage3(b)
		_, _ = VerifyHandshakePayload(b, s.PublicKey().Bytes(), time.Now())
		_, _ = VerifyChangeHistory(b)
		_, _ = ParseIdentityFile(b)
	})
}

// FuzzOpen: arbitrary ciphertexts never panic and never decrypt.
func FuzzOpen(f *testing.F) {
	var k [32]byte
	c, _ := NewEncryptor(k).Seal(nil, []byte("x"))
	f.Add(c)
	f.Add(make([]byte, 30))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecryptor([32]byte{1})
		if _, _, err := d.Open(nil, b); err == nil {
			t.Fatal("random bytes decrypted")
		}
	})
}
