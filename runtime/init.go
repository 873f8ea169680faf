package runtime

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/capability"
	"github.com/sandbox-dev/sandbox/fuseoverlay"
	"github.com/sandbox-dev/sandbox/task"
)

// IsInit reports whether this process was started by Run or RunTask as the
// child side. The CLI checks it first thing in main.
func IsInit() bool { return len(os.Args) > 1 && os.Getenv(initEnv) == "1" }

// Main is InitMain in this binary, which runs the child side where the
// init program is not used (none is carried, or none could be opened).
// It never returns. The stages are described in docs/handshake.md.
func Main() { InitMain() }

// InitMain is the child side: a container's PID 1 or one of its helper
// stages, or a task (RunTask). It is cmd/sandbox-init's main, or Main's
// when this binary is its own init. It never returns.
func InitMain() {
	Trace("init main (%s)", os.Args[1])
	args := os.Args[1:]
	if args[0] == "mapwait" {
		mapWait()
		args = args[1:]
	}
	switch args[0] {
	case "protect":
		protectExe()
	case "setup":
		runInit()
	case "resident":
		residentMain(args[1:])
	case "watch":
		watchMain(args[1:])
	case "bridge":
		switchMain(args[1:])
	case "health":
		healthMain(args[1:])
	case "text":
		textMain()
	case "remove":
		removeMain(args[1:])
	case "task":
		runTask()
	case "spare":
		spareMain(args[1:])
	case "spare-hold":
		spareHoldMain(args[1:])
	}
	fail(125, "unknown sandbox-init stage %q", args[0])
}

// mapWait is the first stage of a child started before its id maps
// exist (subid mode): it holds every capability of its namespace as
// ambient, which is how they survived its execve. It waits for the
// parent's byte (the maps are written), becomes the container's root,
// and clears the ambient and inheritable sets on every thread, so that
// nothing of them reaches any program it starts; then the next stage
// runs in this same process.
func mapWait() {
	// By number, not through an *os.File: one dropped here would close
	// fd 4 whenever a collection ran its cleanup, and fd 4 is read and
	// written by number again (the network, hooks, the resident init's
	// release, which then read another descriptor given that number).
	b := make([]byte, 1)
	if n, _ := unix.Read(fdSync, b); n != 1 {
		// The parent failed to write the maps and said why; nothing to add.
		os.Exit(125)
	}
	Trace("maps written")
	// Our ids may be any in the map (keep-id gives the user's own
	// inside): root is what the init must be. With the usual map we are
	// root already, on every thread (the ids are the process's, the map
	// only names them), and each set*id call below stops every thread:
	// half a millisecond saved on most starts.
	rgid, egid, sgid := unix.Getresgid()
	if rgid != 0 || egid != 0 || sgid != 0 {
		if err := syscall.Setresgid(0, 0, 0); err != nil {
			fail(125, "becoming the container's root (gid 0): %v", err)
		}
	}
	ruid, euid, suid := unix.Getresuid()
	if ruid != 0 || euid != 0 || suid != 0 {
		if err := syscall.Setresuid(0, 0, 0); err != nil {
			fail(125, "becoming the container's root (uid 0): %v", err)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		fail(125, "reading capabilities: %v", err)
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	_, _, e1 := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0)
	_, _, e2 := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	if e1 == 0 && e2 == 0 {
		return
	}
	if e1 != 0 && e1 != syscall.ENOTSUP {
		fail(125, "clearing the ambient capabilities: %v", e1)
	}
	if e1 == 0 {
		fail(125, "clearing the inheritable capabilities: %v", e2)
	}
	// A binary built with cgo cannot change every thread's sets: clear
	// them on this one and execute again without this stage; the execve
	// leaves one thread, and as root it keeps every capability.
	unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	unix.Capset(&hdr, &data[0])
	err := syscall.Exec("/proc/self/exe", append([]string{initName}, os.Args[2:]...), os.Environ())
	fail(125, "re-executing the sandbox init after the id maps were written: %v", err)
}

// waitNetwork asks the parent to connect the network namespace and waits
// for its byte on the sync pipe. End of file means the parent failed (and
// said why) or died. A terminating signal meanwhile (^C while a helper is
// slow) ends the sandbox at once, as it would have ended the payload;
// other signals are kept for the payload.
func waitNetwork(sigs chan os.Signal, taps []int) {
	Trace("init waits for the network")
	if len(taps) > 0 {
		if err := sendTaps(taps); err != nil {
			fail(125, "%v", err)
		}
	}
	report(status{Type: "network"})
	got := make(chan bool, 1)
	go func() {
		b := make([]byte, 1)
		n, _ := unix.Read(fdSync, b)
		got <- n == 1
	}()
	var kept []os.Signal
	for {
		select {
		case ok := <-got:
			if !ok {
				os.Exit(125)
			}
			for _, s := range kept {
				select {
				case sigs <- s:
				default:
				}
			}
			Trace("network connected")
			return
		case s := <-sigs:
			switch s {
			case unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT:
				os.Exit(128 + int(s.(syscall.Signal)))
			}
			kept = append(kept, s)
		}
	}
}

// protectExe re-executes the init from a read-only bind mount of its own
// binary, private to the container's mount namespace. The container's root
// maps to the owner of the binary, so without this a process inside could
// reopen /proc/1/exe (or its own /proc/self/exe after running it via
// "#!/proc/self/exe") and overwrite the host's sandbox binary.
func protectExe() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil || strings.HasSuffix(exe, " (deleted)") {
		fail(125, "finding the sandbox binary to protect it (%q): %v; was it replaced while running?", exe, err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		fail(125, "making the mount namespace private: %v", err)
	}
	if err := unix.Mount(exe, exe, "", unix.MS_BIND, ""); err != nil {
		fail(125, "binding %q read-only: %v", exe, err)
	}
	if err := fuseoverlay.RemountReadOnly(exe); err != nil {
		fail(125, "%v", err)
	}
	err = syscall.Exec(exe, []string{initName, "setup"}, os.Environ())
	fail(125, "re-executing the sandbox init from its read-only view: %v", err)
}

// watchParent makes the kernel kill us when the sandbox process that
// started us dies, and exits now if it already has. The clone set this up,
// but an execve that gains capabilities (the subid mode's second stage)
// clears the parent-death signal, so it is set again here. The parent holds
// the write end of the sync pipe until it is done with us: a hang-up there
// means it is gone (getppid says 0 in a new PID namespace either way).
func watchParent() {
	unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	fds := []unix.PollFd{{Fd: fdSync, Events: unix.POLLIN}}
	if n, _ := unix.Poll(fds, 0); n > 0 && fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0 {
		os.Exit(125)
	}
}

// report sends one status message to the parent.
func report(st status) {
	if statusGone {
		return
	}
	b, _ := json.Marshal(st)
	unix.Write(fdStatus, append(b, '\n'))
}

// statusGone is set once the status pipe is closed (closeStatus): its
// number may then be another descriptor's, which report must not write.
var statusGone bool

// closeStatus closes the status pipe, which tells the parent the start
// is over.
func closeStatus() {
	unix.Close(fdStatus)
	statusGone = true
}

// fail reports a sandbox error to the parent and exits with code.
func fail(code int, format string, args ...any) {
	report(status{Type: "error", Code: code, Msg: fmt.Sprintf(format, args...)})
	os.Exit(code)
}

func readPayload(v any) {
	f := os.NewFile(fdSpec, "spec")
	if err := json.NewDecoder(f).Decode(v); err != nil {
		fail(125, "reading the spec from the parent: %v", err)
	}
	f.Close()
}

// runInit is the container's PID 1.
func runInit() {
	// The init starts with one P (initRuntimeEnv), which is all a
	// resident one needs, and a P fewer to make; but its setup runs on
	// two strands, the mounts and the sealing of the thread its processes
	// are forked from, and with one P they took turns: a start took about
	// 1 ms more (medians of 40–60). Once the payload runs (or for a
	// pod's infra, which assembles nothing), it goes back to one.
	goruntime.GOMAXPROCS(min(2, goruntime.NumCPU()))
	watchParent()
	setName(initName)
	for _, fd := range []int{fdSpec, fdSync, fdStatus, fdConsole} {
		unix.CloseOnExec(fd)
	}
	// Whatever else the user's shell leaked to sandbox stays out of the
	// container.
	unix.CloseRange(fdConsole+1, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	// Catch the signals to forward from the start: PID 1 ignores what it
	// does not handle, and Go's own handling of SIGTERM in a PID 1 that
	// cannot die of it ends in exit(2). What comes before the payload exists
	// is forwarded to it as soon as it does. Set up while the root is
	// assembled, and waited for before anything can depend on it.
	sigs := make(chan os.Signal, 32)
	caught, _ := notifyAsync(sigs, initSignals...)
	var spec Spec
	readPayload(&spec)
	traceOn = spec.Trace
	Trace("init read spec")
	// What a resident init's next image needs from the host's /proc,
	// taken while nothing of the container runs (reexecResident).
	exe := -1
	if spec.Resident != nil || quietCandidate(&spec) {
		spec.CapLast = capability.Last()
		if fd, err := unix.Open("/proc/self/exe", unix.O_PATH|unix.O_CLOEXEC, 0); err == nil {
			exe = fd
		}
	}

	// The exec socket is made while its path is still in reach.
	var execL *net.UnixListener
	if spec.ExecSocket != "" {
		l, err := listenExec(spec.ExecSocket)
		if err != nil {
			fail(125, "%v", err)
		}
		execL = l
	}
	if spec.PodInfra {
		goruntime.GOMAXPROCS(1)
		<-caught
		podInfra(&spec, execL, sigs) // never returns
	}
	// The taps of user-defined networks are made while /dev/net/tun is
	// the host's.
	taps, err := makeTaps(spec.Taps)
	if err != nil {
		fail(125, "%v", err)
	}
	if spec.NetworkWait && spec.ExecSocket != "" {
		keepTunDevice()
	}
	// The thread every container process is forked from is sealed while
	// the root is assembled: installing the seccomp filter alone costs the
	// kernel half a millisecond.
	sp := newSpawner(&spec)
	if err := setupRootfs(&spec); err != nil {
		fail(125, "%v", err)
	}
	if err := sp.wait(); err != nil {
		fail(125, "%v", err)
	}
	<-caught
	if spec.HookWait {
		report(status{Type: "hooks"})
		b := make([]byte, 1)
		if n, _ := unix.Read(fdSync, b); n != 1 || b[0] != 'h' {
			os.Exit(125) // a hook failed, and the parent said why
		}
	}
	if spec.NetworkWait {
		waitNetwork(sigs, taps)
	}
	pid, exit, err := startPayload(&spec, sp)
	if err != nil {
		fail(ExitCode(err), "%v", err)
	}
	go reap(sp)
	// A resident init serves execs from its next image (residentInit).
	var ex *execServer
	if execL != nil && spec.Resident == nil {
		ex = &execServer{l: execL, spec: &spec, sp: sp, pid: pid}
		if exe < 0 {
			ex.start()
		}
	}
	Trace("payload started")
	report(status{Type: "started", Pid: pid})
	// The setup is over: one P is all the rest needs.
	goruntime.GOMAXPROCS(1)
	go forwardSignals(sigs, pid)
	if spec.Resident != nil {
		residentInit(&spec, pid, exit, execL, sp, exe) // never returns
	}
	if spec.HandsOffRemoval {
		removeAfterExit(exit) // never returns
	}
	closeStatus()
	if exe >= 0 {
		quietInit(&spec, pid, exit, ex, exe) // never returns
	}
	// The container ends with its payload; the kernel then kills what is
	// left in the PID namespace as we exit.
	os.Exit(exitCode(<-exit))
}

// setName makes ps show a stage of the init program by its name, not as
// "exe" (it was run as /proc/self/exe) or a descriptor's number. The name
// is the calling thread's: the process's only on the main thread.
func setName(name string) {
	unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&append([]byte(name), 0)[0])), 0, 0, 0)
}

// initSignals are those a container's PID 1 catches, to forward to its
// payload (forwardSignals): the job-control stops too, which the
// payload, not the init, should get.
var initSignals = append([]os.Signal{unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU}, forwardedSignals...)

// forwardSignals sends each signal that comes on sigs to pid, the
// payload's, for as long as the init lives.
func forwardSignals(sigs chan os.Signal, pid int) {
	for s := range sigs {
		unix.Kill(pid, s.(syscall.Signal))
	}
}

// reapMu is held by reap while it reaps. reexecResident takes it for
// good: a status reaped in this image would be lost to the next one.
var reapMu sync.Mutex

// reap reaps every child, whoever started it, and hands statuses to their
// starters. It waits for SIGCHLD rather than in wait4: a goroutine blocked
// in a system call holds a thread of its own for the init's whole life,
// where the signal arrives through the thread os/signal keeps anyway.
func reap(sp *spawner) {
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, unix.SIGCHLD)
	for {
		// All that ended, then wait for more: a SIGCHLD that comes
		// meanwhile waits in the channel, so no exit is missed.
		reapMu.Lock()
		for {
			var ws unix.WaitStatus
			wpid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if err == unix.EINTR {
				continue
			}
			if err != nil || wpid <= 0 {
				break
			}
			sp.reaped(wpid, ws)
		}
		reapMu.Unlock()
		<-chld
	}
}

func runTask() {
	// A task (a layer unpacked, packed or checked) runs for as long as
	// its data takes: its memory is what it uses, not the code pages the
	// program's start mapped.
	DropProgramPages()
	watchParent()
	unix.CloseOnExec(fdSync)
	unix.CloseOnExec(fdSpec)
	unix.CloseOnExec(fdStatus)
	var t taskArgs
	readPayload(&t)
	if traceOn {
		// Which program runs it: the init program, unless none is carried.
		exe, _ := os.Readlink("/proc/self/exe")
		Trace("task %s in %s", t.Name, exe)
	}
	fn, ok := task.Lookup(t.Name)
	if !ok {
		fail(125, "unknown task %q (known: %s)", t.Name, strings.Join(task.Names(), ", "))
	}
	if err := fn(t.Args, os.Stdin); err != nil {
		fail(125, "%v", err)
	}
	os.Exit(0)
}

// lookPath finds name on the payload's PATH inside the container's root.
func lookPath(name string, env []string) (string, error) {
	paths, search := candidates(name, env)
	if !search {
		return name, nil
	}
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", notFound(name)
}

// candidates are where the payload name may be: itself when it has a
// slash, else each directory of the payload's PATH (docker's default
// without one) joined with it, in order, and search is true.
func candidates(name string, env []string) (paths []string, search bool) {
	if strings.Contains(name, "/") {
		return []string{name}, false
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		paths = append(paths, filepath.Join(dir, name))
	}
	return paths, true
}

// notFound is a PATH search's failure, as docker says it.
func notFound(name string) error {
	return &Error{Code: 127, Msg: fmt.Sprintf("running %q: executable file not found in $PATH", name)}
}
