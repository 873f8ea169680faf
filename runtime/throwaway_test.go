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
