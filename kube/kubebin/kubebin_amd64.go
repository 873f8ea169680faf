package kubebin

import _ "embed"

//go:generate go run ../../program/gen -zstd -o sandbox-kube.amd64 ../../cmd/sandbox-kube

// compressed is the kube program for linux/amd64, zstd-compressed, built
// by program/gen.
//
//go:embed sandbox-kube.amd64.zst
var compressed []byte

// GoVersion is the toolchain that built the program.
//
//go:embed sandbox-kube.amd64.goversion
var GoVersion string

// Digest is the SHA-256 of the program (uncompressed), in hex.
//
//go:embed sandbox-kube.amd64.sha256
var Digest string
