// Command idletest is the idle package's test program: linked with the
// idle stage's entry, it starts a payload and goes idle ("start"), and
// reports what it finds when the idle stage executes it again ("resumed").
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/sandbox-dev/sandbox/idle"
	"golang.org/x/sys/unix"
)

func main() {
	switch os.Args[1] {
	case "start":
		start(os.Args[2], os.Args[3], os.Args[4] == "reap")
	case "resumed":
		resumed(os.Args[2:])
	default:
		fmt.Println("unknown mode", os.Args[1])
		os.Exit(2)
	}
}

// start: start SCRIPT under sh as the payload, then go idle watching the
// descriptor OUTFD (or -1), reaping other children or not.
func start(script, outfd string, reap bool) {
	if !idle.Entered() {
		fmt.Println("not entered through the idle entry")
		os.Exit(3)
	}
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", script}, &syscall.ProcAttr{Files: []uintptr{0, 1, 2}})
	if err != nil {
		fmt.Println(err)
		os.Exit(4)
	}
	exe, err := unix.Open("/proc/self/exe", unix.O_RDONLY, 0)
	if err != nil {
		fmt.Println(err)
		os.Exit(5)
	}
	stage := exe
	out, _ := strconv.Atoi(outfd)
	if out >= 0 {
		unix.FcntlInt(uintptr(out), unix.F_SETFD, 0)
	}
	// No Go stage: the idle stage ends with the payload, and the
	// descriptor given gets its exit code instead of being watched.
	status := -1
	if os.Getenv("IDLETEST_NOSTAGE") != "" {
		stage, status, out = -1, out, -1
	}
	fmt.Printf("payload %d\n", pid)
	forward := uint64(1)<<(unix.SIGUSR1-1) | uint64(1)<<(unix.SIGTERM-1)
	args := idle.Args("idletest", pid, stage, out, -1, -1, forward, reap, status, os.Getenv("IDLETEST_LINGER") != "", []string{"idletest", "resumed", strconv.Itoa(pid), outfd})
	runtime.LockOSThread()
	if os.Getenv("IDLETEST_PDEATHSIG") != "" {
		unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	}
	// Every signal blocked, on the only thread the execve keeps.
	all := unix.Sigset_t{Val: [16]uint64{^uint64(0)}}
	unix.PthreadSigmask(unix.SIG_SETMASK, &all, nil)
	err = syscall.Exec(fmt.Sprintf("/proc/self/fd/%d", exe), args, os.Environ())
	fmt.Println("exec:", err)
	os.Exit(6)
}

// resumed reports whether the payload has ended (and how), the signals
// blocked, the descriptor's pending bytes and the zombies left.
func resumed(args []string) {
	pid, _ := strconv.Atoi(args[0])
	var ws unix.WaitStatus
	wpid, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	switch {
	case err != nil:
		fmt.Println("payload: wait:", err)
	case wpid == 0:
		fmt.Println("payload: running")
		unix.Kill(pid, unix.SIGKILL)
		unix.Wait4(pid, &ws, 0, nil)
	case ws.Signaled():
		fmt.Println("payload: signal", int(ws.Signal()))
	default:
		fmt.Println("payload: exit", ws.ExitStatus())
	}
	status, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "SigBlk:") || strings.HasPrefix(l, "SigPnd:") {
			fmt.Println(strings.Join(strings.Fields(l), " "))
		}
	}
	if out, _ := strconv.Atoi(args[1]); out >= 0 {
		b := make([]byte, 64)
		n, _ := unix.Read(out, b)
		fmt.Printf("output: %q\n", b[:max(n, 0)])
	}
	// Any other child left is a zombie the idle stage did not reap.
	for {
		wpid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err != nil || wpid <= 0 {
			break
		}
		fmt.Println("unreaped child", wpid)
	}
}
