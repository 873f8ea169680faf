package fuseoverlay

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestLookup(t *testing.T) {
	dir := t.TempDir()
	mk := func(layer, rel, content string) string {
		p := filepath.Join(dir, layer, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	layer := func(name string) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(p, 0o755)
		return p
	}
	mk("l0", "etc/passwd", "bottom")
	want := mk("l1", "etc/passwd", "middle")
	mk("l0", "etc/group", "bottom group")
	l := Layout{Layers: []string{layer("l0"), layer("l1"), layer("l2")}, Upper: layer("upper")}
	if got, err := l.Lookup("etc/passwd"); err != nil || got != want {
		t.Errorf("Lookup(etc/passwd) = %q, %v; want the middle layer's %q", got, err, want)
	}
	if got, err := l.Lookup("etc/group"); err != nil || got != filepath.Join(dir, "l0/etc/group") {
		t.Errorf("Lookup(etc/group) = %q, %v; want the bottom layer's", got, err)
	}
	if _, err := l.Lookup("etc/shadow"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Lookup(etc/shadow) = %v, want not found", err)
	}
	// The upper layer is the top one.
	up := mk("upper", "etc/passwd", "upper")
	if got, _ := l.Lookup("etc/passwd"); got != up {
		t.Errorf("with the container's own copy, Lookup = %q, want %q", got, up)
	}
	os.Remove(up)
	// A symlink on the way is not followed.
	os.MkdirAll(filepath.Join(dir, "l2"), 0o755)
	os.Symlink("/etc", filepath.Join(dir, "l2/etc"))
	if _, err := l.Lookup("etc/passwd"); !errors.Is(err, ErrLinked) {
		t.Errorf("through a symlinked /etc: %v, want ErrLinked", err)
	}
	os.Remove(filepath.Join(dir, "l2/etc"))
	// An opaque /etc in l2 hides the layers below it.
	os.MkdirAll(filepath.Join(dir, "l2/etc"), 0o755)
	if err := unix.Setxattr(filepath.Join(dir, "l2/etc"), "user.overlay.opaque", []byte("y"), 0); err != nil {
		t.Logf("no user xattrs here (%v): the opaque case is not checked", err)
	} else if _, err := l.Lookup("etc/passwd"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("under an opaque /etc: %v, want not found", err)
	}
	// A whiteout hides the file.
	os.RemoveAll(filepath.Join(dir, "l2/etc"))
	os.MkdirAll(filepath.Join(dir, "l2/etc"), 0o755)
	if err := unix.Mknod(filepath.Join(dir, "l2/etc/passwd"), unix.S_IFCHR, 0); err != nil {
		t.Logf("no 0/0 device here (%v): the whiteout case is not checked", err)
	} else if _, err := l.Lookup("etc/passwd"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("under a whiteout: %v, want not found", err)
	}
}
