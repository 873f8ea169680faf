// Package kubebin carries the kube program (cmd/sandbox-kube) compressed,
// as runtime/initbin carries the init: `go build .` still makes one
// self-contained binary, and the Kubernetes API types stay out of every
// other command. The blob is committed and regenerated with `go generate
// ./kube/kubebin`; TestBlobMatchesSource rebuilds the program and compares
// the bytes. Run installs it once per version in the user's runtime
// directory (a sealed memfd where there is none) and executes it.
// Only linux/amd64 has a blob; elsewhere Run says kube is unavailable.
package kubebin
