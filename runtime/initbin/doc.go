// Package initbin carries the sandbox init (cmd/sandbox-init) as built
// bytes, so that `go build .` still makes one self-contained binary. The
// blob is committed and regenerated with `go generate ./runtime/initbin`;
// TestBlobMatchesSource rebuilds it and compares the bytes, as projects that
// commit generated eBPF objects do. Only linux/amd64 has a blob: elsewhere
// Binary is nil and the runtime re-executes the whole sandbox binary as the
// init instead.
package initbin
