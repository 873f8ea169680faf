package runtime

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Health checks (--health-cmd, the image's HEALTHCHECK): a test command run
// in the container through its exec socket, every interval, by a small
// process of its own (the init program's "health" stage, sandbox-health in
// ps) that lives as long as the container's init, or on demand by
// `sandbox healthcheck run`. Both record the result the same way
// (RecordHealth) in the container's health.json, which ps and inspect read.

// HealthName is the file the results go to, in the container's directory.
const HealthName = "health.json"

// Health statuses, in Docker's words.
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// HealthCheck is how a container's health is tested.
type HealthCheck struct {
	// Test is the command, run as exec runs one (a shell form is
	// ["/bin/sh", "-c", CMD]).
	Test        []string      `json:"test"`
	Interval    time.Duration `json:"interval"`
	Timeout     time.Duration `json:"timeout"`
	StartPeriod time.Duration `json:"start_period,omitempty"`
	Retries     int           `json:"retries"`
}

// Health is health.json: the status, the failures in a row, the last
// results.
type Health struct {
	Status        string      `json:"Status"`
	FailingStreak int         `json:"FailingStreak"`
	Log           []HealthLog `json:"Log"`
}

// HealthLog is one test's result.
type HealthLog struct {
	Start    time.Time `json:"Start"`
	End      time.Time `json:"End"`
	ExitCode int       `json:"ExitCode"`
	Output   string    `json:"Output"`
}

// ReadHealth reads dir's health.json; nil if none.
func ReadHealth(dir string) *Health {
	b, err := os.ReadFile(filepath.Join(dir, HealthName))
	if err != nil {
		return nil
	}
	var h Health
	if json.Unmarshal(b, &h) != nil {
		return nil
	}
	return &h
}

// RunHealthCheck runs hc's test once through the exec socket and records
// the result in dir; inStart says the container is still in its start
// period, when failures do not count. It returns the result.
func RunHealthCheck(socket, dir string, hc HealthCheck, inStart bool) HealthLog {
	res := HealthLog{Start: time.Now().UTC(), ExitCode: -1}
	out, err := runCapturing(socket, hc)
	res.End = time.Now().UTC()
	switch {
	case err == errHealthTimeout:
		res.Output = fmt.Sprintf("timed out after %s", hc.Timeout)
	case err != nil:
		res.Output = err.Error()
	default:
		res.ExitCode, res.Output = out.code, out.output
	}
	recordHealth(dir, res, hc.Retries, inStart)
	return res
}

var errHealthTimeout = fmt.Errorf("health check timed out")

type capture struct {
	code   int
	output string
}

func runCapturing(socket string, hc HealthCheck) (capture, error) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		return capture{}, err
	}
	defer null.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return capture{}, err
	}
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(r, 4096))
		io.Copy(io.Discard, r)
		r.Close()
		got <- string(b)
	}()
	done := make(chan capture, 1)
	errc := make(chan error, 1)
	go func() {
		code, err := Exec(socket, ExecRequest{Args: hc.Test}, null, w, w)
		w.Close()
		if err != nil {
			errc <- err
			return
		}
		done <- capture{code: code, output: <-got}
	}()
	timeout := hc.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	select {
	case c := <-done:
		return c, nil
	case err := <-errc:
		return capture{}, err
	case <-time.After(timeout):
		return capture{}, errHealthTimeout
	}
}

// recordHealth adds res to dir's health.json: healthy on a success,
// unhealthy after retries failures in a row (none counted in the start
// period), starting before either. The last five results are kept.
func recordHealth(dir string, res HealthLog, retries int, inStart bool) {
	// The checker and `healthcheck run` may both record at once: one at a
	// time, or one's result is lost.
	if lock, err := os.OpenFile(filepath.Join(dir, HealthName+".lock"), os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		defer lock.Close()
		unix.Flock(int(lock.Fd()), unix.LOCK_EX)
	}
	h := ReadHealth(dir)
	if h == nil {
		h = &Health{Status: HealthStarting}
	}
	if res.ExitCode == 0 {
		h.Status, h.FailingStreak = HealthHealthy, 0
	} else if !inStart {
		h.FailingStreak++
		if retries <= 0 {
			retries = 3
		}
		if h.FailingStreak >= retries {
			h.Status = HealthUnhealthy
		}
	}
	h.Log = append(h.Log, res)
	if len(h.Log) > 5 {
		h.Log = h.Log[len(h.Log)-5:]
	}
	b, _ := json.Marshal(h)
	writeHealth(dir, b)
}

// writeHealth replaces dir's health.json whole: a reader never sees it
// half written.
func writeHealth(dir string, b []byte) {
	tmp := filepath.Join(dir, HealthName+".tmp"+strconv.Itoa(os.Getpid()))
	if os.WriteFile(tmp, b, 0o600) == nil {
		os.Rename(tmp, filepath.Join(dir, HealthName))
	}
}

// healthName is how the checker shows in ps.
const healthName = "sandbox-health"

// StartHealthChecker starts the checker of a container whose init is
// initPid: detached, in its own session, ending with the init.
func StartHealthChecker(runDir, socket, dir string, initPid int, hc HealthCheck) error {
	exe := openInit(runDir)
	if exe == nil {
		self, err := os.Open("/proc/self/exe")
		if err != nil {
			return err
		}
		exe = self
	}
	defer exe.Close()
	spec, _ := json.Marshal(hc)
	writeHealth(dir, []byte(`{"Status":"starting","FailingStreak":0,"Log":[]}`))
	cmd := &exec.Cmd{
		Path:        fmt.Sprintf("/proc/self/fd/%d", exe.Fd()),
		Args:        []string{healthName, "health", socket, dir, strconv.Itoa(initPid), string(spec)},
		Env:         append([]string{initEnv + "=1"}, initRuntimeEnv...),
		Dir:         "/",
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the health checker: %w", err)
	}
	// Reaped in the poller: a process that stays (the API service) would
	// hold a thread waiting for each checker otherwise.
	go Reap(cmd.Process.Pid)
	cmd.Process.Release()
	return nil
}

// healthMain is the "health" stage: SOCKET DIR INITPID CHECK-JSON, and
// after its first check also PIDFD STARTED. It tests every interval until
// the init exits. It never returns.
//
// After each check the checker executes itself again, with the same pid
// and the init's pidfd (no pid to reuse) and its own start (CLOCK_BOOTTIME,
// which no clock change moves, for the start period) carried in its
// arguments; all its other state is in health.json. A check allocates (the
// exec client, its pipes and goroutines), and a Go process keeps what it
// allocated, or after a collection the collector's own bookkeeping: a
// checker that stayed the same process held 1.2 MiB of anonymous memory
// once it had checked, against 0.6 MiB for a fresh one. The price is a
// start of the init program per check: measured here (where page faults
// are dear) 15 ms of CPU per check against 7 ms, 0.05 % of a CPU at the
// default interval of 30 s. (Podman runs a whole `podman healthcheck
// run` per check.) An execve that fails before it replaces the
// process returns, and the checker goes on as the same process; one that
// fails after (out of memory) ends it, and health.json keeps its last
// status.
func healthMain(args []string) {
	setName(healthName)
	unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	var hc HealthCheck
	if len(args) != 4 && len(args) != 6 {
		args = []string{"", "", "", ""}
	}
	pid, err := strconv.Atoi(args[2])
	if err != nil || json.Unmarshal([]byte(args[3]), &hc) != nil {
		fmt.Fprintln(os.Stderr, "sandbox-health: bad arguments")
		os.Exit(125)
	}
	pidfd, started := -1, bootTime()
	if len(args) == 6 {
		fd, err1 := strconv.Atoi(args[4])
		ns, err2 := strconv.ParseInt(args[5], 10, 64)
		if err1 != nil || err2 != nil || !isPidfdOf(fd, pid) {
			fmt.Fprintln(os.Stderr, "sandbox-health: bad arguments")
			os.Exit(125)
		}
		pidfd, started = fd, time.Duration(ns)
	} else if pidfd, err = unix.PidfdOpen(pid, 0); err != nil {
		os.Exit(0) // the container has ended already
	}
	// What the start touched of the program stays in the page cache,
	// shared; waiting touches little of it.
	DropProgramPages()
	interval := hc.Interval
	if interval <= 0 {
		interval = 30 * time.Second
	}
	for {
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(interval/time.Millisecond))
		if err == unix.EINTR {
			continue
		}
		if err != nil || n > 0 {
			os.Exit(0) // the init exited: so does its checker
		}
		RunHealthCheck(args[0], args[1], hc, bootTime()-started < hc.StartPeriod)
		if _, err := unix.FcntlInt(uintptr(pidfd), unix.F_SETFD, 0); err == nil {
			next := []string{healthName, "health", args[0], args[1], args[2], args[3], strconv.Itoa(pidfd), strconv.FormatInt(int64(started), 10)}
			unix.Exec("/proc/self/exe", next, os.Environ())
			unix.CloseOnExec(pidfd)
		}
		// Could not start afresh: go on in this process.
		trimMemory()
	}
}

// bootTime is CLOCK_BOOTTIME: it counts from the machine's boot, the same
// in every process, and no change of the wall clock moves it.
func bootTime() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return time.Duration(ts.Nano())
}

// isPidfdOf says whether fd is a pidfd of pid (its fdinfo names it).
func isPidfdOf(fd, pid int) bool {
	got, ok := pidfdPid(fd)
	return ok && got == pid
}

// pidfdPid is the process descriptor fd names, when fd is a pidfd
// (its fdinfo has a Pid line); a pid of 0 or -1 is one gone.
func pidfdPid(fd int) (int, bool) {
	if fd < 0 {
		return 0, false
	}
	b, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Pid:"); ok {
			pid, err := strconv.Atoi(strings.TrimSpace(v))
			return pid, err == nil
		}
	}
	return 0, false
}
