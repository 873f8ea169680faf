package idle

import (
	"syscall"
	"unsafe"
)

// Forwards says ForwardWhileExecuting sends signals on here.
const Forwards = true

// forward and forwardReturn, in idle_amd64.s, are reached only through
// the addresses forwardAddrs gives.
func forwardAddrs() (handler, restorer uintptr)

// forwardPid is the process forward sends signals to.
var forwardPid int32

// kernelSigaction is the kernel's struct sigaction on linux/amd64.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const (
	saRestorer = 0x04000000
	saOnstack  = 0x08000000
	saRestart  = 0x10000000
)

// ForwardWhileExecuting makes each signal of mask (bit n-1 for signal
// n) go straight on to pid from the moment it arrives, by a handler of
// a few instructions in place of the Go runtime's, and returns what puts
// the runtime's handlers back (for an execve that failed).
//
// For a Go program that is about to execute another image: a signal the
// runtime catches is sent on by a goroutine, and one caught on another
// thread while the execve runs (which blocks nothing on the threads it
// is about to end) dies with them. The new image's handlers replace
// this one in any case: an execve sets every handler back to the
// default. And for one that only passes signals on (the CLI, to a raw
// start's PID 1), without os/signal's round trip to the runtime's
// signal thread for each signal it enables. The handler has one pid for
// the whole process: one caller at a time.
func ForwardWhileExecuting(pid int, mask uint64) (restore func()) {
	if pid <= 0 {
		// kill(0) and kill(-1) would reach a process group, or every
		// process there is.
		return func() {}
	}
	forwardPid = int32(pid)
	handler, restorer := forwardAddrs()
	act := kernelSigaction{
		handler:  handler,
		flags:    saOnstack | saRestart | saRestorer,
		restorer: restorer,
		mask:     ^uint64(0),
	}
	var old [64]kernelSigaction
	var set [64]bool
	for sig := 1; sig <= 64; sig++ {
		if mask&(1<<(sig-1)) == 0 || sig == int(syscall.SIGKILL) || sig == int(syscall.SIGSTOP) {
			continue
		}
		if _, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), uintptr(unsafe.Pointer(&old[sig-1])), 8, 0, 0); e == 0 {
			set[sig-1] = true
		}
	}
	return func() {
		for sig := 1; sig <= 64; sig++ {
			if set[sig-1] {
				syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&old[sig-1])), 0, 8, 0, 0)
			}
		}
	}
}
