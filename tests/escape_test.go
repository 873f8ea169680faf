package tests

// The escape suite (issue 10, "Seal the sandbox"): a static probe
// (testdata/escape) tries, from inside `run`, `run -d` + `exec` and
// `shell`, what a hostile payload would try against the user who runs it:
// the user's keyrings, the user's terminal, a symbolic link planted for a
// later volume, the store bound into the sandbox, and the system calls
// Docker's seccomp profile refuses. Each probe check prints
// "CHECK name: ok|FAIL detail", so a failure names what leaked.
//
// SANDBOX_ESCAPE_BIN=/path/to/sandbox runs these tests (and TestFakeRoot)
// with another binary, e.g. one built from before the protections, to see
// each case fail there.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// escapeBin is the binary the escape tests run: $SANDBOX_ESCAPE_BIN, else
// the one the suite built.
func escapeBin() string {
	if b := os.Getenv("SANDBOX_ESCAPE_BIN"); b != "" {
		return b
	}
	return sandboxBin
}

// escapeProbe builds testdata/escape (static, like netprobe) next to the
// sandbox binary: root-owned in a root-owned directory, so the test users
// can run it on the host and bind it into their sandboxes.
func escapeProbe(t *testing.T) string { return testProgram(t, "escape") }

// escEnv is one user's set-up for the escape tests: a store of its own
// with the busybox image, the probe, and (made on first use) one detached
// container to exec into.
type escEnv struct {
	u     *user
	s     *store
	probe string
	ctr   string
}

// probeVol binds the probe at /probe, read-only.
func (e *escEnv) probeVol() []string { return []string{"-v", e.probe + ":/probe:ro"} }

func newEscEnv(t *testing.T, u *user, name string) *escEnv {
	t.Helper()
	e := &escEnv{u: u, probe: escapeProbe(t)}
	e.s = u.newStore(t, name)
	e.s.opts.bin = escapeBin()
	t.Cleanup(func() { e.s.removeAll(t) })
	e.s.mustRun(t, "import", busyboxTar(t), "bb")
	return e
}

// detached returns the name of the container the exec checks use,
// starting it the first time: busybox sleeping, with the probe.
func (e *escEnv) detached(t *testing.T) string {
	t.Helper()
	if e.ctr == "" {
		args := append([]string{"run", "-d", "--name", "esc"}, e.probeVol()...)
		e.s.mustID(t, append(args, "bb", "sleep", "3600")...)
		e.ctr = "esc"
	}
	return e.ctr
}

// ---- the probe's CHECK lines ----

var checkLine = regexp.MustCompile(`^CHECK (\S+): (.*)$`)

// parseChecks returns the probe's checks, name → "ok" or "FAIL …", from
// output that may come through a terminal (\r\n).
func parseChecks(out string) map[string]string {
	got := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if m := checkLine.FindStringSubmatch(strings.TrimRight(l, "\r")); m != nil {
			if prev, dup := got[m[1]]; dup && prev != "ok" {
				continue // keep the first failure
			}
			got[m[1]] = m[2]
		}
	}
	return got
}

// wantChecks fails the test for every check of the probe that is not ok
// and for every name in want that the probe did not report (it did not
// run, or stopped early). what says where the probe ran. It reports
// whether anything was wrong (and then logs the whole output).
func wantChecks(t *testing.T, what, out string, want ...string) bool {
	t.Helper()
	got := parseChecks(out)
	if len(got) == 0 {
		t.Errorf("%s: the probe reported no checks at all (it did not run); the output:\n%s", what, out)
		return true
	}
	bad := false
	for _, name := range sortedKeys(got) {
		if v := got[name]; v != "ok" {
			t.Errorf("%s: CHECK %s: %s", what, name, v)
			bad = true
		}
	}
	for _, name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("%s: the probe reported no CHECK %s", what, name)
			bad = true
		}
	}
	if bad {
		t.Logf("%s: everything it printed:\n%s", what, out)
	}
	return bad
}

func sortedKeys(m map[string]string) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ---- terminals ----

// onTerminal runs sandbox ARGS (in the escape store) with a new pty of
// the host as its stdin, stdout and stderr, the way a user runs it from a
// shell, and returns how it ended and what the terminal showed.
func (e *escEnv) onTerminal(t *testing.T, args ...string) (result, string) {
	t.Helper()
	master, slave := openPTY(t)
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80}); err != nil {
		t.Fatal(err)
	}
	screen := readTerminal(master)
	o := e.s.opts
	o.tty = slave
	p := e.u.startWith(t, o, args...)
	slave.Close()
	r, ok := p.wait(defaultTimeout)
	shown := screen()
	if !ok {
		t.Fatalf("timed out on a terminal; it showed %q:\n%s", shown, r)
	}
	return r, shown
}

// ---- the tests ----

// TestEscape runs the escape cases for each user, one store and one
// detached container per user.
func TestEscape(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		e := newEscEnv(t, u, "escape")
		t.Run("keyring", e.testKeyring)
		t.Run("terminal", e.testTerminal)
		t.Run("symlink-volume", e.testSymlinkVolume)
		t.Run("store-volume", e.testStoreVolume)
		t.Run("seccomp", e.testSeccomp)
		t.Run("rundir-volume", e.testRunDirVolume)
		t.Run("init-descriptors", e.testInitDescriptors)
		t.Run("capabilities", e.testCapabilities)
		t.Run("ptrace-idle", e.testPtraceIdle)
	})
}

// testPtraceIdle: PID 1 keeps every capability of the container's
// namespace, more than the payload's, so the payload cannot trace it
// whatever its dumpable flag says. The probe, a detached container's
// payload (its init resident), tries without pause while its output
// wakes the init now and then: the init goes idle and wakes, executing
// its idle stage and its Go stage again, under its attempts, and no
// moment of a stage change may let it attach. (TestRawStartEscape tries
// the same behind a raw start.)
func (e *escEnv) testPtraceIdle(t *testing.T) {
	args := append([]string{"run", "-d", "--name", "ptrace"}, e.probeVol()...)
	id := e.s.mustID(t, append(args, "bb", "/probe", "ptrace1", "5")...)
	init := e.s.initOf(t, id)
	// What the init ran as while the probe tried: the test is worth its
	// name only if it went idle and woke again under the probe.
	stages := map[string]bool{}
	for deadline := time.Now().Add(30 * time.Second); alive(init); {
		if time.Now().After(deadline) {
			t.Fatalf("the probe's container still runs 30 s after it started (the probe tries for 5 s)")
		}
		if p, ok := readProc(init.pid); ok {
			if f := strings.Fields(p.cmdline); len(f) > 1 {
				stages[f[1]] = true
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	r := e.s.mustRun(t, "wait", "ptrace")
	logs := e.s.mustRun(t, "logs", "ptrace").stdout
	if r.stdout != "0\n" {
		t.Errorf("the probe exited with %q:\n%s", r.stdout, logs)
	}
	wantChecks(t, "run -d, PID 1 idle and waking", logs, "ptrace1")
	if !stages["idle"] || !stages["resident"] {
		var seen []string
		for st := range stages {
			seen = append(seen, st)
		}
		sort.Strings(seen)
		t.Errorf("the init did not both go idle and wake under the probe: its stages seen were %v", seen)
	}
}

// testCapabilities: in subid mode the init keeps its namespace's
// capabilities through its first execve as ambient ones (docs/handshake.md,
// "Subid mode"). None of that may reach the payload, an exec'd process
// or the init as it runs: the ambient and inheritable sets are empty
// everywhere, root gets Docker's default set and another user none.
func (e *escEnv) testCapabilities(t *testing.T) {
	const dockerDefault = "00000000a80425fb"
	caps := func(out, name string) map[string]string {
		m := map[string]string{}
		for _, l := range strings.Split(out, "\n") {
			k, v, ok := strings.Cut(l, ":")
			if ok && strings.HasPrefix(k, name+"Cap") {
				m[strings.TrimPrefix(k, name)] = strings.TrimSpace(v)
			}
		}
		return m
	}
	probe := `for f in /proc/self/status /proc/1/status; do n=self; [ $f = /proc/1/status ] && n=init; sed -n "s/^Cap/${n}Cap/p" $f; done`
	check := func(what, out string, eff string) {
		t.Helper()
		for _, who := range []string{"self", "init"} {
			m := caps(out, who)
			if len(m) != 5 {
				t.Errorf("%s: no capability lines for %s:\n%s", what, who, out)
				continue
			}
			if m["CapAmb"] != "0000000000000000" || m["CapInh"] != "0000000000000000" {
				t.Errorf("%s: %s has ambient %s, inheritable %s: want none", what, who, m["CapAmb"], m["CapInh"])
			}
		}
		if m := caps(out, "self"); m["CapEff"] != eff || m["CapPrm"] != eff {
			t.Errorf("%s: the payload has effective %s, permitted %s: want %s", what, m["CapEff"], m["CapPrm"], eff)
		}
	}
	check("run as root", e.s.mustRun(t, "run", "--rm", "bb", "sh", "-c", probe).stdout, dockerDefault)
	if e.u.mode == "subid" { // single-id mode has no other user
		check("run as uid 1000", e.s.mustRun(t, "run", "--rm", "--user", "1000", "bb", "sh", "-c", probe).stdout, "0000000000000000")
	}
	e.s.mustRun(t, "run", "-d", "--name", "caps", "bb", "sleep", "300")
	defer e.s.mustRun(t, "rm", "-f", "caps")
	check("exec", e.s.mustRun(t, "exec", "caps", "sh", "-c", probe).stdout, dockerDefault)
}

// testInitDescriptors: a detached container's init holds host descriptors
// once it runs alone (the log, its output pipes, the exit record, the
// lock: docs/handshake.md, "The resident init"). The payload cannot reach
// them; given CAP_SYS_PTRACE, it reaches files and pipes only, never a
// directory it could walk up from.
func (e *escEnv) testInitDescriptors(t *testing.T) {
	for _, caps := range [][]string{nil, {"--cap-add", "SYS_PTRACE"}} {
		name := "alone-" + strconv.Itoa(len(caps))
		args := append(append([]string{"run", "-d", "--name", name}, caps...), "bb", "sleep", "300")
		e.s.mustRun(t, args...)
		// Opening one (the shell's redirection) is the test: the names
		// of /proc/1/fd are listed for anyone.
		r := e.s.do(t, "exec", name, "sh", "-c", `n=0; for f in /proc/1/fd/*; do n=$((n+1)); if ( : < "$f" ) 2>/dev/null; then echo "opened $f"; fi; if [ -d "$f/" ]; then echo "dir $f"; fi; done; echo "$n descriptors"`)
		e.s.mustRun(t, "rm", "-f", name)
		if !strings.Contains(r.stdout, " descriptors") || strings.HasPrefix(r.stdout, "0 descriptors") {
			t.Errorf("%v: the probe did not run:\n%s", caps, r)
		}
		if strings.Contains(r.stdout, "dir ") {
			t.Errorf("%v: the payload reaches a directory through its init's descriptors:\n%s", caps, r.stdout)
		}
		if caps == nil && strings.Contains(r.stdout, "opened ") {
			t.Errorf("without CAP_SYS_PTRACE the payload opens its init's descriptors:\n%s", r)
		}
		if caps != nil && !strings.Contains(r.stdout, "opened ") {
			t.Errorf("with CAP_SYS_PTRACE the probe opened none of the init's descriptors, so it proves nothing:\n%s", r)
		}
	}
}

// testRunDirVolume: the user's runtime directory holds every sandbox's
// exec socket and the init program sandboxes start from; a volume that
// holds it (the directory itself, or one above it), or that is a
// directory or file in it (the installed init's directory and program,
// the spare user namespaces' records) is refused before anything is
// created: a container that could replace the installed init would run
// its own program outside any sandbox, as the watcher or the spare maker.
func (e *escEnv) testRunDirVolume(t *testing.T) {
	rt := e.u.runtimeDir()
	// A run first, so that the directory and the installed init exist.
	e.s.mustRun(t, "run", "--rm", "bb", "true")
	before := e.s.mustRun(t, "ps", "-a", "-q").stdout
	inits, _ := filepath.Glob(filepath.Join(rt, "sandbox", "init-*"))
	if len(inits) == 0 {
		t.Fatalf("no installed init in %s after a run", filepath.Join(rt, "sandbox"))
	}
	progs, _ := filepath.Glob(filepath.Join(inits[0], "*"))
	sources := append([]string{filepath.Join(rt, "sandbox"), rt, filepath.Dir(rt), inits[0]}, progs...)
	if spare := filepath.Join(rt, "sandbox", "spare"); exists(spare) { // subid mode makes it
		sources = append(sources, spare)
	}
	for _, src := range sources {
		r := e.s.do(t, "run", "--rm", "-v", src+":/r", "bb", "ls", "/r")
		wantCode(t, r, 125)
		wantStderrContains(t, r, "runtime directory")
	}
	if after := e.s.mustRun(t, "ps", "-a", "-q").stdout; after != before {
		t.Errorf("a refused run left a container: ps -a -q was %q, is %q", before, after)
	}
}

// keyChecks are the checks the probe's keys mode must report.
var keyChecks = map[string][]string{
	"default": {"session-keyring-own", "read-skey", "read-ukey", "describe-skey", "describe-ukey", "describe-sess",
		"add-key-session", "search-hostsecret", "request-hostsecret", "search-hostsecret-u", "request-hostsecret-u",
		"revoke-skey", "revoke-ukey"},
	"unconfined": {"session-keyring-own", "keyctl-works", "read-skey", "read-ukey", "search-hostsecret", "request-hostsecret",
		"search-hostsecret-u", "request-hostsecret-u", "user-keyring-own", "revoke-skey", "revoke-ukey", "join-by-name"},
}

// testKeyring: the probe, on the host as the user, joins a new session
// keyring holding a key, adds one to the user keyring, links that into the
// session keyring (as pam_keyinit does), and runs sandbox from there.
// Inside, with the default filter, no keyctl on the host's ids works and
// nothing can be added to @s; without a filter, @s is a keyring of the
// sandbox's own, a search for the keys finds nothing, and they cannot be
// read or revoked. Afterwards the keys are intact on the host.
func (e *escEnv) testKeyring(t *testing.T) {
	keys := func(mode string) []string {
		return []string{"/probe", "keys", mode, "{SESS}", "{SKEY}", "{UKEY}", "{SESSNAME}"}
	}
	unconfined := []string{"--security-opt", "seccomp=unconfined"}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	vol := e.probeVol()
	for _, sc := range []struct {
		name, mode string
		cmds       [][]string
	}{
		{"run", "default", [][]string{cat([]string{"run", "--rm"}, vol, []string{"bb"}, keys("default"))}},
		{"run-unconfined", "unconfined", [][]string{cat([]string{"run", "--rm"}, unconfined, vol, []string{"bb"}, keys("unconfined"))}},
		{"exec", "default", [][]string{
			cat([]string{"run", "-d", "--name", "keys-exec"}, vol, []string{"bb", "sleep", "600"}),
			cat([]string{"exec", "keys-exec"}, keys("default")),
			{"rm", "-f", "keys-exec"},
		}},
		{"exec-unconfined", "unconfined", [][]string{
			cat([]string{"run", "-d", "--name", "keys-exec-u"}, unconfined, vol, []string{"bb", "sleep", "600"}),
			cat([]string{"exec", "keys-exec-u"}, keys("unconfined")),
			{"rm", "-f", "keys-exec-u"},
		}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			args := []string{"hostkeys", escapeBin()}
			for i, c := range sc.cmds {
				if i > 0 {
					args = append(args, "+++")
				}
				args = append(args, c...)
			}
			o := e.s.opts
			o.bin = e.probe
			o.timeout = 2 * defaultTimeout
			r := e.u.runWith(t, o, args...)
			if !strings.Contains(r.stdout, "HOST sess=") {
				t.Fatalf("the probe could not set up the host's keys:\n%s", r)
			}
			exitBad := false
			for i := range sc.cmds {
				if !strings.Contains(r.stdout, fmt.Sprintf("HOST command %d exit 0\n", i)) {
					t.Errorf("sandbox %s did not exit 0 (see the output below)", shellJoin(sc.cmds[i]))
					exitBad = true
				}
			}
			want := append(append([]string{}, keyChecks[sc.mode]...), "host-skey-intact", "host-ukey-intact")
			if !wantChecks(t, "keys ("+sc.name+")", r.stdout+r.stderr, want...) && exitBad {
				t.Logf("everything it printed:\n%s", r)
			}
		})
	}
}

// testTerminal: without -t the payload's and an exec'd process's fds 0-2
// are pipes or /dev/null even when sandbox runs on the user's terminal;
// with -t (and in shell) they are a pty of the sandbox's own devpts; and a
// process an exec leaves behind reads nothing the user types afterwards.
func (e *escEnv) testTerminal(t *testing.T) {
	ctr := e.detached(t)
	vol := e.probeVol()
	names := func(want string) []string {
		return []string{"fd0-" + want, "fd1-" + want, "fd2-" + want}
	}
	for _, c := range []struct {
		name, want string
		args       []string
	}{
		{"run", "notty", append(append([]string{"run", "--rm"}, vol...), "bb", "/probe", "term", "notty")},
		{"exec", "notty", []string{"exec", ctr, "/probe", "term", "notty"}},
		{"run-t", "ctrpty", append(append([]string{"run", "--rm", "-t"}, vol...), "bb", "/probe", "term", "ctrpty")},
		{"exec-t", "ctrpty", []string{"exec", "-t", ctr, "/probe", "term", "ctrpty"}},
		{"shell", "ctrpty", append(append([]string{"shell"}, vol...), "--", "/probe", "term", "ctrpty")},
		{"shell-image", "ctrpty", append(append([]string{"shell"}, vol...), "bb", "--", "/probe", "term", "ctrpty")},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, shown := e.onTerminal(t, c.args...)
			if r.code != 0 && len(parseChecks(shown)) == 0 {
				t.Fatalf("exited %d; the terminal showed %q:\n%s", r.code, shown, r)
			}
			wantChecks(t, "sandbox "+shellJoin(c.args), shown, names(c.want)...)
		})
	}

	t.Run("capture", func(t *testing.T) {
		master, slave := openPTY(t)
		screen := readTerminal(master)
		o := e.s.opts
		o.tty = slave
		// The probe lives 60 s in the background, reading fds 0, 1 and 2.
		p := e.u.startWith(t, o, "exec", ctr, "sh", "-c", "/probe capture /tmp/captured 60 &")
		slave.Close()
		r, ok := p.wait(30 * time.Second)
		if !ok {
			t.Fatalf("sandbox exec did not return within 30 s: it waited for the process its command left in the background:\n%s", r)
		}
		if r.code != 0 {
			t.Fatalf("sandbox exec exited %d:\n%s", r.code, r)
		}
		var log string
		if !waitFor(10*time.Second, func() bool {
			log = e.s.do(t, "exec", ctr, "cat", "/tmp/captured.log").stdout
			return strings.Contains(log, "capture started")
		}) {
			t.Fatalf("the background probe did not start; its log: %q", log)
		}
		// The user types at the prompt, sandbox exec having returned.
		if _, err := master.Write([]byte("hunter2\n")); err != nil {
			t.Fatalf("typing on the terminal: %v", err)
		}
		time.Sleep(time.Second)
		got := e.s.must(t, "exec", ctr, "cat", "/tmp/captured").stdout
		log = e.s.do(t, "exec", ctr, "cat", "/tmp/captured.log").stdout
		if strings.Contains(got, "hunter2") {
			t.Errorf("a process left behind by sandbox exec read what the user typed afterwards: %q\nits descriptors: %s", got, log)
		}
		t.Logf("exec returned after %v; the background probe's log:\n%s", r.elapsed.Round(time.Millisecond), log)
		_ = screen
	})
}

// testSymlinkVolume: a sandbox plants DIR/link -> ~ in a directory it may
// write; a later -v DIR/link:/data (or DIR/link/sub, a link in the
// middle) must not bind the user's home.
func (e *escEnv) testSymlinkVolume(t *testing.T) {
	u := e.u
	dir := filepath.Join(u.home, "escape-plant")
	os.RemoveAll(dir)
	u.mustMkdir(t, dir)
	u.mustWrite(t, filepath.Join(u.home, "escape-home-marker"), "home\n", 0o644)
	u.mustWrite(t, filepath.Join(u.home, "escape-sub", "escape-sub-marker"), "sub\n", 0o644)

	r := e.s.do(t, "run", "--rm", "-v", dir+":/d", "bb", "ln", "-s", u.home, "/d/link")
	wantCode(t, r, 0)
	if target, err := os.Readlink(filepath.Join(dir, "link")); err != nil || target != u.home {
		t.Fatalf("the planted link is %q (%v), want -> %s", target, err, u.home)
	}

	for _, c := range []struct{ name, src, marker string }{
		{"link", filepath.Join(dir, "link"), "escape-home-marker"},
		{"link-in-the-middle", filepath.Join(dir, "link", "escape-sub"), "escape-sub-marker"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.s.do(t, "run", "--rm", "-v", c.src+":/data", "bb", "ls", "-a", "/data")
			switch {
			case r.code == 125:
				if !strings.Contains(r.stderr, "symbolic link") {
					t.Errorf("refused, but the message does not say it is a symbolic link:\n%s", r)
				}
				t.Logf("refused: %s", strings.TrimSpace(r.stderr))
			case r.code == 0:
				if strings.Contains(r.stdout, c.marker) {
					t.Errorf("-v %s:/data followed the link the sandbox planted: /data lists %s of the user's home:\n%s", c.src, c.marker, r)
				}
				t.Logf("bound without following the link; /data lists %q", r.stdout)
			default:
				t.Errorf("want 125 naming the symbolic link, or a volume of the link's own location:\n%s", r)
			}
		})
	}
}

// testStoreVolume: -v $HOME:/h with the store in the home shows no mount
// of the sandbox's own (its root, its unmasked proc) below the store.
func (e *escEnv) testStoreVolume(t *testing.T) {
	u := e.u
	// The default store (~/.local/share/sandbox) as the brief has it, and
	// the escape store, also in the home, which holds the running "esc".
	def := &store{u: u, root: u.store(), opts: runOpts{bin: escapeBin()}}
	def.mustRun(t, "import", busyboxTar(t), "escbb")
	e.detached(t)
	rel, err := filepath.Rel(u.home, e.s.root)
	if err != nil {
		t.Fatal(err)
	}
	stores := []string{".local/share/sandbox", rel}
	args := append(append([]string{"run", "--rm", "-v", u.home + ":/h"}, e.probeVol()...), "escbb", "/probe", "storevol", "/h")
	r := def.do(t, append(args, stores...)...)
	var want []string
	for _, s := range stores {
		want = append(want, "no-mount-below:"+s, "no-proc-in-merged:"+s, "no-proc-keys-in-merged:"+s)
	}
	wantChecks(t, "sandbox "+shellJoin(args), r.stdout+r.stderr, want...)
}

// seccompChecks are what the probe's seccomp mode must report with a
// filter: Docker's profile (github.com/moby/profiles/seccomp v0.3.0)
// refuses these with EPERM (clone3 with ENOSYS) and allows the "-allowed"
// ones (name_to_handle_at and memfd_secret are in its allow list).
var seccompChecks = []string{"seccomp-status", "keyctl", "add_key", "request_key", "io_uring_setup",
	"open_by_handle_at", "bpf", "perf_event_open", "userfaultfd", "kexec_load", "clone3",
	"personality-read-implies-exec", "personality-query-allowed", "socket-af_alg", "socket-af_vsock",
	"clone-newuser", "unshare-newuser", "name_to_handle_at-allowed", "memfd_secret-allowed",
	"socket-af_unix-allowed", "fork-exec-allowed"}

// testSeccomp: the default filter in run, exec and shell; unconfined; a
// custom profile; malformed profiles refused before anything is made.
func (e *escEnv) testSeccomp(t *testing.T) {
	vol := e.probeVol()
	ctr := e.detached(t)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"run", append(append([]string{"run", "--rm"}, vol...), "bb", "/probe", "seccomp", "default")},
		{"exec", []string{"exec", ctr, "/probe", "seccomp", "default"}},
		{"shell", append(append([]string{"shell"}, vol...), "--", "/probe", "seccomp", "default")},
		{"shell-image", append(append([]string{"shell"}, vol...), "bb", "--", "/probe", "seccomp", "default")},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.s.do(t, c.args...)
			wantChecks(t, "sandbox "+shellJoin(c.args), r.stdout+r.stderr, seccompChecks...)
		})
	}

	t.Run("unconfined", func(t *testing.T) {
		// Fake root is a filter of its own (single-id mode): with both
		// off, no filter at all.
		args := append(append([]string{"run", "--rm", "--security-opt", "seccomp=unconfined", "--security-opt", "fakeroot=false"}, vol...), "bb", "/probe", "seccomp", "unconfined")
		r := e.s.do(t, args...)
		wantChecks(t, "sandbox "+shellJoin(args), r.stdout+r.stderr, "seccomp-status", "keyctl-allowed")
	})

	t.Run("custom-profile", func(t *testing.T) {
		profile := e.u.mustWrite(t, filepath.Join(e.u.home, "escape-seccomp-mkdir.json"), `{
  "defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [
    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
  ]
}
`, 0o644)
		r := e.s.do(t, "run", "--rm", "--security-opt", "seccomp="+profile, "bb", "sh", "-c",
			`mkdir /x; echo "mkdir exit $?"; touch /y && echo touched; grep '^Seccomp:' /proc/self/status`)
		wantCode(t, r, 0)
		if !strings.Contains(r.stderr, "Permission denied") || !strings.Contains(r.stdout, "mkdir exit 1\n") {
			t.Errorf("mkdir under a profile that makes it EACCES did not fail with \"Permission denied\":\n%s", r)
		}
		if !strings.Contains(r.stdout, "touched\n") || !strings.Contains(r.stdout, "Seccomp:\t2\n") {
			t.Errorf("under the custom profile, other calls must work and a filter be installed (Seccomp: 2):\n%s", r)
		}
	})

	for _, c := range []struct{ name, content string }{
		{"malformed-json", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [`},
		{"unknown-action", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_PRETEND"}]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			profile := e.u.mustWrite(t, filepath.Join(e.u.home, "escape-seccomp-"+c.name+".json"), c.content, 0o644)
			before := map[string]bool{}
			for _, p := range e.s.psJSON(t) {
				before[p.ID] = true
			}
			r := e.s.do(t, "run", "--rm", "--name", "bad-profile", "--security-opt", "seccomp="+profile, "bb", "true")
			wantCode(t, r, 125)
			if !strings.Contains(r.stderr, profile) {
				t.Errorf("the error does not name the profile %s:\n%s", profile, r)
			}
			for _, p := range e.s.psJSON(t) {
				if !before[p.ID] {
					t.Errorf("a refused profile left container %s (%s) behind", p.ID, p.Name)
				}
			}
		})
	}
}
