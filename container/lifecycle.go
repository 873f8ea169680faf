package container

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/cgroups"
	"github.com/sandbox-dev/sandbox/container/containertypes"
	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/network"
	"github.com/sandbox-dev/sandbox/network/bridge"
	"github.com/sandbox-dev/sandbox/runtime"
)

// DefaultStopTimeout is how long stop waits before killing, unless the
// container's stop_timeout or stop -t says otherwise.
const DefaultStopTimeout = 10 * time.Second

// ErrRunning is returned when an operation needs a stopped container.
var ErrRunning = containertypes.ErrRunning

// Create makes a container from cfg without starting it (pulling the image
// first when the store lacks it and stdio.Pull allows). The returned lock
// file holds the container's lock: whoever runs the container keeps it.
func Create(s *image.Store, cfg Config, stdio IO) (*Container, *os.File, error) {
	if cfg.Pod != "" && !cfg.PodInfra {
		if _, err := joinPod(s, &cfg, false); err != nil {
			return nil, nil, err
		}
	}
	if err := expandCDI(s, &cfg); err != nil {
		return nil, nil, err
	}
	if err := attachVolumes(s, &cfg); err != nil {
		return nil, nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	if err := CheckLimits(&cfg); err != nil {
		return nil, nil, err
	}
	c, _, lock, err := createAs(s, cfg, stdio, "", false)
	return c, lock, err
}

// createAs is Create for a config its caller checked (Validate and the
// cgroup plan), with the container's ID chosen beforehand ("": a new
// one), and run set when a run makes it to start it at once
// (Container.Run); it returns the image too.
func createAs(s *image.Store, cfg Config, stdio IO, id string, run bool) (*Container, *image.Image, *os.File, error) {
	if err := checkNetworks(s, cfg); err != nil {
		return nil, nil, nil, err
	}
	if _, err := mappingFor(s, cfg); err != nil {
		return nil, nil, nil, err
	}
	if cfg.Privileged && stdio.Warn != nil {
		stdio.Warn("--privileged: every capability, no seccomp filter, /proc and /sys unmasked, all inside the user namespace: the host's root stays out of reach")
	}
	vols, err := resolveVolumes(cfg.Volumes, s.RunDir)
	if err != nil {
		return nil, nil, nil, err
	}
	for i := range vols {
		vols[i].Dev, vols[i].Ino = 0, 0 // checked again at each start
	}
	cfg.Volumes = vols
	var img *image.Image
	switch {
	case cfg.Pull == "always" && stdio.Pull != nil && !image.IsHostRef(cfg.Image):
		img, err = s.Pull(context.Background(), cfg.Image, *stdio.Pull)
	default:
		img, err = s.Resolve(cfg.Image)
		if errors.Is(err, image.ErrNotFound) && cfg.Pull == "never" {
			err = fmt.Errorf("%w (and --pull never: pull it first, or drop --pull never)", err)
		} else if errors.Is(err, image.ErrNotFound) && stdio.Pull != nil {
			img, err = s.Pull(context.Background(), cfg.Image, *stdio.Pull)
		}
	}
	if err != nil {
		return nil, nil, nil, err
	}
	runtime.Trace("image resolved")
	if len(img.Config.Config.Volumes) > 0 {
		if err := imageVolumes(s, img, &cfg); err != nil {
			return nil, nil, nil, err
		}
	}
	cfg.Health = healthCheck(cfg, img)
	c, lock, err := create(s, img, cfg, id, run) // sweeps the store too
	if err != nil {
		return nil, nil, nil, err
	}
	if cfg.CIDFile != "" {
		// Made, not replaced: a stale file would name another container.
		f, err := os.OpenFile(cfg.CIDFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, err = f.WriteString(c.ID)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			// Removed before the lock goes: a sweep must not find it
			// free in between (Container.Run).
			Remove(s, c)
			lock.Close()
			return nil, nil, nil, fmt.Errorf("--cidfile: %w", err)
		}
	}
	runtime.Trace("container created")
	return c, img, lock, nil
}

// Run creates a container from cfg and runs it: in the foreground, returning
// the payload's exit status, or with cfg.Detach in the background, returning
// once it runs. With cfg.Rm the container is removed when it exits.
func Run(s *image.Store, cfg Config, stdio IO) (*Container, int, error) {
	if cfg.Pod != "" && !cfg.PodInfra {
		if _, err := joinPod(s, &cfg, true); err != nil {
			return nil, 0, err
		}
	}
	if err := expandCDI(s, &cfg); err != nil {
		return nil, 0, err
	}
	if err := attachVolumes(s, &cfg); err != nil {
		return nil, 0, err
	}
	if err := cfg.ValidateRun(); err != nil {
		return nil, 0, err
	}
	// A published port something else holds is refused before the
	// container exists: nothing is left behind.
	if network.IsPrivate(cfg.Network) {
		if ports, err := network.ParsePorts(cfg.Ports); err == nil {
			if err := network.CheckFree(ports); err != nil {
				return nil, 0, err
			}
		}
	}
	if !cfg.Detach {
		return runEarly(s, cfg, stdio)
	}
	if err := CheckLimits(&cfg); err != nil {
		return nil, 0, err
	}
	c, _, lock, err := createAs(s, cfg, stdio, "", true)
	if err != nil {
		return nil, 0, err
	}
	return c, 0, startDetached(s, c, lock)
}

// runEarly runs a container in the foreground with its init cloned before
// the store work (image resolution, the container's record and directory):
// the init's start-up, a millisecond or two, overlaps that work instead of
// following it. Its ID and cgroup are chosen first, since the clone puts
// the init in the cgroup. Run validated cfg; the cgroup's plan refuses
// limits that cannot be enforced, as CheckLimits does.
func runEarly(s *image.Store, cfg Config, stdio IO) (*Container, int, error) {
	id := image.RandomHex(32)
	cg, err := containerCgroup(&Container{ID: id, Config: cfg}, stdio.Warn)
	if err != nil {
		return nil, 0, &runtime.Error{Code: 125, Msg: err.Error(), Err: err}
	}
	abandon := func() {
		if cg != nil {
			cg.Remove()
		}
	}
	opts := foregroundOptions(s, cfg, stdio)
	if cg != nil {
		opts.CgroupFD = cg.FD()
	}
	if err := podOptions(s, cfg, &opts); err != nil {
		abandon()
		return nil, 0, err
	}
	if rawCandidate(cfg) {
		// A raw start's PID 1, held until its spec exists
		// (runtime.BeginRaw); where one cannot start, the Go init.
		opts.Throwaway = cfg.Rm
		raw, err := runtime.BeginRaw(opts)
		if err == nil {
			c, img, lock, err := createAs(s, cfg, stdio, id, true)
			if err != nil {
				raw.Abort()
				abandon()
				return nil, 0, err
			}
			code, err := runForeground(s, c, lock, stdio, &prepared{cg: cg, img: img, raw: raw})
			return c, code, err
		}
		runtime.Trace("no raw start: %v", err)
	}
	early, err := runtime.Begin(opts, cfg.Network != "" && cfg.Network != "host", cfg.TTY)
	if err != nil {
		abandon()
		return nil, 0, err
	}
	c, img, lock, err := createAs(s, cfg, stdio, id, true)
	if err != nil {
		early.Abort()
		abandon()
		return nil, 0, err
	}
	if err := early.Started(); err != nil {
		// As if the clone had failed before the container was made.
		early.Abort()
		Remove(s, c)
		lock.Close()
		abandon()
		return nil, 0, err
	}
	code, err := runForeground(s, c, lock, stdio, &prepared{early: early, cg: cg, img: img})
	return c, code, err
}

// prepared is what runEarly made before the container existed: the init
// already started, or, with raw, a raw start's PID 1 held for its spec
// (runtime.BeginRaw).
type prepared struct {
	early *runtime.Early
	cg    *cgroups.Cgroup
	img   *image.Image // resolved already
	raw   *runtime.RawEarly
}

// rawCandidate says whether cfg may run from a raw start, which has no
// Go in the container: a run that serves no exec, on the host's network,
// of an image's layers, with nothing of what only the Go init does.
// These are runtime's rawRefusal reasons as far as the config tells them;
// RawEarly.Run decides the rest once the spec exists (an image's volumes,
// its user) and gives way to the Go init then. Each refusal known here
// spares a clone and, with subordinate ids, newuidmap and newgidmap run
// twice (1 ms). SANDBOX_NO_RAW=1 turns raw starts off, for comparisons.
func rawCandidate(cfg Config) bool {
	return !cfg.servesExec() && (cfg.Network == "" || cfg.Network == "host") &&
		len(cfg.Volumes) == 0 && len(cfg.Sysctls) == 0 && len(cfg.Hooks) == 0 && cfg.Pod == "" && !cfg.PodInfra &&
		cfg.UserNS != KeepID && len(cfg.GroupAdd) == 0 && !image.IsHostRef(cfg.Image) &&
		os.Getenv("SANDBOX_NO_RAW") == ""
}

// foregroundOptions are the runtime options of a foreground run.
func foregroundOptions(s *image.Store, cfg Config, stdio IO) runtime.Options {
	m, err := mappingFor(s, cfg)
	if err != nil {
		m = s.Mapping // createAs refuses the container, saying why
	}
	opts := runtime.Options{Mapping: m, Stdout: stdio.Stdout, Stderr: stdio.Stderr, InitDir: s.RunDir, OwnSignals: stdio.OwnSignals,
		StoreTmp: filepath.Join(s.Root, "tmp")}
	if cfg.Interactive {
		opts.Stdin = stdio.Stdin
	}
	return opts
}

// Start runs a created or exited container again, on the same writable
// layer: attached (foreground) or detached.
func Start(s *image.Store, ref string, attach bool, stdio IO) (*Container, int, error) {
	c, err := Find(s, ref)
	if err != nil {
		return nil, 0, err
	}
	// A command completing the last run's end, or looking whether its
	// recorder lives, holds the lock for a moment: only a living init
	// means the container runs.
	lock, err := lockContainerTimeout(s, c, 2*time.Second, func() bool {
		st := readState(s, c.ID)
		return st.Status == Running && alive(st.Pid, st.PidStart)
	})
	if err != nil {
		return c, 0, err
	}
	// The last run's end first, where nobody recorded it yet (a resident
	// init's): the start empties its record for the new run.
	if st := readState(s, c.ID); st.Status == Running && !alive(st.Pid, st.PidStart) {
		completeLocked(s, c.ID, st)
	}
	clearStop(s, c.ID)
	if !attach {
		return c, 0, startDetached(s, c, lock)
	}
	code, err := runForeground(s, c, lock, stdio, nil)
	return c, code, err
}

// lockContainer takes the container's lock: held by whoever runs it. With
// wait it waits for the holder to finish; otherwise a held lock means the
// container is running.
func lockContainer(s *image.Store, c *Container, wait bool) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(Dir(s, c.ID), "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the lock of container %s: %w", c.Name, err)
	}
	how := unix.LOCK_EX
	if !wait {
		how |= unix.LOCK_NB
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s (stop it with `sandbox stop %s`)", ErrRunning, c.Name, c.Name)
		}
		return nil, fmt.Errorf("locking container %s: %w", c.Name, err)
	}
	return f, nil
}

// runForeground runs c with this process as its recorder: it holds lock,
// writes the state, and removes the container afterwards when it is --rm.
func runForeground(s *image.Store, c *Container, lock *os.File, stdio IO, p *prepared) (int, error) {
	if p != nil {
		// Whatever ends this run before the init gets its spec ends it,
		// and the cgroup made for it.
		defer func() {
			if p.early != nil && p.early.Abort() && p.cg != nil {
				p.cg.Remove()
			}
			// A raw start that never got its spec (no-op once it ran).
			if p.raw.Abort() && p.cg != nil {
				p.cg.Remove()
			}
		}()
	}
	defer lock.Close()
	if c.Config.Rm {
		defer func() {
			// Its recorder is this process, which removed the cgroup.
			if err := remove(s, c, false); err != nil && stdio.Warn != nil {
				stdio.Warn(fmt.Sprintf("removing container %s: %v", c.ID[:12], err))
			}
			runtime.Trace("container removed")
		}()
	}
	var img *image.Image
	var err error
	if p != nil {
		img = p.img
	} else if img, err = s.Resolve(c.ImageID); err != nil {
		return 0, fmt.Errorf("the image of container %s: %w", c.Name, err)
	}
	spec, err := buildSpec(s, c, img, stdio)
	if err != nil {
		return 0, err
	}
	opts := foregroundOptions(s, c.Config, stdio)
	if c.Config.Rm {
		opts.HandOffRemoval = func() (runtime.Removal, bool) { return handOffRemoval(s, c, lock) }
	}
	return runRecorded(s, c, spec, opts, recording{warn: stdio.Warn, removed: c.Config.Rm, prepared: p})
}

// handOffRemoval takes a throwaway container out of the store for its init
// to remove (runtime.Removal): its directory goes into tmp/ in one rename,
// as remove does, and the init holds its lock until the files are gone, so
// that a sweep leaves them to it. The remove that follows finds nothing
// left to do.
func handOffRemoval(s *image.Store, c *Container, lock *os.File) (runtime.Removal, bool) {
	tmp, err := os.Open(filepath.Join(s.Root, "tmp"))
	if err != nil {
		return runtime.Removal{}, false
	}
	name := image.TrashContainerPrefix + c.ID
	if err := os.Rename(Dir(s, c.ID), filepath.Join(s.Root, "tmp", name)); err != nil {
		tmp.Close()
		return runtime.Removal{}, false
	}
	return runtime.Removal{Dir: tmp, Name: name, Keep: lock, Skeleton: append([]string{skeletonName}, containerDirs...)}, true
}

// recording is what runRecorded does around the run besides recording.
type recording struct {
	warn func(string)
	// onStarted runs once the payload runs; beforeExit once the container
	// ended and before its exit is recorded: a monitor finishes its log
	// there, so that whoever sees the exit also sees all the output.
	onStarted, beforeExit func()
	restarts              int // recorded as the state's RestartCount
	// policy is the monitor's restart policy: an end it will start again
	// after is recorded as restarting in the same write, so that no
	// command sees the container exited between two runs (a kill then
	// said "not running" where it should end the restarts).
	policy string
	// removed says the container is removed once it ended: its end is
	// not recorded (whoever reads the state meanwhile sees its init gone).
	removed bool
	// prepared, when set, holds the init already started and its cgroup.
	prepared *prepared
}

// runRecorded runs spec and records the container's state around it.
func runRecorded(s *image.Store, c *Container, spec *runtime.Spec, opts runtime.Options, r recording) (int, error) {
	warn := r.warn
	opts.InitDir = s.RunDir
	opts.OnRootfs = func(driver, reason string) {
		// A fallback is said once per store (and again if it changes):
		// `sandbox info` shows it any time.
		if reason != "" && warn != nil && s.Once("storage-fallback", reason) {
			warn("storage: " + reason)
		}
	}
	var cg *cgroups.Cgroup
	var netHelper string
	var netPid int
	var networks []bridge.Endpoint
	started := State{}
	opts.OnStarted = func(pid int) {
		start, _, _ := runtime.ProcessStart(pid)
		started = State{Status: Running, Pid: pid, PidStart: start, StartedAt: time.Now().UTC(), RestartCount: r.restarts,
			NetHelper: netHelper, NetHelperPid: netPid, Networks: networks}
		if cg != nil {
			started.Cgroup = cg.Path
		}
		writeState(s, c.ID, started)
		if stopRequested(s, c.ID) {
			// A stop came after this start was decided on (a restart
			// policy's next run, begun as the stop read "restarting"):
			// the stop wins, as it would have a moment later.
			unix.Kill(pid, unix.SIGKILL)
		}
		if hc := c.Config.Health; hc != nil && spec.ExecSocket != "" {
			if err := runtime.StartHealthChecker(s.RunDir, spec.ExecSocket, Dir(s, c.ID), pid, *hc); err != nil && warn != nil {
				warn(err.Error())
			}
		}
		if r.onStarted != nil {
			r.onStarted()
		}
	}
	// The exec socket lives in the user's runtime directory; a run that
	// serves no exec (Config.servesExec) gets none.
	liveDir := ""
	if c.Config.servesExec() {
		if dir, err := runDir(s, c); err == nil {
			spec.ExecSocket = execSocket(dir)
			liveDir = dir
		}
	}
	defer func() {
		if liveDir != "" {
			os.RemoveAll(liveDir)
		}
	}()
	if spec.NetworkWait {
		dir, err := runDir(s, c)
		if err != nil {
			return 0, &runtime.Error{Code: 125, Msg: fmt.Sprintf("the network helper of container %s needs a runtime directory: %v", c.Name, err), Err: err}
		}
		liveDir = dir
		// A monitor that hands off keeps the helper's pipes open through
		// the exec (the helper runs while one is open).
		var keep *[]*os.File
		if opts.Handoff != nil {
			keep = &opts.Handoff.Keep
		}
		connect, err := networkConnector(c, dir, warn, &netHelper, &netPid, keep)
		if err != nil {
			return 0, &runtime.Error{Code: 125, Msg: err.Error(), Err: err}
		}
		opts.Network = connect
		leases, err := joinNetworks(s, c)
		if err != nil {
			return 0, &runtime.Error{Code: 125, Msg: err.Error(), Err: err}
		}
		defer func() {
			for _, l := range leases {
				l.Close()
			}
		}()
		if len(leases) > 0 {
			spec.Taps = tapsFor(leases)
			for _, l := range leases {
				networks = append(networks, l.Endpoint)
			}
			if err := writeEtcFiles(spec, c.Config, filepath.Join(Dir(s, c.ID), "userdata"), networks); err != nil {
				return 0, &runtime.Error{Code: 125, Msg: err.Error(), Err: err}
			}
			opts.Taps = func(initPid int, taps []*os.File) error {
				for i, l := range leases {
					if err := l.Attach(taps[i], initPid); err != nil {
						return err
					}
				}
				return nil
			}
		}
	}
	var err error
	if r.prepared != nil {
		cg = r.prepared.cg
	} else if cg, err = containerCgroup(c, warn); err != nil {
		return 0, &runtime.Error{Code: 125, Msg: err.Error(), Err: err}
	}
	if cg != nil {
		opts.CgroupFD = cg.FD()
	}
	if cg == nil || cg.Limits.Pids == 0 {
		spec.Nproc = ProcessLimit
	}
	// A record a resident init wrote for an earlier run is not this one's
	// (a resident run truncates it when it opens it for its init).
	if opts.Resident == nil {
		os.Remove(filepath.Join(Dir(s, c.ID), runtime.ExitRecordName))
	}
	if err := podOptions(s, c.Config, &opts); err != nil {
		return 0, &runtime.Error{Code: 125, Msg: err.Error(), Err: err}
	}
	if len(c.Config.Hooks) > 0 {
		spec.HookWait, opts.Hooks = true, hookRunner(s, c)
	}
	var code int
	switch {
	case r.prepared != nil && r.prepared.raw != nil:
		var ran bool
		if code, err, ran = r.prepared.raw.Run(spec, opts); !ran {
			code, err = runtime.Run(spec, opts)
		}
	case r.prepared != nil:
		code, err = r.prepared.early.Run(spec, opts)
	default:
		code, err = runtime.Run(spec, opts)
	}
	if errors.Is(err, runtime.ErrResident) {
		// The init runs on alone, its exec socket with it: the end is
		// recorded by whoever next looks (completeResident).
		liveDir = ""
		return 0, err
	}
	recordEnd(s, c, started, cg, code, err, r)
	return code, err
}

// recordEnd records how a run ended, once the container's processes are
// gone: an OOM kill read from its cgroup (then removed), and the exit
// state. r.beforeExit runs before the state says exited.
func recordEnd(s *image.Store, c *Container, started State, cg *cgroups.Cgroup, code int, err error, r recording) {
	oom := false
	if cg != nil {
		oom = endCgroup(cg, code, r.warn)
	}
	if r.beforeExit != nil {
		r.beforeExit()
	}
	end := started
	end.Status, end.Pid, end.FinishedAt, end.Cgroup = Exited, 0, time.Now().UTC(), ""
	end.ExitCode, end.RestartCount, end.OOMKilled = code, r.restarts, oom
	if err != nil {
		end.ExitCode = runtime.ExitCode(err)
	}
	end.NetHelper, end.NetHelperPid, end.Networks = "", 0, nil
	end.Restarting = shouldRestart(r.policy, code, err) && !stopRequested(s, c.ID)
	if !r.removed {
		writeState(s, c.ID, end)
	}
}

// networkConnector checks what a private network needs before anything
// starts (a helper, free host ports) and returns the runtime hook that
// starts the helper against the init, setting *name and *pid for the
// state written when the payload starts.
func networkConnector(c *Container, dir string, warn func(string), name *string, pid *int, keep *[]*os.File) (func(int, <-chan struct{}, func(func())) (func(), error), error) {
	ports, err := network.ParsePorts(c.Config.Ports)
	if err != nil {
		return nil, err
	}
	helper, path, err := network.Find(c.Config.Network, ports)
	if err != nil {
		return nil, err
	}
	if helper == network.Pasta && network.LoopbackUDP(ports) && warn != nil {
		warn("pasta delivers datagrams to a udp port published on a loopback address, but not their replies (install slirp4netns, or publish on another address)")
	}
	if err := network.CheckFree(ports); err != nil {
		return nil, err
	}
	return func(initPid int, initDone <-chan struct{}, onThread func(func())) (func(), error) {
		r, err := network.Start(network.Options{Helper: helper, Path: path, Pid: initPid, Dir: dir, Ports: ports, Cancel: initDone, StartOn: onThread})
		if err != nil {
			return nil, err
		}
		*name, *pid = string(helper), r.Pid()
		if keep != nil {
			*keep = append(*keep, r.Files()...)
		}
		return r.Stop, nil
	}, nil
}

// runDir is the container's directory under the user's runtime directory
// (exec socket), made if missing. The short ID keeps the socket path under
// the 108 bytes a unix socket address may have.
func runDir(s *image.Store, c *Container) (string, error) {
	if s.RunDir == "" {
		return "", errors.New("no runtime directory")
	}
	if err := runtime.PrivateDir(s.RunDir); err != nil {
		return "", err
	}
	dir := liveDir(s, c)
	return dir, os.MkdirAll(dir, 0o700)
}

// liveDir is where runDir makes the container's runtime directory.
func liveDir(s *image.Store, c *Container) string { return filepath.Join(s.RunDir, c.ID[:16]) }

// execSocket is the exec socket of the run whose live directory is dir.
func execSocket(dir string) string { return filepath.Join(dir, "exec.sock") }

// Stop asks the container to end with SIGTERM (or the image's stop
// signal), waits up to timeout (negative: the container's stop_timeout),
// then kills it. It returns when the container has exited and its state is
// recorded; its restart policy does not start it again.
func Stop(s *image.Store, ref string, timeout time.Duration) (*Container, error) {
	c, err := Find(s, ref)
	if err != nil {
		return nil, err
	}
	if timeout < 0 {
		timeout = DefaultStopTimeout
		if c.Config.StopTimeout != nil {
			timeout = time.Duration(*c.Config.StopTimeout) * time.Second
		}
	}
	requestStop(s, c.ID)
	st := CurrentState(s, c.ID)
	if st.Status != Running {
		waitRecorded(s, c) // a monitor waiting to restart it ends now
		return c, nil
	}
	sig := unix.SIGTERM
	if img, err := s.Resolve(c.ImageID); err == nil && img.Config.Config.StopSignal != "" {
		if n, ok := signalByName(img.Config.Config.StopSignal); ok {
			sig = n
		}
	}
	if timeout > 0 {
		if err := signalPayload(s, c, st, sig); err != nil && !errors.Is(err, ErrNotRunning) {
			return c, err
		}
	}
	if timeout <= 0 || !waitExit(st, timeout) {
		signalInit(st, unix.SIGKILL)
		waitExit(st, 0)
	}
	waitRecorded(s, c)
	return c, nil
}

// waitRecorded waits for the recorder to finish: the exit recorded, the
// log complete, the lock released, so that what the caller does next (read
// the code, start it again) sees the container truly stopped.
func waitRecorded(s *image.Store, c *Container) {
	deadline := time.Now().Add(10 * time.Second)
	for recorderAlive(s, c.ID) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill sends sig to the container's init, which forwards it to the payload.
func Kill(s *image.Store, ref string, sig unix.Signal) (*Container, error) {
	c, err := Find(s, ref)
	if err != nil {
		return nil, err
	}
	// A signal meant to end the container ends its restarts too.
	ending := sig == unix.SIGKILL || sig == unix.SIGTERM || sig == unix.SIGINT || sig == unix.SIGQUIT
	st := CurrentState(s, c.ID)
	if st.Status != Running {
		if st.Restarting && ending {
			// Between two runs: the monitor gives up its next start.
			requestStop(s, c.ID)
			waitRecorded(s, c)
			return c, nil
		}
		return c, fmt.Errorf("%w: %s", ErrNotRunning, c.Name)
	}
	if ending {
		requestStop(s, c.ID)
	}
	// SIGKILL and SIGSTOP cannot be forwarded by the init: they hit it,
	// and with it the whole container.
	return c, signalPayload(s, c, st, sig)
}

// Wait blocks until the container exits and returns its exit code.
func Wait(s *image.Store, ref string) (int, error) {
	c, err := Find(s, ref)
	if err != nil {
		return 0, err
	}
	for {
		st := CurrentState(s, c.ID)
		switch st.Status {
		case Exited:
			return st.ExitCode, nil
		case Running:
			waitExit(st, 0)
			waitRecorded(s, c)
		default:
			// Removed (a --rm one that ended, an rm): its state reads as
			// created from then on. A detached --rm one left its code.
			if removed(s, c.ID) {
				if code, ok := removedExit(s, c.ID); ok {
					return code, nil
				}
				return 0, fmt.Errorf("%w: %q was removed before its exit status could be read", ErrNotFound, ref)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// Remove deletes a stopped container: its writable layer and records, never
// a volume's host directory (binds live outside the container's directory).
func Remove(s *image.Store, c *Container) error { return remove(s, c, true) }

// remove removes c's directories; leftCgroup looks for a cgroup its
// recorder did not live to remove.
func remove(s *image.Store, c *Container, leftCgroup bool) error {
	if c.Config.Rm {
		// As Docker's --rm: the container's anonymous volumes go with it.
		removeAnonymousVolumes(s, c)
	}
	if s.RunDir != "" {
		os.RemoveAll(liveDir(s, c))
	}
	// A cgroup its recorder did not live to remove (killed with -9).
	if leftCgroup {
		if st := readState(s, c.ID); st.Cgroup != "" {
			cg := cgroups.Open(st.Cgroup)
			cg.Kill()
			cg.Remove()
		}
	}
	dir := Dir(s, c.ID)
	// Out of containers/ first, in one rename: a half-removed container is
	// never listed.
	trash := filepath.Join(s.Root, "tmp", image.TrashContainerPrefix+c.ID)
	if err := os.Rename(dir, trash); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("removing container %s: %w", c.Name, err)
	}
	return runtime.RemoveAll(s.Mapping, s.RunDir, trash)
}

// RemoveRef removes the container ref names; force stops it first, and
// volumes removes its anonymous volumes too (named ones never).
func RemoveRef(s *image.Store, ref string, force, volumes bool) (*Container, error) {
	c, err := Find(s, ref)
	if err != nil {
		return nil, err
	}
	st := CurrentState(s, c.ID)
	if st.Status == Running || st.Restarting {
		if !force {
			return c, fmt.Errorf("%w: %s: stop it first (sandbox stop %s) or use rm -f", ErrRunning, c.Name, c.Name)
		}
		requestStop(s, c.ID)
		signalInit(st, unix.SIGKILL)
		waitExit(st, 0)
	}
	// Wait for whoever ran it to let go, then nobody can start it meanwhile.
	lock, err := lockContainerTimeout(s, c, 10*time.Second, nil)
	if errors.Is(err, os.ErrNotExist) && removed(s, c.ID) {
		return c, nil // removed meanwhile: by its --rm, another rm, a prune
	}
	if err != nil {
		return c, err
	}
	defer lock.Close()
	s.SweepTemp()
	if volumes {
		if err := removeAnonymousVolumes(s, c); err != nil {
			return c, err
		}
	}
	return c, Remove(s, c)
}

// lockContainerTimeout takes c's lock, trying again for up to d while
// someone holds it, unless running (when set) says the holder is the
// container's living run: ErrRunning then, at once.
func lockContainerTimeout(s *image.Store, c *Container, d time.Duration, running func() bool) (*os.File, error) {
	deadline := time.Now().Add(d)
	for {
		lock, err := lockContainer(s, c, false)
		if err == nil || !errors.Is(err, ErrRunning) || time.Now().After(deadline) || running != nil && running() {
			return lock, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// removed says whether container id's directory is gone: its --rm, an
// rm or a prune took it out (its state then reads as created).
func removed(s *image.Store, id string) bool {
	_, err := os.Stat(Dir(s, id))
	return errors.Is(err, os.ErrNotExist)
}

// Prune removes every container that is not running.
func Prune(s *image.Store) ([]*Container, error) {
	s.SweepTemp()
	all, err := List(s)
	if err != nil {
		return nil, err
	}
	var removed []*Container
	var errs []error
	for _, c := range all {
		if CurrentState(s, c.ID).Status == Running {
			continue
		}
		lock, err := lockContainer(s, c, false)
		if err != nil {
			continue // started meanwhile
		}
		err = Remove(s, c)
		lock.Close()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, c)
	}
	return removed, errors.Join(errs...)
}

// Rename gives a container a new unique name.
func Rename(s *image.Store, ref, name string) error {
	if err := checkKey("name", name); err != nil {
		return err
	}
	unlock, err := s.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	c, err := Find(s, ref)
	if err != nil {
		return err
	}
	taken, err := names(s)
	if err != nil {
		return err
	}
	if id := taken[name]; id != "" && id != c.ID[:12] {
		return fmt.Errorf("%w: %q is used by container %s", ErrNameInUse, name, id)
	}
	// The record first: the entry's proof names the record it was made
	// from, so the old entry is distrusted from then on, whatever kills
	// this rename, and the next pass reads the record.
	c.Name = name
	if err := image.WriteFileAtomic(recordPath(s, c.ID), recordJSON(c), 0o600); err != nil {
		return err
	}
	dropNameEntries(s, c.ID)
	addNameEntry(s, c.ID, name, c.Config.Rm)
	return nil
}

// ExecSocket is where a running container's init takes exec requests.
func ExecSocket(s *image.Store, ref string) (string, error) {
	c, err := Find(s, ref)
	if err != nil {
		return "", err
	}
	if CurrentState(s, c.ID).Status != Running {
		return "", fmt.Errorf("%w: %s", ErrNotRunning, c.Name)
	}
	if err := c.noExec(); err != nil {
		return "", err
	}
	return execSocket(liveDir(s, c)), nil
}

// servesExec says whether a run of the container takes exec requests:
// every run but a throwaway one in the foreground without a terminal
// (run --rm, shell with piped input), whose start is the one kept short:
// no socket, and no Go init either when it starts raw. Docker and Podman
// exec into those too. One with a terminal (shell, run --rm -it) serves
// exec, as a second terminal's `exec` into a `shell` expects: it has the
// Go init anyway, and a person's pace.
func (c *Config) servesExec() bool { return !c.Rm || c.Detach || c.TTY }

// noExec is the error for an exec into a running container that takes
// none, saying how to run one that does.
func (c *Container) noExec() error {
	if c.Config.servesExec() {
		return nil
	}
	return fmt.Errorf("%w: %s is a throwaway run without a terminal (run --rm in the foreground), which serves no exec; run it with -t, detached (run -d --rm) or without --rm to exec into it", ErrNoExec, c.Name)
}

// Exec runs a process in a running container.
func Exec(s *image.Store, ref string, req runtime.ExecRequest, stdio IO) (int, error) {
	c, err := Find(s, ref)
	if err != nil {
		return 0, err
	}
	if c.Config.PodInfra {
		return 0, fmt.Errorf("%s is the infra of pod %s: it runs nothing to exec into (exec into one of the pod's containers: sandbox ps --filter pod=%s)", c.Name, c.Config.Pod, c.Config.Pod)
	}
	if CurrentState(s, c.ID).Status != Running {
		return 0, fmt.Errorf("%w: %s (start it with `sandbox start %s`)", ErrNotRunning, c.Name, c.Name)
	}
	if err := c.noExec(); err != nil {
		return 0, err
	}
	dir, err := runDir(s, c)
	if err != nil {
		return 0, err
	}
	runtime.Trace("exec: container found")
	return runtime.Exec(execSocket(dir), req, stdio.Stdin, stdio.Stdout, stdio.Stderr)
}

// signalByName parses "SIGTERM", "TERM" or "15".
func signalByName(name string) (unix.Signal, bool) {
	if n, err := fmt.Sscanf(name, "%d", new(int)); err == nil && n == 1 {
		var v int
		fmt.Sscanf(name, "%d", &v)
		return unix.Signal(v), v > 0 && v < 65
	}
	if len(name) < 3 || name[:3] != "SIG" {
		name = "SIG" + name
	}
	s := unix.SignalNum(name)
	return s, s != 0
}

// ParseSignal is signalByName for the CLI, with a sentence when it fails.
func ParseSignal(name string) (unix.Signal, error) {
	if s, ok := signalByName(name); ok {
		return s, nil
	}
	return 0, fmt.Errorf("unknown signal %q (like SIGTERM, TERM or 15)", name)
}

// SameLaunch reports whether c was made from cfg (the same settings and
// the image cfg names now), and whether it runs: `up` leaves such a
// container alone.
func SameLaunch(s *image.Store, c *Container, cfg Config) (same, running bool) {
	st := CurrentState(s, c.ID)
	running = st.Status == Running || st.Restarting
	img, err := s.Resolve(cfg.Image)
	if err != nil || img.ID != c.ImageID {
		return false, running
	}
	a, errA := json.Marshal(c.Config)
	b, errB := json.Marshal(cfg)
	return errA == nil && errB == nil && bytes.Equal(a, b), running
}
