package vault

import "os"

// lockKeyUsers holds an exclusive lock on keyFile's list of vaults until
// the returned func is called: RecordKeyUser's append and ForgetKeyUser's
// rewrite do not lose each other's line, in this process or another. The
// lock is a file of its own, since ForgetKeyUser replaces the list.
func lockKeyUsers(keyFile string) (unlock func(), err error) {
	f, err := os.OpenFile(keyUsersPath(keyFile)+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil // closing releases the lock
}
