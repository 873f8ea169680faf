package apibin

import (
	"strings"
	"testing"

	"github.com/sandbox-dev/sandbox/program/programtest"
)

// TestBlobMatchesSource: a change to the API program's source (or to a
// package it links) without `go generate ./api/apibin` fails here.
func TestBlobMatchesSource(t *testing.T) {
	programtest.CheckBlob(t, programtest.Blob{Package: "../../cmd/sandbox-api", Program: Gzipped, Gzipped: true,
		Digest: Digest, GoVersion: GoVersion, Generate: "go generate ./api/apibin"})
}

// TestCLIStaysLight: the sandbox binary itself links neither the API
// server (package api) nor what it needs, net/http, TLS, the Docker API's
// types and go-digest: about 0.4 ms of package initialisation and 5 MB of
// code at every start. Only the API program does.
func TestCLIStaysLight(t *testing.T) {
	programtest.CheckCLIStaysLight(t, func(p string) bool {
		return p == "github.com/sandbox-dev/sandbox/api" || p == "net/http" || p == "crypto/tls" ||
			strings.HasPrefix(p, "github.com/moby/moby/") || p == "github.com/opencontainers/go-digest"
	}, "the HTTP server and the Docker types", "cmd/sandbox-api")
}
