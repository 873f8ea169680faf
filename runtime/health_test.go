package runtime

import (
	"os"
	"sync"
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

// TestRecordHealthConcurrent: results recorded at once (the checker and
// `healthcheck run`) are all counted: none is lost to another's rewrite.
func TestRecordHealthConcurrent(t *testing.T) {
	dir := t.TempDir()
	const n = 20
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Go(func() { recordHealth(dir, HealthLog{ExitCode: 1, Output: "failed"}, 100, false) })
	}
	wg.Wait()
	h := ReadHealth(dir)
	if h == nil || h.FailingStreak != n || len(h.Log) != 5 {
		t.Fatalf("after %d failures recorded at once: %+v; want a streak of %d and the last 5 kept", n, h, n)
	}
}
