package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// ttyRelay joins the user's terminal to the container's pty master: raw
// mode on the user's side, bytes both ways, window size changes forwarded.
type ttyRelay struct {
	master   *os.File
	stdinFd  int
	oldState *term.State
	winch    chan os.Signal
	out      chan struct{}
}

// receiveConsole waits for the init to send the pty master over sock and
// starts relaying. stdin may be nil (-t without -i): output is relayed only.
func receiveConsole(sock *os.File, stdin, stdout *os.File) (*ttyRelay, error) {
	master, err := recvFd(sock)
	if err != nil {
		return nil, err
	}
	return relayConsole(master, stdin, stdout)
}

// relayConsole relays between the user's terminal and a pty master.
func relayConsole(master, stdin, stdout *os.File) (*ttyRelay, error) {
	var err error
	r := &ttyRelay{master: master, stdinFd: -1, out: make(chan struct{})}
	if stdin != nil && term.IsTerminal(int(stdin.Fd())) {
		r.stdinFd = int(stdin.Fd())
		if r.oldState, err = term.MakeRaw(r.stdinFd); err != nil {
			master.Close()
			return nil, fmt.Errorf("putting the terminal in raw mode: %w", err)
		}
	}
	r.winch = make(chan os.Signal, 1)
	signal.Notify(r.winch, unix.SIGWINCH)
	go func() {
		for range r.winch {
			r.resize(stdin, stdout)
		}
	}()
	go func() {
		io.Copy(stdout, master) // ends with EIO once every slave fd is closed
		close(r.out)
	}()
	if stdin != nil {
		go io.Copy(master, stdin)
	}
	return r, nil
}

// resize copies the user's terminal size to the pty.
func (r *ttyRelay) resize(files ...*os.File) {
	for _, f := range files {
		if f == nil {
			continue
		}
		ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
		if err == nil {
			unix.IoctlSetWinsize(int(r.master.Fd()), unix.TIOCSWINSZ, ws)
			return
		}
	}
}

// drain waits until the payload's last output has been written.
func (r *ttyRelay) drain() { <-r.out }

// drainFor is drain bounded in time.
func (r *ttyRelay) drainFor(d time.Duration) {
	select {
	case <-r.out:
	case <-time.After(d):
	}
}

// restore puts the user's terminal back as it was. It runs on every exit
// path of Run (deferred), so a failed or killed payload never leaves the
// terminal raw.
func (r *ttyRelay) restore() {
	signal.Stop(r.winch)
	if r.oldState != nil {
		term.Restore(r.stdinFd, r.oldState)
	}
}

// TerminalSize returns the size of the first of files that is a terminal.
func TerminalSize(files ...*os.File) (rows, cols uint16, ok bool) {
	for _, f := range files {
		if f == nil {
			continue
		}
		ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
		if err == nil {
			return ws.Row, ws.Col, true
		}
	}
	return 0, 0, false
}

func recvFd(sock *os.File) (*os.File, error) {
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, 0)
	if err != nil {
		return nil, fmt.Errorf("receiving the container's terminal: %w", err)
	}
	return fdFromOOB(oob[:oobn])
}

// fdFromOOB takes the one descriptor a message carried.
func fdFromOOB(oob []byte) (*os.File, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) == 0 {
		return nil, errors.New("the sandbox init ended before handing over the terminal")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) == 0 {
		return nil, errors.New("the sandbox init sent no terminal")
	}
	return os.NewFile(uintptr(fds[0]), "pty-master"), nil
}

func sendFd(sock *os.File, f *os.File) error {
	rights := unix.UnixRights(int(f.Fd()))
	return unix.Sendmsg(int(sock.Fd()), []byte{0}, rights, nil, 0)
}

// openPty makes a pty on the container's own devpts (after pivot_root
// /dev/ptmx is its pts/ptmx), sized before the payload ever sees it.
func openPty(rows, cols uint16) (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("opening /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("unlocking the pty: %w", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("reading the pty number: %w", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("opening /dev/pts/%d: %w", n, err)
	}
	if rows > 0 && cols > 0 {
		unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	}
	return m, s, nil
}
