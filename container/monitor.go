package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/cgroups"
	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/runtime"
	"github.com/sandbox-dev/sandbox/userns"
)

// A detached container (run -d, start) is run by a monitor: this binary
// again, in its own session, owing nothing to the terminal or the CLI that
// started it, so the container outlives both. The monitor holds the
// container's lock, records its state, writes its output to the log with a
// timestamp per line, and removes a --rm container when it exits. The init
// dies with the monitor (its parent-death signal), so a container can never
// outlive the process that records it.

// monitorEnv marks the monitor in its environment.
const monitorEnv = "_SANDBOX_MONITOR_UNDOCUMENTED"

// IsMonitor reports whether this process is a container monitor.
func IsMonitor() bool { return os.Getenv(monitorEnv) == "1" }

// monitorArgs cross to the monitor as JSON on fd 3.
type monitorArgs struct {
	Root, RunDir string
	Mapping      userns.Mapping
	Search       []string
	ID           string
}

// monitorReport is the monitor's one message to the CLI (fd 4).
type monitorReport struct {
	Started bool   `json:"started,omitempty"`
	Error   string `json:"error,omitempty"`
	Code    int    `json:"code,omitempty"`
}

// startDetached hands c (and its lock) to a new monitor and returns once
// the payload runs, or with the monitor's error. A container whose init
// will be its only process is started from this process instead
// (startResident): a monitor would only start it and exit, and its own
// start-up costs as much as the rest.
func startDetached(s *image.Store, c *Container, lock *os.File) error {
	defer lock.Close()
	if err := startResident(s, c, lock); !errors.Is(err, errNotResident) {
		return err
	}
	argsR, argsW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer argsR.Close()
	repR, repW, err := os.Pipe()
	if err != nil {
		argsW.Close()
		return err
	}
	defer repR.Close()
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{"sandbox-monitor", c.ID[:12]},
		Env:         []string{monitorEnv + "=1", "PATH=" + os.Getenv("PATH")},
		ExtraFiles:  []*os.File{argsR, repW, lock},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	repW.Close()
	if err != nil {
		argsW.Close()
		return fmt.Errorf("starting the monitor of container %s: %w", c.Name, err)
	}
	// Reaped when it ends, by a process that stays (the API service)
	// as well: its own zombie would stay otherwise.
	go runtime.Reap(cmd.Process.Pid)
	cmd.Process.Release()
	json.NewEncoder(argsW).Encode(monitorArgs{Root: s.Root, RunDir: s.RunDir, Mapping: s.Mapping, Search: s.Search, ID: c.ID})
	argsW.Close()
	var rep monitorReport
	if err := json.NewDecoder(repR).Decode(&rep); err != nil {
		return fmt.Errorf("the monitor of container %s ended without a word: %w", c.Name, err)
	}
	if rep.Error != "" {
		return &runtime.Error{Code: rep.Code, Msg: rep.Error}
	}
	return nil
}

// errNotResident: startResident started nothing, the container needs a
// monitor.
var errNotResident = errors.New("the container needs a monitor")

// startResident starts c from this process, when its init will be its
// only process (runtime.Resides): this process is the init's parent, but
// holds it only until the init has taken over, as a monitor would. A
// process that stays (the API service) reaps it when it ends, waiting in
// Go's poller, with no thread of its own (runtime's waitExited); one that
// exits leaves it to the system's reaper. errNotResident: c needs a
// monitor, nothing was started.
func startResident(s *image.Store, c *Container, lock *os.File) error {
	if !residentEligible(c) || c.Config.Interactive {
		return errNotResident
	}
	m, err := newMonitor(s, c, lock, monitorArgs{Root: s.Root, RunDir: s.RunDir, Mapping: s.Mapping, Search: s.Search, ID: c.ID})
	if err != nil {
		return err
	}
	defer m.lw.File().Close()
	_, err = m.run(0, nil, true)
	if errors.Is(err, runtime.ErrResident) {
		return nil
	}
	return err
}

// resumeEnv carries a monitor's state across its watcher (runtime.Handoff)
// to the CLI executed again when the container has exited.
const resumeEnv = "_SANDBOX_MONITOR_RESUME_UNDOCUMENTED"

// monitorResume is what the resumed monitor needs to record the end.
type monitorResume struct {
	Args     monitorArgs
	Restarts int
	LockFD   int
}

// MonitorMain is the monitor process. It never returns.
func MonitorMain() {
	report := os.NewFile(4, "report")
	var resume monitorResume
	resumed := false
	if v := os.Getenv(resumeEnv); v != "" {
		// Executed again by the watcher: fd 4 is not a report pipe.
		report = nil
		if err := json.Unmarshal([]byte(v), &resume); err != nil {
			fmt.Fprintf(os.Stderr, "sandbox-monitor: reading what the watcher kept: %v\n", err)
			os.Exit(125)
		}
		resumed = true
	}
	say := func(r monitorReport) {
		if report != nil {
			json.NewEncoder(report).Encode(r)
			report.Close()
			report = nil
		}
	}
	fail := func(err error) {
		code := runtime.ExitCode(err)
		say(monitorReport{Error: err.Error(), Code: code})
		os.Exit(code)
	}
	a, lockFD := resume.Args, resume.LockFD
	if !resumed {
		if err := json.NewDecoder(os.NewFile(3, "args")).Decode(&a); err != nil {
			fail(fmt.Errorf("reading the monitor's arguments: %w", err))
		}
		lockFD = 5
	}
	lock := os.NewFile(uintptr(lockFD), "lock") // inherited, already locked: ours now
	defer lock.Close()
	// The helpers this monitor starts (a network helper) must hold none of
	// these, the container's lock least of all, nor anything the user's
	// shell leaked to the CLI.
	unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	s := &image.Store{Root: a.Root, Mapping: a.Mapping, Search: a.Search, RunDir: a.RunDir}
	c, err := load(s, a.ID)
	if err != nil {
		fail(err)
	}
	m, err := newMonitor(s, c, lock, a)
	if err != nil {
		fail(err)
	}
	defer m.lw.File().Close()
	var delay time.Duration
	for restarts := resume.Restarts; ; restarts++ {
		began := time.Now()
		var code int
		var err error
		if resumed {
			code, err = m.resumed(restarts), nil
			began = readState(s, c.ID).StartedAt
			resumed = false
		} else {
			code, err = m.run(restarts, func() { say(monitorReport{Started: true}) }, false)
			if errors.Is(err, runtime.ErrResident) {
				os.Exit(0)
			}
		}
		if err != nil {
			code = runtime.ExitCode(err)
			// Before the first start the CLI hears it; later, the log does.
			if report != nil {
				say(monitorReport{Error: err.Error(), Code: code})
			} else {
				m.lw.Write("stderr", fmt.Sprintf("sandbox: starting container %s again: %v", c.Name, err))
			}
		}
		if !shouldRestart(c.Config.Restart, code, err) || stopRequested(s, c.ID) {
			// The end may have been recorded as restarting (recordEnd),
			// and a stop asked for since.
			if st := readState(s, c.ID); st.Restarting {
				st.Restarting = false
				writeState(s, c.ID, st)
			}
			if c.Config.Rm {
				// Its code outlives it, for a `wait` begun before; its log
				// too for the API's attach (KeepExit).
				keepRemovedExit(s, c, code, c.Config.KeepExit)
				Remove(s, c)
			}
			os.Exit(code)
		}
		delay = restartDelay(delay, time.Since(began))
		st := readState(s, c.ID)
		st.Restarting = true
		writeState(s, c.ID, st)
		if !sleepUnlessStopped(s, c.ID, delay) {
			st.Restarting = false
			writeState(s, c.ID, st)
			os.Exit(code)
		}
	}
}

// newMonitor resolves c's image and opens its log for a monitor (or a
// start from this process, startResident); the caller closes the log.
func newMonitor(s *image.Store, c *Container, lock *os.File, a monitorArgs) (*monitor, error) {
	img, err := s.Resolve(c.ImageID)
	if err != nil {
		return nil, fmt.Errorf("the image of container %s: %w", c.Name, err)
	}
	logf, err := os.OpenFile(filepath.Join(Dir(s, c.ID), "ctr.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the log of container %s: %w", c.Name, err)
	}
	return &monitor{s: s, c: c, img: img, lw: runtime.NewLogWriter(logf), lock: lock, args: a}, nil
}

// monitor runs a detached container, again after each exit its restart
// policy asks for.
type monitor struct {
	s    *image.Store
	c    *Container
	img  *image.Image
	lw   *runtime.LogWriter
	lock *os.File
	args monitorArgs
}

func (m *monitor) warn(msg string) { m.lw.Write("stderr", "sandbox: "+msg) }

// run runs the container once, its output going to the log. Once the
// payload runs this process normally becomes the watcher (handoff) and
// run does not return; resumed records the end then. With mustReside it
// starts nothing (errNotResident) unless the init will stay alone.
func (m *monitor) run(restarts int, onStarted func(), mustReside bool) (int, error) {
	s, c := m.s, m.c
	spec, err := buildSpec(s, c, m.img, IO{})
	if err != nil {
		return 0, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return 0, err
	}
	// The copying starts only if this process keeps watching: the
	// watcher must find the pipes unread.
	var wg sync.WaitGroup
	copyOutput := func() {
		for _, p := range []struct {
			r      *os.File
			stream string
		}{{outR, "stdout"}, {errR, "stderr"}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer p.r.Close()
				m.lw.Copy(p.r, p.stream)
			}()
		}
	}
	mapping, _ := mappingFor(s, m.c.Config) // checked when it was made
	opts := runtime.Options{Mapping: mapping, Stdout: outW, Stderr: errW, PayloadPipes: true}
	interactive := c.Config.Interactive
	if interactive {
		// Input through attach.sock (attach.go): this monitor stays, as
		// the holder of the payload's stdin or of its terminal.
		dir, err := runDir(s, c)
		if err != nil {
			return 0, err
		}
		inR, inW, err := os.Pipe()
		if err != nil {
			return 0, err
		}
		defer inR.Close()
		ap, err := listenAttach(dir, inW, c.Config.StdinOnce)
		if err != nil {
			inW.Close()
			return 0, err
		}
		defer ap.close()
		opts.Stdin, opts.OnConsole = inR, ap.setConsole
	}
	var record *os.File
	if residentEligible(c) && !interactive && runtime.Resides(spec, opts) {
		// Empty until the init writes how the run ended.
		record, _ = os.OpenFile(filepath.Join(Dir(s, c.ID), runtime.ExitRecordName), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	}
	if record == nil && mustReside {
		for _, f := range []*os.File{outR, outW, errR, errW} {
			f.Close()
		}
		return 0, errNotResident
	}
	if record != nil {
		// The init alone stays: it copies the output, holds the lock and
		// records the end (runtime/resident.go). Our ends of the pipes go
		// once it runs, or the run failed: a process that stays (the API
		// service) would hold two descriptors per container otherwise.
		defer record.Close()
		for _, f := range []*os.File{outR, outW, errR, errW} {
			defer f.Close()
		}
		opts.Resident = &runtime.Resident{Log: m.lw.File(), Stdout: outR, Stderr: errR, Record: record, Keep: []*os.File{m.lock}}
	} else if h := m.handoffUnless(interactive, restarts, outR, errR); h != nil && (c.Config.Pod == "" || c.Config.PodInfra) {
		// (A pod's member is the infra's child, not ours to hand over.)
		opts.Handoff = h
		opts.HandoffFailed = func(err error) {
			if err != nil {
				m.warn(fmt.Sprintf("the monitor stays the whole CLI: %v", err))
			}
			h.Resume.Close()
			copyOutput()
		}
		// What the payload writes before the handoff waits in the
		// pipes; the monitor's own ends must be closed by then (they
		// are close-on-exec).
	} else {
		copyOutput()
	}
	return runRecorded(s, c, spec, opts, recording{warn: m.warn, restarts: restarts, policy: c.Config.Restart, onStarted: onStarted, beforeExit: func() {
		outW.Close()
		errW.Close()
		wg.Wait()
	}})
}

// residentEligible says whether the init can be c's only resident
// process as far as the container's end goes: nothing outside it has to
// act when it ends (no restart policy, no --rm removal, no pod). What the
// run itself needs (a terminal, a network) runtime.Resides says.
func residentEligible(c *Container) bool {
	// A pod's infra runs no payload to hand over, and a member must die
	// with its infra: both keep their monitor.
	return (c.Config.Restart == "" || c.Config.Restart == "no") && !c.Config.Rm && c.Config.Pod == ""
}

// handoffUnless is handoff, unless this monitor must stay (it holds an
// interactive container's input).
func (m *monitor) handoffUnless(stay bool, restarts int, outR, errR *os.File) *runtime.Handoff {
	if stay {
		return nil
	}
	return m.handoff(restarts, outR, errR)
}

// handoff plans the exec to the watcher, or says nil when it cannot be
// planned (the CLI's own executable out of reach).
func (m *monitor) handoff(restarts int, outR, errR *os.File) *runtime.Handoff {
	exe, err := os.OpenFile("/proc/self/exe", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	b, err := json.Marshal(monitorResume{Args: m.args, Restarts: restarts, LockFD: int(m.lock.Fd())})
	if err != nil {
		exe.Close()
		return nil
	}
	env := []string{monitorEnv + "=1", resumeEnv + "=" + string(b), "PATH=" + os.Getenv("PATH")}
	if v, ok := os.LookupEnv("SANDBOX_TRACE"); ok {
		env = append(env, "SANDBOX_TRACE="+v)
	}
	return &runtime.Handoff{
		Log: m.lw.File(), Stdout: outR, Stderr: errR, Keep: []*os.File{m.lock},
		Resume: exe, Args: []string{"sandbox-monitor", m.c.ID[:12]}, Env: env,
	}
}

// resumed records the end of a run the watcher saw (its exit status in
// the environment) and returns the exit status.
func (m *monitor) resumed(restarts int) int {
	s, c := m.s, m.c
	code, err := strconv.Atoi(os.Getenv(runtime.WatchExitEnv))
	if err != nil {
		code = 125
	}
	started := readState(s, c.ID)
	if started.NetHelperPid > 0 {
		stopHelper(started.NetHelperPid)
	}
	var cg *cgroups.Cgroup
	if started.Cgroup != "" {
		cg = cgroups.Open(started.Cgroup)
		if plan, err := cgroups.Detect().MakePlan(c.Config.Resources, c.Config.Cgroups); err == nil {
			cg.Limits = plan.Resources
		}
	}
	recordEnd(s, c, started, cg, code, nil, recording{warn: m.warn, restarts: restarts, policy: c.Config.Restart})
	os.RemoveAll(liveDir(s, c))
	return code
}

// stopHelper ends the network helper this process inherited through the
// watcher (its child, started from the thread that became the watcher's),
// as network.Running.Stop would: SIGTERM, then SIGKILL after a second.
func stopHelper(pid int) {
	reaped := func() bool {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		return wpid == pid || err != nil // err: not ours, or gone
	}
	if reaped() {
		return
	}
	unix.Kill(pid, unix.SIGTERM)
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if reaped() {
			return
		}
	}
	unix.Kill(pid, unix.SIGKILL)
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, 0, nil)
}
