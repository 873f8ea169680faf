package spawn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Attr describes a child the way exec.Cmd does.
type Attr struct {
	Path       string
	Args, Env  []string
	Files      []*os.File // become descriptors 0, 1, 2, …; nil: /dev/null
	Cloneflags uintptr    // namespaces (CLONE_NEW*)
	CgroupFD   int        // -1: the caller's cgroup
	Setsid     bool
	Pdeathsig  syscall.Signal
	// UIDMap and GIDMap, when set, are the lines the child writes to its
	// own uid_map and gid_map (after "deny" to setgroups) before its
	// execve, so that it executes as root in its new user namespace.
	UIDMap, GIDMap string
	// AmbientCaps are raised in the ambient set (and so the inheritable
	// one) before the execve, as SysProcAttr.AmbientCaps: they survive
	// it although the child is not root (its maps are not written yet).
	AmbientCaps []uintptr
}

// ErrUnsupported is Start's answer when it cannot start anything here (no
// assembly for this architecture, or no clone3 for a cgroup descriptor):
// nothing was started, and the caller uses os/exec.
var ErrUnsupported = errors.New("a vfork-style start is not supported here")

// Supported says whether Start works on this architecture.
func Supported() bool { return haveVfork && os.Getenv("SANDBOX_NO_VFORK") == "" }

// FromCmd is cmd's child as an Attr, or false when it needs what Start
// does not do: stdio that is not a file, id maps other than a single line
// each, a working directory, a credential, a process group or terminal.
// cmd is not started.
func FromCmd(cmd *exec.Cmd) (*Attr, bool) {
	sys := cmd.SysProcAttr
	if sys == nil {
		sys = &syscall.SysProcAttr{}
	}
	if !Supported() {
		return nil, false
	}
	a := &Attr{Path: cmd.Path, Args: cmd.Args, Env: cmd.Env, Cloneflags: sys.Cloneflags, CgroupFD: -1, Setsid: sys.Setsid, Pdeathsig: sys.Pdeathsig, AmbientCaps: sys.AmbientCaps}
	if a.Env == nil {
		a.Env = os.Environ()
	}
	if sys.UseCgroupFD {
		a.CgroupFD = sys.CgroupFD
	}
	// What Start does not do, os/exec does.
	if cmd.Dir != "" || sys.Credential != nil || sys.Chroot != "" || sys.Setpgid || sys.Setctty || sys.Noctty ||
		sys.Foreground || sys.Ptrace || sys.Unshareflags != 0 || sys.PidFD != nil {
		return nil, false
	}
	if len(sys.UidMappings) > 1 || len(sys.GidMappings) > 1 || (len(sys.UidMappings) == 1) != (len(sys.GidMappings) == 1) {
		return nil, false
	}
	if len(sys.UidMappings) == 1 {
		u, g := sys.UidMappings[0], sys.GidMappings[0]
		a.UIDMap = fmt.Sprintf("%d %d %d\n", u.ContainerID, u.HostID, u.Size)
		a.GIDMap = fmt.Sprintf("%d %d %d\n", g.ContainerID, g.HostID, g.Size)
	}
	for _, s := range []any{cmd.Stdin, cmd.Stdout, cmd.Stderr} {
		switch f := s.(type) {
		case nil:
			a.Files = append(a.Files, nil)
		case *os.File:
			a.Files = append(a.Files, f) // nil (a typed nil) too: /dev/null
		default:
			return nil, false
		}
	}
	a.Files = append(a.Files, cmd.ExtraFiles...)
	return a, true
}

// cloneArgs is struct clone_args of clone3(2), up to its cgroup field.
type cloneArgs struct {
	flags, pidfd, childTID, parentTID, exitSignal, stack, stackSize, tls, setTID, setTIDSize, cgroup uint64
}

// vforkReq is everything the child does between the clone and its
// execve, prepared by the parent: the child shares our memory and runs on
// our stack, so it may only make system calls (no allocation, no stack
// growth, nothing of the Go runtime).
type vforkReq struct {
	// trap, arg1 and arg2 are the clone system call: clone, or clone3
	// with clone's arguments.
	trap, arg1, arg2 uintptr
	clone            cloneArgs
	path             *byte
	argv             **byte
	envp             **byte
	fds              []int32 // fds[i] becomes descriptor i; every fds[i] ≥ len(fds)
	errW             uintptr // close-on-exec: a failure is written here
	setsid           bool
	pdeath           uintptr
	writes           []fileWrite // the id maps, in order
	// ambient: the capabilities to raise, as a mask of capset's two
	// words; capHdr and capData are capget's buffers.
	ambient [2]uint32
	capHdr  unix.CapUserHeader
	capData [2]unix.CapUserData
	mask    unix.Sigset_t
	dfl     [4]uint64 // a struct sigaction that says SIG_DFL
	ignored uint64    // signal N ignored in the parent: bit N-1
}

type fileWrite struct {
	path, data *byte
	n          uintptr
}

// The steps a child can fail at, reported with the errno.
const (
	stepSetsid = iota + 1
	stepPdeath
	stepMaps    // + the index of the write
	stepDup     = stepMaps + 8
	stepExec    = stepDup + 1
	stepAmbient = stepExec + 1
)

// Start starts the child a describes and returns its pid; the caller
// reaps it (Wait). ErrUnsupported means nothing was started: use
// os/exec. A parent-death signal is tied to the calling thread,
// as with os/exec: a caller that sets one keeps its goroutine locked to
// its thread for the child's life. (No os.Process: finding one costs a
// test clone, Go's check that pidfds work, 1.5 ms here.)
func Start(a *Attr) (int, error) {
	if !haveVfork {
		return 0, fmt.Errorf("starting %s: %w", a.Path, ErrUnsupported)
	}
	// The signal mask is set on this thread and must be restored on it.
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	r := &vforkReq{setsid: a.Setsid, pdeath: uintptr(a.Pdeathsig)}
	// clone3 only where it is needed (a cgroup to start in), as Go does:
	// some seccomp filters refuse it (with EPERM or ENOSYS) but not clone.
	r.trap, r.arg1, r.arg2 = unix.SYS_CLONE, uintptr(a.Cloneflags)|unix.CLONE_VM|unix.CLONE_VFORK|uintptr(unix.SIGCHLD), 0
	if a.CgroupFD >= 0 {
		r.clone.flags = uint64(a.Cloneflags) | unix.CLONE_VM | unix.CLONE_VFORK | unix.CLONE_INTO_CGROUP
		r.clone.exitSignal = uint64(unix.SIGCHLD)
		r.clone.cgroup = uint64(a.CgroupFD)
		r.trap, r.arg1, r.arg2 = clone3Trap, uintptr(unsafe.Pointer(&r.clone)), unsafe.Sizeof(r.clone)
	}
	var err error
	if r.path, err = syscall.BytePtrFromString(a.Path); err != nil {
		return 0, err
	}
	argv, err := syscall.SlicePtrFromStrings(a.Args)
	if err != nil {
		return 0, err
	}
	envp, err := syscall.SlicePtrFromStrings(a.Env)
	if err != nil {
		return 0, err
	}
	r.argv, r.envp = &argv[0], &envp[0]
	if a.UIDMap != "" {
		for _, w := range [][2]string{{"/proc/self/setgroups", "deny"}, {"/proc/self/uid_map", a.UIDMap}, {"/proc/self/gid_map", a.GIDMap}} {
			p, err := syscall.BytePtrFromString(w[0])
			if err != nil {
				return 0, err
			}
			d := []byte(w[1])
			r.writes = append(r.writes, fileWrite{path: p, data: &d[0], n: uintptr(len(d))})
		}
	}
	for _, c := range a.AmbientCaps {
		if c >= 64 {
			return 0, fmt.Errorf("ambient capability %d: out of range", c)
		}
		r.ambient[c/32] |= 1 << (c % 32)
	}
	r.capHdr.Version = unix.LINUX_CAPABILITY_VERSION_3
	// Each descriptor is passed as a duplicate numbered above every target,
	// so that putting one in place never overwrites another not yet moved.
	var devNull *os.File
	defer func() {
		for _, fd := range r.fds {
			unix.Close(int(fd))
		}
		if devNull != nil {
			devNull.Close()
		}
	}()
	for _, f := range a.Files {
		if f == nil {
			if devNull == nil {
				if devNull, err = os.OpenFile(os.DevNull, os.O_RDWR, 0); err != nil {
					return 0, err
				}
			}
			f = devNull
		}
		// Fd, as os/exec does, also puts the file in blocking mode: the
		// child gets the file description, flags and all.
		fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, len(a.Files))
		if err != nil {
			return 0, fmt.Errorf("passing descriptor %d: %w", len(r.fds), err)
		}
		r.fds = append(r.fds, int32(fd))
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return 0, err
	}
	errR := os.NewFile(uintptr(p[0]), "vfork-status")
	defer errR.Close()
	// The write end too goes above every target: a free number below
	// them would be overwritten by a dup3 in the child.
	w, err := unix.FcntlInt(uintptr(p[1]), unix.F_DUPFD_CLOEXEC, len(a.Files))
	unix.Close(p[1])
	if err != nil {
		return 0, err
	}
	r.errW = uintptr(w)

	// Signals ignored here stay ignored in the child, as with os/exec (a
	// CLI started by nohup); every other one goes back to its default.
	for sig := 1; sig <= 64; sig++ {
		var old [4]uint64
		_, _, e := syscall.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0)
		if e == 0 && old[0] == 1 { // SIG_IGN
			r.ignored |= 1 << (sig - 1)
		}
	}
	// No signal handler of ours may run in the child: block them all on
	// this thread (the child inherits the mask) until the child is gone.
	var all unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^uint64(0)
	}
	unix.PthreadSigmask(unix.SIG_SETMASK, &all, &r.mask)
	pid, errno := vforkSpawn(r)
	unix.PthreadSigmask(unix.SIG_SETMASK, &r.mask, nil)
	unix.Close(int(r.errW))
	goruntime.KeepAlive(argv)
	goruntime.KeepAlive(envp)
	if errno == uintptr(unix.ENOSYS) && r.trap == clone3Trap {
		// Kernels before 5.3 lack clone3: the caller uses os/exec.
		return 0, fmt.Errorf("clone3: %w", ErrUnsupported)
	}
	if errno != 0 {
		name := "clone"
		if r.trap == clone3Trap {
			name = "clone3"
		}
		return 0, os.NewSyscallError(name, syscall.Errno(errno))
	}
	// The child has executed (its end of the pipe closed) or exited.
	var buf [8]byte
	if n, _ := errR.Read(buf[:]); n == len(buf) {
		var ws unix.WaitStatus
		for {
			if _, err := unix.Wait4(int(pid), &ws, 0, nil); err != unix.EINTR {
				break
			}
		}
		step, e := binary.NativeEndian.Uint32(buf[:4]), syscall.Errno(binary.NativeEndian.Uint32(buf[4:]))
		return 0, fmt.Errorf("%s: %w", stepName(step, a), e)
	}
	return int(pid), nil
}

func stepName(step uint32, a *Attr) string {
	switch {
	case step == stepSetsid:
		return "setsid"
	case step == stepPdeath:
		return "setting the parent-death signal"
	case step >= stepMaps && step < stepDup:
		return "writing the id maps (" + strings.TrimSpace(a.UIDMap) + ")"
	case step == stepDup:
		return "passing descriptors"
	case step == stepExec:
		return "executing " + a.Path
	case step == stepAmbient:
		return "raising ambient capabilities"
	}
	return fmt.Sprintf("step %d", step)
}

// clone3Trap is clone3's number; a test makes it one the kernel lacks.
var clone3Trap uintptr = unix.SYS_CLONE3

// vforkSpawn clones the child and, in it, runs vforkChild. In the parent
// it returns at once: the child may have written anything below this
// frame, and only rawVfork's results (written after the child left) and
// the return address are sure to be ours.
//
//go:nosplit
//go:norace
func vforkSpawn(r *vforkReq) (pid, errno uintptr) {
	pid, errno = rawVfork(r.trap, r.arg1, r.arg2)
	if errno != 0 || pid != 0 {
		return
	}
	vforkChild(r)
	return
}

// vforkChild is the child's side: system calls only, then execve.
//
//go:nosplit
//go:norace
func vforkChild(r *vforkReq) {
	// Our handlers are the parent's code: back to the defaults before the
	// signals are unblocked.
	for sig := uintptr(1); sig <= 64; sig++ {
		if sig != uintptr(unix.SIGKILL) && sig != uintptr(unix.SIGSTOP) && r.ignored&(1<<(sig-1)) == 0 {
			syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, uintptr(unsafe.Pointer(&r.dfl)), 0, 8, 0, 0)
		}
	}
	if r.setsid {
		if _, _, e := syscall.RawSyscall(unix.SYS_SETSID, 0, 0, 0); e != 0 {
			vforkFail(r, stepSetsid, e)
		}
	}
	if r.pdeath != 0 {
		if _, _, e := syscall.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, r.pdeath, 0); e != 0 {
			vforkFail(r, stepPdeath, e)
		}
	}
	writes, fds := r.writes, r.fds
	for i := 0; i < len(writes); i++ {
		w := &writes[i]
		fd, _, e := syscall.RawSyscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(w.path)), unix.O_WRONLY|unix.O_CLOEXEC, 0, 0, 0)
		if e != 0 {
			vforkFail(r, uint32(stepMaps+i), e)
		}
		n, _, e := syscall.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(w.data)), w.n)
		if e == 0 && n != w.n {
			e = unix.EIO
		}
		if e != 0 {
			vforkFail(r, uint32(stepMaps+i), e)
		}
		syscall.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
	}
	if r.ambient[0]|r.ambient[1] != 0 {
		// Ambient needs each capability permitted and inheritable.
		if _, _, e := syscall.RawSyscall(unix.SYS_CAPGET, uintptr(unsafe.Pointer(&r.capHdr)), uintptr(unsafe.Pointer(&r.capData[0])), 0); e != 0 {
			vforkFail(r, stepAmbient, e)
		}
		r.capData[0].Inheritable |= r.ambient[0]
		r.capData[1].Inheritable |= r.ambient[1]
		if _, _, e := syscall.RawSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&r.capHdr)), uintptr(unsafe.Pointer(&r.capData[0])), 0); e != 0 {
			vforkFail(r, stepAmbient, e)
		}
		for c := uintptr(0); c < 64; c++ {
			if r.ambient[c/32]&(1<<(c%32)) == 0 {
				continue
			}
			if _, _, e := syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, c, 0, 0, 0); e != 0 {
				vforkFail(r, stepAmbient, e)
			}
		}
	}
	for i := 0; i < len(fds); i++ {
		if _, _, e := syscall.RawSyscall(unix.SYS_DUP3, uintptr(fds[i]), uintptr(i), 0); e != 0 {
			vforkFail(r, stepDup, e)
		}
	}
	// Only the descriptors listed go through the execve, even one of ours
	// that is not close-on-exec (kernels before 5.11 lack the flag: there
	// the CLI's own start marked them all, main.go).
	syscall.RawSyscall(unix.SYS_CLOSE_RANGE, uintptr(len(fds)), ^uintptr(0), unix.CLOSE_RANGE_CLOEXEC)
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&r.mask)), 0, 8, 0, 0)
	_, _, e := syscall.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(r.path)), uintptr(unsafe.Pointer(r.argv)), uintptr(unsafe.Pointer(r.envp)))
	vforkFail(r, stepExec, e)
}

// vforkFail reports the step and errno on the status pipe and exits.
//
//go:nosplit
//go:norace
func vforkFail(r *vforkReq, step uint32, e syscall.Errno) {
	// Signals again blocked: nothing may run between here and the exit.
	var all [1]uint64
	all[0] = ^uint64(0)
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&all)), 0, 8, 0, 0)
	var b [2]uint32
	b[0], b[1] = step, uint32(e)
	syscall.RawSyscall(unix.SYS_WRITE, r.errW, uintptr(unsafe.Pointer(&b)), 8)
	for {
		syscall.RawSyscall(unix.SYS_EXIT_GROUP, 253, 0, 0)
	}
}

// atFDCWD is AT_FDCWD (-100) as a system call argument.
const atFDCWD = ^uintptr(99)

// Wait reaps child pid (retrying on EINTR) and returns its status.
func Wait(pid int) (syscall.WaitStatus, error) {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			return ws, err
		}
	}
}
