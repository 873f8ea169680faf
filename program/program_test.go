package program

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// blobOf carries a copy of a real program (busybox's or coreutils' true).
func blobOf(t *testing.T, digest string) Blob {
	t.Helper()
	prog, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skipf("no /bin/true to carry: %v", err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(prog); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if digest == "" {
		sum := sha256.Sum256(prog)
		digest = hex.EncodeToString(sum[:])
	}
	return Blob{Name: "truth", Program: "sandbox-truth", Gzipped: gz.Bytes(), Digest: digest + "\n"}
}

func TestOpenAndRun(t *testing.T) {
	b := blobOf(t, "")
	dir := t.TempDir()
	os.Chmod(dir, 0o700) // a runtime directory only the user can enter
	for _, d := range []string{dir, ""} {
		f, err := b.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		cmd := b.Command(f)
		if err := cmd.Run(); err != nil {
			t.Errorf("running the carried program (dir %q): %v", d, err)
		}
		if cmd.Args[0] != "sandbox-truth" {
			t.Errorf("argv[0] = %q, want the program's own name", cmd.Args[0])
		}
		f.Close()
	}
	installed, _ := filepath.Glob(filepath.Join(dir, "truth-*"))
	if len(installed) != 1 || !strings.HasSuffix(installed[0], strings.TrimSpace(b.Digest)[:16]) {
		t.Errorf("installed copies: %q, want one named by the digest", installed)
	}
}

// TestDamagedBlob: bytes that do not match the digest never run.
func TestDamagedBlob(t *testing.T) {
	b := blobOf(t, strings.Repeat("0", 64))
	for _, d := range []string{t.TempDir(), ""} {
		os.Chmod(d, 0o700)
		if f, err := b.Open(d); err == nil || !strings.Contains(err.Error(), "does not match its digest") {
			if f != nil {
				f.Close()
			}
			t.Errorf("a blob that does not match its digest opened (dir %q): %v", d, err)
		}
		// Decompressed straight into the file it installs: nothing of
		// it may be left there, under its name or a temporary one.
		if left, _ := filepath.Glob(filepath.Join(d, "*", "sandbox-truth")); d != "" && len(left) > 0 {
			t.Errorf("a damaged blob left %q installed", left)
		}
		if left, _ := filepath.Glob(filepath.Join(d, ".truth-*")); d != "" && len(left) > 0 {
			t.Errorf("a damaged blob left %q behind", left)
		}
	}
	if (Blob{}).Available() {
		t.Error("an empty Blob says it is available")
	}
}
