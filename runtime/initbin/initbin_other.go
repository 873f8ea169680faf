//go:build !amd64

package initbin

// Binary is nil: no init blob is built for this architecture.
var Binary []byte

// GoVersion is empty without a blob.
var GoVersion string

// Digest is empty without a blob.
var Digest string
