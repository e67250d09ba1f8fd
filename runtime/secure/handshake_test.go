package secure

import (
	"bytes"
	"crypto/ecdh"
	"encoding/hex"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func x25519Key(t testing.TB, s string) *ecdh.PrivateKey {
	t.Helper()
	k, err := ecdh.X25519().NewPrivateKey(unhex(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// vectorName is the protocol name handshake.rs's tests use, padded to 32
// bytes with zeros.
var vectorName = [32]byte([]byte("Noise_XX_25519_AESGCM_SHA256\x00\x00\x00\x00"))

// TestInitialization is handshake.rs test_initialization: h is
// SHA-256(name), ck is the name itself.
func TestInitialization(t *testing.T) {
	hs := newHandshake(true, vectorName, x25519Key(t, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"), x25519Key(t, "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"))
	wantH := []byte{93, 247, 43, 103, 185, 101, 173, 209, 22, 143, 10, 108, 117, 109, 242, 28, 32, 79, 126,
		100, 252, 104, 43, 230, 163, 171, 75, 104, 44, 141, 182, 75}
	if !bytes.Equal(hs.h[:], wantH) {
		t.Errorf("h = %x, want %x", hs.h, wantH)
	}
	if hs.ck != vectorName || hs.n != 0 {
		t.Errorf("ck = %q, n = %d", hs.ck, hs.n)
	}
}

// TestHandshakeVectors reproduces handshake.rs test_full_handshake1 and 2
// byte for byte.
func TestHandshakeVectors(t *testing.T) {
	for _, v := range []struct {
		name                   string
		p1, c1, p2, c2, p3, c3 string
	}{
		{
			name: "test_full_handshake1",
			c1:   "358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254",
			c2:   "64b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d484665393019dbd6f438795da206db0886610b26108e424142c2e9b5fd1f7ea70cde8767ce62d7e3c0e9bcefe4ab872c0505b9e824df091b74ffe10a2b32809cab21f",
			c3:   "e610eadc4b00c17708bf223f29a66f02342fbedf6c0044736544b9271821ae40e70144cecd9d265dffdc5bb8e051c3f83db32a425e04d8f510c58a43325fbc56",
		},
		{
			name: "test_full_handshake2",
			p1:   "746573745f6d73675f30",
			c1:   "358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254746573745f6d73675f30",
			p2:   "746573745f6d73675f31",
			c2:   "64b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d484665393019dbd6f438795da206db0886610b26108e424142c2e9b5fd1f7ea70cde8c9f29dcec8d3ab554f4a5330657867fe4917917195c8cf360e08d6dc5f71baf875ec6e3bfc7afda4c9c2",
			p3:   "746573745f6d73675f32",
			c3:   "e610eadc4b00c17708bf223f29a66f02342fbedf6c0044736544b9271821ae40232c55cd96d1350af861f6a04978f7d5e070c07602c6b84d25a331242a71c50ae31dd4c164267fd48bd2",
		},
	} {
		t.Run(v.name, func(t *testing.T) {
			ini := newHandshake(true, vectorName,
				x25519Key(t, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
				x25519Key(t, "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"))
			res := newHandshake(false, vectorName,
				x25519Key(t, "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"),
				x25519Key(t, "4142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f60"))
			step := func(write func([]byte) ([]byte, error), read func([]byte) ([]byte, error), p, c string) {
				t.Helper()
				m, err := write(unhex(t, p))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(m, unhex(t, c)) {
					t.Fatalf("message\n got %x\nwant %s", m, c)
				}
				got, err := read(m)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, unhex(t, p)) {
					t.Fatalf("payload %x, want %s", got, p)
				}
			}
			step(ini.WriteMessage1, res.ReadMessage1, v.p1, v.c1)
			step(res.WriteMessage2, ini.ReadMessage2, v.p2, v.c2)
			step(ini.WriteMessage3, res.ReadMessage3, v.p3, v.c3)
			ki, err := ini.Split()
			if err != nil {
				t.Fatal(err)
			}
			kr, err := res.Split()
			if err != nil {
				t.Fatal(err)
			}
			if ki.Encrypt != kr.Decrypt || ki.Decrypt != kr.Encrypt || ki.Encrypt == ki.Decrypt {
				t.Fatalf("keys do not pair: initiator %x responder %x", ki, kr)
			}
		})
	}
}

func TestHandshakeRefusesOutOfOrder(t *testing.T) {
	s := x25519Key(t, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	ini, err := NewHandshake(true, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ini.ReadMessage2(make([]byte, 200)); err != ErrHandshakeState {
		t.Fatalf("read 2 before write 1: %v", err)
	}
	if _, err := ini.Split(); err != ErrHandshakeState {
		t.Fatalf("split early: %v", err)
	}
	if _, err := ini.WriteMessage1(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ini.ReadMessage2(make([]byte, 10)); err == nil {
		t.Fatal("short message 2 accepted")
	}
}
