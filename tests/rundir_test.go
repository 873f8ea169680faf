package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestNoexecRuntimeDir: with the runtime directory on a filesystem
// mounted noexec (/tmp often is, and it is the runtime directory's parent
// without XDG_RUNTIME_DIR), the programs sandbox carries run from sealed
// memfds instead of files installed there, and tasks in the sandbox
// binary: an import (the unpack task), a container, an exec into a
// detached one and a pull's transfer program all work, and nothing is
// installed there.
func TestNoexecRuntimeDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a noexec tmpfs needs root (the suite runs as root in CI)")
	}
	forEachUser(t, func(t *testing.T, u *user) {
		rd := filepath.Join(filepath.Dir(u.runtimeDir()), "run-noexec-"+u.mode)
		if err := os.MkdirAll(rd, 0o700); err != nil {
			t.Fatal(err)
		}
		opts := fmt.Sprintf("mode=0700,uid=%d,gid=%d", u.uid, u.gid)
		if err := unix.Mount("tmpfs", rd, "tmpfs", unix.MS_NOEXEC|unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			t.Fatalf("mounting a noexec tmpfs on %s: %v", rd, err)
		}
		defer os.Remove(rd)
		defer unix.Unmount(rd, unix.MNT_DETACH)
		o := runOpts{env: []string{"XDG_RUNTIME_DIR=" + rd}}

		wantCode(t, u.runWith(t, o, "import", busyboxTar(t), "noexec-bb"), 0)
		defer u.run(t, "rmi", "noexec-bb")
		r := u.runWith(t, o, "run", "--rm", "noexec-bb", "echo", "from the container")
		wantCode(t, r, 0)
		if r.stdout != "from the container\n" {
			t.Errorf("run printed %q", r.stdout)
		}
		wantCode(t, u.runWith(t, o, "run", "-d", "--name", "noexec-d", "noexec-bb", "sleep", "60"), 0)
		defer u.runWith(t, o, "rm", "-f", "noexec-d")
		r = u.runWith(t, o, "exec", "noexec-d", "echo", "from an exec")
		wantCode(t, r, 0)
		if r.stdout != "from an exec\n" {
			t.Errorf("exec printed %q", r.stdout)
		}
		// The transfer program: a pull from nowhere fails for want of a
		// registry, not of its program.
		r = u.runWith(t, o, "pull", "--tls-verify=false", "127.0.0.1:1/none:1")
		if strings.Contains(r.stderr, "permission denied") {
			t.Errorf("the transfer program did not start:\n%s", r)
		}
		installed, _ := filepath.Glob(filepath.Join(rd, "sandbox", "*-*", "sandbox-*"))
		if len(installed) > 0 {
			t.Errorf("programs installed on the noexec filesystem: %q", installed)
		}
	})
}
