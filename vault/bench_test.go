package vault

import (
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

// benchVault makes a vault of 50 secrets of 40 bytes, closed, and returns
// its path and a key file for it.
func benchVault(b *testing.B) (path, keyFile string) {
	dir := tempDir(b)
	path, keyFile = filepath.Join(dir, "vault.db"), filepath.Join(dir, "vault.key")
	key := GenerateMasterKey()
	if err := WriteKeyFile(keyFile, key); err != nil {
		b.Fatal(err)
	}
	v, err := Create(path, key, Options{})
	if err != nil {
		b.Fatal(err)
	}
	values := map[string][]byte{}
	for i := range 50 {
		values[fmt.Sprintf("SECRET_%02d", i)] = []byte(fmt.Sprintf("value-%02d-0123456789abcdef0123456789", i))
	}
	if err := v.Import(values); err != nil {
		b.Fatal(err)
	}
	v.Close()
	return path, keyFile
}

// BenchmarkGet is one secret read by a run: a bbolt read transaction, the
// digest check against the manifest and an AES-256-GCM open.
func BenchmarkGet(b *testing.B) {
	path, keyFile := benchVault(b)
	key, _ := ReadKeyFile(keyFile)
	v, err := Open(path, key, Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Get("SECRET_25"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenKeyFile is what a run pays to get at the vault: read the key
// file, open bbolt read-only (shared lock, mmap), check the key, unwrap the
// data key, open the manifest, and close again. Target: 5 ms.
func BenchmarkOpenKeyFile(b *testing.B) {
	path, keyFile := benchVault(b)
	b.ReportAllocs()
	for b.Loop() {
		key, err := ReadKeyFile(keyFile)
		if err != nil {
			b.Fatal(err)
		}
		v, err := Open(path, key, Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		v.Close()
	}
}

// BenchmarkOpenPassphrase is the same with BP_VAULT_PASSPHRASE: dominated
// by argon2id at the RFC 9106 second recommended cost (t=3, 64 MiB, p=4).
func BenchmarkOpenPassphrase(b *testing.B) {
	saved := defaultArgon2
	defaultArgon2 = rfc9106Second
	defer func() { defaultArgon2 = saved }()
	path := filepath.Join(tempDir(b), "vault.db")
	v, err := Create(path, PassphraseKey([]byte("correct horse battery staple")), Options{})
	if err != nil {
		b.Fatal(err)
	}
	v.Close()
	for b.Loop() {
		v, err := Open(path, PassphraseKey([]byte("correct horse battery staple")), Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		v.Close()
	}
}

// BenchmarkSet is one bp vault set: the transaction alone (without fsync
// on tmpfs), and with the Compact every changing vault command runs after
// it (a fresh copy of the 50-secret vault renamed into place, so that the
// replaced value leaves the file).
func BenchmarkSet(b *testing.B) {
	for _, compact := range []bool{false, true} {
		name := "tx"
		if compact {
			name = "tx+compact"
		}
		b.Run(name, func(b *testing.B) {
			path, keyFile := benchVault(b)
			key, _ := ReadKeyFile(keyFile)
			v, err := Open(path, key, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer v.Close()
			value := []byte("a-new-value-0123456789abcdef0123456789")
			for b.Loop() {
				if err := v.Set("SECRET_25", value); err != nil {
					b.Fatal(err)
				}
				if compact {
					if err := v.Compact(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkAEAD compares the chosen AES-256-GCM with XChaCha20-Poly1305,
// the other AEAD SPEC allows, on a typical token (40 B) and a certificate
// sized value (4 KiB).
func BenchmarkAEAD(b *testing.B) {
	key := make([]byte, KeySize)
	rand.Read(key)
	gcm, _ := newAEAD(key)
	xc, _ := chacha20poly1305.NewX(key)
	ad := secretAD(make([]byte, idSize), "SECRET_NAME", 7)
	for _, size := range []int{40, 4096} {
		msg := make([]byte, size)
		b.Run(fmt.Sprintf("op=seal/size=%dB/aead=AES-256-GCM", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				seal(gcm, []byte{formatV1}, msg, ad)
			}
		})
		b.Run(fmt.Sprintf("op=seal/size=%dB/aead=XChaCha20-Poly1305", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				nonce := make([]byte, 1+xc.NonceSize(), 1+xc.NonceSize()+size+xc.Overhead())
				rand.Read(nonce[1:])
				xc.Seal(nonce, nonce[1:], msg, ad)
			}
		})
		sealedGCM := seal(gcm, []byte{formatV1}, msg, ad)
		nonce := make([]byte, xc.NonceSize())
		sealedX := xc.Seal(nil, nonce, msg, ad)
		b.Run(fmt.Sprintf("op=open/size=%dB/aead=AES-256-GCM", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := open(gcm, sealedGCM, 1, ad); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("op=open/size=%dB/aead=XChaCha20-Poly1305", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := xc.Open(nil, nonce, sealedX, ad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNewCipher is building AES-256-GCM for a key: why the Vault
// caches its cipher.AEAD instead of making one per Get.
func BenchmarkNewCipher(b *testing.B) {
	key := make([]byte, KeySize)
	for b.Loop() {
		newAEAD(key)
	}
}
