package transferbin

import _ "embed"

//go:generate go run ../../program/gen -gzip -o sandbox-transfer.amd64 ../../cmd/sandbox-transfer

// Gzipped is the transfer program for linux/amd64, built and compressed
// by program/gen (program.Blob.Gzipped).
//
//go:embed sandbox-transfer.amd64.gz
var Gzipped []byte

// GoVersion is the toolchain that built the program.
//
//go:embed sandbox-transfer.amd64.goversion
var GoVersion string

// Digest is the SHA-256 of the program (uncompressed), in hex.
//
//go:embed sandbox-transfer.amd64.sha256
var Digest string
