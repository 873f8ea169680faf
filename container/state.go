package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/cgroups"
	"github.com/sandbox-dev/sandbox/codec"
	"github.com/sandbox-dev/sandbox/container/containertypes"
	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/runtime"
)

// Statuses of a container (package containertypes).
const (
	Created = containertypes.Created
	Running = containertypes.Running
	Exited  = containertypes.Exited
)

// State is state.json (package containertypes).
type State = containertypes.State

func statePath(s *image.Store, id string) string { return filepath.Join(Dir(s, id), "state.json") }

// readState reads state.json; a container that has none was just created.
func readState(s *image.Store, id string) State {
	b, err := os.ReadFile(statePath(s, id))
	if err != nil {
		return State{Status: Created}
	}
	var st State
	if codec.Unmarshal(b, (*stateDoc)(&st)) != nil {
		return State{Status: Created}
	}
	return st
}

func writeState(s *image.Store, id string, st State) error {
	b, err := codec.Indented(stateDoc(st))
	if err != nil {
		return err
	}
	// Renamed into place, not synced: state is rebuilt from the processes
	// when it is stale, and a power cut ends the container anyway.
	return image.WriteFileNoSync(statePath(s, id), b, 0o600)
}

// CurrentState is the container's state as it truly is: a recorded
// "running" whose init is gone reads as exited. When its recorder still
// lives, the exit is being recorded: it waits for that, briefly. When the
// recorder is gone too (killed, a reboot), the init was killed with it:
// exited, 137.
func CurrentState(s *image.Store, id string) State {
	st := readState(s, id)
	if st.Restarting && !recorderAlive(s, id) {
		st.Restarting = false // its monitor was killed while it waited
	}
	// Settled: what the state says is so (an end recorded, or an init
	// that lives: this run's, or a new run's that a start wrote).
	settled := func(st State) bool { return st.Status != Running || alive(st.Pid, st.PidStart) }
	if settled(st) {
		return st
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		// Whoever holds the lock (the recorder, a start, another command
		// completing this end) is about to write the state: wait for it.
		for recorderAlive(s, id) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			if st = readState(s, id); settled(st) {
				return st
			}
		}
		if st = readState(s, id); settled(st) {
			return st
		}
		end, err := completeResident(s, id)
		if err == nil {
			return end
		}
		if !errors.Is(err, ErrRunning) || time.Now().After(deadline) {
			break
		}
	}
	if st = readState(s, id); settled(st) {
		return st
	}
	st.Status, st.ExitCode, st.Killed, st.Pid = Exited, 137, true, 0
	if st.FinishedAt.IsZero() {
		st.FinishedAt = time.Now().UTC()
	}
	return st
}

// recorderAlive reports whether some process holds the container's lock:
// the CLI or monitor that runs it.
func recorderAlive(s *image.Store, id string) bool {
	f, err := os.Open(filepath.Join(Dir(s, id), "lock"))
	if err != nil {
		return false
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return true
	}
	unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false
}

func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	got, _, err := runtime.ProcessStart(pid)
	return err == nil && got == start
}

// signalPayload sends sig to c's payload: through its init's exec
// socket where it has one and sig is one the init forwards, else to the
// init, which forwards it. A signal sent to the init itself is lost when
// it comes as the init executes its Go stage again (docs/handshake.md,
// "The idle stage"); a request on the socket waits until the init takes
// it.
func signalPayload(s *image.Store, c *Container, st State, sig unix.Signal) error {
	if sig != unix.SIGKILL && runtime.Forwarded(sig) && c.Config.servesExec() && st.Pid > 0 {
		// Asked, the init sends it on (or will, once it takes the
		// request): sent again here it would reach the payload twice.
		if asked, _ := runtime.SignalPayload(execSocket(liveDir(s, c)), st.Pid, sig, time.Second); asked {
			return nil
		}
	}
	return signalInit(st, sig)
}

// signalInit sends sig to the container's init, if it is still the process
// that was recorded (a pidfd pins it against pid reuse between the check
// and the signal).
func signalInit(st State, sig unix.Signal) error {
	if st.Pid <= 0 {
		return ErrNotRunning
	}
	fd, err := unix.PidfdOpen(st.Pid, 0)
	if err != nil {
		return ErrNotRunning
	}
	defer unix.Close(fd)
	if !alive(st.Pid, st.PidStart) {
		return ErrNotRunning
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return fmt.Errorf("signalling the container's init: %w", err)
	}
	return nil
}

// waitExit waits until the recorded init is gone, up to timeout (0: for
// ever); it reports whether it is gone.
func waitExit(st State, timeout time.Duration) bool {
	fd, err := unix.PidfdOpen(st.Pid, 0)
	if err != nil || !alive(st.Pid, st.PidStart) {
		if err == nil {
			unix.Close(fd)
		}
		return true
	}
	defer unix.Close(fd)
	ms := -1
	if timeout > 0 {
		ms = int(timeout / time.Millisecond)
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, ms)
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0
	}
}

// ErrNotRunning is returned when signalling a container that is not running.
var ErrNotRunning = containertypes.ErrNotRunning

// ErrNoExec: the container runs, but takes no exec (Config.servesExec).
var ErrNoExec = errors.New("container takes no exec")

// completeResident records the end a resident init wrote
// (runtime.ExitRecord) once it is gone: the state says exited with its
// status, an OOM kill is read from the cgroup (said in the log, as the
// monitor says it), which is then removed, and so is the directory of the
// exec socket. Any command that looks at the container may be the one to
// do it, under the container's lock: so no start (which empties the
// record for its own run while it holds the lock) and no other command
// doing the same goes on meanwhile. ErrRunning: someone holds the lock.
func completeResident(s *image.Store, id string) (State, error) {
	lock, err := lockContainer(s, &Container{ID: id, Name: id[:12]}, false)
	if err != nil {
		return State{}, err
	}
	defer lock.Close()
	st := readState(s, id)
	if st.Status != Running || alive(st.Pid, st.PidStart) {
		return st, nil
	}
	if end, ok := completeLocked(s, id, st); ok {
		return end, nil
	}
	return st, errors.New("no exit record")
}

// completeLocked is completeResident's work, the lock held.
func completeLocked(s *image.Store, id string, st State) (State, bool) {
	path := filepath.Join(Dir(s, id), runtime.ExitRecordName)
	b, err := os.ReadFile(path)
	if err != nil {
		return st, false
	}
	var rec runtime.ExitRecord
	if len(b) == 0 {
		// This run's init made no record: it was killed (SIGKILL, the
		// OOM killer). It ended as a killed process does; the rest of
		// its record (the cgroup, an OOM kill) is completed all the same.
		rec = runtime.ExitRecord{ExitCode: 137, FinishedAt: time.Now().UTC()}
	} else if json.Unmarshal(b, &rec) != nil || rec.FinishedAt.Before(st.StartedAt) {
		return st, false
	}
	c, err := load(s, id)
	if err != nil {
		return st, false
	}
	oom := false
	if st.Cgroup != "" {
		cg := cgroups.Open(st.Cgroup)
		if plan, err := cgroups.Detect().MakePlan(c.Config.Resources, c.Config.Cgroups); err == nil {
			cg.Limits = plan.Resources
		}
		warn := func(string) {}
		if f, err := os.OpenFile(filepath.Join(Dir(s, id), "ctr.log"), os.O_WRONLY|os.O_APPEND, 0); err == nil {
			defer f.Close()
			lw := runtime.NewLogWriter(f)
			warn = func(msg string) { lw.Write("stderr", "sandbox: "+msg) }
		}
		oom = endCgroup(cg, rec.ExitCode, warn)
	}
	end := st
	end.Status, end.Pid, end.FinishedAt, end.Cgroup = Exited, 0, rec.FinishedAt, ""
	end.ExitCode, end.OOMKilled, end.Killed = rec.ExitCode, oom, len(b) == 0
	end.NetHelper, end.NetHelperPid, end.Networks = "", 0, nil
	if err := writeState(s, id, end); err != nil {
		return st, false
	}
	os.Remove(path)
	if s.RunDir != "" {
		os.RemoveAll(liveDir(s, c))
	}
	return end, true
}

// A removed container's exit code, for whoever waited on it (the API's
// wait with condition=removed, a `sandbox wait` that began before the
// removal): a small file in the runtime directory, read and removed by
// RemovedExit; ones nobody read go after an hour.
func exitsDir(s *image.Store) string { return filepath.Join(s.RunDir, "exits") }

func keepRemovedExit(s *image.Store, c *Container, code int, withLog bool) {
	if s.RunDir == "" {
		return
	}
	dir := exitsDir(s)
	if os.MkdirAll(dir, 0o700) != nil {
		return
	}
	if old, err := os.ReadDir(dir); err == nil {
		for _, e := range old {
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	// Its log too, where asked (KeepExit): whoever attached may not have
	// opened it before the container was gone.
	if withLog {
		if b, err := os.ReadFile(filepath.Join(Dir(s, c.ID), "ctr.log")); err == nil {
			image.WriteFileNoSync(filepath.Join(dir, c.ID+".log"), b, 0o600)
		}
	}
	image.WriteFileNoSync(filepath.Join(dir, c.ID), []byte(strconv.Itoa(code)), 0o600)
}

// RemovedExit is the exit code a removed container left (a detached
// --rm one), which it takes: the API's waiter is its one reader.
func RemovedExit(s *image.Store, id string) (int, bool) {
	code, ok := removedExit(s, id)
	if ok {
		os.Remove(filepath.Join(exitsDir(s), id))
	}
	return code, ok
}

// removedExit is RemovedExit's code, left in place.
func removedExit(s *image.Store, id string) (int, bool) {
	if s.RunDir == "" {
		return 0, false
	}
	b, err := os.ReadFile(filepath.Join(exitsDir(s), id))
	if err != nil {
		return 0, false
	}
	code, err := strconv.Atoi(string(b))
	return code, err == nil
}
