// Package containerfile is a parsed Containerfile (or Dockerfile) as plain
// data, and the session in which sandbox build gets it.
//
// The parsing is BuildKit's (github.com/moby/buildkit/frontend/dockerfile),
// which links protobuf and costs every start of a program that carries it
// about 2 ms of package initialisation and 3 MB. So it runs in a helper
// program, cmd/sandbox-containerfile, that package containerfile/buildkit
// implements and containerfile/containerfilebin carries; this package,
// which the sandbox binary links, holds only the data and the messages:
// one JSON request and one JSON reply per line, on the helper's stdin and
// stdout. The helper keeps the parsed instructions, so that a build can
// have one expanded (its variables replaced) when its step runs, with the
// environment of that moment, as BuildKit's own dispatcher does.
//
// JSON carries text, and it turns bytes that are not UTF-8 into U+FFFD:
// the builder refuses such a Containerfile or build arg before anything
// is sent, rather than build from something else than was written.
package containerfile
