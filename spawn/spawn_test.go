package spawn

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/plan"
)

// run starts a and reaps it.
func run(t *testing.T, a *Attr) (syscall.WaitStatus, error) {
	t.Helper()
	pid, err := Start(a)
	if err != nil {
		return 0, err
	}
	return Wait(pid)
}

// A vfork-started child in new namespaces wrote its own maps (so it runs
// as root there, with every capability), has exactly the descriptors it
// was given at 0, 1, 2, 3, its own session, and default signal handling.
func TestStartVfork(t *testing.T) {
	needUserNS(t)
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
	v := &Attr{
		Path: sh, Args: []string{"sh", "-c", script}, Env: []string{"PATH=/usr/bin:/bin"},
		Files:      []*os.File{nil, outW, outW, extraR},
		Cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID,
		CgroupFD:   -1, Setsid: true, Pdeathsig: unix.SIGKILL,
		UIDMap: fmt.Sprintf("0 %d 1\n", uid), GIDMap: fmt.Sprintf("0 %d 1\n", gid),
	}
	ws, err := run(t, v)
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
		"SigBlk:", "0000000000000000", "SigIgn:", ownIgnored(t), "CapEff:", "000001ffffffffff",
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

// ownIgnored is this process's SigIgn mask as /proc shows it: the
// signals a child keeps ignored (as with os/exec), which a test run
// under nohup or su has.
func ownIgnored(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("no SigIgn in /proc/self/status")
	return ""
}

// A child that cannot execute is reported with the step and the errno,
// and leaves no process behind.
func TestStartVforkExecFailure(t *testing.T) {
	if !haveVfork {
		t.Skip("no rawVfork on " + goruntime.GOARCH)
	}
	v := &Attr{Path: "/nonexistent/init", Args: []string{"init"}, CgroupFD: -1}
	_, err := run(t, v)
	if err == nil {
		t.Fatal("startVfork of a missing program succeeded")
	}
	if !errors.Is(err, syscall.ENOENT) || !strings.Contains(err.Error(), "executing /nonexistent/init") {
		t.Errorf("error = %v, want ENOENT naming the program", err)
	}
	// Its maps cannot be written outside a new user namespace: the step
	// says so.
	v = &Attr{Path: "/bin/true", Args: []string{"true"}, CgroupFD: -1, UIDMap: "0 0 1\n", GIDMap: "0 0 1\n"}
	if _, err := run(t, v); err == nil || !strings.Contains(err.Error(), "writing the id maps") {
		t.Errorf("writing maps without a new user namespace: error = %v, want one naming the id maps", err)
	}
}

// AmbientCaps survive the execve of a child whose id maps do not exist
// yet (so it is not root in its namespace): the subid-mode start.
func TestStartVforkAmbient(t *testing.T) {
	needUserNS(t)
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outR.Close()
	a := &Attr{
		Path: "/bin/sh", Args: []string{"sh", "-c", "grep -E '^Cap(Amb|Eff):' /proc/self/status"},
		Files: []*os.File{nil, outW, outW}, Cloneflags: unix.CLONE_NEWUSER, CgroupFD: -1,
		AmbientCaps: []uintptr{unix.CAP_NET_ADMIN, unix.CAP_SYS_ADMIN},
	}
	ws, err := run(t, a)
	outW.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(outR)
	want := fmt.Sprintf("%016x", 1<<unix.CAP_NET_ADMIN|1<<unix.CAP_SYS_ADMIN)
	if !ws.Exited() || ws.ExitStatus() != 0 || strings.Count(string(out), want) != 2 {
		t.Errorf("child (%v) printed:\n%s\nwant CapEff and CapAmb %s", ws, out, want)
	}
}

// The start of a child in new namespaces, as a container's init starts:
// spawn against os/exec (which makes a full fork here). The gap grows
// with the parent's address space; the CLI's is larger than a test's.
func BenchmarkStart(b *testing.B) {
	if !haveVfork {
		b.Skip("no rawVfork on " + goruntime.GOARCH)
	}
	flags := uintptr(unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC)
	uid, gid := os.Geteuid(), os.Getegid()
	b.Run("spawn", func(b *testing.B) {
		for b.Loop() {
			pid, err := Start(&Attr{Path: "/bin/true", Args: []string{"true"}, Cloneflags: flags, CgroupFD: -1,
				UIDMap: fmt.Sprintf("0 %d 1\n", uid), GIDMap: fmt.Sprintf("0 %d 1\n", gid)})
			if err != nil {
				b.Fatal(err)
			}
			if ws, err := Wait(pid); err != nil || ws.ExitStatus() != 0 {
				b.Fatalf("%v %v", ws, err)
			}
		}
	})
	b.Run("os-exec", func(b *testing.B) {
		for b.Loop() {
			cmd := exec.Command("/bin/true")
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags,
				UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}},
				GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: gid, Size: 1}}}
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A kernel without clone3 (before 5.3) makes Start say ErrUnsupported
// when it needs clone3 (a cgroup to start in), on which callers use
// os/exec, and start nothing.
func TestStartWithoutClone3(t *testing.T) {
	if !haveVfork {
		t.Skip("no rawVfork on " + goruntime.GOARCH)
	}
	defer func(n uintptr) { clone3Trap = n }(clone3Trap)
	clone3Trap = 1 << 20 // no such system call: ENOSYS
	cg, err := os.Open("/sys/fs/cgroup")
	if err != nil {
		t.Skip(err)
	}
	defer cg.Close()
	_, err = Start(&Attr{Path: "/bin/true", Args: []string{"true"}, CgroupFD: int(cg.Fd())})
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Start without clone3: %v, want ErrUnsupported", err)
	}
	var ws unix.WaitStatus
	if pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil); err != unix.ECHILD {
		t.Errorf("a child exists after the failed start: pid %d, %v", pid, err)
	}
}

// FromCmd takes what Start does and refuses the rest, for os/exec.
func TestFromCmd(t *testing.T) {
	if !Supported() {
		t.Skip("spawn is not supported here")
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("/bin/true", "x")
	cmd.Stdout, cmd.ExtraFiles = f, []*os.File{f}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER, Setsid: true, Pdeathsig: unix.SIGKILL,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 1000, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100, Size: 1}}}
	a, ok := FromCmd(cmd)
	if !ok {
		t.Fatal("FromCmd refused a command Start can run")
	}
	if a.Path != "/bin/true" || len(a.Args) != 2 || len(a.Files) != 4 || a.Files[0] != nil || a.Files[1] != f || a.Files[3] != f ||
		a.UIDMap != "0 1000 1\n" || a.GIDMap != "0 100 1\n" || !a.Setsid || a.Pdeathsig != unix.SIGKILL || a.CgroupFD != -1 || len(a.Env) == 0 {
		t.Errorf("FromCmd = %+v", a)
	}
	for name, change := range map[string]func(*exec.Cmd){
		"stdin a reader": func(c *exec.Cmd) { c.Stdin = strings.NewReader("x") },
		"a directory":    func(c *exec.Cmd) { c.Dir = "/tmp" },
		"a credential":   func(c *exec.Cmd) { c.SysProcAttr.Credential = &syscall.Credential{Uid: 1} },
		"two map lines": func(c *exec.Cmd) {
			c.SysProcAttr.UidMappings = append(c.SysProcAttr.UidMappings, syscall.SysProcIDMap{ContainerID: 1, HostID: 100000, Size: 10})
		},
		"a process group to join": func(c *exec.Cmd) { c.SysProcAttr.Setpgid, c.SysProcAttr.Pgid = true, 1 },
	} {
		c := *cmd
		sys := *cmd.SysProcAttr
		c.SysProcAttr = &sys
		change(&c)
		if _, ok := FromCmd(&c); ok {
			t.Errorf("FromCmd took a command with %s", name)
		}
	}
}

// Setpgid gives the child a process group of its own in our session, and
// Idle the idle scheduling policy (which its own children inherit).
func TestStartIdleInOwnGroup(t *testing.T) {
	if !haveVfork {
		t.Skip("no rawVfork on " + goruntime.GOARCH)
	}
	pid, err := Start(&Attr{Path: "/bin/sleep", Args: []string{"sleep", "10"}, Setpgid: true, Idle: true, CgroupFD: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		unix.Kill(pid, unix.SIGKILL)
		Wait(pid)
	}()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command's name, which ends at the last ')':
	// state is field 3, pgrp 5, session 6, policy 41.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 39 {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	sid, _ := unix.Getsid(0)
	if f[2] != fmt.Sprint(pid) || f[3] != fmt.Sprint(sid) {
		t.Errorf("child's process group %s and session %s, want %d and ours, %d", f[2], f[3], pid, sid)
	}
	if f[38] != fmt.Sprint(unix.SCHED_IDLE) {
		t.Errorf("child's scheduling policy %s, want SCHED_IDLE (%d)", f[38], unix.SCHED_IDLE)
	}
}

// A nil stdout or stderr is /dev/null open for writing; a signal ignored
// here stays ignored in the child (nohup), and a failure is reported even
// when a free descriptor number lies below the ones passed.
func TestStartDetails(t *testing.T) {
	if !haveVfork {
		t.Skip("no rawVfork on " + goruntime.GOARCH)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outR.Close()
	signal.Ignore(syscall.SIGHUP)
	defer signal.Reset(syscall.SIGHUP)
	ws, err := run(t, &Attr{Path: "/bin/sh", Args: []string{"sh", "-c", "echo to-null && grep SigIgn /proc/self/status >&2"},
		Files: []*os.File{nil, nil, outW}, CgroupFD: -1})
	outW.Close()
	out, _ := io.ReadAll(outR)
	if err != nil || !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("echo to a nil stdout: %v %v %s", ws, err, out)
	}
	if !strings.Contains(string(out), "SigIgn:\t0000000000000001") {
		t.Errorf("SIGHUP, ignored here, is not ignored in the child: %s", out)
	}
	// Free numbers below the passed ones: the error pipe must not land
	// there, or the child's dup3 would overwrite it and the failure be
	// lost.
	var held []*os.File
	for i := 0; i < 6; i++ {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, f)
	}
	held[0].Close()
	held[2].Close()
	defer func() {
		for _, f := range held[3:] {
			f.Close()
		}
		held[1].Close()
	}()
	files := []*os.File{nil, nil, nil, held[1], held[3], held[4], held[5], held[1], held[1], held[1], held[1], held[1]}
	if _, err := Start(&Attr{Path: "/nonexistent/x", Args: []string{"x"}, Files: files, CgroupFD: -1}); err == nil || !errors.Is(err, syscall.ENOENT) {
		t.Errorf("a failed execve with free low descriptors: %v, want ENOENT", err)
	}
}

// A held child keeps none of the caller's descriptors but its own while it
// waits: a pipe the caller had open at the clone (another start's status
// pipe, whose end that start waits for) ends when the caller closes its
// write end, not when the hold is released.
func TestHeldChildKeepsNoInheritedDescriptor(t *testing.T) {
	if !haveVfork {
		t.Skip("no rawVfork on " + goruntime.GOARCH + ": callers use os/exec")
	}
	exe, err := os.Open("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	defer exe.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	a := &Attr{Args: []string{"true", "0"}, Files: []*os.File{nil, nil, nil, exe}, CgroupFD: -1,
		Hold: &Hold{}, Payload: &Payload{Init: 3, PidArg: 1}}
	pid, err := Start(a)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		a.Hold.Abort()
		Wait(pid)
	}()
	w.Close()
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("reading a pipe whose only write end we closed: %d bytes, %v; want end of file (the held child keeps a copy)", n, err)
	}
}

// madeUserNS is a user namespace made beforehand, as a spare is (one id
// mapped: this test's), held by a process of its own until the test
// ends, and its /proc link. It skips where spawn or user namespaces do not
// work.
func madeUserNS(t *testing.T) (*os.File, string) {
	t.Helper()
	if !haveVfork {
		t.Skip("no rawVfork on " + goruntime.GOARCH + ": callers use os/exec")
	}
	holder := startHolder(t, exec.Command("sleep", "60"), unix.CLONE_NEWUSER)
	path := fmt.Sprintf("/proc/%d/ns/user", holder.Process.Pid)
	ns, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	link, err := os.Readlink(path)
	if err != nil {
		t.Fatal(err)
	}
	return ns, link
}

// runToEnd starts a with a pipe as its stdout (Files: nil, the pipe,
// nil), and returns what it wrote once it has exited 0, as our child.
func runToEnd(t *testing.T, a *Attr) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	a.Files = []*os.File{nil, w, nil}
	pid, err := Start(a)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(r)
	if ws, err := Wait(pid); err != nil || ws.ExitStatus() != 0 {
		t.Errorf("the child ended %v, %v (is it ours?)", ws, err)
	}
	return string(out)
}

// startHolder starts cmd in new namespaces (cloneflags, a user namespace
// among them, mapping this test's ids alone), ended when the test ends;
// it skips where user namespaces do not work.
func startHolder(t *testing.T, cmd *exec.Cmd, cloneflags uintptr) *exec.Cmd {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  cloneflags,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("no user namespace for the test: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// A held start into a user namespace made beforehand: the held child is
// ours (CLONE_PARENT, so we reap it), in that namespace, and PID 1 of a
// new PID namespace that the entered one owns. One that cannot enter
// (not a namespace) fails with the step, and leaves no child.
func TestHeldChildInUserNS(t *testing.T) {
	ns, _ := madeUserNS(t)
	exe, err := os.Open("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	defer exe.Close()
	start := func(userNS *os.File) (*Attr, int, error) {
		a := &Attr{Args: []string{"true", "0"}, Files: []*os.File{nil, nil, nil, exe}, CgroupFD: -1,
			Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWUTS,
			Hold:       &Hold{}, Payload: &Payload{Init: 3, PidArg: 1}, UserNS: userNS}
		pid, err := Start(a)
		return a, pid, err
	}
	a, pid, err := start(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		a.Hold.Abort()
		if _, err := Wait(pid); err != nil {
			t.Errorf("reaping the held child: %v (is it ours?)", err)
		}
	}()
	var want, got unix.Stat_t
	if err := unix.Fstat(int(ns.Fd()), &want); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/user", pid), &got); err != nil {
		t.Fatal(err)
	}
	if got.Ino != want.Ino {
		t.Errorf("the held child's user namespace is %d, want the one given, %d", got.Ino, want.Ino)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{fmt.Sprintf("NSpid:\t%d\t1\n", pid), fmt.Sprintf("PPid:\t%d\n", os.Getpid())} {
		if !strings.Contains(string(status), want) {
			t.Errorf("the held child's status lacks %q (PID 1 of a new PID namespace, our child):\n%s", want, status)
		}
	}

	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if _, pid, err := start(null); err == nil || !strings.Contains(err.Error(), "entering the spare user namespace") {
		t.Errorf("a start into /dev/null as a user namespace: pid %d, %v; want the failure to enter it", pid, err)
	}
}

// A vfork-style start into a user namespace made beforehand: the child
// executes in that namespace as PID 1 of a new PID namespace, our child;
// an execve that fails is reported and leaves no child.
func TestStartInUserNS(t *testing.T) {
	ns, link := madeUserNS(t)
	out := runToEnd(t, &Attr{Path: "/bin/sh", Args: []string{"sh", "-c", `readlink /proc/self/ns/user; echo "pid $$ uid $(id -u)"`}, Env: []string{},
		CgroupFD: -1, Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWNS, UserNS: ns})
	if want := link + "\npid 1 uid 0\n"; string(out) != want {
		t.Errorf("the child printed %q, want %q", out, want)
	}
	a := &Attr{Path: "/nonexistent/program", Args: []string{"x"}, Env: []string{}, CgroupFD: -1, Cloneflags: unix.CLONE_NEWPID, UserNS: ns}
	if pid, err := Start(a); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("a start of a missing program into the namespace: pid %d, %v; want ENOENT", pid, err)
	}
	// The holder is our only child left, still running: no zombie.
	var ws unix.WaitStatus
	if pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil); pid != 0 {
		t.Errorf("a child (%d, %v) is left after the failed start", pid, err)
	}
}

// A vfork-style start into a user namespace with a mount and an IPC
// namespace of it made beforehand (a spare's root): the child is in all
// three and sees what was mounted there (a tmpfs holding a file, made by
// the holder); one given a mount namespace and CLONE_NEWNS is refused.
func TestStartInSpareMountNS(t *testing.T) {
	if !haveVfork {
		t.Skip("no rawVfork on " + goruntime.GOARCH + ": callers use os/exec")
	}
	// The mark outside the tmpfs: the holder's view of dir is its own.
	dir, ready := t.TempDir(), filepath.Join(t.TempDir(), "ready")
	holder := exec.Command("sh", "-c", `mount -t tmpfs spare "$1" && echo made > "$1/mark" && : > "$2" && exec sleep 60`, "sh", dir, ready)
	var stderr strings.Builder
	holder.Stderr = &stderr
	startHolder(t, holder, unix.CLONE_NEWUSER|unix.CLONE_NEWNS|unix.CLONE_NEWIPC)
	for i := 0; ; i++ {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if i == 500 {
			t.Skipf("the holder mounted no tmpfs in its namespaces (no mounts in a user namespace here?): %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var links []string
	var files []*os.File
	for _, kind := range []string{"user", "mnt", "ipc"} {
		path := fmt.Sprintf("/proc/%d/ns/%s", holder.Process.Pid, kind)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		link, err := os.Readlink(path)
		if err != nil {
			t.Fatal(err)
		}
		files, links = append(files, f), append(links, link)
	}
	out := runToEnd(t, &Attr{Path: "/bin/sh", Args: []string{"sh", "-c", `for n in user mnt ipc; do readlink /proc/self/ns/$n; done; cat "$0/mark"`, dir}, Env: []string{},
		CgroupFD: -1, Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWUTS,
		UserNS: files[0], MountNS: files[1], IPCNS: files[2]})
	if want := strings.Join(links, "\n") + "\nmade\n"; string(out) != want {
		t.Errorf("the child printed %q, want %q", out, want)
	}
	a := &Attr{Path: "/bin/true", Args: []string{"true"}, Env: []string{}, CgroupFD: -1,
		Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWNS, UserNS: files[0], MountNS: files[1]}
	if pid, err := Start(a); err == nil || !strings.Contains(err.Error(), "no new one of its kind") {
		t.Errorf("a start into a mount namespace asking for a new one too: pid %d, %v; want a refusal", pid, err)
	}
}

// TestHeldChildEndsWithCaller: a held child whose caller dies ends by
// itself, even with no parent-death signal (as when the caller was killed
// between the clone and the child's prctl): it sees its status pipe's
// read end gone. The caller is this test binary run again as a helper
// (heldChildHelper), killed once it reported the child's pid.
func TestHeldChildEndsWithCaller(t *testing.T) {
	if !haveVfork {
		t.Skip("no rawVfork on " + goruntime.GOARCH + ": callers use os/exec")
	}
	helper := exec.Command(os.Args[0])
	helper.Env = append(os.Environ(), "SPAWN_HELD_HELPER=1")
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	var start string
	if _, err := fmt.Fscan(out, &pid, &start); err != nil || pid <= 0 {
		helper.Process.Kill()
		helper.Wait()
		t.Fatalf("the helper reported no held child: %v", err)
	}
	helper.Process.Kill()
	helper.Wait()
	// The child, now another's (the reaper's), is gone or a zombie once
	// it ended; its start time tells it from a later process of that pid.
	running := func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return false
		}
		f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+1:])
		return len(f) > 19 && f[19] == start && f[0] != "Z"
	}
	for deadline := time.Now().Add(5 * time.Second); running(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the held child %d still waits 5 s after its caller died", pid)
		}
	}
}

func TestMain(m *testing.M) {
	if os.Getenv("SPAWN_HELD_HELPER") != "" {
		heldChildHelper()
	}
	os.Exit(m.Run())
}

// heldChildHelper is TestHeldChildEndsWithCaller's caller (this test
// binary run again): it holds a child with no parent-death signal,
// prints its pid and start time, and waits to be killed.
func heldChildHelper() {
	exe, err := os.Open("/bin/true")
	if err != nil {
		os.Exit(2)
	}
	a := &Attr{Args: []string{"true", "0"}, Files: []*os.File{nil, nil, nil, exe}, CgroupFD: -1,
		Hold: &Hold{}, Payload: &Payload{Init: 3, PidArg: 1}}
	pid, err := Start(a)
	if err != nil {
		os.Exit(2)
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+1:])
	fmt.Printf("%d %s\n", pid, f[19])
	time.Sleep(time.Minute)
	os.Exit(0)
}

// TestEnteredChildKilledAfterClone: a child entering the user namespace
// that dies by a signal after it made the container's child (whose pid
// the kernel stored for us, CLONE_PARENT_SETTID) leaves no child of ours
// running: it is ended and reaped, and the start fails.
func TestEnteredChildKilledAfterClone(t *testing.T) {
	inner := exec.Command("sleep", "30")
	if err := inner.Start(); err != nil {
		t.Skipf("no sleep to stand in for the container's child: %v", err)
	}
	entering := exec.Command("sleep", "30")
	if err := entering.Start(); err != nil {
		t.Fatal(err)
	}
	entering.Process.Kill()
	r := &vforkReq{innerPid: uint64(inner.Process.Pid)}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer errR.Close()
	errW.Close() // nothing said on the status pipe: the child was killed
	if _, err := enteredChild(r, entering.Process.Pid, errR, &Attr{}); err == nil {
		t.Fatal("a start whose entering child was killed succeeded")
	}
	if err := unix.Kill(inner.Process.Pid, 0); err != unix.ESRCH {
		t.Fatalf("the container's child is still there (kill 0: %v)", err)
	}
}

// A detached child (Attr.Detach) runs beside the caller, which does not
// wait for its execve: it still gets exactly its descriptors and
// arguments, even with a garbage collection right after Start (what it
// reads must stay put until its execve), and is the caller's to reap. A
// failure before its execve is not reported, but the child ends (253),
// and what a detached start cannot do is refused.
func TestStartDetached(t *testing.T) {
	if !haveVfork {
		t.Skip("no rawVfork on " + goruntime.GOARCH + ": callers use os/exec")
	}
	const n = 20
	pids := make([]int, 0, n)
	outs := make([]*os.File, 0, n)
	for i := range n {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		pid, err := Start(&Attr{Path: "/bin/sh", Args: []string{"sh", "-c", `echo "$0 $1" >&3`, "child", fmt.Sprint(i)},
			Files: []*os.File{nil, nil, nil, w}, CgroupFD: -1, Setpgid: true, Idle: true, Detach: true})
		w.Close()
		if err != nil {
			r.Close()
			t.Fatal(err)
		}
		goruntime.GC()
		pids, outs = append(pids, pid), append(outs, r)
	}
	for i, pid := range pids {
		b, _ := io.ReadAll(outs[i])
		outs[i].Close()
		ws, err := Wait(pid)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(b), fmt.Sprintf("child %d\n", i); got != want || ws.ExitStatus() != 0 {
			t.Errorf("detached child %d wrote %q and exited %d, want %q and 0", i, got, ws.ExitStatus(), want)
		}
	}

	// What the children read is let go once they are done with it: by
	// the next detached start, all those above have executed.
	truePid, err := Start(&Attr{Path: "/bin/true", Args: []string{"true"}, CgroupFD: -1, Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	detachedMu.Lock()
	kept := len(detached)
	detachedMu.Unlock()
	Wait(truePid)
	if kept > 1 {
		t.Errorf("%d detached children's memory kept after the others executed, want only the newest", kept)
	}

	pid, err := Start(&Attr{Path: "/nonexistent/program", Args: []string{"x"}, CgroupFD: -1, Detach: true})
	if err != nil {
		t.Fatalf("a detached start reported its child's failure: %v", err)
	}
	if ws, err := Wait(pid); err != nil || ws.ExitStatus() != 253 {
		t.Errorf("a detached child that could not execute: %v, exit %d, want 253", err, ws.ExitStatus())
	}

	self, err := os.Open("/proc/self/ns/user")
	if err != nil {
		t.Skip("no user namespaces here")
	}
	defer self.Close()
	if _, err := Start(&Attr{Path: "/bin/true", Args: []string{"true"}, CgroupFD: -1, Detach: true, UserNS: self}); err == nil {
		t.Error("a detached start into a user namespace was not refused")
	}
}

// A detached child, which nobody waits for and which may then wait
// itself at the idle policy before its execve, lets go at once of every
// descriptor of ours it got beyond its own: a pipe among them (a
// command's standard output) would keep its reader waiting after the
// command had exited. Here the child waits in its setup, before its
// execve, until the test lets it go; the pipe must end meanwhile.
func TestStartDetachedLetsGoOfTheRest(t *testing.T) {
	if !haveVfork {
		t.Skip("no rawVfork on " + goruntime.GOARCH + ": callers use os/exec")
	}
	out, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	// Not close-on-exec, as a standard output inherited from a shell.
	inherited, err := unix.FcntlInt(w.Fd(), unix.F_DUPFD, 100)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	release, hold, err := os.Pipe()
	if err != nil {
		unix.Close(inherited)
		t.Fatal(err)
	}
	defer hold.Close()
	buf := new([1]byte) // the child reads into it: ours, kept past its end
	setup := plan.New("/")
	setup.Syscall("waiting to be let go", unix.SYS_READ, 3, uintptr(unsafe.Pointer(&buf[0])), 1)
	pid, err := Start(&Attr{Path: "/bin/true", Args: []string{"true"}, Files: []*os.File{nil, nil, nil, release},
		CgroupFD: -1, Setpgid: true, Idle: true, Detach: true, Setup: setup})
	unix.Close(inherited)
	release.Close()
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan struct{})
	go func() {
		io.Copy(io.Discard, out)
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Error("a detached child that has not executed yet still holds a pipe of ours it inherited")
	}
	var ws unix.WaitStatus
	if got, _ := unix.Wait4(pid, &ws, unix.WNOHANG, nil); got != 0 {
		t.Errorf("the child ended (%v) before it was let go: the check above proved nothing", ws)
	}
	hold.Write([]byte{1})
	if ws, err := Wait(pid); err != nil || ws.ExitStatus() != 0 {
		t.Errorf("the child, let go: %v, exit %d, want 0", err, ws.ExitStatus())
	}
	goruntime.KeepAlive(buf)
	goruntime.KeepAlive(setup)
}

// A child held without a payload (Attr.Hold alone) waits, in its new
// user namespace, while its caller writes its maps (as newuidmap does),
// and only on Hold.Go runs its setup and executes Path: as root there,
// with every capability. Abort ends such a child before it executes.
func TestHeldChildWithoutPayload(t *testing.T) {
	needUserNS(t)
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outR.Close()
	dir := t.TempDir()
	hold := &Hold{}
	pid, err := Start(&Attr{
		Path: "/bin/sh", Args: []string{"sh", "-c", "cat /proc/self/uid_map; grep ^CapEff: /proc/self/status; cd \"$0/made\" && echo in-made", dir},
		Env: []string{"PATH=/usr/bin:/bin"}, Files: []*os.File{nil, outW, outW},
		Cloneflags: unix.CLONE_NEWUSER, CgroupFD: -1, Hold: hold,
	})
	outW.Close()
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSPC) {
		t.Skipf("no user namespace for this user here: %v", err)
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	// Its maps, written from here as newuidmap would: the child must not
	// have executed yet, or it would have run without them.
	uid, gid := os.Geteuid(), os.Getegid()
	for _, w := range [][2]string{{"setgroups", "deny"}, {"uid_map", fmt.Sprintf("0 %d 1\n", uid)}, {"gid_map", fmt.Sprintf("0 %d 1\n", gid)}} {
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/%s", pid, w[0]), []byte(w[1]), 0); err != nil {
			hold.Abort()
			Wait(pid)
			t.Fatalf("writing the held child's %s: %v", w[0], err)
		}
	}
	setup := plan.New(dir)
	setup.OpenRoot()
	setup.MkdirAll("making made", "made")
	if err := setup.Err(); err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(goAndWait(t, hold, setup, pid, outR)))
	if len(got) != 6 || got[0] != "0" || got[1] != fmt.Sprint(uid) || got[3] != "CapEff:" || got[4] == "0000000000000000" || got[5] != "in-made" {
		t.Errorf("the held child printed %q, want its map (0 %d 1), a full CapEff and in-made (its setup ran, in %s)", got, uid, dir)
	}

	// Aborted: it ends without executing.
	hold = &Hold{}
	pid, err = Start(&Attr{Path: "/bin/sh", Args: []string{"sh", "-c", "exit 7"}, CgroupFD: -1, Hold: hold})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	hold.Abort()
	if ws, err := Wait(pid); err != nil || !ws.Exited() || ws.ExitStatus() == 7 {
		t.Errorf("an aborted held child ended with %v (%v), want an exit without executing (not 7)", ws, err)
	}
	// A held child's Go must not be given a payload, nor a raw PID 1's be
	// refused one.
	if err := (&Hold{r: &vforkReq{}, errR: os.NewFile(^uintptr(0), "none")}).Go(nil, &Payload{}); err == nil {
		t.Errorf("Go with a payload for a child held without one: no error")
	}
	if err := (&Hold{r: &vforkReq{raw: true}, errR: os.NewFile(^uintptr(0), "none")}).Go(nil, nil); err == nil {
		t.Errorf("Go without a payload for a held raw PID 1: no error")
	}
}

// needUserNS skips a test that starts a child in a user namespace where
// package spawn cannot start one (callers use os/exec there) or the
// kernel has no user namespaces.
// goAndWait lets a held child go with setup, waits for its end, which
// must be a success, and returns what it wrote to outR.
func goAndWait(t *testing.T, hold *Hold, setup *plan.Plan, pid int, outR *os.File) []byte {
	t.Helper()
	if err := hold.Go(setup, nil); err != nil {
		t.Fatalf("Go: %v", err)
	}
	ws, err := Wait(pid)
	out, _ := io.ReadAll(outR)
	if err != nil || !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("the held child ended with %v (%v); output:\n%s", ws, err, out)
	}
	return out
}

func needUserNS(t *testing.T) {
	t.Helper()
	if !haveVfork {
		t.Skip("no rawVfork on " + goruntime.GOARCH + ": callers use os/exec")
	}
	if err := unix.Access("/proc/self/ns/user", unix.R_OK); err != nil {
		t.Skip("no user namespaces here")
	}
}

// A held child's early plan runs before Go, where it was cloned: here it
// opens its user namespace at descriptor 3, which the program it then
// executes finds there. An early plan that fails says which op, and the
// child still goes on when told to.
func TestHeldChildEarly(t *testing.T) {
	needUserNS(t)
	start := func(early *plan.Plan, script string) (*Hold, int, *os.File) {
		t.Helper()
		outR, outW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		hold := &Hold{}
		pid, err := Start(&Attr{
			Path: "/bin/sh", Args: []string{"sh", "-c", script}, Env: []string{"PATH=/usr/bin:/bin"},
			Files:      []*os.File{nil, outW, outW, nil},
			Cloneflags: unix.CLONE_NEWUSER, UIDMap: fmt.Sprintf("0 %d 1\n", os.Geteuid()), GIDMap: fmt.Sprintf("0 %d 1\n", os.Getegid()),
			CgroupFD: -1, Hold: hold, Early: early,
		})
		outW.Close()
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSPC) {
			t.Skipf("no user namespace for this user here: %v", err)
		}
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		return hold, pid, outR
	}
	finish := func(hold *Hold, pid int, outR *os.File) string {
		t.Helper()
		defer outR.Close()
		return strings.TrimSpace(string(goAndWait(t, hold, nil, pid, outR)))
	}

	early := plan.New("/")
	early.OpenFixed("opening the user namespace", "/proc/self/ns/user", unix.O_RDONLY, 3)
	hold, pid, outR := start(early, "readlink /proc/self/fd/3; readlink /proc/self/ns/user")
	if err := hold.Early(); err != nil {
		hold.Abort()
		Wait(pid)
		t.Fatalf("Early: %v", err)
	}
	out := finish(hold, pid, outR)
	if got := strings.Fields(out); len(got) != 2 || !strings.HasPrefix(got[0], "user:[") || got[0] != got[1] {
		t.Errorf("the child printed %q; want its own user namespace at descriptor 3, twice", out)
	}

	bad := plan.New("/")
	bad.Syscall("a step that works", unix.SYS_GETPID)
	bad.Syscall("closing what is not open", unix.SYS_CLOSE, 999)
	hold, pid, outR = start(bad, "echo went on")
	var se *StepError
	if err := hold.Early(); !errors.As(err, &se) || se.Index != 1 || se.Errno != unix.EBADF {
		t.Errorf("Early of a plan whose second op fails: %v; want a StepError at index 1, EBADF", err)
	}
	if out := finish(hold, pid, outR); out != "went on" {
		t.Errorf("after a failed early plan the child printed %q, want it to go on", out)
	}
}
