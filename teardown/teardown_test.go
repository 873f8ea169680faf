package teardown

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/internal/endthread"
)

// kcmpVM is KCMP_VM of linux/kcmp.h, which x/sys does not name.
const kcmpVM = 1

// helperEnv makes the test binary a process that calls Defer, prints the
// holder's pid, and exits once its stdin closes. With "thread", Defer is
// called on a thread that then exits, as exit_group ends the thread that
// calls it before the process's other threads: the holder must outlive
// that thread.
const helperEnv = "TEARDOWN_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		pid, err := helperDefer(mode == "thread")
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(pid)
		bufio.NewReader(os.Stdin).ReadString('\n')
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperDefer calls Defer; threadOwn: on a thread of its own, returned
// once that thread is gone.
func helperDefer(threadOwn bool) (int, error) {
	if !threadOwn {
		return Defer()
	}
	var pid int
	var err error
	if terr := endthread.Run(func() { pid, err = Defer() }); terr != nil {
		return 0, terr
	}
	return pid, err
}

// The holder shares the helper's memory, holds none of its descriptors
// (only its pidfd of the helper), lives as long as any thread of the
// helper does, and ends once the helper has.
func TestHolder(t *testing.T) {
	if goruntime.GOARCH != "amd64" {
		t.Skip("the holder is written for amd64 only")
	}
	t.Run("main", func(t *testing.T) { testHolder(t, "main") })
	t.Run("cloning thread gone", func(t *testing.T) { testHolder(t, "thread") })
}

func testHolder(t *testing.T, mode string) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the helper: %v", err)
	}
	holder, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("the helper said %q", line)
	}
	// A holder this test finds broken must not outlive it. Only then:
	// a holder that ended as it should was reaped, and its pid may be
	// another process's by now.
	t.Cleanup(func() {
		if t.Failed() && state(holder) == "S" {
			unix.Kill(holder, unix.SIGKILL)
		}
	})
	// Defer returns as soon as the holder exists, maybe before it has
	// closed its descriptors: wait until it sleeps in its poll.
	waitState(t, holder, "S")
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", holder))
	if err != nil {
		t.Fatalf("the holder %d: %v", holder, err)
	}
	// Its one descriptor is the pidfd it waits on; any other is a copy of
	// the helper's (a pipe it held would keep the CLI's reader waiting).
	for _, fd := range fds {
		target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", holder, fd.Name()))
		if target != "anon_inode:[pidfd]" || len(fds) != 1 {
			t.Errorf("the holder has descriptor %s open (%s), want only its pidfd of the helper", fd.Name(), target)
		}
	}
	if len(fds) == 0 {
		t.Errorf("the holder has no descriptor open, want its pidfd of the helper (it ended its wait?)")
	}
	// At the idle policy: its teardown gives way to the CLI's parent.
	if p := policy(holder); p != "5" {
		t.Errorf("the holder runs at scheduling policy %q, want 5 (SCHED_IDLE)", p)
	}
	// kcmp says 0 where the two share one address space (a kernel built
	// without it, CONFIG_KCMP, cannot tell).
	r, _, errno := unix.Syscall6(unix.SYS_KCMP, uintptr(cmd.Process.Pid), uintptr(holder), kcmpVM, 0, 0, 0)
	switch {
	case errno == unix.ENOSYS:
		t.Log("no kcmp in this kernel: not checked that the holder shares the address space")
	case errno != 0 || r != 0:
		t.Errorf("kcmp(KCMP_VM) of the helper and the holder: %d (%v), want 0: they must share the address space", r, errno)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the helper: %v", err)
	}
	waitState(t, holder, "", "Z", "X")
}

// waitState waits up to 5 s for pid to be in one of the states ("": gone).
func waitState(t *testing.T, pid int, want ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := state(pid)
		if slices.Contains(want, st) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the holder %d is in state %q after 5 s, want one of %q", pid, st, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// state is the process's state letter from /proc, or "" once it is gone.
func state(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

// policy is the scheduling policy of pid, from /proc/PID/stat (field 41),
// or "" where it cannot be read.
func policy(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 39 {
		return ""
	}
	return f[38] // the fields after the name start at field 3
}
