package sysmon_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/sysmon"
)

// startSlack is the slack the helper starts with: not the kernel's
// default, so that a thread left with it is told from one set back to it.
const startSlack = 77000

// helper builds internal/sysmontest, linked with flags, and starts it
// with startSlack; it returns the process, its first line and what ends
// it (its input's end) and returns the rest of its output.
func helper(t *testing.T, flags string, args ...string) (*exec.Cmd, string, func() string) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("the entry is written for linux/amd64 only")
	}
	bin := filepath.Join(t.TempDir(), "sysmontest")
	build := exec.Command("go", "build", "-ldflags="+flags, "-o", bin, "./internal/sysmontest")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the helper: %v\n%s", err, out)
	}
	// The child is cloned by this thread (os/exec forks from the
	// caller's), with this thread's slack.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	old, _, _ := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_GET_TIMERSLACK, 0, 0)
	unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_TIMERSLACK, startSlack, 0)
	defer unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_TIMERSLACK, old, 0)
	cmd := exec.Command(bin, args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	r := bufio.NewReader(stdout)
	first, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the helper's first line: %v (%q)", err, first)
	}
	return cmd, strings.TrimSpace(first), func() string {
		in.Close()
		rest, _ := io.ReadAll(r)
		if err := cmd.Wait(); err != nil {
			t.Errorf("the helper: %v; it wrote %q", err, rest)
		}
		return strings.TrimSpace(string(rest))
	}
}

// threadSlacks reads each thread's slack of process pid: another
// process's needs CAP_SYS_NICE.
func threadSlacks(t *testing.T, pid int) map[int]int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	slacks := map[int]int{}
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/timerslack_ns")
		if err != nil {
			t.Skipf("reading another process's timer slack needs CAP_SYS_NICE (run as root): %v", err)
		}
		tid, _ := strconv.Atoi(e.Name())
		slacks[tid], _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	return slacks
}

// TestSettle: linked with the entry, the monitor thread alone keeps
// Slack; the other threads, and a child, have the slack the process
// started with; and Done puts the runtime's handler back.
func TestSettle(t *testing.T) {
	cmd, first, end := helper(t, sysmon.LinkFlags)
	var linked, entered bool
	var monitor, child int
	if _, err := fmt.Sscanf(first, "linked=%t entered=%t monitor=%d child=%d", &linked, &entered, &monitor, &child); err != nil {
		t.Fatalf("the helper said %q: %v", first, err)
	}
	if !linked || !entered || monitor == 0 {
		t.Fatalf("the helper started at the entry: %v; set the slack: %v; monitor thread found: %d (want all)", linked, entered, monitor)
	}
	if child != startSlack {
		t.Errorf("a child started after Settle has a slack of %d ns, want the process's own %d", child, startSlack)
	}
	t.Run("threads", func(t *testing.T) {
		slacks := threadSlacks(t, cmd.Process.Pid)
		for tid, s := range slacks {
			want := startSlack
			if tid == monitor {
				want = sysmon.Slack
			}
			if s != want {
				t.Errorf("thread %d (monitor %d) has a slack of %d ns, want %d; all: %v", tid, monitor, s, want, slacks)
			}
		}
	})
	if rest := end(); rest != "after done: runtime's handler=true" {
		t.Errorf("after Done the helper said %q", rest)
	}
}

// TestWithoutEntry: built without the flags, or started with the signal
// blocked (the entry leaves the slack then), nothing changes.
func TestWithoutEntry(t *testing.T) {
	t.Run("unlinked", func(t *testing.T) { unchanged(t, "", "linked=false") })
	t.Run("blocked", func(t *testing.T) { unchanged(t, sysmon.LinkFlags, "linked=true", "blocked") })
}

func unchanged(t *testing.T, flags, linked string, args ...string) {
	cmd, first, end := helper(t, flags, args...)
	if want := fmt.Sprintf("%s entered=false monitor=0 child=%d", linked, startSlack); first != want {
		t.Errorf("the helper said %q, want %q", first, want)
	}
	t.Run("threads", func(t *testing.T) {
		for tid, s := range threadSlacks(t, cmd.Process.Pid) {
			if s != startSlack {
				t.Errorf("thread %d has a slack of %d ns, want %d", tid, s, startSlack)
			}
		}
	})
	if rest := end(); rest != "after done: runtime's handler=true" {
		t.Errorf("after Done the helper said %q", rest)
	}
}

// TestREADMENamesTheEntry: the README gives the flags as LinkFlags says
// (the build command itself stays `go build`: issue 11).
func TestREADMENamesTheEntry(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := `-ldflags="` + sysmon.LinkFlags + `"`; sysmon.LinkFlags != "" && !strings.Contains(string(b), want) {
		t.Errorf("README.md does not give %s", want)
	}
}
