package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// Every sealed blob in the file is
//
//	format byte (formatV1) [| plain header fields] | 12-byte random nonce | AES-256-GCM ciphertext+tag
//
// The format byte comes first so a later format (another cipher, longer
// nonces) can be told apart and read alongside this one. AES-256-GCM was
// chosen over XChaCha20-Poly1305 because it is faster with AES-NI (see
// BENCHMARKS.md); the 96-bit random nonce is safe for 2^32 seals per key,
// far more than a vault sees between two data keys.
const formatV1 byte = 1

// Associated-data labels. Each kind of blob has its own, so that no sealed
// blob can be substituted for a blob of another kind.
const (
	adDataKey  = "bp-vault/v1 data key\x00"
	adManifest = "bp-vault/v1 manifest\x00"
	adSecret   = "bp-vault/v1 secret\x00"
	adCheck    = "bp-vault/v1 key check\x00"
)

// newAEAD returns AES-256-GCM with random nonces prepended by Seal. The
// cipher.AEAD is built once per key and cached by the Vault: building it
// (the AES key schedule and GHASH tables) costs more than sealing a short
// value.
func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(block)
}

// seal returns header | nonce | ciphertext of plaintext under a. header
// starts with formatV1 and may carry more plain fields (a secret's version),
// which the caller also binds through ad.
func seal(a cipher.AEAD, header, plaintext, ad []byte) []byte {
	out := make([]byte, len(header), len(header)+a.Overhead()+len(plaintext))
	copy(out, header)
	return a.Seal(out, nil, plaintext, ad)
}

// open reverses seal for a blob whose header is headerLen bytes. It returns
// a fresh slice (never aliasing the bbolt memory map) or an error that
// contains no plaintext.
func open(a cipher.AEAD, sealed []byte, headerLen int, ad []byte) ([]byte, error) {
	if len(sealed) < headerLen+a.Overhead() {
		return nil, fmt.Errorf("sealed record too short")
	}
	if sealed[0] != formatV1 {
		return nil, fmt.Errorf("sealed record has unknown format %d", sealed[0])
	}
	return a.Open(nil, nil, sealed[headerLen:], ad)
}

// dataKeyAD binds the wrapped data key to the vault id and to the key
// derivation record, so neither can be swapped under it.
func dataKeyAD(id []byte, kdf []byte) []byte {
	ad := append([]byte(adDataKey), id...)
	return append(ad, kdf...)
}

func manifestAD(id []byte) []byte { return append([]byte(adManifest), id...) }

// secretAD binds a value to the vault, its name and its version, so a value
// copied to another name, another vault, or another version does not open.
func secretAD(id []byte, name string, version uint64) []byte {
	ad := make([]byte, 0, len(adSecret)+len(id)+2+len(name)+8)
	ad = append(ad, adSecret...)
	ad = append(ad, id...)
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(name)))
	ad = append(ad, name...)
	return binary.BigEndian.AppendUint64(ad, version)
}

// keyCheck is the key check value stored in the file: HMAC-SHA256 of the
// vault id under the key-encryption key. Comparing it before unwrapping the
// data key tells a wrong master key (ErrWrongKey) apart from a damaged key
// record (ErrTampered). It reveals nothing about a 256-bit key, and for a
// passphrase it is no better an oracle than the wrapped key itself: both
// cost one argon2id derivation per guess.
func keyCheck(kek, id []byte) []byte {
	m := hmac.New(sha256.New, kek)
	m.Write([]byte(adCheck))
	m.Write(id)
	return m.Sum(nil)
}
