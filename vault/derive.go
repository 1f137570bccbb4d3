package vault

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
)

// ErrCannotDerive is returned by Derive for a passphrase key: deriving
// from a passphrase needs the vault's salt and costs a second of argon2id.
var ErrCannotDerive = errors.New("a passphrase cannot derive keys: give bp a raw key (BP_VAULT_KEY or BP_VAULT_KEY_FILE)")

// Derive returns a KeySize-byte key for another use of the same secret
// (checkpoints sealed by a cluster of bp processes that share the vault's
// master key), by HKDF-SHA256 with purpose as its info: distinct purposes
// give independent keys, and none reveals the master key.
func (k MasterKey) Derive(purpose string) ([]byte, error) {
	if k.raw == nil {
		if k.passphrase != nil {
			return nil, ErrCannotDerive
		}
		return nil, ErrNoKey
	}
	return hkdf.Key(sha256.New, k.raw, nil, "bp derived key\x00"+purpose, KeySize)
}
