//go:build !amd64

package kubebin

// No kube program is built for this architecture.
var gzipped []byte

// GoVersion is empty without a blob.
var GoVersion string

// Digest is empty without a blob.
var Digest string
