package owndir

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOpen(t *testing.T) {
	base := t.TempDir()
	mk := func(name string, mode os.FileMode) string {
		p := filepath.Join(base, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	own := mk("own", 0o700)
	open := mk("open", 0o755)
	link := filepath.Join(base, "link")
	os.Symlink(own, link)
	openLink := filepath.Join(base, "open-link")
	os.Symlink(open, openLink)
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o600)
	for _, c := range []struct {
		dir  string
		uid  int
		want bool
	}{
		{own, os.Getuid(), true},
		{own, os.Getuid() + 1, false},
		{open, os.Getuid(), false},
		{link, os.Getuid(), true},
		{openLink, os.Getuid(), false},
		{file, os.Getuid(), false},
		{filepath.Join(base, "none"), os.Getuid(), false},
	} {
		fd, ok := Open(c.dir, c.uid)
		if ok != c.want {
			t.Errorf("Open(%s, %d) = %v, want %v", c.dir, c.uid, ok, c.want)
		}
		if ok {
			unix.Close(fd)
		} else if fd != -1 {
			t.Errorf("Open(%s) refused with descriptor %d", c.dir, fd)
		}
	}
}
