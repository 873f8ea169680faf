package runtime

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestExecError(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode int
		wantMsg  string
	}{
		{"ENOENT", syscall.ENOENT, 127, "no such file or directory"},
		{"ENOTDIR", syscall.ENOTDIR, 127, "no such file or directory"},
		{"EACCES", syscall.EACCES, 126, "permission denied"},
		{"EPERM", syscall.EPERM, 126, "operation not permitted"},
		{"ENOEXEC", syscall.ENOEXEC, 126, "exec format error"},
		{"EISDIR", syscall.EISDIR, 126, "is a directory"},
		{"other errno", syscall.E2BIG, 126, "argument list too long"},
		{"not an errno", errors.New("something odd"), 126, "something odd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// os.StartProcess wraps the errno of execve in a *PathError.
			wrapped := tt.err
			var errno syscall.Errno
			if errors.As(tt.err, &errno) {
				wrapped = &os.PathError{Op: "fork/exec", Path: "/usr/bin/tool", Err: tt.err}
			}
			err := execError("tool", wrapped)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("execError = %T %v, want *Error", err, err)
			}
			if e.Code != tt.wantCode {
				t.Errorf("code = %d, want %d (%v)", e.Code, tt.wantCode, e)
			}
			if !strings.Contains(e.Msg, `"tool"`) || !strings.Contains(e.Msg, tt.wantMsg) {
				t.Errorf("message %q, want the command name and %q", e.Msg, tt.wantMsg)
			}
			if e.Error() != e.Msg {
				t.Errorf("Error() = %q, want the message %q", e.Error(), e.Msg)
			}
		})
	}
}

// TestExecErrorFromForkExec checks the mapping against the errors the
// real syscall.ForkExec returns, which the spawner calls.
func TestExecErrorFromForkExec(t *testing.T) {
	dir := t.TempDir()
	noExec := filepath.Join(dir, "noexec")
	if err := os.WriteFile(noExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("\x00\x01\x02\x03 not a program"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		path     string
		wantCode int
	}{
		{"missing", filepath.Join(dir, "missing"), 127},   // ENOENT
		{"under a file", filepath.Join(noExec, "x"), 127}, // ENOTDIR
		{"a directory", dir, 126},                         // EACCES
		{"no execute bit, even for root", noExec, 126},    // EACCES
		{"not a program", garbage, 126},                   // ENOEXEC
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pid, err := syscall.ForkExec(tt.path, []string{tt.path}, &syscall.ProcAttr{})
			if err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
				var ws syscall.WaitStatus
				syscall.Wait4(pid, &ws, 0, nil)
				t.Fatalf("syscall.ForkExec(%q) succeeded", tt.path)
			}
			var e *Error
			if !errors.As(execError(tt.name, err), &e) || e.Code != tt.wantCode {
				t.Errorf("execError(%v) = %v, want code %d", err, e, tt.wantCode)
			}
		})
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"/mnt/plain", "/mnt/plain"},
		{"", ""},
		{`/mnt/with\040space`, "/mnt/with space"},
		{`/mnt/tab\011here`, "/mnt/tab\there"},
		{`/mnt/new\012line`, "/mnt/new\nline"},
		{`/mnt/back\134slash`, `/mnt/back\slash`},
		{`\040lead`, " lead"},
		{`trail\040`, "trail "},
		{`\040`, " "},
		{`a\040\040b`, "a  b"},
		{`a\134040`, `a\040`}, // an escaped backslash does not start an escape
		// Not escapes: kept as they are.
		{`a\04`, `a\04`},
		{`a\`, `a\`},
		{`a\9xy`, `a\9xy`},
		{`a\777`, `a\777`}, // over 255
		{`a\x41`, `a\x41`},
	}
	for _, tt := range tests {
		if got := unescapeMountinfo(tt.in); got != tt.want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLookPath(t *testing.T) {
	base := t.TempDir()
	mk := func(rel string, mode os.FileMode) string {
		p := filepath.Join(base, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noexec := filepath.Join(base, "noexec")
	mk("noexec/tool", 0o644)
	isdir := filepath.Join(base, "isdir")
	if err := os.MkdirAll(filepath.Join(isdir, "tool"), 0o755); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(base, "good")
	goodTool := mk("good/tool", 0o755)
	other := filepath.Join(base, "other")
	otherTool := mk("other/tool", 0o700)
	mk("other/grouponly", 0o010)
	links := filepath.Join(base, "links")
	if err := os.MkdirAll(links, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(goodTool, filepath.Join(links, "linked")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(base, "nowhere"), filepath.Join(links, "tool")); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(base, "missing")

	tests := []struct {
		name string
		cmd  string
		env  []string
		want string
	}{
		{"first executable wins", "tool", []string{"PATH=" + good + ":" + other}, goodTool},
		{"skips non-executables", "tool", []string{"PATH=" + noexec + ":" + other}, otherTool},
		{"skips directories", "tool", []string{"A=1", "PATH=" + isdir + ":" + good, "B=2"}, goodTool},
		{"skips missing dirs and dangling links", "tool", []string{"PATH=" + missing + ":" + links + ":" + noexec + ":" + isdir + ":" + other}, otherTool},
		{"follows symlinks", "linked", []string{"PATH=" + links}, filepath.Join(links, "linked")},
		{"any execute bit counts", "grouponly", []string{"PATH=" + other}, filepath.Join(other, "grouponly")},
		{"slash: as is", "./tool", []string{"PATH=" + good}, "./tool"},
		{"absolute: as is, even missing", "/no/such/tool", nil, "/no/such/tool"},
		{"relative with dir: as is", "sub/tool", []string{"PATH=" + good}, "sub/tool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lookPath(tt.cmd, tt.env)
			if err != nil {
				t.Fatalf("lookPath(%q, %q): %v", tt.cmd, tt.env, err)
			}
			if got != tt.want {
				t.Errorf("lookPath(%q, %q) = %q, want %q", tt.cmd, tt.env, got, tt.want)
			}
		})
	}

	notFound := []struct {
		name string
		cmd  string
		env  []string
	}{
		{"only non-executables and dirs", "tool", []string{"PATH=" + noexec + ":" + isdir + ":" + missing}},
		{"only missing directories", "tool", []string{"PATH=" + missing}},
		{"not anywhere", "no-such-command-here", []string{"PATH=" + good + ":" + other}},
		{"dangling link", "tool", []string{"PATH=" + links}},
	}
	for _, tt := range notFound {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lookPath(tt.cmd, tt.env)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("lookPath(%q, %q) = %q, %v; want an *Error", tt.cmd, tt.env, got, err)
			}
			if e.Code != 127 {
				t.Errorf("code = %d, want 127", e.Code)
			}
			if !strings.Contains(e.Msg, `"`+tt.cmd+`"`) || !strings.Contains(e.Msg, "not found in $PATH") {
				t.Errorf("message %q does not name %q and say it is not in $PATH", e.Msg, tt.cmd)
			}
		})
	}
}

func TestLookPathDefaultPath(t *testing.T) {
	defaults := []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}
	got, err := lookPath("sh", []string{"HOME=/root"})
	if err != nil {
		t.Skipf("no sh on this host's default PATH to find: %v", err)
	}
	if filepath.Base(got) != "sh" || !slices.Contains(defaults, filepath.Dir(got)) {
		t.Errorf("lookPath(sh) without PATH = %q, want sh in one of %q", got, defaults)
	}
	// The first default directory that has it.
	for _, d := range defaults {
		if st, err := os.Stat(filepath.Join(d, "sh")); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			if want := filepath.Join(d, "sh"); got != want {
				t.Errorf("lookPath(sh) = %q, want the first match %q", got, want)
			}
			break
		}
	}
}

// TestExecRequestBounds: a request above maxRequest is refused before any
// socket is reached, with the limit in the message; one above maxInline
// travels in a sealed file that the init's reader takes back whole, and
// the reader refuses anything that is not a regular file.
func TestExecRequestBounds(t *testing.T) {
	huge := ExecRequest{Args: []string{"true"}, Env: []string{"BIG=" + strings.Repeat("x", maxRequest)}}
	_, err := StartExec(filepath.Join(t.TempDir(), "no-socket"), huge, nil, nil, nil)
	var e *Error
	if !errors.As(err, &e) || e.Code != 125 || !strings.Contains(e.Msg, "the limit is 4 MiB") {
		t.Fatalf("StartExec of a %d-byte request = %v, want a 125 error naming the 4 MiB limit", maxRequest, err)
	}

	big := ExecRequest{Args: []string{"sh", "-c", "true", strings.Repeat("a", 3*maxInline)}}
	b, _ := json.Marshal(big)
	f, msg, err := requestInFile(b)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var pointer ExecRequest
	if err := json.Unmarshal(msg, &pointer); err != nil || !pointer.InFile || len(msg) > maxInline {
		t.Fatalf("the message for a file request is %q, want a short one with InFile", msg)
	}
	if _, err := f.Write([]byte("more")); err == nil {
		t.Fatal("the request's memfd took a write after it was sent: it is not sealed")
	}
	got, err := requestFromFile(f)
	if err != nil {
		t.Fatal(err)
	}
	var back ExecRequest
	if err := json.Unmarshal(got, &back); err != nil || !slices.Equal(back.Args, big.Args) {
		t.Fatalf("the request read back from its file differs (%v)", err)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := requestFromFile(r); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("requestFromFile(a pipe) = %v, want a refusal", err)
	}
	// A file its sender could still change as it is read: an unsealed
	// memfd, a plain file.
	fd, err := unix.MemfdCreate("unsealed", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		t.Fatal(err)
	}
	unsealed := os.NewFile(uintptr(fd), "unsealed")
	defer unsealed.Close()
	plain, err := os.Create(filepath.Join(t.TempDir(), "request"))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	for _, f := range []*os.File{unsealed, plain} {
		f.Write(b)
		if _, err := requestFromFile(f); err == nil || !strings.Contains(err.Error(), "not a sealed memfd") {
			t.Errorf("requestFromFile(%s) = %v, want a refusal", f.Name(), err)
		}
	}
}

// TestLazyDrop: the drop runs once the delay has passed since the last
// kick, not while kicks keep coming, and again after a later kick.
func TestLazyDrop(t *testing.T) {
	var drops atomic.Int32
	d := newLazyDrop(time.Second, func() { drops.Add(1) })
	for range 20 {
		d.kick()
		time.Sleep(10 * time.Millisecond)
	}
	if n := drops.Load(); n != 0 {
		t.Fatalf("%d drops while kicks came every 10 ms, want none", n)
	}
	waitDrops := func(want int32) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for drops.Load() < want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := drops.Load(); n != want {
			t.Fatalf("%d drops, want %d", n, want)
		}
	}
	waitDrops(1)
	time.Sleep(1500 * time.Millisecond)
	if n := drops.Load(); n != 1 {
		t.Fatalf("%d drops with no kick since the first, want 1", n)
	}
	d.kick()
	waitDrops(2)
}

// A signal request on the exec socket reaches the payload (the signal
// the CLI's stop and kill send this way: one sent to the init itself is
// lost as it changes stage); one the init does not forward is refused.
func TestSignalRequest(t *testing.T) {
	defer restoreExecOwner(execOwner)
	execOwner = uint32(os.Getuid())
	sock := filepath.Join(t.TempDir(), "exec.sock")
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: sock, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	payload := exec.Command("sleep", "30")
	if err := payload.Start(); err != nil {
		l.Close()
		t.Skip("no sleep to signal:", err)
	}
	defer payload.Process.Kill()
	done := make(chan struct{})
	go func() {
		serveExec(l, &Spec{}, nil, payload.Process.Pid)
		close(done)
	}()
	defer func() {
		l.Close()
		<-done
	}()
	me := os.Getpid() // the listener's creator, as the init is
	if asked, err := SignalPayload(sock, me, unix.SIGKILL, 5*time.Second); asked || err == nil {
		t.Errorf("a request for SIGKILL, which the init does not forward: asked %v, %v; want a refusal", asked, err)
	}
	if asked, err := SignalPayload(sock, me+1, unix.SIGTERM, 5*time.Second); asked || err == nil {
		t.Errorf("a request to a socket that is not the given init's: asked %v, %v; want none made", asked, err)
	}
	if asked, err := SignalPayload(sock, me, unix.SIGTERM, 5*time.Second); !asked || err != nil {
		t.Fatalf("SignalPayload(SIGTERM): asked %v, %v", asked, err)
	}
	st, _ := payload.Process.Wait()
	if ws := st.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != unix.SIGTERM {
		t.Errorf("the payload ended %v, want killed by SIGTERM", st)
	}
}

// execPair is an exec socket's two ends, as the init accepts and the
// client dials them.
func execPair(t *testing.T) (init, client *net.UnixConn) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "exec.sock")
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: sock, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: sock, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	if init, err = l.AcceptUnix(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { init.Close(); client.Close() })
	return init, client
}

// An init that closes the session with a message of the client's unread
// (a signal forwarded as the process ended) leaves the client a reset
// before the exit reply: Wait reads on, and gets the exit code.
func TestExecWaitAfterReset(t *testing.T) {
	init, client := execPair(t)
	if _, err := client.Write([]byte(`{"signal":28}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := init.Write([]byte(`{"exit":7}`)); err != nil {
		t.Fatal(err)
	}
	init.Close() // the signal unread
	code, err := (&ExecSession{conn: client}).Wait()
	if err != nil || code != 7 {
		t.Fatalf("Wait = %d, %v; want 7", code, err)
	}
}

// The init's end of a session waits for the client's close once the
// exit reply is sent (endSession): a signal the client sent meanwhile is
// read, and the client reads the reply with no reset, whatever its
// version.
func TestEndSessionWaitsForClient(t *testing.T) {
	init, client := execPair(t)
	signals := make(chan unix.Signal, 1)
	controls := readControls(init, func(sig unix.Signal) { signals <- sig })
	if _, err := client.Write([]byte(`{"signal":28}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := init.Write([]byte(`{"exit":0}`)); err != nil {
		t.Fatal(err)
	}
	ended := make(chan struct{})
	go func() {
		endSession(init, controls)
		init.Close()
		close(ended)
	}()
	buf := make([]byte, 512)
	n, err := client.Read(buf) // a raw read, no retry: an older client's
	if err != nil || string(buf[:n]) != `{"exit":0}` {
		t.Fatalf("the client read %q, %v; want the exit reply", buf[:n], err)
	}
	// It must not end while the client is open. (The bound only gives an
	// end that does not wait the time to show itself; one that waits
	// cannot end here whatever the machine's speed.)
	select {
	case <-ended:
		t.Fatalf("the session ended before its client closed")
	case <-time.After(100 * time.Millisecond):
	}
	client.Close()
	<-ended
	select {
	case got := <-signals:
		if got != unix.SIGWINCH {
			t.Errorf("the init read signal %v, want the client's SIGWINCH", got)
		}
	default:
		t.Errorf("the init closed the session with the client's signal unread")
	}
}

// A control message's signal reaches an exec'd process only while its
// status is not delivered: after that its pid may be another process's.
func TestSpawnerSignalOnlyOwnProcess(t *testing.T) {
	start := func() *exec.Cmd {
		c := exec.Command("sleep", "30")
		if err := c.Start(); err != nil {
			t.Skip("no sleep to signal:", err)
		}
		return c
	}
	ours, other := start(), start()
	sp := &spawner{exits: map[int]chan unix.WaitStatus{ours.Process.Pid: make(chan unix.WaitStatus, 1)}}
	sp.signal(ours.Process.Pid, unix.SIGTERM)
	if st, _ := ours.Process.Wait(); !st.Sys().(syscall.WaitStatus).Signaled() {
		t.Errorf("the process the spawner started ended %v, want killed by SIGTERM", st)
	}
	// other's pid, as a delivered one's might be by now: the spawner's
	// SIGUSR1 would end it before (or, pending with it, instead of) the
	// SIGTERM sent after.
	sp.signal(other.Process.Pid, unix.SIGUSR1)
	other.Process.Signal(syscall.SIGTERM)
	if st, _ := other.Process.Wait(); st.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("a process the spawner has no record of ended %v, want killed by SIGTERM alone", st)
	}
}

// restoreExecOwner sets execOwner back to o once the sessions'
// goroutines, which read it, are done.
func restoreExecOwner(o uint32) {
	for deadline := time.Now().Add(5 * time.Second); execsActive.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	execOwner = o
}

// signalServer is an exec server (execServer) on a fresh socket, for a
// payload of sleep that a signal request ends.
func signalServer(t *testing.T) (*execServer, string, *exec.Cmd) {
	t.Helper()
	t.Cleanup(func(o uint32) func() { return func() { restoreExecOwner(o) } }(execOwner))
	execOwner = uint32(os.Getuid())
	sock := filepath.Join(t.TempDir(), "exec.sock")
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: sock, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	payload := exec.Command("sleep", "30")
	if err := payload.Start(); err != nil {
		t.Skip("no sleep to signal:", err)
	}
	t.Cleanup(func() { payload.Process.Kill(); payload.Wait() })
	return &execServer{l: l, spec: &Spec{}, pid: payload.Process.Pid}, sock, payload
}

// Stopping and starting the exec server (an idle move undone) keeps one
// lazyDrop, whose goroutine and timer live as long as the process.
func TestExecServerRestartKeepsOneDrop(t *testing.T) {
	drops := func() int {
		buf := make([]byte, 1<<20)
		return strings.Count(string(buf[:goruntime.Stack(buf, true)]), "runtime.newLazyDrop.func1")
	}
	before := drops() // other tests' own, and this process's if made
	ex, sock, _ := signalServer(t)
	for i := 0; i < 3; i++ {
		ex.start()
		// A refused request is served all the same: the exec's goroutine
		// kicks the drop.
		if asked, err := SignalPayload(sock, os.Getpid(), unix.SIGKILL, 5*time.Second); asked || err == nil {
			t.Fatalf("SIGKILL request: asked %v, %v; want a refusal", asked, err)
		}
		ex.stop()
	}
	// The exec goroutines kick after their reply: give them the time.
	for deadline := time.Now().Add(5 * time.Second); execsActive.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if n := drops() - before; n > 1 {
		t.Fatalf("%d lazyDrop goroutines more after three starts of the exec server, want at most 1", n)
	}
}

// An accept that fails for want of a descriptor does not end the exec
// server: the connection waits in the backlog, and is served once one is
// free.
func TestServeExecAfterAcceptError(t *testing.T) {
	ex, sock, payload := signalServer(t)
	failed := make(chan error, 1)
	afterAcceptError = func(err error) {
		select {
		case failed <- err:
		default:
		}
	}
	defer func() { afterAcceptError = nil }()
	ex.start()
	defer ex.stop()
	// No descriptor left for the accept: the limit at the lowest free
	// number, below which every number is taken. The limit is the
	// process's: this package's tests run one at a time (none calls
	// t.Parallel), and it is set back as soon as the accept has failed.
	// Set back, it is the raised limit Go started this process with,
	// and children of later tests get it (Go would otherwise give them
	// the one this process was started with); none of them looks.
	var old unix.Rlimit
	if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, nil, &old); err != nil {
		t.Fatal(err)
	}
	// One connection, its accept failed; tried again where a descriptor
	// below the limit was freed meanwhile (a finalizer's close) and the
	// accept took that one.
	fd := -1
	for try := 0; try < 3 && fd < 0; try++ {
		select { // a late failure of the try before
		case <-failed:
		default:
		}
		c, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		free := 0
		for {
			if _, err := unix.FcntlInt(uintptr(free), unix.F_GETFD, 0); errors.Is(err, unix.EBADF) {
				break
			}
			free++
		}
		low := old
		low.Cur = uint64(free)
		if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, &low, nil); err != nil {
			t.Fatal(err)
		}
		err = unix.Connect(c, &unix.SockaddrUnix{Name: sock})
		var acceptErr error
		if err == nil {
			select {
			case acceptErr = <-failed:
			case <-time.After(time.Second):
			}
		}
		if rerr := unix.Prlimit(0, unix.RLIMIT_NOFILE, &old, nil); rerr != nil {
			t.Fatal(rerr)
		}
		if err != nil {
			t.Fatal(err)
		}
		if errors.Is(acceptErr, unix.EMFILE) {
			fd = c
			break
		}
		t.Logf("try %d: the accept did not fail for want of a descriptor (%v)", try, acceptErr)
		unix.Close(c)
	}
	if fd < 0 {
		t.Fatal("the accept never failed for want of a descriptor: nothing tested")
	}
	f := os.NewFile(uintptr(fd), "client")
	defer f.Close()
	b, _ := json.Marshal(ExecRequest{Signal: int(unix.SIGTERM)})
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	reply := make(chan string, 1)
	go func() {
		buf := make([]byte, 1024)
		n, _ := f.Read(buf)
		reply <- string(buf[:max(n, 0)])
	}()
	select {
	case r := <-reply:
		if strings.Contains(r, "error") {
			t.Fatalf("reply %s", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reply: the exec server stopped at the failed accept")
	}
	st, _ := payload.Process.Wait()
	if ws := st.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != unix.SIGTERM {
		t.Errorf("the payload ended %v, want killed by SIGTERM", st)
	}
}

// A session that ends without the exit reply says whether the init it
// dialled still runs: "the container stopped" only where it does not,
// and where it ends soon after the session (a PID namespace's init
// closes its files before it has ended).
func TestExecWaitSaysWhetherInitRuns(t *testing.T) {
	defer func(w time.Duration) { initEndWait = w }(initEndWait)
	initEndWait = 500 * time.Millisecond
	pidfdOf := func(argv ...string) (*os.File, *exec.Cmd) {
		c := exec.Command(argv[0], argv[1:]...)
		if err := c.Start(); err != nil {
			t.Skip("cannot start", argv, err)
		}
		fd, err := unix.PidfdOpen(c.Process.Pid, 0)
		if err != nil {
			t.Skip("no pidfd here:", err)
		}
		return os.NewFile(uintptr(fd), "pidfd"), c
	}
	running, sleeper := pidfdOf("sleep", "30")
	defer sleeper.Wait()
	defer sleeper.Process.Kill()
	gone, g := pidfdOf("true")
	g.Wait()
	for _, c := range []struct {
		name string
		init func() *os.File
		want string
	}{
		{"init running", func() *os.File { return running }, "the container still running"},
		{"init gone", func() *os.File { return gone }, "the container stopped before the process ended"},
		{"init ending after the session", func() *os.File {
			f, c := pidfdOf("sleep", "0.15")
			go c.Wait()
			return f
		}, "the container stopped before the process ended"},
		{"init unknown", func() *os.File { return nil }, "the container stopped before the process ended"},
	} {
		t.Run(c.name, func(t *testing.T) {
			init, client := execPair(t)
			init.Close() // no exit reply
			e := &ExecSession{conn: client, init: c.init()}
			defer e.Close()
			_, err := e.Wait()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Wait: %v; want an error saying %q", err, c.want)
			}
		})
	}
	// StartExec's pidfd is of the socket's maker: here, this process.
	_, client := execPair(t)
	f := peerPidfd(client)
	if f == nil {
		t.Fatal("no pidfd of the listening socket's maker")
	}
	e := &ExecSession{conn: client, init: f}
	defer e.Close()
	if !e.initAlive(0) {
		t.Error("the listening socket's maker, this process, reads as ended")
	}
}
