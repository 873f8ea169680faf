package backend

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"
	"time"
)

// What the init sends becomes a tar, and a tar what the init reads,
// with nothing lost either way.
func TestArchiveRoundTrip(t *testing.T) {
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	mtime := time.Unix(1700000000, 0)
	files := []*tar.Header{
		{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime},
		{Name: "d/f", Typeflag: tar.TypeReg, Mode: 0o4750, Size: 5, Uid: 1000, Gid: 1000, ModTime: mtime},
		{Name: "d/l", Typeflag: tar.TypeSymlink, Linkname: "f", Mode: 0o777, ModTime: mtime},
	}
	for _, h := range files {
		tw.WriteHeader(h)
		if h.Size > 0 {
			tw.Write([]byte("hello"))
		}
	}
	tw.Close()
	var entries bytes.Buffer
	if err := tarToEntries(&in, &entries); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := entriesToTar(&entries, &out); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&out)
	for _, want := range files {
		h, err := tr.Next()
		if err != nil {
			t.Fatal(err)
		}
		if h.Name != want.Name || h.Typeflag != want.Typeflag || h.Mode != want.Mode || h.Uid != want.Uid || h.Linkname != want.Linkname || !h.ModTime.Equal(want.ModTime) {
			t.Errorf("round trip: got %+v, want %+v", h, want)
		}
		if b, _ := io.ReadAll(tr); h.Typeflag == tar.TypeReg && string(b) != "hello" {
			t.Errorf("content %q", b)
		}
	}
}
