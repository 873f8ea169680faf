package layer

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestPackDirAsTranslatesOwners: every entry's owner goes through ids.
func TestPackDirAsTranslatesOwners(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	var buf bytes.Buffer
	err := PackDirAs(dir, &buf, func(u, g int) (int, int) {
		if u == uid && g == gid {
			return 0, 0
		}
		return 65534, 65534
	})
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	n := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if hdr.Uid != 0 || hdr.Gid != 0 {
			t.Errorf("%s: owner %d:%d, want 0:0 (the packer's own ids translated)", hdr.Name, hdr.Uid, hdr.Gid)
		}
	}
	if n != 2 {
		t.Errorf("%d entries, want 2", n)
	}
}
