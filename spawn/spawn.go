package spawn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/plan"
)

// Attr describes a child the way exec.Cmd does.
type Attr struct {
	Path       string
	Args, Env  []string
	Files      []*os.File // become descriptors 0, 1, 2, …; nil: /dev/null
	Cloneflags uintptr    // namespaces (CLONE_NEW*)
	CgroupFD   int        // -1: the caller's cgroup
	Setsid     bool
	// Setpgid puts the child in a process group of its own, in the
	// caller's session: out of reach of the terminal's signals as a
	// session of its own would be, but in the caller's scheduling
	// group where the kernel groups tasks by session (autogroup), so
	// that Idle works against the caller's own threads.
	Setpgid   bool
	Pdeathsig syscall.Signal
	// Idle starts the child at SCHED_IDLE: work that may go on after the
	// command (a removal, a spare's making) and must not delay its end.
	// On two cores a child started as the command exits took the CPU
	// the command's last threads were woken on for its whole runtime
	// start (0.5 ms): an idle-policy task gives way at once to any other
	// that wakes in its scheduling group (so not with Setsid where the
	// kernel groups by session: Setpgid). Best effort: a refusal leaves
	// the usual policy.
	Idle bool
	// Detach returns once the child is cloned, without waiting for its
	// execve: the child runs on a stack of its own beside the caller,
	// which goes on (or exits) at once. What the child reads stays
	// allocated until its execve (detached), and a failure before that
	// is not reported: only for a child whose failure nobody waits for
	// (a removal the next sweep can finish). The child closes every
	// descriptor it inherited but its own at once, before Idle takes
	// effect, not at its execve. Not with a user namespace to enter, a
	// cgroup to start in or a Hold.
	Detach bool
	// UIDMap and GIDMap, when set, are the lines the child writes to its
	// own uid_map and gid_map (after "deny" to setgroups) before its
	// execve, so that it executes as root in its new user namespace.
	UIDMap, GIDMap string
	// AmbientCaps are raised in the ambient set (and so the inheritable
	// one) before the execve, as SysProcAttr.AmbientCaps: they survive
	// it although the child is not root (its maps are not written yet).
	AmbientCaps []uintptr
	// Setup, when set, runs in the child once its maps are written and
	// its descriptors in place (package plan): a container's mounts.
	Setup *plan.Plan
	// Payload and Hold, set together, make the child a container's PID 1
	// that needs no Go (a raw start): the child is cloned beside the
	// caller on a stack of its own rather than vfork-style, Start returns
	// its pid at once, and the child waits, its namespaces made and
	// descriptors in place, for Hold.Go to give it Setup and the rest of
	// Payload (Init and PidArg are needed at once), or for Hold.Abort.
	// It then runs Setup, starts the payload from a clone of its own, and
	// executes the program open at Files[Payload.Init] (execveat) with
	// Args, the payload's pid at Args[Payload.PidArg]; Path is not used.
	// A cgroup to start in is the caller's to join it to.
	//
	// Hold without Payload holds any other child the same way: it then
	// runs Hold.Go's setup and executes Path, as a vfork-style child would
	// have at once. For a child whose maps another writes (newuidmap)
	// before its setup needs them, without suspending its caller.
	Payload *Payload
	Hold    *Hold
	// Early, with Hold, runs in the held child before it waits: work that
	// must be done where it starts (a /proc made while a visible one is in
	// its mount namespace: FSMount) and that needs nothing of what Go
	// brings. Its failure does not end the child; Hold.Early says how it
	// went, and the caller then gives Go a setup that does without it.
	Early *plan.Plan
	// UserNS is a user namespace made beforehand, its maps written (a
	// spare: docs/handshake.md, "A spare user namespace"), for the child
	// to start in instead of a new one: Cloneflags must then not ask for
	// CLONE_NEWUSER, nor UIDMap or AmbientCaps for maps. A child of ours
	// enters it (setns) and clones the child, held or vfork-style, its
	// parent ours (CLONE_PARENT), with the other namespaces, which a
	// namespace entered after them would not own. Not with a cgroup to
	// start in (the inner clone is clone's, not clone3's).
	UserNS *os.File
	// MountNS and IPCNS, with UserNS, are a mount and an IPC namespace
	// of that user namespace that the entering child enters too (a
	// spare's root, made in them: docs/handshake.md, "A spare root"):
	// Cloneflags must then not ask for CLONE_NEWNS, or CLONE_NEWIPC.
	MountNS, IPCNS *os.File
	// Stamps, when set, gets CLOCK_MONOTONIC at a raw start's steps: the
	// payload's child cloned, the setup done, the payload's seal done,
	// and PID 1's execve; zero where a step did not happen.
	Stamps *[4]unix.Timespec
}

// Payload is the process a raw PID 1 starts (Attr.Payload).
type Payload struct {
	// Seal runs in the payload's child, after setsid, while PID 1 runs
	// Attr.Setup beside it: its keyring, bounding set, limits and seccomp
	// filter. Enter runs once PID 1 has pivoted into the container's
	// root: its working directory.
	Seal, Enter *plan.Plan
	// Paths are the executable's candidates, tried in order: one path,
	// or the directories of a PATH search joined with the name (Search).
	Paths  []string
	Search bool
	Args   []string
	Env    []string
	// Init is the index in Attr.Files of the program PID 1 becomes;
	// PidArg the index in Attr.Args that gets the payload's pid.
	Init, PidArg int
	// Join, when set, runs in the payload's child first, before its
	// seal: the entering of a mount namespace made ahead, whose root is
	// the container's, which PID 1's setup enters too, later, once it has
	// taken from its own what it needs there. The child then need not
	// wait for PID 1 to be there.
	Join *plan.Plan
}

// StepError is a raw start's failure in its child: the step (StepSetup:
// op Index of Attr.Setup; StepSeal: op Index of Payload.Seal; StepEnter:
// op Index of Payload.Enter; StepJoin: op Index of Payload.Join; StepExec:
// the execve of Payload.Paths[Index]; StepNotFound: a search that found
// nothing, Errno the last refusal) and its errno.
type StepError struct {
	Step  int
	Index int
	Errno syscall.Errno
}

func (e *StepError) Error() string {
	return fmt.Sprintf("step %d.%d of a raw start: %v", e.Step, e.Index, e.Errno)
}

func (e *StepError) Unwrap() error { return e.Errno }

// The steps of a raw start, as StepError.Step.
const (
	StepSetup = iota + 1
	StepSeal
	StepExec
	StepNotFound
	StepInit
	StepClone
	StepEnter
	StepJoin
)

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
	a := &Attr{Path: cmd.Path, Args: cmd.Args, Env: cmd.Env, Cloneflags: sys.Cloneflags, CgroupFD: -1, Setsid: sys.Setsid, Setpgid: sys.Setpgid, Pdeathsig: sys.Pdeathsig, AmbientCaps: sys.AmbientCaps}
	if a.Env == nil {
		a.Env = os.Environ()
	}
	if sys.UseCgroupFD {
		a.CgroupFD = sys.CgroupFD
	}
	// What Start does not do, os/exec does.
	if cmd.Dir != "" || sys.Credential != nil || sys.Chroot != "" || sys.Pgid != 0 || sys.Setctty || sys.Noctty ||
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
	setpgid          bool
	idle             bool
	detach           bool  // Attr.Detach
	schedParam       int32 // sched_setscheduler's priority: 0
	pdeath           uintptr
	writes           []fileWrite // the id maps, in order
	// ambient: the capabilities to raise, as a mask of capset's two
	// words; capHdr and capData are capget's buffers.
	ambient [2]uint32
	capHdr  unix.CapUserHeader
	capData [2]unix.CapUserData
	mask    unix.Sigset_t
	dfl     [4]uint64 // a struct sigaction that says SIG_DFL
	setup   *plan.Plan
	// early is Attr.Early; earlyState is 0 until it has run, then 1, or
	// 2 with earlyErr and earlyAt where it failed.
	early      *plan.Plan
	earlyState uint32
	earlyErr   uint32
	earlyAt    int32
	// A raw PID 1 (Attr.Payload): the payload's seal, candidates and
	// vectors, the init's descriptor, and where the payload's pid goes
	// (pidBuf, argv[pidArg] of the init).
	raw               bool
	seal, enter, join *plan.Plan
	// The payload's child runs on a stack of its own (stackTop, in
	// stack) beside PID 1, which sets pivoted to 1 once the root is in
	// place (2: it failed) and wakes it.
	stack     []byte
	stackTop  uintptr
	payloadPC uintptr // where the payload's child begins (payloadEntry)
	pivoted   uint32
	// execed is 1 until PID 1's execve: the kernel clears it then and
	// wakes its waiter (set_tid_address), so that the payload never sees
	// a PID 1 that is still the CLI's clone.
	execed uint32
	// A held start (Attr.Hold): PID 1's own stack (also the stack of a
	// child cloned in a user namespace, Attr.UserNS), and go, set by
	// Hold.Go (1) or Hold.Abort (2).
	heldStack    []byte
	heldStackTop uintptr
	goState      uint32
	// A start into a user namespace (Attr.UserNS): the namespace's
	// descriptor, the stack of the child that enters it, the flags and
	// entry it clones the child with (on heldStack), and that child's
	// pid, which it leaves here before it exits.
	userNS     uintptr
	mountNS    uintptr // ^0 where there is none (Attr.MountNS)
	ipcNS      uintptr // ^0 where there is none (Attr.IPCNS)
	nsStack    []byte
	nsStackTop uintptr
	innerFlags uintptr
	innerPC    uintptr
	innerPid   uint64
	holdWait   unix.Timespec // 50 ms
	// callerPoll asks, with no wait (noWait), whether errW's read end is
	// gone: the caller (the only holder of it) has died. A held child
	// set its parent-death signal after its clone, so a caller killed
	// in between leaves none to end it; it looks each holdWait instead.
	callerPoll   unix.PollFd
	noWait       unix.Timespec
	keep         []any
	execWait     unix.Timespec // 20 ms
	probe        [8]byte
	probeWait    unix.Timespec // 50 µs
	paths        []*byte
	search       bool
	pArgv, pEnvp **byte
	initFD       uintptr
	pidBuf       [24]byte
	stamps       *[4]unix.Timespec
}

type fileWrite struct {
	path, data *byte
	n          uintptr
}

// The steps a child can fail at, reported with the errno.
const (
	stepSetsid = iota + 1
	stepPdeath
	stepSetpgid
	stepMaps    // + the index of the write
	stepDup     = stepMaps + 8
	stepExec    = stepDup + 1
	stepAmbient = stepExec + 1
	stepUserNS  = stepAmbient + 1
	stepInner   = stepUserNS + 1
	stepMountNS = stepInner + 1
	stepIPCNS   = stepMountNS + 1
	// A raw start's steps: stepRaw*StepX + index (StepError).
	stepRaw = 1 << 16
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
	r := &vforkReq{setsid: a.Setsid, setpgid: a.Setpgid, idle: a.Idle, detach: a.Detach, pdeath: uintptr(a.Pdeathsig),
		mountNS: ^uintptr(0), ipcNS: ^uintptr(0)}
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
	r.setup = a.Setup
	r.stamps = a.Stamps
	if a.Early != nil {
		if a.Hold == nil {
			return 0, fmt.Errorf("starting %s: an early plan is a held child's", a.Path)
		}
		r.early = a.Early
	}
	if p := a.Payload; p != nil {
		if p.Init < 0 || p.Init >= len(a.Files) || p.PidArg < 0 || p.PidArg >= len(argv)-1 {
			return 0, fmt.Errorf("starting %s: a raw PID 1 needs its program among the files and a pid argument", a.Path)
		}
		r.raw, r.initFD = true, uintptr(p.Init)
		argv[p.PidArg] = &r.pidBuf[0]
	}
	if r.raw && (a.Hold == nil || len(a.AmbientCaps) > 0) || a.Hold != nil && a.CgroupFD >= 0 {
		return 0, fmt.Errorf("starting %s: a raw PID 1 needs a Hold and no ambient capabilities, and a held child no cgroup to start in", a.Path)
	}
	if a.Detach && (a.Hold != nil || a.UserNS != nil || a.CgroupFD >= 0 || a.Cloneflags&(unix.CLONE_FILES|unix.CLONE_SIGHAND|unix.CLONE_THREAD) != 0) {
		// (What the caller closes once it returns must not be the child's.)
		return 0, fmt.Errorf("starting %s: a detached start takes neither a Hold, a user namespace to enter, a cgroup to start in nor shared descriptors or handlers", a.Path)
	}
	if a.Hold != nil || a.UserNS != nil || a.Detach {
		// (A detached child runs on it too: the caller is not suspended,
		// and the stack outlives this call.)
		r.heldStack = make([]byte, payloadStack)
		r.heldStackTop = (uintptr(unsafe.Pointer(&r.heldStack[0])) + payloadStack) &^ 15
		r.holdWait = unix.Timespec{Nsec: 50e6}
	}
	if a.UserNS != nil {
		if a.Cloneflags&unix.CLONE_NEWUSER != 0 || a.UIDMap != "" || len(a.AmbientCaps) > 0 || a.CgroupFD >= 0 {
			return 0, fmt.Errorf("starting %s: a user namespace to enter takes neither a new user namespace, maps, ambient capabilities nor a cgroup to start in", a.Path)
		}
		if a.MountNS != nil && a.Cloneflags&unix.CLONE_NEWNS != 0 || a.IPCNS != nil && a.Cloneflags&unix.CLONE_NEWIPC != 0 {
			return 0, fmt.Errorf("starting %s: a mount or IPC namespace to enter takes no new one of its kind", a.Path)
		}
		r.nsStack = make([]byte, nsStack)
		r.nsStackTop = (uintptr(unsafe.Pointer(&r.nsStack[0])) + nsStack) &^ 15
		// Its exit signal is the entering child's (SIGCHLD): CLONE_PARENT
		// takes the caller's. A held child runs beside the entering one; a
		// vfork-style one suspends it until its execve, so that the
		// entering child exits, and we go on, only then.
		r.innerFlags = (r.arg1 &^ 0xff) | unix.CLONE_PARENT
		r.innerPC = innerEntry()
		if a.Hold != nil {
			r.innerFlags &^= unix.CLONE_VFORK
			r.innerPC = heldEntry()
		}
	}
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
	files := a.Files
	// The namespaces to enter are passed like the others, above every
	// target, but not among them: the user namespace, then the mount and
	// IPC namespaces where there are.
	var nsFiles []*os.File
	var nsFDs []*uintptr // where each one's descriptor goes, by position
	if a.UserNS != nil {
		nsFiles, nsFDs = append(nsFiles, a.UserNS), append(nsFDs, &r.userNS)
		if a.MountNS != nil {
			nsFiles, nsFDs = append(nsFiles, a.MountNS), append(nsFDs, &r.mountNS)
		}
		if a.IPCNS != nil {
			nsFiles, nsFDs = append(nsFiles, a.IPCNS), append(nsFDs, &r.ipcNS)
		}
		files = append(files[:len(files):len(files)], nsFiles...)
	} else if a.MountNS != nil || a.IPCNS != nil {
		return 0, fmt.Errorf("starting %s: a mount or IPC namespace to enter needs the user namespace that owns it", a.Path)
	}
	for i, f := range files {
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
		if i >= len(a.Files) {
			*nsFDs[i-len(a.Files)] = uintptr(fd)
			defer unix.Close(fd)
			continue
		}
		r.fds = append(r.fds, int32(fd))
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return 0, err
	}
	errR := os.NewFile(uintptr(p[0]), "vfork-status")
	held := false
	defer func() {
		if !held {
			errR.Close()
		}
	}()
	// The write end too goes above every target: a free number below
	// them would be overwritten by a dup3 in the child.
	w, err := unix.FcntlInt(uintptr(p[1]), unix.F_DUPFD_CLOEXEC, len(a.Files))
	unix.Close(p[1])
	if err != nil {
		return 0, err
	}
	r.errW = uintptr(w)
	r.callerPoll = unix.PollFd{Fd: int32(w)}

	// No signal handler of ours may run in the child: block them all on
	// this thread (the child inherits the mask) until the child is gone.
	var all unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^uint64(0)
	}
	// As os/exec's fork does: no descriptor made meanwhile without
	// close-on-exec, and no file open for writing that must not be
	// inherited (a program being installed, runtime.InstalledProgram:
	// a child holding it until its execve makes every execve of that
	// program fail with ETXTBSY), reaches the child's copy of the table.
	syscall.ForkLock.Lock()
	unix.PthreadSigmask(unix.SIG_SETMASK, &all, &r.mask)
	if h := a.Hold; h != nil {
		var pid, errno uintptr
		if a.UserNS != nil {
			pid, errno = rawCloneStack(unix.CLONE_VM|uintptr(unix.SIGCHLD), r.nsStackTop, r, nsEntry(), 0)
		} else {
			pid, errno = rawCloneStack(r.arg1&^unix.CLONE_VFORK, r.heldStackTop, r, heldEntry(), 0)
		}
		unix.PthreadSigmask(unix.SIG_SETMASK, &r.mask, nil)
		syscall.ForkLock.Unlock()
		unix.Close(int(r.errW))
		if errno != 0 {
			return 0, os.NewSyscallError("clone", syscall.Errno(errno))
		}
		if a.UserNS != nil {
			var err error
			if pid, err = enteredChild(r, int(pid), errR, a); err != nil {
				return 0, err
			}
		}
		held = true
		h.r, h.pid, h.errR, h.attr = r, int(pid), errR, a
		r.keep = append(r.keep, argv, envp)
		return int(pid), nil
	}
	var pid, errno uintptr
	switch {
	case a.Detach:
		// innerChild is what vforkSpawn's child runs, here on heldStack.
		pid, errno = rawCloneStack(r.arg1&^unix.CLONE_VFORK, r.heldStackTop, r, innerEntry(), 0)
	case a.UserNS != nil:
		pid, errno = rawCloneStack(unix.CLONE_VM|uintptr(unix.SIGCHLD), r.nsStackTop, r, nsEntry(), 0)
	default:
		pid, errno = vforkSpawn(r)
	}
	unix.PthreadSigmask(unix.SIG_SETMASK, &r.mask, nil)
	syscall.ForkLock.Unlock()
	unix.Close(int(r.errW))
	// What the children read stays until they are done with it: a raw
	// start's payload child outlives PID 1's execve.
	defer func() {
		goruntime.KeepAlive(r)
		goruntime.KeepAlive(argv)
		goruntime.KeepAlive(envp)
		goruntime.KeepAlive(a)
	}()
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
	if a.Detach {
		// The child reads r, argv, envp and its setup until its execve,
		// which nothing here waits for; its status pipe says when.
		held = true
		keepDetached(detachedChild{errR: errR, keep: []any{r, argv, envp, a}})
		return int(pid), nil
	}
	if a.UserNS != nil {
		var err error
		if pid, err = enteredChild(r, int(pid), errR, a); err != nil {
			return 0, err
		}
	}
	if err := waitExec(errR, int(pid), a); err != nil {
		return 0, err
	}
	return int(pid), nil
}

// detached holds what detached children (Attr.Detach) read until their
// execve, with the read end of each one's status pipe: the pipe's end
// (the execve closed the child's end, or its exit did) says the child is
// done with our memory. Each detached start lets go of those that are, so
// that a process that lives on (the API service) keeps only the children
// still starting.
var (
	detachedMu sync.Mutex
	detached   []detachedChild
)

type detachedChild struct {
	errR *os.File
	keep []any
}

func keepDetached(c detachedChild) {
	detachedMu.Lock()
	defer detachedMu.Unlock()
	still := detached[:0]
	for _, d := range detached {
		// POLLHUP: every write end is closed. A child that failed wrote
		// first and still runs on its stack; one that executed or died let
		// go of our memory before its descriptors closed (execve switches
		// memory first, an exit frees it before the files).
		fds := []unix.PollFd{{Fd: int32(d.errR.Fd()), Events: unix.POLLIN}}
		if n, err := unix.Poll(fds, 0); err == nil && n == 1 && fds[0].Revents&unix.POLLHUP != 0 {
			d.errR.Close()
			continue
		}
		still = append(still, d)
	}
	clear(detached[len(still):])
	detached = append(still, c)
}

// waitExec waits until the child has executed (its end of the status
// pipe closed) or exited, and a raw start's payload child too, and
// returns the failure either reported, having reaped the child then.
func waitExec(errR *os.File, pid int, a *Attr) error {
	var buf [8]byte
	if n, _ := io.ReadFull(errR, buf[:]); n == len(buf) {
		var ws unix.WaitStatus
		for {
			if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
				break
			}
		}
		step, e := binary.NativeEndian.Uint32(buf[:4]), syscall.Errno(binary.NativeEndian.Uint32(buf[4:]))
		if step >= stepRaw {
			return &StepError{Step: int(step / stepRaw), Index: int(step % stepRaw), Errno: e}
		}
		return fmt.Errorf("%s: %w", stepName(step, a), e)
	}
	return nil
}

// setPayload fills in what a raw PID 1's payload child needs.
func (r *vforkReq) setPayload(p *Payload) error {
	if len(p.Paths) == 0 || len(p.Args) == 0 {
		return errors.New("a raw PID 1 needs a payload to start")
	}
	pArgv, err := syscall.SlicePtrFromStrings(p.Args)
	if err != nil {
		return err
	}
	pEnvp, err := syscall.SlicePtrFromStrings(p.Env)
	if err != nil {
		return err
	}
	var paths []*byte
	for _, path := range p.Paths {
		b, err := syscall.BytePtrFromString(path)
		if err != nil {
			return err
		}
		paths = append(paths, b)
	}
	r.seal, r.enter, r.join, r.search = p.Seal, p.Enter, p.Join, p.Search
	r.stack = make([]byte, payloadStack)
	r.execed, r.execWait, r.probeWait = 1, unix.Timespec{Nsec: 20e6}, unix.Timespec{Nsec: 50e3}
	r.stackTop = (uintptr(unsafe.Pointer(&r.stack[0])) + payloadStack) &^ 15
	r.payloadPC = payloadEntry()
	r.pArgv, r.pEnvp, r.paths = &pArgv[0], &pEnvp[0], paths
	r.keep = append(r.keep, pArgv, pEnvp, p)
	return nil
}

// enteredChild waits for the child that entered a user namespace
// (nsChild) and returns the pid of the child it cloned, or why it could
// not.
func enteredChild(r *vforkReq, pid int, errR *os.File, a *Attr) (uintptr, error) {
	ws, err := Wait(pid)
	if err != nil {
		return 0, fmt.Errorf("waiting for the child entering the user namespace: %w", err)
	}
	if ws.Exited() && ws.ExitStatus() == 0 {
		return uintptr(atomic.LoadUint64(&r.innerPid)), nil
	}
	if inner := int(atomic.LoadUint64(&r.innerPid)); inner > 0 {
		// It died after its clone: the child it made is ours
		// (CLONE_PARENT) and must not run on, or wait for ever to be
		// released. Ended and reaped here.
		unix.Kill(inner, unix.SIGKILL)
		Wait(inner)
		return 0, fmt.Errorf("the child entering the user namespace ended after it made the container's (%v); that one was ended too", ws)
	}
	// It said why on the status pipe, which the held child (had it been
	// cloned) keeps open: only these 8 bytes are there to read.
	var buf [8]byte
	if n, _ := io.ReadFull(errR, buf[:]); n == len(buf) {
		step, e := binary.NativeEndian.Uint32(buf[:4]), syscall.Errno(binary.NativeEndian.Uint32(buf[4:]))
		return 0, fmt.Errorf("%s: %w", stepName(step, a), e)
	}
	return 0, fmt.Errorf("the child entering the user namespace ended (%v)", ws)
}

// nsChild enters the user namespace (Attr.UserNS) and clones the child
// in it (held, or vfork-style: then it waits for its execve), with the
// other namespaces (which it then owns) and this process's parent for
// its own; it leaves the child's pid for the caller and exits.
//
//go:nosplit
//go:norace
func nsChild(r *vforkReq) {
	if _, _, e := syscall.RawSyscall(unix.SYS_SETNS, r.userNS, unix.CLONE_NEWUSER, 0); e != 0 {
		vforkFail(r, stepUserNS, e)
	}
	// Entered as that namespace's root: this child shares no fs_struct
	// (no CLONE_FS), which entering a mount namespace needs.
	if r.mountNS != ^uintptr(0) {
		if _, _, e := syscall.RawSyscall(unix.SYS_SETNS, r.mountNS, unix.CLONE_NEWNS, 0); e != 0 {
			vforkFail(r, stepMountNS, e)
		}
	}
	if r.ipcNS != ^uintptr(0) {
		if _, _, e := syscall.RawSyscall(unix.SYS_SETNS, r.ipcNS, unix.CLONE_NEWIPC, 0); e != 0 {
			vforkFail(r, stepIPCNS, e)
		}
	}
	// The kernel stores the child's pid in r.innerPid as it makes it
	// (CLONE_PARENT_SETTID), before this child could die: a signal that
	// ended it right after the clone would otherwise leave the caller a
	// child of its own (CLONE_PARENT) it does not know about.
	pid, errno := rawCloneStack(r.innerFlags|unix.CLONE_PARENT_SETTID, r.heldStackTop, r, r.innerPC, uintptr(unsafe.Pointer(&r.innerPid)))
	if errno != 0 {
		vforkFail(r, stepInner, syscall.Errno(errno))
	}
	atomic.StoreUint64(&r.innerPid, uint64(pid))
	for {
		syscall.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	}
}

// innerChild is the vfork-style child that nsChild clones in the user
// namespace, on a stack of its own: what vforkSpawn's child does.
//
//go:nosplit
//go:norace
func innerChild(r *vforkReq) {
	vforkChild(r)
	vforkSetup(r)
	vforkExec(r)
}

// nsStack is the size of nsChild's stack: two nosplit frames.
const nsStack = 4 << 10

// Hold is a held start (Attr.Hold): its child waits, cloned with its
// namespaces and descriptors, for its setup and payload, so that its
// clone overlaps the caller's work (and, in subid mode, newuidmap writes
// its maps meanwhile: the child needs nothing of them until it mounts).
type Hold struct {
	r      *vforkReq
	pid    int
	errR   *os.File
	attr   *Attr
	done   bool
	reaped bool
}

// Go gives the held child its setup and the rest of its payload, lets
// it go on, and waits until it and the payload's child have executed
// (nil) or one failed (its error; the child is reaped then). p is nil for
// a child held without a payload (Attr.Hold alone).
func (h *Hold) Go(setup *plan.Plan, p *Payload) error {
	if h.r == nil || h.done {
		return errors.New("no held child to go on")
	}
	h.done = true
	defer h.errR.Close()
	// On every error the child is ended and reaped, as the doc says.
	fail := func(err error) error {
		h.abort()
		if h.pid > 0 {
			Wait(h.pid)
			h.reaped = true
		}
		return err
	}
	if (p != nil) != h.r.raw {
		return fail(errors.New("a held raw PID 1 goes on with its payload, any other held child without one"))
	}
	if p != nil {
		if err := h.r.setPayload(p); err != nil {
			return fail(err)
		}
	}
	h.r.setup = setup
	h.r.keep = append(h.r.keep, setup)
	atomic.StoreUint32(&h.r.goState, 1)
	syscall.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&h.r.goState)), futexWakePrivate, 1, 0, 0, 0)
	err := waitExec(h.errR, h.pid, h.attr)
	h.reaped = err != nil // waitExec reaps a child that failed
	goruntime.KeepAlive(h.r)
	return err
}

// Early waits until the held child has run Attr.Early, and returns nil or
// the step that failed, as a *StepError of Step StepSetup whose Index is
// the op's in Early. The child waits on for Go either way. A child that
// has not got there in a second (stopped, say) counts as failed.
func (h *Hold) Early() error {
	if h.r == nil || h.r.early == nil {
		return errors.New("no early plan")
	}
	wait := unix.Timespec{Nsec: 10e6}
	for i := 0; i < 100 && atomic.LoadUint32(&h.r.earlyState) == 0; i++ {
		syscall.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&h.r.earlyState)), futexWaitPrivate, 0, uintptr(unsafe.Pointer(&wait)), 0, 0)
	}
	switch atomic.LoadUint32(&h.r.earlyState) {
	case 1:
		return nil
	case 2:
		return &StepError{Step: StepSetup, Index: int(h.r.earlyAt), Errno: syscall.Errno(h.r.earlyErr)}
	}
	return errors.New("the held child did not run its early plan in a second")
}

// Reaped says whether Go reaped the child, which a failed step ends: its
// pid may then be another process's already, and must not be waited for.
func (h *Hold) Reaped() bool { return h.reaped }

// Abort ends the held child, which exits at once; the caller reaps it.
func (h *Hold) Abort() {
	if h.r == nil || h.done {
		return
	}
	h.done = true
	h.errR.Close()
	h.abort()
}

func (h *Hold) abort() {
	atomic.StoreUint32(&h.r.goState, 2)
	syscall.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&h.r.goState)), futexWakePrivate, 1, 0, 0, 0)
}

// heldChild is a held start's child, on a stack of its own beside the
// caller (rawCloneStack): the child's early steps, then a wait for
// Hold.Go, then a raw PID 1's, or without a payload the setup and the
// execve of a vfork-style child.
//
//go:nosplit
//go:norace
func heldChild(r *vforkReq) {
	vforkChild(r)
	closeInherited(r)
	if r.early != nil {
		heldEarly(r)
	}
	for atomic.LoadUint32(&r.goState) == 0 {
		syscall.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&r.goState)), futexWaitPrivate, 0, uintptr(unsafe.Pointer(&r.holdWait)), 0, 0)
		if atomic.LoadUint32(&r.goState) == 0 && callerGone(r) {
			for {
				syscall.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
			}
		}
	}
	if atomic.LoadUint32(&r.goState) != 1 {
		for {
			syscall.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
		}
	}
	if !r.raw {
		vforkSetup(r)
		vforkExec(r)
		return
	}
	rawInit(r)
}

// heldEarly runs Attr.Early and says how it went (Hold.Early).
//
//go:nosplit
//go:norace
func heldEarly(r *vforkReq) {
	state := uint32(1)
	if at, e := plan.Execute(r.early, 0); at >= 0 {
		state, r.earlyAt, r.earlyErr = 2, int32(at), uint32(e)
	}
	atomic.StoreUint32(&r.earlyState, state)
	syscall.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&r.earlyState)), futexWakePrivate, 1, 0, 0, 0)
}

// callerGone says whether the caller that holds this held child has
// died: the read end of the child's status pipe, which only the caller
// holds, is closed (the write end polls as an error then).
//
//go:nosplit
//go:norace
func callerGone(r *vforkReq) bool {
	r.callerPoll.Revents = 0
	n, _, e := syscall.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&r.callerPoll)), 1, uintptr(unsafe.Pointer(&r.noWait)), 0, 0, 0)
	return e == 0 && n == 1 && r.callerPoll.Revents&unix.POLLERR != 0
}

func stepName(step uint32, a *Attr) string {
	switch {
	case step == stepSetsid:
		return "setsid"
	case step == stepPdeath:
		return "setting the parent-death signal"
	case step == stepSetpgid:
		return "setpgid"
	case step >= stepMaps && step < stepDup:
		return "writing the id maps (" + strings.TrimSpace(a.UIDMap) + ")"
	case step == stepDup:
		return "passing descriptors"
	case step == stepExec:
		return "executing " + a.Path
	case step == stepAmbient:
		return "raising ambient capabilities"
	case step == stepUserNS:
		return "entering the spare user namespace"
	case step == stepInner:
		return "cloning the child in the spare user namespace"
	case step == stepMountNS:
		return "entering the spare's mount namespace"
	case step == stepIPCNS:
		return "entering the spare's IPC namespace"
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
	// A frame of its own, not vforkChild's: the plan's executor needs
	// the room (the linker checks that nosplit frames fit).
	vforkSetup(r)
	vforkExec(r)
	return
}

// vforkChild is the child's side: system calls only, then execve.
//
//go:nosplit
//go:norace
func vforkChild(r *vforkReq) {
	// Our handlers are the parent's code: back to the defaults before the
	// signals are unblocked. A signal ignored in the parent (our copy of
	// its table says so) stays ignored, as with os/exec (a CLI started by
	// nohup): put back. Found here rather than by the parent, whose 64
	// calls to look (46 µs) were on its path.
	var old [4]uint64
	for sig := uintptr(1); sig <= 64; sig++ {
		if sig == uintptr(unix.SIGKILL) || sig == uintptr(unix.SIGSTOP) {
			continue
		}
		syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, uintptr(unsafe.Pointer(&r.dfl)), uintptr(unsafe.Pointer(&old)), 8, 0, 0)
		if old[0] == 1 { // SIG_IGN
			syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
		}
	}
	if r.setsid {
		if _, _, e := syscall.RawSyscall(unix.SYS_SETSID, 0, 0, 0); e != 0 {
			vforkFail(r, stepSetsid, e)
		}
	}
	if r.setpgid {
		if _, _, e := syscall.RawSyscall(unix.SYS_SETPGID, 0, 0, 0); e != 0 {
			vforkFail(r, stepSetpgid, e)
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
	if r.detach {
		// Nobody waits for this child, and from here on it may wait
		// itself, at the idle policy, behind everything else: what it has
		// of ours besides goes now, not at its execve. Among it may be a
		// pipe whose reader waits for its end: a command's standard
		// output, whose copy here kept `sandbox run --rm … | cat` waiting
		// after the command had exited (up to 0.2 s under load). All but
		// the status pipe's end, which says when this child is done with
		// our memory.
		closeInherited(r)
	} else {
		syscall.RawSyscall(unix.SYS_CLOSE_RANGE, uintptr(len(fds)), ^uintptr(0), unix.CLOSE_RANGE_CLOEXEC)
	}
	// The idle policy last, once nothing of ours is held here that
	// another process could be waiting on.
	if r.idle {
		syscall.RawSyscall(unix.SYS_SCHED_SETSCHEDULER, 0, unix.SCHED_IDLE, uintptr(unsafe.Pointer(&r.schedParam)))
	}
}

// closeInherited closes, in a held or detached child, every descriptor
// the parent had open at the clone but its own (put in place by
// vforkChild) and the status pipe. A child that executes at once loses
// them to close-on-exec; a held one would keep them while it waits, and a
// pipe whose end another start of the parent waits for (a task's status
// pipe, made just before this clone) would then not end until the wait
// does: a deadlock, since the hold is released only after that task. A
// detached one may wait too, at the idle policy (vforkChild).
//
//go:nosplit
//go:norace
func closeInherited(r *vforkReq) {
	first := uintptr(len(r.fds))
	if r.errW > first {
		closeFrom(first, r.errW-1)
	}
	closeFrom(r.errW+1, ^uintptr(0))
}

// closeFrom closes descriptors lo to hi: close_range, or before Linux 5.9
// each of those below 1024 in turn.
//
//go:nosplit
//go:norace
func closeFrom(lo, hi uintptr) {
	if _, _, e := syscall.RawSyscall(unix.SYS_CLOSE_RANGE, lo, hi, 0); e != unix.ENOSYS {
		return
	}
	for fd := lo; fd <= hi && fd < 1024; fd++ {
		syscall.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
	}
}

// vforkSetup runs the setup plan, if any.
//
//go:nosplit
//go:norace
func vforkSetup(r *vforkReq) {
	if r.setup != nil {
		if at, e := plan.Execute(r.setup, 0); at >= 0 {
			vforkFail(r, uint32(stepRaw*StepSetup+at), e)
		}
	}
}

// stamp records the time of step i, if asked (Attr.Stamps).
//
//go:nosplit
//go:norace
func stamp(r *vforkReq, i uintptr) {
	if r.stamps != nil {
		syscall.RawSyscall(unix.SYS_CLOCK_GETTIME, unix.CLOCK_MONOTONIC, uintptr(unsafe.Pointer(&r.stamps[i&3])), 0)
	}
}

// vforkExec restores the signal mask and executes the program.
//
//go:nosplit
//go:norace
func vforkExec(r *vforkReq) {
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&r.mask)), 0, 8, 0, 0)
	_, _, e := syscall.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(r.path)), uintptr(unsafe.Pointer(r.argv)), uintptr(unsafe.Pointer(r.envp)))
	vforkFail(r, stepExec, e)
}

// FUTEX_WAIT and FUTEX_WAKE, process-private (the two share one memory).
const (
	futexWait        = 0
	futexWaitPrivate = 0 | 128
	futexWakePrivate = 1 | 128
)

// payloadStack is the size of the payload child's stack: nosplit frames
// only, which the linker keeps under a kilobyte each chain.
const payloadStack = 16 << 10

// rawInit is a raw PID 1: it starts the payload's child beside it
// (payloadChild, which seals itself meanwhile), runs the setup, tells the
// child that the root is in place, and executes its program as the idle
// stage, every signal still blocked, so that what came meanwhile waits.
//
//go:nosplit
//go:norace
func rawInit(r *vforkReq) {
	syscall.RawSyscall(unix.SYS_SET_TID_ADDRESS, uintptr(unsafe.Pointer(&r.execed)), 0, 0)
	pid, errno := rawCloneStack(unix.CLONE_VM|uintptr(unix.SIGCHLD), r.stackTop, r, r.payloadPC, 0)
	if errno != 0 {
		vforkFail(r, uint32(stepRaw*StepClone), syscall.Errno(errno))
	}
	stamp(r, 0)
	if r.setup != nil {
		if at, e := plan.Execute(r.setup, 0); at >= 0 {
			release(r, 2)
			vforkFail(r, uint32(stepRaw*StepSetup+at), e)
		}
	}
	stamp(r, 1)
	release(r, 1)
	plan.WriteDecimal(unsafe.Pointer(&r.pidBuf), pid) // its last byte stays 0: execveat's empty path
	stamp(r, 3)
	_, _, e := syscall.RawSyscall6(unix.SYS_EXECVEAT, r.initFD, uintptr(unsafe.Pointer(&r.pidBuf[len(r.pidBuf)-1])),
		uintptr(unsafe.Pointer(r.argv)), uintptr(unsafe.Pointer(r.envp)), unix.AT_EMPTY_PATH, 0)
	vforkFail(r, uint32(stepRaw*StepInit), e)
}

// release tells the payload's child how the setup went (1: the root is
// in place; 2: it failed) and wakes it.
//
//go:nosplit
//go:norace
func release(r *vforkReq, v uint32) {
	atomic.StoreUint32(&r.pivoted, v)
	syscall.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&r.pivoted)), futexWakePrivate, 1, 0, 0, 0)
}

// payloadChild is the payload's side, on a stack of its own beside PID 1
// (rawCloneStack): its own session, the seal, then, once PID 1 has put
// the root in place, its working directory, and once PID 1 has executed
// its program, each candidate's execve until one works. Its descriptors 0, 1 and 2 are PID 1's; every other is
// closed by the execve.
//
//go:nosplit
//go:norace
func payloadChild(r *vforkReq) {
	if _, _, e := syscall.RawSyscall(unix.SYS_SETSID, 0, 0, 0); e != 0 {
		vforkFail(r, stepSetsid, e)
	}
	if r.join != nil {
		if at, e := plan.Execute(r.join, 0); at >= 0 {
			vforkFail(r, uint32(stepRaw*StepJoin+at), e)
		}
	}
	if r.seal != nil {
		if at, e := plan.Execute(r.seal, 0); at >= 0 {
			vforkFail(r, uint32(stepRaw*StepSeal+at), e)
		}
	}
	stamp(r, 2)
	for atomic.LoadUint32(&r.pivoted) == 0 {
		syscall.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&r.pivoted)), futexWaitPrivate, 0, 0, 0, 0)
	}
	if atomic.LoadUint32(&r.pivoted) != 1 {
		for {
			syscall.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0) // PID 1 says why
		}
	}
	if r.enter != nil {
		if at, e := plan.Execute(r.enter, 0); at >= 0 {
			vforkFail(r, uint32(stepRaw*StepEnter+at), e)
		}
	}
	waitInitExec(r)
	payloadExec(r)
}

// waitInitExec waits until PID 1 has executed its program: the kernel
// clears r.execed as the execve replaces PID 1's memory, and the new
// program's arguments are in place a moment later, which /proc/1/cmdline
// shows (the payload's root and /proc are the container's by now): some
// tens of microseconds, which a sleep between looks made 50–100 (the
// timer's slack), so the first looks only yield. At most a second or so:
// an init that never gets there ends the container anyway.
//
//go:nosplit
//go:norace
func waitInitExec(r *vforkReq) {
	for atomic.LoadUint32(&r.execed) != 0 {
		// Not process-private: the kernel's wake at the execve is not.
		// With a timeout, so that a wake missed costs a look again, not
		// the container.
		syscall.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&r.execed)), futexWait, 1, uintptr(unsafe.Pointer(&r.execWait)), 0, 0)
	}
	for i := 0; i < 20000; i++ {
		fd, _, e := syscall.RawSyscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(&procInitCmdline[0])), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
		if e != 0 {
			return
		}
		n, _, _ := syscall.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&r.probe[0])), uintptr(len(r.probe)))
		syscall.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
		if n > 0 && n <= uintptr(len(r.probe)) {
			return
		}
		if i < 500 {
			syscall.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0) // PID 1 may be waiting for this CPU
		} else {
			syscall.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&r.probeWait)), 0, 0)
		}
	}
}

// procInitCmdline is PID 1's argument vector, NUL-terminated.
var procInitCmdline = [...]byte{'/', 'p', 'r', 'o', 'c', '/', '1', '/', 'c', 'm', 'd', 'l', 'i', 'n', 'e', 0}

// payloadExec executes the payload: each candidate in turn.
//
//go:nosplit
//go:norace
func payloadExec(r *vforkReq) {
	syscall.RawSyscall(unix.SYS_CLOSE_RANGE, 3, ^uintptr(0), unix.CLOSE_RANGE_CLOEXEC)
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&r.mask)), 0, 8, 0, 0)
	paths := r.paths
	last := syscall.ENOENT
	for i := 0; i < len(paths); i++ {
		_, _, e := syscall.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(paths[i])), uintptr(unsafe.Pointer(r.pArgv)), uintptr(unsafe.Pointer(r.pEnvp)))
		if !r.search || (e != syscall.ENOENT && e != syscall.ENOTDIR && e != syscall.EACCES) {
			vforkFail(r, uint32(stepRaw*StepExec+i), e)
		}
		last = e
	}
	vforkFail(r, uint32(stepRaw*StepNotFound), last)
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
