// Package cdi is sandbox's side of the Container Device Interface
// (tags.cncf.io/container-device-interface): the request the CLI sends to
// the helper program that links the CDI library (cmd/sandbox-kube, which
// carries the heavy libraries no run should load), and the edits it
// answers with, in sandbox's terms. It imports only the standard library.
package cdi

import "strings"

// Request asks for the devices of Names, from specs in Dirs; with List,
// for every device the specs define.
type Request struct {
	Dirs  []string `json:"dirs"`
	Names []string `json:"names,omitempty"`
	List  bool     `json:"list,omitempty"`
}

// Answer is what the specs say.
type Answer struct {
	// Known are every device's qualified name, sorted.
	Known []string `json:"known"`
	// SpecErrors are the spec files that could not be read, and why.
	SpecErrors []SpecError `json:"spec_errors,omitempty"`
	// Unknown are requested names no spec defines.
	Unknown []string `json:"unknown,omitempty"`
	// Edits are what the requested devices (and their specs) add.
	Edits Edits `json:"edits"`
}

// SpecError is a spec file with errors.
type SpecError struct {
	File  string `json:"file"`
	Error string `json:"error"`
}

// Edits are a container's changes for its devices.
type Edits struct {
	Env    []string `json:"env,omitempty"`
	Nodes  []Node   `json:"nodes,omitempty"`
	Mounts []Mount  `json:"mounts,omitempty"`
	Hooks  []Hook   `json:"hooks,omitempty"`
}

// Node is a device node: HostPath on the host (default Path), Path inside.
type Node struct {
	Path     string `json:"path"`
	HostPath string `json:"host_path,omitempty"`
	Spec     string `json:"spec"` // the spec file that names it
}

// Mount is a bind of a host path.
type Mount struct {
	HostPath      string   `json:"host_path"`
	ContainerPath string   `json:"container_path"`
	Options       []string `json:"options,omitempty"`
	Spec          string   `json:"spec"`
}

// Hook is an OCI hook: HookName is when it runs (createContainer, …).
type Hook struct {
	HookName string   `json:"hook_name"`
	Path     string   `json:"path"`
	Args     []string `json:"args,omitempty"`
	Env      []string `json:"env,omitempty"`
	Timeout  *int     `json:"timeout,omitempty"`
	Spec     string   `json:"spec"`
}

// DefaultDirs are where CDI specs are, as the CDI library and Podman look.
var DefaultDirs = []string{"/etc/cdi", "/var/run/cdi"}

// IsName says whether a --device value is a CDI name (vendor/class=name)
// rather than a host path.
func IsName(s string) bool {
	kind, name, ok := strings.Cut(s, "=")
	return ok && !strings.HasPrefix(s, "/") && strings.Contains(kind, "/") && name != ""
}
