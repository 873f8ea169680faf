package runtime

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A payload never gets the user's own descriptors. Given the user's
// terminal, a process in the sandbox could keep it after the command
// returned, read what is typed into the user's shell next, or change its
// line discipline. So without -t the payload's stdin, stdout and stderr
// are pipes, and the process that runs the sandbox (the CLI, or the
// monitor of a detached one) copies between them and the user's files, as
// Docker's and Podman's runtimes do. With -t the payload gets a pty of the
// sandbox's own devpts instead (tty.go).
//
// The outputs are copied by goroutines that wait in Go's netpoller, not
// in a system call of their own: a goroutine blocked in poll(2) costs an
// OS thread, and making one cost a millisecond of every start here. Only
// the user's stdin (-i), which is not ours to make non-blocking, is
// waited for with poll(2) on a thread.

// relayBuf is the most one copy moves (a quarter of a relay pipe; 1 MiB
// measured no faster).
const relayBuf = 256 << 10

// Relay is the payload's standard streams as pipes, relayed by this
// process to and from the user's files.
type Relay struct {
	// child are the payload's stdin, stdout and stderr. Close them here
	// once the process that uses them started (CloseChild).
	child [3]*os.File
	// outs are our ends of the output pipes; Finish ends their copies
	// with a read deadline.
	outs []*os.File
	// stopR becomes readable when stopW is closed: the stdin copy, waiting
	// in poll(2), returns.
	stopR, stopW *os.File
	// input starts the stdin copy where NewHeldRelay left it to
	// StartInput; nil once started, or with nothing to copy.
	input  func()
	ours   []*os.File // our pipe ends, closed by Finish
	wg     sync.WaitGroup
	finish sync.Once
	mu     sync.Mutex
	err    error
}

// NewRelay makes the pipes and starts copying. stdin nil gives the payload
// /dev/null (no -i); stdout or stderr nil discards that stream.
func NewRelay(stdin, stdout, stderr *os.File) (*Relay, error) {
	r, err := NewHeldRelay(stdin, stdout, stderr)
	if err == nil {
		r.StartInput()
	}
	return r, err
}

// NewHeldRelay is NewRelay, except that nothing is read from stdin until
// StartInput: a start that may yet give way to another (a raw start's
// fallback to the Go init, which makes a relay of its own) must leave the
// user's input to whichever runs the payload. What a copy already took
// from a pipe could not be given back.
func NewHeldRelay(stdin, stdout, stderr *os.File) (*Relay, error) {
	r := &Relay{}
	fail := func(err error) (*Relay, error) {
		r.CloseChild()
		for _, f := range append(r.ours, r.stopW) {
			if f != nil {
				f.Close()
			}
		}
		return nil, err
	}
	var err error
	if stdin == nil {
		if r.child[0], err = os.Open(os.DevNull); err != nil {
			return fail(err)
		}
	} else {
		if r.stopR, r.stopW, err = os.Pipe(); err != nil {
			return fail(fmt.Errorf("creating the relay's stop pipe: %w", err))
		}
		r.ours = append(r.ours, r.stopR)
		pr, pw, err := relayPipe(false)
		if err != nil {
			return fail(fmt.Errorf("creating the stdin pipe: %w", err))
		}
		r.child[0] = pr
		r.ours = append(r.ours, pw)
		r.input = func() { r.start(func() error { return r.copyIn(pw, stdin) }) }
	}
	for i, dst := range []*os.File{stdout, stderr} {
		if dst == nil {
			if r.child[i+1], err = os.OpenFile(os.DevNull, os.O_WRONLY, 0); err != nil {
				return fail(err)
			}
			continue
		}
		pr, pw, err := relayPipe(true)
		if err != nil {
			return fail(fmt.Errorf("creating an output pipe: %w", err))
		}
		r.child[i+1] = pw
		r.ours = append(r.ours, pr)
		r.outs = append(r.outs, pr)
		r.start(func() error { return copyOut(dst, pr) })
	}
	return r, nil
}

// relayPipe is a pipe as large as an unprivileged user may make one (1 MiB
// by default): a payload that writes in small pieces runs on while the
// relay sleeps, instead of waking it every 64 KiB. Both ends are
// non-blocking and in Go's poller; ours stays so (it is never asked for
// Fd, which would make it blocking), the payload's becomes blocking when
// it is handed over.
func relayPipe(output bool) (r, w *os.File, err error) {
	if r, w, err = os.Pipe(); err != nil {
		return nil, nil, err
	}
	ours := w
	if output {
		ours = r
	}
	if rc, err := ours.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.FcntlInt(fd, unix.F_SETPIPE_SZ, relayPipeSize) })
	}
	return r, w, nil
}

// relayPipeSize is fs.pipe-max-size's default; a smaller limit just leaves
// the pipe as it was.
const relayPipeSize = 1 << 20

// StartInput starts copying the user's stdin to the payload (once; a
// no-op without -i).
func (r *Relay) StartInput() {
	if r.input != nil {
		r.input()
		r.input = nil
	}
}

// Child returns the payload's ends of the streams.
func (r *Relay) Child() [3]*os.File { return r.child }

// CloseChild closes this process's copies of the payload's ends: a reader
// of the output sees its end only once every writer is gone.
func (r *Relay) CloseChild() {
	for _, f := range r.child {
		if f != nil {
			f.Close()
		}
	}
}

// Finish is called once the payload (or the process an exec started) has
// exited: reading the user's stdin stops at once, and each output is
// relayed up to what is in its pipe now. Everything the process wrote
// before it exited is there; what something it left behind writes later
// is not waited for, so no leftover process can hold the command open.
func (r *Relay) Finish() error {
	r.finish.Do(func() {
		if r.stopW != nil {
			r.stopW.Close()
		}
		for _, f := range r.outs {
			f.SetReadDeadline(time.Now())
		}
		r.wg.Wait()
		for _, f := range r.ours {
			f.Close()
		}
		r.CloseChild()
	})
	return r.err
}

func (r *Relay) start(loop func() error) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := loop(); err != nil {
			r.mu.Lock()
			r.err = errors.Join(r.err, err)
			r.mu.Unlock()
		}
	}()
}

// copyOut copies the pipe src to the user's dst until end of file, or,
// once Finish set src's deadline, until what the pipe held then is out.
func copyOut(dst, src *os.File) error {
	err := pumpOut(int(dst.Fd()), src)
	var we writeError
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &we):
		return fmt.Errorf("relaying the payload's output: %w", err)
	case we.err == unix.EPIPE, we.err == unix.ECONNRESET:
		return nil // the user stopped reading (| head): not an error
	default:
		return fmt.Errorf("writing the payload's output: %w", we.err)
	}
}

// pumpOut copies src (our end of an output pipe, in the poller) to dfd,
// splicing while it can: between pipes that moves pages instead of
// copying them. It waits, in the poller, only when the pipe is empty.
// Once src's read deadline passed it relays what the pipe holds at that
// moment (FIONREAD) and returns, even if something goes on writing.
//
// When the user's side is gone (a closed pipe: | head; a socket's peer
// that left), it closes src, as
// a pipe the payload wrote to directly would be: the payload's next
// write fails with EPIPE (SIGPIPE unless it ignores that), so an endless
// writer ends instead of running on into /dev/null for ever. When writing
// to dfd fails otherwise, it goes on emptying src into /dev/null, so that
// the payload is not blocked on it, in the same loop: a drain that Finish
// started stays a drain, and a process left behind holding the pipe open
// cannot make it wait for an end of file. The write error is returned at
// the end.
func pumpOut(dfd int, src *os.File) error {
	rc, err := src.SyscallConn()
	if err != nil {
		return err
	}
	m := mover{dfd: dfd, splice: true, output: true}
	var failed error // the first write error, once writing goes to /dev/null
	left := -1       // once stopped: the bytes still to relay
	for left != 0 {
		size := relayBuf
		if left > 0 {
			size = min(size, left)
		}
		var n int
		var opErr error
		empty := false
		err := rc.Read(func(fd uintptr) bool {
			n, opErr = m.move(int(fd), size)
			empty = opErr == unix.EAGAIN && !readableNow(int(fd))
			return !(empty && left < 0) // false: wait until readable
		})
		if errors.Is(err, os.ErrDeadlineExceeded) {
			var cerr error
			rc.Control(func(fd uintptr) { left, cerr = unix.IoctlGetInt(int(fd), unix.TIOCINQ) }) // FIONREAD
			if cerr != nil {
				return cerr
			}
			src.SetReadDeadline(time.Time{})
			continue
		}
		var we writeError
		switch {
		case err != nil:
			return err
		case errors.As(opErr, &we) && (we.err == unix.EPIPE || we.err == unix.ECONNRESET):
			src.Close()
			return opErr
		case errors.As(opErr, &we) && failed == nil:
			null, nerr := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			if nerr != nil {
				return nerr
			}
			defer null.Close()
			failed, m = opErr, mover{dfd: int(null.Fd()), splice: true, output: true}
		case opErr == unix.EINTR:
		case opErr == unix.EAGAIN && empty:
			return failed // stopped, and someone else emptied it
		case opErr == unix.EAGAIN:
			// The pipe has data, so the destination (a pipe) is full.
			if err := waitOut(m.dfd); err != nil {
				return writeError{err}
			}
		case opErr != nil:
			return opErr
		case n == 0:
			return failed
		case left > 0:
			left -= n
		}
	}
	return failed
}

// mover moves data from a pipe to dfd: splice, or read and write where
// the destination cannot be spliced to (a terminal, a file opened to
// append).
type mover struct {
	dfd    int
	splice bool
	output bool // to the user's side: splice only a pipe's worth (spliceMin)
	buf    []byte
	// small takes the reads until one fills it: most payloads write a
	// few lines or nothing, and a relayBuf made only to read the end of
	// file cost each start 40 µs (a large allocation's fresh pages).
	small [smallRead]byte
}

// smallRead is the most a mover reads before it makes its relayBuf.
const smallRead = 4 << 10

// move moves up to size bytes from sfd; a failed write is a writeError.
func (m *mover) move(sfd, size int) (int, error) {
	if m.splice && (!m.output || worthSplicing(sfd)) {
		n, err := unix.Splice(sfd, nil, m.dfd, nil, size, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
		switch err {
		case unix.EINVAL, unix.ENOSYS:
			m.splice = false
		case unix.EPIPE:
			return 0, writeError{err}
		default:
			return int(n), err
		}
	}
	buf := m.buf
	if buf == nil {
		buf = m.small[:]
	}
	n, err := unix.Read(sfd, buf[:min(size, len(buf))])
	if err == nil && n > 0 {
		if werr := writeAll(m.dfd, buf[:n]); werr != nil {
			return 0, writeError{werr}
		}
	}
	if m.buf == nil && n == len(m.small) {
		m.buf = make([]byte, relayBuf)
	}
	return n, err
}

// spliceMin is the least output a splice moves. A splice into a pipe
// takes one of its slots (16 in a default pipe) per page it moves, however
// little of the page it fills, where a write fills the last page first:
// spliced a line, or a page and a bit, at a time, the user's pipe filled
// long before it held 64 KiB, and a reader that reads only once the
// command ends (a script's "wait, then read") waited for good. Below a
// default pipe's size all of it could wait in the user's pipe, so it is
// read and written. Output only: on the input side a read takes what the
// user typed even once the payload has closed its stdin, where a splice
// takes nothing (mover.output).
const spliceMin = 64 << 10

// worthSplicing tells whether sfd holds at least spliceMin bytes, or
// cannot say (not a pipe, socket or terminal).
func worthSplicing(sfd int) bool {
	n, err := unix.IoctlGetInt(sfd, unix.TIOCINQ) // FIONREAD
	return err != nil || n >= spliceMin
}

// copyIn copies the user's stdin to the payload until end of file (then
// the payload sees end of file too) or until stopped. The user's stdin is
// not ours to make non-blocking (the shell shares it): it is waited for
// with poll(2) before each read, together with the stop pipe, so that
// nothing is taken from it once stopped.
func (r *Relay) copyIn(dst, src *os.File) error {
	defer dst.Close()
	rc, err := dst.SyscallConn()
	if err != nil {
		return err
	}
	var m mover
	rc.Control(func(fd uintptr) { m = mover{dfd: int(fd), splice: true} })
	sfd, stop := int(src.Fd()), int(r.stopR.Fd())
	for {
		ready, err := waitReadable(sfd, stop)
		if err != nil || !ready {
			return err
		}
		var n int
		var opErr error
		err = rc.Write(func(uintptr) bool {
			n, opErr = m.move(sfd, relayBuf)
			// The payload's pipe is full: wait in the poller until it
			// takes more (the user's input waits meanwhile).
			return !(opErr == unix.EAGAIN && readableNow(sfd))
		})
		var we writeError
		switch {
		case err != nil:
			return err
		case errors.As(opErr, &we) && we.err == unix.EPIPE:
			return nil // the payload closed its stdin
		case errors.As(opErr, &we):
			return fmt.Errorf("writing the payload's input: %w", we.err)
		case opErr == unix.EINTR || opErr == unix.EAGAIN:
		case opErr != nil || n == 0:
			return nil // end of the user's input (or it failed): EOF inside
		}
	}
}

// writeError is a failed write to the destination (a read failure is
// returned as it is).
type writeError struct{ err error }

func (e writeError) Error() string { return e.err.Error() }

func readableNow(fd int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, _ := unix.Poll(fds, 0)
	return n > 0
}

// waitOut waits until fd takes more data (or fails).
func waitOut(fd int) error {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
		return err
	}
	return nil
}

// waitReadable blocks until fd has data (or end of file) and returns true,
// or returns false once stop is readable (closed).
func waitReadable(fd, stop int) (bool, error) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(stop), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("waiting on the payload's streams: %w", err)
		}
		if fds[0].Revents != 0 {
			return true, nil
		}
		if fds[1].Revents != 0 {
			return false, nil
		}
	}
}

// writeAll writes b to a descriptor that may be non-blocking.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		switch {
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			if err := waitOut(fd); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			b = b[n:]
		}
	}
	return nil
}
