//go:build !amd64

package plan

import "syscall"

// sys6 makes a system call. Only amd64 has the frameless one that a
// vfork-style child needs (package spawn has no such child elsewhere).
//
//go:nosplit
func sys6(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, syscall.Errno) {
	r1, _, e := syscall.RawSyscall6(trap, a1, a2, a3, a4, a5, a6)
	return r1, e
}
