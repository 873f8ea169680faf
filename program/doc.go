// Package program runs the helper programs the sandbox binary carries
// compressed: programs that link a library too heavy for every start of
// sandbox (the Kubernetes API types, BuildKit's Containerfile parser and
// the protobuf it brings, go-containerregistry's registry client and
// archive formats and the zstd decoder). Each is built from its cmd/ directory by a
// go:generate step, committed compressed (Blob.Gzipped) with its digest,
// and checked against its source by a test. A Blob is installed once per
// version in the user's runtime directory and executed from there;
// without one it is decompressed into a sealed memfd.
package program
