// Command sandbox-containerfile is sandbox build's Containerfile parser:
// BuildKit's, in a program of its own so that the sandbox binary does not
// link it (package containerfile says why). It answers requests on stdin,
// one JSON line each, on stdout, until stdin ends. The sandbox binary
// carries it built (containerfile/containerfilebin).
package main

import (
	"fmt"
	"os"

	"github.com/sandbox-dev/sandbox/containerfile/buildkit"
)

func main() {
	if err := buildkit.Serve(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox-containerfile:", err)
		os.Exit(1)
	}
}
