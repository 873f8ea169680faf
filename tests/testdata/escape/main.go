// Command escape is the probe of the escape suite (tests/escape_test.go,
// tests/fakeroot_test.go). It runs inside a sandbox (and, for the keyring
// case, on the host first) and tries what a hostile payload would try.
// Every check prints one line:
//
//	CHECK name: ok
//	CHECK name: FAIL what leaked or what went wrong
//
// so that a failing test says exactly what got through. Modes:
//
//	escape hostkeys SANDBOX CMD... [+++ CMD...]
//	    on the host: join a new named session keyring, add a "user" key
//	    "hostsecret" to it and one to the user keyring (@u), link @u
//	    into @s (as pam_keyinit does), print their ids, then run SANDBOX
//	    with each argument list in turn (in {SESS}, {SESSNAME}, {SKEY},
//	    {UKEY} and {UKR} the ids are filled in), as children that
//	    inherit this session keyring; afterwards check that the keys are
//	    intact.
//	escape keys default|unconfined SESS SKEY UKEY SESSNAME
//	    inside: try to reach the host's keys.
//	escape term notty|ctrpty
//	    inside: what fds 0, 1 and 2 are.
//	escape capture FILE SECONDS
//	    inside, in the background: append whatever can be read from fds 0,
//	    1 and 2 to FILE (diagnostics in FILE.log), and live SECONDS.
//	escape seccomp default|unconfined
//	    inside: the filter's status and the calls it must refuse.
//	escape storevol ROOT STORE...
//	    inside: no mount below ROOT/STORE, no proc under any container's
//	    merged/ there.
//	escape ptrace1 SECONDS
//	    inside: for SECONDS, try to attach to PID 1 with ptrace, without
//	    pause, while printing a line now and then (output wakes an idle
//	    init, which then executes its Go stage, and goes idle again after
//	    a quiet while: no moment of a stage change may leave PID 1
//	    dumpable).
//	escape true
//	    exit 0 (the child of the clone checks).
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Keyrings and seccomp filters belong to a thread, not to the process: the
// main goroutine stays on the main thread, so that the keyring hostkeys
// joins is the one it adds keys to, checks and hands to sandbox (forked
// from this thread), and the one keys joins is the one it reads from.
func init() { runtime.LockOSThread() }

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "hostkeys":
		if len(args) < 2 {
			usage()
		}
		os.Exit(hostKeys(args[0], args[1:]))
	case "keys":
		if len(args) != 5 {
			usage()
		}
		keys(args[0], atoi(args[1]), atoi(args[2]), atoi(args[3]), args[4])
	case "term":
		if len(args) != 1 {
			usage()
		}
		term(args[0])
	case "capture":
		if len(args) != 2 {
			usage()
		}
		capture(args[0], time.Duration(atoi(args[1]))*time.Second)
	case "seccomp":
		if len(args) != 1 {
			usage()
		}
		seccomp(args[0])
	case "storevol":
		if len(args) < 2 {
			usage()
		}
		storeVolume(args[0], args[1:])
	case "ptrace1":
		if len(args) != 1 {
			usage()
		}
		ptracePID1(time.Duration(atoi(args[0])) * time.Second)
	case "true":
		os.Exit(0)
	default:
		usage()
	}
	if failed {
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: escape hostkeys|keys|term|capture|seccomp|storevol|ptrace1|true ARGS (see the source)")
	os.Exit(2)
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		fmt.Fprintf(os.Stderr, "not a number: %q\n", s)
		os.Exit(2)
	}
	return n
}

var failed bool

func ok(name string) { fmt.Printf("CHECK %s: ok\n", name) }

func fail(name, format string, a ...any) {
	failed = true
	fmt.Printf("CHECK %s: FAIL %s\n", name, fmt.Sprintf(format, a...))
}

// check prints ok when good holds, else FAIL with the detail.
func check(name string, good bool, format string, a ...any) {
	if good {
		ok(name)
	} else {
		fail(name, format, a...)
	}
}

// errnoOf is the errno of err, or 0 when err is nil.
func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	if err != nil {
		return syscall.Errno(^uintptr(0) >> 1) // not an errno: never matches one
	}
	return 0
}

func errName(e syscall.Errno) string {
	if e == 0 {
		return "success"
	}
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return fmt.Sprintf("errno %d", int(e))
}

// ---- keyrings ----

const (
	keySpecSession = unix.KEY_SPEC_SESSION_KEYRING
	keySpecUser    = unix.KEY_SPEC_USER_KEYRING
)

func hostKeys(sandbox string, rest []string) int {
	sessName := fmt.Sprintf("sbx-escape-%d", os.Getpid())
	sess, err := unix.KeyctlJoinSessionKeyring(sessName)
	if err != nil {
		fmt.Fprintf(os.Stderr, "joining a new session keyring: %v\n", err)
		return 2
	}
	skey, err := unix.AddKey("user", "hostsecret", []byte("session-secret"), keySpecSession)
	if err != nil {
		fmt.Fprintf(os.Stderr, "adding a key to the session keyring: %v\n", err)
		return 2
	}
	ukr, err := unix.KeyctlGetKeyringID(keySpecUser, true)
	if err != nil {
		fmt.Fprintf(os.Stderr, "the user keyring: %v\n", err)
		return 2
	}
	// The user keyring outlives this process: a description of our own,
	// a timeout, and an unlink at the end keep it from filling up.
	udesc := fmt.Sprintf("hostsecret-u-%d", os.Getpid())
	ukey, err := unix.AddKey("user", udesc, []byte("user-secret"), keySpecUser)
	if err != nil {
		fmt.Fprintf(os.Stderr, "adding a key to the user keyring: %v\n", err)
		return 2
	}
	defer unix.KeyctlInt(unix.KEYCTL_UNLINK, ukey, ukr, 0, 0)
	unix.KeyctlInt(unix.KEYCTL_SET_TIMEOUT, ukey, 900, 0, 0)
	if _, err := unix.KeyctlInt(unix.KEYCTL_LINK, keySpecUser, keySpecSession, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "linking @u into @s: %v\n", err)
		return 2
	}
	fmt.Printf("HOST sess=%d sessname=%s skey=%d ukey=%d ukr=%d\n", sess, sessName, skey, ukey, ukr)

	repl := strings.NewReplacer(
		"{SESS}", strconv.Itoa(sess), "{SESSNAME}", sessName,
		"{SKEY}", strconv.Itoa(skey), "{UKEY}", strconv.Itoa(ukey), "{UKR}", strconv.Itoa(ukr))
	var cmds [][]string
	cur := []string{}
	for _, a := range rest {
		if a == "+++" {
			cmds, cur = append(cmds, cur), []string{}
			continue
		}
		cur = append(cur, repl.Replace(a))
	}
	cmds = append(cmds, cur)
	for i, c := range cmds {
		cmd := exec.Command(sandbox, c...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		err := cmd.Run()
		code := 0
		if cmd.ProcessState != nil {
			code = cmd.ProcessState.ExitCode()
		} else if err != nil {
			code = -1
			fmt.Fprintf(os.Stderr, "running sandbox: %v\n", err)
		}
		fmt.Printf("HOST command %d exit %d\n", i, code)
	}

	// The keys must be as they were: present, not revoked, same content.
	for _, k := range []struct {
		name    string
		id      int
		content string
	}{{"host-skey-intact", skey, "session-secret"}, {"host-ukey-intact", ukey, "user-secret"}} {
		desc, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, k.id)
		if err != nil {
			fail(k.name, "KEYCTL_DESCRIBE %d after the run: %v", k.id, err)
			continue
		}
		buf := make([]byte, 256)
		n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, k.id, buf, 0)
		if err != nil || string(buf[:min(n, len(buf))]) != k.content {
			fail(k.name, "KEYCTL_READ %d (%s) after the run: %q, %v", k.id, desc, buf[:max(0, min(n, len(buf)))], err)
			continue
		}
		ok(k.name)
	}
	if failed {
		return 1
	}
	return 0
}

// requestKey is request_key(2) without a callout (NULL callout_info):
// the kernel only searches, it never runs /sbin/request-key on the host.
func requestKey(typ, desc string) (int, syscall.Errno) {
	t, _ := unix.BytePtrFromString(typ)
	d, _ := unix.BytePtrFromString(desc)
	r, _, e := unix.Syscall6(unix.SYS_REQUEST_KEY, uintptr(unsafe.Pointer(t)), uintptr(unsafe.Pointer(d)), 0, 0, 0, 0)
	return int(r), e
}

func keys(mode string, sess, skey, ukey int, sessName string) {
	readKey := func(id int) (string, error) {
		buf := make([]byte, 256)
		n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
		if err != nil {
			return "", err
		}
		return string(buf[:min(n, len(buf))]), nil
	}
	// The session keyring in here is never the host's.
	ring, err := unix.KeyctlGetKeyringID(keySpecSession, false)
	switch {
	case err == nil && ring == sess:
		fail("session-keyring-own", "@s inside is the host's session keyring %d", sess)
	case err == nil:
		ok("session-keyring-own")
	case mode == "unconfined":
		fail("session-keyring-own", "KEYCTL_GET_KEYRING_ID @s failed with seccomp=unconfined: %v", err)
	default:
		ok("session-keyring-own") // refused: cannot be the host's either
	}
	if mode == "unconfined" {
		check("keyctl-works", err == nil, "KEYCTL_GET_KEYRING_ID @s: %v (keyctl should work without a filter)", err)
	}

	for _, k := range []struct {
		name string
		id   int
	}{{"skey", skey}, {"ukey", ukey}} {
		content, err := readKey(k.id)
		check("read-"+k.name, err != nil, "KEYCTL_READ of host key %d returned %q", k.id, content)
		if mode == "default" {
			desc, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, k.id)
			check("describe-"+k.name, err != nil, "KEYCTL_DESCRIBE of host key %d returned %q", k.id, desc)
		}
	}
	if mode == "default" {
		desc, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, sess)
		check("describe-sess", err != nil, "KEYCTL_DESCRIBE of the host's session keyring %d returned %q", sess, desc)
		id, err := unix.AddKey("user", "planted", []byte("x"), keySpecSession)
		check("add-key-session", err != nil, "add_key to @s succeeded (key %d)", id)
	}

	// Searching by description: neither key is reachable from the
	// keyrings in here.
	udesc := "hostsecret-u-" + strings.TrimPrefix(sessName, "sbx-escape-")
	for _, desc := range []string{"hostsecret", udesc} {
		name := "search-" + desc
		if desc == udesc {
			name = "search-hostsecret-u"
		}
		id, err := unix.KeyctlSearch(keySpecSession, "user", desc, 0)
		if mode == "default" {
			check(name, err != nil, "KEYCTL_SEARCH of @s for %q found key %d", desc, id)
		} else {
			check(name, errnoOf(err) == unix.ENOKEY, "KEYCTL_SEARCH of @s for %q: key %d, %v (want ENOKEY)", desc, id, err)
		}
		rid, e := requestKey("user", desc)
		if mode == "default" {
			check("request-"+name[len("search-"):], e != 0, "request_key(%q) found key %d", desc, rid)
		} else {
			check("request-"+name[len("search-"):], e == unix.ENOKEY, "request_key(%q): key %d, %s (want ENOKEY)", desc, rid, errName(e))
		}
	}
	if mode == "unconfined" {
		// The user key by its description: @u in here must not be the
		// host's user keyring.
		ukr, err := unix.KeyctlGetKeyringID(keySpecUser, false)
		if err == nil {
			ids := linkedKeys(ukr)
			leaked := false
			for _, id := range ids {
				if id == ukey {
					leaked = true
				}
			}
			check("user-keyring-own", !leaked, "@u (%d) inside links the host's user key %d", ukr, ukey)
		} else {
			ok("user-keyring-own")
		}
	}

	// Revoking, last: it may succeed only where everything above failed.
	for _, k := range []struct {
		name string
		id   int
	}{{"skey", skey}, {"ukey", ukey}} {
		_, err := unix.KeyctlInt(unix.KEYCTL_REVOKE, k.id, 0, 0, 0)
		check("revoke-"+k.name, err != nil, "KEYCTL_REVOKE of host key %d succeeded", k.id)
	}

	if mode == "unconfined" {
		// Joining the host's session keyring by its name: the kernel must
		// give this process a keyring of its own, not the host's.
		id, err := unix.KeyctlJoinSessionKeyring(sessName)
		check("join-by-name", err != nil || id != sess, "KEYCTL_JOIN_SESSION_KEYRING(%q) joined the host's session keyring %d", sessName, id)
		if err == nil {
			content, err := readKey(skey)
			check("read-skey-after-join", err != nil, "KEYCTL_READ of host key %d after joining %q returned %q", skey, sessName, content)
		}
	}
}

// linkedKeys lists the ids a keyring links (KEYCTL_READ of a keyring).
func linkedKeys(ring int) []int {
	buf := make([]byte, 4096)
	n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, ring, buf, 0)
	if err != nil {
		return nil
	}
	n = min(n, len(buf))
	var ids []int
	for i := 0; i+4 <= n; i += 4 {
		ids = append(ids, int(int32(binary.NativeEndian.Uint32(buf[i:]))))
	}
	return ids
}

// ---- terminals ----

type fdInfo struct {
	kind  string // pipe, socket, devnull, chr M:N, file, …
	isTTY bool
	dev   uint64
}

func describeFD(fd int) (fdInfo, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fdInfo{}, err
	}
	info := fdInfo{dev: st.Dev}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFIFO:
		info.kind = "pipe"
	case unix.S_IFSOCK:
		info.kind = "socket"
	case unix.S_IFCHR:
		if unix.Major(st.Rdev) == 1 && unix.Minor(st.Rdev) == 3 {
			info.kind = "devnull"
		} else {
			info.kind = fmt.Sprintf("chr %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
	case unix.S_IFREG:
		info.kind = "file"
	default:
		info.kind = fmt.Sprintf("mode %#o", st.Mode&unix.S_IFMT)
	}
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	info.isTTY = err == nil
	return info, nil
}

func term(want string) {
	var ptmx unix.Stat_t
	ptmxErr := unix.Stat("/dev/pts/ptmx", &ptmx)
	for fd := 0; fd <= 2; fd++ {
		name := fmt.Sprintf("fd%d-%s", fd, want)
		info, err := describeFD(fd)
		if err != nil {
			fail(name, "fstat: %v", err)
			continue
		}
		switch want {
		case "notty":
			check(name, !info.isTTY && (info.kind == "pipe" || info.kind == "devnull"),
				"fd %d is %s (terminal: %v); want a pipe or /dev/null, never a terminal", fd, info.kind, info.isTTY)
		case "ctrpty":
			if ptmxErr != nil {
				fail(name, "stat /dev/pts/ptmx: %v", ptmxErr)
				continue
			}
			check(name, info.isTTY && info.dev == ptmx.Dev,
				"fd %d is %s (terminal: %v) on device %d:%d; the container's devpts is %d:%d",
				fd, info.kind, info.isTTY, unix.Major(info.dev), unix.Minor(info.dev), unix.Major(ptmx.Dev), unix.Minor(ptmx.Dev))
		default:
			usage()
		}
	}
}

// capture is what a payload left running would do to read the user's
// next keystrokes: read every standard descriptor it holds.
func capture(file string, life time.Duration) {
	start := time.Now()
	logf, err := os.OpenFile(file+".log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		os.Exit(1)
	}
	out, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintf(logf, "open %s: %v\n", file, err)
		os.Exit(1)
	}
	for fd := 0; fd <= 2; fd++ {
		info, err := describeFD(fd)
		fmt.Fprintf(logf, "fd %d: %s terminal=%v err=%v\n", fd, info.kind, info.isTTY, err)
		go func(fd int) {
			buf := make([]byte, 1024)
			for {
				n, err := unix.Read(fd, buf)
				if n > 0 {
					out.Write(buf[:n])
				}
				if err == unix.EINTR || err == unix.EAGAIN {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				if n <= 0 {
					fmt.Fprintf(logf, "fd %d: read ends: %d, %v\n", fd, n, err)
					return
				}
			}
		}(fd)
	}
	fmt.Fprintln(logf, "capture started")
	time.Sleep(life - time.Since(start))
}

// ---- seccomp ----

func seccompStatus() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unreadable: " + err.Error()
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Seccomp:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "missing"
}

// refused checks that a call returned exactly want (EPERM or ENOSYS, as
// Docker's profile says), printing what it returned otherwise; a
// descriptor it returned is closed.
func refused(name string, want syscall.Errno, r uintptr, e syscall.Errno) {
	if e == 0 && int(r) > 2 {
		unix.Close(int(r))
	}
	check(name, e == want, "returned %s (result %d), want %s", errName(e), int(r), errName(want))
}

// allowed checks that the filter let a call through: whatever the kernel
// said, not EPERM (the profile's answer to what it refuses). ENOSYS is
// let pass: a kernel built without the call says that too.
func allowed(name string, r uintptr, e syscall.Errno) {
	if e == 0 && int(r) > 2 {
		unix.Close(int(r))
	}
	check(name, e != unix.EPERM, "returned %s: the profile allows this call", errName(e))
}

// startChild starts this program again ("true") with extra clone or
// unshare flags; the error is the one of the clone or unshare.
func startChild(cloneflags, unshareflags uintptr) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	c := exec.Command(self, "true")
	c.SysProcAttr = &syscall.SysProcAttr{Cloneflags: cloneflags, Unshareflags: unshareflags}
	if err := c.Start(); err != nil {
		return err
	}
	return c.Wait()
}

// atFDCWD is a variable: a negative constant does not convert to uintptr.
var atFDCWD = unix.AT_FDCWD

func seccomp(mode string) {
	status := seccompStatus()
	if mode == "unconfined" {
		check("seccomp-status", status == "0", "/proc/self/status says Seccomp: %s, want 0", status)
		id, err := unix.KeyctlGetKeyringID(keySpecSession, false)
		check("keyctl-allowed", err == nil, "keyctl(KEYCTL_GET_KEYRING_ID, @s): %v (id %d)", err, id)
		return
	}
	check("seccomp-status", status == "2", "/proc/self/status says Seccomp: %s, want 2 (a filter)", status)

	// zeros is a fresh zeroed buffer for each call's struct argument.
	var keep [][]byte
	zeros := func() uintptr {
		b := make([]byte, 512)
		keep = append(keep, b)
		return uintptr(unsafe.Pointer(&b[0]))
	}
	defer func() { _ = keep }()
	str := func(s string) uintptr {
		b, _ := unix.BytePtrFromString(s)
		return uintptr(unsafe.Pointer(b))
	}

	r, _, e := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, uintptr(keySpecSession&0xffffffff), 0)
	refused("keyctl", unix.EPERM, r, e)
	payload := []byte("x")
	r, _, e = unix.Syscall6(unix.SYS_ADD_KEY, str("user"), str("sbx-probe"), uintptr(unsafe.Pointer(&payload[0])), 1, uintptr(unix.KEY_SPEC_THREAD_KEYRING&0xffffffff), 0)
	refused("add_key", unix.EPERM, r, e)
	r, _, e = unix.Syscall6(unix.SYS_REQUEST_KEY, str("user"), str("sbx-none"), 0, 0, 0, 0)
	refused("request_key", unix.EPERM, r, e)
	// io_uring_setup(1, &params): params are 120 zero bytes.
	r, _, e = unix.Syscall(unix.SYS_IO_URING_SETUP, 1, zeros(), 0)
	refused("io_uring_setup", unix.EPERM, r, e)
	// open_by_handle_at on a bad descriptor: an unfiltered kernel says
	// EBADF (or EPERM without CAP_DAC_READ_SEARCH).
	r, _, e = unix.Syscall(unix.SYS_OPEN_BY_HANDLE_AT, ^uintptr(0), zeros(), unix.O_RDONLY)
	refused("open_by_handle_at", unix.EPERM, r, e)
	// bpf with an unknown command: EINVAL from an unfiltered kernel.
	r, _, e = unix.Syscall(unix.SYS_BPF, 0xfff, zeros(), 64)
	refused("bpf", unix.EPERM, r, e)
	// perf_event_open of this process's own task clock, user space only:
	// allowed by perf_event_paranoid 2 without a filter.
	attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_TASK_CLOCK,
		Bits: unix.PerfBitDisabled | unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv}
	attr.Size = uint32(unsafe.Sizeof(attr))
	r, _, e = unix.Syscall6(unix.SYS_PERF_EVENT_OPEN, uintptr(unsafe.Pointer(&attr)), 0, ^uintptr(0), ^uintptr(0), unix.PERF_FLAG_FD_CLOEXEC, 0)
	refused("perf_event_open", unix.EPERM, r, e)
	// userfaultfd(UFFD_USER_MODE_ONLY): needs no privilege without a filter.
	r, _, e = unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|1, 0, 0)
	refused("userfaultfd", unix.EPERM, r, e)
	r, _, e = unix.Syscall6(unix.SYS_KEXEC_LOAD, 0, 0, 0, 0, 0, 0)
	refused("kexec_load", unix.EPERM, r, e)
	// clone3 is ENOSYS in Docker's profile (libc falls back to clone);
	// an unfiltered kernel says EINVAL to a zero size.
	r, _, e = unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
	refused("clone3", unix.ENOSYS, r, e)
	// personality(READ_IMPLIES_EXEC); put back what it was if it worked.
	old, _, qe := unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	r, _, e = unix.Syscall(unix.SYS_PERSONALITY, 0x0400000, 0, 0)
	if e == 0 {
		unix.Syscall(unix.SYS_PERSONALITY, old, 0, 0)
		fail("personality-read-implies-exec", "personality(READ_IMPLIES_EXEC) succeeded, want EPERM")
	} else {
		check("personality-read-implies-exec", e == unix.EPERM, "returned %s, want EPERM", errName(e))
	}
	check("personality-query-allowed", qe == 0, "personality(0xffffffff): %s; the profile allows it", errName(qe))
	r, _, e = unix.Syscall(unix.SYS_SOCKET, unix.AF_ALG, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	refused("socket-af_alg", unix.EPERM, r, e)
	r, _, e = unix.Syscall(unix.SYS_SOCKET, unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	refused("socket-af_vsock", unix.EPERM, r, e)

	// Namespaces: a fork-style clone with CLONE_NEWUSER, and unshare.
	err := startChild(unix.CLONE_NEWUSER, 0)
	check("clone-newuser", errnoOf(err) == unix.EPERM, "clone(CLONE_NEWUSER): %v, want EPERM", errOrSuccess(err))
	err = startChild(0, unix.CLONE_NEWUSER)
	check("unshare-newuser", errnoOf(err) == unix.EPERM, "unshare(CLONE_NEWUSER): %v, want EPERM", errOrSuccess(err))

	// What the profile allows must still work.
	var mountID int32
	r, _, e = unix.Syscall6(unix.SYS_NAME_TO_HANDLE_AT, uintptr(atFDCWD), str("/"), zeros(), uintptr(unsafe.Pointer(&mountID)), 0, 0)
	allowed("name_to_handle_at-allowed", r, e)
	r, _, e = unix.Syscall(unix.SYS_MEMFD_SECRET, 0, 0, 0)
	allowed("memfd_secret-allowed", r, e)
	r, _, e = unix.Syscall(unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	check("socket-af_unix-allowed", e == 0, "socket(AF_UNIX): %s", errName(e))
	if e == 0 {
		unix.Close(int(r))
	}
	err = startChild(0, 0)
	check("fork-exec-allowed", err == nil, "starting a child: %v", err)
}

func errOrSuccess(err error) any {
	if err == nil {
		return "succeeded"
	}
	return err
}

// ---- the store in a volume ----

func storeVolume(root string, stores []string) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		fail("mountinfo", "%v", err)
		return
	}
	for _, st := range stores {
		dir := filepath.Join(root, st)
		var below []string
		sc := bufio.NewScanner(bytes.NewReader(mi))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 5 {
				continue
			}
			mp := unescape(f[4])
			if strings.HasPrefix(mp, dir+"/") || mp == dir {
				below = append(below, mp)
			}
		}
		check("no-mount-below:"+st, len(below) == 0, "mount points in the volume's store: %s", strings.Join(below, " "))

		procs, _ := filepath.Glob(filepath.Join(dir, "containers", "*", "merged", "proc", "*"))
		check("no-proc-in-merged:"+st, len(procs) == 0, "found %d entries under containers/*/merged/proc, e.g. %s", len(procs), first(procs))
		keys, _ := filepath.Glob(filepath.Join(dir, "containers", "*", "merged", "proc", "keys"))
		var read []string
		for _, k := range keys {
			if b, err := os.ReadFile(k); err == nil {
				read = append(read, fmt.Sprintf("%s (%d bytes)", k, len(b)))
			}
		}
		check("no-proc-keys-in-merged:"+st, len(read) == 0, "read %s", strings.Join(read, ", "))
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ptracePID1 tries PTRACE_SEIZE on PID 1 without pause for d (on this,
// the main, thread: a tracer is a thread), while another goroutine prints.
func ptracePID1(d time.Duration) {
	deadline := time.Now().Add(d)
	go func() {
		// Gaps longer each time, as an idle init's quiet wait grows.
		for gap := 300 * time.Millisecond; time.Now().Before(deadline); gap = gap * 3 / 2 {
			fmt.Println("tick")
			time.Sleep(gap)
		}
	}()
	tries := 0
	for time.Now().Before(deadline) {
		for range 1000 {
			tries++
			_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, 1, 0, 0, 0, 0)
			if e == 0 {
				b, _ := os.ReadFile("/proc/1/cmdline")
				fail("ptrace1", "attached to PID 1 after %d tries, in its stage %q", tries, strings.ReplaceAll(string(b), "\x00", " "))
				return
			}
		}
	}
	ok("ptrace1")
}
