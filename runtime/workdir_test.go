package runtime

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestClearWorkDirModeZero: an overlay's work directory after a volatile
// mount (work/work with mode 0, holding incompat/volatile) is emptied by
// its owner, an ordinary user, so that the next mount is not refused.
// As root, whom modes do not stop, the clearing runs in a child of the
// test as another user, owner of the tree.
func TestClearWorkDirModeZero(t *testing.T) {
	if dir := os.Getenv("RUNTIME_TEST_CLEAR_WORK"); dir != "" {
		clearWorkDir(dir)
		return
	}
	// Not t.TempDir, which another user cannot reach as root makes it.
	top, err := os.MkdirTemp("", "clearwork")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	work := filepath.Join(top, "work")
	if err := os.MkdirAll(filepath.Join(work, "work", "incompat", "volatile"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"work/incompat/volatile", "work/incompat", "work"} {
		if err := os.Chmod(filepath.Join(work, p), 0); err != nil {
			t.Fatal(err)
		}
	}
	if os.Getuid() != 0 {
		clearWorkDir(work)
	} else {
		const nobody = 65534
		for _, p := range []string{work, filepath.Join(work, "work"), filepath.Join(work, "work/incompat"), filepath.Join(work, "work/incompat/volatile")} {
			if err := os.Chown(p, nobody, nobody); err != nil {
				t.Fatal(err)
			}
		}
		os.Chmod(top, 0o755)
		// The test binary, where that user may execute it.
		exe := filepath.Join(top, "runtime.test")
		b, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(exe, b, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(exe, "-test.run=^TestClearWorkDirModeZero$")
		cmd.Env = append(os.Environ(), "RUNTIME_TEST_CLEAR_WORK="+work)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("clearing as the tree's owner: %v\n%s", err, out)
		}
	}
	entries, err := os.ReadDir(work)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("the work directory still holds %d entries (%s...)", len(entries), entries[0].Name())
	}
}
