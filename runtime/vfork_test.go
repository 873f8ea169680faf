package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// startVforkOnThread runs startVfork as startChild does, from a locked
// thread, and reaps the child.
func startVforkOnThread(t *testing.T, v *vforkStart) (syscall.WaitStatus, error) {
	t.Helper()
	type result struct {
		ws  syscall.WaitStatus
		err error
	}
	done := make(chan result)
	go func() {
		goruntime.LockOSThread()
		defer goruntime.UnlockOSThread()
		pid, err := startVfork(v)
		if err != nil {
			done <- result{err: err}
			return
		}
		var ws syscall.WaitStatus
		for {
			if _, err := syscall.Wait4(pid, &ws, 0, nil); err != syscall.EINTR {
				break
			}
		}
		done <- result{ws: ws}
	}()
	r := <-done
	return r.ws, r.err
}

// A vfork-started child in new namespaces wrote its own maps (so it runs
// as root there, with every capability), has exactly the descriptors it
// was given at 0, 1, 2, 3, its own session, and default signal handling.
func TestStartVfork(t *testing.T) {
	if !haveVfork {
		t.Skip("no rawVfork on " + goruntime.GOARCH + ": startChild uses os/exec")
	}
	if err := unix.Access("/proc/self/ns/user", unix.R_OK); err != nil {
		t.Skip("no user namespaces here")
	}
	sh := "/bin/sh"
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outR.Close()
	extraR, extraW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	extraW.WriteString("from-fd-3")
	extraW.Close()
	defer extraR.Close()
	// One more descriptor of ours, not close-on-exec: it must not reach
	// the child either, since only the listed ones are passed.
	leak, err := unix.Dup(int(outW.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	script := `cat /proc/self/uid_map /proc/self/gid_map; cat /proc/self/setgroups
grep -E '^(SigBlk|SigIgn|CapEff):' /proc/self/status
read -r pid _ _ _ _ sid _ </proc/self/stat; [ "$pid" = "$sid" ] && echo own-session
ls /proc/self/fd
cat <&3; echo`
	uid, gid := os.Geteuid(), os.Getegid()
	v := &vforkStart{
		path: sh, args: []string{"sh", "-c", script}, env: []string{"PATH=/usr/bin:/bin"},
		files:      []*os.File{nil, outW, outW, extraR},
		cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID,
		cgroupFD:   -1, setsid: true, pdeathsig: unix.SIGKILL,
		uidMap: fmt.Sprintf("0 %d 1\n", uid), gidMap: fmt.Sprintf("0 %d 1\n", gid),
	}
	ws, err := startVforkOnThread(t, v)
	outW.Close()
	unix.Close(leak)
	if err != nil {
		t.Fatalf("startVfork: %v", err)
	}
	out, _ := io.ReadAll(outR)
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("child ended with %v; output:\n%s", ws, out)
	}
	got := strings.Fields(string(out))
	want := []string{
		"0", fmt.Sprint(uid), "1", "0", fmt.Sprint(gid), "1", "deny",
		"SigBlk:", "0000000000000000", "SigIgn:", "0000000000000000", "CapEff:", "000001ffffffffff",
		"own-session",
		"0", "1", "2", "3", "4", // 4: the directory ls reads
		"from-fd-3",
	}
	// The full capability set depends on the kernel: compare the rest.
	if len(got) != len(want) {
		t.Fatalf("child printed %q, want the shape of %q", got, want)
	}
	for i := range want {
		if i == 12 {
			if got[i] == "0000000000000000" {
				t.Errorf("the child has no capabilities in its namespace: its maps were not written before its execve")
			}
			continue
		}
		if got[i] != want[i] {
			t.Errorf("field %d: got %q, want %q (all: %q)", i, got[i], want[i], got)
		}
	}
}

// A child that cannot execute is reported with the step and the errno,
// and leaves no process behind.
func TestStartVforkExecFailure(t *testing.T) {
	if !haveVfork {
		t.Skip("no rawVfork on " + goruntime.GOARCH)
	}
	v := &vforkStart{path: "/nonexistent/init", args: []string{"init"}, cgroupFD: -1}
	_, err := startVforkOnThread(t, v)
	if err == nil {
		t.Fatal("startVfork of a missing program succeeded")
	}
	if !errors.Is(err, syscall.ENOENT) || !strings.Contains(err.Error(), "executing /nonexistent/init") {
		t.Errorf("error = %v, want ENOENT naming the program", err)
	}
	// Its maps cannot be written outside a new user namespace: the step
	// says so.
	v = &vforkStart{path: "/bin/true", args: []string{"true"}, cgroupFD: -1, uidMap: "0 0 1\n", gidMap: "0 0 1\n"}
	if _, err := startVforkOnThread(t, v); err == nil || !strings.Contains(err.Error(), "writing the id maps") {
		t.Errorf("writing maps without a new user namespace: error = %v, want one naming the id maps", err)
	}
}
