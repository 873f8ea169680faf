package kubebin

import _ "embed"

//go:generate go run ../../program/gen -gzip -o sandbox-kube.amd64 ../../cmd/sandbox-kube

// gzipped is the kube program for linux/amd64, built and compressed by
// program/gen (program.Blob.Gzipped).
//
//go:embed sandbox-kube.amd64.gz
var gzipped []byte

// GoVersion is the toolchain that built the program.
//
//go:embed sandbox-kube.amd64.goversion
var GoVersion string

// Digest is the SHA-256 of the program (uncompressed), in hex.
//
//go:embed sandbox-kube.amd64.sha256
var Digest string
