// Package transferbin carries the transfer program (cmd/sandbox-transfer)
// compressed, as kube/kubebin carries the kube program: `go build .`
// still makes one self-contained binary, and go-containerregistry,
// net/http's client, TLS and the zstd decoder stay out of every command
// that does not move images. The blob is committed and regenerated with
// `go generate ./transfer/transferbin`; TestBlobMatchesSource rebuilds
// the program and compares the bytes. Only linux/amd64 has a blob.
package transferbin
