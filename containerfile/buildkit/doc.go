// Package buildkit is the helper side of package containerfile: it parses
// with BuildKit's Containerfile parser and instruction package and answers
// containerfile.Requests. Only cmd/sandbox-containerfile links it; the
// sandbox binary must not (TestCLIStaysLight).
package buildkit
