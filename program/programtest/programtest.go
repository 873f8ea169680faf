// Package programtest checks a carried program against its source, for
// the tests of the blob packages (runtime/initbin, kube/kubebin,
// containerfile/containerfilebin, transfer/transferbin).
package programtest

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// Blob is what a blob package embeds.
type Blob struct {
	// Package is the program's source, relative to the blob package.
	Package string
	// Program is the embedded program; Gzipped says it is compressed, as
	// program.Blob's Gzipped is (program/gen -gzip).
	Program   []byte
	Gzipped   bool
	Digest    string
	GoVersion string
	// Generate is the go generate command to name in the failure.
	Generate string
}

// CheckBlob rebuilds the program exactly as go generate does and compares
// the bytes with the embedded ones: a change to the program's source (or
// to a package it links) without go generate fails here.
func CheckBlob(t *testing.T, b Blob) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("the blob is built for linux/amd64 only")
	}
	have, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		t.Skipf("no go toolchain to rebuild the program with: %v", err)
	}
	if v := strings.TrimSpace(string(have)); v != strings.TrimSpace(b.GoVersion) {
		t.Skipf("the blob was built by %s, this toolchain is %s: the bytes can only match with the same one", strings.TrimSpace(b.GoVersion), v)
	}
	out := filepath.Join(t.TempDir(), "program")
	args := []string{"run", "../../program/gen", "-o", out, b.Package}
	built, got := out, b.Program
	if b.Gzipped {
		args = slices.Insert(args, 2, "-gzip")
		built += ".gz"
	}
	if msg, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	fresh, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	if b.Gzipped {
		// Compared uncompressed: the program is what must match.
		if got, err = gunzip(b.Program); err != nil {
			t.Fatalf("the embedded blob does not decompress: %v", err)
		}
		if fresh, err = gunzip(fresh); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, fresh) {
		t.Fatalf("the embedded program (%d bytes) is not what %s builds (%d bytes): run %s", len(got), b.Package, len(fresh), b.Generate)
	}
	sum := sha256.Sum256(got)
	if hex.EncodeToString(sum[:]) != strings.TrimSpace(b.Digest) {
		t.Fatalf("the digest %s is not the program's SHA-256 %x", strings.TrimSpace(b.Digest), sum)
	}
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// Deps are the packages pkg (a directory) links, as go list says. Only a
// machine without the go command skips: a failing go list fails.
func Deps(t *testing.T, pkg string) []string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("no go command: %v", err)
	}
	out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	return strings.Fields(string(out))
}

// CheckCLIStaysLight fails t for each package the sandbox binary (the
// module's root, two directories above a blob package) links that heavy
// says belongs to a carried program instead: what it is, kept in where.
func CheckCLIStaysLight(t *testing.T, heavy func(pkg string) bool, what, where string) {
	t.Helper()
	for _, p := range Deps(t, "../..") {
		if heavy(p) {
			t.Errorf("the sandbox binary imports %s: keep %s in %s", p, what, where)
		}
	}
}
