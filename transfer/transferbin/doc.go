// Package transferbin carries the transfer program (cmd/sandbox-transfer)
// compressed, as kube/kubebin carries the kube program: `go build .`
// still makes one self-contained binary, and go-containerregistry's
// registry client, reference names and archive formats and the zstd
// decoder stay out of the CLI (its plain v1 types stay in; net/http and
// TLS stay in for the API server). The blob is committed and regenerated with
// `go generate ./transfer/transferbin`; TestBlobMatchesSource rebuilds
// the program and compares the bytes. Only linux/amd64 has a blob.
package transferbin
