package wire

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// pipeSize is a stream pipe's capacity: a megabyte lets the writer run
// ahead of a reader that unpacks in bursts.
const pipeSize = 1 << 20

// Stream asks the other side for m's bytes through a new pipe and returns
// its read end. The stream ends with the answer's error, if any, in place
// of io.EOF: a writer that failed midway (a digest mismatch found as a
// blob ends, a registry gone) is never taken for a short stream.
func (p *Peer) Stream(m *Msg) (io.ReadCloser, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("making a pipe for %s: %w", m.Op, err)
	}
	// Best effort, as the layer pipes of package image: a smaller pipe
	// only costs more switches between the two processes.
	unix.FcntlInt(pw.Fd(), unix.F_SETPIPE_SZ, pipeSize)
	s := &stream{f: pr, done: make(chan error, 1)}
	go func() {
		_, err := p.Call(m, pw)
		s.done <- err
	}()
	return s, nil
}

type stream struct {
	f    *os.File
	done chan error
	err  error
	got  bool
}

func (s *stream) Read(b []byte) (int, error) {
	n, err := s.f.Read(b)
	if errors.Is(err, io.EOF) {
		if !s.got {
			s.err, s.got = <-s.done, true
		}
		if s.err != nil {
			return n, s.err
		}
	}
	return n, err
}

// Close drops the stream: a writer still writing gets EPIPE.
func (s *stream) Close() error { return s.f.Close() }
