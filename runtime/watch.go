package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/idle"
)

// A detached container needs a process outside it for as long as it runs:
// the parent of its init, which copies its output to the log and learns
// how it ended. The CLI's monitor does the heavy work of starting it (the
// spec, the cgroup, the state) and then, rather than staying resident as
// the whole CLI, replaces itself (execve, same pid) with the init program
// in its "watch" stage: a few hundred kilobytes of Go that copies the
// output, forwards signals, waits for the init and then executes the CLI
// again to record the end (docs/handshake.md, "The watcher").

// Handoff asks Run to replace the calling process by the watcher once the
// payload runs (Options.Handoff).
type Handoff struct {
	// Log is the CRI log (LogWriter's format), opened for appending.
	Log *os.File
	// Stdout and Stderr are the read ends of the payload's output pipes
	// (Options.PayloadPipes); nothing may have read from them yet.
	Stdout, Stderr *os.File
	// Keep are descriptors that must reach the resumed program (the
	// container's lock): they stay open across both execs.
	Keep []*os.File
	// Resume is the program executed once the init has exited (an O_PATH
	// descriptor of the CLI, opened before anything could replace it), with
	// Args and Env; the watcher adds WatchExitEnv=CODE to Env.
	Resume *os.File
	Args   []string
	Env    []string
}

// WatchExitEnv carries the container's exit status (as Run returns it) to
// the program the watcher resumes.
const WatchExitEnv = "_SANDBOX_WATCH_EXIT_UNDOCUMENTED"

// watchName is the watcher's name in ps (15 bytes: the most a name has).
const watchName = "sandbox-monitor"

// handoffRequest is an execve for the thread that started the init: the
// init's parent-death signal fires when that thread ends, and an execve
// ends every thread but the one calling it.
type handoffRequest struct {
	path       string
	argv, env  []string
	err        chan error
	inheritFDs []*os.File
}

// handOff executes the watcher in place of this process. It returns only
// if it did not (an error, or nil when the init had already exited); the
// caller then watches the container itself.
func (c *child) handOff(exe *os.File, h *Handoff) error {
	files := append([]*os.File{h.Log, h.Stdout, h.Stderr, h.Resume, exe}, h.Keep...)
	argv := watchArgs(watchState{pid: c.procPid, log: int(h.Log.Fd()), out: int(h.Stdout.Fd()), err: int(h.Stderr.Fd()),
		resume: int(h.Resume.Fd()), exe: int(exe.Fd())}, h.Args)
	env := append(append([]string{initEnv + "=1"}, initRuntimeEnv...), h.Env...)
	req := handoffRequest{path: fmt.Sprintf("/proc/self/fd/%d", exe.Fd()), argv: argv, env: env, err: make(chan error, 1), inheritFDs: files}
	c.reap.Lock()
	defer c.reap.Unlock()
	if c.exited {
		// Nothing left to watch: this process records the end itself.
		return nil
	}
	Trace("handing off to the watcher")
	c.handoff <- req
	return <-req.err
}

// exec runs on the locked thread.
func (r handoffRequest) exec() error {
	for _, f := range r.inheritFDs {
		if _, err := unix.FcntlInt(f.Fd(), unix.F_SETFD, 0); err != nil {
			return fmt.Errorf("keeping descriptor %d open for the watcher: %w", f.Fd(), err)
		}
	}
	err := syscall.Exec(r.path, r.argv, r.env)
	for _, f := range r.inheritFDs {
		unix.CloseOnExec(int(f.Fd()))
	}
	return fmt.Errorf("executing the watcher: %w", err)
}

// watchState is what the watcher's arguments carry: the init's pid, the
// log, the output pipes (-1 once one has ended), the program to resume
// with, the init program (for the idle stage) and how many times it has
// woken from the idle stage.
type watchState struct {
	pid, log, out, err, resume, exe, gen int
}

// watchArgs is the watcher's argument vector: "watch PID LOG OUT ERR
// RESUME EXE GEN -- ARGS…", ARGS those of the program it resumes.
func watchArgs(w watchState, resume []string) []string {
	argv := []string{watchName, "watch"}
	for _, n := range []int{w.pid, w.log, w.out, w.err, w.resume, w.exe, w.gen} {
		argv = append(argv, strconv.Itoa(n))
	}
	return append(append(argv, "--"), resume...)
}

// watchMain is the watcher (watchArgs). It never returns.
func watchMain(args []string) {
	setName(watchName)
	traceOn = os.Getenv("SANDBOX_TRACE") == "1"
	Trace("watcher main")
	if len(args) < 8 || args[7] != "--" {
		fmt.Fprintln(os.Stderr, "sandbox-monitor: bad arguments")
		os.Exit(125)
	}
	var n [7]int
	for i := range n {
		v, err := strconv.Atoi(args[i])
		if err != nil {
			fmt.Fprintf(os.Stderr, "sandbox-monitor: bad argument %q\n", args[i])
			os.Exit(125)
		}
		n[i] = v
	}
	w := watchState{pid: n[0], log: n[1], out: n[2], err: n[3], resume: n[4], exe: n[5], gen: n[6]}
	resume := args[8:]
	// None of ours reaches the resumed program but what it was told to
	// keep (those are not named here).
	for _, fd := range n[1:6] {
		if fd >= 0 {
			unix.CloseOnExec(fd)
		}
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, watchSignals()...)
	go func() {
		for s := range sigs {
			unix.Kill(w.pid, s.(syscall.Signal))
		}
	}()
	// The init's end comes as SIGCHLD, and is taken with WNOHANG under
	// waitMu: going idle holds it, so that no status is reaped by an image
	// about to be replaced.
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, unix.SIGCHLD)
	var waitMu sync.Mutex
	lw := NewLogWriter(os.NewFile(uintptr(w.log), "log"))
	var outs []*output
	for _, p := range []struct {
		fd     int
		stream string
	}{{w.out, "stdout"}, {w.err, "stderr"}} {
		o := endedOutput(p.stream)
		if p.fd >= 0 {
			// Non-blocking, the reads wait in Go's poller rather than
			// each holding a thread.
			o = newOutput(p.fd, p.stream)
			o.start(lw)
		}
		outs = append(outs, o)
	}
	touchActive()
	quiet := quietFor(w.gen)
	timer := time.NewTimer(quiet)
	idleOK := idle.Entered() && w.exe >= 0
	var ws unix.WaitStatus
	code := 125
wait:
	for {
		waitMu.Lock()
		wpid, err := unix.Wait4(w.pid, &ws, unix.WNOHANG, nil)
		waitMu.Unlock()
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			break wait
		case wpid == w.pid:
			code = statusCode(syscall.WaitStatus(ws))
			break wait
		}
		select {
		case <-chld:
		case <-timer.C:
			if since := time.Duration(time.Now().UnixNano() - lastActive.Load()); since < quiet {
				timer.Reset(quiet - since)
				continue
			}
			if idleOK {
				err := watchIdle(w, outs, lw, resume, &waitMu)
				Trace("the watcher stays in its Go stage: %v", err)
				idleOK = errors.Is(err, errBusy)
			}
			timer.Reset(quiet)
		}
	}
	timer.Stop()
	// The init took every process of the container with it: the pipes
	// reach their end once the last one is gone.
	for _, o := range outs {
		o.wait(nil)
	}
	Trace("watcher: the init exited (%d)", code)
	env := []string{WatchExitEnv + "=" + strconv.Itoa(code)}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, initEnv+"=") && !strings.HasPrefix(kv, WatchExitEnv+"=") && !slices.Contains(initRuntimeEnv, kv) {
			env = append(env, kv)
		}
	}
	err := syscall.Exec(fmt.Sprintf("/proc/self/fd/%d", w.resume), resume, env)
	// The state still says running, with a pid that is gone: the CLI
	// reads that as an exit of unknown status.
	lw.Write("stderr", fmt.Sprintf("sandbox: recording the container's end: %v", err))
	os.Exit(code)
}

// watchSignals are the signals the watcher forwards to the init: all
// that a container's starter forwards but SIGWINCH (a detached container
// has no terminal of ours to follow).
func watchSignals() []os.Signal {
	var out []os.Signal
	for _, s := range forwardedSignals {
		if s != unix.SIGWINCH {
			out = append(out, s)
		}
	}
	return out
}

// watchIdle executes the watcher's program as the idle stage (package
// idle), with the watcher's own arguments, its wake count one more, to
// execute again on output or the init's end. It reaps no other child:
// the network helper is the resumed monitor's to stop and reap. As goIdle for a resident
// init: it returns, everything as it was, where it could not.
func watchIdle(w watchState, outs []*output, lw *LogWriter, resume []string, waitMu *sync.Mutex) error {
	var running []*output
	for _, o := range outs {
		if o.stop() {
			running = append(running, o)
		}
	}
	undo := func() {
		for _, o := range running {
			o.start(lw)
		}
	}
	waitMu.Lock()
	defer waitMu.Unlock()
	var si unix.Siginfo
	if err := unix.Waitid(unix.P_PID, w.pid, &si, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); err != nil || si.Signo != 0 {
		undo()
		return errBusy // it has ended (or is gone): the Go stage records it
	}
	w.out, w.err, w.gen = outs[0].fdOrNone(), outs[1].fdOrNone(), w.gen+1
	args := idle.Args(watchName, w.pid, w.exe, w.out, w.err, -1, signalMask(watchSignals()), false, -1, false, watchArgs(w, resume))
	pass := []int{w.log, w.resume, w.exe}
	for _, fd := range []int{w.out, w.err} {
		if fd >= 0 {
			pass = append(pass, fd)
		}
	}
	for _, fd := range pass {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			closeOnExec(pass)
			undo()
			return err
		}
	}
	Trace("the watcher goes idle")
	err := execIdle(w.exe, args, false, w.pid, signalMask(watchSignals()))
	closeOnExec(pass)
	undo()
	return err
}

// statusCode turns the init's wait status into the container's exit
// status: its exit code, or 128+N when signal N killed it.
func statusCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
