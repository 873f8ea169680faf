// Command sysmontest is sysmon_test's helper: linked with or without
// sysmon.LinkFlags, it settles, says what it found and what a child it
// starts has, waits for its input to end (the test reads its threads'
// slack meanwhile), then puts the runtime's handler back and sends
// itself the signal, which the runtime must ignore.
package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"github.com/sandbox-dev/sandbox/sysmon"
)

func main() {
	sysmon.Settle()
	if len(os.Args) > 1 && os.Args[1] == "blocked" {
		// Again, started with signal 64 blocked: execve keeps the
		// calling thread's mask (and slack, settled first).
		runtime.LockOSThread()
		set := uint64(1) << 63
		syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, 0, uintptr(unsafe.Pointer(&set)), 0, 8, 0, 0)
		err := syscall.Exec("/proc/self/exe", os.Args[:1], os.Environ())
		fmt.Println("exec:", err)
		os.Exit(1)
	}
	out, err := exec.Command("/bin/cat", "/proc/self/timerslack_ns").Output()
	if err != nil {
		fmt.Println("child failed:", err)
		os.Exit(1)
	}
	fmt.Printf("linked=%v entered=%v monitor=%d child=%s\n", sysmon.Linked(), sysmon.Entered(), sysmon.Monitor(), strings.TrimSpace(string(out)))
	io.Copy(io.Discard, os.Stdin)
	sysmon.Done()
	// The handler of signal 64 must be the runtime's again (its flags
	// have SA_SIGINFO; the package's handler's do not).
	var act [4]uint64
	if _, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, 64, 0, uintptr(unsafe.Pointer(&act)), 8, 0, 0); e != 0 {
		fmt.Println("rt_sigaction:", e)
		os.Exit(1)
	}
	const saSiginfo = 4
	syscall.Kill(os.Getpid(), 64)
	fmt.Printf("after done: runtime's handler=%v\n", act[1]&saSiginfo != 0)
}
