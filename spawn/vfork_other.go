//go:build !amd64

package spawn

import "golang.org/x/sys/unix"

// haveVfork is false: without rawVfork's assembly, children start
// through os/exec (startChild's other path).
const haveVfork = false

func rawVfork(trap, a1, a2 uintptr) (r1, errno uintptr) { return ^uintptr(0), uintptr(unix.ENOSYS) }

func rawCloneStack(flags, stack uintptr, r *vforkReq, entry, ptid uintptr) (pid, errno uintptr) {
	return ^uintptr(0), uintptr(unix.ENOSYS)
}

func payloadEntry() uintptr { return 0 }
func heldEntry() uintptr    { return 0 }
func nsEntry() uintptr      { return 0 }
func innerEntry() uintptr   { return 0 }
