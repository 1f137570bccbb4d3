//go:build unix

package pyrun

import (
	"path/filepath"

	"github.com/bprun/bp/internal/sandbox"
)

// systemRead are the trees every Python process reads: the system's
// libraries and configuration (certificates, time zones, resolv.conf), and
// /proc and /sys for its own state. Not /dev: a block gets the devices of
// systemWrite, not the disks.
var systemRead = []string{
	"/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc",
	"/proc", "/sys", "/nix/store",
}

// systemWrite are the devices and shared memory a process may use.
var systemWrite = []string{
	"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/shm",
}

// systemLinks are files of systemRead that are often links out of it
// (/etc/resolv.conf to /run/systemd/resolve): their targets are granted.
var systemLinks = []string{"/etc/resolv.conf", "/etc/hosts", "/etc/localtime", "/etc/ssl/certs"}

// policy is what the Python processes of a runner may reach: the system's
// trees, the interpreter's, the private temporary directory tmp, and what
// opts allow, minus what opts deny.
func policy(py interpreter, tmp string, opts Options) sandbox.Policy {
	read := append([]string{filepath.Dir(py.path)}, systemRead...)
	read = append(read, py.roots...)
	for _, f := range systemLinks {
		if real, err := filepath.EvalSymlinks(f); err == nil {
			read = append(read, real)
		}
	}
	read = append(read, opts.AllowRead...)
	write := append([]string{tmp}, systemWrite...)
	write = append(write, opts.AllowWrite...)
	return sandbox.Policy{Read: read, Write: write, Deny: opts.Deny}
}
