package wire

import (
	"errors"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Handler answers a request. It owns files (it closes them) and returns
// the answer's fields; Peer fills in the ID and the error.
type Handler func(m *Msg, files []*os.File) (*Msg, error)

// Peer is one side of a connection: it sends requests and matches their
// answers, and runs handle for each request the other side sends, each
// on its own goroutine.
type Peer struct {
	c      *Conn
	handle Handler

	mu      sync.Mutex
	next    int64
	pending map[int64]chan *Msg
	err     error // set once the connection has ended
	done    chan struct{}
}

// NewPeer makes the peer of f; it reads nothing until Start. The two are
// apart so that the caller can store the peer where handle finds it
// before the first request runs handle (a handler that called back on a
// peer not stored yet found nil).
func NewPeer(f *os.File, handle Handler) *Peer {
	return &Peer{c: NewConn(f), handle: handle, pending: map[int64]chan *Msg{}, done: make(chan struct{})}
}

// Start starts reading: answers to calls, requests for handle. Done is
// closed when the other side has gone.
func (p *Peer) Start() { go p.read() }

// Done is closed when the connection has ended.
func (p *Peer) Done() <-chan struct{} { return p.done }

// Close ends the connection both ways and waits until the reader has
// stopped; calls still waiting fail. Handlers still running then find it
// closed when they answer.
func (p *Peer) Close() error {
	err := p.c.Shutdown(unix.SHUT_RDWR)
	<-p.done
	return err
}

// Shutdown tells the other side that this one has ended: it sends
// nothing more, neither requests nor answers (the other side's reader
// then ends, and its calls fail). Call it once every call made has been
// answered.
func (p *Peer) Shutdown() error { return p.c.Shutdown(unix.SHUT_WR) }

// Call sends m with files and waits for its answer. A failed request is
// an *Error. Call closes files once they are sent (or could not be): the
// other side holds its own copies, and a pipe's end left open here would
// keep its reader from ever seeing the end. The answer's Files, if any,
// are the caller's to close.
func (p *Peer) Call(m *Msg, files ...*os.File) (*Msg, error) {
	ch := make(chan *Msg, 1)
	p.mu.Lock()
	if p.err != nil {
		p.mu.Unlock()
		CloseFiles(files)
		return nil, p.err
	}
	p.next++
	m.ID = p.next
	p.pending[m.ID] = ch
	p.mu.Unlock()
	err := p.c.Send(m, files...)
	CloseFiles(files)
	if err != nil {
		p.mu.Lock()
		delete(p.pending, m.ID)
		p.mu.Unlock()
		return nil, err
	}
	select {
	case r := <-ch:
		if r.Err != "" || r.Code != "" {
			return r, &Error{Code: r.Code, Msg: r.Err}
		}
		return r, nil
	case <-p.done:
		// An answer sent just before the end is still in ch.
		select {
		case r := <-ch:
			if r.Err != "" || r.Code != "" {
				return r, &Error{Code: r.Code, Msg: r.Err}
			}
			return r, nil
		default:
		}
		return nil, p.err
	}
}

func (p *Peer) read() {
	var err error
	for {
		var m *Msg
		var files []*os.File
		m, files, err = p.c.Recv()
		if err != nil {
			break
		}
		if m.Reply {
			m.Files = files
			p.mu.Lock()
			ch := p.pending[m.ID]
			delete(p.pending, m.ID)
			p.mu.Unlock()
			if ch != nil {
				ch <- m
			} else {
				CloseFiles(files)
			}
			continue
		}
		go p.serve(m, files)
	}
	p.mu.Lock()
	p.err = errClosed
	if err != nil && !errors.Is(err, io.EOF) {
		p.err = errors.Join(errClosed, err)
	}
	p.mu.Unlock()
	// The reader alone closes the descriptor, once it no longer reads
	// it: a number closed under a read could be reused meanwhile.
	p.c.Close()
	close(p.done)
}

func (p *Peer) serve(m *Msg, files []*os.File) {
	var r *Msg
	var err error
	if p.handle == nil {
		CloseFiles(files)
		err = errors.New("this side answers no requests")
	} else {
		r, err = p.handle(m, files)
	}
	if r == nil {
		r = &Msg{}
	}
	r.ID, r.Reply, r.Op = m.ID, true, ""
	if err != nil {
		r.Err = err.Error()
		var e *Error
		if errors.As(err, &e) {
			r.Code = e.Code
		}
		if r.Err == "" {
			r.Err = "failed"
		}
	}
	// The other side may have gone; it no longer needs the answer.
	_ = p.c.Send(r, r.Files...)
	CloseFiles(r.Files)
}
