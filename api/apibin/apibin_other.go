//go:build !amd64

package apibin

// No API program is built for this architecture.
var Gzipped []byte

// GoVersion is empty without a blob.
var GoVersion string

// Digest is empty without a blob.
var Digest string
