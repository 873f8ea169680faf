package runtime

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	goruntime "runtime"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/idle"
)

// An init that nothing has asked anything of for a while (a resident
// one, or one whose parent stays: quietInit) executes its program as the
// idle stage (package idle), which keeps two pages of stack where the Go
// stage keeps its runtime (about 1.5 MiB of PSS with one container): it
// holds the same descriptors, reaps orphans, forwards signals, and on
// work for the Go stage (output, an exec, the payload's end) executes
// the Go stage again, with "resume". A watcher does the same with its
// own stage (watchIdle). docs/handshake.md, "The idle stage".

// idleBackoffMax bounds how far the quiet time before going idle grows:
// residentSettle, doubled at each wake (a container that prints every
// few seconds would otherwise wake the Go stage for each line), up to
// 32 times it.
const idleBackoffMax = 5

// quietFor is how long a resident Go stage that woke gen times waits
// with nothing to do before it goes idle.
func quietFor(gen int) time.Duration { return residentSettle << min(gen, idleBackoffMax) }

// lastActive is when the Go stage last copied output or served an exec
// (UnixNano).
var lastActive atomic.Int64

func touchActive() { lastActive.Store(time.Now().UnixNano()) }

// execsActive counts the exec sessions being served: the Go stage does
// not go idle under one.
var execsActive atomic.Int32

// activeReader notes, at each read that returns bytes, that the Go stage
// has work.
type activeReader struct{ r io.Reader }

func (a activeReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		touchActive()
	}
	return n, err
}

// output copies one of the payload's output streams to the log, and can
// be stopped between two reads, for the idle stage.
type output struct {
	fd     int
	f      *os.File
	stream string
	// done gets the copy's end: os.ErrDeadlineExceeded when stopped,
	// else the stream has ended and f is closed.
	done  chan error
	ended bool
}

// endedOutput stands for a stream there is none of (an init whose
// parent copies the output) or none left of.
func endedOutput(stream string) *output { return &output{fd: -1, stream: stream, ended: true} }

// signalMask is sigs as the idle stage's mask: bit n-1 for signal n.
func signalMask(sigs []os.Signal) uint64 {
	var m uint64
	for _, sig := range sigs {
		m |= 1 << (uint(sig.(unix.Signal)) - 1)
	}
	return m
}

func newOutput(fd int, stream string) *output {
	unix.SetNonblock(fd, true)
	return &output{fd: fd, f: os.NewFile(uintptr(fd), stream), stream: stream}
}

func (o *output) start(lw *LogWriter) {
	o.done = make(chan error, 1)
	o.f.SetReadDeadline(time.Time{})
	go func() {
		err := lw.Copy(activeReader{o.f}, o.stream)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			o.f.Close()
		}
		o.done <- err
	}()
}

// stop stops the copy, or finds it ended; it reports whether it was
// still running (and so must be started again unless the stage goes).
func (o *output) stop() bool {
	if o.ended {
		return false
	}
	o.f.SetReadDeadline(time.Unix(1, 0))
	err := <-o.done
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	o.ended = true
	return false
}

// wait waits until the copy ends, up to the deadline.
func (o *output) wait(deadline <-chan time.Time) {
	if o.ended {
		return
	}
	select {
	case <-o.done:
		o.ended = true
	case <-deadline:
	}
}

// fdOrNone is the stream's descriptor for the idle stage to watch, or -1
// once it has ended.
func (o *output) fdOrNone() int {
	if o.ended {
		return -1
	}
	return o.fd
}

// execServer serves the exec socket and can be stopped between two
// connections.
type execServer struct {
	l    *net.UnixListener
	spec *Spec
	sp   *spawner
	pid  int // the payload's: where a signal request's signal goes
	done chan struct{}
}

func (e *execServer) start() {
	e.done = make(chan struct{})
	e.l.SetDeadline(time.Time{})
	go func() {
		serveExec(e.l, e.spec, e.sp, e.pid)
		close(e.done)
	}()
}

func (e *execServer) stop() {
	e.l.SetDeadline(time.Unix(1, 0))
	<-e.done
}

func (e *execServer) fd() int {
	if e == nil {
		return -1
	}
	return listenerFD(e.l)
}

// idleStage is what the Go stage needs to go idle.
type idleStage struct {
	st    *residentState
	state *os.File // the state's memfd
	gen   int
	outs  []*output
	ex    *execServer
	lw    *LogWriter
	exit  chan unix.WaitStatus
}

// errBusy: the Go stage has work under way; it tries again after the
// next quiet while. Any other error of goIdle is for good.
var errBusy = errors.New("work under way")

// goIdle executes the idle stage if nothing is under way: no exec
// served, the payload running, the output copied up to its last byte.
// It returns, with everything as it was, where it could not.
func (s *idleStage) goIdle() error {
	if !idle.Entered() || s.st.ExeFD < 0 {
		return errors.New("the program has no idle stage")
	}
	if s.state == nil {
		// Made at the first try, not on the start's path.
		f, err := s.st.memfd()
		if err != nil {
			return err
		}
		s.state = f
	}
	if execsActive.Load() > 0 || len(s.exit) > 0 {
		return errBusy
	}
	if s.ex != nil {
		s.ex.stop()
	}
	var running []*output
	for _, o := range s.outs {
		if o.stop() {
			running = append(running, o)
		}
	}
	undo := func() {
		for _, o := range running {
			o.start(s.lw)
		}
		if s.ex != nil {
			s.ex.start()
		}
	}
	// From here no status may be reaped in this image: the next one
	// reaps the payload.
	reapMu.Lock()
	if execsActive.Load() > 0 || len(s.exit) > 0 {
		reapMu.Unlock()
		undo()
		return errBusy
	}
	pass := s.idleFDs()
	for _, fd := range pass {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			closeOnExec(pass)
			reapMu.Unlock()
			undo()
			return err
		}
	}
	args := idle.Args(initName, s.st.Pid, s.st.ExeFD, s.outs[0].fdOrNone(), s.outs[1].fdOrNone(), s.ex.fd(), signalMask(initSignals), true, -1, false,
		[]string{initName, "resident", strconv.Itoa(int(s.state.Fd())), "resume", strconv.Itoa(s.gen + 1), strconv.Itoa(s.ex.fd())})
	Trace("init goes idle")
	err := execIdle(s.st.ExeFD, args, s.st.diesWithParent(), s.st.Pid, signalMask(initSignals))
	closeOnExec(pass)
	reapMu.Unlock()
	undo()
	return err
}

// idleFDs are the descriptors the idle stage holds and hands back: the
// resident ones but the status pipe (closed once detached) and output
// pipes that have ended, the state's and the program's.
func (s *idleStage) idleFDs() []int {
	out := []int{int(s.state.Fd()), s.st.ExeFD}
	if fds := s.st.Spec.Resident; fds != nil {
		out = append(append(out, fds.Log, fds.Record), fds.Keep...)
	}
	for _, o := range s.outs {
		if fd := o.fdOrNone(); fd >= 0 {
			out = append(out, fd)
		}
	}
	if fd := s.ex.fd(); fd >= 0 {
		out = append(out, fd)
	}
	return out
}

// execIdle executes the program exe as the idle stage, args from
// idle.Args, with every signal blocked on the thread that executes: what
// comes from then on to that thread waits in the kernel (a pending signal
// and the mask survive the execve) for the idle stage's signalfd. It
// returns only if the execve failed, the mask and handlers as they were.
// The caller runs with GOMAXPROCS 1 (execFD).
//
// A signal of forward (the idle stage's mask, bit n-1 for signal n) that
// the runtime caught on another thread, and had not sent on to pid yet,
// was lost with this image: `sandbox stop` just as a resident init went
// idle, 200 ms after its start, ended the container by SIGKILL after the
// timeout in 4–6 of 15 tries (traced: the runtime's handler got SIGTERM
// as the execve began, and the execve ended that thread). So from here
// on a handler of a few instructions sends each such signal on to pid as
// it arrives (idle.ForwardWhileExecuting), and what the runtime caught
// before that gets 2 ms to be sent on by its goroutines: a bound, not a
// proof (a CPU limit could hold them longer). One that another thread
// takes in the microseconds in which the execve ends it is still lost.
//
// With diesWithParent, the parent-death signal is set on the executing
// thread first: it is a thread's (the main thread's, where it was set at
// the start), and the thread that executes is the one the next image
// keeps.
func execIdle(exe int, args []string, diesWithParent bool, pid int, forward uint64) error {
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	if diesWithParent {
		keepParentDeath()
	}
	all := unix.Sigset_t{Val: [16]uint64{^uint64(0)}}
	var old unix.Sigset_t
	unix.PthreadSigmask(unix.SIG_SETMASK, &all, &old)
	restore := idle.ForwardWhileExecuting(pid, forward)
	time.Sleep(2 * time.Millisecond)
	err := execFD(exe, args, os.Environ())
	restore()
	unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	return fmt.Errorf("executing the idle stage: %w", err)
}

// quietCandidate reports whether an init whose parent stays (a watcher's,
// or a foreground run's CLI) can go idle once its payload runs: one with
// the idle stage, and nothing more to do than reap, forward signals and
// serve execs (no terminal to hold, no removal to make, no pod to keep).
func quietCandidate(spec *Spec) bool {
	return idle.Entered() && spec.Resident == nil && !spec.Process.Terminal && !spec.PodInfra && !spec.HandsOffRemoval
}

// quietInit is the rest of such an init's life: it serves execs, goes
// idle after a quiet while, and exits with the payload's status (its
// parent records it). Its parent-death signal stays across both stages
// (an execve clears it only where it changes credentials).
func quietInit(spec *Spec, pid int, exit chan unix.WaitStatus, ex *execServer, exe int) {
	st := &residentState{Spec: *spec, Pid: pid, ExecFD: ex.fd(), ExecOwner: execOwner, ExeFD: exe}
	residentRun(nil, exit, ex, &idleStage{st: st})
}

// keepParentDeath sets the parent-death signal (SIGKILL) on the calling
// thread. No check that the parent lives follows, as watchParent's: the
// signal has been set on the thread executing, all along, since the
// init's start (and a PID 1's getppid says 0 whatever happens outside).
func keepParentDeath() {
	unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
}
