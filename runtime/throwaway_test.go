package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A container's files go with their lock last (inotify says in which
// order the entries went), so that a sweep never finds the directory
// without a lock held while something of it is left.
func TestRemoveContainerAtLockLast(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "rm-c")
	for _, p := range []string{"upper/x/y", "work/work", "merged", "userdata"} {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := []string{"lock", "container.json", "state.json", "upper/x/y/file"}
	for i := 0; i < 16; i++ { // so that the lock is not last by chance of the directory's order
		files = append(files, fmt.Sprintf("f%d", i))
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	in, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(in)
	if _, err := unix.InotifyAddWatch(in, dir, unix.IN_DELETE); err != nil {
		t.Fatal(err)
	}
	tmpfd, err := unix.Open(tmp, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(tmpfd)
	if err := removeContainerAt(tmpfd, "rm-c"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s is still there: %v", dir, err)
	}
	var names []string
	buf := make([]byte, 4096)
	n, _ := unix.Read(in, buf)
	for off := 0; off+unix.SizeofInotifyEvent <= n; {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
		name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
		if i := indexZero(name); i >= 0 {
			name = name[:i]
		}
		if ev.Mask&unix.IN_DELETE != 0 {
			names = append(names, string(name))
		}
		off += unix.SizeofInotifyEvent + int(ev.Len)
	}
	if len(names) != 23 || names[len(names)-1] != "lock" {
		t.Errorf("entries removed in the order %q, want all 23 with the lock last", names)
	}
}

func indexZero(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// makeSkeleton makes the directory complete or not at all, and leaves one
// that is there already as it is.
func TestMakeSkeleton(t *testing.T) {
	old := unix.Umask(0o022)
	defer unix.Umask(old)
	tmp := t.TempDir()
	fd, err := unix.Open(tmp, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	// Another layout's, an older binary's: the next skeleton removes it.
	if err := os.MkdirAll(filepath.Join(tmp, "skel-old", "upper"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := makeSkeleton(fd, "skel-upper+work", []string{"upper", "work"}); err != nil {
		t.Fatal(err)
	}
	for p, mode := range map[string]os.FileMode{"skel-upper+work": os.ModeDir | 0o700, "skel-upper+work/upper": os.ModeDir | 0o755, "skel-upper+work/work": os.ModeDir | 0o755, "skel-upper+work/lock": 0o600} {
		fi, err := os.Lstat(filepath.Join(tmp, p))
		if err != nil || fi.Mode() != mode {
			t.Errorf("%s: %v %v, want mode %v", p, fi.Mode(), err, mode)
		}
	}
	if _, err := os.Stat(filepath.Join(tmp, "skel-old")); !os.IsNotExist(err) {
		t.Errorf("another layout's skeleton is still there: %v", err)
	}
	mark := filepath.Join(tmp, "skel-upper+work", "upper", "mark")
	if err := os.WriteFile(mark, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := makeSkeleton(fd, "skel-upper+work", []string{"upper", "work"}); err != nil {
		t.Errorf("a second skeleton where one is: %v", err)
	}
	if _, err := os.Stat(mark); err != nil {
		t.Errorf("the skeleton there was replaced: %v", err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 1 {
		t.Errorf("left in the directory: %v", ents)
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
	ino := func(p string) uint64 {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return 0
		}
		return st.Ino
	}
	lock := used("rm-c")
	defer lock.Close()
	top, upper := ino(filepath.Join(tmp, "rm-c")), ino(filepath.Join(tmp, "rm-c", "upper"))
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
	if got := dirEntries(t, s); fmt.Sprint(got) != "[lock merged upper userdata work]" {
		t.Errorf("the skeleton holds %v", got)
	}
	if ino(s) != top || ino(filepath.Join(s, "upper")) != upper {
		t.Errorf("the skeleton is not the container's directory and upper, recycled")
	}
	for _, d := range dirs {
		p := filepath.Join(s, d)
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode() != os.ModeDir|0o755 {
			t.Errorf("%s: %v %v, want a directory, mode 0755", d, fi.Mode(), err)
		}
		if n, err := unix.Llistxattr(p, nil); err != nil || n != 0 {
			t.Errorf("%s keeps extended attributes (%d bytes of names, %v)", d, n, err)
		}
		if got := dirEntries(t, p); len(got) != 0 {
			t.Errorf("%s holds %v", d, got)
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
