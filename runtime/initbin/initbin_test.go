package initbin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestBlobMatchesSource rebuilds cmd/sandbox-init exactly as go generate
// does and compares the bytes with the embedded blob: a change to the
// init's source without `go generate ./runtime/initbin` fails here.
func TestBlobMatchesSource(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the blob is built for linux/amd64 only")
	}
	have, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		t.Skipf("no go toolchain to rebuild the init with: %v", err)
	}
	if v := strings.TrimSpace(string(have)); v != strings.TrimSpace(GoVersion) {
		t.Skipf("the blob was built by %s, this toolchain is %s: the bytes can only match with the same one", strings.TrimSpace(GoVersion), v)
	}
	out := filepath.Join(t.TempDir(), "sandbox-init.amd64")
	gen := exec.Command("go", "run", "gen.go", "-o", out)
	if msg, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("go run gen.go: %v\n%s", err, msg)
	}
	built, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, Binary) {
		t.Fatalf("the embedded init (%d bytes) is not what its source builds (%d bytes): run go generate ./runtime/initbin", len(Binary), len(built))
	}
	sum := sha256.Sum256(Binary)
	if hex.EncodeToString(sum[:]) != strings.TrimSpace(Digest) {
		t.Fatalf("Digest %s is not the blob's SHA-256 %x", strings.TrimSpace(Digest), sum)
	}
}
