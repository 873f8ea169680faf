package network

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The addresses inside a private network, the same with either helper
// (slirp4netns's defaults; pasta is told to use them).
const (
	ContainerIP  = "10.0.2.100"
	PrefixLen    = 24
	HostLoopback = "10.0.2.2" // the gateway; connections to it reach the host's 127.0.0.1
	DNS          = "10.0.2.3" // forwards to the host's resolvers
	Interface    = "eth0"
	MTU          = 65520
)

// HostAlias is the name /etc/hosts gives HostLoopback, as podman's.
const HostAlias = "host.containers.internal"

// Helper is a user-mode network stack.
type Helper string

const (
	Pasta       Helper = "pasta"
	Slirp4netns Helper = "slirp4netns"
)

// ErrNoHelper means neither helper is installed.
var ErrNoHelper = errors.New("no user-mode network helper")

// Modes are the values of --net that make a private network: "slirp"
// takes pasta when installed, else slirp4netns; the others force one.
// A setting that names user-defined networks is private too (mode.go).
func IsPrivate(mode string) bool {
	mode = Mode(mode)
	return mode == "slirp" || mode == string(Pasta) || mode == string(Slirp4netns)
}

// Find returns the helper a network mode uses and its path. "slirp" takes
// pasta, else slirp4netns; but when a udp port is published on a loopback
// address slirp4netns goes first, because pasta (Debian 12's, 2023-03-09)
// delivers datagrams from the host's loopback but never their replies.
func Find(mode string, ports []Port) (Helper, string, error) {
	mode = Mode(mode)
	candidates := []Helper{Pasta, Slirp4netns}
	if LoopbackUDP(ports) {
		candidates = []Helper{Slirp4netns, Pasta}
	}
	if mode != "slirp" {
		candidates = []Helper{Helper(mode)}
	}
	for _, h := range candidates {
		if p, err := exec.LookPath(string(h)); err == nil {
			return h, p, checkTun()
		}
	}
	switch mode {
	case string(Pasta):
		return "", "", fmt.Errorf("%w: --net pasta needs pasta in $PATH: install the passt package (apt-get install passt), or use --net slirp", ErrNoHelper)
	case string(Slirp4netns):
		return "", "", fmt.Errorf("%w: --net slirp4netns needs slirp4netns in $PATH: install the slirp4netns package, or use --net slirp", ErrNoHelper)
	}
	return "", "", fmt.Errorf("%w: --net slirp needs pasta or slirp4netns in $PATH: install the passt package (apt-get install passt) or the slirp4netns package, or use --net host", ErrNoHelper)
}

// LoopbackUDP reports whether a udp port is published on a loopback
// address (127.0.0.1 by default), where pasta loses the replies.
func LoopbackUDP(ports []Port) bool {
	for _, p := range ports {
		if ip := net.ParseIP(p.HostIP); p.Proto == "udp" && ip != nil && ip.IsLoopback() {
			return true
		}
	}
	return false
}

// tunPath is the device both helpers make the sandbox's interface with.
var tunPath = "/dev/net/tun"

// checkTun says, before anything starts, what the helper would otherwise
// report as a bare "Failed to open tun socket": udev makes the device
// 0666, but a machine without udev leaves it to root.
func checkTun() error {
	f, err := os.OpenFile(tunPath, os.O_RDWR, 0)
	switch {
	case err == nil:
		f.Close()
		return nil
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%s is not usable by you, and pasta and slirp4netns need it: ask root to run `chmod 0666 %s` (what udev does by default), or use --net host", tunPath, tunPath)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s does not exist, and pasta and slirp4netns need it: ask root to load the tun module (modprobe tun), or use --net host", tunPath)
	}
	return fmt.Errorf("opening %s, which pasta and slirp4netns need: %w", tunPath, err)
}

// Options say which sandbox to connect.
type Options struct {
	Helper Helper
	Path   string // the helper's binary
	// Pid is the sandbox's init, in this process's PID namespace; the
	// helper joins its user and network namespaces.
	Pid int
	// Dir is a private directory for the helper's pid file or API socket.
	Dir   string
	Ports []Port
	// Cancel, when closed, makes Start give up (the sandbox ended first).
	Cancel <-chan struct{}
	// StartOn, when set, runs the helper's start on the thread the
	// sandbox's init was started from (runtime's Options.Network gives
	// it): the helper's parent-death signal is then tied to that thread,
	// which outlives the exec of a detached sandbox's monitor into its
	// watcher. Without it the helper is started from a thread of its own.
	StartOn func(func())
}

// ErrCanceled is a start given up because Options.Cancel was closed.
var ErrCanceled = errors.New("the sandbox ended before its network was up")

func canceled(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Running is a started helper.
type Running struct {
	Helper Helper
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
	// release lets the goroutine holding the locked thread that started
	// the helper end; see start.
	release chan struct{}
	extra   []*os.File // our ends of the helper's pipes (slirp4netns)
}

// readyTimeout bounds how long a helper may take to configure the
// namespace; pasta takes 150-250 ms on a loaded 2-core machine.
const readyTimeout = 20 * time.Second

// Start runs the helper against the sandbox's namespaces and returns once
// the sandbox's interface is configured and every port is published. On
// error nothing is left running.
func Start(o Options) (*Running, error) {
	switch o.Helper {
	case Pasta:
		return startPasta(o)
	case Slirp4netns:
		return startSlirp(o)
	}
	return nil, fmt.Errorf("unknown network helper %q", o.Helper)
}

// start runs cmd with the parent-death signal set, from a locked OS
// thread that stays alive until Stop: the kernel sends the signal when
// the thread that forked the child exits, not the process
// (go.dev/issue/27505). So if this process is SIGKILLed, the helper goes
// with it.
func start(h Helper, cmd *exec.Cmd, startOn func(func())) (*Running, error) {
	r := &Running{Helper: h, cmd: cmd, stderr: &lockedBuffer{}, done: make(chan struct{}), release: make(chan struct{})}
	cmd.Stderr = r.stderr
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	// Its own process group: a ^C at the user's terminal reaches the
	// sandbox through the init's signal relay, never the helper directly.
	cmd.SysProcAttr.Setpgid = true
	started := make(chan error, 1)
	if startOn != nil {
		startOn(func() { started <- cmd.Start() })
	} else {
		go func() {
			goruntime.LockOSThread()
			err := cmd.Start()
			started <- err
			if err != nil {
				return
			}
			<-r.release
		}()
	}
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting %s: %w", h, err)
	}
	go func() {
		cmd.Wait()
		close(r.done)
	}()
	return r, nil
}

// Stop ends the helper (SIGTERM, then SIGKILL after a second) and waits
// for it. It is safe to call more than once.
func (r *Running) Stop() {
	if r == nil {
		return
	}
	select {
	case <-r.done:
	default:
		r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(time.Second):
			r.cmd.Process.Kill()
			<-r.done
		}
	}
	for _, f := range r.extra {
		f.Close()
	}
	r.extra = nil
	select {
	case <-r.release:
	default:
		close(r.release)
	}
}

// Pid is the helper's process ID.
func (r *Running) Pid() int { return r.cmd.Process.Pid }

// Files are this process's ends of the helper's pipes: while one is open
// the helper runs (slirp4netns's exit pipe).
func (r *Running) Files() []*os.File { return r.extra }

// failed stops the helper and returns err with what it printed.
func (r *Running) failed(err error) error {
	r.Stop()
	if msg := r.stderr.Text(); msg != "" {
		return fmt.Errorf("%w: %s", err, msg)
	}
	return err
}

// exited reports whether the helper has ended.
func (r *Running) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// lockedBuffer collects a helper's stderr, at most 64 KiB of it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := 64<<10 - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// Text is the end of what the helper printed (its last three lines: the
// error is last, slirp4netns logs its whole set-up before it), without
// pasta's complaints that it has no syslog to write to, on one line.
func (l *lockedBuffer) Text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var lines []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || (strings.HasPrefix(line, "Failed to send") && strings.HasSuffix(line, "to syslog")) {
			continue
		}
		lines = append(lines, line)
	}
	return strings.Join(lines[max(0, len(lines)-3):], "; ")
}
