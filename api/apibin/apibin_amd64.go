package apibin

import _ "embed"

//go:generate go run ../../program/gen -gzip -o sandbox-api.amd64 ../../cmd/sandbox-api

// Gzipped is the API server's program for linux/amd64, built and compressed
// by program/gen (program.Blob.Gzipped).
//
//go:embed sandbox-api.amd64.gz
var Gzipped []byte

// GoVersion is the toolchain that built the program.
//
//go:embed sandbox-api.amd64.goversion
var GoVersion string

// Digest is the SHA-256 of the program (uncompressed), in hex.
//
//go:embed sandbox-api.amd64.sha256
var Digest string
