package runtime

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestIsPidfdOf: the health checker trusts the pidfd number in its
// arguments only if that descriptor is a pidfd of the init it names.
func TestIsPidfdOf(t *testing.T) {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		t.Skipf("pidfd_open: %v", err)
	}
	defer unix.Close(fd)
	if !isPidfdOf(fd, os.Getpid()) {
		t.Errorf("a pidfd of this process is not taken as one")
	}
	if isPidfdOf(fd, os.Getppid()) {
		t.Errorf("a pidfd of this process is taken as one of its parent")
	}
	if isPidfdOf(-1, os.Getpid()) {
		t.Errorf("descriptor -1 is taken as a pidfd")
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isPidfdOf(int(f.Fd()), os.Getpid()) {
		t.Errorf("%s is taken as a pidfd", os.DevNull)
	}
}
