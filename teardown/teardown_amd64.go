package teardown

import (
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawHold clones the holder: see hold_amd64.s.
func rawHold(stack, ppid uintptr) (pid, errno uintptr)

// holderStack is the holder's stack. It makes only system calls, and
// keeps there only the pollfd of its wait and the sched_param of its
// policy, but the kernel wants one, and it must not be a stack the Go
// runtime may move or reuse.
var holderStack [256]byte

// Defer clones the holder and returns its pid. Call it only as the
// process exits: the holder, which holds the whole address space, ends
// once every thread of the process has (a pidfd of it).
func Defer() (int, error) {
	// Every signal blocked on this thread while it clones, so that the
	// holder starts with them all blocked; restored here after. Locked:
	// the mask is the thread's, and the clone must come from the thread
	// that set it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var all, old unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^uint64(0)
	}
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &all, &old); err != nil {
		return 0, err
	}
	top := uintptr(unsafe.Pointer(&holderStack[len(holderStack)-1])) &^ 15
	pid, errno := rawHold(top, uintptr(unix.Getpid()))
	unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	if errno != 0 {
		return 0, syscall.Errno(errno)
	}
	return int(pid), nil
}
