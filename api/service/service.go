package service

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/api/apibin"
	"github.com/sandbox-dev/sandbox/api/backend"
	"github.com/sandbox-dev/sandbox/program"
	"github.com/sandbox-dev/sandbox/transfer/wire"
)

// blob is the API server's program; its installed copy is api-<digest>.
var blob = program.Blob{Name: "api", Program: "sandbox-api", Gzipped: apibin.Gzipped, Digest: apibin.Digest}

// Listen makes the unix socket at uri (unix:///path, or a path): its
// directory made 0700 if missing, a stale socket replaced, the socket
// 0600. Only a unix socket: a TCP port would serve every local user. It
// returns the socket and its path (for Options.Unlink).
func Listen(uri string) (*os.File, string, error) {
	path, ok := strings.CutPrefix(uri, "unix://")
	if !ok && strings.Contains(uri, "://") {
		return nil, "", fmt.Errorf("%q: only unix:///PATH is served (a TCP port would let every user of this machine drive your containers)", uri)
	}
	if !filepath.IsAbs(path) {
		return nil, "", fmt.Errorf("%q: give an absolute socket path, like unix:///run/user/1000/sandbox/sandbox.sock", uri)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, "", err
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, "", fmt.Errorf("%s: a service already listens there", path)
	}
	os.Remove(path)
	old := unix.Umask(0o177)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	unix.Umask(old)
	if err != nil {
		return nil, "", fmt.Errorf("listening on %s: %w", path, err)
	}
	// The program serves it from now on; removing it stays ours
	// (Options.Unlink).
	l.SetUnlinkOnClose(false)
	f, err := l.File()
	l.Close()
	if err != nil {
		return nil, "", fmt.Errorf("listening on %s: %w", path, err)
	}
	return f, path, os.Chmod(path, 0o600)
}

// Activated returns the socket systemd passed this process (socket
// activation, sd_listen_fds(3): LISTEN_PID names this process and
// LISTEN_FDS counts the descriptors, from 3 on), or nil when it passed
// none. The protocol is read here rather than with go-systemd's
// activation package, which links crypto/tls into every start of the
// CLI for a helper this does not use.
func Activated() (*os.File, error) {
	pid, _ := strconv.Atoi(os.Getenv("LISTEN_PID"))
	n, _ := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	// Not for the processes this one starts, whoever they were meant for.
	for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		os.Unsetenv(v)
	}
	if pid != os.Getpid() || n == 0 {
		return nil, nil
	}
	if n > 1 {
		return nil, fmt.Errorf("systemd passed %d sockets: the service listens on one (a socket unit with one ListenStream=)", n)
	}
	const first = 3 // SD_LISTEN_FDS_START
	if _, err := unix.FcntlInt(first, unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return nil, fmt.Errorf("the socket systemd passed: %w", err)
	}
	return os.NewFile(first, "activated"), nil
}

// Options are the service's: its store, how long it waits idle (0:
// for ever), sandbox's version for /version, and where the program is
// installed (the user's runtime directory).
type Options struct {
	Backend *backend.Backend
	Idle    time.Duration
	Version string
	RunDir  string
	// Unlink is the socket's path when Listen made it: removed when the
	// service ends.
	Unlink string
}

// Run serves the API on the listening socket l until the idle time
// passes (or for ever), and closes l.
func Run(l *os.File, o Options) error {
	defer l.Close()
	if o.Unlink != "" {
		defer os.Remove(o.Unlink)
	}
	if !blob.Available() {
		return serveInProcess(l, o)
	}
	cmd, local, err := blob.StartWithSocket(o.RunDir, []string{strconv.Itoa(int(o.Idle / time.Second)), o.Version}, []string{}, l)
	if err != nil {
		return err
	}
	l.Close()
	srv := &backend.Server{B: o.Backend}
	peer := wire.NewPeer(local, srv.Handle)
	peer.Start()
	err = cmd.Wait()
	peer.Close()
	if err != nil {
		return fmt.Errorf("the API program: %w", err)
	}
	return nil
}
