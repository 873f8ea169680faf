package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestResolveVolumeSource(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test makes links owned by root and by another user")
	}
	base := t.TempDir()
	real := filepath.Join(base, "real")
	os.MkdirAll(filepath.Join(real, "sub"), 0o755)
	mkLink := func(name, target string, uid int) string {
		p := filepath.Join(base, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mkLink("rootabs", real, 0)
	mkLink("rootrel", "./x/../real", 0)
	os.Mkdir(filepath.Join(base, "x"), 0o755)
	mkLink("userlink", real, 1000)
	tests := []struct {
		path, want string
		err        error
	}{
		{real, real, nil},
		{filepath.Join(base, "rootabs"), real, nil},
		{filepath.Join(base, "rootabs", "sub"), filepath.Join(real, "sub"), nil},
		{filepath.Join(base, "rootrel", "sub"), filepath.Join(real, "sub"), nil},
		{filepath.Join(base, "userlink"), "", ErrVolumeSymlink},
		{filepath.Join(base, "userlink", "sub"), "", ErrVolumeSymlink},
		{filepath.Join(base, "missing"), "", os.ErrNotExist},
	}
	for _, tt := range tests {
		got, _, ino, err := ResolveVolumeSource(tt.path)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("ResolveVolumeSource(%q) = %q, %v; want error %v", tt.path, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want || ino == 0 {
			t.Errorf("ResolveVolumeSource(%q) = %q (ino %d), %v; want %q", tt.path, got, ino, err, tt.want)
		}
	}
	// The init follows no link at all: the CLI resolved them all.
	if f, err := openNoFollow(filepath.Join(base, "rootabs")); !errors.Is(err, ErrVolumeSymlink) {
		if f != nil {
			f.Close()
		}
		t.Errorf("openNoFollow through a root-owned link: %v, want ErrVolumeSymlink", err)
	}
}
