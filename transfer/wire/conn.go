package wire

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// maxFiles bounds the descriptors one message carries.
const maxFiles = 4

// maxFrame bounds one message: images' configs and manifests are tens of
// kilobytes; a larger frame is a broken peer, not an image.
const maxFrame = 64 << 20

// Conn frames messages on a unix stream socket. Each frame is an 8-byte
// header (the JSON's length and the number of descriptors) sent alone
// with its descriptors, then the JSON. A stream socket keeps descriptors
// with the bytes they were sent with, and the reader takes the header in
// one recvmsg of exactly its size and then exactly the JSON's length, so
// it never reads into the next frame's header and its descriptors.
type Conn struct {
	f  *os.File
	fd int
	// mu guards the descriptor number's life: users counts the Sends
	// and Shutdowns using it; once closing is set none starts, and Close
	// waits for those under way (woken by its shutdown) before the
	// number is closed and may name another file.
	mu      sync.Mutex
	idle    *sync.Cond // signalled when users drops to 0
	users   int
	closing bool
	// wmu orders writers: a frame's header and body go out together.
	wmu sync.Mutex
}

// NewConn uses f, a connected unix stream socket. Its reads and writes
// block their goroutine: one reader and the writers, each briefly.
func NewConn(f *os.File) *Conn {
	c := &Conn{f: f, fd: int(f.Fd())}
	c.idle = sync.NewCond(&c.mu)
	return c
}

func (c *Conn) acquire() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	c.users++
	return true
}

func (c *Conn) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.users--; c.users == 0 {
		c.idle.Broadcast()
	}
}

// Close shuts the socket down both ways (a Send blocked on a peer that
// reads nothing fails at once) and closes it when no Send or Shutdown
// uses it any more. It must not run while Recv does: Peer closes from
// its reader, once it has stopped. A Send after it fails.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return nil
	}
	c.closing = true
	unix.Shutdown(c.fd, unix.SHUT_RDWR)
	for c.users > 0 {
		c.idle.Wait()
	}
	return c.f.Close()
}

// Shutdown ends what this side sends (how: unix.SHUT_WR), or, with
// unix.SHUT_RDWR, both ways, which also wakes a Recv waiting on it.
func (c *Conn) Shutdown(how int) error {
	if !c.acquire() {
		return nil
	}
	defer c.release()
	return unix.Shutdown(c.fd, how)
}

// Send writes m with files attached. The files stay open: the caller
// closes its copies (the peer has its own once Send returns).
func (c *Conn) Send(m *Msg, files ...*os.File) error {
	if len(files) > maxFiles {
		return fmt.Errorf("a message carries at most %d descriptors, not %d", maxFiles, len(files))
	}
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[0:], uint32(len(body)))
	binary.LittleEndian.PutUint32(hdr[4:], uint32(len(files)))
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	if !c.acquire() {
		return errClosed
	}
	defer c.release()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for {
		err = unix.Sendmsg(c.fd, hdr[:], oob, nil, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("sending to the transfer peer: %w", err)
	}
	for len(body) > 0 {
		n, err := unix.Write(c.fd, body)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("sending to the transfer peer: %w", err)
		}
		body = body[n:]
	}
	return nil
}

// Recv reads the next message and the descriptors it carries. At the
// peer's end it returns io.EOF.
func (c *Conn) Recv() (*Msg, []*os.File, error) {
	var hdr [8]byte
	oob := make([]byte, unix.CmsgSpace(maxFiles*4))
	var n, oobn int
	var err error
	for {
		n, oobn, _, _, err = unix.Recvmsg(c.fd, hdr[:], oob, unix.MSG_CMSG_CLOEXEC)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading from the transfer peer: %w", err)
	}
	files, ferr := parseFiles(oob[:oobn])
	if n == 0 {
		CloseFiles(files)
		return nil, nil, io.EOF
	}
	if ferr != nil || n != len(hdr) {
		CloseFiles(files)
		return nil, nil, fmt.Errorf("reading from the transfer peer: a broken frame header (%d bytes, %v)", n, ferr)
	}
	size := binary.LittleEndian.Uint32(hdr[0:])
	if want := int(binary.LittleEndian.Uint32(hdr[4:])); want != len(files) || size > maxFrame {
		CloseFiles(files)
		return nil, nil, fmt.Errorf("reading from the transfer peer: a frame of %d bytes with %d of %d descriptors", size, len(files), want)
	}
	body := make([]byte, size)
	for got := 0; got < len(body); {
		k, err := unix.Read(c.fd, body[got:])
		if err == unix.EINTR {
			continue
		}
		if err == nil && k == 0 {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			CloseFiles(files)
			return nil, nil, fmt.Errorf("reading from the transfer peer: %w", err)
		}
		got += k
	}
	m := new(Msg)
	if err := json.Unmarshal(body, m); err != nil {
		CloseFiles(files)
		return nil, nil, fmt.Errorf("reading from the transfer peer: %w", err)
	}
	return m, files, nil
}

func parseFiles(oob []byte) ([]*os.File, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var files []*os.File
	for _, cm := range msgs {
		fds, err := unix.ParseUnixRights(&cm)
		if err != nil {
			CloseFiles(files)
			return nil, err
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "transfer-pipe"))
		}
	}
	return files, nil
}

// CloseFiles closes the descriptors a message brought: a Handler owns
// them.
func CloseFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// Dup is a copy of f that a call (or a handler) may close: the caller
// keeps its own.
func Dup(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// errClosed is a call on a peer whose connection has ended: the program
// at the other end (the transfer or the API program) has exited.
var errClosed = errors.New("the program at the other end of the socket has gone (what it said, if anything, is above)")
