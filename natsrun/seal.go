package natsrun

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
)

// Checkpoints are sealed as
//
//	format byte (1) | 12-byte random nonce | AES-256-GCM ciphertext+tag
//
// with the run id in the associated data, so that a checkpoint copied to
// another run does not open. The key comes from the vault's master key
// (vault.MasterKey.Derive("checkpoints")), which every node has.
const sealFormat byte = 1

const sealAD = "bp checkpoint v1\x00"

// SealPurpose is the purpose to derive a cluster's SealKey with.
const SealPurpose = "nats checkpoints"

func newSealer(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("checkpoint seal key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(block)
}

func seal(a cipher.AEAD, runID string, plain []byte) []byte {
	out := make([]byte, 1, 1+a.Overhead()+len(plain))
	out[0] = sealFormat
	return a.Seal(out, nil, plain, []byte(sealAD+runID))
}

func unseal(a cipher.AEAD, runID string, sealed []byte) ([]byte, error) {
	if len(sealed) < 1+a.Overhead() || sealed[0] != sealFormat {
		return nil, fmt.Errorf("checkpoint of run %s: not a sealed checkpoint", runID)
	}
	plain, err := a.Open(nil, nil, sealed[1:], []byte(sealAD+runID))
	if err != nil {
		return nil, fmt.Errorf("checkpoint of run %s does not open (another seal key, or altered): %w", runID, err)
	}
	return plain, nil
}
