package secure

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// An identity file holds a private identity, as JSON:
//
//	{"identifier": "I…", "change_history": "<hex CBOR>", "secret_key": "<hex Ed25519 seed>"}
//
// change_history is what `ockam identity show --full --encoding hex`
// prints for an Ockam identity; the secret key is the 32-byte Ed25519
// seed Ockam's vault imports. The file is written with mode 0600.

type identityFile struct {
	Identifier    string `json:"identifier"`
	ChangeHistory string `json:"change_history"`
	SecretKey     string `json:"secret_key,omitempty"`
}

// MarshalFile encodes id as an identity file, with its secret key when it
// has one.
func (id *Identity) MarshalFile() []byte {
	f := identityFile{
		Identifier:    id.Identifier.String(),
		ChangeHistory: hex.EncodeToString(id.ChangeHistory),
	}
	if id.key != nil {
		f.SecretKey = hex.EncodeToString(id.key.Seed())
	}
	b, _ := json.MarshalIndent(f, "", "  ") // cannot fail: strings only
	return append(b, '\n')
}

// Public is id without its secret key: what others need to know it (its
// identifier, proven by its change history), and what cannot act as it.
func (id *Identity) Public() *Identity { return &Identity{PeerIdentity: id.PeerIdentity} }

// HasSecret reports whether id holds its secret key, without which it can
// only be trusted, not used: a node cannot run with it.
func (id *Identity) HasSecret() bool { return id.key != nil }

// ParseIdentityFile reads an identity file: the change history must
// verify, its latest key must be the secret key's, and the identifier, if
// given, must be the history's. A file without a secret key is another's
// public identity (see Public).
func ParseIdentityFile(b []byte) (*Identity, error) {
	var f identityFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("not an identity file: %w", err)
	}
	ch, err := hex.DecodeString(f.ChangeHistory)
	if err != nil {
		return nil, fmt.Errorf("change_history: %w", err)
	}
	p, err := VerifyChangeHistory(ch)
	if err != nil {
		return nil, err
	}
	if f.Identifier != "" && f.Identifier != p.Identifier.String() {
		return nil, fmt.Errorf("identifier %s does not match the change history, which is %s", f.Identifier, p.Identifier)
	}
	if f.SecretKey == "" {
		return &Identity{PeerIdentity: *p}, nil
	}
	seed, err := hex.DecodeString(f.SecretKey)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("secret_key: want %d bytes in hex", ed25519.SeedSize)
	}
	key := ed25519.NewKeyFromSeed(seed)
	if !key.Public().(ed25519.PublicKey).Equal(p.latestKey) {
		return nil, errors.New("secret_key is not the key of the change history's latest change")
	}
	return &Identity{PeerIdentity: *p, key: key}, nil
}

// LoadIdentity reads the identity file at path.
func LoadIdentity(path string) (*Identity, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	id, err := ParseIdentityFile(b)
	if err != nil {
		return nil, fmt.Errorf("identity file %s: %w", path, err)
	}
	return id, nil
}

// CreateIdentityFile makes a new identity and writes it to path, which
// must not exist, in a directory that must (a typo in a directory is not
// made into new directories).
func CreateIdentityFile(path string, now time.Time) (*Identity, error) {
	id, err := NewIdentity(now)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	_, err = f.Write(id.MarshalFile())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("identity: write %s: %w", path, err)
	}
	return id, nil
}

// LoadOrCreateIdentity reads the identity file at path, or creates it when
// there is none. Two processes racing to create it end up with the same
// identity: the loser of the exclusive create reads the winner's file.
func LoadOrCreateIdentity(path string, now time.Time) (*Identity, error) {
	id, err := LoadIdentity(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return id, err
	}
	// The directory is the one kept for identities: made on first use.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	id, err = CreateIdentityFile(path, now)
	if errors.Is(err, fs.ErrExist) {
		return LoadIdentity(path)
	}
	return id, err
}
