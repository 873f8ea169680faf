// Package kube describes pods and containers in sandbox's own terms for
// Kubernetes YAML: what `sandbox kube generate` hands to the kube program
// (cmd/sandbox-kube), which alone links the Kubernetes API types and turns
// it into a Pod, Deployment or Job. The API types weigh 10 MB and 2 ms of
// package initialisation; kept in their own program, carried compressed in
// the CLI (kube/kubebin), they cost nothing to a command that does not use
// them. This package imports only the standard library, so that the
// program built from it stays reproducible from little source.
package kube
