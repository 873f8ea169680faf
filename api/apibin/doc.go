// Package apibin carries the Docker API server's program (cmd/sandbox-api)
// compressed, as transfer/transferbin carries the transfer program: `go
// build .` still makes one self-contained binary, and net/http's server,
// TLS and the Docker API's types stay out of the CLI, which only answers
// the program's calls to the store (api/backend). The blob is committed
// and regenerated with `go generate ./api/apibin`; TestBlobMatchesSource
// rebuilds the program and compares the bytes. Only linux/amd64 has a
// blob; elsewhere the CLI serves the API itself (api/service).
package apibin
