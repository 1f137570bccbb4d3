package vault

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSetGetListDelete(t *testing.T) {
	v, path, key := newVault(t)
	before := time.Now()
	mustSet(t, v, "API_KEY", "first")
	mustSet(t, v, "_other1", "x")
	mustSet(t, v, "API_KEY", "second")
	if got := mustGet(t, v, "API_KEY"); got != "second" {
		t.Fatalf("Get = %q", got)
	}
	m, err := v.Meta("API_KEY")
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 2 || m.Created.Before(before.Add(-time.Second)) || m.Updated.Before(m.Created) {
		t.Fatalf("Meta = %+v", m)
	}
	list, err := v.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "API_KEY" || list[1].Name != "_other1" || list[1].Version != 1 {
		t.Fatalf("List = %+v", list)
	}
	if err := v.Delete("_other1"); err != nil {
		t.Fatal(err)
	}
	_, err = v.Get("_other1")
	wantErr(t, err, ErrNotFound)
	if !strings.Contains(err.Error(), "_other1") || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q should name the secret and the file", err)
	}
	wantErr(t, v.Delete("_other1"), ErrNotFound)

	// Persisted, and readable read-only.
	v.Close()
	r := reopen(t, path, key, Options{ReadOnly: true})
	if got := mustGet(t, r, "API_KEY"); got != "second" {
		t.Fatalf("after reopen Get = %q", got)
	}
	wantErr(t, r.Set("X", []byte("y")), ErrReadOnly)
	if r.ID() != v.ID() || len(r.ID()) != 36 {
		t.Fatalf("ID %q vs %q", r.ID(), v.ID())
	}
	r.Close()
	_, err = r.Get("API_KEY")
	wantErr(t, err, ErrClosed)
}

func TestInvalidNames(t *testing.T) {
	v, _, _ := newVault(t)
	for _, n := range []string{"", "1A", "A-B", "A B", "sk-live-abcdef", "é", "A.B"} {
		err := v.Set(n, []byte("value"))
		wantErr(t, err, ErrInvalidName)
		if n != "" && strings.Contains(err.Error(), n) {
			t.Errorf("error %q echoes the bad name", err)
		}
		_, err = v.Get(n)
		wantErr(t, err, ErrInvalidName)
	}
	for _, n := range []string{"A", "_", "a_1", "ABC_DEF9"} {
		if !ValidName(n) {
			t.Errorf("ValidName(%q) = false", n)
		}
	}
	// Import checks every name before writing anything.
	err := v.Import(map[string][]byte{"GOOD": []byte("v"), "BAD-1": []byte("w")})
	wantErr(t, err, ErrInvalidName)
	if l, _ := v.List(); len(l) != 0 {
		t.Fatalf("Import wrote %v despite a bad name", l)
	}
}

func TestImportIsOneTransaction(t *testing.T) {
	v, _, _ := newVault(t)
	if err := v.Import(map[string][]byte{"A": []byte("1"), "B": []byte("2"), "C": []byte("3")}); err != nil {
		t.Fatal(err)
	}
	for n, want := range map[string]string{"A": "1", "B": "2", "C": "3"} {
		if got := mustGet(t, v, n); got != want {
			t.Fatalf("%s = %q", n, got)
		}
	}
	err := v.Import(map[string][]byte{"A": []byte("x"), "BIG": make([]byte, MaxValueSize+1)})
	if err == nil {
		t.Fatal("oversized value accepted")
	}
	if got := mustGet(t, v, "A"); got != "1" {
		t.Fatalf("A = %q after failed import", got)
	}
}

func TestFileModes(t *testing.T) {
	_, path, _ := newVault(t)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("vault mode %v, want 0600", st.Mode().Perm())
	}
	dst, _ := os.Stat(filepath.Dir(path))
	if dst.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", dst.Mode().Perm())
	}
	_, err = Create(path, GenerateMasterKey(), Options{})
	wantErr(t, err, fs.ErrExist)
}

// TestNoPlaintextInFile writes distinctive values, overwrites, deletes,
// imports and re-encrypts them, then looks for every one of them in the raw
// bytes of the file, free pages included. The keys must not be there either.
func TestNoPlaintextInFile(t *testing.T) {
	v, path, key := newVault(t)
	var canaries []string
	c := func(i int, tag string) string {
		s := "CANARY-" + tag + "-" + strings.Repeat(string(rune('a'+i%26)), 12) + "-END"
		canaries = append(canaries, s)
		return s
	}
	for i := range 20 {
		mustSet(t, v, "S"+string(rune('A'+i)), c(i, "set"))
	}
	for i := range 20 {
		mustSet(t, v, "S"+string(rune('A'+i)), c(i, "update"))
	}
	for i := range 10 {
		if err := v.Delete("S" + string(rune('A'+i))); err != nil {
			t.Fatal(err)
		}
	}
	imp := map[string][]byte{}
	for i := range 5 {
		imp["IMP"+string(rune('A'+i))] = []byte(c(i, "import"))
	}
	if err := v.Import(imp); err != nil {
		t.Fatal(err)
	}
	dek := bytes.Clone(v.dek)
	if err := v.RotateKey(GenerateMasterKey(), RotateOptions{Reencrypt: true}); err != nil {
		t.Fatal(err)
	}
	newDEK := bytes.Clone(v.dek)
	v.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range canaries {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("plaintext value %q found in the vault file", s)
		}
		if bytes.Contains(raw, []byte(s[:16])) {
			t.Errorf("part of plaintext value %q found in the vault file", s)
		}
	}
	for name, k := range map[string][]byte{"master key": key.raw, "old data key": dek, "data key": newDEK, "master key base64": key.Encode()[:40]} {
		if bytes.Contains(raw, k) {
			t.Errorf("%s found in the vault file", name)
		}
	}
}

func TestCloseZeroesDataKey(t *testing.T) {
	v, _, _ := newVault(t)
	dek := v.dek
	if bytes.Equal(dek, make([]byte, KeySize)) {
		t.Fatal("data key is zero while open")
	}
	v.Close()
	if !bytes.Equal(dek, make([]byte, KeySize)) {
		t.Fatal("Close did not zero the data key")
	}
	if err := v.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

func TestWrongKeyChangesNothing(t *testing.T) {
	v, path, _ := newVault(t)
	mustSet(t, v, "A", "value-a")
	v.Close()
	sum := fileHash(t, path)
	for _, ro := range []bool{false, true} {
		_, err := Open(path, GenerateMasterKey(), Options{ReadOnly: ro})
		wantErr(t, err, ErrWrongKey)
		if !strings.Contains(err.Error(), "wrong master key") || !strings.Contains(err.Error(), path) {
			t.Errorf("error %q", err)
		}
	}
	_, err := Open(path, PassphraseKey([]byte("guess")), Options{})
	wantErr(t, err, ErrWrongKey)
	if fileHash(t, path) != sum {
		t.Fatal("opening with a wrong key changed the file")
	}
}

func TestPassphrase(t *testing.T) {
	path := filepath.Join(tempDir(t), "vault.db")
	v, err := Create(path, PassphraseKey([]byte("correct horse")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, v, "A", "value-a")
	v.Close()
	r := reopen(t, path, PassphraseKey([]byte("correct horse")), Options{ReadOnly: true})
	if got := mustGet(t, r, "A"); got != "value-a" {
		t.Fatalf("Get = %q", got)
	}
	r.Close()
	_, err = Open(path, PassphraseKey([]byte("wrong horse")), Options{})
	wantErr(t, err, ErrWrongKey)
	_, err = Open(path, GenerateMasterKey(), Options{})
	wantErr(t, err, ErrWrongKey)
	if !strings.Contains(err.Error(), "BP_VAULT_PASSPHRASE") {
		t.Errorf("error %q should hint at the passphrase", err)
	}
}

func TestNotAVault(t *testing.T) {
	dir := tempDir(t)
	key := GenerateMasterKey()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := map[string]string{
		"text":  write("text", []byte(strings.Repeat("hello vault\n", 1000))),
		"empty": write("empty", nil),
		"zeros": write("zeros", make([]byte, 64<<10)),
	}
	// A valid bbolt file that is not a vault.
	other := filepath.Join(dir, "other.db")
	putRawCreate(t, other)
	cases["bbolt"] = other
	for name, p := range cases {
		for _, ro := range []bool{false, true} {
			before := fileHash(t, p)
			_, err := Open(p, key, Options{ReadOnly: ro, LockTimeout: 100 * time.Millisecond})
			if !errors.Is(err, ErrNotVault) {
				t.Errorf("%s (ro=%v): error %v, want ErrNotVault", name, ro, err)
			}
			if fileHash(t, p) != before {
				t.Errorf("%s: Open changed the file", name)
			}
		}
	}
	_, err := Open(filepath.Join(dir, "missing.db"), key, Options{ReadOnly: true})
	wantErr(t, err, fs.ErrNotExist)
	_, err = Open(filepath.Join(dir, "missing.db"), key, Options{})
	wantErr(t, err, fs.ErrNotExist)
	v, err := Open(filepath.Join(dir, "new", "made.db"), key, Options{CreateIfMissing: true})
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	// A vault from a future bp.
	putRaw(t, filepath.Join(dir, "new", "made.db"), bucketMeta, keyFormat, []byte{fileFormat + 1})
	_, err = Open(filepath.Join(dir, "new", "made.db"), key, Options{})
	wantErr(t, err, ErrNotVault)
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("error %q should say the format is newer", err)
	}
}

func TestLocked(t *testing.T) {
	v, path, key := newVault(t) // holds the exclusive lock
	start := time.Now()
	_, err := Open(path, key, Options{LockTimeout: 200 * time.Millisecond})
	wantErr(t, err, ErrLocked)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("waited %v for a 200ms lock timeout", d)
	}
	if !strings.Contains(err.Error(), "pid ") || !strings.Contains(err.Error(), "write lock") {
		t.Logf("lock error does not name the holder: %v", err) // only Linux can tell
	}
	_, err = Open(path, key, Options{ReadOnly: true, LockTimeout: 100 * time.Millisecond})
	wantErr(t, err, ErrLocked)
	v.Close()

	// Readers share the lock, and keep a writer out.
	r1 := reopen(t, path, key, Options{ReadOnly: true})
	r2 := reopen(t, path, key, Options{ReadOnly: true})
	_, err = Open(path, key, Options{LockTimeout: 100 * time.Millisecond})
	wantErr(t, err, ErrLocked)
	if !strings.Contains(err.Error(), "read lock") {
		t.Logf("lock error does not name the readers: %v", err)
	}
	r1.Close()
	r2.Close()
	w := reopen(t, path, key, Options{})
	w.Close()
}

func TestResolveKey(t *testing.T) {
	dir := tempDir(t)
	k1, k2 := GenerateMasterKey(), GenerateMasterKey()
	kf := filepath.Join(dir, "k1.key")
	if err := WriteKeyFile(kf, k1); err != nil {
		t.Fatal(err)
	}
	wantErr(t, WriteKeyFile(kf, k2), fs.ErrExist)
	if st, _ := os.Stat(kf); st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", st.Mode().Perm())
	}
	defKey := filepath.Join(dir, "cfg", "bp", "vault.key")
	if err := WriteKeyFile(defKey, k2); err != nil {
		t.Fatal(err)
	}
	envOf := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}
	base := map[string]string{"HOME": "/home/u", "XDG_CONFIG_HOME": filepath.Join(dir, "cfg")}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range base {
			m[a] = b
		}
		m[k] = v
		return m
	}
	check := func(env map[string]string, want []byte, source string) {
		t.Helper()
		k, err := ResolveKey(envOf(env))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(k.raw, want) || !strings.Contains(k.Source(), source) {
			t.Fatalf("got key from %q", k.Source())
		}
	}
	check(with(EnvKey, string(bytes.TrimSpace(k1.Encode()))), k1.raw, EnvKey)
	check(with(EnvKeyFile, kf), k1.raw, kf)
	check(base, k2.raw, defKey)
	k, err := ResolveKey(envOf(with(EnvPassphrase, "pw")))
	if err != nil || !k.IsPassphrase() || k.Source() != EnvPassphrase {
		t.Fatalf("passphrase: %v %v", k.Source(), err)
	}
	_, err = ResolveKey(envOf(map[string]string{"HOME": dir}))
	wantErr(t, err, ErrNoKey)
	_, err = ResolveKey(envOf(with(EnvKey, "not base64 and secret")))
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("bad BP_VAULT_KEY: %v", err)
	}

	p, _ := DefaultPath(envOf(map[string]string{"HOME": "/h"}))
	if p != "/h/.local/share/bp/vault.db" {
		t.Fatal(p)
	}
	p, _ = DefaultPath(envOf(map[string]string{"HOME": "/h", "XDG_DATA_HOME": "/d"}))
	if p != "/d/bp/vault.db" {
		t.Fatal(p)
	}
	p, _ = DefaultPath(envOf(map[string]string{"HOME": "/h", EnvVault: "/x.db"}))
	if p != "/x.db" {
		t.Fatal(p)
	}
	p, _ = DefaultKeyFile(envOf(map[string]string{"HOME": "/h", "XDG_CONFIG_HOME": "rel"}))
	if p != "/h/.config/bp/vault.key" {
		t.Fatal(p)
	}
	p, _ = DefaultKeyFile(envOf(map[string]string{"USERPROFILE": "/u"}))
	if p != filepath.Join("/u", ".config", "bp", "vault.key") {
		t.Fatal(p)
	}
	if _, err := DefaultPath(envOf(nil)); err == nil {
		t.Fatal("no HOME: want an error")
	}
}

func TestParseKey(t *testing.T) {
	k := GenerateMasterKey()
	enc := k.Encode()
	for _, in := range [][]byte{enc, bytes.TrimSpace(enc), bytes.TrimRight(bytes.TrimSpace(enc), "=")} {
		got, err := ParseKey(in)
		if err != nil || !bytes.Equal(got.raw, k.raw) {
			t.Fatalf("ParseKey(%q): %v", in, err)
		}
	}
	if _, err := ParseKey([]byte("c2hvcnQ=")); err == nil {
		t.Fatal("short key accepted")
	}
	k.Zero()
	if !bytes.Equal(k.raw, make([]byte, KeySize)) {
		t.Fatal("Zero did not clear the key")
	}
}

func TestOpenEnv(t *testing.T) {
	dir := tempDir(t)
	key := GenerateMasterKey()
	env := map[string]string{"HOME": dir, EnvKey: string(bytes.TrimSpace(key.Encode()))}
	getenv := func(k string) string { return env[k] }
	_, err := OpenEnv("", getenv, Options{ReadOnly: true})
	wantErr(t, err, fs.ErrNotExist)
	v, err := OpenEnv("", getenv, Options{CreateIfMissing: true})
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, v, "A", "a")
	if v.Path() != filepath.Join(dir, ".local/share/bp/vault.db") {
		t.Fatal(v.Path())
	}
	v.Close()
	v, err = OpenEnv("", getenv, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if !v.ReadOnly() || mustGet(t, v, "A") != "a" {
		t.Fatal("OpenEnv read-only")
	}
}

func TestReadOnlyChangesNothing(t *testing.T) {
	v, path, key := newVault(t)
	mustSet(t, v, "A", "value-a")
	v.Close()
	sum := fileHash(t, path)
	r := reopen(t, path, key, Options{ReadOnly: true})
	got, _ := r.Get("A")
	clear(got) // the caller owns the copy
	if mustGet(t, r, "A") != "value-a" {
		t.Fatal("Get returned shared memory")
	}
	r.List()
	r.Close()
	if fileHash(t, path) != sum {
		t.Fatal("a read-only open changed the file")
	}
}
