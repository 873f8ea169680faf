package layer

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestAssembleRebuildsTheExactTar: unpack with a split record, then
// assemble: the bytes must be the original ones, PAX records, skipped
// devices, whiteouts, hard links and trailing padding included.
func TestAssembleRebuildsTheExactTar(t *testing.T) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	add := func(h *tar.Header, body string) {
		t.Helper()
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if body != "" {
			tw.Write([]byte(body))
		}
	}
	add(&tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "etc/motd", Typeflag: tar.TypeReg, Mode: 0o644, Format: tar.FormatPAX, PAXRecords: map[string]string{"comment": "kept as is"}}, "hello\n")
	add(&tar.Header{Name: "etc/big", Typeflag: tar.TypeReg, Mode: 0o600}, string(bytes.Repeat([]byte("x"), 70000)))
	add(&tar.Header{Name: "etc/link", Typeflag: tar.TypeLink, Linkname: "etc/motd"}, "")
	add(&tar.Header{Name: "etc/sym", Typeflag: tar.TypeSymlink, Linkname: "/nowhere"}, "")
	add(&tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}, "")
	add(&tar.Header{Name: "etc/.wh.gone", Typeflag: tar.TypeReg}, "")
	add(&tar.Header{Name: "empty", Typeflag: tar.TypeReg, Mode: 0o644}, "")
	tw.Close()
	tb.Write(make([]byte, 2048)) // padding after the end, as some tools write
	original := tb.Bytes()

	dir := t.TempDir()
	var split bytes.Buffer
	if _, err := Unpack(bytes.NewReader(original), dir, Options{Split: &split}); err != nil {
		t.Fatal(err)
	}
	if split.Len() >= len(original) {
		t.Errorf("the split record (%d bytes) is not smaller than the tar (%d)", split.Len(), len(original))
	}
	var out bytes.Buffer
	if err := Assemble(bytes.NewReader(split.Bytes()), dir, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), original) {
		t.Fatalf("assembled %d bytes, not the original %d", out.Len(), len(original))
	}

	// A file that changed size is an error, not a silently different tar.
	if err := os.WriteFile(filepath.Join(dir, "etc/motd"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Assemble(bytes.NewReader(split.Bytes()), dir, &bytes.Buffer{}); err == nil {
		t.Error("Assemble succeeded over a changed file")
	}
}
