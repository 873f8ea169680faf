package initbin

import _ "embed"

//go:generate go run ../../program/gen -o sandbox-init.amd64 ../../cmd/sandbox-init

// Binary is the sandbox init for linux/amd64, built by program/gen.
//
//go:embed sandbox-init.amd64
var Binary []byte

// GoVersion is the toolchain that built Binary.
//
//go:embed sandbox-init.amd64.goversion
var GoVersion string

// Digest is the SHA-256 of Binary, in hex.
//
//go:embed sandbox-init.amd64.sha256
var Digest string
