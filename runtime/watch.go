package runtime

import (
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
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
	fd := func(f *os.File) string { return strconv.Itoa(int(f.Fd())) }
	files := append([]*os.File{h.Log, h.Stdout, h.Stderr, h.Resume}, h.Keep...)
	argv := []string{watchName, "watch", strconv.Itoa(c.procPid), fd(h.Log), fd(h.Stdout), fd(h.Stderr), fd(h.Resume), "--"}
	argv = append(argv, h.Args...)
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

// watchMain is the watcher: argv is "watch PID LOG OUT ERR RESUME -- ARGS…".
// It never returns.
func watchMain(args []string) {
	setName(watchName)
	traceOn = os.Getenv("SANDBOX_TRACE") == "1"
	Trace("watcher main")
	if len(args) < 6 || args[5] != "--" {
		fmt.Fprintln(os.Stderr, "sandbox-monitor: bad arguments")
		os.Exit(125)
	}
	var n [5]int
	for i := range n {
		v, err := strconv.Atoi(args[i])
		if err != nil {
			fmt.Fprintf(os.Stderr, "sandbox-monitor: bad argument %q\n", args[i])
			os.Exit(125)
		}
		n[i] = v
	}
	pid, logFD, outFD, errFD, resumeFD := n[0], n[1], n[2], n[3], n[4]
	resume := args[6:]
	// None of ours reaches the resumed program but what it was told to
	// keep (those are not named here).
	for _, fd := range n[1:] {
		unix.CloseOnExec(fd)
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwardedSignals...)
	go func() {
		for s := range sigs {
			if s != unix.SIGWINCH {
				unix.Kill(pid, s.(syscall.Signal))
			}
		}
	}()
	lw := NewLogWriter(os.NewFile(uintptr(logFD), "log"))
	var wg sync.WaitGroup
	for _, p := range []struct {
		fd     int
		stream string
	}{{outFD, "stdout"}, {errFD, "stderr"}} {
		// Non-blocking, the reads wait in Go's poller rather than each
		// holding a thread.
		unix.SetNonblock(p.fd, true)
		f := os.NewFile(uintptr(p.fd), p.stream)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer f.Close()
			lw.Copy(f, p.stream)
		}()
	}
	var ws unix.WaitStatus
	code := 125
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err == nil {
			code = statusCode(syscall.WaitStatus(ws))
		}
		break
	}
	// The init took every process of the container with it: the pipes
	// reach their end once the last one is gone.
	wg.Wait()
	Trace("watcher: the init exited (%d)", code)
	env := []string{WatchExitEnv + "=" + strconv.Itoa(code)}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, initEnv+"=") && !strings.HasPrefix(kv, WatchExitEnv+"=") && !slices.Contains(initRuntimeEnv, kv) {
			env = append(env, kv)
		}
	}
	err := syscall.Exec(fmt.Sprintf("/proc/self/fd/%d", resumeFD), resume, env)
	// The state still says running, with a pid that is gone: the CLI
	// reads that as an exit of unknown status.
	lw.Write("stderr", fmt.Sprintf("sandbox: recording the container's end: %v", err))
	os.Exit(code)
}

// statusCode turns the init's wait status into the container's exit
// status: its exit code, or 128+N when signal N killed it.
func statusCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
