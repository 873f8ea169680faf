package userns

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/internal/endthread"
)

// TestCheckHelperNotOurs: a setuid helper given to one group (mode 4754)
// is refused, saying so, to a user outside that group, and taken by one
// in it: access(2) decides, by the effective ids and the groups (which
// the id map's cache keys its answer by). Each check runs on a thread of
// its own with other credentials, set by the raw calls (the syscall
// package's set every thread's).
func TestCheckHelperNotOurs(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("making a setuid-root helper and taking other ids needs root")
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	helper := filepath.Join(dir, "newuidmap")
	if err := os.WriteFile(helper, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Chmod(helper, 0o4754); err != nil { // root, group 0
		t.Fatal(err)
	}
	as := func(groups []uint32) (err error) {
		t.Helper()
		onThreadAs(t, 4242, 4243, groups, func() { err = CheckHelper(helper) })
		return err
	}
	if err := as([]uint32{4244}); err == nil || !strings.Contains(err.Error(), "may be run only by its owner (uid 0) or group (gid 0)") {
		t.Errorf("outside the helper's group: %v; want it refused, saying why", err)
	}
	if err := as([]uint32{4244, 0}); err != nil {
		t.Errorf("in the helper's group: %v; want it taken", err)
	}
	if err := CheckHelper(helper); err != nil {
		t.Errorf("as root: %v", err)
	}
}

// TestCheckHelperMountFlags: a setuid-root helper on a file system
// mounted noexec, or nosuid, is refused, naming the mount option to
// change (access(2) alone would blame noexec on the file's mode, and
// let nosuid pass, where the setuid bit does nothing). The tmpfs is
// mounted in a mount namespace of a thread's own.
func TestCheckHelperMountFlags(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("mounting and making a setuid-root helper needs root")
	}
	dir := t.TempDir()
	for _, c := range []struct {
		flags uintptr
		want  string
	}{
		{0, ""},
		{unix.MS_NOEXEC, "mounted noexec"},
		{unix.MS_NOSUID, "mounted nosuid"},
	} {
		var err, merr error
		terr := endthread.Run(func() {
			helper := filepath.Join(dir, "newuidmap")
			for _, step := range []func() error{
				func() error { return unix.Unshare(unix.CLONE_NEWNS) },
				func() error { return unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "") },
				func() error { return unix.Mount("tmpfs", dir, "tmpfs", 0, "mode=755") },
				func() error { return os.WriteFile(helper, []byte("#!/bin/sh\n"), 0o755) },
				func() error { return unix.Chmod(helper, 0o4755) },
				func() error { return unix.Mount("", dir, "", unix.MS_REMOUNT|c.flags, "mode=755") },
			} {
				if merr = step(); merr != nil {
					return
				}
			}
			err = CheckHelper(helper)
		})
		if terr != nil || merr != nil {
			t.Fatalf("a tmpfs with flags %#x: %v %v", c.flags, merr, terr)
		}
		switch {
		case c.want == "" && err != nil:
			t.Errorf("on a plain tmpfs: %v; want the helper taken", err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("on a tmpfs with flags %#x: %v; want it refused, %q", c.flags, err, c.want)
		}
	}
}

// onThreadAs runs f on a thread of its own (ended after it) with the
// groups given and, where not -1, the effective uid and gid: set by the
// raw calls, which change the calling thread's credentials alone (the
// syscall package's change every thread's). The groups go first, while
// the thread is still root. (SYS_SETGROUPS takes 32-bit ids on amd64
// and arm64, where these tests run.)
func onThreadAs(t *testing.T, uid, gid int, groups []uint32, f func()) {
	t.Helper()
	var errno unix.Errno
	terr := endthread.Run(func() {
		calls := [][4]uintptr{{unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(unsafe.Pointer(&groups[0]))}}
		if gid >= 0 {
			calls = append(calls, [4]uintptr{unix.SYS_SETRESGID, ^uintptr(0), uintptr(gid), ^uintptr(0)})
		}
		if uid >= 0 {
			calls = append(calls, [4]uintptr{unix.SYS_SETRESUID, ^uintptr(0), uintptr(uid), ^uintptr(0)})
		}
		for _, c := range calls {
			if _, _, errno = unix.RawSyscall(c[0], c[1], c[2], c[3]); errno != 0 {
				return
			}
		}
		f()
	})
	if terr != nil || errno != 0 {
		t.Fatalf("taking uid %d, gid %d, groups %v on a thread: %v %v", uid, gid, groups, errno, terr)
	}
}
