package vault_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/bprun/bp/vault"
)

func TestDeriveIsStableAndSeparatesPurposes(t *testing.T) {
	k := vault.GenerateMasterKey()
	a1, err := k.Derive("checkpoints")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := k.Derive("checkpoints")
	b, _ := k.Derive("other")
	other, _ := vault.GenerateMasterKey().Derive("checkpoints")
	if len(a1) != vault.KeySize || !bytes.Equal(a1, a2) {
		t.Fatal("the same key and purpose derived different keys")
	}
	if bytes.Equal(a1, b) || bytes.Equal(a1, other) {
		t.Fatal("another purpose or master key derived the same key")
	}
	if bytes.Contains(a1, []byte(k.Encode())) {
		t.Fatal("the derived key holds the master key")
	}
	if _, err := vault.PassphraseKey([]byte("pw")).Derive("checkpoints"); !errors.Is(err, vault.ErrCannotDerive) {
		t.Fatalf("passphrase: %v", err)
	}
}
