//go:build vmguest

package guest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sandbox is the binary under test, put in the VM by the host.
const sandbox = "/opt/sandbox"

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s---", r.code, r.stdout, r.stderr)
}

// run runs sandbox ARGS with extra environment env.
func run(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(sandbox, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatalf("sandbox %v: %v", args, err)
	}
	// A command that hangs is shown, then ended, well before the VM's
	// time runs out: what every process waits in, and the Go stacks
	// SIGQUIT makes the CLI print.
	hung := make(chan struct{})
	watchdog := time.AfterFunc(commandTimeout, func() {
		locks, _ := os.ReadFile("/proc/locks")
		first := processTable()
		time.Sleep(3 * time.Second)
		t.Errorf("sandbox %s still runs after %v; the processes:\n%s\n3 s later:\n%s\n/proc/locks:\n%s",
			strings.Join(args, " "), commandTimeout, first, processTable(), locks)
		close(hung)
		cmd.Process.Signal(syscall.SIGQUIT)
		time.Sleep(3 * time.Second)
		cmd.Process.Kill()
	})
	err := cmd.Wait()
	if !watchdog.Stop() {
		<-hung
		t.Errorf("its output:\n%s\n%s", out.String(), errb.String())
	}
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("sandbox %v: %v", args, err)
	}
	t.Logf("$ sandbox %s  → %d", strings.Join(args, " "), r.code)
	return r
}

// commandTimeout is how long one sandbox command may run before the
// watchdog of run shows and ends it: minutes more than any takes in the
// VM (the slowest, an OOM kill, takes seconds).
const commandTimeout = 4 * time.Minute

// processTable is every process's pid, parent, state, wait channel and
// command line, and the wait channel of each of its threads, as /proc
// shows them to this user.
func processTable() string {
	var b strings.Builder
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		stat, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		cmdline, _ := os.ReadFile(d + "/cmdline")
		name := s[strings.IndexByte(s, '(')+1 : strings.LastIndexByte(s, ')')]
		var waits []string
		tasks, _ := filepath.Glob(d + "/task/[0-9]*")
		for _, task := range tasks {
			// wchan names the kernel function (or says 0: running, or
			// hidden); syscall's first field is the system call it
			// waits in, or "running".
			w, _ := os.ReadFile(task + "/wchan")
			sc, _ := os.ReadFile(task + "/syscall")
			call, _, _ := strings.Cut(string(sc), " ")
			waits = append(waits, fmt.Sprintf("%s:%s/%s", filepath.Base(task), w, strings.TrimSpace(call)))
		}
		if len(f) > 13 && f[1] != "2" && filepath.Base(d) != "2" { // not the kernel's threads
			// Its descriptors (pipes and sockets by inode, to match ends)
			// and its CPU time in ticks (user, system: do they move?).
			var fds []string
			links, _ := filepath.Glob(d + "/fd/[0-9]*")
			for _, l := range links {
				to, _ := os.Readlink(l)
				fds = append(fds, filepath.Base(l)+"="+to)
			}
			fmt.Fprintf(&b, "%s ppid %s %s (%s) %q cpu %s+%s waits %s fds %s\n", filepath.Base(d), f[1], f[0], name,
				strings.ReplaceAll(string(cmdline), "\x00", " "), f[11], f[12], strings.Join(waits, ","), strings.Join(fds, " "))
		}
	}
	return b.String()
}

func must(t *testing.T, args ...string) result {
	t.Helper()
	r := run(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("sandbox %s:\n%s", strings.Join(args, " "), r)
	}
	return r
}

var image struct {
	once sync.Once
	err  error
}

// bb imports (once per user) a busybox image made from the VM's own
// /bin/busybox: bin/busybox, a link per applet, /tmp.
func bb(t *testing.T) string {
	t.Helper()
	image.once.Do(func() {
		root := filepath.Join(os.Getenv("HOME"), "bbroot")
		for _, d := range []string{"bin", "tmp", "etc", "proc", "dev", "sys"} {
			os.MkdirAll(filepath.Join(root, d), 0o755)
		}
		os.Chmod(filepath.Join(root, "tmp"), 0o1777)
		busybox := "/bin/busybox"
		if _, err := os.Stat("/opt/busybox"); err == nil {
			busybox = "/opt/busybox" // the systemd image has none of its own
		}
		bin, err := os.ReadFile(busybox)
		if err != nil {
			image.err = err
			return
		}
		if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), bin, 0o755); err != nil {
			image.err = err
			return
		}
		list, err := exec.Command(busybox, "--list").Output()
		if err != nil {
			image.err = err
			return
		}
		for _, a := range strings.Fields(string(list)) {
			if a != "busybox" {
				os.Symlink("busybox", filepath.Join(root, "bin", a))
			}
		}
		os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
		cmd := exec.Command(sandbox, "import", root, "bb")
		if out, err := cmd.CombinedOutput(); err != nil {
			image.err = fmt.Errorf("import: %v\n%s", err, out)
		}
	})
	if image.err != nil {
		t.Fatalf("making the busybox image: %v", image.err)
	}
	return "bb"
}

// hogArgs run this test binary in the container as a payload (hog or
// forker, by environment): bound read-only at /payload.
var hogArgs = []string{"-v", selfPath() + ":/payload:ro"}

// selfPath is this test binary: /init in the busybox VM,
// /opt/guest.test in the systemd one.
func selfPath() string {
	p, err := os.Executable()
	if err != nil {
		return "/init"
	}
	return p
}

// inspected is what the tests read of inspect.
type inspected struct {
	Id    string
	State struct {
		Status    string
		Running   bool
		ExitCode  int
		OOMKilled bool
		Cgroup    string
	}
}

func inspect(t *testing.T, ref string) inspected {
	t.Helper()
	r := must(t, "inspect", ref)
	var out []inspected
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out) != 1 {
		t.Fatalf("inspect %s: %v\n%s", ref, err, r)
	}
	return out[0]
}

func cgroupFile(t *testing.T, cg, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", cg, name))
	if err != nil {
		t.Fatalf("reading %s of the container's cgroup: %v", name, err)
	}
	return string(b)
}

func keyed(text, key string) uint64 {
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// waitFor polls cond every 20 ms up to timeout.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// TestMemoryLimit: 256 MiB under --memory 64m --memory-swap 64m is killed
// by the OOM killer (137, the message, OOMKilled); 32 MiB runs.
func TestMemoryLimit(t *testing.T) {
	img := bb(t)
	args := append([]string{"run", "--name", "oom", "--memory", "64m", "--memory-swap", "64m", "-e", "VM_HOG_MIB=256"}, hogArgs...)
	r := run(t, nil, append(args, img, "/payload")...)
	if r.code != 137 || !strings.Contains(r.stderr, "killed: out of memory (limit 64MiB)") {
		t.Fatalf("256 MiB under a 64 MiB limit: want exit 137 and \"killed: out of memory (limit 64MiB)\":\n%s", r)
	}
	if d := inspect(t, "oom"); !d.State.OOMKilled || d.State.ExitCode != 137 {
		t.Fatalf("inspect oom: %+v, want OOMKilled and exit 137", d.State)
	}
	if r := must(t, "ps", "-a", "--format", "json"); !regexp.MustCompile(`"oom_killed":\s*true`).MatchString(r.stdout) {
		t.Errorf("ps -a --format json does not show the OOM kill:\n%s", r.stdout)
	}
	must(t, "rm", "oom")

	// Detached, the message is in the log.
	args = append([]string{"run", "-d", "--name", "oomd", "--memory", "64m", "-e", "VM_HOG_MIB=256"}, hogArgs...)
	must(t, append(args, img, "/payload")...)
	if r := must(t, "wait", "oomd"); r.stdout != "137\n" {
		t.Fatalf("wait oomd printed %q, want 137", r.stdout)
	}
	if r := must(t, "logs", "oomd"); !strings.Contains(r.stderr+r.stdout, "killed: out of memory (limit 64MiB)") {
		t.Fatalf("the detached container's log lacks the OOM message:\n%s", r)
	}
	must(t, "rm", "oomd")

	args = append([]string{"run", "--rm", "--memory", "64m", "--memory-swap", "64m", "-e", "VM_HOG_MIB=32"}, hogArgs...)
	r = run(t, nil, append(args, img, "/payload")...)
	if r.code != 0 || !strings.Contains(r.stdout, "allocated 32 MiB") || strings.Contains(r.stderr, "out of memory") {
		t.Fatalf("32 MiB under a 64 MiB limit should run:\n%s", r)
	}
}

// TestPidsLimit: under --pids-limit 32 a fork loop is refused with EAGAIN,
// the container lives on (exit 0), sandbox notes the refused forks, and
// the host forks as before.
func TestPidsLimit(t *testing.T) {
	img := bb(t)
	args := append([]string{"run", "--rm", "--pids-limit", "32", "-e", "VM_FORKER=1"}, hogArgs...)
	r := run(t, nil, append(args, img, "/payload")...)
	if r.code != 0 || !strings.Contains(r.stdout, "resource temporarily unavailable") || !strings.Contains(r.stdout, "still alive") {
		t.Fatalf("a fork loop under --pids-limit 32: want EAGAIN and the container alive (exit 0):\n%s", r)
	}
	if !strings.Contains(r.stderr, "fork(s) refused") {
		t.Errorf("sandbox did not note the refused forks:\n%s", r)
	}
	var kids []*os.Process
	defer func() {
		for _, p := range kids {
			p.Kill()
			p.Wait()
		}
	}()
	for i := 0; i < 40; i++ {
		p, err := os.StartProcess("/bin/sleep", []string{"sleep", "5"}, &os.ProcAttr{})
		if err != nil {
			t.Fatalf("the host could not fork its %dth child after the container: %v", i+1, err)
		}
		kids = append(kids, p)
	}
}

// TestCPULimit: --cpus 0.2 on a busy loop: throttled, and never more CPU
// time than the quota of the periods that passed (kernel counters).
func TestCPULimit(t *testing.T) {
	img := bb(t)
	must(t, "run", "-d", "--name", "spin", "--cpus", "0.2", img, "sh", "-c", "while :; do :; done")
	defer run(t, nil, "rm", "-f", "spin")
	cg := inspect(t, "spin").State.Cgroup
	if cg == "" {
		t.Fatal("inspect shows no cgroup for a limited container")
	}
	if got := strings.TrimSpace(cgroupFile(t, cg, "cpu.max")); got != "20000 100000" {
		t.Fatalf("cpu.max = %q, want \"20000 100000\"", got)
	}
	var stat string
	if !waitFor(2*time.Minute, func() bool {
		stat = cgroupFile(t, cg, "cpu.stat")
		return keyed(stat, "nr_periods") >= 20 && keyed(stat, "nr_throttled") > 0
	}) {
		t.Fatalf("the busy loop was never throttled:\n%s", stat)
	}
	checkCPUQuota(t, stat, 20000)
}

// checkCPUQuota fails when cpu.stat shows more CPU time than the quota of the
// periods that passed, with room for what the kernel lets through: usage also
// counts the start-up before the first period, and CFS bandwidth can overrun a
// period by a slice (more under TCG's coarse timers; CI measured 21.5 ms per
// 20 ms period). An unlimited busy loop uses ~5× this quota, so it still fails.
func checkCPUQuota(t *testing.T, stat string, quota uint64) {
	t.Helper()
	usage, periods := keyed(stat, "usage_usec"), keyed(stat, "nr_periods")
	if allowed := periods*quota*3/2 + 50000; usage > allowed {
		t.Errorf("usage %d µs over %d periods exceeds the quota of %d µs per period (allowed with slack %d µs):\n%s",
			usage, periods, quota, allowed, stat)
	}
	t.Logf("cpu.stat: usage %d µs in %d periods, %d throttled", usage, periods, keyed(stat, "nr_throttled"))
}

// TestIOLimit: --device-write-bps on the scratch disk throttles O_DIRECT
// writes: io.stat's bytes over the time they took stay near the limit.
func TestIOLimit(t *testing.T) {
	img := bb(t)
	dev := scratchDevice(t)
	dir := filepath.Join(os.Getenv("HOME"), "io")
	os.MkdirAll(dir, 0o755)
	const rate = 512 << 10
	must(t, "run", "-d", "--name", "writer", "--device-write-bps", dev+":512KiB", "-v", dir+":/io", img,
		"sh", "-c", "dd if=/dev/zero of=/io/out bs=64k count=48 oflag=direct 2>/io/dd.log; echo done > /io/done; sleep 600")
	defer run(t, nil, "rm", "-f", "writer")
	cg := inspect(t, "writer").State.Cgroup
	if got := cgroupFile(t, cg, "io.max"); !strings.Contains(got, "wbps=524288") {
		t.Fatalf("io.max = %q, want wbps=524288", got)
	}
	written := func() uint64 {
		var n uint64
		for _, f := range strings.Fields(cgroupFile(t, cg, "io.stat")) {
			if v, ok := strings.CutPrefix(f, "wbytes="); ok {
				x, _ := strconv.ParseUint(v, 10, 64)
				n += x
			}
		}
		return n
	}
	// Measure from the first bytes seen to the last: at most the limit
	// (plus one throttling slice of slack).
	if !waitFor(time.Minute, func() bool { return written() > 0 }) {
		t.Fatal("the writer wrote nothing")
	}
	start, from := time.Now(), written()
	if !waitFor(2*time.Minute, func() bool { _, err := os.Stat(filepath.Join(dir, "done")); return err == nil }) {
		t.Fatal("the writer never finished")
	}
	took, bytes := time.Since(start), written()-from
	got := float64(bytes) / took.Seconds()
	t.Logf("io.stat: %d bytes in %v: %.0f B/s under a limit of %d B/s", bytes, took.Round(time.Millisecond), got, rate)
	if bytes < 1<<20 {
		t.Fatalf("only %d bytes were written through the limit", bytes)
	}
	if got > 1.25*rate {
		t.Fatalf("writes ran at %.0f B/s, over the %d B/s limit", got, rate)
	}
}

// scratchDevice is the block device /scratch is on.
func scratchDevice(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && f[1] == "/scratch" {
			return f[0]
		}
	}
	t.Fatal("/scratch is not mounted")
	return ""
}

// TestLimitsFromTOML: the same limits from a launch file's [resources].
func TestLimitsFromTOML(t *testing.T) {
	img := bb(t)
	file := filepath.Join(os.Getenv("HOME"), "limited.toml")
	os.WriteFile(file, []byte(fmt.Sprintf(`image = %q
command = ["/payload"]

[env]
VM_HOG_MIB = "256"

[[mount]]
source = %q
target = "/payload"
read_only = true

[resources]
memory = "64MiB"
memory_swap = "64MiB"
pids = 64
cpus = 0.5
`, img, selfPath())), 0o644)
	r := run(t, nil, "run", "--name", "fromtoml", "--config", file)
	defer run(t, nil, "rm", "-f", "fromtoml")
	if r.code != 137 || !strings.Contains(r.stderr, "killed: out of memory (limit 64MiB)") {
		t.Fatalf("[resources] memory = \"64MiB\" did not stop 256 MiB:\n%s", r)
	}
	if !inspect(t, "fromtoml").State.OOMKilled {
		t.Fatal("inspect does not show the OOM kill")
	}
	// The other limits, seen in the cgroup while it runs.
	must(t, "run", "-d", "--name", "tomlsleep", "--config", file, "--", "sleep", "600")
	defer run(t, nil, "rm", "-f", "tomlsleep")
	cg := inspect(t, "tomlsleep").State.Cgroup
	for file, want := range map[string]string{"memory.max": "67108864", "memory.swap.max": "0", "pids.max": "64", "cpu.max": "50000 100000"} {
		if got := strings.TrimSpace(cgroupFile(t, cg, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
}

// TestStats: stats --no-stream shows the container's usage within its
// limits, as a table and as JSON.
func TestStats(t *testing.T) {
	img := bb(t)
	must(t, "run", "-d", "--name", "watched", "--memory", "64m", "--pids-limit", "50", img, "sh", "-c", "sleep 600 & sleep 600 & wait")
	defer run(t, nil, "rm", "-f", "watched")
	r := must(t, "stats", "--no-stream", "--format", "json", "watched")
	var stats []struct {
		Name        string
		MemoryUsage uint64
		MemoryLimit uint64
		Pids        uint64
		PidsLimit   uint64
		CPUPercent  float64
	}
	if err := json.Unmarshal([]byte(r.stdout), &stats); err != nil || len(stats) != 1 {
		t.Fatalf("stats --format json: %v\n%s", err, r)
	}
	s := stats[0]
	if s.Name != "watched" || s.MemoryLimit != 64<<20 || s.MemoryUsage == 0 || s.MemoryUsage > s.MemoryLimit || s.PidsLimit != 50 || s.Pids < 3 || s.Pids > 50 {
		t.Fatalf("stats: %+v; want usage within 64 MiB and 3–50 pids of 50", s)
	}
	r = must(t, "stats", "--no-stream", "watched")
	for _, want := range []string{"CPU %", "MEM USAGE / LIMIT", "PIDS", "watched", "64MiB"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stats table lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestCgroupRemoved: a container's cgroup is gone when it exits, and when
// rm -f ends it while it runs.
func TestCgroupRemoved(t *testing.T) {
	img := bb(t)
	must(t, "run", "-d", "--name", "gone", "--memory", "64m", img, "sleep", "600")
	cg := inspect(t, "gone").State.Cgroup
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", cg)); err != nil {
		t.Fatalf("the running container's cgroup %s: %v", cg, err)
	}
	must(t, "rm", "-f", "gone")
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", cg)); !os.IsNotExist(err) {
		t.Fatalf("after rm -f, cgroup %s is still there (%v)", cg, err)
	}
	r := must(t, "run", "--name", "brief", "--memory", "64m", img, "true")
	_ = r
	if after := leftover(t); len(after) > 0 {
		t.Fatalf("cgroups left behind: %v", after)
	}
	must(t, "rm", "brief")
}

// leftover lists sandbox-* cgroups under this user's app.slice.
func leftover(t *testing.T) []string {
	t.Helper()
	own, _ := os.ReadFile("/proc/self/cgroup")
	path := strings.TrimSpace(strings.TrimPrefix(string(own), "0::"))
	matches, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", filepath.Dir(path), "sandbox-*"))
	return matches
}

// TestStockDelegation (uid 1001: cpu memory pids, systemd's default): an
// io limit is refused, 125, naming io and the drop-in that delegates it;
// memory still works.
func TestStockDelegation(t *testing.T) {
	img := bb(t)
	r := run(t, nil, "run", "--rm", "--device-write-bps", scratchDevice(t)+":1MiB", img, "true")
	if r.code != 125 {
		t.Fatalf("an io limit without the io controller: want 125:\n%s", r)
	}
	for _, want := range []string{"io", "not delegated", "Delegate=pids memory cpu io", "/etc/systemd/system/user@.service.d/delegate.conf"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the error lacks %q:\n%s", want, r.stderr)
		}
	}
	must(t, "run", "--rm", "--memory", "64m", img, "true")
	r = must(t, "info")
	for _, want := range []string{"version: v2", "delegated controllers: cpu memory pids", "memory, memory_swap limits: enforced", "io limits: refused"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("info lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestInfo: info says where containers' cgroups go and that every limit
// works with all four controllers delegated.
func TestInfo(t *testing.T) {
	r := must(t, "info")
	for _, want := range []string{"version: v2", "containers go in: /user.slice/user-1000.slice/user@1000.service/app.slice/sandbox-<id>", "io limits: enforced", "pids limits: enforced"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("info lacks %q:\n%s", want, r.stdout)
		}
	}
}
