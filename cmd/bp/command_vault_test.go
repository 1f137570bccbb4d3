package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bprun/bp/vault"
)

// vaultEnv is a bp environment for the vault commands, with its data and
// config directories on tmpfs when there is one (these tests kill processes,
// not machines, and fsync on a busy disk costs tens of milliseconds per
// commit), and without the race detector's one-second sleep at exit.
func vaultEnv(t *testing.T) (e *bpEnv, vaultPath, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "bp-vault-cli-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			dir = d
		}
	}
	e = newBPEnv(t).with(
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"GORACE=atexit_sleep_ms=0",
	)
	return e, filepath.Join(dir, "data", "bp", "vault.db"), filepath.Join(dir, "config", "bp", "vault.key")
}

func wantCode(t *testing.T, r bpResult, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("want exit %d\n%v", code, r)
	}
}

// noLeak fails if value shows up in anything a command printed or was given
// (argv, and the environment, except for the one --from-env run whose
// variable the user set on purpose).
func noLeak(t *testing.T, e *bpEnv, r bpResult, value string) {
	t.Helper()
	forms := []string{value, base64.StdEncoding.EncodeToString([]byte(value))}
	for _, f := range forms {
		if strings.Contains(r.stdout, f) || strings.Contains(r.stderr, f) {
			t.Fatalf("value leaked in output of bp %s\n%v", strings.Join(r.args, " "), r)
		}
		if strings.Contains(strings.Join(r.args, "\x00"), f) {
			t.Fatalf("value in argv of bp %s", strings.Join(r.args, " "))
		}
		if strings.Contains(strings.Join(e.vars, "\x00"), f) {
			t.Fatalf("value in the environment of bp %s", strings.Join(r.args, " "))
		}
	}
}

func TestVaultCLIEndToEnd(t *testing.T) {
	e, path, keyFile := vaultEnv(t)
	const canary = "CANARY-e2e-7f3a9c1d-value"
	const fileCanary = "CANARY-file-\x00\x01bytes\n" // byte for byte, newline kept
	const envCanary = "CANARY-env-5d2e"
	const importCanary = "CANARY-import-\"quoted\""
	var runs []bpResult
	run := func(stdin string, args ...string) bpResult {
		t.Helper()
		r := e.run(stdin, args...)
		runs = append(runs, r)
		return r
	}

	r := run("", "vault", "list")
	wantCode(t, r, 3) // no vault, no key
	r = run("", "vault", "init")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, keyFile) {
		t.Fatalf("init should name the key file\n%v", r)
	}
	for p, mode := range map[string]os.FileMode{path: 0o600, keyFile: 0o600, filepath.Dir(keyFile): 0o700, filepath.Dir(path): 0o700} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != mode {
			t.Fatalf("%s: mode %v, want %v (%v)", p, st.Mode().Perm(), mode, err)
		}
	}
	wantCode(t, run("", "vault", "init"), 3)

	wantCode(t, run(canary+"\n", "vault", "set", "API_KEY"), 0)
	filePath := filepath.Join(e.home, "value.bin")
	os.WriteFile(filePath, []byte(fileCanary), 0o600)
	wantCode(t, run("", "vault", "set", "FILE_KEY", "--from-file", filePath), 0)
	envRun := e.with("MY_SECRET="+envCanary).run("", "vault", "set", "ENV_KEY", "--from-env", "MY_SECRET")
	wantCode(t, envRun, 0)
	runs = append(runs, envRun)
	envFile := filepath.Join(e.home, "x.env")
	os.WriteFile(envFile, []byte("# secrets\nexport IMP_A=\""+strings.ReplaceAll(importCanary, `"`, `\"`)+"\"\nIMP_B=plain-import-value\n"), 0o600)
	r = run("", "vault", "import", envFile)
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "IMP_A, IMP_B") {
		t.Fatalf("import should list the names\n%v", r)
	}
	wantCode(t, run("second-"+canary, "vault", "set", "API_KEY"), 0)

	r = run("", "vault", "list")
	wantCode(t, r, 0)
	for _, n := range []string{"API_KEY", "FILE_KEY", "ENV_KEY", "IMP_A", "IMP_B", "VERSION"} {
		if !strings.Contains(r.stdout, n) {
			t.Fatalf("list lacks %s\n%v", n, r)
		}
	}
	r = run("", "vault", "list", "--json")
	var list []vault.Meta
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 5 || list[0].Name != "API_KEY" || list[0].Version != 2 {
		t.Fatalf("list --json: %v\n%v", err, r)
	}
	r = run("", "vault", "get", "API_KEY")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "version: 2") {
		t.Fatalf("get metadata\n%v", r)
	}

	reveal := map[string]string{"API_KEY": "second-" + canary, "FILE_KEY": fileCanary, "ENV_KEY": envCanary, "IMP_A": importCanary}
	for name, want := range reveal {
		r := e.run("", "vault", "get", name, "--reveal")
		wantCode(t, r, 0)
		if r.stdout != want {
			t.Fatalf("get %s --reveal = %q, want %q", name, r.stdout, want)
		}
	}

	r = run("", "vault", "get", "NOPE")
	wantCode(t, r, 3)
	if !strings.Contains(r.stderr, "NOPE") {
		t.Fatalf("missing secret error should name it\n%v", r)
	}
	wantCode(t, run("", "vault", "get", "bad-name"), 2)
	wantCode(t, run("", "vault", "set", "EMPTY"), 2)
	wantCode(t, run("", "vault", "set", "X", "--from-env", "UNSET_VAR_FOR_TEST"), 2)
	wantCode(t, run("", "vault", "set"), 2)
	r = run("ab", "vault", "set", "SHORT")
	wantCode(t, r, 0)
	if !strings.Contains(r.stderr, "warning") || !strings.Contains(r.stderr, "not masked") {
		t.Fatalf("short value should warn\n%v", r)
	}
	wantCode(t, run("", "vault", "rm", "SHORT"), 0)
	wantCode(t, run("", "vault", "rm", "SHORT"), 3)

	r = run("", "vault", "rotate-key", "--reencrypt")
	wantCode(t, r, 0)
	if _, err := os.Stat(keyFile + ".pending"); !os.IsNotExist(err) {
		t.Fatal("pending key file left behind")
	}
	newKeyFile := filepath.Join(e.home, "next.key")
	nk := vault.GenerateMasterKey()
	vault.WriteKeyFile(newKeyFile, nk)
	wantCode(t, run("", "vault", "rotate-key", "--new-key-file", newKeyFile), 0)
	if a, _ := os.ReadFile(keyFile); !bytes.Equal(a, nk.Encode()) {
		t.Fatal("the key file should hold the key from --new-key-file")
	}
	r = e.run("", "vault", "get", "API_KEY", "--reveal")
	if r.stdout != "second-"+canary {
		t.Fatalf("after rotations: %v", r)
	}
	wantCode(t, run("", "vault", "audit"), 0)

	for _, r := range runs {
		for _, v := range []string{canary, fileCanary, envCanary, importCanary, "plain-import-value"} {
			noLeak(t, e, r, v)
		}
	}
	raw, _ := os.ReadFile(path)
	for _, v := range []string{canary, "CANARY-file", envCanary, "CANARY-import", "plain-import-value"} {
		if bytes.Contains(raw, []byte(v)) {
			t.Fatalf("plaintext %q in the vault file", v)
		}
	}
}

func TestVaultCLIWrongKey(t *testing.T) {
	e, path, _ := vaultEnv(t)
	wantCode(t, e.run("", "vault", "init"), 0)
	wantCode(t, e.run("value-1234", "vault", "set", "A"), 0)
	before, _ := os.ReadFile(path)
	wrong := e.with("BP_VAULT_KEY=" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	for _, args := range [][]string{
		{"vault", "list"}, {"vault", "get", "A", "--reveal"}, {"vault", "rm", "A"},
		{"vault", "rotate-key", "--new-key-file", "/dev/null"},
	} {
		r := wrong.run("", args...)
		if args[1] == "rotate-key" {
			wantCode(t, r, 2) // /dev/null holds no key
			continue
		}
		wantCode(t, r, 3)
		if !strings.Contains(r.stderr, "wrong master key") {
			t.Fatalf("want a wrong-key message\n%v", r)
		}
	}
	wantCode(t, wrong.run("value-5678", "vault", "set", "A"), 3)
	after, _ := os.ReadFile(path)
	if sha256.Sum256(before) != sha256.Sum256(after) {
		t.Fatal("a wrong key changed the vault file")
	}
	// Not a vault.
	notVault := filepath.Join(e.home, "not.db")
	os.WriteFile(notVault, bytes.Repeat([]byte("x"), 8192), 0o600)
	r := e.run("", "vault", "list", "--vault", notVault)
	wantCode(t, r, 3)
	if !strings.Contains(r.stderr, "not a bp vault") {
		t.Fatalf("%v", r)
	}
}

func TestVaultCLIHelp(t *testing.T) {
	e, _, _ := vaultEnv(t)
	for _, sub := range []string{"init", "set", "get", "list", "rm", "import", "rotate-key", "audit"} {
		r := e.run("", "vault", sub, "--help")
		wantCode(t, r, 0)
		if !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "--vault") {
			t.Errorf("bp vault %s --help lacks examples or --vault\n%s", sub, r.stdout)
		}
	}
}

func TestVaultCLIPassphrase(t *testing.T) {
	e, _, keyFile := vaultEnv(t)
	p := e.with("BP_VAULT_PASSPHRASE=correct horse battery staple")
	wantCode(t, p.run("", "vault", "init"), 0)
	if _, err := os.Stat(keyFile); !os.IsNotExist(err) {
		t.Fatal("init with a passphrase must not write a key file")
	}
	wantCode(t, p.run("passphrase-protected", "vault", "set", "A"), 0)
	if r := p.run("", "vault", "get", "A", "--reveal"); r.stdout != "passphrase-protected" {
		t.Fatalf("%v", r)
	}
	// A wrong passphrase is tested in package vault: each try costs an
	// argon2id run, seconds under the race detector.
}

// startBP starts bp without waiting for it.
func startBP(e *bpEnv, stdin string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	cmd := exec.Command(bpBinary, args...)
	cmd.Env = e.vars
	cmd.Dir = e.home
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	return cmd, &out, &errb
}

func TestVaultCLIInitBadKey(t *testing.T) {
	e, path, keyFile := vaultEnv(t)
	r := e.with("BP_VAULT_KEY=not-a-key").run("", "vault", "init")
	wantCode(t, r, 3)
	if !strings.Contains(r.stderr, "BP_VAULT_KEY") {
		t.Fatalf("%v", r)
	}
	for _, p := range []string{path, keyFile} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s created despite a bad key", p)
		}
	}
}

func TestVaultCLILocked(t *testing.T) {
	e, path, keyFile := vaultEnv(t)
	wantCode(t, e.run("", "vault", "init"), 0)
	key, err := vault.ReadKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(path, key, vault.Options{}) // this test process holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for _, args := range [][]string{{"vault", "set", "X"}, {"vault", "list"}} {
		start := time.Now()
		r := e.run("value-1234", append(args, "--lock-timeout", "300ms")...)
		wantCode(t, r, 3)
		if !strings.Contains(r.stderr, "locked") || !strings.Contains(r.stderr, "300ms") {
			t.Fatalf("want a locked error\n%v", r)
		}
		if runtime.GOOS == "linux" && !strings.Contains(r.stderr, fmt.Sprintf("pid %d", os.Getpid())) {
			t.Errorf("the error should name the holder, pid %d\n%v", os.Getpid(), r)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("took %v for a 300ms bound", d)
		}
	}
}

func TestVaultSetFromEndlessFileIsRefused(t *testing.T) {
	env := newBPEnv(t)
	if r := env.run("", "vault", "init"); r.code != 0 {
		t.Fatalf("%v", r)
	}
	if r := env.run("", "vault", "set", "BIG", "--from-file", "/dev/zero"); r.code != 2 || !strings.Contains(r.stderr, "more than the") {
		t.Errorf("%v", r)
	}
}

// What a vault command replaces or removes leaves the file: an old value's
// ciphertext after set and rm, the old wrapping of the data key (which the
// old master key opens) after rotate-key.
func TestVaultCLIChangesLeaveNothingBehind(t *testing.T) {
	e, path, _ := vaultEnv(t)
	raw := func(bucket, key string) []byte {
		t.Helper()
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var out []byte
		db.View(func(tx *bolt.Tx) error {
			out = bytes.Clone(tx.Bucket([]byte(bucket)).Get([]byte(key)))
			return nil
		})
		if out == nil {
			t.Fatalf("no %s/%s", bucket, key)
		}
		return out
	}
	gone := func(what string, b []byte) {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, b) {
			t.Fatalf("%s is still in the vault file", what)
		}
	}
	wantCode(t, e.run("", "vault", "init"), 0)
	wantCode(t, e.run("first-value\n", "vault", "set", "API_KEY"), 0)
	first := raw("secrets", "API_KEY")
	wantCode(t, e.run("second-value\n", "vault", "set", "API_KEY"), 0)
	gone("the replaced value's ciphertext", first)

	wrapped := raw("bp-vault", "datakey")
	wantCode(t, e.run("", "vault", "rotate-key"), 0)
	gone("the old wrapping of the data key", wrapped)

	second := raw("secrets", "API_KEY")
	wantCode(t, e.run("", "vault", "rm", "API_KEY"), 0)
	gone("the removed value's ciphertext", second)
	wantCode(t, e.run("", "vault", "list"), 0)
}

// Two vaults on the default key file: rotate-key on one refuses to rewrite
// the file (the other would be locked out) until it gets a key file of its
// own with --key-file-out.
func TestVaultCLISharedKeyFile(t *testing.T) {
	e, path, keyFile := vaultEnv(t)
	project := filepath.Join(filepath.Dir(path), "project.db")
	wantCode(t, e.run("", "vault", "init"), 0)
	wantCode(t, e.run("", "vault", "init", "--vault", project), 0)
	wantCode(t, e.run("value-main\n", "vault", "set", "MAIN"), 0)
	wantCode(t, e.run("value-proj\n", "vault", "set", "PROJ", "--vault", project), 0)
	keyBefore, _ := os.ReadFile(keyFile)

	r := e.run("", "vault", "rotate-key", "--vault", project)
	wantCode(t, r, 3)
	if !strings.Contains(r.stderr, path) || !strings.Contains(r.stderr, "--key-file-out") {
		t.Fatalf("refusal should name the other vault and the way out\n%v", r)
	}
	if k, _ := os.ReadFile(keyFile); !bytes.Equal(k, keyBefore) {
		t.Fatal("the shared key file changed")
	}

	own := filepath.Join(filepath.Dir(keyFile), "project.key")
	r = e.run("", "vault", "rotate-key", "--vault", project, "--key-file-out", own)
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "BP_VAULT_KEY_FILE="+own) {
		t.Fatalf("should say how to open it now\n%v", r)
	}
	if k, _ := os.ReadFile(keyFile); !bytes.Equal(k, keyBefore) {
		t.Fatal("the shared key file changed")
	}
	if r := e.run("", "vault", "get", "MAIN", "--reveal"); r.stdout != "value-main" {
		t.Fatalf("the other vault: %v", r)
	}
	if r := e.with("BP_VAULT_KEY_FILE="+own).run("", "vault", "get", "PROJ", "--reveal", "--vault", project); r.stdout != "value-proj" {
		t.Fatalf("the rotated vault with its own key: %v", r)
	}
	// The default vault is now alone on its key file: it may rotate.
	wantCode(t, e.run("", "vault", "rotate-key"), 0)
	if r := e.run("", "vault", "get", "MAIN", "--reveal"); r.stdout != "value-main" {
		t.Fatalf("after rotating the default vault: %v", r)
	}
}
