package transferbin

import (
	"strings"
	"testing"

	"github.com/sandbox-dev/sandbox/program/programtest"
)

// TestBlobMatchesSource: a change to the transfer program's source (or to
// a package it links) without `go generate ./transfer/transferbin` fails
// here.
func TestBlobMatchesSource(t *testing.T) {
	programtest.CheckBlob(t, programtest.Blob{Package: "../../cmd/sandbox-transfer", Program: Gzipped, Gzipped: true,
		Digest: Digest, GoVersion: GoVersion, Generate: "go generate ./transfer/transferbin"})
}

// TestCLIStaysLight: the sandbox binary itself links neither the registry
// client nor the zstd decoder (about half a millisecond of package
// initialisation and code at every start); only the transfer program
// does. go-containerregistry's plain types (pkg/v1) are allowed: they
// initialise nothing.
func TestCLIStaysLight(t *testing.T) {
	programtest.CheckCLIStaysLight(t, func(p string) bool {
		heavy := strings.HasPrefix(p, "github.com/google/go-containerregistry/") &&
			p != "github.com/google/go-containerregistry/pkg/v1" && p != "github.com/google/go-containerregistry/pkg/v1/types"
		return heavy || strings.HasPrefix(p, "github.com/klauspost/compress/zstd")
	}, "registry and archive code", "cmd/sandbox-transfer")
}
