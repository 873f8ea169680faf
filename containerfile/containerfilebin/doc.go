// Package containerfilebin carries the Containerfile parser program
// (cmd/sandbox-containerfile) compressed, as kube/kubebin carries the kube
// program, and starts a session with it. The blob is committed and
// regenerated with `go generate ./containerfile/containerfilebin`;
// TestBlobMatchesSource rebuilds the program and compares the bytes. Only
// linux/amd64 has a blob; elsewhere Start serves the session in process.
package containerfilebin
