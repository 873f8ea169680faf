package containerfilebin

import (
	_ "embed"
	"io"
)

//go:generate go run ../../program/gen -zstd -o sandbox-containerfile.amd64 ../../cmd/sandbox-containerfile

// compressed is the parser program for linux/amd64, zstd-compressed.
//
//go:embed sandbox-containerfile.amd64.zst
var compressed []byte

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
