package runtime

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/capability"
	"github.com/sandbox-dev/sandbox/runtime/initbin"
	"github.com/sandbox-dev/sandbox/spawn"
	"github.com/sandbox-dev/sandbox/userns"
)

// The child's file descriptors, fixed by position in exec.Cmd.ExtraFiles.
const (
	fdSpec    = 3 // JSON Spec (or task arguments), parent → child
	fdSync    = 4 // one byte once the id maps are written (subid mode)
	fdStatus  = 5 // JSON status messages, child → parent
	fdConsole = 6 // unix socket carrying the pty master (with -t)
)

// initName is the container's PID 1's name, as `ps` inside shows it.
const initName = "sandbox-init"

// initRuntimeEnv tunes the Go runtime of the init program, which stays
// resident for as long as its container runs, for size: one P (it runs one
// thing at a time; fewer threads and per-P caches), and initGODEBUG.
var initRuntimeEnv = []string{"GOMAXPROCS=1", initGODEBUG}

// initGODEBUG is for every process that is a container's PID 1, the CLI
// too where it is its own init: no watching of the cgroup's CPU limit (a
// timer going), and (containermaxprocs=0) the runtime closes the CPU limit
// files it reads as it starts. It kept them open for ever otherwise:
// descriptors of the host's cgroup tree (two with cgroup v1, one with v2)
// in the container's PID 1.
const initGODEBUG = "GODEBUG=updatemaxprocs=0,containermaxprocs=0"

// initEnv marks the child side in its (otherwise empty) environment; the
// payload's environment is built from the spec and never carries it.
const initEnv = "_SANDBOX_INIT_UNDOCUMENTED"

// Error is a failure of sandbox itself rather than of the payload, with the
// exit code the CLI must use: 125 for sandbox's own errors, 126 when the
// command cannot be executed, 127 when it is not found.
type Error struct {
	Code int
	Msg  string
	// Err is the cause, when there is one: errors.Is and errors.As see
	// it through the Error.
	Err error
}

func (e *Error) Error() string { return e.Msg }

func (e *Error) Unwrap() error { return e.Err }

// ExitCode is the exit code err calls for: an *Error's own code anywhere
// in its chain, else 125 (sandbox's own failure); 0 for nil.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) && e.Code != 0 {
		return e.Code
	}
	return 125
}

// status is one message from the child on fdStatus.
type status struct {
	Type   string `json:"type"` // "error", "rootfs", "started", "exited", "removing"
	Msg    string `json:"msg,omitempty"`
	Code   int    `json:"code,omitempty"`
	Driver string `json:"driver,omitempty"`
	Pid    int    `json:"pid,omitempty"`
}

// Options are the parent's side of a run.
type Options struct {
	Mapping userns.Mapping
	// Stdin, when non-nil, is relayed to the payload (-i); otherwise it
	// reads /dev/null. Stdout and Stderr get the payload's output. These
	// are the user's files: the payload gets pipes relayed to them
	// (Relay), or with a terminal the pty, never the files themselves.
	Stdin          *os.File
	Stdout, Stderr *os.File
	// PayloadPipes says that Stdout and Stderr are pipes made for this
	// run (a detached container's monitor logs what comes out of them),
	// not the user's: the payload gets them as they are.
	PayloadPipes bool
	// OnRootfs is called with the storage driver that assembled the root and
	// the reason for a fallback, when there was one.
	OnRootfs func(driver, reason string)
	// OnStarted is called with the init's pid (in the host's PID
	// namespace) once the payload runs.
	OnStarted func(initPid int)
	// OnConsole, with a terminal, gets the pty's master once it is
	// relayed (a detached container's monitor resizes it for attach).
	OnConsole func(master *os.File)
	// InitDir is the user's private runtime directory, where the init
	// program is installed (initexe.go); empty: a memfd holds it.
	InitDir string
	// StoreTmp is the store's tmp/ directory, where the holder of a
	// spare user namespace makes a raw start's next root (spareroot.go);
	// empty: no spare root is made or taken.
	StoreTmp string
	// CgroupFD, when more than 0, is a cgroup directory the init starts in
	// (clone3 CLONE_INTO_CGROUP): it is under its limits from its first
	// instruction, and so is everything it starts.
	CgroupFD int
	// Network, when set, connects the sandbox's new network namespace
	// (spec.NetworkWait): it is called with the init's pid once the id
	// maps exist, while the init assembles the root, and returns how to
	// disconnect. initDone is closed if the init exits meanwhile: it
	// should give up then. The payload starts only once it returned
	// without error; the disconnect runs when the init has exited.
	//
	// onThread runs a function on the thread the init was started from,
	// and returns when it has: the network's processes are started there,
	// so that their parent-death signals survive a Handoff.
	Network func(initPid int, initDone <-chan struct{}, onThread func(func())) (stop func(), err error)
	// Taps, with spec.Taps, gets the taps the init made, in the spec's
	// order, once Network has connected: the caller hands them on (to the
	// networks' switches) and Run closes them after. An error ends the
	// start.
	Taps func(initPid int, taps []*os.File) error
	// Handoff, when set, replaces this process by the small watcher once
	// the payload runs, so that a detached container is not watched by the
	// whole CLI (watch.go). It applies only with PayloadPipes and no
	// terminal, and with the init program carried as a blob (a network
	// helper goes along: it was started on the init's thread); otherwise,
	// or if the exec fails (HandoffFailed says why), Run waits as it always
	// does.
	Handoff *Handoff
	// HandoffFailed is called when Handoff was set but this process goes
	// on watching the container (nil error: it did not apply).
	HandoffFailed func(error)
	// Resident, when set, makes the init the container's only resident
	// process (resident.go): Run returns ErrResident once the payload runs
	// and the init has taken over. It applies where Resides says so.
	Resident *Resident
	// HandOffRemoval, when set, is called once the payload has exited
	// and its output is relayed, with the init still alive: it takes the
	// container out of the store and says where its files now are. The
	// init removes them as it ends, and Run returns without waiting for
	// that (throwaway.go). It applies with no terminal, no private
	// network, no cgroup and no Handoff; false: Run goes on as usual.
	HandOffRemoval func() (Removal, bool)
	// Throwaway says the run will set HandOffRemoval (a --rm run), known
	// before the spec is: a raw start's PID 1, whose end the command then
	// does not wait for, lingers after it wrote the payload's code until
	// the command's own end (idle.Args), without a cgroup to remove.
	Throwaway bool
	// OwnSignals says every signal this process is sent is for this
	// container: the CLI's own foreground run or shell, which starts no
	// other container meanwhile. A raw start then passes them to PID 1
	// by a handler (package idle) rather than through os/signal, whose
	// handler is the process's one: a start beside it (the API
	// service's, a build's) would get none of them.
	OwnSignals bool
	// PodInfra starts the init as a pod's infra: in the host's PID
	// namespace (its members' pids are then the host's), with no root of
	// its own (Spec.PodInfra). PodSocket, instead, starts the init as a
	// member of the pod whose infra listens there: the infra starts it, in
	// the pod's namespaces (pod.go).
	PodInfra  bool
	PodSocket string
	// Hooks, with Spec.HookWait, runs once the root is assembled and
	// before the payload starts, with the init's pid; an error ends the
	// start (OCI's createRuntime and createContainer hooks, from CDI).
	Hooks func(initPid int) error
}

// Run starts the container described by spec, relays its terminal and
// signals, and returns the payload's exit status: its exit code, or 128+N
// when signal N killed it. A non-nil error is sandbox's own failure (an
// *Error carries the exit code to use).
func Run(spec *Spec, opts Options) (int, error) {
	if !Resides(spec, opts) {
		opts.Resident = nil
	}
	e, err := Begin(opts, spec.Network != "host", spec.Process.Terminal)
	if err != nil {
		return 0, err
	}
	return e.Run(spec, opts)
}

// Early is a sandbox's init cloned before its spec is ready: it starts up
// (a millisecond or two) while the caller resolves the image and makes the
// container, then waits on its spec pipe. Its Run sends the spec and goes
// on as Run does; Abort ends it instead.
type Early struct {
	c           *child
	exe         *os.File
	relay       *Relay
	sigs        chan os.Signal
	stopSignals func()
	protectExe  bool
	privateNet  bool
	terminal    bool
	released    bool
	resident    bool // the init got Options.Resident's descriptors
	cgroup      bool // the init started in a cgroup of its own
	trace       bool // the init traces its phases (childConfig.trace)
	// The clone (and, in subid mode, newuidmap and newgidmap) runs in the
	// background while the caller resolves the image and makes the
	// container: started is closed once c or startErr is set.
	started  chan struct{}
	startErr error
}

// Begin clones the init for a spec whose network is private (or the
// host's) and which has (or has no) terminal. opts is what Run will get:
// its mapping, stdio, cgroup and init directory are used now. The clone
// runs in the background (Started waits for it): its 3–5 ms, and in
// subid mode newuidmap's and newgidmap's, overlap the caller's work.
func Begin(opts Options, privateNet, terminal bool) (*Early, error) {
	flags := uintptr(unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC)
	if opts.PodInfra {
		flags &^= unix.CLONE_NEWPID
	}
	if privateNet {
		flags |= unix.CLONE_NEWNET
	}
	Trace("starting init")
	e := &Early{privateNet: privateNet, terminal: terminal}
	e.exe = openInit(opts.InitDir)
	Trace("init opened")
	if e.exe == nil {
		e.protectExe = exeWritableFromInside(opts.Mapping)
	}
	stage := "setup"
	if e.protectExe {
		stage = "protect"
	}
	cfg := childConfig{
		mapping: opts.Mapping, cloneflags: flags, stage: stage,
		console: terminal, cgroupFD: -1, exe: e.exe, podSocket: opts.PodSocket, spareDir: opts.InitDir,
		// Where the init's stderr is the payload's (a log), its trace
		// would be the container's output.
		trace: traceOn && !opts.PayloadPipes,
	}
	// Run keeps Resident only where Resides says so; an early start
	// (runEarly) has none.
	if r := opts.Resident; r != nil {
		cfg.keep = []*os.File{r.Log, r.Stdout, r.Stderr, r.Record}
		cfg.keep = append(cfg.keep, r.Keep...)
		e.resident = true
	}
	e.trace = cfg.trace
	if opts.CgroupFD > 0 {
		e.cgroup = true
		cfg.cgroupFD = opts.CgroupFD
		// Its own cgroup namespace: the container sees its cgroup as /.
		cfg.cloneflags |= unix.CLONE_NEWCGROUP
	}
	if opts.PayloadPipes {
		// Only real files: a nil *os.File in an io.Writer is not a nil Writer.
		if opts.Stdin != nil && !terminal {
			cfg.stdin = opts.Stdin // a pipe of the monitor's (attach)
		}
		if opts.Stdout != nil {
			cfg.stdout = opts.Stdout
		}
		if opts.Stderr != nil {
			cfg.stderr = opts.Stderr
		}
	} else {
		// With a terminal the payload's stdio is the pty; the init's own
		// (where only a crash would write) still goes through pipes.
		stdin := opts.Stdin
		if terminal {
			stdin = nil
		}
		var err error
		if e.relay, err = NewRelay(stdin, opts.Stdout, opts.Stderr); err != nil {
			e.release()
			return nil, &Error{Code: 125, Msg: err.Error(), Err: err}
		}
		child := e.relay.Child()
		cfg.stdin, cfg.stdout, cfg.stderr = child[0], child[1], child[2]
	}
	// Forward the signals a user sends to sandbox to the payload, through
	// the init, as docker's sig-proxy does. Caught while the init starts,
	// so that none arriving later kills us instead: they wait in the
	// channel. (One in the first millisecond ends this process as it
	// would have a moment earlier, and the init with it.)
	// A resident (detached) start catches them too, but forwards none: a
	// signal to whoever starts it is not for the container, and must not
	// end the start half-way (the init would die with its parent) either,
	// as it did not when a monitor in its own session started it.
	e.sigs = make(chan os.Signal, 16)
	e.started = make(chan struct{})
	go func() {
		defer close(e.started)
		c, err := startChild(cfg)
		if err != nil {
			c = nil // what it returns with an error is closed already
		}
		e.c, e.startErr = c, err
		if e.relay != nil {
			e.relay.CloseChild()
		}
	}()
	// After the clone's goroutine, not before: the first Notify takes a
	// millisecond or two (it starts Go's signal loop and installs each
	// handler), and a goroutine started last is the one its processor
	// runs next, leaving the one before it to be stolen by the other
	// processor. Started first, the clone waited 1–3 ms for that.
	_, e.stopSignals = notifyAsync(e.sigs, forwardedSignals...)
	return e, nil
}

// Resides says whether the init of spec can be its container's only
// process once the payload runs (Options.Resident): nothing outside it has
// to act while the container runs. Not with a terminal to relay, a
// network to connect (a helper, taps), or a pod: a pod's infra answers
// its members, and a member must die with the infra that started it,
// whose death it learns by its parent-death signal. Its output must go
// through pipes, which it copies to the log itself.
func Resides(spec *Spec, opts Options) bool {
	return opts.PayloadPipes && !spec.Process.Terminal && !spec.NetworkWait && len(spec.Taps) == 0 &&
		!spec.PodInfra && opts.PodSocket == ""
}

// Started waits for the clone Begin started and returns its error: the
// init is running, or it could not be started (and Run and Abort say so
// too).
func (e *Early) Started() error {
	<-e.started
	return e.startErr
}

// release frees what Begin took, once the init is gone.
func (e *Early) release() {
	if e.released {
		return
	}
	e.released = true
	if e.c != nil {
		e.c.close()
	}
	if e.stopSignals != nil {
		e.stopSignals() // in the background; the forwarding goroutine ends
	}
	if e.relay != nil {
		e.relay.Finish()
	}
	if e.exe != nil {
		e.exe.Close()
	}
}

// Abort ends an init that will get no spec, and says so; after Run it
// does nothing and returns false.
func (e *Early) Abort() bool {
	e.Started()
	if e.released {
		return false
	}
	if e.c != nil {
		e.c.kill()
		e.c.specW.Close()
		e.c.wait()
	}
	e.release()
	return true
}

// Run sends spec to the init and runs the container as Run does.
func (e *Early) Run(spec *Spec, opts Options) (int, error) {
	err := e.Started()
	defer e.release()
	if err != nil {
		return 0, err
	}
	c, exe, relay, sigs := e.c, e.exe, e.relay, e.sigs
	if (spec.Network != "host") != e.privateNet || spec.Process.Terminal != e.terminal {
		e.Abort()
		return 0, &Error{Code: 125, Msg: "internal error: the sandbox init was started for another network or terminal than its spec has"}
	}
	spec.Trace = e.trace
	spec.ProtectExe = e.protectExe
	spec.HandsOffRemoval = opts.HandOffRemoval != nil && !e.resident && !e.terminal && !e.privateNet &&
		!e.cgroup && opts.Handoff == nil
	if e.resident {
		k := c.keepFDs
		spec.Resident = &ResidentFDs{Log: k[0], Out: k[1], Err: k[2], Record: k[3], Keep: k[4:]}
	}
	if err := <-c.sendPayload(spec); err != nil {
		e.Abort()
		return 0, specError(err)
	}
	if spec.NetworkWait && opts.Network != nil {
		c.taps = len(spec.Taps)
		c.network = make(chan networkResult, 1)
		go func() {
			stop, err := opts.Network(c.pid(), c.done, c.runOnThread)
			c.network <- networkResult{stop, err}
		}()
		// Whatever ends the init, the helper ends after it.
		defer c.stopNetwork()
	}

	if !e.resident {
		go func() {
			for s := range sigs {
				if s == unix.SIGWINCH {
					continue // the tty relay handles resizes
				}
				c.signal(s)
			}
		}()
	}

	var tty *ttyRelay
	if spec.Process.Terminal && c.network != nil {
		if err := c.readStatusUntil(opts, "network"); err != nil {
			c.wait()
			return 0, err
		}
	}
	if spec.Process.Terminal {
		var err error
		tty, err = receiveConsole(c.console, opts.Stdin, opts.Stdout)
		if err != nil {
			c.kill()
			c.wait()
			if serr := c.readStatus(opts); serr != nil {
				return 0, serr
			}
			return 0, &Error{Code: 125, Msg: err.Error(), Err: err}
		}
		defer tty.restore()
		if opts.OnConsole != nil {
			opts.OnConsole(tty.master)
		}
	}
	if e.resident {
		return c.detach(opts)
	}
	if spec.HandsOffRemoval {
		if code, ok := c.handOffRemoval(opts, relay); ok {
			return code, nil
		}
	}
	serr := c.readStatus(opts)
	Trace("init reported")
	if opts.Handoff != nil {
		var herr error
		// A network helper, started on the init's thread, goes along:
		// what remains of it is for the resumed program to stop.
		if serr == nil && exe != nil && opts.PayloadPipes && !spec.Process.Terminal && c.network == nil {
			herr = c.handOff(exe, opts.Handoff) // returns only on failure
		}
		if opts.HandoffFailed != nil {
			opts.HandoffFailed(herr)
		}
	}
	code := c.wait()
	Trace("init exited")
	if tty != nil {
		tty.drain()
	}
	if relay != nil {
		// Everything in the sandbox is gone with its init: what it wrote
		// is in the pipes.
		relay.Finish()
	}
	if serr != nil {
		return 0, serr
	}
	return code, nil
}

// forwardedSignals are relayed to the payload. SIGCHLD and SIGURG (used
// by the Go runtime for preemption) never are.
var forwardedSignals = []os.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1,
	unix.SIGUSR2, unix.SIGALRM, unix.SIGCONT, unix.SIGWINCH, unix.SIGPWR,
}

// child is a started init (or task) process and the parent's pipe ends.
type child struct {
	cmd *exec.Cmd
	// userns is a spare user namespace the child starts in (spare.go),
	// or nil: it makes its own.
	userns *os.File
	// procPid is the started child's pid; ws its end, and waitErr what
	// cmd.Wait said (a failed copy of stdio), once done is closed.
	procPid    int
	ws         syscall.WaitStatus
	waitFailed bool
	waitErr    error
	status     *os.File
	sync       *os.File
	console    *os.File
	done       chan struct{}
	pdeath     chan struct{}
	// specW is the spec pipe, until the payload is sent.
	specW *os.File
	// keepFDs are the numbers childConfig.keep have in the child.
	keepFDs []int
	// handoff takes an execve to the thread that started the init, and
	// onThread other work that must be done from it.
	handoff  chan handoffRequest
	onThread chan func()
	// pdeathOnce closes pdeath, which ends that thread (close: only once
	// the network helper started from it is stopped too).
	pdeathOnce sync.Once
	// reap is held from the init's exit to its reaping, and by a handoff:
	// the watcher must find its child unreaped.
	reap   sync.Mutex
	exited bool
	// network delivers the result of Options.Network once; netStop is
	// the disconnect it returned.
	network chan networkResult
	netStop func()
	// scanner reads the status pipe; failure is the child's error so far.
	scanner *bufio.Scanner
	failure error
	// seen is the type of the last status read: whether readStatusUntil
	// met what it waited for or the pipe's end (the init gone).
	seen string
	// taps is how many taps the init sends at the network stage.
	taps int
	// exited holds the payload's status once the init reported it
	// (Spec.HandsOffRemoval); removing, that the init took the removal.
	payloadExit  *int
	removalTaken bool
	// pod is the connection to the infra that started this child (a
	// pod's member), which says its pid and then its exit status.
	pod     *net.UnixConn
	podPid  int
	podExit int
}

type networkResult struct {
	stop func()
	err  error
}

// awaitNetwork waits for the network to be connected, then releases the
// init waiting for it with a byte on the sync pipe.
func (c *child) awaitNetwork(opts Options) error {
	if c.network == nil {
		return &Error{Code: 125, Msg: "the sandbox init waits for a network nobody connects"}
	}
	res := <-c.network
	c.network = nil
	c.netStop = res.stop
	if res.err != nil {
		select {
		case <-c.done:
			// The init ended first (a signal, a kill): its exit status
			// says why, not the abandoned connection.
			return nil
		default:
		}
		return &Error{Code: 125, Msg: fmt.Sprintf("connecting the sandbox's network: %v", res.err)}
	}
	if c.taps > 0 {
		taps, err := c.receiveTaps(c.taps)
		if err == nil {
			if opts.Taps == nil {
				err = errors.New("nobody takes the sandbox's network interfaces")
			} else {
				err = opts.Taps(c.pid(), taps)
			}
			for _, t := range taps {
				t.Close()
			}
		}
		if err != nil {
			return &Error{Code: 125, Msg: fmt.Sprintf("connecting the sandbox's networks: %v", err), Err: err}
		}
	}
	if _, err := c.sync.Write([]byte{'n'}); err != nil {
		return &Error{Code: 125, Msg: fmt.Sprintf("releasing the sandbox init after connecting its network: %v", err), Err: err}
	}
	return nil
}

// stopNetwork disconnects the network once the init has exited (or the
// connection is still being made: it is waited for, then undone).
func (c *child) stopNetwork() {
	if c.network != nil {
		res := <-c.network
		c.network = nil
		c.netStop = res.stop
	}
	if c.netStop != nil {
		c.netStop()
		c.netStop = nil
	}
}

// childConfig says how to start a child.
type childConfig struct {
	mapping    userns.Mapping
	cloneflags uintptr
	cgroupFD   int    // -1: this process's cgroup
	stage      string // what the child does once it has its capabilities
	// trace: the child traces its phases (SANDBOX_TRACE) on its stderr.
	trace   bool
	payload any // sent as JSON on fdSpec
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	console bool // pass a socket for the pty master
	// exe is the program the child runs (the sealed init); nil: this
	// binary.
	exe *os.File
	// keep are more descriptors the child gets, after the others
	// (child.keepFDs says where).
	keep []*os.File
	// podSocket, when set, has the pod's infra start the child (pod.go).
	podSocket string
	// spareDir, in subid mode, is the runtime directory a spare user
	// namespace may be taken from (spare.go): a container's start.
	spareDir string
}

// startChild re-executes this binary as argv[0]=sandbox-init in new
// namespaces and completes the handshake (docs/handshake.md): in subid mode
// it writes the id maps with newuidmap/newgidmap and releases the child; it
// then sends the payload (spec) on fdSpec.
func startChild(cfg childConfig) (*child, error) {
	m := cfg.mapping
	specR, specW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating the spec pipe: %w", err)
	}
	defer specR.Close()
	// The sync channel is a socket, not a pipe: at the end of a throwaway
	// run it carries descriptors to the init (throwaway.go). Each write is
	// one message, read whole.
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		specW.Close()
		return nil, fmt.Errorf("creating the sync socket: %w", err)
	}
	syncR, syncW := os.NewFile(uintptr(pair[1]), "sync-child"), os.NewFile(uintptr(pair[0]), "sync")
	defer syncR.Close()
	statusR, statusW, err := os.Pipe()
	if err != nil {
		specW.Close()
		syncW.Close()
		return nil, fmt.Errorf("creating the status pipe: %w", err)
	}
	defer statusW.Close()
	extra := []*os.File{specR, syncR, statusW}
	// syncW stays open for as long as we need the child: its hang-up tells
	// the child we died (watchParent).
	c := &child{status: statusR, sync: syncW, done: make(chan struct{}), pdeath: make(chan struct{}), handoff: make(chan handoffRequest), onThread: make(chan func())}
	if cfg.console {
		pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			specW.Close()
			c.close()
			return nil, fmt.Errorf("creating the console socket: %w", err)
		}
		c.console = os.NewFile(uintptr(pair[0]), "console")
		theirs := os.NewFile(uintptr(pair[1]), "console-child")
		defer theirs.Close()
		extra = append(extra, theirs)
	}

	// The child gets its program as a descriptor: the sealed init, or our
	// own binary, so that it runs exactly this version even if the file
	// is replaced meanwhile.
	self := cfg.exe
	if self == nil {
		if self, err = os.Open("/proc/self/exe"); err != nil {
			specW.Close()
			c.close()
			return nil, &Error{Code: 125, Msg: fmt.Sprintf("opening the sandbox binary: %v", err), Err: err}
		}
		defer self.Close()
	}
	selfFd := 3 + len(extra)
	extra = append(extra, self)
	for _, f := range cfg.keep {
		c.keepFDs = append(c.keepFDs, 3+len(extra))
		extra = append(extra, f)
	}
	path, args := fmt.Sprintf("/proc/self/fd/%d", selfFd), []string{initName, cfg.stage}
	// A spare user namespace has its maps already (startProcess starts
	// the child in it). Only where spawn can enter it (os/exec cannot),
	// and with no cgroup to start in.
	if cfg.spareDir != "" && m.Mode == userns.ModeSubID && cfg.podSocket == "" && cfg.cgroupFD < 0 && spawn.Supported() {
		var next *spareRequest
		c.userns, _, next = takeSpare(cfg.spareDir, m, false)
		pendingSpare.Store(next)
	}
	if m.Mode == userns.ModeSubID {
		// Capabilities in a user namespace are computed at execve, and at
		// the child's the maps do not exist yet (newuidmap writes them
		// after the clone): so every capability of the new namespace
		// goes through it as ambient, and the init's mapwait stage waits
		// for the maps, becomes the container's root and clears the
		// ambient and inheritable sets on every thread before anything
		// else (see docs/handshake.md). Its start-up overlaps newuidmap.
		args = []string{initName, "mapwait", cfg.stage}
	}
	env := []string{initEnv + "=1"}
	if cfg.exe != nil && cfg.stage != "task" {
		// A task works on data, with a goroutine per core (a layer's
		// small files): the init's one P is not for it.
		env = append(env, initRuntimeEnv...)
	} else {
		env = append(env, initGODEBUG)
	}
	if cfg.trace {
		env = append(env, "SANDBOX_TRACE=1")
	}
	c.cmd = &exec.Cmd{
		Path:       path,
		Args:       args,
		Env:        env,
		ExtraFiles: extra,
		Stdin:      cfg.stdin,
		Stdout:     cfg.stdout,
		Stderr:     cfg.stderr,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: cfg.cloneflags,
			// Its own session: the container can never reach the user's
			// terminal with TIOCSTI, nor get its job-control signals.
			Setsid:    true,
			Pdeathsig: unix.SIGKILL,
		},
	}
	if m.Mode != userns.ModeSubID {
		c.cmd.SysProcAttr.UidMappings, c.cmd.SysProcAttr.GidMappings = m.SysProcIDMaps()
	} else {
		c.cmd.SysProcAttr.AmbientCaps = allCaps()
	}
	if cfg.cgroupFD >= 0 {
		c.cmd.SysProcAttr.UseCgroupFD, c.cmd.SysProcAttr.CgroupFD = true, cfg.cgroupFD
	}
	if cfg.podSocket != "" {
		// In the pod's user namespace the maps exist: no waiting.
		c.cmd.Path, c.cmd.Args = fmt.Sprintf("/proc/self/fd/%d", selfFd), []string{initName, cfg.stage}
		return c, c.startInPod(cfg.podSocket, specW, cfg.payload)
	}
	return c, c.start(m, specW, syncW, cfg.payload)
}

// sendPayload writes payload into the spec pipe, in the background (it
// may exceed the pipe's buffer before the child reads), and closes it.
func (c *child) sendPayload(payload any) <-chan error {
	sent := make(chan error, 1)
	b, err := json.Marshal(payload)
	if err != nil {
		c.specW.Close()
		sent <- &Error{Code: 125, Msg: fmt.Sprintf("encoding the spec for the sandbox init: %v", err), Err: err}
		return sent
	}
	go func() {
		_, err := c.specW.Write(append(b, '\n'))
		c.specW.Close()
		if errors.Is(err, unix.EPIPE) {
			err = nil // the child is gone: its status says why
		}
		sent <- err
	}()
	return sent
}

func (c *child) start(m userns.Mapping, specW, syncW *os.File, payload any) error {
	// The spec goes into its pipe before the clone: the init, which
	// starts in a millisecond or two, reads it as soon as it runs instead
	// of waiting for us to encode it. In subid mode it reads it only once
	// its maps exist, whatever is in the pipe. Without a payload yet (an
	// Early start) the child waits on the pipe until sendPayload.
	c.specW = specW
	var sent <-chan error
	if payload != nil {
		sent = c.sendPayload(payload)
	}
	// Pdeathsig fires when the thread that forked the child exits, not the
	// process (go.dev/issue/27505): keep that thread alive and locked until
	// the child is gone.
	started := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		err := c.startProcess()
		started <- err
		if err != nil {
			return
		}
		for {
			select {
			case <-c.pdeath:
				return
			case fn := <-c.onThread:
				fn()
			case req := <-c.handoff:
				// Only a failed exec comes back; the init is still ours.
				req.err <- req.exec()
			}
		}
	}()
	err := <-started
	Trace("init forked")
	if err != nil {
		c.close()
		return &Error{Code: 125, Msg: fmt.Sprintf("starting the sandbox init: %v", userns.ExplainStart(err, ""))}
	}
	go func() {
		// Learn of the exit first without reaping: a handoff in progress
		// leaves the zombie to the watcher, which reaps it for its status.
		pid := c.procPid
		waitExited(pid)
		c.reap.Lock()
		c.exited = true
		c.reap.Unlock()
		if c.cmd.Process != nil {
			c.waitErr = c.cmd.Wait()
			c.ws, _ = c.cmd.ProcessState.Sys().(syscall.WaitStatus)
		} else {
			var err error
			if c.ws, err = spawn.Wait(pid); err != nil {
				c.waitFailed = true // never reaped: no status to tell
			}
		}
		close(c.done)
	}()
	if m.Mode == userns.ModeSubID && c.userns == nil {
		if err := m.Apply(c.procPid); err != nil {
			c.kill()
			<-c.done
			return explainRefusal(&Error{Code: 125, Msg: err.Error(), Err: err})
		}
		if _, err := syncW.Write([]byte{'\n'}); err != nil {
			c.kill()
			<-c.done
			return &Error{Code: 125, Msg: fmt.Sprintf("releasing the sandbox init: %v", err), Err: err}
		}
	}
	if sent != nil {
		if err := <-sent; err != nil {
			c.kill()
			<-c.done
			return specError(err)
		}
	}
	return nil
}

// startInSpare starts c.cmd's child in the spare user namespace
// c.userns: spawn only (os/exec cannot enter it). c.cmd is made for a
// namespace of its own in subid mode; in the spare, whose maps exist
// already, the init is its root from its execve: no CLONE_NEWUSER, no
// mapwait stage, no ambient capabilities.
func (c *child) startInSpare() error {
	a, ok := spawn.FromCmd(c.cmd)
	if !ok || len(a.Args) < 3 || a.Args[1] != "mapwait" {
		return errors.New("the init's start takes what spawn cannot do")
	}
	a.Args = append([]string{a.Args[0]}, a.Args[2:]...)
	a.Cloneflags &^= unix.CLONE_NEWUSER
	a.AmbientCaps = nil
	a.UserNS = c.userns
	pid, err := spawn.Start(a)
	c.procPid = pid
	return err
}

// startProcess starts the child c.cmd describes: with spawn, a
// vfork-style clone, where it can; else with os/exec.
func (c *child) startProcess() error {
	if c.userns != nil {
		err := c.startInSpare()
		c.userns.Close()
		if err == nil {
			return nil
		}
		// As without a spare, then: c.cmd makes its own namespace, and
		// start runs the helpers.
		Trace("no start in the spare user namespace: %v", err)
		c.userns = nil
	}
	if a, ok := spawn.FromCmd(c.cmd); ok {
		pid, err := spawn.Start(a)
		if !errors.Is(err, spawn.ErrUnsupported) {
			c.procPid = pid
			return err
		}
	}
	if err := c.cmd.Start(); err != nil {
		return err
	}
	c.procPid = c.cmd.Process.Pid
	return nil
}

// Reap waits for our child pid to end, as waitExited does (no thread of
// its own meanwhile), and reaps it.
func Reap(pid int) {
	waitExited(pid)
	spawn.Wait(pid)
}

// waitExited returns once our child pid has exited, leaving it unreaped.
// It waits in Go's poller on a pidfd where it can: a goroutine blocked in
// waitid holds a thread of its own for as long as the child lives, one
// per running container in a process that stays (the API service).
// Kernels before 5.10 (no PIDFD_NONBLOCK) wait in waitid.
func waitExited(pid int) {
	if fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK); err == nil {
		f := os.NewFile(uintptr(fd), "pidfd")
		defer f.Close()
		if rc, err := f.SyscallConn(); err == nil {
			exited := false
			err = rc.Read(func(fd uintptr) bool {
				var info unix.Siginfo // stays zero while the child runs
				err := unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOWAIT|unix.WNOHANG, nil)
				exited = err == nil && info.Signo != 0
				return exited || (err != nil && err != unix.EINTR)
			})
			if err == nil && exited {
				return
			}
		}
	}
	var info unix.Siginfo
	for unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
	}
}

// allCaps is every capability this kernel has, for a child that must keep
// them through an execve made before its maps exist.
func allCaps() []uintptr {
	last := capability.Last()
	caps := make([]uintptr, 0, last+1)
	for c := 0; c <= last; c++ {
		caps = append(caps, uintptr(c))
	}
	return caps
}

func specError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: 125, Msg: fmt.Sprintf("sending the spec to the sandbox init: %v", err), Err: err}
}

// readStatus reads the child's messages until it closes the pipe (it
// started the payload, or failed, or died). It returns the child's error.
func (c *child) readStatus(opts Options) error {
	return c.readStatusUntil(opts, "")
}

// readStatusUntil is readStatus stopping after a message of type until
// (a run with a terminal connects the network before it waits for the
// console, which the init sends only after).
func (c *child) readStatusUntil(opts Options, until string) error {
	if c.scanner == nil {
		c.scanner = bufio.NewScanner(c.status)
		c.scanner.Buffer(make([]byte, 64*1024), 1<<20)
	}
	sc := c.scanner
	failure := c.failure
	defer func() { c.failure = failure }()
	for sc.Scan() {
		var st status
		if json.Unmarshal(sc.Bytes(), &st) != nil {
			continue
		}
		c.seen = st.Type
		switch st.Type {
		case "error":
			code := st.Code
			if code == 0 {
				code = 125
			}
			e := &Error{Code: code, Msg: st.Msg}
			if code == 125 {
				e = explainRefusal(e)
			}
			failure = e
		case "rootfs":
			if opts.OnRootfs != nil {
				opts.OnRootfs(st.Driver, st.Msg)
			}
		case "hooks":
			// The init waits, its root assembled, while the hooks run;
			// one that fails ends the start (and the init with it).
			err := &Error{Code: 125, Msg: "the sandbox init waits for hooks nobody runs"}
			if opts.Hooks != nil {
				if herr := opts.Hooks(c.pid()); herr != nil {
					err = &Error{Code: 125, Msg: herr.Error(), Err: herr}
				} else if _, werr := c.sync.Write([]byte{'h'}); werr != nil {
					err = &Error{Code: 125, Msg: "releasing the sandbox init after its hooks: " + werr.Error(), Err: werr}
				} else {
					err = nil
				}
			}
			if err != nil {
				failure = err
				c.kill()
			}
		case "network":
			// The init waits on the sync pipe until its network is
			// connected; if that fails it is killed, and its root with it.
			if err := c.awaitNetwork(opts); err != nil {
				failure = err
				c.kill()
			}
		case "started":
			if opts.OnStarted != nil {
				opts.OnStarted(c.pid())
			}
		case "exited":
			code := st.Code
			c.payloadExit = &code
		case "removing":
			c.removalTaken = true
		}
		if st.Type == until {
			break
		}
	}
	return failure
}

// explainRefusal adds to a failure inside a new user namespace (its maps,
// a mount refused) the host setting that refuses such namespaces, when
// one does: under Ubuntu's AppArmor restriction the namespace is made, but
// without capabilities, so the refusal surfaces only later, as EPERM.
func explainRefusal(e *Error) *Error {
	msg := strings.ToLower(e.Msg) // newuidmap says "Operation not permitted"
	if !strings.Contains(msg, "operation not permitted") && !strings.Contains(msg, "permission denied") {
		return e
	}
	if r := userns.CheckRefusal(""); r != nil {
		e.Msg += ": " + r.Error()
	}
	return e
}

// wait waits for the child and converts its status to an exit code.
func (c *child) wait() int {
	<-c.done
	if c.pod != nil {
		return c.podExit
	}
	if c.waitFailed {
		return 125
	}
	return statusCode(c.ws)
}

// runOnThread runs fn on the thread that started the init.
func (c *child) runOnThread(fn func()) {
	done := make(chan struct{})
	select {
	case c.onThread <- func() { fn(); close(done) }:
		<-done
	case <-c.pdeath:
		fn() // the thread is gone: nothing is tied to it any more
	}
}

func (c *child) close() {
	c.pdeathOnce.Do(func() { close(c.pdeath) })
	c.status.Close()
	c.sync.Close()
	if c.console != nil {
		c.console.Close()
	}
}

// RunTask runs a task registered with task.Register in a new user namespace
// (with the store's id map, so files it creates get the right owners) and
// returns its error. stdin, when non-nil, is the task's input stream.
//
// The task runs in the init program (cmd/sandbox-init, which registers
// the layer tasks and runtime's own), installed in initDir as a
// container's init is, not in this binary, whose code would be most of
// a task's peak resident size (the unpack task of a pull: 8.2 of
// 15.7–17.0 MiB in this binary, 3.6–3.8 of 10.6–11.0 in the init).
// This binary runs it with initDir "" (a task the init does not
// register: the store check's verify), where no init is carried, and
// where it cannot be installed in initDir (a noexec filesystem).
func RunTask(m userns.Mapping, initDir, name string, args []string, stdin io.Reader) error {
	return RunTaskIO(m, initDir, name, args, stdin, nil)
}

// RunTaskIO is RunTask with the task's standard output going to stdout.
func RunTaskIO(m userns.Mapping, initDir, name string, args []string, stdin io.Reader, stdout io.Writer) error {
	cfg := childConfig{
		mapping: m, cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS, stage: "task", cgroupFD: -1,
		payload: taskArgs{Name: name, Args: args}, stdin: stdin, stderr: os.Stderr,
		trace: traceOn,
	}
	if initDir != "" && len(initbin.Binary) > 0 {
		// Installed, or this binary: a memfd per task (a pull's layers,
		// with a noexec runtime directory) would copy 4 MB each time.
		if f, err := installedInit(initDir); err == nil {
			cfg.exe = f
		} else {
			Trace("task %s in this binary: %v", name, err)
		}
	}
	if cfg.exe != nil {
		defer cfg.exe.Close()
	}
	if stdout != nil {
		cfg.stdout = stdout
	}
	c, err := startChild(cfg)
	if err != nil {
		return err
	}
	defer c.close()
	serr := c.readStatus(Options{})
	code := c.wait()
	if serr != nil {
		return serr
	}
	if code != 0 {
		return &Error{Code: 125, Msg: fmt.Sprintf("task %s exited with status %d", name, code)}
	}
	// The exit was clean, but copying its input or output may have failed.
	var exitErr *exec.ExitError
	if c.waitErr != nil && !errors.As(c.waitErr, &exitErr) {
		return fmt.Errorf("task %s: %w", name, c.waitErr)
	}
	return nil
}

type taskArgs struct {
	Name string
	Args []string
}
