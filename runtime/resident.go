package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	goruntime "runtime"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A detached container with no restart policy, no terminal and no private
// network needs nothing outside it while it runs: its init copies the
// payload's output to the log, holds the container's lock, and as it ends
// writes an exit record in the container's directory, which the next
// command that looks at the container reads (docs/handshake.md, "The
// resident init"). The monitor that started it exits: one process per
// container stays, not two.

// Resident gives the init what it needs to go on alone (Options.Resident).
// Run closes Options.Stdout and Options.Stderr, the caller's write ends of
// the output pipes, once the init has its own.
type Resident struct {
	// Log is the CRI log (LogWriter's format), opened for appending.
	Log *os.File
	// Stdout and Stderr are the read ends of the payload's output pipes.
	Stdout, Stderr *os.File
	// Record is the file (ExitRecordName, empty) the init writes its
	// ExitRecord into. A file, not the container's directory: a
	// descriptor of a directory would lead a payload that reached it
	// (through /proc/1/fd, given CAP_SYS_PTRACE) anywhere above it.
	Record *os.File
	// Keep are held by the init until it exits (the container's lock).
	Keep []*os.File
}

// ErrResident is Run's answer once a resident init has taken over: the
// container runs, and nobody here waits for it.
var ErrResident = errors.New("the container's init runs on its own")

// ExitRecordName is the file a resident init writes as it ends.
const ExitRecordName = "exit.json"

// ExitRecord is how a resident container ended.
type ExitRecord struct {
	ExitCode   int       `json:"exit_code"`
	FinishedAt time.Time `json:"finished_at"`
}

// detach waits for the payload to start, then lets the init go on alone:
// a byte on the sync pipe makes it clear its parent-death signal, and it
// answers "detached". An init that dies before it answers (a SIGKILL as
// the container started) never went on alone: its end is this run's end,
// with the status it died of, for the caller to record.
func (c *child) detach(opts Options) (int, error) {
	// The init and the payload have their own ends of the output pipes:
	// ours would keep the pipes open, and the init's copying, after the
	// payload has exited.
	opts.Stdout.Close()
	opts.Stderr.Close()
	if err := c.readStatusUntil(opts, "started"); err != nil {
		c.wait()
		return 0, err
	}
	if c.seen != "started" {
		code := c.wait()
		return 0, &Error{Code: 125, Msg: fmt.Sprintf("the sandbox init ended (status %d) before its payload started", code)}
	}
	// The init waits for this byte before anything else, even a payload
	// that has already exited. Writing to an init already gone fails;
	// one that lives on without its end of the pipe (it should not) is
	// ended, not waited for with its payload.
	if _, err := c.sync.Write([]byte{'D'}); err != nil {
		c.kill()
		return c.wait(), nil
	}
	if err := c.readStatusUntil(opts, "detached"); err != nil {
		return 0, err
	}
	if c.seen != "detached" {
		return c.wait(), nil
	}
	Trace("init detached")
	return 0, ErrResident
}

// syncFile is fd 4 as the resident init reads it, through the poller,
// and kept for the process's life: an *os.File dropped would close fd 4
// whenever a collection ran its cleanup, after which the number could
// name another descriptor.
var syncFile *os.File

// residentInit is the rest of a resident init's life, from the payload's
// start: it waits for its parent to let go, then starts afresh as the
// resident stage of its own program (reexecResident), which copies the
// output to the log and, when the payload exits, ends the container,
// writes the record and exits with the payload's status. Where that
// fails it goes on in this image, only bigger.
func residentInit(spec *Spec, pid int, exit chan unix.WaitStatus, execL *net.UnixListener, sp *spawner, exe int) {
	// First the parent lets go (one byte on the sync pipe), then the
	// payload's end: in that order always, so the parent never has to
	// tell a detached init from one that ended first. A payload's status
	// waits in its channel meanwhile, and its output in its pipes.
	// Read through the poller: a blocking read would take a thread of
	// its own, kept idle for the rest of the init's life.
	d := make([]byte, 1)
	unix.SetNonblock(fdSync, true)
	syncFile = os.NewFile(fdSync, "sync")
	if n, _ := syncFile.Read(d); n != 1 || d[0] != 'D' {
		// The parent died before it let go: the container goes with it,
		// as a foreground one does.
		os.Exit(125)
	}
	// On the main thread, where the signal was set.
	unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0)
	if err := reexecResident(spec, pid, exit, execL, exe); err != nil {
		Trace("the init goes on in its first image: %v", err)
	}
	unix.Close(exe)
	var ex *execServer
	if execL != nil {
		ex = &execServer{l: execL, spec: spec, sp: sp, pid: pid}
	}
	residentRun(spec.Resident, exit, ex, nil)
}

// residentState is what a resident init hands to its next image.
type residentState struct {
	Spec Spec
	// Pid is the payload's.
	Pid int
	// ExecFD is the exec socket's listening descriptor, or -1.
	ExecFD    int
	ExecOwner uint32
	// ExeFD is the init's program, opened before the payload ran: what
	// the resident stage executes as the idle stage, and the idle stage
	// as the resident one again.
	ExeFD int
}

// diesWithParent reports whether the init keeps its parent-death signal:
// one whose parent stays (a watcher's, a foreground run's: quietInit)
// does, with no resident descriptors; a resident one cleared it when its
// parent let go.
func (st *residentState) diesWithParent() bool { return st.Spec.Resident == nil }

// maxResidentState bounds the state the resident stage reads: a spec is
// a few KiB, its seccomp filter included.
const maxResidentState = 4 << 20

// reexecResident executes this init's program again, as its resident
// stage, in this same process: the container's PID 1 stays. Why: a Go
// process keeps what it ever allocated until a collection, and a
// collection itself touches as much again in the runtime's metadata. The
// setup left 0.9–1.0 MiB of anonymous memory (decoded spec, mount plans,
// the threads its system calls took); the fresh image holds about 0.83.
// What crosses the execve: the descriptors the resident stage needs
// (made inheritable for it only), the state in a sealed memfd named in
// the arguments, the id maps, namespaces and limits (a process's own),
// and the children. Not the parent-death signal (cleared: the parent has
// let go) nor non-dumpability, which the execve resets and the resident
// stage sets again first thing (residentEarly); meanwhile a container
// process could open /proc/1 only with every capability the init has
// (commoncap's ptrace check), as it could with the init dumpable.
//
// The program is exe, a descriptor opened before the payload ran: a
// payload given CAP_SYS_ADMIN could mount its own /proc, and with it its
// own /proc/self/exe, by now.
//
// It returns only if the execve could not be made, everything as it was.
func reexecResident(spec *Spec, pid int, exit chan unix.WaitStatus, execL *net.UnixListener, exe int) error {
	if exe < 0 {
		return errors.New("no descriptor of the init's program")
	}
	// No status may be reaped here from now on: the next image reaps.
	reapMu.Lock()
	defer reapMu.Unlock()
	if len(exit) > 0 {
		return errors.New("the payload has ended already")
	}
	st := residentState{Spec: *spec, Pid: pid, ExecFD: listenerFD(execL), ExecOwner: execOwner, ExeFD: exe}
	f, err := st.memfd()
	if err != nil {
		return err
	}
	defer f.Close()
	pass := append(residentFDs(&st), int(f.Fd()))
	for _, fd := range pass {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			closeOnExec(pass)
			return fmt.Errorf("passing descriptor %d on: %w", fd, err)
		}
	}
	Trace("init re-executes")
	// execFD's safety rests on this (the init blob runs with it already;
	// the CLI as its own init does not).
	goruntime.GOMAXPROCS(1)
	err = execFD(exe, []string{initName, "resident", strconv.Itoa(int(f.Fd()))}, os.Environ())
	// Still this image: nothing of the above may reach what it starts.
	closeOnExec(pass)
	return fmt.Errorf("executing the resident stage: %w", err)
}

// memfd is the state in a sealed memfd, for the next image to read.
func (st *residentState) memfd() (*os.File, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	return newDataMemfd("resident-state", b)
}

// listenerFD is l's descriptor, or -1 for none.
func listenerFD(l *net.UnixListener) int {
	fd := -1
	if l == nil {
		return fd
	}
	if rc, err := l.SyscallConn(); err == nil {
		rc.Control(func(f uintptr) { fd = int(f) })
	}
	return fd
}

// residentFDs are the descriptors the resident stage keeps from its
// first image, besides the state's own.
func residentFDs(st *residentState) []int {
	out := []int{fdStatus}
	if fds := st.Spec.Resident; fds != nil {
		out = append(append(out, fds.Log, fds.Out, fds.Err, fds.Record), fds.Keep...)
	}
	if st.ExecFD >= 0 {
		out = append(out, st.ExecFD)
	}
	if st.ExeFD >= 0 {
		out = append(out, st.ExeFD)
	}
	return out
}

// execFD executes the program fd refers to (execveat, AT_EMPTY_PATH), as
// syscall.Exec executes a path. syscall.Exec also holds the Go runtime's
// lock against starting a thread meanwhile (a thread started during an
// execve can fail, and the runtime dies of that), which nothing outside
// the standard library can take. Here the init runs with GOMAXPROCS 1
// and this goroutine holds its only P throughout (a raw system call does
// not give it up): no goroutine can run that would start a thread.
func execFD(fd int, argv, envv []string) error {
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return err
	}
	envvp, err := syscall.SlicePtrFromStrings(envv)
	if err != nil {
		return err
	}
	empty := []byte{0}
	_, _, errno := syscall.RawSyscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(&empty[0])),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envvp[0])), unix.AT_EMPTY_PATH, 0)
	goruntime.KeepAlive(argvp)
	goruntime.KeepAlive(envvp)
	goruntime.KeepAlive(empty)
	return errno
}

// closeOnExec marks fds close-on-exec.
func closeOnExec(fds []int) {
	for _, fd := range fds {
		unix.CloseOnExec(fd)
	}
}

// residentStage reports whether this process is a resident init's next
// image (reexecResident).
func residentStage() bool { return IsInit() && os.Args[1] == "resident" }

// residentSigs are the signals the resident stage forwards, caught by
// residentEarly.
var residentSigs chan os.Signal

// residentEarly starts the resident stage as early as a Go program can:
// package initialisation runs on the main thread (the runtime keeps it
// there until main), so the name set here is the process's. The execve
// made the process dumpable, and passed it descriptors no process it
// starts may inherit. And a forwarded signal that comes before the
// Notify here ends the init and its container: Go's default for SIGTERM,
// SIGINT and SIGHUP in a process that cannot die of them (a PID 1) is to
// exit with status 2, and SIGQUIT throws (before the runtime's own
// start, such a signal is lost instead). The window closes before `run -d` returns: the stage
// answers "detached" only later, in residentRun.
func residentEarly() {
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	residentSigs = make(chan os.Signal, 32)
	signal.Notify(residentSigs, initSignals...)
	unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	setName(initName)
}

func init() {
	if residentStage() {
		residentEarly()
	}
}

// residentMain is the resident stage: the next image of a resident init
// (reexecResident), run as the container's PID 1 while its payload runs.
// It has the status descriptor still: what fails before it answers
// "detached" fails the run, which then ends the container.
func residentMain(args []string) {
	sigs := residentSigs
	// STATE, or STATE resume GEN EXEC when the idle stage executes it
	// again (goIdle): its GENth wake, the exec socket under the number
	// it has now (a listener taken over is a duplicate).
	resume := len(args) == 4 && args[1] == "resume"
	if len(args) != 1 && !resume {
		fail(125, "the resident stage takes its state's descriptor, and on resuming its wake count and exec socket")
	}
	gen := 0
	if resume {
		// The status pipe was closed once the first image answered
		// "detached"; its number may be another's now.
		statusGone = true
		gen, _ = strconv.Atoi(args[2])
	}
	fd, err := strconv.Atoi(args[0])
	if err != nil || fd < 3 {
		fail(125, "the resident stage's state descriptor %q is not one", args[0])
	}
	// Kept, close-on-exec (residentEarly), for the next wake, and
	// referenced for as long (a collected os.File closes its descriptor).
	f := os.NewFile(uintptr(fd), "resident-state")
	b, err := readDataMemfd(f, "the resident state", maxResidentState, func(n int) error {
		return fmt.Errorf("the resident state takes %d bytes, more than %d", n, maxResidentState)
	})
	if err != nil {
		fail(125, "%v", err)
	}
	var st residentState
	if err := json.Unmarshal(b, &st); err != nil || st.Pid <= 0 {
		fail(125, "a malformed resident state (%v)", err)
	}
	if resume {
		if st.ExecFD, err = strconv.Atoi(args[3]); err != nil {
			fail(125, "the resumed stage's exec socket %q is not a descriptor", args[3])
		}
	}
	// residentEarly did this for all at once; where close_range cannot
	// (Linux before 5.11), this does it for those we know.
	closeOnExec(residentFDs(&st))
	if st.diesWithParent() {
		keepParentDeath()
	}
	traceOn = st.Spec.Trace
	execOwner = st.ExecOwner
	Trace("resident stage")
	sp := newLazySpawner(&st.Spec)
	exit := sp.adopt(st.Pid)
	go reap(sp)
	go forwardSignals(sigs, st.Pid)
	var ex *execServer
	if st.ExecFD >= 0 {
		lf := os.NewFile(uintptr(st.ExecFD), "exec")
		l, err := net.FileListener(lf)
		lf.Close()
		if err != nil {
			fail(125, "taking over the exec socket: %v", err)
		}
		ul, ok := l.(*net.UnixListener)
		if !ok {
			fail(125, "the exec socket is not a unix socket")
		}
		ex = &execServer{l: ul, spec: &st.Spec, sp: sp, pid: st.Pid}
	}
	residentRun(st.Spec.Resident, exit, ex, &idleStage{st: &st, state: f, gen: gen})
}

// residentSettle is how long a resident init runs before it unmaps its
// program's pages.
const residentSettle = 200 * time.Millisecond

// residentRun copies the payload's output to the log, tells the parent
// it runs alone (unless it resumes from the idle stage), serves execs,
// goes idle when it has had nothing to do for a while (is, the idle
// stage, if it has one) and when the payload exits ends the container,
// writes the record and exits with the payload's status.
//
// Without fds (an init whose parent stays: a watcher, or the CLI of a
// foreground run, quietInit) it copies nothing and records nothing: its
// parent learns the end from its exit status.
func residentRun(fds *ResidentFDs, exit chan unix.WaitStatus, ex *execServer, is *idleStage) {
	var lw *LogWriter
	outs := []*output{endedOutput("stdout"), endedOutput("stderr")}
	if fds != nil {
		lw = NewLogWriter(os.NewFile(uintptr(fds.Log), "log"))
		outs = []*output{newOutput(fds.Out, "stdout"), newOutput(fds.Err, "stderr")}
		for _, o := range outs {
			o.start(lw)
		}
	}
	if ex != nil {
		ex.start()
	}
	if !statusGone {
		report(status{Type: "detached"})
		closeStatus()
	}
	gen := 0
	if is != nil {
		is.outs, is.ex, is.lw, is.exit = outs, ex, lw, exit
		gen = is.gen
	}
	touchActive()
	// Once what was started last (the copying, the reaper, the exec
	// socket's accept) has run its first time: unmapped before, those
	// pages came straight back, 64 KiB a fault (1.3 MiB of the program
	// stayed mapped, against 0.7 unmapped after).
	quiet := quietFor(gen)
	timer := time.NewTimer(quiet)
	dropped := false
	var ws unix.WaitStatus
wait:
	for {
		select {
		case ws = <-exit:
			break wait
		case <-timer.C:
			if since := time.Duration(time.Now().UnixNano() - lastActive.Load()); since < quiet {
				timer.Reset(quiet - since)
				continue
			}
			if is != nil {
				err := is.goIdle()
				Trace("the init stays in its Go stage: %v", err)
				if !errors.Is(err, errBusy) {
					// For good: trying again at every quiet while would
					// only churn the heap (each try restarts the copying).
					is = nil
				}
			}
			if !dropped {
				DropProgramPages()
				dropped = true
			}
			timer.Reset(quiet)
		}
	}
	timer.Stop()
	code := exitCode(ws)
	// Whatever else runs in the container ends with it now, and the pipes
	// reach their end once their last writer is gone (ours included).
	unix.Kill(-1, unix.SIGKILL)
	unix.Close(1)
	unix.Close(2)
	deadline := time.After(5 * time.Second)
	for _, o := range outs {
		o.wait(deadline)
	}
	// One small write, before the init is gone: whoever finds it gone
	// finds the record whole.
	if fds != nil {
		b, _ := json.Marshal(ExitRecord{ExitCode: code, FinishedAt: time.Now().UTC()})
		unix.Pwrite(fds.Record, append(b, '\n'), 0)
	}
	os.Exit(code)
}
