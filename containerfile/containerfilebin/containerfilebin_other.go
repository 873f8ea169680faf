//go:build !amd64

package containerfilebin

import (
	"io"

	"github.com/sandbox-dev/sandbox/containerfile/buildkit"
)

// No parser program is built for this architecture: the parser runs in
// the sandbox process itself, which then links BuildKit's parser.
var gzipped []byte

// GoVersion is empty without a blob.
var GoVersion string

// Digest is empty without a blob.
var Digest string

var serveInProcess func(r io.Reader, w io.Writer) error = buildkit.Serve
