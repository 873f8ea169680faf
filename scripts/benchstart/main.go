// Command benchstart measures the start-to-exit time of `sandbox run --rm
// IMAGE true` next to bubblewrap (same rootfs, and every namespace but the
// network, as sandbox makes them) and, where they work, rootless podman
// and crun, in the same run, and prints medians and ratios. It is a
// benchmark, not a test: run it on a quiet machine as an unprivileged user.
//
//	go run ./scripts/benchstart [-n 50] [-sandbox PATH]
//	go run ./scripts/benchstart -pull [-n 3] [-debian-rootfs FILE.tar]
//	go run ./scripts/benchstart -net [-n 20]
//	go run ./scripts/benchstart -seal [-n 50]
//	go run ./scripts/benchstart -phases [-n 30]
//	go build -o /tmp/benchstart ./scripts/benchstart && sudo /tmp/benchstart -all -n 30 -user-single U1 -user-subid U2 [-debootstrap]
//
// With -pull it measures pull+unpack from a local registry (Debian's
// docker-registry) instead: sandbox, podman and skopeo+umoci, with times,
// ratios and peak RSS. With -net it measures private networks: start-to-exit
// with --net host, pasta and slirp4netns next to podman's default network,
// and the throughput of 256 MiB sent through a published port. With -seal
// it measures what sealing the sandbox costs: the seccomp filter's share of
// start-up, and the stdio relay's throughput next to bwrap and podman. With
// -phases it traces `run --rm` (SANDBOX_TRACE=1) and prints each phase's
// median time from the command's start: where the time goes. With
// -all (as root) it prints issue 11's whole table in one run: start to exit
// and exec next to bwrap and podman for a user without and one with
// subordinate ids, the PSS of sandbox's processes behind 1 and 10 detached
// containers and behind one with a restart policy (a watcher beside its
// init) next to podman's conmon, and pull next to podman, each with its
// target and whether it is met.
//
// Each round runs every tool once, in turn (starting with a different one
// each round), so that drift in the machine's load hits all of them alike,
// each run after a short pause (-settle) for what the last one left
// working to finish.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sandbox-dev/sandbox/sysmon"
)

type tool struct {
	name  string
	argv  []string
	times []time.Duration
	err   string
}

func main() {
	n := flag.Int("n", 50, "rounds")
	flag.DurationVar(&settle, "settle", settle, "pause before each timed run")
	sandbox := flag.String("sandbox", "", "sandbox binary (default: build it as the README does)")
	entry := flag.Bool("entry", false, "with no -sandbox: build it with package sysmon's entry (-ldflags "+strconv.Quote(sysmon.LinkFlags)+")")
	against := flag.String("against", "", "another sandbox binary (an older build) to time in the same rounds, with the paired difference")
	pull := flag.Bool("pull", false, "measure pull+unpack from a local registry instead of start-up")
	debian := flag.String("debian-rootfs", "", "with -pull: a Debian rootfs tarball to serve as debian:bookworm")
	netMode := flag.Bool("net", false, "measure private networks (start-up and published-port throughput) instead")
	buildMode := flag.Bool("build", false, "measure a six-step build, cold and cached, against podman build instead")
	seal := flag.Bool("seal", false, "measure the seccomp filter's start-up cost and the stdio relay's throughput instead")
	phases := flag.Bool("phases", false, "trace run --rm and print each phase's median time from the command's start instead")
	all := flag.Bool("all", false, "as root: the whole table (start, exec, memory, pull) for -user-single and -user-subid, with ratios and targets")
	single := flag.String("user-single", "", "with -all: a user without subordinate ids")
	subid := flag.String("user-subid", "", "with -all: a user with subordinate ids")
	debootstrap := flag.Bool("debootstrap", false, "with -all and no -debian-rootfs: make "+benchDebianCache+" with debootstrap (needs the network) unless it exists")
	flag.Parse()
	if os.Getuid() == 0 && !*all {
		fail("run as an unprivileged user: rootless start-up is what is measured (e.g. runuser -u USER -- go run ./scripts/benchstart)")
	}
	work, err := os.MkdirTemp("", "sandbox-bench-")
	check(err)
	defer os.RemoveAll(work)
	if *sandbox == "" {
		*sandbox = filepath.Join(work, "sandbox")
		// As the README builds it; -entry links sysmon's entry too.
		args := []string{"build", "-o", *sandbox, "."}
		if *entry {
			args = []string{"build", "-ldflags=" + sysmon.LinkFlags, "-o", *sandbox, "."}
		}
		build := exec.Command("go", args...)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		build.Stderr = os.Stderr
		check(build.Run())
	}
	if *pull {
		benchPull(*sandbox, work, *n, *debian)
		return
	}
	if *all {
		rootfs := filepath.Join(work, "rootfs")
		tarball := filepath.Join(work, "bb.tar")
		check(busyboxRootfs(rootfs, tarball))
		benchAll(*sandbox, work, rootfs, tarball, *n, *single, *subid, *debian, *debootstrap)
		return
	}
	rootfs := filepath.Join(work, "rootfs")
	tarball := filepath.Join(work, "bb.tar")
	check(busyboxRootfs(rootfs, tarball))
	if *netMode {
		benchNet(*sandbox, work, tarball, *n)
		return
	}
	if *buildMode {
		benchBuild(*sandbox, work, tarball, *n)
		return
	}
	if *seal {
		benchSeal(*sandbox, work, rootfs, tarball, *n)
		return
	}
	if *phases {
		benchPhases(*sandbox, work, tarball, *n)
		return
	}

	// A private store, so the user's own is left alone. With -against,
	// each build its own store and runtime directory: two builds whose
	// init programs differ would otherwise each remove the other's copy
	// and install their own again on every run (runtime.InstalledProgram),
	// and one would take the container directory the other's last
	// removal made ahead (tmp/skel-…).
	config := "XDG_CONFIG_HOME=" + filepath.Join(work, "config")
	builds := []struct{ name, bin string }{{"sandbox", *sandbox}}
	if *against != "" {
		builds = append(builds, struct{ name, bin string }{"against", *against})
	}
	var tools []*tool
	for i, b := range builds {
		own := []string{"XDG_DATA_HOME=" + filepath.Join(work, "data"), config}
		if *against != "" {
			// A copy made now of each, in one write: a large write
			// fills 2 MiB folios (ext4 since Linux 6.16), so each build
			// starts with its code in them, as the text stage leaves a
			// user's binary; one that lost them (reclaim, or a process
			// that held its pages when the stage ran) started 0.3 ms
			// slower than a fresh copy of itself in paired rounds.
			fresh := filepath.Join(work, "bin-"+b.name)
			check(copyExecutable(b.bin, fresh))
			builds[i].bin, b.bin = fresh, fresh
			run := filepath.Join(work, "run-"+b.name)
			check(os.MkdirAll(run, 0o700))
			defer endSpares(run)
			own = []string{"XDG_RUNTIME_DIR=" + run, "XDG_DATA_HOME=" + filepath.Join(work, "data-"+b.name), config}
		}
		imp := exec.Command(b.bin, "import", tarball, "bb")
		imp.Env = append(os.Environ(), own...)
		if out, err := imp.CombinedOutput(); err != nil {
			fail("%s import: %v: %s", b.name, err, out)
		}
		waitTextStage(nil, own, b.bin)
		tools = append(tools, &tool{name: b.name, argv: append(own, b.bin, "run", "--rm", "bb", "true")})
	}
	if p, err := exec.LookPath("bwrap"); err == nil {
		tools = append(tools, &tool{name: "bwrap", argv: bwrapArgv(p, rootfs, "/bin/true")})
	} else {
		fmt.Println("bwrap: not installed (apt-get install bubblewrap)")
	}
	if p, err := exec.LookPath("podman"); err == nil {
		if out, err := exec.Command(p, "import", tarball, "localhost/sandbox-bench-bb").CombinedOutput(); err != nil {
			fmt.Printf("podman: import failed: %v: %s\n", err, firstLine(out))
		} else {
			defer exec.Command(p, "rmi", "-f", "localhost/sandbox-bench-bb").Run()
			// Host network on both sides: the comparison is about starting
			// a container, not about slirp4netns.
			argv := []string{p, "run", "--rm", "--network=host", "localhost/sandbox-bench-bb", "true"}
			if probe(argv) != nil {
				// crun refuses cgroup v1/hybrid hosts; runc copes.
				argv = []string{p, "--runtime", "runc", "run", "--rm", "--network=host", "localhost/sandbox-bench-bb", "true"}
			}
			tools = append(tools, &tool{name: "podman", argv: argv})
		}
	}
	if p, err := exec.LookPath("crun"); err == nil {
		bundle := filepath.Join(work, "crun-bundle")
		if err := crunBundle(p, bundle, rootfs); err != nil {
			fmt.Printf("crun: %v\n", err)
		} else {
			tools = append(tools, &tool{name: "crun", argv: []string{p, "--root", filepath.Join(work, "crun-state"),
				"--cgroup-manager=disabled", "run", "--bundle", bundle, "ID"}})
		}
	}

	ok := working(tools)
	rounds(ok, *n, timeRun)
	fmt.Printf("\nstart-to-exit of `true`, median of %d rounds (%s)\n", *n, time.Now().Format(time.RFC3339))
	var sb time.Duration
	for _, t := range ok {
		m := median(t.times)
		if t.name == "sandbox" {
			sb = m
		}
		fmt.Printf("  %-8s %8.2f ms   (p10 %.2f, p90 %.2f)\n", t.name, ms(m), ms(pct(t.times, 10)), ms(pct(t.times, 90)))
	}
	b2b := map[string][]string{}
	for _, t := range ok {
		if t.name == "sandbox" || t.name == "against" || t.name == "bwrap" {
			b2b[t.name] = t.argv
		}
	}
	if len(b2b) > 1 {
		const k = 50
		m := backToBack(b2b, k, timeRun)
		fmt.Printf("\nback to back, %d runs in a row twice, no pause (what a script's loop sees), medians:\n", k)
		for _, name := range []string{"sandbox", "against", "bwrap"} {
			if d, ok := m[name]; ok {
				fmt.Printf("  %-8s %8.2f ms\n", name, ms(d))
			}
		}
		if m["bwrap"] > 0 {
			fmt.Printf("  sandbox/bwrap   %.2f (informational: the targets are measured as above, each run after a pause)\n", float64(m["sandbox"])/float64(m["bwrap"]))
		}
	}
	if len(ok) > 1 && ok[0].name == "sandbox" && ok[1].name == "against" {
		// Both ran in every round: the difference round by round is a
		// fairer measure of a change than the difference of medians.
		var d []time.Duration
		for i := range ok[0].times {
			d = append(d, ok[0].times[i]-ok[1].times[i])
		}
		fmt.Printf("  sandbox - against, paired: median %+.2f ms\n", ms(median(d)))
	}
	fmt.Println("\nratios (sandbox / other; targets: ≤ 1.5 against bwrap, ≤ 0.05 against podman)")
	for _, t := range ok {
		if t.name != "sandbox" {
			fmt.Printf("  sandbox/%-7s %.2f\n", t.name, float64(sb)/float64(median(t.times)))
		}
	}
}

// working drops the tools that do not work here, saying why, and warms
// the rest.
func working(tools []*tool) []*tool {
	var ok []*tool
	for _, t := range tools {
		if err := probe(t.argv); err != nil {
			fmt.Printf("%s: not measured: %v\n", t.name, err)
			continue
		}
		ok = append(ok, t)
	}
	return ok
}

// settle is the pause before each timed run, for what the previous
// command left working after it exited. sandbox's leftovers (the maker
// of the next spare, its holder, the removal, then a second spare where
// one was taken, at idle priority)
// take longer than the pause: the spare is ready 9–12 ms after the
// command's exit on a fast machine, 20–25 ms with subordinate ids on a
// slow one (December 7), and the removal follows. So they may run
// beside the next tool's start: beside bwrap's, or beside sandbox's
// where the rotation has sandbox follow itself after one pause. There,
// with one spare kept, sandbox found none and took 37 ms instead of 20
// on the slow machine; a maker keeps two since, and such a run finds the
// second (docs/ARCHITECTURE.md, "Two spares, built"). Not much longer:
// after 60 ms idle every start here is slower (bwrap's 2.5 → 3.0 ms),
// which flattered the ratios in the other direction; -all measures 40 ms
// pauses besides, which leave nothing working.
var settle = 10 * time.Millisecond

// rounds runs every tool once per round, n rounds, recording run's times.
// Who goes first rotates, and every other cycle of rotations the order
// is reversed: with rotation alone each tool always follows the same one
// (sandbox after bwrap, against after sandbox), and two copies of one
// binary timed that way differed by 0.09 ms. Each run waits for the
// last one's leftovers to settle.
func rounds(tools []*tool, n int, run func(argv []string, i int) (time.Duration, error)) {
	for i := 0; i < n; i++ {
		for j := range tools {
			k := (i + j) % len(tools)
			if (i/len(tools))%2 == 1 {
				k = len(tools) - 1 - k
			}
			t := tools[k]
			time.Sleep(settle)
			d, err := run(t.argv, i)
			if err != nil {
				fail("%s: %v", t.name, err)
			}
			t.times = append(t.times, d)
		}
	}
}

func probe(argv []string) error {
	out, err := command(argv, 0).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, firstLine(out))
	}
	return nil
}

func timeRun(argv []string, i int) (time.Duration, error) {
	cmd := command(argv, i+1)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, out.String())
	}
	return d, nil
}

// command is argv's command for run i. Leading KEY=VALUE words are
// added to its environment, as a shell does: sandbox's run needs the
// private store it imported bb into.
func command(argv []string, i int) *exec.Cmd {
	var env []string
	for len(argv) > 0 && strings.Contains(argv[0], "=") {
		env, argv = append(env, argv[0]), argv[1:]
	}
	cmd := exec.Command(argv[0], subst(argv[1:], i)...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	return cmd
}

// subst gives crun a fresh container ID each run.
func subst(args []string, i int) []string {
	out := append([]string{}, args...)
	for j, a := range out {
		if a == "ID" {
			out[j] = fmt.Sprintf("sandbox-bench-%d-%d", os.Getpid(), i)
		}
	}
	return out
}

func crunBundle(crun, bundle, rootfs string) error {
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		return err
	}
	cmd := exec.Command(crun, "spec", "--rootless")
	cmd.Dir = bundle
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("crun spec: %v: %s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return err
	}
	// The generated spec runs "sh" on a tty from ./rootfs: run true, no tty.
	s := strings.Replace(string(b), `"terminal": true`, `"terminal": false`, 1)
	s = strings.Replace(s, `"sh"`, `"/bin/true"`, 1)
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte(s), 0o644); err != nil {
		return err
	}
	return os.Symlink(rootfs, filepath.Join(bundle, "rootfs"))
}

// busyboxRootfs makes the same busybox root filesystem as a directory (for
// bwrap and crun) and a tarball (for sandbox and podman).
func busyboxRootfs(dir, tarball string) error {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return errors.New("busybox not found (apt-get install busybox-static)")
	}
	for _, d := range []string{"bin", "etc", "tmp", "proc", "dev", "sys"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), data, 0o755); err != nil {
		return err
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return err
	}
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			os.Symlink("busybox", filepath.Join(dir, "bin", a))
		}
	}
	os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "etc/group"), []byte("root:x:0:\n"), 0o644)
	f, err := os.Create(tarball)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			link, _ = os.Readlink(p)
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name, _ = filepath.Rel(dir, p)
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			defer in.Close()
			_, err = io.Copy(tw, in)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

func median(d []time.Duration) time.Duration { return pct(d, 50) }

func pct(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration{}, d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

// cleanups undo what a run made outside its work directory (detached
// containers, podman's pause process); fail runs them too.
var cleanups []func()

func runCleanups() {
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchstart: "+format+"\n", args...)
	runCleanups()
	os.Exit(1)
}

// bwrapArgv runs cmd in rootfs under bwrap with the namespaces sandbox's
// default run makes: all of them but the network, since sandbox (like
// podman with --network=host, as it is run here) keeps the host's.
// Making a network namespace costs bwrap about 1 ms here; timing it
// against a sandbox that makes none would flatter sandbox.
func bwrapArgv(bwrap, rootfs string, cmd ...string) []string {
	argv := []string{bwrap, "--unshare-all", "--share-net", "--die-with-parent",
		"--bind", rootfs, "/", "--proc", "/proc", "--dev", "/dev"}
	return append(argv, cmd...)
}

// copyExecutable copies the program at src to dst, a new file.
func copyExecutable(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// waitTextStage waits until the text stage that a command of bin started
// (the import before the rounds: a command that opened the store starts
// it as it ends) has finished, and prints what it did. A stage at work
// during the rounds drops the binary's pages under the runs being timed,
// and a run started meanwhile maps its code in small folios: rounds
// timed then measured a slower program than a user runs.
func waitTextStage(u *benchUser, env []string, bin string) {
	deadline := time.Now().Add(time.Minute)
	for {
		cmd := u.command(bin, "info", "--format", "{{.Startup.TextStage}}")
		if env != nil {
			cmd.Env = append(cmd.Environ(), env...)
		}
		out, err := cmd.Output()
		said := strings.TrimSpace(string(out))
		if err != nil || !strings.HasPrefix(said, "working") || time.Now().After(deadline) {
			if err != nil {
				said = err.Error()
			}
			fmt.Printf("%s's text stage: %s\n", filepath.Base(bin), said)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// backToBack times k runs of each tool in a row, with no pause between
// them, as a script's loop runs them (after one untimed run), and returns
// each tool's median. The rounds above pause before each run, so that
// what one run leaves working (sandbox's removal, and in subid mode the
// maker of the next spare user namespace: newuidmap and newgidmap) does
// not slow the next tool's; here a run's leftovers run beside the next
// run of the same tool, and the processor does not idle between runs. The
// tools go in turn twice, the second time in reverse order.
func backToBack(tools map[string][]string, k int, run func(argv []string, i int) (time.Duration, error)) map[string]time.Duration {
	var names []string
	for name := range tools {
		names = append(names, name)
	}
	sort.Strings(names)
	times := map[string][]time.Duration{}
	for pass := 0; pass < 2; pass++ {
		for j := range names {
			name := names[j]
			if pass == 1 {
				name = names[len(names)-1-j]
			}
			if _, err := run(tools[name], 0); err != nil {
				fail("%s: %v", name, err)
			}
			for i := 0; i < k; i++ {
				d, err := run(tools[name], i+1)
				if err != nil {
					fail("%s: %v", name, err)
				}
				times[name] = append(times[name], d)
			}
		}
	}
	return medians(times)
}

// medians is each tool's median time.
func medians(times map[string][]time.Duration) map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, ts := range times {
		out[name] = median(ts)
	}
	return out
}

// spareHolders are the holders of the spare user namespaces that sandbox
// made under the runtime directory xdgRuntime ($XDG_RUNTIME_DIR): its
// records are named ready-PID (docs/handshake.md, "A spare user
// namespace"). A holder lives for up to 10 minutes after the directory
// is gone, so a bench that removes its own ends them; and counts only
// these when it sums sandbox's memory, not those another run left.
func spareHolders(xdgRuntime string) []int {
	names, _ := filepath.Glob(filepath.Join(xdgRuntime, "sandbox", "spare", "ready-*"))
	var pids []int
	for _, n := range names {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(n), "ready-"))
		if err == nil && pid > 1 && comm(pid) == "sandbox-spare" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// endSpares ends the holders spareHolders finds.
func endSpares(xdgRuntime string) {
	for _, pid := range spareHolders(xdgRuntime) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}
