package bridge

import (
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCallInterrupted: a call to the switch survives signals while it
// waits for the answer. Its socket has a receive timeout, and the kernel
// then never restarts a receive a signal interrupted: a slow answer under
// a signal failed a start with "interrupted system call".
func TestCallInterrupted(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	l := &Lease{fd: fds[0]}
	defer l.Close()
	// The switch: it answers after 300 ms.
	go func() {
		buf := make([]byte, 4096)
		unix.Read(fds[1], buf)
		time.Sleep(300 * time.Millisecond)
		unix.Write(fds[1], []byte(`{"error":"none"}`))
	}()
	// Meanwhile signals, one a millisecond, to this process: some land on
	// the thread waiting in recvmsg.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				syscall.Kill(os.Getpid(), syscall.SIGCHLD)
			}
		}
	}()
	var r reply
	if err := l.call(request{Op: "ping"}, nil, &r); err != nil {
		t.Fatalf("the call failed under signals: %v", err)
	}
	if r.Error != "none" {
		t.Fatalf("the answer is %+v, want the switch's", r)
	}
}
