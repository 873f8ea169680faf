package rawsig

import (
	"syscall"
	"unsafe"
)

// Action is the kernel's struct sigaction on linux/amd64.
type Action struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// Flags of Action.
const (
	restorerFlag = 0x04000000 // SA_RESTORER
	OnStack      = 0x08000000 // SA_ONSTACK: on the thread's signal stack, as the runtime's handlers run
	Restart      = 0x10000000 // SA_RESTART
)

// restorerAddr, in rawsig_amd64.s, is the address of the restorer.
func restorerAddr() uintptr

// Install makes handler, the address of an assembly function (not of a
// Go func value: that is the address of its ABI wrapper, which expects a
// goroutine), sig's handler, with flags (OnStack, Restart) and every
// signal blocked while it runs, and returns the action it replaced.
func Install(sig int, handler uintptr, flags uint64) (old Action, err error) {
	act := Action{handler: handler, flags: flags | restorerFlag, restorer: restorerAddr(), mask: ^uint64(0)}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
		return old, e
	}
	return old, nil
}

// Restore makes a, which Install returned, sig's action again.
func (a *Action) Restore(sig int) {
	syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(a)), 0, 8, 0, 0)
}
