package container

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/image"
)

// A detached container made with standard input open (Config.Interactive:
// the API's `docker run -i`) keeps its monitor, which holds the write end
// of the payload's stdin (or, with a terminal, the pty's master) and
// listens on attach.sock in the container's runtime directory. Each
// connection says what it is on its first line: "stdin", then the bytes
// to send (their end is the payload's end of input when Config.StdinOnce
// says so), or "resize ROWS COLS" for the terminal.

const attachSocketName = "attach.sock"

// attachPoint is the monitor's side.
type attachPoint struct {
	l      net.Listener
	stdin  *os.File // the payload's stdin, or the pty master's writer
	once   bool
	mu     sync.Mutex
	master *os.File
	closed bool
}

// listenAttach listens in dir for attach connections feeding stdin.
func listenAttach(dir string, stdin *os.File, once bool) (*attachPoint, error) {
	p := filepath.Join(dir, attachSocketName)
	os.Remove(p)
	old := unix.Umask(0o177)
	l, err := net.Listen("unix", p)
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listening for attach on %s: %w", p, err)
	}
	a := &attachPoint{l: l, stdin: stdin, once: once}
	go a.serve()
	return a, nil
}

func (a *attachPoint) setConsole(master *os.File) {
	a.mu.Lock()
	a.master = master
	a.mu.Unlock()
}

func (a *attachPoint) serve() {
	for {
		c, err := a.l.Accept()
		if err != nil {
			return
		}
		go a.handle(c)
	}
}

func (a *attachPoint) handle(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		return
	}
	f := strings.Fields(line)
	switch {
	case len(f) == 1 && f[0] == "stdin":
		a.mu.Lock()
		w, closed := a.stdin, a.closed
		a.mu.Unlock()
		if closed || w == nil {
			return
		}
		io.Copy(w, br)
		if a.once {
			a.mu.Lock()
			if !a.closed {
				a.closed = true
				a.stdin.Close()
			}
			a.mu.Unlock()
		}
	case len(f) == 3 && f[0] == "resize":
		rows, err1 := strconv.Atoi(f[1])
		cols, err2 := strconv.Atoi(f[2])
		a.mu.Lock()
		m := a.master
		a.mu.Unlock()
		if err1 == nil && err2 == nil && m != nil {
			unix.IoctlSetWinsize(int(m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(rows), Col: uint16(cols)})
		}
	}
}

func (a *attachPoint) close() {
	a.l.Close()
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		a.stdin.Close()
	}
	a.mu.Unlock()
}

// AttachStdin connects to a running interactive container's standard
// input: what is written to the connection reaches the payload.
func AttachStdin(s *image.Store, ref string) (net.Conn, error) {
	c, err := Find(s, ref)
	if err != nil {
		return nil, err
	}
	if !c.Config.Interactive || !c.Config.Detach {
		return nil, fmt.Errorf("container %s was not made with its standard input open (-i)", c.Name)
	}
	conn, err := net.Dial("unix", filepath.Join(liveDir(s, c), attachSocketName))
	if err != nil {
		return nil, fmt.Errorf("%w: %s (its input is reached while it runs)", ErrNotRunning, c.Name)
	}
	if _, err := io.WriteString(conn, "stdin\n"); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// ResizeTTY sets a running interactive container's terminal size.
func ResizeTTY(s *image.Store, ref string, rows, cols int) error {
	c, err := Find(s, ref)
	if err != nil {
		return err
	}
	if !c.Config.TTY || !c.Config.Interactive {
		return nil // nothing to size: Docker accepts it all the same
	}
	conn, err := net.Dial("unix", filepath.Join(liveDir(s, c), attachSocketName))
	if err != nil {
		return nil
	}
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "resize %d %d\n", rows, cols)
	return err
}
