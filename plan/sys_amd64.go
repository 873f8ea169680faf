package plan

import "syscall"

// sys6 makes a system call (sys_amd64.s).
//
//go:noescape
func sys6(trap, a1, a2, a3, a4, a5, a6 uintptr) (r1 uintptr, errno syscall.Errno)
