package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/task"
)

// wantFresh fails t unless dir holds exactly dirs and keep (if not ""),
// each of dirs as a container's creation makes it: mode 0755, empty, no
// extended attribute.
func wantFresh(t *testing.T, dir string, dirs []string, keep string) {
	t.Helper()
	want := slices.Clone(dirs)
	if keep != "" {
		want = append(want, keep)
	}
	slices.Sort(want)
	if got := dirEntries(t, dir); !slices.Equal(got, want) {
		t.Errorf("%s holds %v, want %v", dir, got, want)
	}
	for _, d := range dirs {
		p := filepath.Join(dir, d)
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode() != os.ModeDir|0o755 {
			t.Errorf("%s: %v %v, want a directory, mode 0755", p, fi.Mode(), err)
			continue
		}
		if n, err := unix.Llistxattr(p, nil); err != nil || n != 0 {
			t.Errorf("%s keeps extended attributes (%d bytes of names, %v)", p, n, err)
		}
		if got := dirEntries(t, p); len(got) != 0 {
			t.Errorf("%s holds %v", p, got)
		}
	}
}

func ino(p string) uint64 {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return 0
	}
	return st.Ino
}

// TestRecycleDir: whatever a run left in a directory of the layout,
// recycleDir leaves the layout as a container's creation makes it,
// keeping the directories it can (the same inodes) and making again
// those a payload or an overlay touched: upper and work both, once
// either was used; where the directory itself is not as made, it does
// nothing.
func TestRecycleDir(t *testing.T) {
	old := unix.Umask(0o022)
	defer unix.Umask(old)
	dirs := []string{"upper", "work", "merged"}
	xattrs := unix.Setxattr(t.TempDir(), "user.probe", []byte("x"), 0) == nil
	root := os.Getuid() == 0
	type tc struct {
		what   string
		spoil  func(dir string) error
		ok     bool
		remade []string // directories made again, not kept
	}
	cases := []tc{
		{"nothing", func(string) error { return nil }, true, nil},
		{"files in merged, a directory closed", func(dir string) error {
			if err := os.MkdirAll(filepath.Join(dir, "merged/etc/x"), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "merged/etc/hosts"), nil, 0o644); err != nil {
				return err
			}
			return os.Chmod(filepath.Join(dir, "merged/etc"), 0)
		}, true, nil},
		{"work used by an overlay", func(dir string) error {
			return os.Mkdir(filepath.Join(dir, "work/work"), 0)
		}, true, []string{"upper", "work"}},
		{"a file in upper", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "upper/f"), nil, 0o644)
		}, true, []string{"upper", "work"}},
		{"upper mode 0700", func(dir string) error { return os.Chmod(filepath.Join(dir, "upper"), 0o700) }, true, []string{"upper", "work"}},
		{"merged mode 0700", func(dir string) error { return os.Chmod(filepath.Join(dir, "merged"), 0o700) }, true, []string{"merged"}},
		{"merged missing", func(dir string) error { return os.Remove(filepath.Join(dir, "merged")) }, true, []string{"merged"}},
		{"an entry besides", func(dir string) error { return os.Mkdir(filepath.Join(dir, "userdata"), 0o755) }, true, nil},
		{"upper a symbolic link", func(dir string) error {
			if err := os.Remove(filepath.Join(dir, "upper")); err != nil {
				return err
			}
			return os.Symlink(filepath.Dir(dir), filepath.Join(dir, "upper"))
		}, true, []string{"upper", "work"}},
		{"the directory mode 0755", func(dir string) error { return os.Chmod(dir, 0o755) }, false, nil},
	}
	if xattrs {
		cases = append(cases,
			tc{"an overlay's mark on upper", func(dir string) error {
				return unix.Setxattr(filepath.Join(dir, "upper"), "user.overlay.uuid", []byte("0123"), 0)
			}, true, []string{"upper", "work"}},
			tc{"an attribute on merged", func(dir string) error {
				return unix.Setxattr(filepath.Join(dir, "merged"), "user.x", []byte("y"), 0)
			}, true, []string{"merged"}})
	}
	if root {
		cases = append(cases,
			tc{"merged of another owner", func(dir string) error { return os.Lchown(filepath.Join(dir, "merged"), 1234, -1) }, true, []string{"merged"}},
			tc{"merged of another group", func(dir string) error { return os.Lchown(filepath.Join(dir, "merged"), -1, 1234) }, true, []string{"merged"}},
			tc{"a trusted attribute on merged", func(dir string) error {
				return unix.Setxattr(filepath.Join(dir, "merged"), "trusted.x", []byte("y"), 0)
			}, true, []string{"merged"}})
	}
	for _, c := range cases {
		t.Run(c.what, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "c")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			for _, d := range dirs {
				if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(parent, "mark"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := c.spoil(dir); err != nil {
				t.Fatal(err)
			}
			// Each directory held open: one removed has no link left.
			held := map[string]*os.File{}
			for _, d := range dirs {
				if fi, err := os.Lstat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
					continue
				}
				if f, err := os.Open(filepath.Join(dir, d)); err == nil {
					defer f.Close()
					held[d] = f
				}
			}
			kept := func(d string) bool {
				var st unix.Stat_t
				return held[d] != nil && unix.Fstat(int(held[d].Fd()), &st) == nil && st.Nlink > 0
			}
			if got := recycleDir(unix.AT_FDCWD, dir, dirs, ""); got != c.ok {
				t.Fatalf("recycleDir = %v, want %v", got, c.ok)
			}
			if !exists(filepath.Join(parent, "mark")) {
				t.Fatalf("recycleDir removed what a link in the directory pointed to")
			}
			if !c.ok {
				return
			}
			wantFresh(t, dir, dirs, "")
			for _, d := range dirs {
				if _, was := held[d]; !was {
					continue
				}
				if remade := slices.Contains(c.remade, d); remade == kept(d) {
					t.Errorf("%s: kept %v, want %v", d, kept(d), !remade)
				}
			}
		})
	}
}

// recycleSkeleton turns a used container's directory into the next
// skeleton: the same directory, its userdata emptied and kept, its
// overlay's upper and work made again, every other entry gone, a new
// lock that no one holds. Where a skeleton is there already it does
// nothing.
func TestRecycleSkeleton(t *testing.T) {
	old := unix.Umask(0o022)
	defer unix.Umask(old)
	dirs := []string{"upper", "work", "merged", "userdata"}
	const skel = "skel-upper+work+merged+userdata"
	tmp := t.TempDir()
	tmpfd, err := unix.Open(tmp, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(tmpfd)
	xattrs := unix.Setxattr(tmp, "user.probe", []byte("x"), 0) == nil
	// used makes a container's directory as a raw run leaves it, and
	// returns its lock, held.
	used := func(name string) *os.File {
		dir := filepath.Join(tmp, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"upper/etc", "upper/proc", "work/work/incompat/volatile", "merged", "userdata"} {
			if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range []string{"upper/etc/hosts", "work/work/incompat/volatile/dirty", "userdata/hosts", "container.json", "state.json", "lock"} {
			if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(filepath.Join(dir, "work", "work"), 0); err != nil {
			t.Fatal(err)
		}
		if xattrs {
			if err := unix.Setxattr(filepath.Join(dir, "upper"), "user.overlay.uuid", []byte("0123"), 0); err != nil {
				t.Fatal(err)
			}
		}
		lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
			t.Fatal(err)
		}
		return lock
	}
	lock := used("rm-c")
	defer lock.Close()
	top := ino(filepath.Join(tmp, "rm-c"))
	// Each directory held open: one made again has no link left.
	held := map[string]*os.File{}
	for _, d := range dirs {
		f, err := os.Open(filepath.Join(tmp, "rm-c", d))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		held[d] = f
	}
	if !recycleSkeleton(tmpfd, "rm-c", skel, dirs) {
		t.Fatalf("not recycled: %v", dirEntries(t, tmp))
	}
	if got := dirEntries(t, tmp); len(got) != 1 || got[0] != skel {
		t.Fatalf("left in tmp/: %v; want %s alone", got, skel)
	}
	s := filepath.Join(tmp, skel)
	wantFresh(t, s, dirs, "lock")
	if ino(s) != top {
		t.Errorf("the skeleton is not the container's directory")
	}
	for _, d := range dirs {
		var st unix.Stat_t
		kept := unix.Fstat(int(held[d].Fd()), &st) == nil && st.Nlink > 0
		if want := !slices.Contains(overlayDirs, d); kept != want {
			t.Errorf("%s: kept %v, want %v (an overlay's directories are made again once used)", d, kept, want)
		}
	}
	nl, err := os.OpenFile(filepath.Join(s, "lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	if fi, _ := nl.Stat(); fi.Mode() != 0o600 || fi.Size() != 0 {
		t.Errorf("the new lock: mode %v, size %d", fi.Mode(), fi.Size())
	}
	if err := unix.Flock(int(nl.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Errorf("the skeleton's lock is held (the container's, not a new one): %v", err)
	}
	unix.Flock(int(nl.Fd()), unix.LOCK_UN)

	// A skeleton there already: the next container's directory is left
	// to the removal.
	lock2 := used("rm-d")
	defer lock2.Close()
	if recycleSkeleton(tmpfd, "rm-d", skel, dirs) {
		t.Errorf("recycled where a skeleton was there already")
	}
	if got := dirEntries(t, filepath.Join(tmp, "rm-d")); len(got) != 7 {
		t.Errorf("the container's directory was touched: %v", got)
	}
}

// A removal, and a recycling, stop at a mount point: what is mounted
// there stays, and the caller hears of it. As root, in a mount namespace
// of the test's own thread.
func TestRemoveStopsAtMountPoint(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("mounting a tmpfs needs root (CI runs the unit tests as root)")
	}
	parent := t.TempDir()
	dir := filepath.Join(parent, "c")
	for _, d := range []string{"upper", "work", "merged"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		// The thread stays locked: it ends with the goroutine, and its
		// mount namespace with it.
		goruntime.LockOSThread()
		done <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return err
			}
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return err
			}
			merged := filepath.Join(dir, "merged")
			if err := unix.Mount("tmpfs", merged, "tmpfs", 0, "mode=0755"); err != nil {
				return err
			}
			mark := filepath.Join(merged, "mounted")
			if err := os.WriteFile(mark, nil, 0o600); err != nil {
				return err
			}
			if recycleDir(unix.AT_FDCWD, dir, []string{"upper", "work", "merged"}, "") {
				return fmt.Errorf("recycleDir went through the mount point")
			}
			if err := removeOwned(dir); err == nil || !strings.Contains(err.Error(), "mount point") {
				return fmt.Errorf("removeOwned through a mount point: %v, want an error naming it", err)
			}
			// The removal in the user namespace (RemoveAll's second
			// try) is the same walk.
			rm, ok := task.Lookup("rm")
			if !ok {
				return fmt.Errorf("no rm task")
			}
			if err := rm([]string{dir}, nil); err == nil || !strings.Contains(err.Error(), "mount point") {
				return fmt.Errorf("the rm task through a mount point: %v, want an error naming it", err)
			}
			if !exists(mark) {
				return fmt.Errorf("what was mounted was removed")
			}
			return unix.Unmount(merged, 0)
		}()
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
