package tests

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/runtime"
)

// defaultTimeout bounds every sandbox command; a hung command is killed
// (its whole process group) and fails the test.
const defaultTimeout = 60 * time.Second

// idRange is one line of /etc/subuid or /etc/subgid.
type idRange struct{ start, count uint32 }

// user is one way of running sandbox: a host user, its fresh home (and so
// its own store), and the id mapping mode sandbox must pick for it.
type user struct {
	mode     string // "subid" or "single"
	name     string
	uid, gid uint32
	// switchIDs is true when the suite runs as root: commands then run
	// with this user's credentials.
	switchIDs bool
	home      string
	env       []string
	// subUIDs and subGIDs are the user's ranges in /etc/subuid and
	// /etc/subgid, in file order.
	subUIDs, subGIDs []idRange
	// skip, when set, is why this variant cannot run on this machine.
	skip string

	// mu serializes imports and loads into the store; images records those
	// done once per run (ensureImage).
	mu     sync.Mutex
	images map[string]error
}

func newUser(mode, name string, switchIDs bool) (*user, error) {
	pw, err := osuser.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, _ := strconv.ParseUint(pw.Uid, 10, 32)
	gid, _ := strconv.ParseUint(pw.Gid, 10, 32)
	u := &user{mode: mode, name: name, uid: uint32(uid), gid: uint32(gid), switchIDs: switchIDs, images: map[string]error{}}
	if u.subUIDs, err = readSubIDs("/etc/subuid", name, pw.Uid); err != nil {
		return nil, err
	}
	if u.subGIDs, err = readSubIDs("/etc/subgid", name, pw.Uid); err != nil {
		return nil, err
	}
	u.home = filepath.Join(baseDir, "home-"+mode)
	if err := u.mkdirAll(u.home); err != nil {
		return nil, err
	}
	if err := os.Chmod(u.home, 0o700); err != nil {
		return nil, err
	}
	tmp := filepath.Join(u.home, "tmp")
	// Outside the home, as /run/user/UID is: sandbox refuses a volume
	// that holds its runtime directory, and tests bind the home.
	runtimeDir := filepath.Join(baseDir, "run-"+mode)
	for _, d := range []string{tmp, runtimeDir} {
		if err := u.mkdirAll(d); err != nil {
			return nil, err
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return nil, err
		}
	}
	u.env = []string{
		"HOME=" + u.home,
		"USER=" + name,
		"LOGNAME=" + name,
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"TMPDIR=" + tmp,
		"XDG_RUNTIME_DIR=" + runtimeDir,
		"LANG=C.UTF-8",
	}
	return u, nil
}

// store is the user's sandbox store (the default location).
func (u *user) store() string { return filepath.Join(u.home, ".local", "share", "sandbox") }

// chown gives path to the user (when the suite switches ids).
func (u *user) chown(path string) error {
	if !u.switchIDs {
		return nil
	}
	return os.Lchown(path, int(u.uid), int(u.gid))
}

// mkdirAll makes dir (mode 0755) and any missing parents, owned by the user.
func (u *user) mkdirAll(dir string) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		missing = append(missing, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := os.Chmod(missing[i], 0o755); err != nil {
			return err
		}
		if err := u.chown(missing[i]); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes a file owned by the user, making its directory if needed.
func (u *user) writeFile(path, content string, perm os.FileMode) error {
	if err := u.mkdirAll(filepath.Dir(path)); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		return err
	}
	if err := os.Chmod(path, perm); err != nil {
		return err
	}
	return u.chown(path)
}

// mustMkdir and mustWrite are mkdirAll and writeFile for tests.
func (u *user) mustMkdir(t testing.TB, dir string) string {
	t.Helper()
	if err := u.mkdirAll(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func (u *user) mustWrite(t *testing.T, path, content string, perm os.FileMode) string {
	t.Helper()
	if err := u.writeFile(path, content, perm); err != nil {
		t.Fatal(err)
	}
	return path
}

// forEachUser runs fn as a subtest per variant ("subid", "single"). The
// variants run in parallel when they are different host users.
func forEachUser(t *testing.T, fn func(t *testing.T, u *user)) {
	for _, u := range users {
		t.Run(u.mode, func(t *testing.T) {
			if u.skip != "" {
				t.Skip(u.skip)
			}
			if parallelUsers {
				t.Parallel()
			}
			fn(t, u)
		})
	}
}

// ---- running sandbox ----

// runOpts adjusts one command.
type runOpts struct {
	bin     string    // the binary to run; default sandboxBin
	stdin   io.Reader // default /dev/null
	env     []string  // added to (and overriding) the user's environment
	timeout time.Duration
	// tty, when set, is the command's stdin, stdout and stderr and becomes
	// its controlling terminal (in a new session).
	tty *os.File
}

// result is a finished command.
type result struct {
	cmdline        string
	stdout, stderr string
	code           int    // exit status; -1 when killed by a signal
	signal         string // the signal that killed it, if one did
	elapsed        time.Duration
}

func (r result) String() string {
	status := fmt.Sprintf("exit status %d", r.code)
	if r.signal != "" {
		status = "killed by " + r.signal
	}
	return fmt.Sprintf("$ %s\n(%s after %v)\n--- stdout:\n%s--- stderr:\n%s---", r.cmdline, status, r.elapsed.Round(time.Millisecond), r.stdout, r.stderr)
}

// proc is a command started in the background.
type proc struct {
	cmd            *exec.Cmd
	pid            int
	cmdline        string
	stdout, stderr bytes.Buffer
	started        time.Time
	done           chan struct{}
	res            result
}

func (u *user) command(o runOpts, args ...string) *exec.Cmd {
	bin := o.bin
	if bin == "" {
		bin = sandboxBin
	}
	c := exec.Command(bin, args...)
	c.Env = append(append([]string{}, u.env...), o.env...)
	c.Dir = u.home
	c.Stdin = o.stdin
	// Its own process group, so a timeout can kill everything it started
	// in the host's namespaces.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if o.tty != nil {
		c.Stdin, c.Stdout, c.Stderr = o.tty, o.tty, o.tty
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	}
	if u.switchIDs {
		c.SysProcAttr.Credential = &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: []uint32{}}
	}
	// A leaked process holding the output pipes must not hang the suite.
	c.WaitDelay = 5 * time.Second
	return c
}

// start runs sandbox ARGS in the background as the user.
func (u *user) start(t *testing.T, args ...string) *proc {
	t.Helper()
	return u.startWith(t, runOpts{}, args...)
}

func (u *user) startWith(t testing.TB, o runOpts, args ...string) *proc {
	t.Helper()
	c := u.command(o, args...)
	p := &proc{cmd: c, cmdline: "sandbox " + shellJoin(args), done: make(chan struct{})}
	if o.bin != "" {
		p.cmdline = o.bin + " " + shellJoin(args)
	}
	if o.tty == nil {
		c.Stdout, c.Stderr = &p.stdout, &p.stderr
	}
	p.started = time.Now()
	if err := c.Start(); err != nil {
		t.Fatalf("starting %s: %v", p.cmdline, err)
	}
	p.pid = c.Process.Pid
	go func() {
		err := c.Wait()
		p.res = result{cmdline: p.cmdline, stdout: p.stdout.String(), stderr: p.stderr.String(), elapsed: time.Since(p.started), code: -1}
		if ps := c.ProcessState; ps != nil {
			p.res.code = ps.ExitCode()
			if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.res.signal = ws.Signal().String()
			}
		} else if err != nil {
			p.res.stderr += fmt.Sprintf("\n(wait: %v)", err)
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
		}
	})
	return p
}

// kill kills the command, if it still runs, with its process group and
// every process descended from it: the container's init runs in a session
// of its own, and must not outlive a test even if sandbox fails to take it
// down.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	var tree []procInfo
	for _, q := range listProcs() {
		if descendantOf(q.pid, p.pid) {
			tree = append(tree, q)
		}
	}
	syscall.Kill(-p.pid, syscall.SIGKILL)
	for _, q := range tree {
		if alive(q) {
			syscall.Kill(q.pid, syscall.SIGKILL)
		}
	}
}

// wait waits up to timeout for the command; on timeout it kills it and
// reports false.
func (p *proc) wait(timeout time.Duration) (result, bool) {
	select {
	case <-p.done:
		return p.res, true
	case <-time.After(timeout):
		p.kill()
		<-p.done
		return p.res, false
	}
}

// run runs sandbox ARGS as the user and returns how it ended.
func (u *user) run(t *testing.T, args ...string) result {
	t.Helper()
	return u.runWith(t, runOpts{}, args...)
}

func (u *user) runWith(t testing.TB, o runOpts, args ...string) result {
	t.Helper()
	timeout := o.timeout
	if timeout == 0 {
		timeout = defaultTimeout
	}
	p := u.startWith(t, o, args...)
	r, ok := p.wait(timeout)
	if !ok {
		t.Fatalf("timed out after %v, killed:\n%s", timeout, r)
	}
	return r
}

// mustRun runs sandbox ARGS and fails the test unless it exits 0.
func (u *user) mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := u.run(t, args...)
	wantCode(t, r, 0)
	return r
}

// ensureImage runs an import or load command once per user and run: the
// images it makes are shared by the tests. A failure is remembered, so
// later tests fail at once with the same reason.
func (u *user) ensureImage(t *testing.T, key string, args ...string) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if err, ok := u.images[key]; ok {
		if err != nil {
			t.Fatalf("image %s is unavailable: %v", key, err)
		}
		return
	}
	r := u.run(t, args...)
	if r.code != 0 {
		u.images[key] = fmt.Errorf("making it failed:\n%s", r)
		t.Fatalf("making image %s failed:\n%s", key, r)
	}
	u.images[key] = nil
}

// bb imports the busybox image as "bb" (once) and returns its name.
func (u *user) bb(t *testing.T) string {
	t.Helper()
	tarball := busyboxTar(t)
	u.ensureImage(t, "bb", "import", tarball, "bb")
	return "bb"
}

func shellJoin(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$;&|<>()*?`\\!#") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		quoted[i] = a
	}
	return strings.Join(quoted, " ")
}

// ---- assertions ----

func wantCode(t testing.TB, r result, code int) {
	t.Helper()
	if r.code != code || r.signal != "" {
		t.Fatalf("want exit status %d:\n%s", code, r)
	}
}

func wantFailure(t *testing.T, r result) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("want a non-zero exit status:\n%s", r)
	}
}

func wantStdout(t *testing.T, r result, want string) {
	t.Helper()
	if r.stdout != want {
		t.Fatalf("stdout is %q, want %q:\n%s", r.stdout, want, r)
	}
}

func wantStdoutContains(t *testing.T, r result, want string) {
	t.Helper()
	if !strings.Contains(r.stdout, want) {
		t.Fatalf("stdout lacks %q:\n%s", want, r)
	}
}

func wantStderrContains(t *testing.T, r result, want string) {
	t.Helper()
	if !strings.Contains(r.stderr, want) {
		t.Fatalf("stderr lacks %q:\n%s", want, r)
	}
}

// ---- host-side inspection ----

// procInfo is what the suite reads of a host process.
type procInfo struct {
	pid, ppid int
	state     byte
	starttime string // with pid, identifies a process despite pid reuse
	uid       uint32 // real uid, as the host sees it
	cmdline   string // arguments joined by spaces
	comm      string // the process name (sandbox's init names itself sandbox-init)
	pidns     string // readlink of /proc/PID/ns/pid
}

// readProc reads /proc/PID; false when the process is gone.
func readProc(pid int) (procInfo, bool) {
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return procInfo{}, false
	}
	// "pid (comm) state ppid ...": comm may hold spaces, so split after
	// the last parenthesis.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return procInfo{}, false
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 20 {
		return procInfo{}, false
	}
	p := procInfo{pid: pid, state: fields[0][0], starttime: fields[19]}
	if j := bytes.IndexByte(stat, '('); j >= 0 && j < i {
		p.comm = string(stat[j+1 : i])
	}
	p.ppid, _ = strconv.Atoi(fields[1])
	if status, err := os.ReadFile(dir + "/status"); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					uid, _ := strconv.ParseUint(f[0], 10, 32)
					p.uid = uint32(uid)
				}
			}
		}
	}
	if cmdline, err := os.ReadFile(dir + "/cmdline"); err == nil {
		p.cmdline = strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	p.pidns, _ = os.Readlink(dir + "/ns/pid")
	return p, true
}

// alive reports whether p still runs: the same process (not a reused pid)
// and not a zombie (a zombie has exited; reaping it is its parent's job).
func alive(p procInfo) bool {
	now, ok := readProc(p.pid)
	return ok && now.starttime == p.starttime && now.state != 'Z'
}

// listProcs returns every host process.
func listProcs() []procInfo {
	entries, _ := os.ReadDir("/proc")
	var out []procInfo
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			out = append(out, p)
		}
	}
	return out
}

// descendantOf reports whether pid has ancestor among its parents.
func descendantOf(pid, ancestor int) bool {
	for i := 0; i < 16 && pid > 1; i++ {
		p, ok := readProc(pid)
		if !ok {
			return false
		}
		if p.ppid == ancestor {
			return true
		}
		pid = p.ppid
	}
	return false
}

// afterCommand bounds the wait for what a command leaves to run after
// its exit (the removal, the next spare's maker): at the idle policy it
// gets a processor only where nothing else wants one, and the suite runs
// packages side by side (tests/vm's emulated machines take both of CI's
// processors for minutes). Once, in a full suite, 10 s did not do.
const afterCommand = time.Minute

// waitFor polls cond every 20 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mountsUnder lists the mount points of the test process's mount namespace
// at or below dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeOctal(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}

// unescapeOctal undoes mountinfo's \040-style escapes.
func unescapeOctal(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// hashTree digests a directory tree: every entry's relative path, type and
// permission bits, owner, content (regular files), target (symlinks) and
// device number (whiteouts), in sorted order. It also returns how many
// entries it saw.
func hashTree(t *testing.T, root string) (string, int) {
	t.Helper()
	type rec struct{ path, line string }
	var recs []rec
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %v %d:%d", rel, fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			line += " " + hex.EncodeToString(sum[:])
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			line += " -> " + target
		case fi.Mode()&fs.ModeDevice != 0:
			line += fmt.Sprintf(" dev %d", st.Rdev)
		}
		recs = append(recs, rec{rel, line})
		return nil
	})
	if err != nil {
		t.Fatalf("hashing %s: %v", root, err)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].path < recs[j].path })
	h := sha256.New()
	for _, r := range recs {
		fmt.Fprintln(h, r.line)
	}
	return hex.EncodeToString(h.Sum(nil)), len(recs)
}

// fileSHA256 is the digest of a file's content.
func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// dirEntries lists the names in dir (none when it does not exist).
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// settledEntries is a store's tmp/ (dir) as stagingEntries lists it, once
// what is being removed in the background is gone: a --rm run returns as
// soon as its container is out of the store, and its init removes the
// files as it ends (tmp/rm-ID), then makes the next container's
// directory ahead (tmp/.pending-skel-…, then tmp/skel-LAYOUT). It waits up to
// five seconds for that to end.
func settledEntries(t *testing.T, dir string) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		names := stagingEntries(t, dir)
		busy := false
		for _, n := range names {
			busy = busy || strings.HasPrefix(n, "rm-") || strings.HasPrefix(n, ".pending-skel-")
		}
		if !busy || time.Now().After(deadline) {
			return names
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stagingEntries is a store's tmp/ (dir) but the container directory made
// ahead, tmp/skel-LAYOUT (image.SkeletonPrefix), and the spare roots,
// tmp/spare-PID and its lock (runtime.SpareRootPrefix): no leftover of
// any command, but what the next container's creation, or the next raw
// start, takes. (A spare root whose holder has ended, the next maker or
// the removal of the run that took it removes: TestSpareRoot checks it.)
func stagingEntries(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	for _, n := range dirEntries(t, dir) {
		// A removal's skeleton and a spare's root, made or being made
		// (under a pending name), belong to the runs before: a removal
		// is done once the next spare is made, up to 100 ms after its
		// command.
		n2 := strings.TrimPrefix(n, ".pending-")
		if !strings.HasPrefix(n2, "skel-") && !strings.HasPrefix(n2, runtime.SpareRootPrefix) {
			names = append(names, n)
		}
	}
	return names
}

// fuseUnusable says why the test users cannot use fuse-overlayfs here, or
// "" when they can.
func fuseUnusable() string {
	if _, err := exec.LookPath("fuse-overlayfs"); err != nil {
		if _, err := os.Stat("/usr/bin/fuse-overlayfs"); err != nil {
			return "fuse-overlayfs is not installed: apt-get install fuse-overlayfs"
		}
	}
	fi, err := os.Stat("/dev/fuse")
	if err != nil {
		return "/dev/fuse is missing: " + err.Error()
	}
	if os.Geteuid() == 0 {
		// The test users are "others" to the root-owned device.
		if fi.Mode().Perm()&0o006 != 0o006 {
			return fmt.Sprintf("/dev/fuse is mode %04o; .ci/run makes it 0666", fi.Mode().Perm())
		}
	} else if syscall.Access("/dev/fuse", 0o6) != nil {
		return fmt.Sprintf("/dev/fuse is mode %04o and not usable by this user; .ci/run makes it 0666", fi.Mode().Perm())
	}
	return ""
}

// testPrograms are the static programs the suite builds besides the
// CLI, each once per run (builtOnce): tests/testdata's helpers, the CLI
// with other linker flags.
var testPrograms sync.Map // file name → *builtProgram

type builtProgram struct {
	once sync.Once
	path string
	err  error
}

// testProgram builds tests/testdata/NAME as a static binary next to the
// sandbox binary (root-owned, in a root-owned directory, when the suite
// runs as root: the test users can run it and bind it into sandboxes, but
// not replace it) and returns its path.
func testProgram(t *testing.T, name string) string {
	t.Helper()
	// Not named plainly after it: TestImportConfinement looks for
	// strays named "escape".
	return builtOnce(t, "testdata-"+name, "./testdata/"+name)
}

// builtOnce builds pkg (with the go build flags given) as a static
// binary named file next to the sandbox binary, once per run, and
// returns its path.
func builtOnce(t *testing.T, file, pkg string, flags ...string) string {
	t.Helper()
	v, _ := testPrograms.LoadOrStore(file, &builtProgram{})
	p := v.(*builtProgram)
	p.once.Do(func() {
		bin := filepath.Join(filepath.Dir(sandboxBin), file)
		args := append(append([]string{"build", "-buildvcs=false"}, flags...), "-o", bin, pkg)
		cmd := exec.Command("go", args...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			p.err = fmt.Errorf("building %s: %v: %s", pkg, err, out)
			return
		}
		p.path, p.err = bin, os.Chmod(bin, 0o755)
	})
	if p.err != nil {
		t.Fatal(p.err)
	}
	return p.path
}

// runtimeDir is the user's XDG_RUNTIME_DIR.
func (u *user) runtimeDir() string {
	for _, kv := range u.env {
		if v, ok := strings.CutPrefix(kv, "XDG_RUNTIME_DIR="); ok {
			return v
		}
	}
	return ""
}
