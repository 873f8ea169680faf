package containerfilebin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sandbox-dev/sandbox/program/programtest"
)

// TestBlobMatchesSource: a change to the parser program's source (or to
// package containerfile/buildkit or containerfile) without `go generate
// ./containerfile/containerfilebin` fails here.
func TestBlobMatchesSource(t *testing.T) {
	programtest.CheckBlob(t, programtest.Blob{Package: "../../cmd/sandbox-containerfile", Program: gzipped, Gzipped: true,
		Digest: Digest, GoVersion: GoVersion, Generate: "go generate ./containerfile/containerfilebin"})
}

// TestSession runs the carried program, installed and from a memfd.
func TestSession(t *testing.T) {
	if !blob.Available() {
		t.Skip("no parser program for this architecture")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o700) // a runtime directory only the user can enter
	for _, d := range []string{dir, ""} {
		p, err := Start(d)
		if err != nil {
			t.Fatal(err)
		}
		f, err := p.Parse([]byte("FROM busybox\nWORKDIR /$X\n"))
		if err != nil {
			t.Fatal(err)
		}
		in, err := p.Expand(f.Stages[0].Commands[0], []string{"X=srv"})
		if err != nil || in.Value != "/srv" {
			t.Errorf("WORKDIR /$X with X=srv: %+v, %v", in, err)
		}
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	installed, _ := filepath.Glob(filepath.Join(dir, "containerfile-*"))
	if len(installed) != 1 || !strings.HasSuffix(installed[0], strings.TrimSpace(Digest)[:16]) {
		t.Errorf("installed parsers: %q, want this version's alone", installed)
	}
}

// TestCLIStaysLight: the sandbox binary links BuildKit's shell lexer (a
// leaf) and nothing else of BuildKit, nor protobuf, which its parser
// brings (2 ms of package initialisation at every start, 3 MB).
func TestCLIStaysLight(t *testing.T) {
	programtest.CheckCLIStaysLight(t, func(p string) bool {
		return (strings.HasPrefix(p, "github.com/moby/buildkit/") && p != "github.com/moby/buildkit/frontend/dockerfile/shell") ||
			strings.HasPrefix(p, "google.golang.org/protobuf/") || p == "github.com/sandbox-dev/sandbox/containerfile/buildkit"
	}, "BuildKit's parser", "cmd/sandbox-containerfile")
}
