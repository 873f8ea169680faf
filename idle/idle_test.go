package idle_test

import (
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/internal/endthread"
)

// buildHelper links internal/idletest with the idle stage's entry, as
// program/gen links the init.
func buildHelper(t *testing.T) string {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("the idle stage is written for linux/amd64 only")
	}
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh for the payload")
	}
	bin := filepath.Join(t.TempDir(), "idletest")
	cmd := exec.Command("go", "build", "-ldflags=-E github.com/sandbox-dev/sandbox/idle.entry", "-o", bin, "./internal/idletest")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the helper: %v\n%s", err, out)
	}
	return bin
}

// startIdle starts the helper, which starts script as its payload and goes
// idle, and waits until it is idle (its argv says so).
func startIdle(t *testing.T, bin, script string, extra *os.File, reap string) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	out := &strings.Builder{}
	fd := "-1"
	cmd := exec.Command(bin, "start", script, fd, reap)
	if extra != nil {
		cmd.ExtraFiles = []*os.File{extra}
		cmd.Args[3] = "3"
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile("/proc/" + itoa(cmd.Process.Pid) + "/cmdline")
		if args := strings.Split(string(b), "\x00"); len(args) > 1 && args[1] == "idle" {
			return cmd, out
		}
		if time.Now().After(deadline) {
			t.Fatalf("the helper never went idle: %s", out)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func waitOut(t *testing.T, cmd *exec.Cmd, out *strings.Builder) string {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the resumed helper: %v\n%s", err, out)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the idle stage never woke:\n%s", out)
	}
	return out.String()
}

// A signal to the idle stage reaches the payload; the payload's end wakes
// the Go stage, which finds its status still there to take, and no signal
// left blocked for the processes it will start.
func TestIdleForwardsSignalAndWakesOnExit(t *testing.T) {
	bin := buildHelper(t)
	cmd, out := startIdle(t, bin, "exec sleep 30", nil, "reap")
	// Asleep once it has set up: its execve shows in cmdline a few
	// instructions before it sleeps, and a loaded machine can hold it
	// there (State R, failed once in a full suite). A stage that spins
	// is never seen asleep.
	var status []byte
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		status, _ = os.ReadFile("/proc/" + itoa(cmd.Process.Pid) + "/status")
		if strings.Contains(string(status), "\nState:\tS") || time.Now().After(deadline) {
			break
		}
	}
	if !strings.Contains(string(status), "\nState:\tS") {
		t.Fatalf("the idle stage is not asleep:\n%s", status)
	}
	if comm, _ := os.ReadFile("/proc/" + itoa(cmd.Process.Pid) + "/comm"); strings.TrimSpace(string(comm)) != "idletest" {
		t.Errorf("the idle stage is named %q, want its argv[0], idletest", comm)
	}
	cmd.Process.Signal(syscall.SIGUSR1)
	got := waitOut(t, cmd, out)
	for _, want := range []string{"payload: signal 10", "SigBlk: 0000000000000000"} {
		if !strings.Contains(got, want) {
			t.Errorf("resumed stage said:\n%s\nwant a line %q", got, want)
		}
	}
}

// Orphans that end while the stage is idle are reaped there, or left to
// the Go stage when it is told to leave other children alone (a
// watcher's network helper); readable input wakes the Go stage with the
// input still unread.
func TestIdleReapsOrphansAndWakesOnInput(t *testing.T) {
	bin := buildHelper(t)
	for _, reap := range []string{"reap", "keep"} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		cmd, out := startIdle(t, bin, "(sleep 0.1 &); exec sleep 30", r, reap)
		time.Sleep(500 * time.Millisecond)
		if _, err := w.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		got := waitOut(t, cmd, out)
		for _, want := range []string{"payload: running", `output: "hello"`} {
			if !strings.Contains(got, want) {
				t.Errorf("%s: resumed stage said:\n%s\nwant a line %q", reap, got, want)
			}
		}
		if left := strings.Contains(got, "unreaped child"); left != (reap == "keep") {
			t.Errorf("%s: an orphan left to the Go stage: %v, want %v:\n%s", reap, left, reap == "keep", got)
		}
	}
}

// The parent-death signal set on the thread that executes the idle stage
// stays: the idle stage dies with its parent (a watcher's init must).
func TestIdleKeepsParentDeathSignal(t *testing.T) {
	bin := buildHelper(t)
	// sh starts the helper, says its pid, and exits once it is idle.
	said := filepath.Join(t.TempDir(), "said")
	cmd := exec.Command("/bin/sh", "-c", `"$0" start 'exec sleep 30' -1 reap >"$1" 2>&1 & echo $!; sleep 1`, bin, said)
	cmd.Env = append(os.Environ(), "IDLETEST_PDEATHSIG=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sh: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("sh said %q, not a pid", out)
	}
	// The payload outlives it here (no PID namespace takes it down): the
	// test ends it.
	b, _ := os.ReadFile(said)
	if _, p, ok := strings.Cut(strings.TrimSpace(string(b)), "payload "); ok {
		if n, err := strconv.Atoi(p); err == nil {
			defer syscall.Kill(n, syscall.SIGKILL)
		}
	}
	gone := func() bool {
		b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		return len(f) > 0 && f[0] == "Z"
	}
	for deadline := time.Now().Add(5 * time.Second); !gone(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile("/proc/" + itoa(pid) + "/cmdline")
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the idle stage (pid %d, %q) outlived its parent", pid, b)
		}
	}
}

// Without a Go stage to go to (EXE -1, a raw start), the idle stage ends
// with its payload, the payload's status as its own: the exit code, or
// 128 and the signal, which it writes first, one byte, to the descriptor
// given. (Not a PID 1 here: it must leave every other process alone.)
func TestEndsWithPayload(t *testing.T) {
	bin := buildHelper(t)
	t.Setenv("IDLETEST_NOSTAGE", "1")
	for _, tt := range []struct {
		script string
		want   int
	}{
		{"sleep 0.2; exit 7", 7},
		{"sleep 0.2; exit 0", 0},
		{"sleep 0.2; kill -TERM $$", 128 + 15},
	} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd, out := startIdle(t, bin, tt.script, w, "reap")
		w.Close()
		err = cmd.Wait()
		written, _ := io.ReadAll(r)
		r.Close()
		if len(written) != 1 || int(written[0]) != tt.want {
			t.Errorf("%q: the idle stage wrote %v, want the one byte %d", tt.script, written, tt.want)
		}
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%q: %v", tt.script, err)
		}
		if code != tt.want {
			t.Errorf("%q: the idle stage exited %d, want %d\n%s", tt.script, code, tt.want, out)
		}
		if strings.Contains(out.String(), "resumed") {
			t.Errorf("%q: a Go stage ran:\n%s", tt.script, out)
		}
	}
}

// TestLingersAfterCode: told to linger (idle.Args' linger), the idle
// stage with no Go stage closes its descriptors 0 to 2, writes the
// payload's code, and only then waits, until the code's reader is gone
// or 50 ms, before it ends with that code: a reader of the code sees the
// payload's output end with it, and the stage's own end (the kernel's
// teardown of a container's mounts) comes after.
func TestLingersAfterCode(t *testing.T) {
	bin := buildHelper(t)
	t.Setenv("IDLETEST_NOSTAGE", "1")
	t.Setenv("IDLETEST_LINGER", "1")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd, out := startIdle(t, bin, "sleep 0.2; exit 5", w, "reap")
	w.Close()
	var code [1]byte
	if n, _ := io.ReadFull(r, code[:]); n != 1 || code[0] != 5 {
		t.Fatalf("the idle stage wrote %v, want the one byte 5\n%s", code[:n], out)
	}
	read := time.Now()
	pid := itoa(cmd.Process.Pid)
	// Read at once: the stage is still there, asleep (it lingers up to
	// 50 ms, the code's reader open), with nothing at 0, 1 and 2, at
	// nice 19, waiting in ppoll on the status pipe for its reader's end.
	// (Its /proc/PID/fd, syscall and mem are root's alone: the stage is
	// not dumpable.)
	if asleep(t, pid, read) {
		if n := statField(pid, 19); n != "19" {
			t.Errorf("the lingering idle stage runs at nice %q, want 19: its end must give way to the command's parent", n)
		}
		if os.Geteuid() == 0 {
			ents, err := os.ReadDir("/proc/" + pid + "/fd")
			if err != nil {
				t.Fatalf("the idle stage ended as it wrote the code, or its descriptors cannot be read: %v", err)
			}
			for _, e := range ents {
				if e.Name() == "0" || e.Name() == "1" || e.Name() == "2" {
					t.Errorf("descriptor %s of the idle stage still open after it wrote the code", e.Name())
				}
			}
			checkLingerWait(t, pid, 3)
		}
	}
	err = cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 5 {
		t.Errorf("the lingering idle stage ended with %v, want exit code 5\n%s", err, out)
	}
}

// TestLingerOutlivesClonerThread: a lingering stage with a parent-death
// signal armed, as a raw start's PID 1 has, is not ended by it once it
// wrote the code. That signal comes with the end of the thread that
// started the stage, which a command's exit_group may end first of all
// its threads: the stage's end, the kernel's teardown of the container's
// mounts, then ran beside the rest of the command's exit. It ends with
// the payload's code once the reader is gone (or after 50 ms), not
// killed.
func TestLingerOutlivesClonerThread(t *testing.T) {
	bin := buildHelper(t)
	t.Setenv("IDLETEST_NOSTAGE", "1")
	t.Setenv("IDLETEST_LINGER", "1")
	t.Setenv("IDLETEST_PDEATHSIG", "1")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// The stage is started from a thread that ends once the stage wrote
	// the code, while the code's reader is still open. Run returns once
	// that thread is gone: an armed parent-death signal has come by then,
	// and the stage's end below says whether it did (killed) or the stage
	// went on lingering (its code). Only then the reader's end, which
	// ends the linger.
	var cmd *exec.Cmd
	out := &strings.Builder{}
	code := make([]byte, 1)
	var n int
	var startErr, readErr error
	terr := endthread.Run(func() {
		cmd = exec.Command(bin, "start", "exit 5", "3", "reap")
		cmd.ExtraFiles = []*os.File{w}
		cmd.Stdout, cmd.Stderr = out, out
		if startErr = cmd.Start(); startErr != nil {
			return
		}
		w.Close()
		n, readErr = io.ReadFull(r, code)
	})
	if startErr != nil {
		t.Fatal(startErr)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if terr != nil {
		t.Fatal(terr)
	}
	if n != 1 || code[0] != 5 {
		t.Fatalf("the idle stage wrote %v (%v), want the one byte 5\n%s", code[:n], readErr, out)
	}
	r.Close()
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 {
		t.Errorf("the lingering idle stage ended with %v once the thread that started it had ended, want exit code 5 (not its parent-death signal)\n%s", err, out)
	}
}

// statField is field n (from 1, as proc(5) numbers them) of
// /proc/PID/stat, or "" where it cannot be read.
func statField(pid string, n int) string {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if n < 3 || len(f) < n-2 {
		return ""
	}
	return f[n-3] // the fields after the name start at field 3
}

// asleep waits, briefly, for a stage that wrote its code at read to be
// asleep in its linger, and says whether it saw that. A stage still
// running after the loop, or already gone (a slow machine), leaves no
// verdict: logged, and the checks of its sleep skipped.
func asleep(t *testing.T, pid string, read time.Time) bool {
	t.Helper()
	for i := 0; ; i++ {
		switch state := statField(pid, 3); {
		case state == "S":
			return true
		case state == "Z" && time.Since(read) > 40*time.Millisecond:
			t.Logf("the idle stage ended %v after its code, before this test looked: its sleep not checked", time.Since(read))
			return false
		case state == "R" && i == 200:
			t.Logf("the idle stage still runs %v after its code (a loaded machine): its sleep not checked", time.Since(read))
			return false
		case state != "R":
			t.Fatalf("the idle stage is not asleep after it wrote the code: state %q", state)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// checkLingerWait checks, as root, that the lingering stage pid waits in
// ppoll on one descriptor, fd (the status pipe's write end), asking for
// nothing: POLLERR alone wakes it, once the pipe has no reader. Its 50 ms
// alone would end it too, later; no timing can tell the two apart here.
func checkLingerWait(t *testing.T, pid string, fd int32) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/syscall")
	if err != nil {
		t.Fatalf("reading the stage's system call: %v", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 3 || f[0] != strconv.Itoa(syscall.SYS_PPOLL) || f[2] != "0x1" {
		t.Fatalf("the lingering stage waits in %q, want ppoll (%d) on one descriptor", b, syscall.SYS_PPOLL)
	}
	addr, err := strconv.ParseUint(strings.TrimPrefix(f[1], "0x"), 16, 64)
	if err != nil {
		t.Fatalf("the stage's ppoll descriptors at %q: %v", f[1], err)
	}
	mem, err := os.Open("/proc/" + pid + "/mem")
	if err != nil {
		t.Fatalf("reading the stage's memory: %v", err)
	}
	defer mem.Close()
	var pfd [8]byte // struct pollfd: int fd, short events, short revents
	if _, err := mem.ReadAt(pfd[:], int64(addr)); err != nil {
		t.Fatalf("reading the stage's pollfd: %v", err)
	}
	gotFD := int32(binary.LittleEndian.Uint32(pfd[0:4]))
	events := binary.LittleEndian.Uint16(pfd[4:6])
	if gotFD != fd || events != 0 {
		t.Errorf("the lingering stage polls descriptor %d for events %#x, want %d (the status pipe) for none (POLLERR: no reader)", gotFD, events, fd)
	}
}
