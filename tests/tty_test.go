package tests

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a new pseudo-terminal pair of the host's devpts.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening the pty slave: %v", err)
	}
	return m, s
}

// readTerminal reads everything the terminal shows, until the last slave
// closes; the returned function waits for that (up to 5 s) and returns it.
func readTerminal(master *os.File) func() string {
	var out bytes.Buffer
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return // EIO once no slave is open
			}
		}
	}()
	return func() string {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		mu.Lock()
		defer mu.Unlock()
		return out.String()
	}
}

// TestTTY: with -it the payload gets a terminal of the container's own
// devpts, sized like the user's, and the user's terminal is put back as it
// was when sandbox exits.
func TestTTY(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		bb := u.bb(t)
		master, slave := openPTY(t)
		if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120}); err != nil {
			t.Fatal(err)
		}
		before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if before.Lflag&(unix.ICANON|unix.ECHO) != unix.ICANON|unix.ECHO {
			t.Fatalf("a fresh pty is not in canonical mode with echo (lflag %#x)", before.Lflag)
		}
		slaveName := slave.Name()

		screen := readTerminal(master)

		cli := u.startWith(t, runOpts{tty: slave}, "run", "--rm", "-it", bb, "sh", "-c", "stty size; tty")
		slave.Close() // the child has its own copies
		r, ok := cli.wait(defaultTimeout)
		shown := screen()
		if !ok {
			t.Fatalf("sandbox run -it timed out; the terminal showed %q", shown)
		}
		if r.code != 0 {
			t.Fatalf("sandbox run -it exited %d; the terminal showed %q", r.code, shown)
		}
		for _, want := range []string{"40 120", "/dev/pts/0"} {
			if !strings.Contains(shown, want) {
				t.Errorf("the terminal lacks %q; it showed %q", want, shown)
			}
		}

		// The CLI made the terminal raw; it must have restored it.
		s, err := os.OpenFile(slaveName, os.O_RDWR|syscall.O_NOCTTY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		after, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if after.Lflag&(unix.ICANON|unix.ECHO) != unix.ICANON|unix.ECHO {
			t.Errorf("the terminal was left without ICANON/ECHO after exit (lflag %#x, was %#x)", after.Lflag, before.Lflag)
		}
		if after.Iflag != before.Iflag || after.Oflag != before.Oflag || after.Cflag != before.Cflag || after.Lflag != before.Lflag || after.Cc != before.Cc {
			t.Errorf("the terminal's settings changed across sandbox run -it:\nbefore %+v\nafter  %+v", *before, *after)
		}
	})
}
