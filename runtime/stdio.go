package runtime

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

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

// relayBuf is the most one copy moves (a quarter of a relay pipe; 1 MiB
// measured no faster).
const relayBuf = 256 << 10

// Relay is the payload's standard streams as pipes, relayed by this
// process to and from the user's files.
type Relay struct {
	// child are the payload's stdin, stdout and stderr. Close them here
	// once the process that uses them started (CloseChild).
	child [3]*os.File
	// stop makes every copy loop finish what is already in its pipe and
	// return.
	stop   stopper
	wg     sync.WaitGroup
	finish sync.Once
	mu     sync.Mutex
	err    error
	ours   []*os.File // our pipe ends, closed by Finish
}

// NewRelay makes the pipes and starts copying. stdin nil gives the payload
// /dev/null (no -i); stdout or stderr nil discards that stream.
func NewRelay(stdin, stdout, stderr *os.File) (*Relay, error) {
	r := &Relay{}
	var err error
	if r.stop.r, r.stop.w, err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("creating the relay's stop pipe: %w", err)
	}
	r.ours = append(r.ours, r.stop.r)
	fail := func(err error) (*Relay, error) {
		r.CloseChild()
		r.stop.w.Close()
		for _, f := range r.ours {
			f.Close()
		}
		return nil, err
	}
	if stdin == nil {
		if r.child[0], err = os.Open(os.DevNull); err != nil {
			return fail(err)
		}
	} else {
		pr, pw, err := relayPipe()
		if err != nil {
			return fail(fmt.Errorf("creating the stdin pipe: %w", err))
		}
		r.child[0] = pr
		r.ours = append(r.ours, pw)
		r.start(func() error { return r.copyIn(pw, stdin) })
	}
	for i, dst := range []*os.File{stdout, stderr} {
		if dst == nil {
			if r.child[i+1], err = os.OpenFile(os.DevNull, os.O_WRONLY, 0); err != nil {
				return fail(err)
			}
			continue
		}
		pr, pw, err := relayPipe()
		if err != nil {
			return fail(fmt.Errorf("creating an output pipe: %w", err))
		}
		r.child[i+1] = pw
		r.ours = append(r.ours, pr)
		r.start(func() error { return r.copyOut(dst, pr) })
	}
	return r, nil
}

// relayPipe is a pipe as large as an unprivileged user may make one (1 MiB
// by default): a payload that writes in small pieces runs on while the
// relay sleeps, instead of waking it every 64 KiB.
func relayPipe() (r, w *os.File, err error) {
	if r, w, err = os.Pipe(); err != nil {
		return nil, nil, err
	}
	unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, relayPipeSize)
	return r, w, nil
}

// relayPipeSize is fs.pipe-max-size's default; a smaller limit just leaves
// the pipe as it was.
const relayPipeSize = 1 << 20

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
		r.stop.stop()
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
			r.fail(err)
		}
	}()
}

func (r *Relay) fail(err error) {
	r.mu.Lock()
	r.err = errors.Join(r.err, err)
	r.mu.Unlock()
}

// copyOut copies the pipe src to the user's dst until end of file, or,
// once stopped, until the pipe is empty.
func (r *Relay) copyOut(dst, src *os.File) error {
	sfd := int(src.Fd())
	if err := unix.SetNonblock(sfd, true); err != nil {
		return err
	}
	err := pump(int(dst.Fd()), sfd, &r.stop, true, false)
	var we writeError
	if errors.As(err, &we) {
		// The user's side is gone (a closed pipe): keep emptying the
		// payload's pipe, so that the payload is not blocked on it.
		null, nerr := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if nerr != nil {
			return nerr
		}
		defer null.Close()
		if perr := pump(int(null.Fd()), sfd, &r.stop, true, false); perr != nil {
			return perr
		}
		if we.err == unix.EPIPE {
			return nil
		}
		return fmt.Errorf("writing the payload's output: %w", we.err)
	}
	if err != nil {
		return fmt.Errorf("relaying the payload's output: %w", err)
	}
	return nil
}

// copyIn copies the user's stdin to the payload until end of file (then
// the payload sees end of file too) or until stopped. The user's stdin is
// not ours to make non-blocking (the shell shares it): pump waits until it
// is readable, or until we are stopped, so that nothing typed after the
// command returned is taken.
func (r *Relay) copyIn(dst, src *os.File) error {
	defer dst.Close()
	dfd := int(dst.Fd())
	if err := unix.SetNonblock(dfd, true); err != nil {
		return err
	}
	err := pump(dfd, int(src.Fd()), &r.stop, false, true)
	var we writeError
	if errors.As(err, &we) && we.err == unix.EPIPE {
		return nil // the payload closed its stdin
	}
	if err != nil {
		return fmt.Errorf("relaying the payload's input: %w", err)
	}
	return nil
}

// writeError is a failed write to pump's destination (a read failure is
// returned as it is).
type writeError struct{ err error }

func (e writeError) Error() string { return e.err.Error() }

// pump copies src to dst until src ends, splicing when it can (between
// pipes that moves pages instead of copying them).
//
// Once stopped (stopped is set and stop closed), a pump with drain relays
// what src holds at that moment and returns, even if something keeps
// writing; one without drain returns at once. A source that may block
// (the user's stdin, which is not ours to make non-blocking) is waited for
// before each read, so that nothing is taken from it once stopped; a
// non-blocking one (our pipe) is read first and waited for only when it
// is empty.
func pump(dfd, sfd int, stop *stopper, drain, srcMayBlock bool) error {
	canSplice := true
	var buf []byte
	left := -1 // once stopped: the bytes still to relay
	for left != 0 {
		if left < 0 && stop.stopped.Load() {
			if !drain {
				return nil
			}
			n, err := unix.IoctlGetInt(sfd, unix.TIOCINQ) // FIONREAD
			if err != nil {
				return err
			}
			if left = n; left == 0 {
				return nil
			}
		}
		if srcMayBlock && left < 0 {
			ready, err := waitReadable(sfd, stop.fd())
			if err != nil {
				return err
			}
			if !ready {
				continue // stopped: the top of the loop decides
			}
		}
		size := relayBuf
		if left > 0 {
			size = min(size, left)
		}
		var n int
		var err error
		if canSplice {
			var n64 int64
			n64, err = unix.Splice(sfd, nil, dfd, nil, size, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
			n = int(n64)
			if err == unix.EINVAL || err == unix.ENOSYS {
				// A terminal, a file opened to append: plain copies.
				canSplice = false
				continue
			}
			if err == unix.EPIPE {
				return writeError{err}
			}
		} else {
			if buf == nil {
				buf = make([]byte, relayBuf)
			}
			n, err = unix.Read(sfd, buf[:size])
			if err == nil && n > 0 {
				if werr := writeAll(dfd, buf[:n]); werr != nil {
					return writeError{werr}
				}
			}
		}
		switch {
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			if readableNow(sfd) {
				// The source has data, so the destination (a pipe) is full.
				if err := waitOut(dfd); err != nil {
					return writeError{err}
				}
			} else if left > 0 {
				return nil // someone else emptied it
			} else if !srcMayBlock {
				if _, err := waitReadable(sfd, stop.fd()); err != nil {
					return err
				}
			}
		case err != nil:
			return err
		case n == 0:
			return nil
		case left > 0:
			left -= n
		}
	}
	return nil
}

// stopper tells the copy loops to finish: stopped is what they check
// between two copies, and closing w wakes those that wait.
type stopper struct {
	stopped atomic.Bool
	r, w    *os.File
}

func (s *stopper) fd() int { return int(s.r.Fd()) }

func (s *stopper) stop() {
	s.stopped.Store(true)
	s.w.Close()
}

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
