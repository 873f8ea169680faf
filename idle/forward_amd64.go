package idle

import (
	"syscall"

	"github.com/sandbox-dev/sandbox/rawsig"
)

// Forwards says ForwardWhileExecuting sends signals on here.
const Forwards = true

// forward, in idle_amd64.s, is reached only through the address
// forwardAddr gives.
func forwardAddr() uintptr

// forwardPid is the process forward sends signals to.
var forwardPid int32

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
	handler := forwardAddr()
	var old [64]rawsig.Action
	var set [64]bool
	for sig := 1; sig <= 64; sig++ {
		if mask&(1<<(sig-1)) == 0 || sig == int(syscall.SIGKILL) || sig == int(syscall.SIGSTOP) {
			continue
		}
		var err error
		if old[sig-1], err = rawsig.Install(sig, handler, rawsig.OnStack|rawsig.Restart); err == nil {
			set[sig-1] = true
		}
	}
	return func() {
		for sig := 1; sig <= 64; sig++ {
			if set[sig-1] {
				old[sig-1].Restore(sig)
			}
		}
	}
}
