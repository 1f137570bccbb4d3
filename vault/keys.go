package vault

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// KeySize is the size in bytes of a master key and of a data key.
const KeySize = 32

// MasterKey is the key that unlocks a vault. It is either 32 random bytes
// (BP_VAULT_KEY, a key file) or a passphrase that Open stretches with
// argon2id using the salt and cost stored in the vault file. The master key
// only wraps the vault's random data key; values are sealed with the data
// key, so changing the master key (RotateKey) does not touch the values.
//
// A MasterKey holds slices: copies share the bytes, and Zero clears them for
// every copy. Open and Create keep their own copy, so the caller may Zero its
// key as soon as they return.
type MasterKey struct {
	raw        []byte // KeySize bytes, or nil for a passphrase
	passphrase []byte
	source     string // where it came from, for messages: "BP_VAULT_KEY", "key file /x"
	file       string // the key file it was read from, if any (see pendingKeyPath)
}

// NewMasterKey returns a master key holding a copy of the KeySize bytes b.
func NewMasterKey(b []byte) (MasterKey, error) {
	if len(b) != KeySize {
		return MasterKey{}, fmt.Errorf("master key must be %d bytes, got %d", KeySize, len(b))
	}
	return MasterKey{raw: bytes.Clone(b), source: "raw key"}, nil
}

// GenerateMasterKey returns a new random master key.
func GenerateMasterKey() MasterKey {
	b := make([]byte, KeySize)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead)
	return MasterKey{raw: b, source: "generated key"}
}

// PassphraseKey returns a master key derived from passphrase with argon2id
// when the vault is opened. The passphrase is copied.
func PassphraseKey(passphrase []byte) MasterKey {
	return MasterKey{passphrase: bytes.Clone(passphrase), source: "passphrase"}
}

// ParseKey decodes a master key written as base64 (standard or URL alphabet,
// padded or not; surrounding white space is ignored), the form of
// BP_VAULT_KEY and of key files. The error never contains the input.
func ParseKey(text []byte) (MasterKey, error) {
	text = bytes.TrimSpace(text)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b := make([]byte, enc.DecodedLen(len(text)))
		n, err := enc.Decode(b, text)
		if err == nil && n == KeySize {
			return MasterKey{raw: b[:n], source: "raw key"}, nil
		}
		clear(b)
	}
	return MasterKey{}, fmt.Errorf("master key must be %d bytes encoded as base64 (44 characters)", KeySize)
}

// Encode returns the key as standard base64 followed by a newline, the
// format of key files. It returns nil for a passphrase key.
func (k MasterKey) Encode() []byte {
	if k.raw == nil {
		return nil
	}
	out := make([]byte, base64.StdEncoding.EncodedLen(len(k.raw))+1)
	base64.StdEncoding.Encode(out, k.raw)
	out[len(out)-1] = '\n'
	return out
}

// IsPassphrase reports whether the key is a passphrase to stretch.
func (k MasterKey) IsPassphrase() bool { return k.raw == nil && k.passphrase != nil }

// IsZero reports whether k holds no key at all.
func (k MasterKey) IsZero() bool { return k.raw == nil && k.passphrase == nil }

// Source says where the key came from ("BP_VAULT_KEY", "key file PATH",
// "BP_VAULT_PASSPHRASE", ...), for messages. It never contains key bytes.
func (k MasterKey) Source() string { return k.source }

// File is the key file the key was read from, or "" if it did not come
// from a file.
func (k MasterKey) File() string { return k.file }

// WithSource returns k labelled with source, for messages.
func (k MasterKey) WithSource(source string) MasterKey {
	k.source = source
	return k
}

// Zero overwrites the key bytes (of every copy of k).
func (k MasterKey) Zero() {
	clear(k.raw)
	clear(k.passphrase)
}
