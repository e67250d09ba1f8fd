package secure

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An identity exported by Ockam, with the secret key it was made with:
// examples/rust/get_started/examples/06-credentials-exchange-server.rs in
// build-trust/ockam, which gives its identifier in a comment.
const (
	ockamChangeHistory = "81825837830101583285f682008158201d387ce453816d91159740a55e9a62ad3b58be9ecf7ef08760c42c0d885b6c2ef41a654cf9681a7818fc688200815840dc10ba498655dac0ebab81c6e1af45f465408ddd612842f10a6ced53c06d4562117e14d656be85685aa5bfbd5e5ede6f0ecf5eb41c19a5594e7a25b7a42c5c07"
	ockamSecret        = "5FB3663DF8405379981462BABED7507E3D53A8D061188105E3ADBD70E0A74B8A"
	ockamIdentifier    = "Ife42b412ecdb7fda4421bd5046e33c1017671ce7a320c3342814f0b99df9ab60"
)

func TestOckamIdentity(t *testing.T) {
	p, err := VerifyChangeHistory(unhex(t, ockamChangeHistory))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Identifier.String(); got != ockamIdentifier {
		t.Fatalf("identifier %s, want %s", got, ockamIdentifier)
	}
	// The same key and timestamps give the same bytes: Ed25519 signatures
	// are deterministic, and the encoding is minicbor's.
	key := ed25519.NewKeyFromSeed(unhex(t, ockamSecret))
	id, err := identityFromKey(key, p.validFrom, p.validUntil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(id.ChangeHistory, unhex(t, ockamChangeHistory)) {
		t.Fatalf("change history\n got %x\nwant %s", id.ChangeHistory, ockamChangeHistory)
	}
}

func TestIdentityRefusesTampering(t *testing.T) {
	good := unhex(t, ockamChangeHistory)
	for i := range good {
		b := bytes.Clone(good)
		b[i] ^= 0x01
		if p, err := VerifyChangeHistory(b); err == nil && p.Identifier.String() == ockamIdentifier {
			t.Fatalf("flipping byte %d still verifies as the same identity", i)
		}
	}
	if _, err := VerifyChangeHistory(good[:len(good)-1]); err == nil {
		t.Fatal("truncated history verifies")
	}
}

func TestIdentifierText(t *testing.T) {
	id, err := ParseIdentifier(ockamIdentifier)
	if err != nil || id.String() != ockamIdentifier {
		t.Fatalf("%v %s", err, id)
	}
	for _, bad := range []string{"", "I", "fe42", "I00", "Izz" + ockamIdentifier[3:], ockamIdentifier + "00"} {
		if _, err := ParseIdentifier(bad); err == nil {
			t.Errorf("ParseIdentifier(%q) succeeded", bad)
		}
	}
}

func TestAttestation(t *testing.T) {
	now := time.Now()
	id, err := NewIdentity(now)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewIdentity(now)
	if err != nil {
		t.Fatal(err)
	}
	static := sha256.Sum256([]byte("a static key"))
	att := id.Attest(static[:], now)
	got, err := (&decoder{b: att}).verifyAttestation(&id.PeerIdentity, now)
	if err != nil || !bytes.Equal(got, static[:]) {
		t.Fatalf("verify: %v, key %x", err, got)
	}
	if _, err := (&decoder{b: att}).verifyAttestation(&other.PeerIdentity, now); err == nil {
		t.Fatal("attestation verified for another identity")
	}
	if _, err := (&decoder{b: att}).verifyAttestation(&id.PeerIdentity, now.Add(6*365*24*time.Hour)); err == nil {
		t.Fatal("expired attestation verified")
	}
	bad := bytes.Clone(att)
	bad[len(bad)-1] ^= 1
	if _, err := (&decoder{b: bad}).verifyAttestation(&id.PeerIdentity, now); err == nil {
		t.Fatal("bad signature verified")
	}
}

func TestIdentityFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "n1.identity")
	now := time.Now()
	a, err := LoadOrCreateIdentity(path, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateIdentity(path, now)
	if err != nil {
		t.Fatal(err)
	}
	if a.Identifier != b.Identifier || !bytes.Equal(a.key, b.key) {
		t.Fatal("identity changed on reload")
	}
	if _, err := CreateIdentityFile(path, now); err == nil {
		t.Fatal("create over an existing file succeeded")
	}
	other, _ := NewIdentity(now)
	f := a.MarshalFile()
	f = bytes.Replace(f, []byte(a.Identifier.String()), []byte(other.Identifier.String()), 1)
	if _, err := ParseIdentityFile(f); err == nil {
		t.Fatal("file with a wrong identifier accepted")
	}
}

// A public identity file is an identity without its secret key: it names
// the same identifier, proven by the same change history, and cannot act.
func TestPublicIdentityFile(t *testing.T) {
	id, err := NewIdentity(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	file := id.Public().MarshalFile()
	if strings.Contains(string(file), "secret_key") {
		t.Fatalf("a public file holds the secret key:\n%s", file)
	}
	pub, err := ParseIdentityFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if pub.HasSecret() || !id.HasSecret() || pub.Identifier != id.Identifier {
		t.Errorf("public %v (secret %v), full secret %v", pub.Identifier, pub.HasSecret(), id.HasSecret())
	}
	other, _ := NewIdentity(time.Now())
	forged := strings.Replace(string(file), id.Identifier.String(), other.Identifier.String(), 1)
	if _, err := ParseIdentityFile([]byte(forged)); err == nil {
		t.Error("a public file whose identifier is not its history's was taken")
	}
}
