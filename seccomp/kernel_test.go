package seccomp

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// childEnv marks the re-executed test binary that installs the filter.
const childEnv = "SANDBOX_SECCOMP_TEST_CHILD"

// install loads a filter on the calling thread, as the runtime's init
// does: no_new_privs first (an unprivileged filter needs it), no TSYNC.
// The program goes through Bytes and FromBytes, as it does on its way to
// the init.
func install(p *Program) error {
	ins, err := FromBytes(p.Bytes())
	if err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_NO_NEW_PRIVS: %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(ins)), Filter: &ins[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(p.Flags), uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(ins)
	if errno != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w", errno)
	}
	return nil
}

// TestKernel installs Docker's default profile with the fake-root rules
// in a child process and checks what the kernel makes of it.
func TestKernel(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		kernelChild(t)
		return
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil || !bytes.Contains(status, []byte("\nSeccomp:")) {
		t.Skip("the kernel has no seccomp")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKernel$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the child: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("filter installed")) {
		t.Fatalf("the child did not run the checks:\n%s", out)
	}
	t.Logf("the child:\n%s", out)
}

func kernelChild(t *testing.T) {
	prog := compileDefault(t, dockerCaps, FakeRoot())
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var before unix.Stat_t
	if err := unix.Stat(file, &before); err != nil {
		t.Fatal(err)
	}

	// The filter goes on one locked thread, which the goroutine never
	// unlocks: when it ends, the runtime ends that thread with it.
	errs := make(chan []string)
	go func() {
		runtime.LockOSThread()
		var bad []string
		fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
		if err := install(prog); err != nil {
			errs <- []string{err.Error()}
			return
		}
		// Refused: the host's keyrings, nested user namespaces.
		if _, _, e := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, uintptr(0xffffffff&unix.KEY_SPEC_SESSION_KEYRING), 0); e != unix.EPERM {
			fail("keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING): %v, want EPERM", e)
		}
		if _, _, e := unix.Syscall(unix.SYS_UNSHARE, unix.CLONE_NEWUSER, 0, 0); e != unix.EPERM {
			fail("unshare(CLONE_NEWUSER): %v, want EPERM", e)
		}
		// clone3 gets ENOSYS so that libc falls back to clone.
		if _, _, e := unix.Syscall(unix.SYS_CLONE3, 0, 0, 0); e != unix.ENOSYS {
			fail("clone3: %v, want ENOSYS", e)
		}
		if pid, _, e := unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0); e != 0 || int(pid) != os.Getpid() {
			fail("getpid: %d, %v", pid, e)
		}
		// Fake root: chown and mknod of a device succeed and do nothing.
		if err := unix.Chown(file, 12345, 12345); err != nil {
			fail("chown: %v", err)
		}
		var after unix.Stat_t
		if err := unix.Stat(file, &after); err != nil {
			fail("stat: %v", err)
		} else if after.Uid != before.Uid || after.Gid != before.Gid {
			fail("chown changed the owner to %d:%d", after.Uid, after.Gid)
		}
		dev := filepath.Join(dir, "null")
		if err := unix.Mknod(dev, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			fail("mknod of a character device: %v", err)
		}
		if _, err := os.Lstat(dev); !errors.Is(err, os.ErrNotExist) {
			fail("mknod of a character device made something: %v", err)
		}
		if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
			fail("mkfifo: %v", err)
		}
		status, err := os.ReadFile("/proc/thread-self/status")
		if err != nil {
			fail("reading /proc/thread-self/status: %v", err)
		} else if !strings.Contains(string(status), "\nSeccomp:\t2\n") {
			fail("/proc/thread-self/status says no filter:\n%s", status)
		}
		errs <- bad
	}()
	for _, e := range <-errs {
		t.Error(e)
	}
	if fi, err := os.Stat(filepath.Join(dir, "fifo")); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was not made: %v", err)
	}
	t.Log("filter installed; keyctl, unshare(CLONE_NEWUSER), clone3, chown and mknod checked")
}
