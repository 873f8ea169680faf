package api

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	ctypes "github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/api/calls"
	"github.com/sandbox-dev/sandbox/container/containertypes"
)

// execSession is an exec made by POST /containers/ID/exec and run by
// /exec/ID/start. Sessions live in the service's memory only, as
// Docker's do (a restarted dockerd forgets them too).
type execSession struct {
	id, container string
	req           ctypes.ExecCreateRequest

	mu      sync.Mutex
	running bool
	code    *int
	console *os.File
	size    *unix.Winsize // asked before the console existed
	sized   chan struct{} // closed by the first resize
	once    sync.Once
}

var errNoExec = errors.New("no such exec instance")

func (s *Server) execCreate(w http.ResponseWriter, r *http.Request) error {
	c, err := s.B.Find(r.PathValue("id"))
	if err != nil {
		return err
	}
	if s.B.State(c.ID).Status != containertypes.Running {
		return conflict(fmt.Errorf("container %s is not running", c.Name))
	}
	var req ctypes.ExecCreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if len(req.Cmd) == 0 {
		return badRequest(errors.New("no command given to exec"))
	}
	if req.Privileged {
		return badRequest(errors.New("a privileged exec is not served: exec gets the container's own capabilities (make the container --privileged)"))
	}
	e := &execSession{id: randomID(), container: c.ID, req: req, sized: make(chan struct{})}
	s.execs.Store(e.id, e)
	writeJSON(w, http.StatusCreated, ctypes.ExecCreateResponse{ID: e.id})
	return nil
}

func (s *Server) execFind(r *http.Request) (*execSession, error) {
	v, ok := s.execs.Load(r.PathValue("id"))
	if !ok {
		return nil, notFound(fmt.Errorf("%w: %s", errNoExec, r.PathValue("id")))
	}
	return v.(*execSession), nil
}

func (s *Server) execStart(w http.ResponseWriter, r *http.Request) error {
	e, err := s.execFind(r)
	if err != nil {
		return err
	}
	var start ctypes.ExecStartRequest
	if err := decodeBody(r, &start); err != nil {
		return err
	}
	if start.Detach {
		return badRequest(errors.New("a detached exec is not served: run it attached, or use a detached container"))
	}
	e.mu.Lock()
	if e.running || e.code != nil {
		e.mu.Unlock()
		return conflict(fmt.Errorf("exec %s has run already", e.id))
	}
	e.running = true
	e.mu.Unlock()
	if s.B.State(e.container).Status != containertypes.Running {
		e.mu.Lock()
		e.running = false
		e.mu.Unlock()
		return conflict(fmt.Errorf("%w: %s", containertypes.ErrNotRunning, e.container[:12]))
	}
	req := calls.ExecRequest{Args: e.req.Cmd, Env: e.req.Env, Cwd: e.req.WorkingDir, User: e.req.User, TTY: e.req.Tty}
	if cs := firstSize(start.ConsoleSize, e.req.ConsoleSize); cs != nil {
		req.Rows, req.Cols = uint16(cs[0]), uint16(cs[1])
	}
	ct := "application/vnd.docker.multiplexed-stream"
	if req.TTY {
		ct = "application/vnd.docker.raw-stream"
	}
	conn, err := hijack(w, r, ct)
	if err != nil {
		return err
	}
	defer conn.Close()
	if req.TTY && req.Rows == 0 {
		// A 1.41 client gives the size in a resize right after the
		// start: wait a moment for it, so the process starts at its size.
		select {
		case <-e.sized:
		case <-time.After(500 * time.Millisecond):
		}
		e.mu.Lock()
		if e.size != nil {
			req.Rows, req.Cols = e.size.Row, e.size.Col
		}
		e.mu.Unlock()
	}
	code, err := s.runExec(e, req, conn)
	if err != nil {
		// Said on the process's stderr, as the stream's format has it.
		if req.TTY {
			fmt.Fprintf(conn, "sandbox: %v\r\n", err)
		} else {
			_, stderr := streams(conn, false, nil)
			fmt.Fprintf(stderr, "sandbox: %v\n", err)
		}
		code = calls.ExitCode(err)
	}
	e.mu.Lock()
	e.running, e.code, e.console = false, &code, nil
	e.mu.Unlock()
	// Its client asks for the exit code right after; nobody later.
	time.AfterFunc(5*time.Minute, func() { s.execs.Delete(e.id) })
	return nil
}

func firstSize(a, b *[2]uint) *[2]uint {
	if a != nil && a[0] > 0 {
		return a
	}
	if b != nil && b[0] > 0 {
		return b
	}
	return nil
}

// runExec relays conn to the exec'd process until it ends: the raw pty
// with a terminal, else stdin in and a multiplexed stdout and stderr out.
func (s *Server) runExec(e *execSession, req calls.ExecRequest, conn net.Conn) (int, error) {
	if req.TTY {
		sess, err := s.B.Exec(e.container, req, nil, nil, nil)
		if err != nil {
			return 0, err
		}
		defer sess.Close()
		e.mu.Lock()
		e.console = sess.Console()
		if e.size != nil {
			unix.IoctlSetWinsize(int(e.console.Fd()), unix.TIOCSWINSZ, e.size)
		}
		e.mu.Unlock()
		copied := make(chan struct{})
		go func() {
			io.Copy(conn, sess.Console()) // ends with EIO when the pty's last user closes it
			close(copied)
		}()
		if e.req.AttachStdin {
			go io.Copy(sess.Console(), conn)
		}
		code, err := sess.Wait()
		select {
		case <-copied:
		case <-time.After(time.Second): // children holding the pty
		}
		sess.Console().Close()
		return code, err
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return 0, err
	}
	defer null.Close()
	stdin := null
	if e.req.AttachStdin {
		inR, inW, err := os.Pipe()
		if err != nil {
			return 0, err
		}
		defer inR.Close()
		go func() {
			io.Copy(inW, conn)
			inW.Close()
		}()
		stdin = inR
	}
	stdout, stderr := streams(conn, false, nil)
	outs := []io.Writer{stdout, stderr}
	if !e.req.AttachStdout {
		outs[0] = io.Discard
	}
	if !e.req.AttachStderr {
		outs[1] = io.Discard
	}
	var files [2]*os.File
	var wg sync.WaitGroup
	for i := range files {
		r, w, err := os.Pipe()
		if err != nil {
			return 0, err
		}
		files[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.Copy(outs[i], r)
			r.Close()
		}()
	}
	sess, err := s.B.Exec(e.container, req, stdin, files[0], files[1])
	if err != nil {
		files[0].Close()
		files[1].Close()
		wg.Wait()
		return 0, err
	}
	code, err := sess.Wait()
	sess.Close()
	files[0].Close()
	files[1].Close()
	wg.Wait()
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	return code, err
}

func (s *Server) execResize(w http.ResponseWriter, r *http.Request) error {
	e, err := s.execFind(r)
	if err != nil {
		return err
	}
	h, err1 := strconv.Atoi(r.URL.Query().Get("h"))
	wd, err2 := strconv.Atoi(r.URL.Query().Get("w"))
	if err1 != nil || err2 != nil {
		return badRequest(errors.New("resize needs h and w"))
	}
	ws := &unix.Winsize{Row: uint16(h), Col: uint16(wd)}
	e.mu.Lock()
	if e.console != nil {
		unix.IoctlSetWinsize(int(e.console.Fd()), unix.TIOCSWINSZ, ws)
	} else {
		e.size = ws
	}
	e.mu.Unlock()
	e.once.Do(func() { close(e.sized) })
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) execInspect(w http.ResponseWriter, r *http.Request) error {
	e, err := s.execFind(r)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := ctypes.ExecInspectResponse{ID: e.id, Running: e.running, ExitCode: e.code, ContainerID: e.container,
		OpenStdin: e.req.AttachStdin, OpenStdout: e.req.AttachStdout, OpenStderr: e.req.AttachStderr, CanRemove: !e.running,
		ProcessConfig: &ctypes.ExecProcessConfig{Tty: e.req.Tty, Entrypoint: e.req.Cmd[0], Arguments: e.req.Cmd[1:], User: e.req.User}}
	writeJSON(w, http.StatusOK, out)
	return nil
}
