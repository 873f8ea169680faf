package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// -all: the whole table of issue 11 in one run, as root, measuring each
// user's part as that user (one without subordinate ids, one with):
// start to exit next to bwrap and podman, exec next to podman exec and
// bwrap's run, the PSS of sandbox's own processes behind 1 and 10
// detached containers next to podman's conmon, and pull next to podman.

// benchUser is an unprivileged user the commands run as.
type benchUser struct {
	name     string
	uid, gid int
	env      []string
	dir      string // the user's own work directory
	runtime  string // its XDG_RUNTIME_DIR, this run's own
}

// current is the user measure (pull.go) runs commands as; nil: this one.
var current *benchUser

func lookupUser(name, work string) *benchUser {
	u, err := user.Lookup(name)
	check(err)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir := filepath.Join(work, name)
	// A fresh runtime directory each run (short: podman refuses long
	// runroots), so that the podman pause process in it is this run's.
	run, err := os.MkdirTemp("/tmp", "benchstart-"+name+"-")
	check(err)
	cleanups = append(cleanups, func() {
		if b, err := os.ReadFile(filepath.Join(run, "libpod/tmp/pause.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		endSpares(run)
		os.RemoveAll(run)
	})
	for _, d := range []string{dir, filepath.Join(dir, "data"), filepath.Join(dir, "config"), run} {
		check(os.MkdirAll(d, 0o700))
		check(os.Chown(d, uid, gid))
	}
	return &benchUser{name: name, uid: uid, gid: gid, dir: dir, runtime: run, env: []string{
		"HOME=" + u.HomeDir, "USER=" + name, "LOGNAME=" + name, "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
		"XDG_RUNTIME_DIR=" + run, "XDG_DATA_HOME=" + filepath.Join(dir, "data"), "XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
	}}
}

// command makes argv run as u (or as this process when u is nil).
func (u *benchUser) command(argv ...string) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	if u != nil {
		cmd.Env = u.env
		cmd.Dir = u.dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid), Groups: []uint32{}}}
	}
	return cmd
}

func (u *benchUser) run(argv ...string) (string, error) {
	out, err := u.command(argv...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, firstLine(out))
	}
	return string(out), nil
}

func (u *benchUser) time(argv ...string) (time.Duration, error) {
	start := time.Now()
	_, err := u.run(argv...)
	return time.Since(start), err
}

// row is one line of the summary table.
type row struct {
	measure, sandbox, peer, target string
	met                            bool
	measured                       bool
}

func benchAll(sandbox, work, rootfs, tarball string, n int, single, subid, debianTar string, debootstrap bool) {
	if os.Getuid() != 0 {
		fail("-all runs as root: it measures each user's part as that user (-user-single, -user-subid)")
	}
	debianTar, noDebian := debianTarball(debianTar, debootstrap)
	// Everyone must reach the binaries and the rootfs.
	check(os.Chmod(work, 0o755))
	cleanups = append(cleanups, func() { os.RemoveAll(work) })
	defer runCleanups()
	var rows []row
	for _, who := range []struct{ name, label string }{{single, "no subids"}, {subid, "subids"}} {
		if who.name == "" {
			continue
		}
		u := lookupUser(who.name, work)
		fmt.Printf("\n== as %s (%s)\n", u.name, who.label)
		if _, err := u.run(sandbox, "import", tarball, "bb"); err != nil {
			fail("%v", err)
		}
		waitTextStage(u, nil, sandbox)
		podmanPath, _ := exec.LookPath("podman")
		var podman []string // podman and its global flags
		if podmanPath != "" {
			if _, err := u.run(podmanPath, "import", tarball, "localhost/sandbox-bench-bb"); err != nil {
				fmt.Printf("podman: not measured: %v\n", err)
			} else {
				cleanups = append(cleanups, func() { u.run(podmanPath, "rmi", "-f", "localhost/sandbox-bench-bb") })
				podman = []string{podmanPath}
				if _, err := u.run(podmanPath, "run", "--rm", "--network=host", "localhost/sandbox-bench-bb", "true"); err != nil {
					// crun refuses cgroup v1/hybrid hosts; runc copes.
					podman = []string{podmanPath, "--runtime", "runc"}
				}
			}
		}
		podmanOK := podman != nil
		pod := func(args ...string) []string { return append(append([]string{}, podman...), args...) }
		bwrap, _ := exec.LookPath("bwrap")
		bwrapTrue := bwrapArgv(bwrap, rootfs, "/bin/true")

		// Start to exit.
		tools := map[string][]string{"sandbox": {sandbox, "run", "--rm", "bb", "true"}}
		if bwrap != "" {
			tools["bwrap"] = bwrapTrue
		}
		if podmanOK {
			tools["podman"] = pod("run", "--rm", "--network=host", "localhost/sandbox-bench-bb", "true")
		}
		// The rounds against bwrap first, all of them, and podman's
		// last: podman's cleanup processes outlive its runs and slow
		// whatever runs next (vsEach). The podman checks above leave
		// such processes too: they end first. (Measured once each way,
		// the order moved no ratio beyond the runs' noise; it is fixed
		// so that two runs of -all are the same measurement.)
		if podmanOK {
			time.Sleep(2 * time.Second)
		}
		start := map[string]map[string]time.Duration{}
		if bwrap != "" {
			start["bwrap"] = pairedRounds(u, map[string][]string{"sandbox": tools["sandbox"], "bwrap": bwrapTrue}, n, settle)
		}
		printMedians("run --rm true, start to exit, vs bwrap", start["bwrap"], n)
		rows = append(rows, ratioRow(fmt.Sprintf("run --rm true (%s) vs bwrap", who.label), start["bwrap"], "sandbox", "bwrap", 1.5))
		if bwrap != "" {
			b2b := backToBack(map[string][]string{"sandbox": tools["sandbox"], "bwrap": bwrapTrue}, 2*n,
				func(argv []string, _ int) (time.Duration, error) { return u.time(argv...) })
			printMedians("run --rm true, back to back (no pause between runs), vs bwrap", b2b, 4*n)
			rows = append(rows, ratioRow(fmt.Sprintf("run --rm true back to back (%s) vs bwrap", who.label), b2b, "sandbox", "bwrap", 0))
			// With subordinate ids the spare's maker works 5–10 ms after
			// each of sandbox's runs; at 10 ms pauses it keeps the
			// processors awake for bwrap's next run, which then ran
			// 0.3–0.4 ms faster than for the other user. 40 ms lets it
			// end first. No target: the are at the usual pause.
			long := pairedRounds(u, map[string][]string{"sandbox": tools["sandbox"], "bwrap": bwrapTrue}, n, 40*time.Millisecond)
			printMedians("run --rm true, 40 ms pauses, vs bwrap", long, n)
			rows = append(rows, ratioRow(fmt.Sprintf("run --rm true, 40 ms pauses (%s) vs bwrap", who.label), long, "sandbox", "bwrap", 0))
		}
		if podmanOK {
			start["podman"] = pairedRounds(u, map[string][]string{"sandbox": tools["sandbox"], "podman": tools["podman"]}, n, settle)
		}
		printMedians("run --rm true, start to exit, vs podman", start["podman"], n)
		rows = append(rows, ratioRow(fmt.Sprintf("run --rm true (%s) vs podman", who.label), start["podman"], "sandbox", "podman", 0.05))

		// Exec into a running container.
		rmExec := func() { u.run(sandbox, "rm", "-f", "bench-exec") }
		cleanups = append(cleanups, rmExec)
		if _, err := u.run(sandbox, "run", "-d", "--name", "bench-exec", "bb", "sleep", "1000"); err != nil {
			fail("%v", err)
		}
		tools = map[string][]string{"sandbox": {sandbox, "exec", "bench-exec", "true"}}
		if bwrap != "" {
			tools["bwrap"] = bwrapTrue
		}
		rmPodExec := func() { u.run(pod("rm", "-f", "-t", "0", "bench-exec")...) }
		if podmanOK {
			cleanups = append(cleanups, rmPodExec)
			if _, err := u.run(pod("run", "-d", "--network=host", "--name", "bench-exec", "localhost/sandbox-bench-bb", "sleep", "1000")...); err == nil {
				tools["podman"] = pod("exec", "bench-exec", "true")
			}
		}
		exe := vsEach(u, tools, n)
		// A container that works, not one that sleeps: its processes'
		// PSS after those n execs (a long-lived process's heap is not
		// collected until it reaches Go's 4 MiB goal), once settled: the
		// init unmaps its program's pages when its execs have stopped for
		// a second.
		time.Sleep(2 * time.Second)
		worked := row{measure: fmt.Sprintf("PSS of a detached container after %d execs (%s)", n, who.label), target: "none set",
			sandbox: fmt.Sprintf("%.2f MiB", float64(sumPSS(u, isSandboxProc(sandbox, u)))/1024)}
		if _, ok := tools["podman"]; ok {
			worked.peer = fmt.Sprintf("conmon %.2f MiB", float64(sumPSS(u, func(pid int) bool { return comm(pid) == "conmon" }))/1024)
		}
		// Now, not at the end: their monitors and conmon must not count
		// in the PSS below.
		rmExec()
		if podmanOK {
			rmPodExec()
		}
		printMedians("exec CTR true, vs bwrap's run", exe["bwrap"], n)
		printMedians("exec CTR true, vs podman exec", exe["podman"], n)
		rows = append(rows, ratioRow(fmt.Sprintf("exec true (%s) vs bwrap's run", who.label), exe["bwrap"], "sandbox", "bwrap", 2))
		rows = append(rows, ratioRow(fmt.Sprintf("exec true (%s) vs podman exec", who.label), exe["podman"], "sandbox", "podman", 0))
		fmt.Printf("%s: sandbox %s, %s\n", worked.measure, worked.sandbox, worked.peer)
		rows = append(rows, worked)

		// Memory behind detached containers.
		for _, k := range []int{1, 10} {
			sb := detachedPSS(u, k, func(i int) []string {
				return []string{sandbox, "run", "-d", "--name", fmt.Sprintf("bench-mem-%d", i), "bb", "sleep", "1000"}
			}, func(i int) []string { return []string{sandbox, "rm", "-f", fmt.Sprintf("bench-mem-%d", i)} }, isSandboxProc(sandbox, u))
			r := row{measure: fmt.Sprintf("PSS per detached container, %d running (%s)", k, who.label), target: "≤ 1 MiB each",
				sandbox: fmt.Sprintf("%.2f MiB", sb), measured: sb > 0, met: sb > 0 && sb <= 1}
			if podmanOK {
				pm := detachedPSS(u, k, func(i int) []string {
					return pod("run", "-d", "--network=host", "--name", fmt.Sprintf("bench-mem-%d", i), "localhost/sandbox-bench-bb", "sleep", "1000")
				}, func(i int) []string { return pod("rm", "-f", "-t", "0", fmt.Sprintf("bench-mem-%d", i)) },
					func(pid int) bool { return comm(pid) == "conmon" })
				r.peer = fmt.Sprintf("conmon %.2f MiB", pm)
			}
			fmt.Printf("%s: sandbox %s, %s\n", r.measure, r.sandbox, r.peer)
			rows = append(rows, r)
		}
		// One with a restart policy, which keeps a watcher beside its
		// init (docs/handshake.md, "The watcher"), next to podman's same.
		sb := detachedPSS(u, 1, func(i int) []string {
			return []string{sandbox, "run", "-d", "--restart", "always", "--name", "bench-watched", "bb", "sleep", "1000"}
		}, func(i int) []string { return []string{sandbox, "rm", "-f", "bench-watched"} }, isSandboxProc(sandbox, u))
		r := row{measure: fmt.Sprintf("PSS of a detached container with --restart always (%s)", who.label), target: "≤ 1 MiB each",
			sandbox: fmt.Sprintf("%.2f MiB", sb), measured: sb > 0, met: sb > 0 && sb <= 1}
		if podmanOK {
			pm := detachedPSS(u, 1, func(i int) []string {
				return pod("run", "-d", "--restart", "always", "--network=host", "--name", "bench-watched", "localhost/sandbox-bench-bb", "sleep", "1000")
			}, func(i int) []string { return pod("rm", "-f", "-t", "0", "bench-watched") },
				func(pid int) bool { return comm(pid) == "conmon" })
			r.peer = fmt.Sprintf("conmon %.2f MiB", pm)
		}
		fmt.Printf("%s: sandbox %s, %s\n", r.measure, r.sandbox, r.peer)
		rows = append(rows, r)

		// Pull, once, as the user with subids: rootless podman cannot
		// unpack Debian (files owned by group shadow) without them.
		if who.label == "subids" {
			if debianTar == "" {
				rows = append(rows, row{measure: "pull Debian minbase vs podman", target: "≤ 0.5×", sandbox: "not measured", peer: noDebian})
				continue
			}
			current = u
			sbPull, pmPull, x, mem := benchPull(sandbox, u.dir, min(n, 3), debianTar)
			current = nil
			r := row{measure: "pull Debian minbase (local registry) vs podman", target: "≤ 0.5×", sandbox: fmt.Sprintf("%.2f s", sbPull.Seconds())}
			if x > 0 {
				r.peer, r.measured, r.met = fmt.Sprintf("podman %.2f s (%.2f×, paired)", pmPull.Seconds(), x), true, x <= 0.5
			}
			rows = append(rows, r)
			// The target is the CLI's peak RSS; the cell says
			// what of it is the command's own memory and what its code.
			rows = append(rows, row{measure: "pull Debian: peak RSS (anonymous + code of that process)", target: "≤ 8 MB",
				sandbox: fmt.Sprintf("%d MiB (%.1f + %.1f)", mem.peak>>10, float64(mem.anon)/1024, float64(mem.file)/1024),
				peer:    "-", measured: mem.peak > 0, met: mem.peak*1024 <= 8e6})
		}
	}
	fmt.Printf("\nsummary (%s, %d rounds, medians)\n", time.Now().Format(time.RFC3339), n)
	fmt.Printf("| %-58s | %-12s | %-28s | %-14s | %s |\n", "measure", "sandbox", "peer, same run", "target", "met")
	for _, r := range rows {
		met := "no"
		if !r.measured {
			met = "-"
		} else if r.met {
			met = "yes"
		}
		fmt.Printf("| %-58s | %-12s | %-28s | %-14s | %s |\n", r.measure, r.sandbox, r.peer, r.target, met)
	}
}

// debianCache is where the test suite keeps its debootstrapped Debian
// (minbase bookworm, as here); benchDebianCache is this script's own.
const (
	debianCache      = "/var/tmp/sandbox-tests-debian-bookworm.tar"
	benchDebianCache = "/var/tmp/benchstart-debian.tar"
)

// debianTarball finds the Debian minbase rootfs tarball for the pull row:
// the one given, this script's cache, one debootstrap makes now (when
// build says so), or the test suite's. With none it says why.
func debianTarball(given string, build bool) (string, string) {
	if given != "" {
		return given, ""
	}
	if fi, err := os.Stat(benchDebianCache); err == nil && fi.Size() > 0 {
		return benchDebianCache, ""
	}
	if !build {
		if fi, err := os.Stat(debianCache); err == nil && fi.Size() > 0 {
			return debianCache, ""
		}
		return "", "no -debian-rootfs, no " + benchDebianCache + " (-debootstrap makes it)"
	}
	mirror := debianMirror()
	if mirror == "" {
		return "", "no Debian mirror in /etc/apt/sources.list*"
	}
	dir, err := os.MkdirTemp("/var/tmp", "benchstart-debootstrap-")
	check(err)
	fmt.Printf("debootstrap --variant=minbase bookworm %s %s\n", dir, mirror)
	out, err := exec.Command("debootstrap", "--variant=minbase", "bookworm", dir, mirror).CombinedOutput()
	// debootstrap mounts /proc and /sys in the target: never remove
	// through them.
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	lines := strings.Split(string(mounts), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if f := strings.Fields(lines[i]); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			syscall.Unmount(f[4], syscall.MNT_DETACH)
		}
	}
	defer os.RemoveAll(dir)
	if err != nil {
		s := strings.TrimSpace(string(out))
		return "", fmt.Sprintf("debootstrap failed: %v: %s", err, s[strings.LastIndexByte(s, '\n')+1:])
	}
	tmp := benchDebianCache + ".partial"
	defer os.Remove(tmp)
	if out, err := exec.Command("tar", "--numeric-owner", "--exclude=./dev/*", "-C", dir, "-cf", tmp, ".").CombinedOutput(); err != nil {
		return "", fmt.Sprintf("tar: %v: %s", err, firstLine(out))
	}
	check(os.Chmod(tmp, 0o644))
	check(os.Rename(tmp, benchDebianCache))
	return benchDebianCache, ""
}

// debianMirror is the first Debian archive apt is configured with
// (a URI ending in /debian in /etc/apt/sources.list*), or "".
func debianMirror() string {
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	more, _ := filepath.Glob("/etc/apt/sources.list.d/*.list")
	for _, p := range append(append([]string{"/etc/apt/sources.list"}, files...), more...) {
		b, _ := os.ReadFile(p)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			for _, w := range strings.Fields(line) {
				if strings.HasPrefix(w, "http") && strings.HasSuffix(strings.TrimSuffix(w, "/"), "/debian") {
					return w
				}
			}
		}
	}
	return ""
}

// pairedRounds runs each tool once per round, in a rotating order, each
// run after pause, and returns the medians. A tool that fails is dropped
// with a note.
func pairedRounds(u *benchUser, tools map[string][]string, n int, pause time.Duration) map[string]time.Duration {
	var names []string
	for _, name := range []string{"sandbox", "bwrap", "podman"} {
		if argv, ok := tools[name]; ok {
			if _, err := u.run(argv...); err != nil { // also warms caches
				fmt.Printf("%s: not measured: %v\n", name, err)
				continue
			}
			names = append(names, name)
		}
	}
	times := map[string][]time.Duration{}
	for i := 0; i < n; i++ {
		for j := range names {
			name := names[(i+j)%len(names)]
			time.Sleep(pause) // the last run's leftovers (rounds says why)
			d, err := u.time(tools[name]...)
			if err != nil {
				fail("%s: %v", name, err)
			}
			times[name] = append(times[name], d)
		}
	}
	return medians(times)
}

// vsEach measures sandbox against each peer in rounds of their own, and
// returns each pair's medians by the peer's name. Podman leaves cleanup
// processes running after it exits, which slow whatever runs next; in
// rounds of all three they fell on sandbox and bwrap alike, and a
// constant added to both shrinks their ratio.
//
// bwrap's rounds come first, podman's last: in the order of a map's
// iteration, at random, podman's went first in some runs, and its
// leftovers fell on the rounds against bwrap.
func vsEach(u *benchUser, tools map[string][]string, n int) map[string]map[string]time.Duration {
	out := map[string]map[string]time.Duration{}
	for _, name := range []string{"bwrap", "podman"} {
		if argv, ok := tools[name]; ok {
			out[name] = pairedRounds(u, map[string][]string{"sandbox": tools["sandbox"], name: argv}, n, settle)
		}
	}
	return out
}

func printMedians(what string, m map[string]time.Duration, n int) {
	if m == nil {
		return
	}
	fmt.Printf("%s, median of %d:", what, n)
	for _, name := range []string{"sandbox", "bwrap", "podman"} {
		if d, ok := m[name]; ok {
			fmt.Printf("  %s %.2f ms", name, ms(d))
		}
	}
	fmt.Println()
}

// ratioRow compares a with b (a/b) against target (a/b ≤ target); target
// 0: issue 11 sets none, the ratio is only shown.
func ratioRow(measure string, m map[string]time.Duration, a, b string, target float64) row {
	r := row{measure: measure, target: fmt.Sprintf("≤ %g×", target)}
	if target == 0 {
		r.target = "none set"
	}
	da, oka := m[a]
	db, okb := m[b]
	if oka {
		r.sandbox = fmt.Sprintf("%.1f ms", ms(da))
	}
	if !oka || !okb {
		r.peer = b + ": not measured"
		return r
	}
	x := float64(da) / float64(db)
	r.peer = fmt.Sprintf("%s %.1f ms (%.2f×)", b, ms(db), x)
	r.measured, r.met = target > 0, x <= target
	return r
}

// detachedPSS starts k detached containers as u, sums the PSS of the
// processes of u that mine selects, removes the containers and returns
// the sum per container, in MiB.
func detachedPSS(u *benchUser, k int, start, rm func(i int) []string, mine func(pid int) bool) float64 {
	defer func() {
		for i := 0; i < k; i++ {
			u.run(rm(i)...)
		}
	}()
	for i := 0; i < k; i++ {
		if _, err := u.run(start(i)...); err != nil {
			fmt.Printf("not measured: %v\n", err)
			return 0
		}
	}
	time.Sleep(time.Second) // let the monitors settle into their steady state
	return float64(sumPSS(u, mine)) / 1024 / float64(k)
}

// sumPSS sums the PSS (KiB) of u's processes that mine selects.
func sumPSS(u *benchUser, mine func(pid int) bool) int64 {
	var kib int64
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+e.Name(), &st) != nil || int(st.Uid) != u.uid || !mine(pid) {
			continue
		}
		kib += pss(pid)
	}
	return kib
}

// isSandboxProc selects sandbox's own processes: the monitor and watcher,
// the init (by name), the holder of this run's spare user namespace, and
// anything still running the CLI's binary. Not the holders that other
// runs left (a bench's own runtime directory, a test's): they live up to
// 10 minutes after it, and five of them weigh more than a container.
func isSandboxProc(sandbox string, u *benchUser) func(pid int) bool {
	return func(pid int) bool {
		switch comm(pid) {
		case "sandbox-init", "sandbox-monitor":
			return true
		case "sandbox-spare":
			return slices.Contains(spareHolders(u.runtime), pid)
		}
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		return exe == sandbox
	}
}

func comm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// pss reads a process's proportional set size in KiB.
func pss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}
