//go:build !amd64

package containerfilebin

// No parser program is built for this architecture.
var compressed []byte

// GoVersion is empty without a blob.
var GoVersion string

// Digest is empty without a blob.
var Digest string
