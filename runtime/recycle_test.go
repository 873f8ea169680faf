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
// recycleDir leaves the layout fresh, keeping the directories it can
// (the same inodes) and making again those a payload changed; where
// the directory itself is not as made, it does nothing.
func TestRecycleDir(t *testing.T) {
	old := unix.Umask(0o022)
	defer unix.Umask(old)
	dirs := []string{"upper", "work", "merged"}
	xattrs := unix.Setxattr(t.TempDir(), "user.probe", []byte("x"), 0) == nil
	for _, c := range []struct {
		what   string
		spoil  func(dir string) error
		ok     bool
		remade string // a directory made again, not kept
	}{
		{"nothing", func(string) error { return nil }, true, ""},
		{"files and directories, one closed", func(dir string) error {
			if err := os.MkdirAll(filepath.Join(dir, "upper/etc/x"), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "upper/etc/hosts"), nil, 0o644); err != nil {
				return err
			}
			return os.Chmod(filepath.Join(dir, "upper/etc"), 0)
		}, true, ""},
		{"upper mode 0700", func(dir string) error { return os.Chmod(filepath.Join(dir, "upper"), 0o700) }, true, "upper"},
		{"merged missing", func(dir string) error { return os.Remove(filepath.Join(dir, "merged")) }, true, ""},
		{"an entry besides", func(dir string) error { return os.Mkdir(filepath.Join(dir, "userdata"), 0o755) }, true, ""},
		{"upper a symbolic link", func(dir string) error {
			if err := os.Remove(filepath.Join(dir, "upper")); err != nil {
				return err
			}
			return os.Symlink(filepath.Dir(dir), filepath.Join(dir, "upper"))
		}, true, ""},
		{"the directory mode 0755", func(dir string) error { return os.Chmod(dir, 0o755) }, false, ""},
	} {
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
			if xattrs {
				if err := unix.Setxattr(filepath.Join(dir, "work"), "user.overlay.uuid", []byte("0123"), 0); err != nil {
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
			got := recycleDir(unix.AT_FDCWD, dir, dirs, "")
			if got != c.ok {
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
				if _, ok := held[d]; ok && d != c.remade && !kept(d) {
					t.Errorf("%s was made again, not kept", d)
				}
			}
			if c.remade != "" && kept(c.remade) {
				t.Errorf("%s, not as made, was kept", c.remade)
			}
		})
	}
}

// recycleSkeleton turns a used container's directory into the next
// skeleton: the same directories, emptied, an overlay's user.* marks
// removed, every other entry gone, a new lock that no one holds; a
// directory not as a skeleton's is made again. Where a skeleton is there
// already it does nothing.
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
	upper, err := os.Open(filepath.Join(tmp, "rm-c", "upper"))
	if err != nil {
		t.Fatal(err)
	}
	defer upper.Close()
	// The user's merged made 0700 (a payload's chmod of /, on upper,
	// would be the same): that one is made again.
	if err := os.Chmod(filepath.Join(tmp, "rm-c", "merged"), 0o700); err != nil {
		t.Fatal(err)
	}
	if !recycleSkeleton(tmpfd, "rm-c", skel, dirs) {
		t.Fatalf("not recycled: %v", dirEntries(t, tmp))
	}
	if got := dirEntries(t, tmp); len(got) != 1 || got[0] != skel {
		t.Fatalf("left in tmp/: %v; want %s alone", got, skel)
	}
	s := filepath.Join(tmp, skel)
	wantFresh(t, s, dirs, "lock")
	var ust unix.Stat_t
	if unix.Fstat(int(upper.Fd()), &ust) != nil || ust.Nlink == 0 || ino(filepath.Join(s, "upper")) != ust.Ino || ino(s) != top {
		t.Errorf("the skeleton is not the container's directory and upper, recycled")
	}
	if fi, err := os.Lstat(filepath.Join(s, "merged")); err != nil || fi.Mode() != os.ModeDir|0o755 {
		t.Errorf("merged, 0700 in the container, was not made again: %v %v", fi.Mode(), err)
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
