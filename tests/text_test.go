package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/sysmon"
	"github.com/sandbox-dev/sandbox/textpages"
)

// TestCodeInHugePages: as the first command of a boot (here: of a fresh
// runtime directory) ends, the init program's "text" stage puts the
// binary's code in the page cache as 2 MiB folios, which every later
// start maps whole (package textpages). The binary is a copy of the one
// under test, written 64 KiB a write as a copy is, so that no other test's
// command holds its pages.
func TestCodeInHugePages(t *testing.T) {
	binDir := filepath.Dir(sandboxBin)
	if !hugeFoliosIn(t, binDir) {
		t.Skip("the page cache of the binary's filesystem holds no 2 MiB folios (it needs large folios: ext4 or xfs on Linux 6.16 or later)")
	}
	forEachUser(t, func(t *testing.T, u *user) {
		bb := u.bb(t)
		bin := filepath.Join(binDir, "sandbox-text-"+u.mode)
		copyInSmallWrites(t, sandboxBin, bin)
		f, err := os.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		regions, err := textpages.Regions(f)
		if err != nil || len(regions) == 0 {
			t.Fatalf("Regions of the sandbox binary = %v, %v; it has megabytes of code", regions, err)
		}
		before, err := textpages.Huge(f, regions)
		if err != nil || before == len(regions) {
			t.Fatalf("the fresh copy has %d of %d regions whole already (%v): nothing to test", before, len(regions), err)
		}

		rd := filepath.Join(filepath.Dir(u.runtimeDir()), "run-text-"+u.mode)
		os.RemoveAll(rd)
		if err := u.mkdirAll(rd); err != nil {
			t.Fatal(err)
		}
		os.Chmod(rd, 0o700)
		o := runOpts{bin: bin, env: []string{"XDG_RUNTIME_DIR=" + rd}}
		wantCode(t, u.runWith(t, o, "run", "--rm", bb, "true"), 0)

		var st unix.Stat_t
		if err := unix.Stat(bin, &st); err != nil {
			t.Fatal(err)
		}
		mark := textpages.MarkPath(filepath.Join(rd, "sandbox"), &st)
		var got string
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if b, _ := os.ReadFile(mark); len(b) > 0 {
				got = string(b)
				break
			}
		}
		want := fmt.Sprintf("%d of %d regions in 2 MiB folios", len(regions), len(regions))
		if !strings.HasPrefix(got, want) {
			t.Fatalf("the text stage's mark says %q, want %q… (before the command, %d of %d regions were)", got, want, before, len(regions))
		}
		if n, err := textpages.Huge(f, regions); err != nil || n != len(regions) {
			t.Errorf("after the text stage, %d of %d regions are 2 MiB folios (%v)", n, len(regions), err)
		}
		// info says so, from the binary's own mapping.
		r := u.runWith(t, o, "info", "--format", "{{.Startup.HugeRegions}} of {{.Startup.Regions}}: {{.Startup.TextStage}}")
		wantCode(t, r, 0)
		wantStdout(t, r, fmt.Sprintf("%d of %d: %s\n", len(regions), len(regions), strings.TrimSpace(got)))

		// Once per boot: the next command leaves the mark as it is (a
		// claim empties it and gives it a new time before the command
		// exits).
		var m1, m2 unix.Stat_t
		unix.Stat(mark, &m1)
		wantCode(t, u.runWith(t, o, "run", "--rm", bb, "true"), 0)
		unix.Stat(mark, &m2)
		if b, _ := os.ReadFile(mark); string(b) != got || m1.Mtim != m2.Mtim {
			t.Errorf("a second command claimed the mark again: it says %q", b)
		}
		t.Logf("%d of %d regions were 2 MiB folios before; the stage said %q", before, len(regions), strings.TrimSpace(got))
	})
}

// hugeFoliosIn reports whether dir's filesystem gives its page cache
// 2 MiB folios: a file written 2 MiB a write gets them where it can.
func hugeFoliosIn(t *testing.T, dir string) bool {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	b := make([]byte, 2<<20)
	for i := 0; i < 2; i++ {
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	f.Sync()
	n, err := textpages.Huge(f, []int64{0, 2 << 20})
	return err == nil && n > 0
}

// copyInSmallWrites copies src to dst (mode 0755) 64 KiB a write.
func copyInSmallWrites(t *testing.T, src, dst string) {
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(dst)
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for off := 0; off < len(b); off += 64 << 10 {
		if _, err := f.Write(b[off:min(off+64<<10, len(b))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(dst) })
}

// TestMonitorSlack: the binary as the README builds it leaves the
// runtime's monitor thread alone (info says it was built without the
// flags); linked with package sysmon's entry, the monitor thread has a
// timer slack of its own (info says so), and no payload inherits it:
// each reads its own slack from inside, in a raw start, a start through
// the Go init (a volume) and an exec, and finds the one the test's
// commands start with.
func TestMonitorSlack(t *testing.T) {
	runtime.LockOSThread()
	want, _, _ := unix.Syscall(unix.SYS_PRCTL, unix.PR_GET_TIMERSLACK, 0, 0)
	runtime.UnlockOSThread()
	entry := entrySandbox(t)
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "slack")
		r := s.must(t, "info", "--format", "{{.Startup.MonitorSlack}}")
		if !strings.HasPrefix(r.stdout, "the kernel's default: built without") {
			t.Errorf("info of the README's build says the monitor thread's slack is %q", r.stdout)
		}
		s.opts.bin = entry
		// The monitor is told apart by its waiting in nanosleep when the
		// command starts (package sysmon); on a loaded machine (the VM
		// tests beside these) it can be running both times it is looked
		// at, and the command then leaves every thread as it was. Three
		// commands that all miss it fail the test.
		for try := 1; ; try++ {
			r = s.must(t, "info", "--format", "{{.Startup.MonitorSlack}}")
			if strings.HasPrefix(r.stdout, time.Duration(sysmon.Slack).String()+" (thread ") {
				break
			}
			if try == 3 {
				t.Errorf("info of the build with the entry says the monitor thread's slack is %q, want %v (thread …)", r.stdout, time.Duration(sysmon.Slack))
				break
			}
			t.Logf("try %d: the monitor thread's slack is %q", try, r.stdout)
		}
		vol := u.mustMkdir(t, filepath.Join(u.home, "slack-vol-"+u.mode))
		s.mustID(t, "run", "-d", "--name", "slack", "bb", "sleep", "1000")
		for _, args := range [][]string{
			{"run", "--rm", "bb"},
			{"run", "--rm", "-v", vol + ":/v", "bb"},
			{"exec", "slack"},
		} {
			r := s.must(t, append(args, "cat", "/proc/self/timerslack_ns")...)
			wantStdout(t, r, fmt.Sprintf("%d\n", want))
		}
	})
}

// entrySandbox builds the CLI linked with package sysmon's entry, once,
// beside the one under test.
func entrySandbox(t *testing.T) string {
	t.Helper()
	return builtOnce(t, "sandbox-entry", "github.com/sandbox-dev/sandbox", "-ldflags="+sysmon.LinkFlags)
}
