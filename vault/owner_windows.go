//go:build windows

package vault

import (
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// keepOwner gives f the owner, group and access list (DACL) of the file at
// path, so that a vault shared with a service account stays readable by it
// and one only its user may read stays so. Windows keeps these in the
// file's security descriptor, not in its mode bits. Giving a file to
// another owner takes a privilege (SeRestorePrivilege): without it, when
// the owners differ, an error.
func keepOwner(f *os.File, path string, _ os.FileInfo) error {
	const what = windows.OWNER_SECURITY_INFORMATION | windows.GROUP_SECURITY_INFORMATION | windows.DACL_SECURITY_INFORMATION
	old, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, what)
	if err != nil {
		return fmt.Errorf("reading the security descriptor of %s: %w", path, err)
	}
	cur, err := windows.GetSecurityInfo(windows.Handle(f.Fd()), windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.GROUP_SECURITY_INFORMATION)
	if err != nil {
		return err
	}
	owner, _, err := old.Owner()
	if err != nil {
		return err
	}
	group, _, err := old.Group()
	if err != nil {
		return err
	}
	curOwner, _, err := cur.Owner()
	if err != nil {
		return err
	}
	curGroup, _, err := cur.Group()
	if err != nil {
		return err
	}
	dacl, _, err := old.DACL()
	if err != nil {
		return err
	}
	control, _, err := old.Control()
	if err != nil {
		return err
	}
	// An access list the old file inherited from its folder stays
	// inherited; one that was set on it (protected) stays as set.
	set := windows.SECURITY_INFORMATION(windows.DACL_SECURITY_INFORMATION | windows.UNPROTECTED_DACL_SECURITY_INFORMATION)
	if control&windows.SE_DACL_PROTECTED != 0 {
		set = windows.DACL_SECURITY_INFORMATION | windows.PROTECTED_DACL_SECURITY_INFORMATION
	}
	if err := windows.SetSecurityInfo(windows.Handle(f.Fd()), windows.SE_FILE_OBJECT, set, nil, nil, dacl, nil); err != nil {
		return fmt.Errorf("keeping the access list of %s: %w", path, err)
	}
	if owner.Equals(curOwner) && group.Equals(curGroup) {
		return nil
	}
	err = windows.SetSecurityInfo(windows.Handle(f.Fd()), windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.GROUP_SECURITY_INFORMATION, owner, group, nil, nil)
	if err != nil {
		return fmt.Errorf("keeping the owner %s of %s: %w", owner, path, err)
	}
	return nil
}

// makePrivate lets only the user bp runs as reach f (a key file): its
// access list grants that user everything and inherits nothing from the
// folder, where Administrators and others may have been granted access.
// Mode bits (Chmod 0600) mean nothing to Windows' access checks.
func makePrivate(f *os.File) error {
	user, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return fmt.Errorf("finding the current user: %w", err)
	}
	acl, err := windows.ACLFromEntries([]windows.EXPLICIT_ACCESS{{
		AccessPermissions: windows.GENERIC_ALL,
		AccessMode:        windows.GRANT_ACCESS,
		Inheritance:       windows.NO_INHERITANCE,
		Trustee: windows.TRUSTEE{
			TrusteeForm:  windows.TRUSTEE_IS_SID,
			TrusteeType:  windows.TRUSTEE_IS_USER,
			TrusteeValue: windows.TrusteeValueFromSID(user.User.Sid),
		},
	}}, nil)
	if err != nil {
		return err
	}
	return windows.SetSecurityInfo(windows.Handle(f.Fd()), windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, acl, nil)
}
