// Package server is the transfer program's side of transfer/wire: it
// resolves references and fetches layers with go-containerregistry's
// registry client, reads and writes docker-archives and OCI layouts,
// pushes, checks logins, downloads URLs and decodes zstd, asking the CLI
// for stored layers as a write needs them. It stores nothing.
//
// cmd/sandbox-transfer runs it as a program of its own, carried by the
// CLI (transfer/transferbin), so that the CLI links none of this. Where
// no program is carried (architectures other than amd64) the CLI serves
// it itself, on a goroutine (package transfer).
package server
