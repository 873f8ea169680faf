package container

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

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
// the payload runs, or with the monitor's error.
func startDetached(s *image.Store, c *Container, lock *os.File) error {
	defer lock.Close()
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

// MonitorMain is the monitor process. It never returns.
func MonitorMain() {
	report := os.NewFile(4, "report")
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
	var a monitorArgs
	if err := json.NewDecoder(os.NewFile(3, "args")).Decode(&a); err != nil {
		fail(fmt.Errorf("reading the monitor's arguments: %w", err))
	}
	lock := os.NewFile(5, "lock") // inherited, already locked: ours now
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
	img, err := s.Resolve(c.ImageID)
	if err != nil {
		fail(fmt.Errorf("the image of container %s: %w", c.Name, err))
	}
	logf, err := os.OpenFile(filepath.Join(Dir(s, c.ID), "ctr.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		fail(fmt.Errorf("opening the log of container %s: %w", c.Name, err))
	}
	defer logf.Close()
	lw := &logWriter{f: logf}
	var delay time.Duration
	for restarts := 0; ; restarts++ {
		began := time.Now()
		code, err := monitorRun(s, c, img, lw, restarts, func() { say(monitorReport{Started: true}) })
		if err != nil {
			code = runtime.ExitCode(err)
			// Before the first start the CLI hears it; later, the log does.
			if report != nil {
				say(monitorReport{Error: err.Error(), Code: code})
			} else {
				lw.write("stderr", fmt.Sprintf("sandbox: starting container %s again: %v", c.Name, err))
			}
		}
		if !shouldRestart(c.Config.Restart, code, err) || stopRequested(s, c.ID) {
			if c.Config.Rm {
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

// monitorRun runs the container once, its output going to the log.
func monitorRun(s *image.Store, c *Container, img *image.Image, lw *logWriter, restarts int, onStarted func()) (int, error) {
	spec, err := buildSpec(s, c, img, IO{})
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
	var wg sync.WaitGroup
	for _, p := range []struct {
		r      *os.File
		stream string
	}{{outR, "stdout"}, {errR, "stderr"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer p.r.Close()
			lw.copy(p.r, p.stream)
		}()
	}
	opts := runtime.Options{Mapping: s.Mapping, Stdout: outW, Stderr: errW, PayloadPipes: true}
	warn := func(msg string) { lw.write("stderr", "sandbox: "+msg) }
	return runRecorded(s, c, spec, opts, recording{warn: warn, restarts: restarts, onStarted: onStarted, beforeExit: func() {
		outW.Close()
		errW.Close()
		wg.Wait()
	}})
}

// logWriter writes container output as lines of
// "TIME STREAM F|P MESSAGE" (the CRI log format): F ends a line, P is a
// part of one longer than a read.
type logWriter struct {
	mu sync.Mutex
	f  *os.File
}

func (l *logWriter) copy(r io.Reader, stream string) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, isPrefix, err := br.ReadLine()
		if len(line) > 0 || (err == nil && !isPrefix) {
			tag := "F"
			if isPrefix {
				tag = "P"
			}
			l.writeTagged(stream, tag, string(line))
		}
		if err != nil {
			return
		}
	}
}

// write adds one whole line to the log.
func (l *logWriter) write(stream, line string) { l.writeTagged(stream, "F", line) }

func (l *logWriter) writeTagged(stream, tag, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.f, "%s %s %s %s\n", time.Now().UTC().Format(time.RFC3339Nano), stream, tag, line)
}
