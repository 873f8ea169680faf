package runtime

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/fuseoverlay"
	"github.com/sandbox-dev/sandbox/idle"
	"github.com/sandbox-dev/sandbox/plan"
	"github.com/sandbox-dev/sandbox/spawn"
	"github.com/sandbox-dev/sandbox/userns"
)

// errNotRaw says a spec needs the Go init after all (RawEarly.Run's ok).
var errNotRaw = errors.New("the spec needs the Go init")

// RawEarly is a raw start begun before its spec exists: PID 1 cloned
// beside this process with its namespaces and descriptors (package
// spawn, Attr.Hold), waiting for its setup, so that the clone (and, in
// subid mode, newuidmap and newgidmap) overlaps the image resolution and
// the container's record.
type RawEarly struct {
	exe    *os.File
	relay  *Relay
	stamps [4]unix.Timespec
	pid    int
	// setup carries PID 1's setup from Run to the clone's thread (nil
	// from Abort), and went how the clone went (errNotRaw: nothing was
	// started; then its cgroup and, in subid mode, its maps) and, after
	// that, how the setup went (rawWent).
	setup chan *rawGo
	went  chan rawWent
	ended chan syscall.WaitStatus
	// code is the payload's exit code as PID 1 writes it once nothing
	// else of the container runs (idle.Args' status), before its own end,
	// in which the kernel takes the mounts down; closed without one when
	// PID 1 ended otherwise. codeR is its pipe's read end; with linger,
	// PID 1 lingers after writing the code until codeR is closed
	// (idle.Args), which release leaves to the process's exit once the
	// code came (gotCode).
	code    chan int
	codeR   *os.File
	linger  bool
	gotCode bool
	// init is a pidfd of PID 1, opened before it can be reaped (nil on
	// kernels before 5.3): the removal waits on it for PID 1's end.
	init *os.File
	// sigs relays the forwarded signals where os/signal catches them
	// (nil where the forwarding handler sends them); stop undoes either.
	// Both set by the clone's thread before it reports on went.
	sigs    chan os.Signal
	stop    func()
	cgroup  bool
	aborted bool
	// userns is PID 1's user namespace, held past its end for the
	// removal (startRemoval).
	userns *os.File
	// spare, in subid mode, asks the removal to make the next spare user
	// namespace (spare.go); set by BeginRaw's thread before it reports
	// on went.
	spare *spareRequest
	// root is the spare root PID 1 is cloned into the namespaces of
	// (spareroot.go), nil if none; set by BeginRaw's thread before it
	// closes rootKnown, and then whether the clone went on rootCloned
	// (one value, for prepareRaw's exchange: never after a failed clone).
	root       *heldRoot
	rootKnown  chan struct{}
	rootCloned chan bool
}

// BeginRaw clones a raw start's PID 1 for opts (their stdio, map, init
// directory and cgroup), to be given its spec by Run or ended by Abort.
// An error means nothing was started: the caller starts the Go init.
func BeginRaw(opts Options) (*RawEarly, error) {
	if !spawn.Supported() {
		return nil, errors.New("no vfork-style start here")
	}
	e := &RawEarly{ended: make(chan syscall.WaitStatus, 1), rootKnown: make(chan struct{}), rootCloned: make(chan bool, 1)}
	if e.exe = openInit(opts.InitDir); e.exe == nil {
		return nil, errors.New("no installed init program")
	}
	var err error
	// The input waits for the payload: should this start give way to the
	// Go init (Run's ok false), that one reads it.
	if e.relay, err = NewHeldRelay(opts.Stdin, opts.Stdout, opts.Stderr); err != nil {
		e.exe.Close()
		return nil, err
	}
	child := e.relay.Child()
	codeR, codeW, err := os.Pipe()
	if err != nil {
		e.relay.CloseChild()
		e.relay.Finish()
		e.exe.Close()
		return nil, err
	}
	e.codeR, e.code = codeR, make(chan int, 1)
	e.linger = opts.Throwaway && opts.CgroupFD <= 0
	cloneflags := uintptr(unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC)
	// The idle stage's arguments: the payload's pid (0 here) is put in
	// place by PID 1 once it knows it (spawn.Payload.PidArg); with no Go
	// stage (exe -1) the stage to resume is never executed ("-"), and
	// the payload's exit code goes to descriptor 4.
	cmd := &exec.Cmd{
		Path: "/proc/self/fd/3", Stdin: child[0], Stdout: child[1], Stderr: child[2], ExtraFiles: []*os.File{e.exe, codeW},
		Args: idle.Args(initName, 0, -1, -1, -1, -1, signalMask(initSignals), true, rawCodeFD, e.linger, []string{"-"}),
		Env:  []string{},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: cloneflags,
			Setsid:     true, Pdeathsig: unix.SIGKILL,
		},
	}
	if opts.Mapping.Mode != userns.ModeSubID {
		cmd.SysProcAttr.UidMappings, cmd.SysProcAttr.GidMappings = opts.Mapping.SysProcIDMaps()
	}
	a, fits := spawn.FromCmd(cmd)
	if !fits {
		e.relay.CloseChild()
		e.relay.Finish()
		e.exe.Close()
		codeW.Close()
		codeR.Close()
		return nil, errors.New("the clone needs os/exec")
	}
	a.Hold = &spawn.Hold{}
	a.Payload = &spawn.Payload{Init: 3, PidArg: 2}
	if traceOn {
		a.Stamps = &e.stamps
	}
	Trace("raw start")
	e.stop = func() {} // until the clone's thread sets up the forwarding
	e.cgroup = opts.CgroupFD > 0
	e.setup, e.went = make(chan *rawGo, 1), make(chan rawWent, 1)
	// All of it on a thread of its own, so that the caller goes on with
	// the store work at once: the spare, the clone, the cgroup, the maps,
	// PID 1's go once Run has its setup, and then the wait for PID 1's
	// end. The parent-death signal is tied to the thread that clones: it
	// stays locked, and waits, until PID 1 is gone.
	go func() {
		goruntime.LockOSThread()
		// In subid mode, a spare user namespace spares this start
		// newuidmap and newgidmap (spare.go), and in either mode its
		// root (spareroot.go) the mounts of the root. Taken here rather than
		// before this thread starts: its checks (0.1–0.25 ms) then often
		// run beside the caller's store work (−0.13 to −0.17 ms a start,
		// paired).
		spare, root, next := takeSpare(opts.InitDir, opts.Mapping, opts.StoreTmp != "")
		e.spare = next
		if spare != nil {
			// Its maps are written (in single-id mode by its maker).
			a.Cloneflags &^= unix.CLONE_NEWUSER
			a.UserNS, a.UIDMap, a.GIDMap = spare, "", ""
		}
		if root != nil {
			// PID 1 in the namespaces its spare root was made in, whether
			// Run takes that root or mounts its own.
			a.Cloneflags &^= unix.CLONE_NEWNS | unix.CLONE_NEWIPC
			a.MountNS, a.IPCNS = root.mnt, root.ipc
			if root.join != nil {
				// And the namespace whose root is the spare's alone, to
				// join should Run take it, once PID 1 has made its /proc
				// here, before it waits (rawEarlyPlan): at rawJoinFD,
				// then rawProcFD and the /etc files' trees (rawEtcFD)
				// held, so that the status pipe is above them.
				a.Files = heldFiles(a.Files, rawJoinFD, root.join, rawLastFD)
				a.Early = rawEarlyPlan()
				root.early = a.Hold.Early
			}
		}
		// Known to Run before the clone, which its plans need not wait
		// for (0.2 ms, traced, when they did); its exchange waits for
		// the clone's outcome (rootCloned).
		e.root = root
		close(e.rootKnown)
		pid, err := spawn.Start(a)
		root.closeNS()
		if err != nil {
			root.end()
		}
		e.rootCloned <- err == nil
		e.relay.CloseChild()
		codeW.Close()
		go readCode(codeR, e.code)
		if err != nil {
			if spare != nil {
				spare.Close()
			}
			<-e.setup
			e.went <- rawWent{clone: fmt.Errorf("%w: %v", errNotRaw, err)}
			return
		}
		e.pid = pid
		// The signals the user sends us go to PID 1 from here on, which
		// holds them blocked until its idle stage forwards them to the
		// payload. Sent by a handler of a few instructions (package idle)
		// rather than relayed by os/signal, whose Notify enables each
		// signal with a round trip to the runtime's signal thread: ten
		// of them held the other processor for 0.2–0.6 ms (an execution
		// trace), and the goroutine making them, queued before this one,
		// delayed the clone (−0.095 to −0.135 ms a start without
		// subordinate ids, −0.13 to −0.18 ms with them: two pairs of
		// 200–300 rounds in each order). The handler is the process's,
		// with one pid: only where the caller says every signal is this
		// container's (OwnSignals: the CLI's run and shell); a start
		// beside others (the API service's, a build's) relays them as
		// before, each start's channel getting each signal. Until the
		// clone, a signal has its default effect on the CLI (and then
		// there is no PID 1 to end).
		var unforward func() // once; nil where os/signal relays them
		if opts.OwnSignals && idle.Forwards && rawForwarding.CompareAndSwap(false, true) {
			// The watcher's signals: those a start forwards but SIGWINCH
			// (a raw start has no terminal to follow).
			restore := idle.ForwardWhileExecuting(pid, signalMask(watchSignals()))
			unforward = sync.OnceFunc(func() { restore(); rawForwarding.Store(false) })
			e.stop = unforward
		} else {
			e.sigs = make(chan os.Signal, 16)
			_, e.stop = notifyAsync(e.sigs, forwardedSignals...)
		}
		if e.cgroup {
			// Into its cgroup before it does anything (a held start
			// cannot be cloned into it); its cgroup namespace comes with
			// its setup.
			err = joinCgroup(opts.CgroupFD, pid)
		}
		if err == nil && opts.Mapping.Mode == userns.ModeSubID && spare == nil {
			if err = opts.Mapping.Apply(pid); err != nil {
				err = explainRefusal(&Error{Code: 125, Msg: err.Error(), Err: err})
			}
		}
		// PID 1 goes on from here, as soon as both its clone and its
		// setup are done: when the setup came first (the caller waits),
		// this thread wakes PID 1 itself. Handing the clone's outcome
		// back for the caller to do it cost 0.07–0.15 ms (traced): the
		// caller's goroutine waited for a thread and a processor.
		g := <-e.setup
		var w rawWent
		switch {
		case err != nil:
			a.Hold.Abort()
			w.clone = err
		case g == nil: // Abort
			a.Hold.Abort()
			w.clone = errAborted
		default:
			w.setup = a.Hold.Go(g.setup, g.payload)
			if a.Hold.Reaped() {
				// A step failed, and Go reaped PID 1: nothing of it is
				// left to open or wait for (its pid may be another
				// process's by now, so the handler sends to it no
				// longer). Run waits for an end all the same.
				if unforward != nil {
					unforward()
				}
				e.went <- w
				e.ended <- 0
				return
			}
		}
		// What only the removal needs, opened once PID 1 is on its way
		// (off the setup's path), but before it can be reaped: this
		// thread reaps it.
		if fd, err := unix.PidfdOpen(pid, 0); err == nil {
			e.init = os.NewFile(uintptr(fd), "pidfd")
		}
		// A spare is PID 1's user namespace: kept open for the removal
		// rather than opened again through /proc.
		e.userns = spare
		if spare == nil {
			if f, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", pid)); err == nil {
				e.userns = f
			}
		}
		e.went <- w
		if unforward != nil {
			// PID 1's end first, without reaping it: until it is reaped
			// its pid is no other process's, so the handler that sends
			// there is put back before (Run's end puts it back too,
			// whichever comes first).
			waitExited(pid)
			unforward()
		}
		ws, _ := spawn.Wait(pid)
		e.ended <- ws
	}()
	return e, nil
}

// rawForwarding says a raw start of this process has the forwarding
// handler, whose pid is one for the whole process.
var rawForwarding atomic.Bool

// rawCodeFD is PID 1's descriptor for the payload's exit code;
// rawJoinFD, rawProcFD and rawEtcFD, where it may join a spare root's
// namespace, that namespace, the /proc it makes before (rawEarlyPlan)
// and the first of the /etc files it clones before it joins (buildRaw),
// up to rawLastFD. Its plans close them all before its execve, whichever
// way it goes.
const (
	rawCodeFD = 4
	rawJoinFD = 5
	rawProcFD = 6
	rawEtcFD  = 7
	rawLastFD = rawEtcFD + 2 // etcFiles: three at most
)

// heldFiles is files with f at descriptor at and every descriptor after
// it up to last held (nil: /dev/null until a plan puts what it makes
// there), so that spawn's status pipe, numbered above them all, is not
// among them. It panics where files does not end just before at: the
// numbers are constants of the plans that use them.
func heldFiles(files []*os.File, at int, f *os.File, last int) []*os.File {
	if len(files) != at || last < at {
		panic(fmt.Sprintf("descriptors %d to %d held after %d files", at, last, len(files)))
	}
	files = append(files, f)
	for len(files) <= last {
		files = append(files, nil)
	}
	return files
}

// rawEarlyPlan is what PID 1 does before it waits, where it may join a
// spare root's namespace (heldRoot.join): it makes its /proc, detached,
// at rawProcFD. Only here: the kernel lets a user namespace mount a new
// proc only where one is fully visible already, which is so in the
// holder's mount namespace (the host's tree) and not in the one joined
// (the container's root alone). A proc is of the PID namespace of its
// maker, PID 1's; the tree is attached once PID 1 has joined.
func rawEarlyPlan() *plan.Plan {
	p := plan.New("/")
	p.FSMount("making /proc", "proc", "proc", unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC, rawProcFD)
	return p
}

// readCode sends the one byte PID 1 writes to r, the payload's exit
// code, or closes code if none comes.
func readCode(r *os.File, code chan<- int) {
	var b [1]byte
	if n, _ := r.Read(b[:]); n == 1 {
		code <- int(b[0])
	}
	close(code)
}

// joinCgroup moves pid into the cgroup open at fd.
func joinCgroup(fd, pid int) error {
	f, err := unix.Openat(fd, "cgroup.procs", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		_, err = unix.Write(f, []byte(strconv.Itoa(pid)))
		unix.Close(f)
	}
	if err != nil {
		return fmt.Errorf("moving the sandbox init into its cgroup: %w", err)
	}
	return nil
}

// Abort ends a raw start that will not run: PID 1 exits, and is reaped.
// It says whether it did (false: there was none, or it ran).
func (e *RawEarly) Abort() bool {
	if e == nil || e.aborted {
		return false
	}
	e.aborted = true
	e.setup <- nil
	if w := <-e.went; !errors.Is(w.clone, errNotRaw) {
		<-e.ended
	}
	e.release()
	return true
}

// rawGo is PID 1's setup and payload, for Hold.Go.
type rawGo struct {
	setup   *plan.Plan
	payload *spawn.Payload
}

// rawWent is how a raw start went on the clone's thread: the clone
// (errNotRaw: nothing was started; errAborted: Abort), and then PID 1's
// setup and the payload's start (Hold.Go's error).
type rawWent struct {
	clone, setup error
}

// errAborted says a held PID 1 was ended before its setup (Abort).
var errAborted = errors.New("aborted")

// release lets go of what BeginRaw took, once PID 1 is gone.
func (e *RawEarly) release() {
	e.stop() // notifyAsync's in the background
	<-e.rootKnown
	e.root.end()
	e.relay.Finish()
	e.exe.Close()
	if !e.linger || !e.gotCode {
		e.codeR.Close()
	}
	// Else left open: PID 1 ends once it closes, with this process's
	// exit, so that the kernel takes its mounts down after that exit, not
	// beside it (a command exits within a millisecond of this). A caller
	// that lives on would let go of it at its next collection, PID 1
	// lingering its 50 ms meanwhile; none does: raw starts are the CLI's
	// (the API service's runs are detached, which a raw start is not).
	if e.userns != nil {
		e.userns.Close()
	}
	if e.init != nil {
		e.init.Close()
	}
}

// Run gives PID 1 its setup and runs spec to its end, returning the
// payload's exit code. ok is false, and PID 1 is gone, where spec needs
// what only the Go init does (rawRefusal says what).
func (e *RawEarly) Run(spec *Spec, opts Options) (code int, err error, ok bool) {
	if why := rawRefusal(spec, opts); why != "" {
		Trace("no raw start: %s", why)
		e.Abort()
		return 0, nil, false
	}
	// The root this spec asks for: the one to take, and the one the next
	// spare's holder makes (below).
	want := spareRootOf(spec, opts.StoreTmp)
	<-e.rootKnown
	r, err := prepareRaw(spec, e.cgroup, e.root, want, e.rootCloned)
	if errors.Is(err, errNotRaw) {
		Trace("no raw start: %v", err)
		e.Abort()
		return 0, nil, false
	}
	if err != nil {
		e.Abort()
		return 0, err, true
	}
	e.aborted = true // from here on, PID 1 ends by itself
	e.setup <- &rawGo{r.setup, &spawn.Payload{Seal: r.seal, Enter: r.enter, Join: r.join, Paths: r.paths, Search: r.search, Args: spec.Process.Args, Env: r.env, Init: 3, PidArg: 2}}
	w := <-e.went
	// A holder kept alive for PID 1's join (heldRoot.take) goes now; at
	// the idle policy, as its maker, it takes the host's tree in its
	// namespace down as it ends, off the command's path.
	e.root.end()
	if e.spare != nil {
		// The next spare's holder makes this start's root for the next;
		// in single-id mode a spare is made for its root alone.
		e.spare.root = want
		if e.spare.root == nil && opts.Mapping.Mode != userns.ModeSubID {
			e.spare = nil
		}
	}
	if err := w.clone; err != nil {
		if !errors.Is(err, errNotRaw) {
			<-e.ended // aborted on the clone's thread
		}
		e.release()
		if errors.Is(err, errNotRaw) {
			Trace("no raw start: %v", err)
			return 0, nil, false
		}
		return 0, err, true
	}
	defer e.release()
	err = w.setup
	for i, what := range []string{"raw: payload's child cloned", "raw: mounts done, pivoted", "raw: payload sealed", "raw: PID 1 executes its idle stage"} {
		traceAt(e.stamps[i], "%s", what)
	}
	if err != nil {
		<-e.ended
		var se *spawn.StepError
		if errors.As(err, &se) && se.Step == spawn.StepSetup && (se.Index == r.overlay || r.setup.HasFallback(se.Index)) {
			// The kernel refused the overlay, or a step the Go init has
			// another way for (a /sys submount that refuses to be made
			// read-only): the Go init starts it, and says why. What the
			// overlay left in the work directory (a volatile mount's mark)
			// would make the kernel refuse the next one.
			Trace("no raw start: %v", r.setup.Failure(se.Index, se.Errno))
			clearWorkDir(spec.Rootfs.Work)
			return 0, nil, false
		}
		return 0, r.explain(spec, err), true
	}
	Trace("payload started")
	e.relay.StartInput()
	if opts.OnRootfs != nil {
		opts.OnRootfs(string(fuseoverlay.Overlay), "")
	}
	if opts.OnStarted != nil {
		opts.OnStarted(e.pid)
	}
	if e.spare != nil {
		e.spare.argv() // while the payload runs: the removal's start needs it
	}
	for {
		select {
		case s := <-e.sigs:
			if s != unix.SIGWINCH {
				unix.Kill(e.pid, s.(syscall.Signal))
			}
		case code, ok := <-e.code:
			// PID 1's own end is waited for unless a removal waits for
			// it instead: a container kept (no --rm) may be started
			// again at once, and its overlay must be down by then; a
			// cgroup is removed once it is empty; and with no user
			// namespace of PID 1's open there is no removal to hand it to.
			if !ok || e.cgroup || opts.HandOffRemoval == nil || e.userns == nil {
				e.code = nil
				continue
			}
			// Nothing of the container runs any more: PID 1 killed and
			// reaped every other process before it wrote the code. Its
			// own end (the kernel taking the mounts down, 0.3 ms here)
			// goes on beside ours; the removal waits for it.
			Trace("payload's code")
			e.gotCode = true
			return e.finish(code, opts, false), nil, true
		case ws := <-e.ended:
			Trace("init exited")
			return e.finish(statusCode(ws), opts, true), nil, true
		}
	}
}

// finish relays what the container wrote, hands its files to a removal
// process and returns code. waited: PID 1 is reaped already.
func (e *RawEarly) finish(code int, opts Options, waited bool) int {
	// What it wrote is in the pipes: their last writers are gone, or
	// going (release's Finish, again, is a no-op).
	e.relay.Finish()
	if opts.HandOffRemoval != nil && e.userns != nil {
		if rm, ok := opts.HandOffRemoval(); ok {
			if e.init == nil && !waited {
				// No pidfd to hand on (Linux before 5.3, or a filter that
				// refuses it): its end is waited for here. It wrote the
				// code, so nothing of the container runs; a PID 1 that
				// lingers (idle.Args) would wait for us.
				unix.Kill(e.pid, unix.SIGKILL)
				<-e.ended
			}
			rm.Init = e.init
			if e.root != nil && filepath.Dir(e.root.dir) == opts.StoreTmp {
				rm.Spare = filepath.Base(e.root.dir)
			}
			if err := startRemoval(e.userns, e.exe, rm, e.spare); err != nil {
				Trace("no removal process: %v", err) // the next sweep removes the files
			}
			rm.Dir.Close()
			Trace("removal handed over")
		}
	}
	return code
}

// clearWorkDir empties an overlay's work directory, which a refused
// mount may have marked, or a mount whose setup failed after it left
// (a volatile mount's incompat marker makes the next one refuse); their
// mode-0 directories are the user's own (removeOwned).
func clearWorkDir(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		removeOwned(filepath.Join(dir, e.Name()))
	}
}

// rawRefusal says why spec needs the Go init, or "" if a raw start runs
// it: a plain foreground run of an image on the host's network, with no
// volume, terminal, hook or pod.
func rawRefusal(spec *Spec, opts Options) string {
	l := spec.Rootfs
	switch {
	case l.Shift != nil:
		return "--userns=keep-id"
	case spec.Process.Terminal:
		return "a terminal"
	case opts.PayloadPipes || opts.Resident != nil || spec.Resident != nil || opts.Handoff != nil:
		return "a detached run"
	case spec.Network != "host" || spec.NetworkWait || len(spec.Taps) > 0:
		return "a network of its own"
	case spec.PodInfra || opts.PodSocket != "":
		return "a pod"
	case spec.HookWait || opts.Hooks != nil:
		return "hooks"
	case spec.ExecSocket != "":
		return "an exec socket"
	case len(spec.Mounts) > 0 || len(spec.Sysctls) > 0:
		return "volumes or sysctls"
	case len(spec.Process.GroupAdd) > 0:
		return "--group-add"
	case len(spec.Process.Args) == 0:
		return "no command"
	case len(l.Layers) == 0 || len(l.HostDirs) > 0 || (l.Driver != fuseoverlay.Auto && l.Driver != fuseoverlay.Overlay):
		return "a root that is not a kernel overlay of image layers"
	}
	return ""
}

// rawStart is what a raw start runs: the setup plan (PID 1's, up to the
// pivot), the seal and enter plans (the payload's, before and after the
// pivot), and the payload's candidates and environment.
type rawStart struct {
	setup, seal, enter *plan.Plan
	join               *plan.Plan // the payload child's, before its seal: nil but where PID 1 joins a spare root's namespace
	overlay            int        // the index of the overlay's mount in setup, -1 if none
	premade            bool       // the root, /dev and /sys are a spare root's
	paths              []string
	search             bool
	env                []string
}

// prepareRaw builds a raw start for spec from the plan steps the Go init
// runs (setupRootfs, sealThread, the spawner's prepare): PID 1's setup,
// and the payload child's seal and entry. held is the spare root PID 1's
// mount namespace has, if any, and want the one spec asks for: where
// they are the same, the container takes the spare's (heldRoot.take),
// as the last step here, once cloned says PID 1 exists, and PID 1 mounts
// neither the overlay nor /dev and /sys (and, joining its holder's
// other namespace, pivots no more). Either way the held root's holder
// is ended, but where PID 1 joins: then Run ends it once PID 1 has.
func prepareRaw(spec *Spec, cgroup bool, held *heldRoot, want *spareRoot, cloned <-chan bool) (*rawStart, error) {
	how := rawRoot{inSpare: held != nil, extraFDs: held != nil && held.hasJoin}
	if held != nil && want != nil {
		how.premade, how.cached = true, held.user
		// Joined as expected; built again below if PID 1 could not make
		// its /proc.
		how.joined = held.hasJoin
	}
	r, err := buildRaw(spec, cgroup, how)
	if err != nil || held == nil {
		held.end()
		return r, err
	}
	if !r.premade {
		held.end()
		return r, nil
	}
	if !<-cloned {
		// No PID 1 (Run gives way to the Go init): nothing to take for.
		held.end()
		return r, nil
	}
	if how.joined && !held.joinable() {
		how.joined = false
		if r, err = buildRaw(spec, cgroup, how); err != nil {
			held.end()
			return r, err
		}
	}
	taken, err := held.take(want, spec.Rootfs, how.joined)
	if err != nil {
		return r, &Error{Code: 125, Msg: err.Error(), Err: err}
	}
	if !taken {
		return buildRaw(spec, cgroup, rawRoot{inSpare: true, extraFDs: how.extraFDs})
	}
	if how.joined {
		Trace("spare root's namespace joined")
	}
	return r, nil
}

// rawRoot is where a raw start's PID 1 finds its root. premade: the
// root, /dev and /sys are a spare root's, in place already; inSpare: PID
// 1 is in a spare root's mount namespace, whose mounts are slaves
// already; joined: PID 1 joins the namespace its holder made with that
// root pivoted into (joinNSPlan), with the /proc it made before
// (rawEarlyPlan) and the /etc files it clones before; extraFDs: PID 1
// has rawJoinFD to rawLastFD, joined or not, to close before its execve;
// cached: the user a spare root's maker looked up, for a premade root of
// the same layers.
type rawRoot struct {
	premade, inSpare, joined, extraFDs bool
	cached                             *spareUser
}

// buildRaw is prepareRaw's plans for a PID 1 that finds its root as how
// says.
func buildRaw(spec *Spec, cgroup bool, how rawRoot) (*rawStart, error) {
	r := &rawStart{premade: how.premade, overlay: -1}
	u, err := rawUser(spec, how.cached)
	if err != nil {
		return r, err
	}
	r.env = withHome(spec.Process.Env, u.Home)
	r.paths, r.search = candidates(spec.Process.Args[0], r.env)

	l := spec.Rootfs
	p := plan.New(l.Target)
	if how.joined {
		// The holder's namespace whose root is the container's, entered
		// by the payload's child first of all, and by PID 1 once it has
		// cloned the /etc files from the host's tree, out of reach there.
		j := plan.New("/")
		j.Syscall("entering the spare root's mount namespace", unix.SYS_SETNS, rawJoinFD, unix.CLONE_NEWNS)
		j.Syscall("closing the spare root's mount namespace", unix.SYS_CLOSE, rawJoinFD)
		r.join = j
		p = plan.New("/")
		for i, f := range etcFiles(spec) {
			p.OpenTreeFixed(fmt.Sprintf("cloning %q", f.src), f.src, rawEtcFD+i)
		}
		p.Append(j)
	}
	if cgroup {
		// Its own cgroup namespace, rooted at the cgroup it was moved
		// to: the container sees its cgroup as /.
		p.Syscall("making the sandbox's cgroup namespace", unix.SYS_UNSHARE, unix.CLONE_NEWCGROUP)
	}
	addNamespaceSetup(p, spec, !how.inSpare)
	if !how.premade {
		if r.overlay, err = addOverlay(p, l.Layers, l.Upper, l.Work, l.Volatile); err != nil {
			return r, fmt.Errorf("%w: %v", errNotRaw, err)
		}
	}
	if how.joined {
		addJoinedRootfs(p, spec, rawProcFD, rawEtcFD)
		p.Syscall("closing /proc's and the /etc files' trees", unix.SYS_CLOSE_RANGE, rawProcFD, rawLastFD, 0)
	} else if err := addRootfs(p, spec, how.premade); err != nil {
		return r, &Error{Code: 125, Msg: err.Error(), Err: err}
	}
	if !spec.Privileged {
		addMasks(p)
	}
	p.CloseRoot()
	if how.joined {
		if spec.ReadOnly {
			p.ReadOnlyAt("making the root read-only", "/")
		}
	} else {
		addPivot(p, l.Target, spec.ReadOnly)
	}
	if how.extraFDs && !how.joined {
		// Not the idle stage's: PID 1's, for a join that did not come.
		p.Syscall("closing what PID 1 had to join the spare root's mount namespace", unix.SYS_CLOSE_RANGE, rawJoinFD, rawLastFD, 0)
	}
	cwd := spec.Process.Cwd
	if cwd == "" {
		cwd = "/"
	}
	// The working directory is made by PID 1, as the Go init makes it,
	// so that a seccomp profile refusing mkdir to the payload does not
	// refuse this.
	p.Append(workDirPlan(cwd))
	if err := p.Err(); err != nil {
		return r, &Error{Code: 125, Msg: err.Error(), Err: err}
	}
	r.setup = p

	e := plan.New("/")
	e.Syscall(fmt.Sprintf("entering the working directory %q", cwd), unix.SYS_CHDIR, e.Str(cwd))
	if err := e.Err(); err != nil {
		return r, &Error{Code: 125, Msg: err.Error(), Err: err}
	}
	r.enter = e
	s := plan.New("/")
	addRestrict(s, spec)
	if len(spec.Seccomp) > 0 {
		if err := addFilter(s, spec); err != nil {
			return r, &Error{Code: 125, Msg: err.Error(), Err: err}
		}
	}
	addCredential(s, spec, u)
	if err := s.Err(); err != nil {
		return r, &Error{Code: 125, Msg: err.Error(), Err: err}
	}
	r.seal = s
	return r, nil
}

// addCredential adds who the payload runs as, after the seal, as the Go
// init's fork does with its Credential: with a full map the groups (as
// resolveUser keeps them; single-id mode denies setgroups), then the
// group and the user when either is not root's.
func addCredential(p *plan.Plan, spec *Spec, u execUser) {
	if spec.GIDs > 1 {
		var groups []uint32
		for _, g := range u.Groups {
			if g < spec.GIDs {
				groups = append(groups, g)
			}
		}
		ptr := uintptr(0)
		if len(groups) > 0 {
			ptr = p.Ptr(groups, unsafe.Pointer(&groups[0]))
		}
		p.Syscall("setting the payload's groups", unix.SYS_SETGROUPS, uintptr(len(groups)), ptr)
	}
	if u.UID != 0 || u.GID != 0 {
		p.Syscall(fmt.Sprintf("becoming group %d", u.GID), unix.SYS_SETGID, uintptr(u.GID))
		p.Syscall(fmt.Sprintf("becoming user %d", u.UID), unix.SYS_SETUID, uintptr(u.UID))
	}
}

// rawUser is who the payload runs as, from the image's /etc/passwd and
// /etc/group read through the layers; errNotRaw where the Go init must
// say what is wrong (an unknown name, an id outside the map).
//
// cached, when set, is the user a spare root's maker looked up in the
// same layers (spareUser): used if it is for the same --user.
func rawUser(spec *Spec, cached *spareUser) (execUser, error) {
	var u execUser
	if cached != nil && cached.User == spec.Process.User {
		u = cached.Found
	} else {
		var err error
		if u, err = imageUser(spec.Rootfs, spec.Process.User); err != nil {
			return u, err
		}
	}
	if u.UID >= spec.UIDs || u.GID >= spec.GIDs {
		return u, fmt.Errorf("%w: user %q", errNotRaw, spec.Process.User)
	}
	return u, nil
}

// imageUser is user (as --user gives it) in the /etc/passwd and
// /etc/group of the root l, read through its layers; errNotRaw where the
// Go init must say what is wrong.
func imageUser(l fuseoverlay.Layout, user string) (execUser, error) {
	var files [2]io.Reader
	for i, rel := range []string{"etc/passwd", "etc/group"} {
		files[i] = strings.NewReader("")
		path, err := l.Lookup(rel)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return execUser{}, fmt.Errorf("%w: /%s: %v", errNotRaw, rel, err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return execUser{}, fmt.Errorf("%w: /%s: %v", errNotRaw, rel, err)
		}
		files[i] = strings.NewReader(string(b))
	}
	u, err := resolveUserFrom(user, files[0], files[1])
	if err != nil {
		return u, fmt.Errorf("%w: user %q", errNotRaw, user)
	}
	return u, nil
}

// explain turns a raw start's failure into the error the Go init gives
// for the same failure.
func (r *rawStart) explain(spec *Spec, err error) error {
	var se *spawn.StepError
	if !errors.As(err, &se) {
		return &Error{Code: 125, Msg: fmt.Sprintf("starting the sandbox init: %v", userns.ExplainStart(err, "")), Err: err}
	}
	name := spec.Process.Args[0]
	switch se.Step {
	case spawn.StepSetup:
		e := r.setup.Failure(se.Index, se.Errno)
		return explainRefusal(&Error{Code: 125, Msg: e.Error(), Err: e})
	case spawn.StepSeal:
		e := r.seal.Failure(se.Index, se.Errno)
		return &Error{Code: 125, Msg: e.Error(), Err: e}
	case spawn.StepEnter:
		e := r.enter.Failure(se.Index, se.Errno)
		return &Error{Code: 125, Msg: e.Error(), Err: e}
	case spawn.StepJoin:
		if r.join != nil {
			e := r.join.Failure(se.Index, se.Errno)
			return &Error{Code: 125, Msg: e.Error(), Err: e}
		}
	case spawn.StepExec:
		return execError(name, se.Errno)
	case spawn.StepNotFound:
		return notFound(name)
	}
	return &Error{Code: 125, Msg: fmt.Sprintf("starting the sandbox init: %v", err), Err: err}
}
