package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// rawProbe prints what a payload sees of its sandbox, with what differs
// between two containers of the same image (ids, the overlay's options,
// namespaces, pids: the Go init's threads take pids before its payload)
// left out.
const rawProbe = `
echo "ids: $(id)"; echo "pwd: $(pwd)"; echo "home: $HOME"; echo "host: $(hostname)"; echo "umask: $(umask)"
env | grep -v -e '^HOSTNAME=' -e '^PWD=' | sort
mount | sed 's/^overlay on \/ type overlay .*/overlay on \/ type overlay/'
grep -E '^(Cap|NoNewPrivs|Seccomp|Sig(Blk|Ign))' /proc/self/status
grep -v '^Limit' /proc/self/limits
ls -ln /dev /dev/pts | awk '{print $1, $3, $4, $NF}'
cat /proc/self/uid_map /proc/self/gid_map
head -c 16 /proc/keys | wc -c
set -- $(cut -d' ' -f4-6 /proc/$$/stat)
echo "parent: $1"; [ "$2" = $$ ] && echo "its own process group"; [ "$3" = $$ ] && echo "its own session"
`

// TestRawStart: a throwaway run as root starts raw (no Go stage in the
// container: PID 1 is the idle stage from the start), in both modes, and
// what its payload sees is what the Go init's would have seen, flag by
// flag, as root or (with subordinate ids) another user.
func TestRawStart(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		bb := u.bb(t)
		stage := u.mustRun(t, "run", "--rm", bb, "cat", "/proc/1/cmdline").stdout
		if args := strings.Split(stage, "\x00"); len(args) < 2 || args[1] != "idle" {
			t.Fatalf("PID 1 is %q; want the idle stage", strings.ReplaceAll(stage, "\x00", " "))
		}
		if u.mode == "subid" {
			stage = u.mustRun(t, "run", "--rm", "-u", "1000:1000", bb, "cat", "/proc/1/cmdline").stdout
			if args := strings.Split(stage, "\x00"); len(args) < 2 || args[1] != "idle" {
				t.Errorf("as uid 1000, PID 1 is %q; want the idle stage", strings.ReplaceAll(stage, "\x00", " "))
			}
		}
		goInit := runOpts{env: []string{"SANDBOX_NO_RAW=1"}}
		users := [][]string{}
		if u.mode == "subid" {
			users = [][]string{{"-u", "1000"}, {"-u", "1000:1000", "-w", "/home/x"}, {"-u", "0:5"}}
		}
		for _, flags := range append([][]string{
			nil,
			{"-w", "/made/for/it", "-e", "FOO=bar", "--hostname", "named"},
			{"--read-only", "--tmpfs", "/scratch", "--shm-size", "1m"},
			{"--ulimit", "nofile=512:1024", "--cap-drop", "CHOWN", "--device", "/dev/null:/dev/extra"},
			{"--privileged"},
			{"--security-opt", "seccomp=unconfined", "--cap-add", "SYS_PTRACE"},
		}, users...) {
			args := append(append([]string{"run", "--rm"}, flags...), bb, "sh", "-c", rawProbe)
			raw, old := u.mustRun(t, args...), u.runWith(t, goInit, args...)
			wantCode(t, old, 0)
			if raw.stdout != old.stdout {
				t.Errorf("%v: a raw start shows its payload\n%s\nwhere the Go init shows\n%s", flags, raw.stdout, old.stdout)
			}
		}
		// Failures say what the Go init says, with its codes.
		for _, c := range []struct {
			args []string
			code int
		}{
			{[]string{bb, "nosuchcmd"}, 127},
			{[]string{bb, "/bin/nosuch"}, 127},
			{[]string{bb, "/etc/hosts"}, 126},
			{[]string{"--read-only", "-w", "/not/there", bb, "true"}, 125},
			{[]string{"--ulimit", "nofile=1:99999999", bb, "true"}, 125},
			{[]string{"-u", "nobody", bb, "true"}, 125}, // the image has no /etc/passwd
		} {
			args := append([]string{"run", "--rm"}, c.args...)
			raw, old := u.run(t, args...), u.runWith(t, goInit, args...)
			wantCode(t, raw, c.code)
			wantCode(t, old, c.code)
			if raw.stderr != old.stderr {
				t.Errorf("%v: a raw start says %q where the Go init says %q", c.args, raw.stderr, old.stderr)
			}
		}
	})
}

// TestRawStartEscape: the escape probe as a raw start's payload, from an
// image that holds it (a volume would make the start the Go init's): the
// keyring, the terminal, the seccomp filter and PID 1 are out of reach as
// they are behind the Go init.
func TestRawStartEscape(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		e := newEscEnv(t, u, "rawesc")
		e.s.mustRun(t, append(append([]string{"run", "--name", "mk"}, e.probeVol()...), "bb", "cp", "/probe", "/escape")...)
		e.s.mustRun(t, "commit", "mk", "bbprobe")
		e.s.mustRun(t, "rm", "mk")
		stage := e.s.mustRun(t, "run", "--rm", "bbprobe", "cat", "/proc/1/cmdline").stdout
		if !strings.HasPrefix(stage, "sandbox-init\x00idle\x00") {
			t.Fatalf("PID 1 is %q: not a raw start", strings.ReplaceAll(stage, "\x00", " "))
		}
		// Each on a spare root, in the mount namespace its holder made
		// ("A spare root"), as a start after another runs.
		trace := e.s.opts
		trace.env = append(slices.Clone(trace.env), "SANDBOX_TRACE=1")
		for _, args := range [][]string{{"seccomp", "default"}, {"term", "notty"}, {"ptrace1", "2"}} {
			waitSpareRoot(t, u, e.s, "bbprobe")
			r := u.runWith(t, trace, append([]string{"run", "--rm", "bbprobe", "/escape"}, args...)...)
			if !strings.Contains(r.stderr, "spare root's namespace joined") {
				t.Errorf("escape %v did not start in a spare root's namespace:\n%s", args, r.stderr)
			}
			checks := parseChecks(r.stdout)
			if len(checks) == 0 {
				t.Errorf("escape %v printed no check:\n%s", args, r)
			}
			for name, v := range checks {
				if v != "ok" {
					t.Errorf("escape %v: %s: %s", args, name, v)
				}
			}
		}
	})
}

// TestRawStartEndsEveryProcess: a raw start returns once nothing of its
// container runs, though it does not wait for its PID 1's own end (the
// kernel taking the mounts down): a process the payload left behind, its
// output closed and slow to end (64 MiB to give back), is gone by then,
// not even a zombie, and the exit code is the payload's. (The Go init
// returns at its payload's end by design: "A throwaway run".)
func TestRawStartEndsEveryProcess(t *testing.T) {
	const script = `awk 'BEGIN { s = "x"; for (i = 0; i < 26; i++) s = s s; print length(s) > "/tmp/ready"; close("/tmp/ready"); while (1) {} }' </dev/null >/dev/null 2>&1 &
while [ ! -s /tmp/ready ]; do sleep 0.01; done; exit 3`
	forEachUser(t, func(t *testing.T, u *user) {
		r := u.runWith(t, runOpts{env: []string{"SANDBOX_TRACE=1"}}, "run", "--rm", u.bb(t), "sh", "-c", script)
		wantCode(t, r, 3)
		if !strings.Contains(r.stderr, "payload's code") {
			t.Fatalf("the command waited for PID 1's end, not for the payload's code:\n%s", r.stderr)
		}
		procs, _ := filepath.Glob("/proc/[0-9]*/stat")
		for _, p := range procs {
			b, _ := os.ReadFile(p)
			var st syscall.Stat_t
			if strings.Contains(string(b), " (awk) ") && syscall.Stat(filepath.Dir(p), &st) == nil && st.Uid == u.uid {
				t.Errorf("%s, the payload's awk, still there after the command returned: %s", filepath.Dir(p), b)
			}
		}
	})
}

// TestRawStartLeavesSkeleton: a raw start's removal leaves a container
// directory made ahead in the store's tmp/ (image.SkeletonPrefix), and the
// next container's creation takes it whole, in one rename: the container
// lives in that very directory, with its lock and nothing else.
func TestRawStartLeavesSkeleton(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		bb := u.bb(t)
		skel := filepath.Join(u.store(), "tmp", "skel-upper+work+merged+userdata")
		u.mustRun(t, "run", "--rm", bb, "true")
		// The removal runs on after the command. Until no removal is under
		// way, this one's or an earlier test's, a late one would make a
		// skeleton again after the create below took this one.
		settledEntries(t, filepath.Join(u.store(), "tmp"))
		// Nor is it done once its directory is gone: where it could not
		// recycle that (a skeleton was there already), it removes it and
		// then makes a skeleton if none is there, and the create below
		// may take the old one in between (seen once in a full suite).
		// Its process gone, it is done.
		removers := func(p procInfo) bool {
			return strings.HasPrefix(p.cmdline, "sandbox-mkspare ") || strings.HasPrefix(p.cmdline, "sandbox-init remove ")
		}
		if !waitFor(afterCommand, func() bool { return len(userProcs(u, removers)) == 0 }) {
			t.Fatalf("a removal still runs %v after a raw start: %+v", afterCommand, userProcs(u, removers))
		}
		var before syscall.Stat_t
		for deadline := time.Now().Add(afterCommand); syscall.Stat(skel, &before) != nil; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s %v after a raw start", skel, afterCommand)
			}
		}
		if before.Uid != u.uid || before.Mode&0o777 != 0o700 {
			t.Errorf("the skeleton is owned by %d, mode %o; want the user's (%d), 0700", before.Uid, before.Mode&0o777, u.uid)
		}
		ents, _ := os.ReadDir(skel)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if want := []string{"lock", "merged", "upper", "userdata", "work"}; !slices.Equal(names, want) {
			t.Errorf("the skeleton holds %q, want %q", names, want)
		}
		id := strings.TrimSpace(u.mustRun(t, "create", bb, "true").stdout)
		defer u.run(t, "rm", id)
		var taken syscall.Stat_t
		if err := syscall.Stat(filepath.Join(u.store(), "containers", id), &taken); err != nil {
			t.Fatal(err)
		}
		if taken.Ino != before.Ino {
			t.Errorf("the container's directory is inode %d, not the skeleton's %d", taken.Ino, before.Ino)
		}
		if _, err := os.Stat(skel); !os.IsNotExist(err) {
			t.Errorf("the skeleton is still there after a create took it: %v", err)
		}
	})
}

// TestRawStartInput: the user's input reaches the payload whichever init
// runs it: a raw start, or the Go init for what only it handles (a flag,
// the host image). A raw start that gives way to the Go init once begun
// leaves the input unread (runtime's TestHeldRelayInput).
func TestRawStartInput(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		bb := u.bb(t)
		for _, args := range [][]string{
			{bb, "cat"},                     // a raw start
			{"--group-add", "0", bb, "cat"}, // the Go init
			{"host", "/bin/cat"},            // the Go init, for the host's root
		} {
			in := "piped to the payload\n"
			r := u.runWith(t, runOpts{stdin: strings.NewReader(in)}, append([]string{"run", "--rm", "-i"}, args...)...)
			wantCode(t, r, 0)
			if r.stdout != in {
				t.Errorf("run --rm -i %v: the payload read %q of %q", args, r.stdout, in)
			}
		}
	})
}

// TestExecThrowaway: a throwaway run without a terminal (run --rm in the
// foreground) serves no exec, and an exec into one says so and how to run
// one that does, instead of failing to reach a socket that was never
// made; with a terminal it serves exec.
func TestExecThrowaway(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		bb := u.bb(t)
		p := u.start(t, "run", "--rm", "--name", "throwaway", bb, "sleep", "30")
		if !waitFor(10*time.Second, func() bool {
			return strings.Contains(u.run(t, "ps", "--format", "{{.Names}}").stdout, "throwaway")
		}) {
			t.Fatalf("the throwaway run never showed in ps")
		}
		r := u.run(t, "exec", "throwaway", "true")
		wantCode(t, r, 125)
		if !strings.Contains(r.stderr, "throwaway run") || !strings.Contains(r.stderr, "with -t, detached (run -d --rm)") {
			t.Errorf("exec into a throwaway run says %q; want why and what to do", r.stderr)
		}
		u.mustRun(t, "stop", "-t", "1", "throwaway")
		p.wait(10 * time.Second)

		// With a terminal (shell, run --rm -it) it serves exec: a second
		// terminal's exec into a shell.
		_, slave := openPTY(t)
		p = u.startWith(t, runOpts{tty: slave}, "run", "--rm", "-it", "--name", "interactive", bb, "sleep", "30")
		slave.Close()
		if !waitFor(10*time.Second, func() bool {
			return strings.Contains(u.run(t, "ps", "--format", "{{.Names}}").stdout, "interactive")
		}) {
			t.Fatalf("the run with a terminal never showed in ps")
		}
		if r := u.mustRun(t, "exec", "interactive", "echo", "in"); r.stdout != "in\n" {
			t.Errorf("exec into a throwaway run with a terminal printed %q", r.stdout)
		}
		u.mustRun(t, "stop", "-t", "1", "interactive")
		p.wait(10 * time.Second)
	})
}

// TestSpareUserNS: with subordinate ids, a throwaway run leaves a spare
// user namespace (its maps written by newuidmap and newgidmap) for the
// next one, which takes it: its payload sees the maps a start without a
// spare gets, each container has a namespace of its own, and the holder
// is gone once taken. A start of the Go init takes one too. A record
// that names no holder is dropped and the run goes on without it. A
// maker that finds another at work waits for it, and makes spares
// while fewer than two are left.
// Without subordinate ids a spare is made only with a root, which
// TestSpareRoot tries.
func TestSpareUserNS(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		bb := u.bb(t)
		dir := filepath.Join(u.runtimeDir(), "sandbox", "spare")
		records := func() []string {
			m, _ := filepath.Glob(filepath.Join(dir, "ready-*"))
			return m
		}
		// A spare is made as a run's removal is handed over: wait for it,
		// and for its maker's end (it keeps two ready), and put aside all
		// but one, so that the next start takes that one.
		waitSpare := func() string {
			t.Helper()
			rec := settledSpares(t, u, u.store())[0]
			putAsideSpares(t, u, rec)
			return rec
		}
		u.mustRun(t, "run", "--rm", bb, "true")
		if u.mode != "subid" {
			rec := waitSpare()
			if b, err := os.ReadFile(rec); err != nil || len(strings.Split(strings.TrimSpace(string(b)), "\n")) < 2 {
				t.Fatalf("single-id mode made a spare user namespace without a root: %q, %v", b, err)
			}
			return
		}
		probe := []string{"run", "--rm", bb, "sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; readlink /proc/self/ns/user"}
		trace := runOpts{env: []string{"SANDBOX_TRACE=1"}}
		var seen []string
		for round := 0; round < 2; round++ {
			rec := waitSpare()
			b, err := os.ReadFile(rec)
			if err != nil {
				t.Fatal(err)
			}
			var holder int
			fmt.Sscan(string(b), &holder)
			r := u.runWith(t, trace, probe...)
			wantCode(t, r, 0)
			if !strings.Contains(r.stderr, "spare user namespace taken") {
				t.Fatalf("round %d: the run did not take the spare %s:\n%s", round, rec, r)
			}
			if _, err := os.Stat(rec); !os.IsNotExist(err) {
				t.Errorf("round %d: the spare's record %s is still there (%v)", round, rec, err)
			}
			if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", holder)); err == nil && !strings.Contains(string(st), ") Z ") {
				t.Errorf("round %d: the holder %d of the spare taken still runs: %s", round, holder, st)
			}
			without := u.runWith(t, runOpts{env: []string{"SANDBOX_NO_SPARE=1"}}, probe...)
			wantCode(t, without, 0)
			maps := func(s string) string { return s[:strings.LastIndex(strings.TrimSuffix(s, "\n"), "\n")+1] }
			if maps(r.stdout) != maps(without.stdout) {
				t.Errorf("round %d: in a spare user namespace the payload sees the maps\n%s\nwhere a start without one shows\n%s", round, r.stdout, without.stdout)
			}
			ns := strings.TrimPrefix(r.stdout, maps(r.stdout))
			if slices.Contains(seen, ns) || ns == strings.TrimPrefix(without.stdout, maps(without.stdout)) {
				t.Errorf("round %d: the user namespace %q was another container's too (%v)", round, ns, seen)
			}
			seen = append(seen, ns)
		}

		// The Go init's start (--group-add rules out a raw one) takes a
		// spare too, and has the next one made as the command ends.
		rec := waitSpare()
		goInit := append([]string{"run", "--rm", "--group-add", "0"}, probe[2:]...)
		r := u.runWith(t, trace, goInit...)
		wantCode(t, r, 0)
		if !strings.Contains(r.stderr, "spare user namespace taken") || strings.Contains(r.stderr, "raw start") {
			t.Fatalf("the Go init's start did not take the spare %s:\n%s", rec, r)
		}
		without := u.runWith(t, runOpts{env: []string{"SANDBOX_NO_SPARE=1"}}, goInit...)
		if maps := strings.Count(r.stdout, "\n") - 1; maps < 2 || strings.Join(strings.Split(r.stdout, "\n")[:maps], "\n") != strings.Join(strings.Split(without.stdout, "\n")[:maps], "\n") {
			t.Errorf("the Go init in a spare user namespace shows\n%s\nwhere one without shows\n%s", r.stdout, without.stdout)
		}

		// A spare made under other limits (a `ulimit -u` of the command
		// before) is not used: the namespace would keep that command's
		// limits as its own. The run drops it and makes its own
		// namespace; the test ends the holder it left.
		real := waitSpare()
		b, _ := os.ReadFile(real)
		var holder int
		var start uint64
		fmt.Sscan(string(b), &holder, &start)
		if err := os.WriteFile(real, fmt.Appendf(nil, "%d %d 1,2,3,4\n", holder, start), 0o600); err != nil {
			t.Fatal(err)
		}
		r = u.runWith(t, trace, probe...)
		wantCode(t, r, 0)
		if strings.Contains(r.stderr, "spare user namespace taken") || !strings.Contains(r.stderr, "made under other limits") {
			t.Errorf("a spare made under other limits was not refused:\n%s", r)
		}
		if holder > 0 {
			syscall.Kill(holder, syscall.SIGKILL)
		}

		// A record that names no holder (pid 1, another start time): the
		// run drops it and makes its own namespace. The spares the last
		// run left are put aside (and ended) so that the bad one is the
		// only one there.
		real = waitSpare()
		b, _ = os.ReadFile(real)
		fmt.Sscan(string(b), &holder)
		os.Remove(real)
		if holder > 0 {
			syscall.Kill(holder, syscall.SIGKILL)
		}
		bad := filepath.Join(dir, "ready-1")
		if err := os.WriteFile(bad, []byte("1 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r = u.runWith(t, trace, probe...)
		wantCode(t, r, 0)
		if strings.Contains(r.stderr, "spare user namespace taken") || !strings.Contains(r.stderr, "not used") {
			t.Errorf("a record naming pid 1 was not refused:\n%s", r)
		}
		if _, err := os.Stat(bad); !os.IsNotExist(err) {
			t.Errorf("the refused record is still there (%v)", err)
		}

		// A maker that finds the one before it still at work waits for
		// it, then makes the spare its run took: the one before, stalled
		// at the idle policy after renaming its record into place,
		// lets go of the lock only after the next start has taken that
		// record. The test holds the lock as that maker would.
		waitSpare()
		lock, err := os.OpenFile(filepath.Join(dir, "make.lock"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Close()
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			t.Fatal(err)
		}
		r = u.runWith(t, trace, "run", "--rm", bb, "true")
		wantCode(t, r, 0)
		if !strings.Contains(r.stderr, "spare user namespace taken") {
			t.Fatalf("the run did not take the spare:\n%s", r)
		}
		// One maker waits; those of the runs after it end at once (the
		// waiting one looks after them), whatever the number of runs.
		for i := 0; i < 3; i++ {
			u.mustRun(t, "run", "--rm", bb, "true")
		}
		makers := func() int {
			return len(userProcs(u, func(p procInfo) bool { return p.comm == "sandbox-mkspare" }))
		}
		// Each maker removes its run's container first (rm-ID in tmp/),
		// so once those are gone every maker has begun.
		removed := func() bool { return len(pendingRemovals(u.store())) == 0 }
		if !waitFor(afterCommand, removed) {
			t.Fatalf("the runs' containers were not removed %v after they ended", afterCommand)
		}
		if !waitFor(10*time.Second, func() bool { return makers() == 1 }) {
			t.Errorf("%d spare makers alive while one holds the lock, after four runs; want the one waiting", makers())
		}
		if m := records(); len(m) > 0 {
			t.Errorf("a spare %v was made while another maker held the lock", m)
		}
		syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		waitSpare()
	})
}

// TestSpareRoot: a throwaway run leaves, with the next spare user
// namespace, its image's root made ahead (docs/handshake.md, "A spare
// root"), which the next run of that image takes: it sees the mounts a
// run without a spare sees (each mount point, its options and type), a
// root of its own (nothing the last run wrote), and what it writes goes
// to its own container's directory. A run of another image mounts its
// own root, and so does a run of an image removed and imported again
// (its layer unpacked anew, under the same name). The directory of a
// spare root whose holder has ended does not stay.
// waitSpareRoot runs image in s and waits for a spare whose holder made
// its root in s's tmp/, and returns that holder's pid and the root's
// directory (named for its maker). Again where none comes: a spare of an
// earlier test's run (of another store) may be there, or made meanwhile
// by a maker our run's waited for; a maker makes none while two are
// there. The others are put aside (putAsideSpares), so that the next
// start takes the one returned.
func waitSpareRoot(t *testing.T, u *user, s *store, image string) (int, string) {
	t.Helper()
	tmp := filepath.Join(s.root, "tmp")
	spares := filepath.Join(u.runtimeDir(), "sandbox", "spare")
	for try := 0; try < 5; try++ {
		s.mustRun(t, "run", "--rm", image, "true")
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			for _, rec := range settledSpares(t, u, s.root) {
				b, _ := os.ReadFile(rec)
				var holder int
				fmt.Sscan(string(b), &holder)
				if lines := strings.Split(string(b), "\n"); len(lines) > 1 && filepath.Dir(lines[1]) == tmp && strings.HasPrefix(filepath.Base(lines[1]), "spare-") {
					putAsideSpares(t, u, rec)
					return holder, lines[1]
				}
			}
		}
	}
	t.Fatalf("no spare root for %s in %s after five throwaway runs", tmp, spares)
	return 0, ""
}

// settledSpares waits until the containers of the runs before are
// removed from the store's tmp/ (in which the store at storeRoot is),
// which their makers do once they have made their first spare, then
// until no maker lives, and returns the ready records then: a maker
// keeps two spares ready (runtime's spareDepth), and the second may
// still be in the making when the first is there. (A maker is started
// detached: before its execve it is the command by its argv, so that
// no maker alive says nothing until its removal is done.) A container
// whose removal is pending is one whose lock is held, by the maker it
// was handed to: one an earlier test's killed run left (its lock free)
// waits for a sweep, and is not waited for here.
func settledSpares(t *testing.T, u *user, storeRoot string) []string {
	t.Helper()
	dir := filepath.Join(u.runtimeDir(), "sandbox", "spare")
	var recs, left []string
	var makers []procInfo
	if !waitFor(afterCommand, func() bool {
		left = pendingRemovals(storeRoot)
		// By its argv[0]: its name is its program's descriptor's until
		// it names itself.
		makers = userProcs(u, func(p procInfo) bool { return strings.HasPrefix(p.cmdline, "sandbox-mkspare ") })
		recs, _ = filepath.Glob(filepath.Join(dir, "ready-*"))
		return len(left) == 0 && len(makers) == 0 && len(recs) > 0
	}) {
		t.Fatalf("%v after a throwaway run: spares %v, containers not removed %v, makers alive %+v", afterCommand, recs, left, makers)
	}
	return recs
}

// pendingRemovals are the containers in the store's tmp/ whose lock a
// live process holds: their removal is under way (or handed over).
func pendingRemovals(storeRoot string) []string {
	var held []string
	dirs, _ := filepath.Glob(filepath.Join(storeRoot, "tmp", "rm-*"))
	for _, d := range dirs {
		lock, err := os.Open(filepath.Join(d, "lock"))
		if err != nil {
			continue
		}
		if syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == syscall.EWOULDBLOCK {
			held = append(held, d)
		}
		lock.Close()
	}
	return held
}

// putAsideSpares removes every ready record but keep and ends its holder,
// so that the next start takes keep's spare: the checks that follow name
// its holder and root.
func putAsideSpares(t *testing.T, u *user, keep string) {
	t.Helper()
	recs, _ := filepath.Glob(filepath.Join(u.runtimeDir(), "sandbox", "spare", "ready-*"))
	for _, rec := range recs {
		if rec == keep {
			continue
		}
		b, _ := os.ReadFile(rec)
		var holder int
		fmt.Sscan(string(b), &holder)
		os.Remove(rec)
		if holder > 0 {
			syscall.Kill(holder, syscall.SIGKILL)
		}
	}
}

func TestSpareRoot(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "spareroot")
		tmp := filepath.Join(s.root, "tmp")
		waitRoot := func() (int, string) { t.Helper(); return waitSpareRoot(t, u, s, "bb") }
		trace := s.opts
		trace.env = append(slices.Clone(trace.env), "SANDBOX_TRACE=1")
		noSpare := s.opts
		noSpare.env = append(slices.Clone(noSpare.env), "SANDBOX_NO_SPARE=1")
		// What must read the same with a spare root and without: the
		// payload's ids and home (the user its maker looked up, on the
		// record), its descriptors, /dev/mqueue's queues, and each mount's
		// point, options, type, source and filesystem options (the
		// overlay's directories left out: they are the spare's, by name).
		// (Not the namespaces' inode numbers: the kernel gives those of
		// an ended namespace to the next.)
		probe := []string{"run", "--rm", "bb", "sh", "-c", `test -e /mark && echo stale; echo x > /mark
id; echo "$HOME"; ls /proc/self/fd /dev/mqueue
awk '{ print $5, $6, substr($0, index($0, " - ") + 3) }' /proc/self/mountinfo | sed -E 's/(lowerdir|upperdir|workdir)=[^,]*//g' | sort`}

		for round := 0; round < 2; round++ {
			holder, dir := waitRoot()
			if round == 0 {
				// The holder keeps its root's lock and the mount
				// namespace a start joins (its root alone), and the idle
				// stage its signalfd: nothing else, and not its own
				// mount namespace, which holds the host's tree. The
				// record can come a few instructions before the signalfd
				// (the stage names itself first, and the maker waits for
				// the name): the steady state is looked for, for up to a
				// second.
				var fds []os.DirEntry
				var err error
				var sigfd, lock, join, own string
				for deadline := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
					fds, err = os.ReadDir(fmt.Sprintf("/proc/%d/fd", holder))
					sigfd, _ = os.Readlink(fmt.Sprintf("/proc/%d/fd/0", holder))
					lock, _ = os.Readlink(fmt.Sprintf("/proc/%d/fd/3", holder))
					join, _ = os.Readlink(fmt.Sprintf("/proc/%d/fd/4", holder))
					own, _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", holder))
					if err == nil && len(fds) == 3 && sigfd == "anon_inode:[signalfd]" && lock == dir+".lock" && strings.HasPrefix(join, "mnt:[") && join != own {
						break
					}
					if time.Now().After(deadline) {
						t.Errorf("the holder %d has descriptors %v (%v), 0 %q, 3 %q, 4 %q (its own mount namespace %q); want the idle stage's signalfd, its lock and another mount namespace alone", holder, fds, err, sigfd, lock, join, own)
						break
					}
				}
			}
			if round == 1 {
				// A command's sweep of tmp/ (an import's) leaves a spare
				// root alone, and `system check` finds nothing wrong.
				s.must(t, "import", busyboxTar(t), "bb-again")
				wantStdoutContains(t, s.must(t, "system", "check"), "no problems")
			}
			r := u.runWith(t, trace, probe...)
			wantCode(t, r, 0)
			if !strings.Contains(r.stderr, "spare root taken") || !strings.Contains(r.stderr, "spare root's namespace joined") {
				t.Fatalf("round %d: the run did not take the spare root of holder %d, and join its namespace:\n%s", round, holder, r)
			}
			if strings.Contains(r.stdout, "stale") {
				t.Errorf("round %d: the run found what the last one wrote:\n%s", round, r)
			}
			without := u.runWith(t, noSpare, probe...)
			wantCode(t, without, 0)
			if r.stdout != without.stdout || !strings.Contains(r.stdout, "overlay") {
				t.Errorf("round %d: with a spare root the payload sees\n%s\nwhere a run without a spare sees\n%s", round, r.stdout, without.stdout)
			}
			// Removed by the run's removal or the next maker's sweep, both
			// at the idle policy.
			if !waitFor(afterCommand, func() bool { return !exists(dir) && !exists(dir+".lock") }) {
				t.Errorf("round %d: the spare root %s taken is still there: %v", round, dir, dirEntries(t, tmp))
			}
		}

		// Taken without the namespace to join (as a Go holder's root is):
		// PID 1 mounts and pivots in the holder's own, and the payload
		// sees the same.
		waitRoot()
		noJoin := trace
		noJoin.env = append(slices.Clone(noJoin.env), "SANDBOX_NO_SPARE_JOIN=1")
		r0 := u.runWith(t, noJoin, probe...)
		wantCode(t, r0, 0)
		if !strings.Contains(r0.stderr, "spare root taken") || strings.Contains(r0.stderr, "joined") {
			t.Errorf("a run with SANDBOX_NO_SPARE_JOIN=1 did not take the spare root without joining:\n%s", r0)
		}
		if without := u.runWith(t, noSpare, probe...); r0.stdout != without.stdout {
			t.Errorf("with a spare root, not joined, the payload sees\n%s\nwhere a run without a spare sees\n%s", r0.stdout, without.stdout)
		}

		// What the payload writes goes to its container's directory. (Before
		// any run of another launch, whose spare root a start of this one
		// would not take.)
		waitRoot()
		p := u.startWith(t, trace, "run", "--rm", "--name", "live", "bb", "sh", "-c", "echo y > /y; exec sleep 30")
		if !waitFor(10*time.Second, func() bool {
			m, _ := filepath.Glob(filepath.Join(s.root, "containers", "*", "upper", "y"))
			return len(m) == 1
		}) {
			t.Errorf("what a run on a spare root wrote is not in its container's upper directory")
		}
		// Its PID 1 holds what one started without a spare holds: none of
		// the descriptors it joined with (the namespace, its /proc's
		// tree, the /etc files' trees), nor the idle stage more.
		fdsOf := func(name string) []string {
			t.Helper()
			pid, _ := strconv.Atoi(strings.TrimSpace(s.must(t, "inspect", "--format", "{{.State.Pid}}", name).stdout))
			var fds []string
			entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
			for _, e := range entries {
				l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
				fds = append(fds, e.Name()+" "+strings.Split(l, ":[")[0])
			}
			if err != nil || len(fds) == 0 {
				t.Errorf("PID 1 (%d) of %s: descriptors %v, %v", pid, name, fds, err)
			}
			return fds
		}
		joinedFDs := fdsOf("live")
		p2 := u.startWith(t, noSpare, "run", "--rm", "--name", "live2", "bb", "sleep", "30")
		if !waitFor(10*time.Second, func() bool {
			r := s.run(t, "inspect", "--format", "{{.State.Pid}}", "live2")
			return r.code == 0 && strings.TrimSpace(r.stdout) != "0"
		}) {
			t.Errorf("live2 did not start")
		}
		if plainFDs := fdsOf("live2"); !slices.Equal(joinedFDs, plainFDs) {
			t.Errorf("PID 1 on a joined spare root has descriptors %q; one started without a spare %q", joinedFDs, plainFDs)
		}
		s.must(t, "kill", "live", "live2")
		if r, _ := p.wait(10 * time.Second); !strings.Contains(r.stderr, "spare root's namespace joined") {
			t.Errorf("the run whose PID 1's descriptors were compared did not join a spare root's namespace:\n%s", r.stderr)
		}
		p2.wait(10 * time.Second)

		// Two spare roots are kept ready (runtime's spareDepth), so two
		// runs in a row, the second started as the first ends, both take
		// one. A run of another launch takes one of them, and its maker
		// makes one of its own beside the other: spares of another root
		// are of use too (their user namespace), so none is ended.
		record := func(rec string) (holder int, key string) {
			b, _ := os.ReadFile(rec)
			first, _, _ := strings.Cut(string(b), "\n")
			if f := strings.Fields(first); len(f) == 4 {
				holder, _ = strconv.Atoi(f[0])
				key = f[3]
			}
			return holder, key
		}
		keysOf := func(recs []string) (holders []procInfo, keys []string) {
			for _, rec := range recs {
				h, k := record(rec)
				p, ok := readProc(h)
				if !ok || p.comm != "sandbox-spare" {
					t.Errorf("the holder %d of %s is not there (%+v)", h, rec, p)
				}
				holders, keys = append(holders, p), append(keys, k)
			}
			return holders, keys
		}
		s.mustRun(t, "run", "--rm", "bb", "true")
		before, bbKeys := keysOf(settledSpares(t, u, s.root))
		if len(before) != 2 || bbKeys[0] == "" || bbKeys[0] != bbKeys[1] {
			t.Errorf("after a throwaway run, spares %v with keys %q; want two of that run's root", before, bbKeys)
		}
		for i := 0; i < 2; i++ {
			if r := u.runWith(t, trace, "run", "--rm", "bb", "true"); !strings.Contains(r.stderr, "spare root taken") {
				t.Errorf("run %d of two in a row took no spare root:\n%s", i+1, r)
			}
		}
		before, bbKeys = keysOf(settledSpares(t, u, s.root))
		if r := u.runWith(t, trace, "run", "--rm", "--shm-size", "4m", "bb", "true"); !strings.Contains(r.stderr, "spare root not taken") {
			t.Errorf("a run of another launch took a spare root:\n%s", r)
		}
		after, keys := keysOf(settledSpares(t, u, s.root))
		alive1 := 0
		for _, h := range before {
			if alive(h) {
				alive1++
			}
		}
		ofBB := 0
		for _, k := range keys {
			if k == bbKeys[0] {
				ofBB++
			}
		}
		if len(after) != 2 || alive1 != 1 || ofBB != 1 || slices.Contains(keys, "") {
			t.Errorf("after a run of another launch, spares %v with keys %q (those before: %v, %q, %d alive); want the one it left and one of its own root", after, keys, before, bbKeys, alive1)
		}

		// Another /dev/shm: the root is not taken.
		waitRoot()
		r := u.runWith(t, trace, "run", "--rm", "--shm-size", "2m", "bb", "grep", " /dev/shm ", "/proc/self/mounts")
		wantCode(t, r, 0)
		if !strings.Contains(r.stderr, "spare root not taken") || !strings.Contains(r.stdout, "size=2048k") {
			t.Errorf("a run with another --shm-size than the spare root's:\n%s", r)
		}

		// Another image: bb with a layer of its own.
		s.must(t, "run", "--name", "m2", "bb", "sh", "-c", "echo two > /two")
		s.must(t, "commit", "m2", "bb2")
		s.must(t, "rm", "m2")
		waitRoot()
		r = u.runWith(t, trace, "run", "--rm", "bb2", "cat", "/two")
		wantCode(t, r, 0)
		if !strings.Contains(r.stderr, "spare root not taken") || r.stdout != "two\n" {
			t.Errorf("a run of another image than the spare root's:\n%s", r)
		}

		// The same image removed and imported again.
		waitRoot()
		s.must(t, "rmi", "bb2", "bb", "bb-again")
		s.must(t, "import", busyboxTar(t), "bb")
		r = u.runWith(t, trace, "run", "--rm", "bb", "cat", "/bin/busybox")
		wantCode(t, r, 0)
		if !strings.Contains(r.stderr, "spare root not taken") || len(r.stdout) < 100000 {
			t.Errorf("a run of an image imported again after its spare root was made: %d bytes out\n%s", len(r.stdout), r.stderr)
		}

		// Only the directories of holders alive are left: each one's
		// lock is held (a holder keeps it), as a sweep judges. (The
		// sweeps and removals run at the idle policy.)
		if !waitFor(afterCommand, func() bool {
			for _, n := range dirEntries(t, tmp) {
				base := strings.TrimSuffix(n, ".lock")
				// spare-PID, or spare-PID.N for a maker's second.
				pid, _, _ := strings.Cut(strings.TrimPrefix(base, "spare-"), ".")
				if _, err := strconv.Atoi(pid); !strings.HasPrefix(n, "spare-") || err != nil {
					continue
				}
				lock, err := unix.Open(filepath.Join(tmp, base+".lock"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					return false // a directory without its lock
				}
				free := unix.Flock(lock, unix.LOCK_EX|unix.LOCK_NB) == nil
				unix.Close(lock)
				if free {
					return false
				}
			}
			return true
		}) {
			t.Errorf("spare roots whose holder ended are left in %s: %v", tmp, dirEntries(t, tmp))
		}
	})
}
