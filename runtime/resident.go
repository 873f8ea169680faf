package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A detached container with no restart policy, no terminal and no private
// network needs nothing outside it while it runs: its init copies the
// payload's output to the log, holds the container's lock, and as it ends
// writes an exit record in the container's directory, which the next
// command that looks at the container reads (docs/handshake.md, "The
// resident init"). The monitor that started it exits: one process per
// container stays, not two.

// Resident gives the init what it needs to go on alone (Options.Resident).
// Run closes Options.Stdout and Options.Stderr, the caller's write ends of
// the output pipes, once the init has its own.
type Resident struct {
	// Log is the CRI log (LogWriter's format), opened for appending.
	Log *os.File
	// Stdout and Stderr are the read ends of the payload's output pipes.
	Stdout, Stderr *os.File
	// Record is the file (ExitRecordName, empty) the init writes its
	// ExitRecord into. A file, not the container's directory: a
	// descriptor of a directory would lead a payload that reached it
	// (through /proc/1/fd, given CAP_SYS_PTRACE) anywhere above it.
	Record *os.File
	// Keep are held by the init until it exits (the container's lock).
	Keep []*os.File
}

// ErrResident is Run's answer once a resident init has taken over: the
// container runs, and nobody here waits for it.
var ErrResident = errors.New("the container's init runs on its own")

// ExitRecordName is the file a resident init writes as it ends.
const ExitRecordName = "exit.json"

// ExitRecord is how a resident container ended.
type ExitRecord struct {
	ExitCode   int       `json:"exit_code"`
	FinishedAt time.Time `json:"finished_at"`
}

// detach waits for the payload to start, then lets the init go on alone:
// a byte on the sync pipe makes it clear its parent-death signal, and it
// answers "detached". An init that dies before it answers (a SIGKILL as
// the container started) never went on alone: its end is this run's end,
// with the status it died of, for the caller to record.
func (c *child) detach(opts Options) (int, error) {
	// The init and the payload have their own ends of the output pipes:
	// ours would keep the pipes open, and the init's copying, after the
	// payload has exited.
	opts.Stdout.Close()
	opts.Stderr.Close()
	if err := c.readStatusUntil(opts, "started"); err != nil {
		c.wait()
		return 0, err
	}
	if c.seen != "started" {
		code := c.wait()
		return 0, &Error{Code: 125, Msg: fmt.Sprintf("the sandbox init ended (status %d) before its payload started", code)}
	}
	// The init waits for this byte before anything else, even a payload
	// that has already exited. Writing to an init already gone fails.
	if _, err := c.sync.Write([]byte{'D'}); err != nil {
		return c.wait(), nil
	}
	if err := c.readStatusUntil(opts, "detached"); err != nil {
		return 0, err
	}
	if c.seen != "detached" {
		return c.wait(), nil
	}
	Trace("init detached")
	return 0, ErrResident
}

// residentInit is the rest of a resident init's life, from the payload's
// start: it copies the output to the log, detaches from its parent when
// told, and when the payload exits ends the container, writes the record
// and exits with the payload's status.
func residentInit(fds *ResidentFDs, exit chan unix.WaitStatus) {
	lw := NewLogWriter(os.NewFile(uintptr(fds.Log), "log"))
	var wg sync.WaitGroup
	for _, p := range []struct {
		fd     int
		stream string
	}{{fds.Out, "stdout"}, {fds.Err, "stderr"}} {
		unix.SetNonblock(p.fd, true)
		f := os.NewFile(uintptr(p.fd), p.stream)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer f.Close()
			lw.Copy(f, p.stream)
		}()
	}
	// First the parent lets go (one byte on the sync pipe), then the
	// payload's end: in that order always, so the parent never has to
	// tell a detached init from one that ended first. A payload's status
	// waits in its channel meanwhile.
	// Read through the poller: a blocking read would take a thread of
	// its own, kept idle for the rest of the init's life.
	d := make([]byte, 1)
	unix.SetNonblock(fdSync, true)
	if n, _ := os.NewFile(fdSync, "sync").Read(d); n != 1 || d[0] != 'D' {
		// The parent died before it let go: the container goes with it,
		// as a foreground one does.
		os.Exit(125)
	}
	// On the main thread, where the signal was set.
	unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0)
	report(status{Type: "detached"})
	unix.Close(fdStatus)
	dropProgramPages()
	ws := <-exit
	code := exitCode(ws)
	// Whatever else runs in the container ends with it now, and the pipes
	// reach their end once their last writer is gone (ours included).
	unix.Kill(-1, unix.SIGKILL)
	unix.Close(1)
	unix.Close(2)
	copied := make(chan struct{})
	go func() { wg.Wait(); close(copied) }()
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
	}
	// One small write, before the init is gone: whoever finds it gone
	// finds the record whole.
	b, _ := json.Marshal(ExitRecord{ExitCode: code, FinishedAt: time.Now().UTC()})
	unix.Pwrite(fds.Record, append(b, '\n'), 0)
	os.Exit(code)
}
