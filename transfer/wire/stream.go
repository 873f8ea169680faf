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
func (p *Peer) Stream(m *Msg) (*Stream, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("making a pipe for %s: %w", m.Op, err)
	}
	// Best effort, as the layer pipes of package image: a smaller pipe
	// only costs more switches between the two processes.
	unix.FcntlInt(pw.Fd(), unix.F_SETPIPE_SZ, pipeSize)
	s := &Stream{f: pr, ready: make(chan struct{})}
	go func() {
		s.ans.m, s.ans.err = p.Call(m, pw)
		close(s.ready)
	}()
	return s, nil
}

type answer struct {
	m   *Msg
	err error
}

// Stream is the read end of a stream and, once it has ended, the answer.
// Reads from several goroutines each see the same answer at the end.
type Stream struct {
	f     *os.File
	ready chan struct{} // closed once ans is set
	ans   answer
}

func (s *Stream) Read(b []byte) (int, error) {
	n, err := s.f.Read(b)
	if errors.Is(err, io.EOF) {
		<-s.ready
		if s.ans.err != nil {
			return n, s.ans.err
		}
	}
	return n, err
}

// Answer is the answer's fields, once Read has returned io.EOF; nil
// before, or for a failed request.
func (s *Stream) Answer() *Msg {
	select {
	case <-s.ready:
	default:
		return nil
	}
	if s.ans.err != nil {
		return nil
	}
	return s.ans.m
}

// Close drops the stream: a writer still writing gets EPIPE.
func (s *Stream) Close() error { return s.f.Close() }
