package vault

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
)

// File layout (bbolt). Bucket "bp-vault" holds the vault's own records:
//
//	format   one byte, fileFormat; a newer format is refused with ErrNotVault
//	id       16 random bytes, bound into every associated data
//	kdf      how the key-encryption key comes from the master key (kdf.go)
//	check    key check value, HMAC-SHA256(KEK, label|id) (seal.go)
//	datakey  the 32-byte data key sealed under the KEK
//	manifest the index sealed under the data key: per name its version,
//	         created and updated times, and the SHA-256 of its record
//
// Bucket "secrets" maps a name to its record:
//
//	formatV1 | version (uint64 big endian) | nonce | AES-256-GCM(value)
//
// sealed under the data key with associated data (vault id, name, version).
//
// Why a manifest: a per-record AEAD alone cannot see a record replaced by an
// older, genuine ciphertext of the same name (version and all). The manifest
// is sealed, so its versions and digests cannot be edited, and Get refuses
// a record whose digest differs from the manifest's: a value rolled back,
// restored after deletion, or swapped with another name's is ErrTampered.
// Metadata (versions and times) lives only in the manifest and so is
// authenticated too. What this cannot detect is a rollback of the whole file
// to an older copy, which is a consistent older vault; that needs a trusted
// counter outside the file, which bp does not have.
const fileFormat byte = 1

var (
	bucketMeta    = []byte("bp-vault")
	bucketSecrets = []byte("secrets")

	keyFormat   = []byte("format")
	keyID       = []byte("id")
	keyKDF      = []byte("kdf")
	keyCheckVal = []byte("check")
	keyDataKey  = []byte("datakey")
	keyManifest = []byte("manifest")
)

const (
	idSize          = 16
	recordHeaderLen = 1 + 8
)

// entry is one secret's line in the manifest.
type entry struct {
	version          uint64
	created, updated int64 // Unix nanoseconds
	digest           [sha256.Size]byte
}

// manifest maps secret names to their current entries.
type manifest map[string]entry

func (e entry) meta(name string) Meta {
	return Meta{Name: name, Version: e.version, Created: time.Unix(0, e.created).UTC(), Updated: time.Unix(0, e.updated).UTC()}
}

func (m manifest) clone() manifest {
	c := make(manifest, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// marshal encodes m with names in sorted order, so equal manifests encode
// equally.
func (m manifest) marshal() []byte {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	b := binary.AppendUvarint(nil, uint64(len(names)))
	for _, n := range names {
		e := m[n]
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
		b = binary.AppendUvarint(b, e.version)
		b = binary.AppendVarint(b, e.created)
		b = binary.AppendVarint(b, e.updated)
		b = append(b, e.digest[:]...)
	}
	return b
}

var errManifest = errors.New("malformed manifest")

func parseManifest(b []byte) (manifest, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 || count > uint64(len(b)) {
		return nil, errManifest
	}
	b = b[n:]
	m := make(manifest, count)
	// The names are parts of one string: one allocation for all of them.
	text := string(b)
	for range count {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return nil, errManifest
		}
		at := len(text) - len(b) + n
		name := text[at : at+int(l)]
		b = b[n+int(l):]
		var e entry
		if e.version, n = binary.Uvarint(b); n <= 0 {
			return nil, errManifest
		}
		b = b[n:]
		if e.created, n = binary.Varint(b); n <= 0 {
			return nil, errManifest
		}
		b = b[n:]
		if e.updated, n = binary.Varint(b); n <= 0 {
			return nil, errManifest
		}
		b = b[n:]
		if len(b) < sha256.Size {
			return nil, errManifest
		}
		copy(e.digest[:], b)
		b = b[sha256.Size:]
		m[name] = e
	}
	if len(b) != 0 {
		return nil, errManifest
	}
	return m, nil
}

// recordHeader is the plain prefix of a secret record.
func recordHeader(version uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{formatV1}, version)
}

// recordVersion reads the version a record claims; Get compares it with the
// manifest to say "rolled back" rather than just "fails authentication".
func recordVersion(rec []byte) (uint64, error) {
	if len(rec) < recordHeaderLen || rec[0] != formatV1 {
		return 0, fmt.Errorf("malformed record")
	}
	return binary.BigEndian.Uint64(rec[1:]), nil
}
