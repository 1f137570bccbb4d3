package vault

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DefaultLockTimeout is how long Open waits for the file lock when
// Options.LockTimeout is zero. Writers hold the lock for milliseconds (the
// CLI reads a value before it opens the vault), so a longer wait means a
// stuck process, which the error then names.
const DefaultLockTimeout = 5 * time.Second

// MaxValueSize bounds a secret value. Secrets are tokens and keys; a larger
// value is almost certainly a mistake (a whole file piped by accident).
const MaxValueSize = 1 << 20

// Options control Open.
type Options struct {
	// ReadOnly opens the vault with a shared lock, as runs do: any number of
	// read-only opens coexist, and they exclude writers. Without ReadOnly the
	// lock is exclusive.
	ReadOnly bool

	// LockTimeout bounds the wait for the lock; zero means
	// DefaultLockTimeout. When it passes, Open returns ErrLocked naming the
	// process that holds the lock where the OS tells (Linux).
	LockTimeout time.Duration

	// CreateIfMissing makes Open create the vault (as Create) when the file
	// does not exist. Ignored with ReadOnly: a run never creates a vault.
	CreateIfMissing bool
}

// Meta is what may be shown about a secret: never its value.
type Meta struct {
	Name    string    `json:"name"`
	Version uint64    `json:"version"` // 1 for the first Set, +1 for each later Set
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Vault is an open vault file. Its methods are safe for concurrent use.
// A read-only Vault sees a stable file for as long as it is open (writers
// need the exclusive lock), so it reads the manifest once, at Open.
type Vault struct {
	path     string
	readOnly bool

	mu    sync.RWMutex
	db    *bolt.DB // nil after Close
	id    []byte
	dek   []byte      // the data key; zeroed on Close
	aead  cipher.AEAD // AES-256-GCM under dek
	index manifest    // authenticated metadata, as of the last commit; replaced, never changed in place (Snapshot shares it)
}

// Path is the vault file's path.
func (v *Vault) Path() string { return v.path }

// ID is the vault's random identifier (a UUID), bound into every sealed
// record so that records cannot be moved between vaults.
func (v *Vault) ID() string {
	u, err := uuid.FromBytes(v.id)
	if err != nil {
		return fmt.Sprintf("%x", v.id)
	}
	return u.String()
}

// ReadOnly reports whether the vault was opened read-only.
func (v *Vault) ReadOnly() bool { return v.readOnly }

// Create makes a new vault at path with a random data key wrapped by key.
// The parent directory is created with mode 0700 if missing and the file with
// 0600. It fails with fs.ErrExist if path exists. With a passphrase key the
// argon2id salt and cost are stored in the file.
//
// The vault is built in a temporary file and hard-linked into place, so a
// vault file is never seen empty or half made, and of two processes creating
// the same vault at once one wins and the other gets fs.ErrExist.
func Create(path string, key MasterKey, opts Options) (*Vault, error) {
	if key.IsZero() {
		return nil, ErrNoKey
	}
	if opts.ReadOnly {
		return nil, fmt.Errorf("vault %s: cannot create read-only", path)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("vault %s: %w", path, err)
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("vault %s: %w", path, fs.ErrExist)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".new*")
	if err != nil {
		return nil, fmt.Errorf("vault %s: %w", path, err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpName) // after the link, only the temporary name goes
	db, err := openBolt(tmpName, opts)
	if err != nil {
		return nil, err
	}
	v, err := initVault(db, path, key)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("vault %s: creating: %w", path, err)
	}
	// Still holding the exclusive lock (flock follows the inode), publish it.
	if err := os.Link(tmpName, path); err != nil {
		v.Close()
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("vault %s: %w", path, fs.ErrExist)
		}
		return nil, fmt.Errorf("vault %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		v.Close()
		return nil, fmt.Errorf("vault %s: %w", path, err)
	}
	noteKeyUser(key, path)
	return v, nil
}

// initVault writes a new vault's records into the empty bbolt db.
func initVault(db *bolt.DB, path string, key MasterKey) (*Vault, error) {
	id, _ := uuid.New().MarshalBinary()
	kdf := newKDF(key)
	kdfRec := kdf.marshal()
	kek, err := deriveKEK(key, kdf)
	if err != nil {
		return nil, err
	}
	defer clear(kek)
	kekAEAD, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	v := &Vault{path: path, db: db, id: id, dek: make([]byte, KeySize), index: manifest{}}
	_, _ = rand.Read(v.dek)
	if v.aead, err = newAEAD(v.dek); err != nil {
		return nil, err
	}
	err = update(db, func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketSecrets); err != nil {
			return err
		}
		for _, kv := range [][2][]byte{
			{keyFormat, {fileFormat}},
			{keyID, id},
			{keyKDF, kdfRec},
			{keyCheckVal, keyCheck(kek, id)},
			{keyDataKey, seal(kekAEAD, []byte{formatV1}, v.dek, dataKeyAD(id, kdfRec))},
			{keyManifest, seal(v.aead, []byte{formatV1}, v.index.marshal(), manifestAD(id))},
		} {
			if err := meta.Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		v.wipe()
		return nil, err
	}
	return v, nil
}

// Open opens the vault at path with key. It checks the key (ErrWrongKey,
// changing nothing), unwraps the data key and reads the authenticated
// manifest. If key came from a key file and does not fit, Open also tries
// that file's pending key, left by a rotate-key interrupted between its
// commit and the rename of the new key file (see RotateKey); a read-write
// Open then finishes the rename.
func Open(path string, key MasterKey, opts Options) (*Vault, error) {
	if key.IsZero() {
		return nil, ErrNoKey
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if opts.CreateIfMissing && !opts.ReadOnly {
			v, err := Create(path, key, opts)
			if !errors.Is(err, fs.ErrExist) {
				return v, err
			}
			// Another process created it first: open theirs.
			opts.CreateIfMissing = false
			return Open(path, key, opts)
		}
		return nil, fmt.Errorf("vault %s does not exist (create it with 'bp vault init'): %w", path, fs.ErrNotExist)
	case err != nil:
		return nil, fmt.Errorf("vault %s: %w", path, err)
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("vault %s: not a regular file: %w", path, ErrNotVault)
	case st.Size() == 0:
		// bbolt would silently initialise an empty file opened for writing.
		return nil, fmt.Errorf("vault %s: empty file: %w", path, ErrNotVault)
	}
	db, err := openBolt(path, opts)
	if err != nil {
		return nil, err
	}
	v := &Vault{path: path, readOnly: opts.ReadOnly, db: db}
	if err := v.load(key); err != nil {
		db.Close()
		v.wipe()
		return nil, err
	}
	if !opts.ReadOnly {
		// Not for runs: a run's open stays a read of the vault alone (this
		// costs 30 µs, +44%, and a file in the config directory).
		noteKeyUser(key, path)
	}
	return v, nil
}

// noteKeyUser notes that the vault at path opens with key's key file (see
// SharedKeyFile), when the key came from one. Failing to note it (a
// read-only config directory) fails nothing.
func noteKeyUser(key MasterKey, path string) {
	if key.File() != "" {
		_ = RecordKeyUser(key.File(), path)
	}
}

// openBolt opens the bbolt file with the lock the options ask for and maps
// bbolt's errors to ours. A file that Compact replaced while this waited
// for its lock is no longer the one at path: then it opens path again.
func openBolt(path string, opts Options) (*bolt.DB, error) {
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	for attempt := 0; ; attempt++ {
		var file *os.File
		db, err := safeBoltOpen(path, &bolt.Options{
			ReadOnly: opts.ReadOnly, Timeout: timeout,
			OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
				f, err := os.OpenFile(name, flag, mode)
				file = f
				if err == nil && openedHook != nil {
					openedHook(name)
				}
				return f, err
			},
		})
		if err != nil {
			return nil, boltOpenError(path, opts, timeout, err)
		}
		if replaced(path, file) {
			// A file no path leads to: writes to it would be lost.
			db.Close()
			if attempt == maxReplacedRetries {
				return nil, fmt.Errorf("vault %s: the file was replaced %d times while waiting for its lock: %w", path, attempt+1, ErrLocked)
			}
			continue
		}
		return db, nil
	}
}

// openedHook, when set (by tests), is called once openBolt has opened a
// file and before bbolt waits for its lock.
var openedHook func(path string)

// replaced reports whether path no longer names the file f (Compact
// renamed a new file over it).
func replaced(path string, f *os.File) bool {
	held, err1 := f.Stat()
	now, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && !os.SameFile(held, now)
}

func boltOpenError(path string, opts Options, timeout time.Duration, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return lockedError(path, opts.ReadOnly, timeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return fmt.Errorf("vault %s: %v: %w", path, err, ErrNotVault)
	default:
		return fmt.Errorf("vault %s: %w", path, err)
	}
}

// safeBoltOpen is bolt.Open, which reads the meta and freelist pages, with
// a corrupt file's panic or fault turned into ErrNotVault (as view does).
func safeBoltOpen(path string, opts *bolt.Options) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%v: %w", r, ErrNotVault)
		}
	}()
	return bolt.Open(path, 0o600, opts)
}

// header is the vault's own records, read once at Open.
type header struct {
	format  []byte
	id      []byte
	kdf     []byte
	check   []byte
	dataKey []byte
	man     []byte
}

func (v *Vault) load(key MasterKey) error {
	var h header
	err := view(v.db, func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil || tx.Bucket(bucketSecrets) == nil {
			return ErrNotVault
		}
		for _, f := range []struct {
			dst *[]byte
			key []byte
		}{{&h.format, keyFormat}, {&h.id, keyID}, {&h.kdf, keyKDF}, {&h.check, keyCheckVal}, {&h.dataKey, keyDataKey}, {&h.man, keyManifest}} {
			*f.dst = slices.Clone(meta.Get(f.key))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("vault %s: %w", v.path, err)
	}
	if len(h.format) != 1 || h.format[0] != fileFormat {
		if len(h.format) == 1 && h.format[0] > fileFormat {
			return fmt.Errorf("vault %s: format %d is newer than this bp knows (%d); upgrade bp: %w", v.path, h.format[0], fileFormat, ErrNotVault)
		}
		return fmt.Errorf("vault %s: bad format record: %w", v.path, ErrNotVault)
	}
	if len(h.id) != idSize || len(h.check) != sha256.Size || h.dataKey == nil || h.man == nil {
		return fmt.Errorf("vault %s: missing key records: %w", v.path, ErrNotVault)
	}
	kdf, err := parseKDF(h.kdf)
	if err != nil {
		return fmt.Errorf("vault %s: %w", v.path, err)
	}
	v.id = h.id

	kek, err := v.findKEK(key, kdf, h.check)
	if err != nil {
		return err
	}
	defer clear(kek)
	kekAEAD, err := newAEAD(kek)
	if err != nil {
		return err
	}
	if v.dek, err = open(kekAEAD, h.dataKey, 1, dataKeyAD(h.id, h.kdf)); err != nil || len(v.dek) != KeySize {
		// The key check matched, so the key is right and the record is bad.
		return fmt.Errorf("vault %s: data key record %w", v.path, ErrTampered)
	}
	if v.aead, err = newAEAD(v.dek); err != nil {
		return err
	}
	plain, err := open(v.aead, h.man, 1, manifestAD(h.id))
	if err != nil {
		return fmt.Errorf("vault %s: manifest %w", v.path, ErrTampered)
	}
	if v.index, err = parseManifest(plain); err != nil {
		return fmt.Errorf("vault %s: %v: %w", v.path, err, ErrNotVault)
	}
	return nil
}

// findKEK derives the key-encryption key and checks it against the stored
// key check value, falling back to a pending key file (see RotateKey).
func (v *Vault) findKEK(key MasterKey, kdf kdfParams, check []byte) ([]byte, error) {
	kek, err := deriveKEK(key, kdf)
	if err != nil {
		return nil, fmt.Errorf("vault %s: key from %s: %w", v.path, key.Source(), err)
	}
	if subtle.ConstantTimeCompare(keyCheck(kek, v.id), check) == 1 {
		return kek, nil
	}
	clear(kek)
	if key.file != "" {
		pending := pendingKeyPath(key.file)
		if pk, err := ReadKeyFile(pending); err == nil {
			kek, err := deriveKEK(pk, kdf)
			pk.Zero()
			if err == nil && subtle.ConstantTimeCompare(keyCheck(kek, v.id), check) == 1 {
				if !v.readOnly {
					if err := installPendingKey(key.file); err != nil {
						clear(kek)
						return nil, fmt.Errorf("vault %s: opens only with the pending key %s, which could not be moved into place: %w", v.path, pending, err)
					}
				}
				return kek, nil
			}
			clear(kek)
		}
	}
	hint := ""
	if kdf.alg == kdfArgon2id && !key.IsPassphrase() {
		hint = " (this vault is protected by a passphrase: set BP_VAULT_PASSPHRASE)"
	}
	return nil, fmt.Errorf("vault %s: key from %s does not open it%s: %w", v.path, key.Source(), hint, ErrWrongKey)
}

// Close releases the lock and zeroes the data key. The AES key schedule
// inside crypto/aes cannot be cleared from outside; Close drops the last
// reference to it.
func (v *Vault) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.db == nil {
		return nil
	}
	err := v.db.Close()
	v.db = nil
	v.wipe()
	return err
}

func (v *Vault) wipe() {
	clear(v.dek)
	v.dek, v.aead, v.index = nil, nil, nil
}

// Get returns a copy of the value of secret name; the caller may zero it.
// It fails with ErrNotFound if there is none, and with ErrTampered if the
// stored record does not authenticate or is not the one the manifest names.
func (v *Vault) Get(name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("vault %s: %w", v.path, err)
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.db == nil {
		return nil, fmt.Errorf("vault %s: %w", v.path, ErrClosed)
	}
	e, ok := v.index[name]
	if !ok {
		return nil, fmt.Errorf("vault %s: secret %s: %w", v.path, name, ErrNotFound)
	}
	var value []byte
	err := view(v.db, func(tx *bolt.Tx) error {
		var err error
		value, err = v.openRecord(name, e, tx.Bucket(bucketSecrets).Get([]byte(name)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("vault %s: secret %s: %w", v.path, name, err)
	}
	return value, nil
}

// openRecord authenticates rec against the manifest entry e and decrypts it.
func (v *Vault) openRecord(name string, e entry, rec []byte) ([]byte, error) {
	return openRecord(v.aead, v.id, name, e, rec)
}

// openRecord authenticates rec, the record of secret name in the vault
// with id, against its manifest entry e and decrypts it with a.
func openRecord(a cipher.AEAD, id []byte, name string, e entry, rec []byte) ([]byte, error) {
	if rec == nil {
		return nil, fmt.Errorf("record is missing: %w", ErrTampered)
	}
	ver, err := recordVersion(rec)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrTampered)
	}
	if sha256.Sum256(rec) != e.digest {
		if ver < e.version {
			return nil, fmt.Errorf("record is version %d, the manifest says %d (rolled back): %w", ver, e.version, ErrTampered)
		}
		return nil, fmt.Errorf("record is not the one the manifest names: %w", ErrTampered)
	}
	value, err := open(a, rec, recordHeaderLen, secretAD(id, name, e.version))
	if err != nil {
		return nil, fmt.Errorf("value %w", ErrTampered)
	}
	return value, nil
}

// Meta returns the metadata of secret name.
func (v *Vault) Meta(name string) (Meta, error) {
	if err := checkName(name); err != nil {
		return Meta{}, fmt.Errorf("vault %s: %w", v.path, err)
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.db == nil {
		return Meta{}, fmt.Errorf("vault %s: %w", v.path, ErrClosed)
	}
	e, ok := v.index[name]
	if !ok {
		return Meta{}, fmt.Errorf("vault %s: secret %s: %w", v.path, name, ErrNotFound)
	}
	return e.meta(name), nil
}

// List returns the metadata of every secret, sorted by name.
func (v *Vault) List() ([]Meta, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.db == nil {
		return nil, fmt.Errorf("vault %s: %w", v.path, ErrClosed)
	}
	out := make([]Meta, 0, len(v.index))
	for n, e := range v.index {
		out = append(out, e.meta(n))
	}
	slices.SortFunc(out, func(a, b Meta) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// view and update run a bbolt transaction and turn what a corrupt file can
// make bbolt do (panic, or read past the memory map: a fault that
// SetPanicOnFault turns into a panic) into ErrNotVault instead of crashing
// the run. bbolt rolls the transaction back on the way out.
func view(db *bolt.DB, fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading the file: %v: %w", r, ErrNotVault)
		}
	}()
	return db.View(fn)
}

func update(db *bolt.DB, fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("writing the file: %v: %w", r, ErrNotVault)
		}
	}()
	return db.Update(fn)
}
