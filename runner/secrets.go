package runner

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/scrub"
	"github.com/bprun/bp/vault"
)

// vaultSecrets is the vault as runs see it: a snapshot taken when a run
// starts (or, with a Cache, when the vault last changed), so that a long
// run never keeps a writer waiting. A value stays sealed until a run asks
// for it, and is kept once opened; so is, per set of secrets a blueprint
// may see, the scrubber that masks them.
type vaultSecrets struct {
	snap      *vault.Snapshot
	namesOnce sync.Once
	names     []string

	mu     sync.Mutex
	values map[string]string
	sets   map[string]*visibleSet // by visibleKey
	refs   int                    // runs using it, and the Cache while it keeps it
}

// visibleSet is what runs of blueprints that see the same secrets share.
type visibleSet struct {
	once     sync.Once
	scrubber *scrub.Scrubber
}

func newVaultSecrets(snap *vault.Snapshot) *vaultSecrets {
	return &vaultSecrets{snap: snap, values: map[string]string{}, sets: map[string]*visibleSet{}, refs: 1}
}

func (s *vaultSecrets) Secret(ctx context.Context, name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.values[name]; ok {
		return v, nil
	}
	b, err := s.snap.Get(name)
	if errors.Is(err, vault.ErrNotFound) {
		return "", fmt.Errorf("secret %s: %w", name, errors.Join(engine.ErrSecretNotFound, vault.ErrNotFound))
	}
	if err != nil {
		return "", fmt.Errorf("reading secret %s: %w", name, err)
	}
	v := string(b)
	clear(b)
	s.values[name] = v
	return v, nil
}

func (s *vaultSecrets) SecretNames(ctx context.Context) ([]string, error) {
	s.namesOnce.Do(func() { s.names = s.snap.Names() })
	return slices.Clone(s.names), nil
}

func (s *vaultSecrets) acquire() *vaultSecrets {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs++
	return s
}

// release ends one use; the last one drops the values and zeroes the
// snapshot's key.
func (s *vaultSecrets) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refs--; s.refs == 0 {
		s.values, s.sets = nil, nil
		s.snap.Close()
	}
}

// scrubber returns the scrubber that masks the secrets named (all when
// names is nil), built the first time a run needs it.
func (s *vaultSecrets) scrubber(ctx context.Context, names []string) *scrub.Scrubber {
	key := "*" // every secret
	if names != nil {
		key = "=" + strings.Join(names, "\x00") // names cannot hold a NUL
	}
	s.mu.Lock()
	set := s.sets[key]
	if set == nil {
		set = &visibleSet{}
		s.sets[key] = set
	}
	s.mu.Unlock()
	set.once.Do(func() {
		set.scrubber = scrub.New()
		set.scrubber.AddAll(visibleValues(ctx, s, names))
	})
	return set.scrubber
}

// runSecrets returns the secrets a run of prog reads from, having made s
// mask those its blueprint can see (its vault: list, else all) and given
// each to onSecret (when set), and what to call when the run ends.
func (r *Runner) runSecrets(ctx context.Context, prog *engine.Program, s *scrub.Scrubber, onSecret func(string)) (engine.SecretSource, func(), error) {
	names := prog.Blueprint().Vault
	src, release, err := r.registerSecrets(ctx, names, s)
	if err == nil && src != nil && onSecret != nil {
		for _, v := range visibleValues(ctx, src, names) {
			onSecret(v)
		}
	}
	return src, release, err
}

// registerSecrets is runSecrets without onSecret.
func (r *Runner) registerSecrets(ctx context.Context, names []string, s *scrub.Scrubber) (engine.SecretSource, func(), error) {
	if src := r.opts.Secrets; src != nil {
		values := visibleValues(ctx, src, names)
		if r.opts.Cache != nil {
			s.Include(r.opts.Cache.scrubber(values))
		} else {
			s.AddAll(values)
		}
		return src, func() {}, nil
	}
	if r.opts.OpenVault == nil {
		return nil, func() {}, nil
	}
	if r.opts.Cache != nil && r.opts.VaultPath != "" {
		vs, err := r.opts.Cache.vaultSecrets(r.opts.VaultPath, r.opts.OpenVault)
		if err != nil || vs == nil {
			return nil, func() {}, err
		}
		s.Include(vs.scrubber(ctx, names))
		return vs, vs.release, nil
	}
	vs, err := openVaultSecrets(r.opts.OpenVault)
	if err != nil || vs == nil {
		return nil, func() {}, err
	}
	s.AddAll(visibleValues(ctx, vs, names))
	return vs, vs.release, nil
}

// visibleValues returns the values of the secrets named, or of all when
// names is nil. A secret that cannot be read is left out: the engine
// reports it, naming the blueprint.
func visibleValues(ctx context.Context, src engine.SecretSource, names []string) []string {
	if names == nil {
		all, err := src.SecretNames(ctx)
		if err != nil {
			return nil
		}
		names = all
	}
	values := make([]string, 0, len(names))
	for _, n := range names {
		if v, err := src.Secret(ctx, n); err == nil {
			values = append(values, v)
		}
	}
	return values
}

// openVaultSecrets opens the vault, takes a snapshot and closes it.
func openVaultSecrets(open func() (*vault.Vault, error)) (*vaultSecrets, error) {
	v, err := open()
	if err != nil {
		return nil, fmt.Errorf("opening the vault: %w", err)
	}
	if v == nil {
		return nil, nil
	}
	defer v.Close()
	snap, err := v.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("reading the vault: %w", err)
	}
	return newVaultSecrets(snap), nil
}

// Cache keeps what the runs of a long-lived process (bp serve, bp test, a
// program that embeds the runner) would otherwise each redo: the vault's
// snapshot, the secret values runs have opened, and one scrubber per set of
// secrets a run may see, with all their forms (for Options.Secrets, per
// set of values). It lives in memory only; nothing of it is written
// anywhere.
//
// Before each run the Cache checks that the vault file did not change:
// the same file (not one renamed over it), size and modification time, one
// stat. While that time is too recent to tell a later change in the same
// clock tick from none (racyWindow), it compares the vault's generation
// instead (vault.ReadGeneration, no key needed). A change drops every value
// and scrubber of the old vault. Clear drops them all: call it when the
// vault is to be locked away or the process stops. A vault that does not
// open drops them too.
type Cache struct {
	mu    sync.Mutex
	vault *cachedVault

	scrubMu   sync.Mutex
	scrubbers map[[sha256.Size]byte]*cachedScrubber
	order     [][sha256.Size]byte // oldest first
}

// racyWindow is how recent a vault file's modification time may be for
// the Cache to check the vault's generation rather than trust the time:
// file times advance in clock ticks (a few milliseconds), so a change made
// in the same tick as the stat that saw the file could keep the time.
const racyWindow = 2 * time.Second

// maxCachedScrubbers bounds the scrubbers a Cache keeps (the newest).
const maxCachedScrubbers = 32

type cachedVault struct {
	path    string
	info    os.FileInfo // of the file the snapshot was read from
	racy    bool
	gen     string
	secrets *vaultSecrets
}

type cachedScrubber struct {
	once sync.Once
	s    *scrub.Scrubber
}

// NewCache returns an empty Cache.
func NewCache() *Cache {
	return &Cache{scrubbers: map[[sha256.Size]byte]*cachedScrubber{}}
}

// Clear drops every value and scrubber the Cache keeps. Runs in progress
// keep what they use until they end.
func (c *Cache) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clearLocked()
}

func (c *Cache) clearLocked() {
	if c.vault != nil {
		c.vault.secrets.release()
		c.vault = nil
	}
	c.scrubMu.Lock()
	clear(c.scrubbers)
	c.order = nil
	c.scrubMu.Unlock()
}

// vaultSecrets returns the vault at path as a run starting now must see
// it, acquired for the run: the kept snapshot while the file did not
// change, else a new one.
func (c *Cache) vaultSecrets(path string, open func() (*vault.Vault, error)) (*vaultSecrets, error) {
	now := time.Now()
	info, statErr := os.Stat(path) // before reading: a later change shows
	c.mu.Lock()
	defer c.mu.Unlock()
	cv := c.vault
	if cv != nil && cv.path == path && statErr == nil {
		if !cv.racy && sameFile(cv.info, info) {
			return cv.secrets.acquire(), nil
		}
		// The time cannot tell: the vault's generation can, and reading it
		// needs neither the key nor the manifest opened.
		if gen, err := vault.ReadGeneration(path, vault.Options{}); err == nil && gen == cv.gen {
			cv.info, cv.racy = info, now.Sub(info.ModTime()) < racyWindow
			return cv.secrets.acquire(), nil
		}
	}
	v, err := open()
	if err != nil {
		c.clearLocked()
		return nil, fmt.Errorf("opening the vault: %w", err)
	}
	if v == nil {
		c.clearLocked()
		return nil, nil
	}
	defer v.Close()
	gen, err := v.Generation()
	if err != nil {
		c.clearLocked()
		return nil, fmt.Errorf("reading the vault: %w", err)
	}
	racy := statErr != nil || now.Sub(info.ModTime()) < racyWindow
	if cv != nil && cv.path == path && cv.gen == gen {
		cv.info, cv.racy = info, racy
		return cv.secrets.acquire(), nil
	}
	snap, err := v.Snapshot()
	if err != nil {
		c.clearLocked()
		return nil, fmt.Errorf("reading the vault: %w", err)
	}
	c.clearLocked()
	c.vault = &cachedVault{path: path, info: info, racy: racy, gen: gen, secrets: newVaultSecrets(snap)}
	return c.vault.secrets.acquire(), nil
}

func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// scrubber returns the Scrubber that masks values, built once per set of
// values and shared: a run includes it in its own (scrub.Scrubber.Include).
func (c *Cache) scrubber(values []string) *scrub.Scrubber {
	key := valuesKey(values)
	c.scrubMu.Lock()
	e := c.scrubbers[key]
	if e == nil {
		e = &cachedScrubber{}
		c.scrubbers[key] = e
		c.order = append(c.order, key)
		if len(c.order) > maxCachedScrubbers {
			delete(c.scrubbers, c.order[0])
			c.order = c.order[1:]
		}
	}
	c.scrubMu.Unlock()
	e.once.Do(func() {
		s := scrub.New()
		s.AddAll(values)
		e.s = s
	})
	return e.s
}

// valuesKey identifies a set of values, whatever their order.
func valuesKey(values []string) [sha256.Size]byte {
	sorted := slices.Clone(values)
	sort.Strings(sorted)
	h := sha256.New()
	var n [8]byte
	for _, v := range slices.Compact(sorted) {
		binary.BigEndian.PutUint64(n[:], uint64(len(v)))
		h.Write(n[:])
		h.Write([]byte(v))
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key
}

// StaticSecrets is a SecretSource over fixed values: the fake vault of a
// golden-file test case, or a program that keeps secrets elsewhere.
type StaticSecrets map[string]string

func (s StaticSecrets) Secret(ctx context.Context, name string) (string, error) {
	v, ok := s[name]
	if !ok {
		return "", fmt.Errorf("secret %s: %w", name, engine.ErrSecretNotFound)
	}
	return v, nil
}

func (s StaticSecrets) SecretNames(ctx context.Context) ([]string, error) {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}
