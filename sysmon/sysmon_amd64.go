package sysmon

import (
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/sandbox-dev/sandbox/rawsig"
)

// LinkFlags are the linker flags that give a program entry as its entry
// point (go build -ldflags=LinkFlags), in the static build sandbox is
// (CGO_ENABLED=0): with cgo, the C library's own entry must run first.
const LinkFlags = "-E github.com/sandbox-dev/sandbox/sysmon.entry"

// sig carries the request to each thread: SIGRTMAX, which the Go runtime
// ignores unless a program asks for it (its signal table: notify only),
// and which sandbox never asks for.
const sig = 64

// entrySlack is Slack for entry, which runs before any of the runtime's
// code: a variable the linker initialises.
var entrySlack uint64 = Slack

// Set by entry (sysmon_amd64.s) before the runtime starts.
var (
	linked     uint8  // 1: the program started at entry
	entered    uint8  // 1: and entry set Slack
	startSlack uint64 // the slack the process started with
	startMask  uint64 // the signals it started with blocked
)

// reset counts the threads that ran handler.
var reset uint32

// entry and handler are in sysmon_amd64.s; handlerAddr gives handler's
// address.
func entry()
func handlerAddr() uintptr

// Linked says whether the program started at entry (linked with
// LinkFlags).
func Linked() bool { return linked != 0 }

// Entered says whether entry set Slack: it did not where the process
// started with signal 64 blocked.
func Entered() bool { return entered != 0 }

// Monitor is the monitor thread's id once Settle has run, if it kept
// Slack; else 0.
func Monitor() int { return monitor }

// Settle gives every thread but the monitor the slack the process
// started with, if the program started at entry (Monitor then says
// which thread kept Slack: none where it could tell none for the
// monitor, and set them all back). Each thread runs the
// handler as the kernel delivers it the signal: this one before Settle
// returns, the others soon after; Settle does not wait for them. Done
// puts the runtime's handler back.
//
// Only system calls, into buffers of the package's: this is the first
// thing the CLI does, and os.File's first use (the poller's set-up, the
// allocations) cost it more than the rest.
func Settle() {
	if entered == 0 {
		return
	}
	var err error
	if runtimeAction, err = rawsig.Install(sig, handlerAddr(), rawsig.OnStack); err != nil {
		return
	}
	installed = true
	pid := syscall.Getpid()
	tids := threads(tidBuf[:0])
	monitor = monitorThread(pid, tids)
	// This thread too, by signal (the handler runs as tgkill returns):
	// the goroutine may move to another thread meanwhile, and locking
	// it to this one would start the runtime's template thread here.
	sent := sentBuf[:0]
	if monitor != 0 {
		sent = append(sent, monitor)
	}
	// Again until no thread is new: one cloned by a thread not yet
	// signalled has the slack of the entry. (A thread signalled before
	// its clone returns runs the handler first: the kernel restarts a
	// clone when a signal waits, so the new thread gets the slack the
	// handler set.)
	for round := 0; round < 10 && len(tids) > 0; round++ {
		more := false
		for _, tid := range tids {
			if slices.Contains(sent, tid) {
				continue
			}
			sent, more = append(sent, tid), true
			if _, _, e := syscall.RawSyscall(syscall.SYS_TGKILL, uintptr(pid), uintptr(tid), sig); e == 0 {
				signalled++
			}
		}
		if !more {
			break
		}
		tids = threads(tidBuf[:0])
	}
}

// Done puts the runtime's handler of the signal back once every thread
// Settle signalled has run the handler (the handler in place when the
// kernel delivers a signal is the one that runs); otherwise it leaves
// it, which is harmless: the runtime would ignore that signal, and the
// handler only sets the slack the thread it lands on started with.
func Done() {
	if installed && atomic.LoadUint32(&reset) >= signalled {
		runtimeAction.Restore(sig)
		installed = false
	}
}

// Settle's state, and its buffers.
var (
	monitor       int // the monitor thread, which kept Slack
	runtimeAction rawsig.Action
	installed     bool
	signalled     uint32
	tidBuf        [16]int // a process has a few threads as its main starts (more: append grows them)
	sentBuf       [16]int
	dirents       [1024]byte
	nameBuf       [16]string
	path          [64]byte
)

// threads appends the process's thread ids to tids.
func threads(tids []int) []int {
	fd, ok := open("/proc/self/task", syscall.O_RDONLY|syscall.O_DIRECTORY)
	if !ok {
		return tids
	}
	defer syscall.RawSyscall(syscall.SYS_CLOSE, fd, 0, 0)
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_GETDENTS64, fd, uintptr(unsafe.Pointer(&dirents[0])), uintptr(len(dirents)))
		if e != 0 || n == 0 {
			return tids
		}
		_, _, names := syscall.ParseDirent(dirents[:n], -1, nameBuf[:0])
		for _, name := range names {
			if tid, err := strconv.Atoi(name); err == nil {
				tids = append(tids, tid)
			}
		}
	}
}

// open opens name (which must fit path, with its zero) by system call.
func open(name string, flags int) (uintptr, bool) {
	if len(name) >= len(path) {
		return 0, false
	}
	copy(path[:], name)
	path[len(name)] = 0
	fd, _, e := syscall.RawSyscall6(syscall.SYS_OPENAT, uintptr(atFdcwd), uintptr(unsafe.Pointer(&path[0])), uintptr(flags|syscall.O_CLOEXEC), 0, 0, 0)
	return fd, e == 0
}

// atFdcwd is AT_FDCWD, a variable so that it converts to uintptr.
var atFdcwd = -100

// monitorThread returns the id of the runtime's monitor thread among
// tids, or 0. The runtime makes it first (runtime.main, before anything
// else can start a thread), so its id is the lowest after the process's
// (ids wrap around at pid_max: then the lowest of all). And it is the
// one thread that waits in nanosleep (runtime.usleep) while the program
// works; the others wait on futexes. Both must hold.
func monitorThread(pid int, tids []int) int {
	after, lowest := 0, 0
	for _, tid := range tids {
		if tid == pid {
			continue
		}
		if tid > pid && (after == 0 || tid < after) {
			after = tid
		}
		if lowest == 0 || tid < lowest {
			lowest = tid
		}
	}
	tid := after
	if tid == 0 {
		tid = lowest
	}
	if tid == 0 {
		return 0
	}
	// The file says "running" while the thread runs (a scan of the
	// runtime's takes a few microseconds of its every wake-up): then
	// again, after a yield.
	name := "/proc/self/task/" + strconv.Itoa(tid) + "/syscall"
	want := strconv.Itoa(syscall.SYS_NANOSLEEP) + " "
	for try := 0; ; try++ {
		fd, ok := open(name, syscall.O_RDONLY)
		if !ok {
			return 0
		}
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&path[0])), uintptr(len(path)))
		syscall.RawSyscall(syscall.SYS_CLOSE, fd, 0, 0)
		said := ""
		if e == 0 {
			said = string(path[:n])
		}
		switch {
		case strings.HasPrefix(said, want):
			return tid
		case strings.HasPrefix(said, "running") && try < 3:
			syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
		case strings.HasPrefix(said, "running") && try < 40:
			// Still: its processor was taken from it while it ran (a
			// virtual machine's vCPU descheduled, which kept it
			// "running" past three yields in 1 of 20 runs of the test on
			// a Firecracker guest). A short sleep gives it the time.
			ts := syscall.Timespec{Nsec: 20e3}
			syscall.RawSyscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
		default:
			return 0
		}
	}
}
