package bridge

import (
	"github.com/sandbox-dev/sandbox/network/endpoint"

	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// SearchDomain is the domain the members' names are also answered in; a
// member's /etc/resolv.conf searches it, so that a short name is answered
// by the switch before any query leaves the network.
const SearchDomain = "dns.sandbox"

// Interface is the name of a container's n-th network's interface (eth0 is
// its private network helper's).
func Interface(n int) string { return fmt.Sprintf("eth%d", n+1) }

// Network is what the switch of one network needs to know.
type Network struct {
	// Key names the switch's socket and lock: unique per network made
	// (its ID), so that two stores' networks of one name stay apart.
	Key     string
	Name    string
	Subnet  netip.Prefix
	Gateway netip.Addr
}

// Member is a container joining a network.
type Member struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Aliases []string `json:"aliases,omitempty"`
}

// Endpoint is a member's place on a network (package endpoint, which the
// container's state records too).
type Endpoint = endpoint.Endpoint

// request and reply are the messages on the switch's socket, one per
// SOCK_SEQPACKET datagram.
type request struct {
	Op     string  `json:"op"` // "join", then "attach" with the tap and a pidfd; "leave"
	Member *Member `json:"member,omitempty"`
}

type reply struct {
	Endpoint *Endpoint `json:"endpoint,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// Paths are where a network's switch listens and locks, in dir (the
// user's runtime directory for networks).
func socketPath(dir, key string) string { return filepath.Join(dir, key+".sock") }
func lockPath(dir, key string) string   { return filepath.Join(dir, key+".lock") }

// Lease is a member's reservation on a network, held by its connection to
// the switch: an address kept for it until Attach hands over its tap (the
// switch then follows the container's init), or Close gives it back.
type Lease struct {
	fd       int
	Endpoint Endpoint
}

// Starter starts the switch of a network, detached, and returns once it
// listens (runtime.StartSwitch).
type Starter func(dir string, n Network) error

// Join reserves an address for m on network n, starting its switch when
// none runs. The lock keeps a joining container and a switch about to
// exit apart: the switch exits only while it holds the lock and has no
// member and no connection.
func Join(dir string, n Network, m Member, start Starter) (*Lease, error) {
	lock, err := os.OpenFile(lockPath(dir, n.Key), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", n.Name, err)
	}
	defer lock.Close() // releases the lock
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return nil, fmt.Errorf("locking network %s: %w", n.Name, err)
	}
	fd, err := dial(socketPath(dir, n.Key))
	if err != nil {
		if err := start(dir, n); err != nil {
			return nil, fmt.Errorf("starting the switch of network %s: %w", n.Name, err)
		}
		if fd, err = dial(socketPath(dir, n.Key)); err != nil {
			return nil, fmt.Errorf("reaching the switch of network %s: %w", n.Name, err)
		}
	}
	l := &Lease{fd: fd}
	var r reply
	if err := l.call(request{Op: "join", Member: &m}, nil, &r); err != nil {
		l.Close()
		return nil, fmt.Errorf("joining network %s: %w", n.Name, err)
	}
	if r.Error != "" || r.Endpoint == nil {
		l.Close()
		return nil, fmt.Errorf("joining network %s: %s", n.Name, r.Error)
	}
	l.Endpoint = *r.Endpoint
	return l, nil
}

func dial(path string) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// Attach hands the member's tap to the switch, with a pidfd of the
// container's init: the member stays on the network until that process
// exits. The lease is done with then.
func (l *Lease) Attach(tap *os.File, initPid int) error {
	pidfd, err := unix.PidfdOpen(initPid, 0)
	if err != nil {
		return fmt.Errorf("following the container's init (pid %d): %w", initPid, err)
	}
	defer unix.Close(pidfd)
	var r reply
	if err := l.call(request{Op: "attach"}, []int{int(tap.Fd()), pidfd}, &r); err != nil {
		return fmt.Errorf("attaching to network %s: %w", l.Endpoint.Network, err)
	}
	if r.Error != "" {
		return fmt.Errorf("attaching to network %s: %s", l.Endpoint.Network, r.Error)
	}
	return nil
}

// Close ends the connection: a reservation not attached is given back.
func (l *Lease) Close() {
	if l.fd >= 0 {
		unix.Close(l.fd)
		l.fd = -1
	}
}

func (l *Lease) call(req request, fds []int, r *reply) error {
	b, _ := json.Marshal(req)
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if err := retryEINTR(func() error { return unix.Sendmsg(l.fd, b, oob, nil, 0) }); err != nil {
		return err
	}
	// The switch answers at once; a switch that hangs must not hang a
	// start: 10 s in all, however many signals interrupt the wait.
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 4096)
	var n int
	err := retryEINTR(func() (err error) {
		left := time.Until(deadline)
		if left <= 0 {
			return unix.EAGAIN
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		unix.SetsockoptTimeval(l.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		n, _, _, _, err = unix.Recvmsg(l.fd, buf, nil, 0)
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return errors.New("the switch closed the connection")
	}
	return json.Unmarshal(buf[:n], r)
}

// Leave takes container id off network n: its switch closes its tap, and
// the interface goes from the container. A network whose switch is not
// running has no members to take off.
func Leave(dir string, n Network, id string) error {
	fd, err := dial(socketPath(dir, n.Key))
	if err != nil {
		return nil
	}
	l := &Lease{fd: fd}
	defer l.Close()
	var r reply
	if err := l.call(request{Op: "leave", Member: &Member{ID: id}}, nil, &r); err != nil {
		return fmt.Errorf("leaving network %s: %w", n.Name, err)
	}
	if r.Error != "" {
		return fmt.Errorf("leaving network %s: %s", n.Name, r.Error)
	}
	return nil
}

// retryEINTR runs call again while a signal interrupts it. A socket with a
// receive timeout (SO_RCVTIMEO) is never restarted by the kernel after a
// signal handler ran, SA_RESTART or not (signal(7)), and Go's runtime
// signals its threads (preemption, SIGCHLD): a slow answer from the
// switch failed a start with "interrupted system call".
func retryEINTR(call func() error) error {
	for {
		if err := call(); err != unix.EINTR {
			return err
		}
	}
}
