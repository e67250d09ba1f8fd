package secure

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

func pair(t testing.TB) (*Encryptor, *Decryptor) {
	t.Helper()
	var k [32]byte
	_, _ = rand.Read(k[:])
	return NewEncryptor(k), NewDecryptor(k)
}

// TestTenThousandMessages crosses the rekey boundary 312 times.
func TestTenThousandMessages(t *testing.T) {
	e, d := pair(t)
	for i := range 10000 {
		p := fmt.Appendf(nil, "message %d", i)
		c, err := e.Seal(nil, p)
		if err != nil {
			t.Fatal(err)
		}
		if n := binary.BigEndian.Uint64(c); n != uint64(i) {
			t.Fatalf("nonce %d, want %d", n, i)
		}
		got, n, err := d.Open(nil, c)
		if err != nil || n != uint64(i) || !bytes.Equal(got, p) {
			t.Fatalf("message %d: %v %d %q", i, err, n, got)
		}
	}
}

// TestRekeyBoundary checks that nonce 32 is under REKEY(key) and 31 under
// key, as Ockam's encryptor does it.
func TestRekeyBoundary(t *testing.T) {
	var k [32]byte
	e := NewEncryptor(k)
	var last, first []byte
	for i := range 33 {
		c, _ := e.Seal(nil, []byte("x"))
		switch i {
		case 31:
			last = c
		case 32:
			first = c
		}
	}
	g := newGCM(&k)
	if _, err := g.Open(nil, gcmNonce(31), last[8:], nil); err != nil {
		t.Fatal("nonce 31 is not under the first key")
	}
	k2 := rekey(g)
	if _, err := newGCM(&k2).Open(nil, gcmNonce(32), first[8:], nil); err != nil {
		t.Fatal("nonce 32 is not under REKEY(key)")
	}
}

func TestReplayAndReorder(t *testing.T) {
	e, d := pair(t)
	var msgs [][]byte
	for range 70 {
		c, _ := e.Seal(nil, []byte("p"))
		msgs = append(msgs, c)
	}
	open := func(i int) error { _, _, err := d.Open(nil, msgs[i]); return err }
	for _, i := range []int{0, 2, 1, 5, 3, 4} {
		if err := open(i); err != nil {
			t.Fatalf("in-window message %d: %v", i, err)
		}
	}
	if err := open(2); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	for i := 6; i <= 36; i++ {
		if err := open(i); err != nil {
			t.Fatal(i, err)
		}
	}
	// 36 is the highest: 3 is more than 32 behind.
	if err := open(3); !errors.Is(err, ErrReplay) && !errors.Is(err, ErrDecrypt) {
		t.Fatalf("old nonce: %v", err)
	}
	if err := open(37); err != nil {
		t.Fatal(err)
	}
}

func TestTamperedDropped(t *testing.T) {
	e, d := pair(t)
	c, _ := e.Seal(nil, []byte("secret"))
	for i := range c {
		bad := bytes.Clone(c)
		bad[i] ^= 0x80
		if _, _, err := d.Open(nil, bad); err == nil {
			t.Fatalf("flipped byte %d decrypts", i)
		}
	}
	if p, _, err := d.Open(nil, c); err != nil || string(p) != "secret" {
		t.Fatalf("the untampered message after the tampered ones: %v", err)
	}
	if _, _, err := d.Open(nil, c[:10]); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("short: %v", err)
	}
}

func TestMessageGolden(t *testing.T) {
	if got := AppendClose(nil); !bytes.Equal(got, []byte{0x82, 0x82, 0x02, 0x80, 0x40}) {
		t.Fatalf("close %x", got)
	}
	onward := routing.Route{routing.LocalAddress("echo")}
	ret := routing.Route{routing.LocalAddress("app"), routing.TCPAddress("1.2.3.4:5")}
	got := AppendPayload(nil, onward, ret, []byte("hi"))
	want := unhex(t, "82"+"82"+"00"+"81"+"83"+
		"81"+"8200"+"4465636"+"86f"+
		"82"+"8200"+"43617070"+"8201"+"49"+"312e322e332e343a35"+
		"426869"+"40")
	if !bytes.Equal(got, want) {
		t.Fatalf("payload\n got %x\nwant %x", got, want)
	}
	m, err := DecodeMessage(got)
	if err != nil || m.Kind != Payload || !m.Onward.Equal(onward) || !m.Return.Equal(ret) || string(m.Body) != "hi" {
		t.Fatalf("decode: %v %+v", err, m)
	}
	if m, err := DecodeMessage(AppendClose(nil)); err != nil || m.Kind != Close {
		t.Fatalf("decode close: %v %+v", err, m)
	}
}

// handshake runs a whole handshake with identities, as the channel
// workers do, and returns both sides' keys and what each learnt.
func handshake(t testing.TB, a, b *Identity) (Keys, Keys, *PeerIdentity, *PeerIdentity) {
	t.Helper()
	now := time.Now()
	sa, _ := ecdh.X25519().GenerateKey(rand.Reader)
	sb, _ := ecdh.X25519().GenerateKey(rand.Reader)
	ini, _ := NewHandshake(true, sa)
	res, _ := NewHandshake(false, sb)
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	m1 := must(ini.WriteMessage1(nil))
	must(res.ReadMessage1(m1))
	m2 := must(res.WriteMessage2(HandshakePayload(b, b.Attest(sb.PublicKey().Bytes(), now))))
	p2 := must(ini.ReadMessage2(m2))
	pb, err := VerifyHandshakePayload(p2, ini.RemoteStatic().Bytes(), now)
	if err != nil {
		t.Fatal(err)
	}
	m3 := must(ini.WriteMessage3(HandshakePayload(a, a.Attest(sa.PublicKey().Bytes(), now))))
	p3 := must(res.ReadMessage3(m3))
	pa, err := VerifyHandshakePayload(p3, res.RemoteStatic().Bytes(), now)
	if err != nil {
		t.Fatal(err)
	}
	ka, _ := ini.Split()
	kb, _ := res.Split()
	return ka, kb, pa, pb
}

func TestHandshakeWithIdentities(t *testing.T) {
	a, _ := NewIdentity(time.Now())
	b, _ := NewIdentity(time.Now())
	ka, kb, pa, pb := handshake(t, a, b)
	if pa.Identifier != a.Identifier || pb.Identifier != b.Identifier {
		t.Fatal("identifiers learnt wrong")
	}
	c, _ := NewEncryptor(ka.Encrypt).Seal(nil, []byte("to b"))
	if p, _, err := NewDecryptor(kb.Decrypt).Open(nil, c); err != nil || string(p) != "to b" {
		t.Fatal(err)
	}
	// An attestation of another static key is refused.
	now := time.Now()
	other, _ := ecdh.X25519().GenerateKey(rand.Reader)
	if _, err := VerifyHandshakePayload(HandshakePayload(a, a.Attest(other.PublicKey().Bytes(), now)), make([]byte, 32), now); err == nil {
		t.Fatal("attestation of another key accepted")
	}
}

// Messages lost on the way (a relay that registered again drops what was
// in flight) leave a gap: what comes after still decrypts, across rekeys,
// as long as the gap is at most MaxNonceGap. Old nonces stay refused.
func TestNonceGap(t *testing.T) {
	e, d := pair(t)
	var msgs [][]byte
	for range 300 {
		c, _ := e.Seal(nil, []byte("p"))
		msgs = append(msgs, c)
	}
	for _, i := range []int{0, 1, 2, 150, 151, 149, 299} {
		if _, _, err := d.Open(nil, msgs[i]); err != nil {
			t.Fatalf("message %d after a gap: %v", i, err)
		}
	}
	if _, _, err := d.Open(nil, msgs[2]); !errors.Is(err, ErrReplay) {
		t.Fatalf("old message after the gap: %v", err)
	}
	far := make([]byte, Overhead+1)
	binary.BigEndian.PutUint64(far, 299+MaxNonceGap+1)
	if _, _, err := d.Open(nil, far); !errors.Is(err, ErrReplay) {
		t.Fatalf("a nonce past the gap: %v", err)
	}
	c, _ := e.Seal(nil, []byte("after"))
	if p, _, err := d.Open(nil, c); err != nil || string(p) != "after" {
		t.Fatalf("the next message: %v", err)
	}
}
