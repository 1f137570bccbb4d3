//go:build windows

package vault

import (
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
)

// daclOf is the file's access list in SDDL ("D:P(A;;FA;;;S-1-5-...)").
func daclOf(t *testing.T, path string) string {
	t.Helper()
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	return sd.String()
}

// The compacted file keeps an access list set on the vault (here: its user
// and Everyone may read), not the folder's.
func TestCompactKeepsTheAccessList(t *testing.T) {
	v, path, _ := newVault(t)
	mustSet(t, v, "A", "1")
	sd, err := windows.SecurityDescriptorFromString("D:P(A;;FA;;;OW)(A;;FR;;;WD)")
	if err != nil {
		t.Fatal(err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		t.Fatal(err)
	}
	if err := windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil); err != nil {
		t.Fatal(err)
	}
	before := daclOf(t, path)
	if err := v.Compact(); err != nil {
		t.Fatal(err)
	}
	if after := daclOf(t, path); after != before {
		t.Fatalf("access list %s, want %s", after, before)
	}
}

// A key file grants its user alone, and inherits nothing from its folder.
func TestKeyFileIsPrivate(t *testing.T) {
	path := filepath.Join(tempDir(t), "vault.key")
	if err := WriteKeyFile(path, GenerateMasterKey()); err != nil {
		t.Fatal(err)
	}
	dacl := daclOf(t, path)
	if !strings.HasPrefix(dacl, "D:P(") || strings.Count(dacl, "(") != 1 {
		t.Fatalf("key file's access list %s: want one entry, protected", dacl)
	}
}
