package vault

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/argon2"
)

// kdfParams says how the master key is derived from what the user holds.
// It is stored in the vault file (meta key "kdf") so that the cost can be
// raised later without breaking old vaults, and so that a passphrase opens
// the vault on any machine.
type kdfParams struct {
	alg     byte   // kdfNone: the master key is used as is; kdfArgon2id: stretched passphrase
	time    uint32 // argon2 passes
	memory  uint32 // argon2 memory in KiB
	threads uint8
	salt    []byte
}

const (
	kdfNone     byte = 0
	kdfArgon2id byte = 1
	saltSize         = 16
)

// rfc9106Second is the second recommended option of RFC 9106 section 4
// (t=3, m=64 MiB, p=4): the first one needs 2 GiB, too much for a CLI that
// several runs start at once.
var rfc9106Second = kdfParams{alg: kdfArgon2id, time: 3, memory: 64 * 1024, threads: 4}

// defaultArgon2 is the cost new passphrase vaults get. Tests in this package
// lower it.
var defaultArgon2 = rfc9106Second

// Upper bounds accepted when reading a vault file, so that a tampered "kdf"
// record cannot make Open allocate gigabytes or spin for minutes.
const (
	maxArgonTime   = 64
	maxArgonMemory = 1 << 20 // KiB = 1 GiB
)

// newKDF returns the parameters for a new vault or a key rotation:
// argon2id with a fresh salt for a passphrase, kdfNone for a raw key.
func newKDF(k MasterKey) kdfParams {
	if !k.IsPassphrase() {
		return kdfParams{alg: kdfNone}
	}
	p := defaultArgon2
	p.salt = make([]byte, saltSize)
	_, _ = rand.Read(p.salt)
	return p
}

// deriveKEK returns the key-encryption key for k under p. The caller zeroes
// it after use.
func deriveKEK(k MasterKey, p kdfParams) ([]byte, error) {
	switch {
	case !k.IsPassphrase():
		if len(k.raw) != KeySize {
			return nil, fmt.Errorf("master key must be %d bytes", KeySize)
		}
		return append([]byte(nil), k.raw...), nil
	case p.alg != kdfArgon2id:
		return nil, fmt.Errorf("%w: this vault is not protected by a passphrase; it needs its key (BP_VAULT_KEY or a key file)", ErrWrongKey)
	default:
		return argon2.IDKey(k.passphrase, p.salt, p.time, p.memory, p.threads, KeySize), nil
	}
}

func (p kdfParams) marshal() []byte {
	if p.alg == kdfNone {
		return []byte{kdfNone}
	}
	b := []byte{p.alg}
	b = binary.BigEndian.AppendUint32(b, p.time)
	b = binary.BigEndian.AppendUint32(b, p.memory)
	b = append(b, p.threads, byte(len(p.salt)))
	return append(b, p.salt...)
}

func parseKDF(b []byte) (kdfParams, error) {
	if len(b) == 1 && b[0] == kdfNone {
		return kdfParams{alg: kdfNone}, nil
	}
	if len(b) < 11 || b[0] != kdfArgon2id || len(b) != 11+int(b[10]) {
		return kdfParams{}, fmt.Errorf("unknown key derivation record: %w", ErrNotVault)
	}
	p := kdfParams{
		alg:     b[0],
		time:    binary.BigEndian.Uint32(b[1:]),
		memory:  binary.BigEndian.Uint32(b[5:]),
		threads: b[9],
		salt:    append([]byte(nil), b[11:]...),
	}
	if p.time < 1 || p.time > maxArgonTime || p.memory < 8*uint32(p.threads) || p.memory > maxArgonMemory || p.threads < 1 || len(p.salt) < 8 {
		return kdfParams{}, fmt.Errorf("argon2id parameters out of range: %w", ErrNotVault)
	}
	return p, nil
}
