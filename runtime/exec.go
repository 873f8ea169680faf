package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// `sandbox exec` needs no setns (impossible from a multi-threaded Go
// process) and no helper: the container's init, already inside every
// namespace, listens on a unix socket (SOCK_SEQPACKET, so each message
// arrives whole) and starts the process itself. The CLI sends the request
// and its own stdin, stdout and stderr as descriptors, or receives the
// master of a pty the init made; then it forwards signals and waits for the
// exit code. The socket file lives under the user's runtime directory,
// which only the user can enter; the init also checks that the peer is the
// user (uid 0 as the container's user namespace sees it).

// ExecRequest is a process to start in a running container.
type ExecRequest struct {
	// Archive, when set, is a copy the init answers itself (archive.go):
	// "stat", "get" or "put" of Path; KeepOwners keeps a put's owners.
	Archive string `json:",omitempty"`
	// Tap, when set, asks for one more network interface (tap.go): the
	// answer carries its descriptor.
	Tap        *Tap   `json:",omitempty"`
	Path       string `json:",omitempty"`
	KeepOwners bool   `json:",omitempty"`
	Args       []string
	Env        []string // added to the container's environment
	Cwd        string   // default: the container's working directory
	User       string   // default: the container's user
	TTY        bool
	Rows       uint16
	Cols       uint16
	// InFile says that the request itself is in the last descriptor that
	// came with it (a sealed memfd): one longer than maxInline, which a
	// packet could not carry.
	InFile bool `json:",omitempty"`
	// Signal, when set, asks the init to send that signal on to the
	// payload, as it does one sent to itself, and to answer once it has
	// (SignalPayload).
	Signal int `json:",omitempty"`
}

// execReply is the init's answer: the pid, then later the exit code; or an
// error with the exit code to use.
type execReply struct {
	Pid   int    `json:"pid,omitempty"`
	Exit  *int   `json:"exit,omitempty"`
	Error string `json:"error,omitempty"`
	Code  int    `json:"code,omitempty"`
}

// execControl is what the CLI sends while the process runs.
type execControl struct {
	Signal int `json:"signal"`
}

// listenExec creates the exec socket; called before pivot_root, while the
// path is in reach.
func listenExec(path string) (*net.UnixListener, error) {
	os.Remove(path) // a stale one from a killed run
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("listening for exec on %q: %w", path, err)
	}
	l.SetUnlinkOnClose(false)
	// The user who owns the container made the socket's directory: the
	// ids it has here are theirs (0, or their own under keep-id). The
	// socket is theirs too, and only they may use it (readRequest).
	var st unix.Stat_t
	if err := unix.Stat(filepath.Dir(path), &st); err != nil {
		l.Close()
		return nil, fmt.Errorf("listening for exec on %q: %w", path, err)
	}
	execOwner = st.Uid
	if err := os.Lchown(path, int(st.Uid), int(st.Gid)); err != nil {
		l.Close()
		return nil, fmt.Errorf("giving the exec socket %q to its user: %w", path, err)
	}
	return l, nil
}

// trimMemory gives back to the system what a piece of work left in a
// process that lives as long as its container (the health checker after a
// check, where it cannot start afresh): each allocates (about 10 KiB),
// and without a collection the heap grows to Go's 4 MiB minimum goal
// before one runs, its pages staying resident (a resident init went from
// 0.9 to 5 MiB of anonymous memory over 100 execs, a health checker to
// 6.4 MiB over 200 checks). A collection of so small a heap takes well
// under a millisecond, once the work's result is sent. The init collects
// after each exec too, but unmaps its program's pages only once it has
// served none for a while (serveExec, lazyDrop).
func trimMemory() {
	debug.FreeOSMemory()
	// The collection read the program's tables (stack maps, pointer
	// bitmaps): unmap them again, as a resident init did once detached.
	DropProgramPages()
}

// maxRequest bounds an exec request (its command line and environment):
// twice the kernel's own bound for an execve (2 MiB with the usual 8 MiB
// stack), as JSON may escape some bytes. Requests longer than maxInline
// travel in a memfd: a SOCK_SEQPACKET message must fit the socket's send
// buffer (208 KiB by default), and Podman's exec takes command lines and
// environments up to the kernel's bound.
const (
	maxRequest = 4 << 20
	maxInline  = 64 << 10
)

// errRequestTooLong is both ends' answer to a request above maxRequest.
func errRequestTooLong(n int) error {
	return fmt.Errorf("the command line and environment of the exec take %d bytes; the limit is %d MiB", n, maxRequest>>20)
}

// requestInFile is the request b carried as a sealed memfd, and the small
// message that points to it.
func requestInFile(b []byte) (*os.File, []byte, error) {
	f, err := newDataMemfd("exec-request", b)
	if err != nil {
		return nil, nil, err
	}
	m, _ := json.Marshal(ExecRequest{InFile: true})
	return f, m, nil
}

// requestFromFile reads a request that came as a file (requestInFile).
func requestFromFile(f *os.File) ([]byte, error) {
	return readDataMemfd(f, "an exec request", maxRequest, errRequestTooLong)
}

// newDataMemfd makes a memfd holding b that nobody can change, nor run:
// what its reader reads is then what was written, whatever the writer
// (or anyone else holding a descriptor) does afterwards. NewSealedMemfd
// is the same for a program.
func newDataMemfd(name string, b []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_NOEXEC_SEAL)
	if errors.Is(err, unix.EINVAL) { // MFD_NOEXEC_SEAL is Linux 6.3+
		fd, err = unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, fmt.Errorf("creating a memfd for the %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing the %s to its memfd: %w", name, err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|dataSeals); err != nil {
		f.Close()
		return nil, fmt.Errorf("sealing the %s's memfd: %w", name, err)
	}
	return f, nil
}

// dataSeals are the seals a data memfd must carry (readDataMemfd).
const dataSeals = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE

// readDataMemfd reads what came as a file (newDataMemfd): only a sealed
// memfd (a regular file, which a read cannot block on, that nobody can
// change meanwhile) of at most max bytes; tooLong is the error above it.
// what names it in errors ("an exec request").
func readDataMemfd(f *os.File, what string, max int, tooLong func(int) error) ([]byte, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s whose file is not a regular file", what)
	}
	if seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0); err != nil || seals&dataSeals != dataSeals {
		return nil, fmt.Errorf("%s whose file is not a sealed memfd", what)
	}
	if st.Size > int64(max) {
		return nil, tooLong(int(st.Size))
	}
	b := make([]byte, st.Size)
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	return b, nil
}

// execOwner is the uid, as the container's user namespace sees it, of the
// user who owns the container: the only peer readRequest answers.
var execOwner uint32

// serveExec answers exec requests until l is closed or its deadline
// passes (execServer.stop). An accept that fails for want of a resource
// (descriptors, memory) is tried again after a pause: returning would
// leave every exec waiting in the backlog until the init next changes
// stage. Any other failure ends the serving, said on stderr (the
// container's log). Go's accept tries again by itself after a
// connection reset before it was taken.
func serveExec(l *net.UnixListener, spec *Spec, sp *spawner, pid int) {
	pause := time.Duration(0)
	for {
		conn, err := l.AcceptUnix()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) {
				return
			}
			if afterAcceptError != nil {
				afterAcceptError(err)
			}
			if !errors.Is(err, unix.EMFILE) && !errors.Is(err, unix.ENFILE) && !errors.Is(err, unix.ENOBUFS) && !errors.Is(err, unix.ENOMEM) {
				acceptStopSaid.Do(func() {
					// A raw write: os.Stderr's would raise SIGPIPE on a
					// closed pipe (a run whose reader went away), which
					// ends a PID 1 with the container.
					unix.Write(2, []byte(fmt.Sprintf("sandbox-init: no more execs served: %v\n", err)))
				})
				return
			}
			pause = min(max(2*pause, 5*time.Millisecond), acceptPauseMax)
			time.Sleep(pause)
			continue
		}
		pause = 0
		execsActive.Add(1)
		go func() {
			handleExec(conn, spec, sp, pid)
			touchActive()
			execsActive.Add(-1)
			debug.FreeOSMemory()
			execDrop().kick()
		}()
	}
}

// afterAcceptError, when set (by a test), hears each failed accept.
var afterAcceptError func(error)

// acceptStopSaid says the init said why it stopped serving once: a
// resident init serves again at each wake from its idle stage.
var acceptStopSaid sync.Once

// acceptPauseMax bounds the pause after a failed accept: what an exec
// waits at most once the cause has passed, and goIdle's stop.
const acceptPauseMax = 100 * time.Millisecond

// execDrop is the process's one lazyDrop, made at the first exec: a
// container never exec'd into keeps no goroutine and no timer for it,
// and the exec server's restarts (an idle move undone) make no other.
var execDrop = sync.OnceValue(func() *lazyDrop { return newLazyDrop(execDropDelay, DropProgramPages) })

// execDropDelay is how long an init serves no exec before it unmaps its
// program's pages again. An exec, and the collection after it, run
// through about 2 MiB of the program; unmapped after each, the next exec
// faulted them back in: 2.7 ms of its 27 (execs in a row, measured here).
const execDropDelay = time.Second

// lazyDrop runs drop (DropProgramPages) once its delay has passed with no
// kick, from one goroutine that lives as long as the process: whatever
// runs after the unmapping faults pages back in, and a goroutine that
// exits reads the program's function tables (its name, for the count of
// system goroutines) where one that waits again does not. Measured after
// execs and a few idle seconds: 0.87 MiB of the program stayed mapped,
// against 1.1–2.0 when each exec's own goroutine unmapped at its end.
type lazyDrop struct{ kicks chan struct{} }

func newLazyDrop(delay time.Duration, drop func()) *lazyDrop {
	d := &lazyDrop{kicks: make(chan struct{}, 1)}
	go func() {
		t := time.NewTimer(delay)
		t.Stop()
		for {
			select {
			case <-d.kicks:
				t.Reset(delay)
			case <-t.C:
				drop()
			}
		}
	}()
	return d
}

// kick restarts the delay.
func (d *lazyDrop) kick() {
	select {
	case d.kicks <- struct{}{}:
	default:
	}
}

// readRequest reads one request from conn: its JSON and the descriptors
// that came with it (close-on-exec, for the caller to close). ok is false
// when the peer is not the user who owns the container (execOwner) or
// nothing could be read.
func readRequest(conn *net.UnixConn, maxFDs int) (payload []byte, files []*os.File, ok bool) {
	cred, err := peerCred(conn)
	if err != nil || cred.Uid != execOwner {
		return nil, nil, false
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, nil, false
	}
	// A buffer of the request's own size, which a peek that truncates
	// tells: a long-lived init serves every exec and health check, and
	// what it allocates for each stays until a collection.
	size := 0
	var perr error
	err = raw.Read(func(fd uintptr) bool {
		size, _, perr = unix.Recvfrom(int(fd), nil, unix.MSG_PEEK|unix.MSG_TRUNC|unix.MSG_DONTWAIT)
		return perr != unix.EAGAIN
	})
	if err != nil || perr != nil || size <= 0 || size > maxRequest {
		return nil, nil, false
	}
	buf := make([]byte, size)
	oob := make([]byte, unix.CmsgSpace(maxFDs*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, nil, false
	}
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, m := range msgs {
			fds, _ := unix.ParseUnixRights(&m)
			for _, fd := range fds {
				unix.CloseOnExec(fd)
				files = append(files, os.NewFile(uintptr(fd), "request"))
			}
		}
	}
	return buf[:n], files, true
}

func handleExec(conn *net.UnixConn, spec *Spec, sp *spawner, pid int) {
	defer conn.Close()
	payload, files, ok := readRequest(conn, 4)
	if !ok {
		return
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	reply := func(r execReply, fds ...int) {
		b, _ := json.Marshal(r)
		conn.WriteMsgUnix(b, unix.UnixRights(fds...), nil)
	}
	var req ExecRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		reply(execReply{Error: "a malformed exec request", Code: 125})
		return
	}
	if req.InFile {
		if len(files) == 0 {
			reply(execReply{Error: "an exec request without its file", Code: 125})
			return
		}
		f := files[len(files)-1]
		files = files[:len(files)-1]
		payload, err := requestFromFile(f)
		f.Close()
		if err != nil {
			reply(execReply{Error: err.Error(), Code: 125})
			return
		}
		req = ExecRequest{}
		if err := json.Unmarshal(payload, &req); err != nil || req.InFile {
			reply(execReply{Error: "a malformed exec request", Code: 125})
			return
		}
	}
	if req.Signal != 0 {
		if !Forwarded(unix.Signal(req.Signal)) || pid <= 0 {
			reply(execReply{Error: fmt.Sprintf("signal %d is not one the init sends on", req.Signal), Code: 125})
			return
		}
		if err := unix.Kill(pid, unix.Signal(req.Signal)); err != nil {
			reply(execReply{Error: fmt.Sprintf("sending signal %d to the payload: %v", req.Signal, err), Code: 125})
			return
		}
		reply(execReply{})
		return
	}
	if req.Tap != nil {
		fds, err := makeTaps([]Tap{*req.Tap})
		if err != nil {
			reply(execReply{Error: err.Error(), Code: 125})
			return
		}
		reply(execReply{}, fds[0])
		unix.Close(fds[0])
		return
	}
	if req.Archive != "" {
		if len(files) != 3 {
			reply(execReply{Error: "a copy request without its three standard streams", Code: 125})
			return
		}
		reply(execReply{})
		code := serveArchive(req, files[0], files[1], files[2])
		for _, f := range files {
			f.Close()
		}
		files = nil
		reply(execReply{Exit: &code})
		return
	}
	pr := procRequest{Args: req.Args, Env: mergeEnvs(spec.Process.Env, req.Env), Cwd: req.Cwd, User: req.User}
	if pr.Cwd == "" {
		pr.Cwd = spec.Process.Cwd
	}
	if pr.User == "" {
		pr.User = spec.Process.User
	}
	var master *os.File
	if req.TTY {
		m, slave, err := openPty(req.Rows, req.Cols)
		if err != nil {
			reply(execReply{Error: err.Error(), Code: 125})
			return
		}
		master = m
		defer master.Close()
		files = append(files, slave)
		pr.Files, pr.Ctty = []*os.File{slave, slave, slave}, true
		pr.Env = mergeEnvs(pr.Env, []string{"TERM=xterm"})
	} else {
		if len(files) != 3 {
			reply(execReply{Error: "an exec request without its three standard streams", Code: 125})
			return
		}
		pr.Files = files
	}
	pid, exit, err := sp.spawn(pr)
	if err != nil {
		reply(execReply{Error: err.Error(), Code: ExitCode(err)})
		return
	}
	if master != nil {
		reply(execReply{Pid: pid}, int(master.Fd()))
	} else {
		reply(execReply{Pid: pid})
	}
	// Our copies of its stdio must go, or a reader of its output would
	// never see the end.
	for _, f := range files {
		f.Close()
	}
	files = nil
	if master != nil {
		master.Close()
	}
	controls := readControls(conn, func(sig unix.Signal) { sp.signal(pid, sig) })
	code := exitCode(<-exit)
	reply(execReply{Exit: &code})
	endSession(conn, controls)
}

// readControls reads the client's control messages on conn until it
// closes (or a read fails), and passes each signal asked for to signal;
// the channel it returns is closed then.
func readControls(conn *net.UnixConn, signal func(unix.Signal)) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			var c execControl
			if json.Unmarshal(buf[:n], &c) == nil && c.Signal > 0 {
				signal(unix.Signal(c.Signal))
			}
		}
	}()
	return done
}

// sessionLinger bounds how long an exec session's end waits for its
// client to close (endSession).
const sessionLinger = time.Second

// endSession waits, after the exit reply, until the client has closed the
// connection (the control reader, which reads until then, closes
// controls), for at most sessionLinger. A socket closed with a message
// of its client's unread (a signal it forwarded as the process ended)
// makes the client's next read fail with ECONNRESET, the exit reply
// queued behind it: the client reported "the container stopped" for a
// container still running.
func endSession(conn *net.UnixConn, controls <-chan struct{}) {
	conn.SetReadDeadline(time.Now().Add(sessionLinger))
	<-controls
}

// mergeEnvs overlays extra KEY=VALUE entries on base.
func mergeEnvs(base, extra []string) []string {
	out := append([]string{}, base...)
	for _, kv := range extra {
		k := kv
		if i := strings.IndexByte(kv, '='); i >= 0 {
			k = kv[:i]
		}
		replaced := false
		for i, e := range out {
			if j := strings.IndexByte(e, '='); j >= 0 && e[:j] == k {
				out[i], replaced = kv, true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// Exec runs req in the container whose init listens on socket, with the
// given stdio (or, with req.TTY, a pty relayed to them), and returns the
// process's exit code. This process's terminating signals are forwarded
// to it.
func Exec(socket string, req ExecRequest, stdin, stdout, stderr *os.File) (int, error) {
	if req.TTY {
		req.Rows, req.Cols, _ = TerminalSize(stdin, stdout)
	}
	e, err := StartExec(socket, req, stdin, stdout, stderr)
	if err != nil {
		return 0, err
	}
	Trace("exec: started")
	defer e.Close()
	if req.TTY {
		tty, err := relayConsole(e.Console, stdin, stdout)
		if err != nil {
			return 0, &Error{Code: 125, Msg: err.Error(), Err: err}
		}
		defer tty.restore()
		// Background children of the process may hold the pty open: wait
		// a moment for its last output, not for them.
		defer tty.drainFor(time.Second)
	}
	sigs := make(chan os.Signal, 16)
	_, stopSignals := notifyAsync(sigs, forwardedSignals...)
	// Then the forwarding goroutine ends, which matters to a caller that
	// execs again and again (the health checker: one goroutine left per
	// check).
	defer stopSignals()
	go func() {
		for s := range sigs {
			if s == unix.SIGWINCH {
				continue
			}
			e.Signal(s.(unix.Signal))
		}
	}()
	return e.Wait()
}

// SignalPayload asks the init listening on socket, which must be the
// process initPid, to send sig on to the payload, and waits up to timeout
// for its answer. A signal sent to the init itself is lost when it comes
// as the init executes its Go stage again (docs/handshake.md, "The idle
// stage"); a request waits in the socket's backlog until the init takes
// it. Only a signal the init forwards (Forwarded) is asked for.
//
// asked is false when the init surely did not send it (no socket, another
// process's, a refusal): the caller may send it another way. Once the
// request is in the socket, an answer that does not come in time leaves
// asked true, since the init will still take it: a second sending would
// reach the payload twice.
func SignalPayload(socket string, initPid int, sig unix.Signal, timeout time.Duration) (asked bool, err error) {
	conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: socket, Net: "unixpacket"})
	if err != nil {
		return false, err
	}
	defer conn.Close()
	// The socket's path is the container's, not its run's: one that a run
	// started since made is not the init the caller means.
	if cred, err := peerCred(conn); err != nil || int(cred.Pid) != initPid {
		return false, fmt.Errorf("the exec socket %q is not the init's (%d)", socket, initPid)
	}
	conn.SetDeadline(time.Now().Add(timeout))
	b, _ := json.Marshal(ExecRequest{Signal: int(sig)})
	if _, err := conn.Write(b); err != nil {
		return false, err
	}
	buf := make([]byte, 1024)
	n, err := conn.Read(buf)
	if err != nil {
		return true, err
	}
	var r execReply
	if err := json.Unmarshal(buf[:n], &r); err != nil {
		return true, err
	}
	if r.Error != "" {
		return false, errors.New(r.Error)
	}
	return true, nil
}

// peerCred is the credentials of conn's peer (SO_PEERCRED): the process
// that connected, or that made the listening socket, as this process's
// namespaces see it.
func peerCred(conn *net.UnixConn) (*unix.Ucred, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	if cerr := raw.Control(func(fd uintptr) { cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); cerr != nil {
		return nil, cerr
	}
	return cred, err
}

// Forwarded says whether the init sends sig on to the payload when it
// gets it.
func Forwarded(sig unix.Signal) bool { return slices.Contains(initSignals, os.Signal(sig)) }

// ExecSession is a process started through a container's exec socket,
// driven by its caller: Exec for the command line, the API's exec for
// its clients.
type ExecSession struct {
	conn  *net.UnixConn
	relay *Relay
	// init is a pidfd of the socket's maker (the init, by SO_PEERCRED at
	// the dial), nil where none could be had: a session that ends without
	// the exit then says whether the container stopped or its init only
	// closed the session. Closed under initMu: Wait may read it while
	// another goroutine closes the session (the API's exec).
	initMu sync.Mutex
	init   *os.File
	// Console is the pty's master with req.TTY: the caller relays it.
	Console *os.File
}

// StartExec starts req in the container whose init listens on socket.
// Without req.TTY the process's stdio are pipes copied to and from the
// given files; with it, Console is its terminal (stdin, stdout and stderr
// are unused). Wait returns its exit code.
func StartExec(socket string, req ExecRequest, stdin, stdout, stderr *os.File) (*ExecSession, error) {
	b, _ := json.Marshal(req)
	if len(b) > maxRequest {
		err := errRequestTooLong(len(b))
		return nil, &Error{Code: 125, Msg: err.Error(), Err: err}
	}
	var reqFile *os.File
	reqSize := len(b)
	if len(b) > maxInline {
		var err error
		if reqFile, b, err = requestInFile(b); err != nil {
			return nil, &Error{Code: 125, Msg: err.Error(), Err: err}
		}
		defer reqFile.Close()
	}
	conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: socket, Net: "unixpacket"})
	if err != nil {
		return nil, &Error{Code: 125, Msg: fmt.Sprintf("reaching the container's init at %q: %v (is it running?)", socket, err), Err: err}
	}
	e := &ExecSession{conn: conn, init: peerPidfd(conn)}
	var fds []int
	if !req.TTY {
		// Pipes, never our own descriptors: a process the exec leaves
		// behind must not keep the user's terminal (stdio.go).
		if e.relay, err = NewRelay(stdin, stdout, stderr); err != nil {
			e.closeConn()
			return nil, &Error{Code: 125, Msg: err.Error(), Err: err}
		}
		child := e.relay.Child()
		fds = []int{int(child[0].Fd()), int(child[1].Fd()), int(child[2].Fd())}
	}
	if reqFile != nil {
		fds = append(fds, int(reqFile.Fd())) // last, where the init looks
	}
	var rights []byte
	if len(fds) > 0 {
		rights = unix.UnixRights(fds...)
	}
	_, _, err = conn.WriteMsgUnix(b, rights, nil)
	if e.relay != nil {
		e.relay.CloseChild()
	}
	if err != nil {
		e.Close()
		return nil, &Error{Code: 125, Msg: fmt.Sprintf("sending the exec request: %v", err), Err: err}
	}
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		e.Close()
		return nil, &Error{Code: 125, Msg: fmt.Sprintf("reading the init's answer: %v (did the container stop?)", err), Err: err}
	}
	var r execReply
	if err := json.Unmarshal(buf[:n], &r); err != nil {
		e.Close()
		return nil, &Error{Code: 125, Msg: fmt.Sprintf("reading the init's answer: %v", err), Err: err}
	}
	if r.Error != "" {
		e.Close()
		if reqFile != nil && strings.HasPrefix(r.Error, "an exec request without") {
			// An init started by an older sandbox, which knows no request
			// in a file and counted the file as a stream.
			return nil, &Error{Code: 125, Msg: fmt.Sprintf("the container's init is older than this sandbox and takes no exec request above %d KiB (this one is %d); restart the container", maxInline>>10, reqSize)}
		}
		return nil, &Error{Code: r.Code, Msg: r.Error}
	}
	if req.TTY {
		master, err := fdFromOOB(oob[:oobn])
		if err != nil {
			e.Close()
			return nil, &Error{Code: 125, Msg: err.Error(), Err: err}
		}
		e.Console = master
	}
	return e, nil
}

// Signal sends sig to the process, through its init.
func (e *ExecSession) Signal(sig unix.Signal) error {
	b, _ := json.Marshal(execControl{Signal: int(sig)})
	_, err := e.conn.Write(b)
	return err
}

// Wait returns the process's exit code once it has ended and its output
// is copied.
func (e *ExecSession) Wait() (int, error) {
	buf := make([]byte, 4096)
	reset := false
	for {
		n, err := e.conn.Read(buf)
		if errors.Is(err, unix.ECONNRESET) && !reset {
			// An init that closed with a message of ours unread (a signal
			// forwarded as the process ended; inits before endSession):
			// the read that reports the reset clears it, and the exit
			// reply, if it came, is next.
			reset = true
			continue
		}
		if err != nil {
			msg := "the container stopped before the process ended"
			if e.initAlive(initEndWait) {
				msg = "the container's init ended the exec session without the process's exit status, the container still running (`sandbox logs` of the container may say why; the exec can be run again)"
			}
			if !errors.Is(err, io.EOF) {
				msg += fmt.Sprintf(" (reading the init's reply: %v)", err)
			}
			return 0, &Error{Code: 125, Msg: msg, Err: err}
		}
		var r execReply
		if json.Unmarshal(buf[:n], &r) == nil && r.Exit != nil {
			Trace("exec: exit status read")
			if e.relay != nil {
				e.relay.Finish()
			}
			// The session is over: the init, which waits for our close
			// before its own (endSession), may go idle.
			e.closeConn()
			return *r.Exit, nil
		}
	}
}

// Close lets go of the session (the process goes on if it has not ended).
func (e *ExecSession) Close() {
	if e.relay != nil {
		e.relay.Finish()
	}
	e.closeConn()
}

// peerPidfd is a pidfd of conn's peer (SO_PEERCRED: for a dialled
// socket, the process that made the listening one), nil where there is
// none (a kernel before 5.3, a peer in no namespace of ours).
func peerPidfd(conn *net.UnixConn) *os.File {
	cred, err := peerCred(conn)
	if err != nil || cred.Pid <= 0 {
		return nil
	}
	fd, err := unix.PidfdOpen(int(cred.Pid), 0)
	if err != nil {
		return nil
	}
	return os.NewFile(uintptr(fd), "pidfd")
}

// closeConn closes the connection and the init's pidfd.
func (e *ExecSession) closeConn() {
	e.conn.Close()
	e.initMu.Lock()
	defer e.initMu.Unlock()
	if e.init != nil {
		e.init.Close()
		e.init = nil
	}
}

// initEndWait bounds how long a session that ended without the exit
// waits for the init's pidfd to say it ended. An init that is a PID
// namespace's first process closes its files (the client reads the end
// of the session) before it ends: it first kills every process of the
// namespace and waits for them, 0.2–0.8 ms in a stand-in's test. A
// variable for the test.
var initEndWait = time.Second

// initAlive says whether the init the session dialled still runs after
// up to wait: its pidfd polls readable once it has ended. Unknown (no
// pidfd) is false, the message that was always given.
func (e *ExecSession) initAlive(wait time.Duration) bool {
	e.initMu.Lock()
	if e.init == nil {
		e.initMu.Unlock()
		return false
	}
	// A copy to poll, so that a Close meanwhile closes no descriptor
	// in use.
	fd, err := unix.FcntlInt(e.init.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	e.initMu.Unlock()
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	deadline := time.Now().Add(wait)
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(max(time.Until(deadline), 0).Milliseconds()))
		switch {
		case err == unix.EINTR && time.Now().Before(deadline):
			continue
		case err != nil:
			return false
		}
		return n == 0
	}
}
