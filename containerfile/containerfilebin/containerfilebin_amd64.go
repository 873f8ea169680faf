package containerfilebin

import (
	_ "embed"
	"io"
)

//go:generate go run ../../program/gen -gzip -o sandbox-containerfile.amd64 ../../cmd/sandbox-containerfile

// gzipped is the parser program for linux/amd64, built and compressed by
// program/gen (program.Blob.Gzipped).
//
//go:embed sandbox-containerfile.amd64.gz
var gzipped []byte

// GoVersion is the toolchain that built the program.
//
//go:embed sandbox-containerfile.amd64.goversion
var GoVersion string

// Digest is the SHA-256 of the program (uncompressed), in hex.
//
//go:embed sandbox-containerfile.amd64.sha256
var Digest string

// serveInProcess is not needed: the program above is carried instead.
var serveInProcess func(r io.Reader, w io.Writer) error
