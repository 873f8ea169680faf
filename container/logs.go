package container

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sandbox-dev/sandbox/container/containertypes"
	"github.com/sandbox-dev/sandbox/image"
)

// LogOptions are `logs`' choices (package containertypes).
type LogOptions = containertypes.LogOptions

// Logs writes what a detached container printed: its stdout lines to
// stdout, its stderr lines to stderr. With Follow it keeps going until the
// container has exited and everything it wrote is out.
func Logs(s *image.Store, ref string, o LogOptions, stdout, stderr io.Writer) error {
	c, err := Find(s, ref)
	if err != nil {
		return err
	}
	f, err := os.Open(filepath.Join(Dir(s, c.ID), "ctr.log"))
	if errors.Is(err, os.ErrNotExist) {
		if removed(s, c.ID) {
			// Removed since we found it (a --rm container that ended):
			// its log may have been kept (RemovedLogs), which a caller
			// that attached before the start wants. Nothing logged is
			// another answer.
			return fmt.Errorf("%w: %q (removed)", ErrNotFound, ref)
		}
		if !o.Follow || CurrentState(s, c.ID).Status != Running {
			return nil // never ran detached: nothing logged
		}
		for errors.Is(err, os.ErrNotExist) {
			time.Sleep(50 * time.Millisecond)
			f, err = os.Open(filepath.Join(Dir(s, c.ID), "ctr.log"))
		}
	}
	if err != nil {
		return fmt.Errorf("reading the log of container %s: %w", c.Name, err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	// A reader that went away (a client that hung up) ends a follow:
	// the first write that fails is the answer.
	var werr error
	print := func(line string) {
		if werr == nil {
			werr = printLogLine(line, o.Timestamps, stdout, stderr)
		}
	}
	// What is there now, the last Tail lines of it.
	var lines []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			// A partial last line waits for its end (following) or goes.
			if line != "" {
				if _, serr := f.Seek(-int64(len(line)), io.SeekCurrent); serr == nil {
					br.Reset(f)
				}
			}
			break
		}
		lines = append(lines, strings.TrimSuffix(line, "\n"))
		if o.Tail >= 0 && len(lines) > o.Tail {
			lines = lines[1:]
		}
	}
	for _, l := range lines {
		print(l)
	}
	if !o.Follow || werr != nil {
		return werr
	}
	for werr == nil {
		line, err := br.ReadString('\n')
		if err == nil {
			print(strings.TrimSuffix(line, "\n"))
			continue
		}
		if line != "" {
			f.Seek(-int64(len(line)), io.SeekCurrent)
			br.Reset(f)
		}
		if CurrentState(s, c.ID).Status != Running {
			// One more pass: lines written just before the exit.
			if rest, _ := io.ReadAll(br); len(rest) > 0 {
				for _, l := range strings.Split(strings.TrimSuffix(string(rest), "\n"), "\n") {
					print(l)
				}
			}
			return werr
		}
		time.Sleep(100 * time.Millisecond)
	}
	return werr
}

// printLogLine writes one line of a CRI log (TIME STREAM TAG MESSAGE) to
// the stream it came from.
func printLogLine(line string, timestamps bool, stdout, stderr io.Writer) error {
	ts, rest, _ := strings.Cut(line, " ")
	stream, rest, _ := strings.Cut(rest, " ")
	tag, msg, _ := strings.Cut(rest, " ")
	w := stdout
	if stream == "stderr" {
		w = stderr
	}
	if timestamps {
		msg = ts + " " + msg
	}
	if tag != "P" {
		msg += "\n"
	}
	_, err := io.WriteString(w, msg)
	return err
}

// RemovedLogs writes the log a removed container with KeepExit left (its
// monitor keeps it with its exit code) and forgets it; false when there
// is none.
func RemovedLogs(s *image.Store, id string, stdout, stderr io.Writer) bool {
	if s.RunDir == "" {
		return false
	}
	p := filepath.Join(exitsDir(s), id+".log")
	b, err := os.ReadFile(p)
	if err != nil {
		return false
	}
	os.Remove(p)
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line != "" {
			printLogLine(line, false, stdout, stderr)
		}
	}
	return true
}
