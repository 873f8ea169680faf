package kube

// Kinds are the Kubernetes objects `kube generate --type` writes.
var Kinds = []string{"pod", "deployment", "job"}

// Pod is one pod: containers that run together, with one restart policy.
type Pod struct {
	Name string `json:"name"`
	// Kind is the object the pod came from or goes to: "pod" (or
	// empty), "deployment", "job".
	Kind string `json:"kind,omitempty"`
	// Restart is sandbox's policy: "no" (or empty), "on-failure", "always".
	Restart string `json:"restart,omitempty"`
	// Hostname is the pod's hostname, when one was given.
	Hostname string `json:"hostname,omitempty"`
	// Network is sandbox's network mode: "host" (or empty), "none", or a
	// private one ("slirp", "pasta", "slirp4netns").
	Network string `json:"network,omitempty"`
	// Networks are the user-defined networks the containers were on,
	// which Kubernetes has no equivalent of: generate says so.
	Networks []string `json:"networks,omitempty"`
	// AddHosts are extra /etc/hosts lines, "NAME:IP".
	AddHosts   []string    `json:"add_hosts,omitempty"`
	DNS        []string    `json:"dns,omitempty"`
	Containers []Container `json:"containers"`
}

// Container is one container of a pod.
type Container struct {
	Name  string `json:"name"`
	Image string `json:"image"`
	// Command replaces the image's entrypoint when CommandSet (Kubernetes'
	// command); Args replace its cmd (Kubernetes' args).
	Command    []string `json:"command,omitempty"`
	CommandSet bool     `json:"command_set,omitempty"`
	Args       []string `json:"args,omitempty"`
	Env        []EnvVar `json:"env,omitempty"`
	Workdir    string   `json:"workdir,omitempty"`
	// User is "uid[:gid]" or a name.
	User     string `json:"user,omitempty"`
	ReadOnly bool   `json:"read_only,omitempty"`
	// LeftOut are the launch keys set for the container that nothing in
	// Kubernetes carries: generate says so for each.
	LeftOut []string `json:"left_out,omitempty"`
	Ports   []Port   `json:"ports,omitempty"`
	Mounts  []Mount  `json:"mounts,omitempty"`
	// Limits; zero is none.
	Memory     int64   `json:"memory,omitempty"`
	MemorySwap int64   `json:"memory_swap,omitempty"`
	CPUs       float64 `json:"cpus,omitempty"`
	Pids       int64   `json:"pids,omitempty"`
	IOLimits   int     `json:"io_limits,omitempty"` // how many device limits; Kubernetes has none
	// Security.
	CapAdd  []string `json:"cap_add,omitempty"`
	CapDrop []string `json:"cap_drop,omitempty"`
	// NoNewPrivileges is nil when not said (sandbox's default applies).
	NoNewPrivileges *bool `json:"no_new_privileges,omitempty"`
	// Seccomp is "default" (or empty), "unconfined" or a profile's path.
	Seccomp string `json:"seccomp,omitempty"`
	// Devices are --device values, HOSTPATH[:CTRPATH][:rwm].
	Devices []string `json:"devices,omitempty"`
	// StopTimeout is seconds, when set.
	StopTimeout *int `json:"stop_timeout,omitempty"`
}

// EnvVar is one environment variable, in order.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Port is a container port, published on the host when HostPort is set.
type Port struct {
	ContainerPort int    `json:"container_port"`
	HostPort      int    `json:"host_port,omitempty"`
	HostIP        string `json:"host_ip,omitempty"`
	Protocol      string `json:"protocol,omitempty"` // "tcp" (or empty), "udp"
}

// Mount is a bind of a host path, a tmpfs, a directory of the pod's own
// (Kubernetes' emptyDir on disk), or files (a ConfigMap's keys).
type Mount struct {
	Type   string `json:"type"` // "bind", "tmpfs", "volume" (named: Source), "dir" or "files"
	Source string `json:"source,omitempty"`
	// Volume names the pod's volume a "dir" or "files" mount is.
	Volume string `json:"volume,omitempty"`
	// Files are a "files" mount's content, by path relative to Target.
	Files    map[string]string `json:"files,omitempty"`
	Target   string            `json:"target"`
	ReadOnly bool              `json:"read_only,omitempty"`
	Size     int64             `json:"size,omitempty"` // tmpfs bytes
}

// Plan is what `kube play` runs, read from YAML by the kube program: the
// pods (each object's kind in Kind), and what the YAML asks that sandbox
// cannot honour, each with the line it came from.
type Plan struct {
	Pods        []Pod         `json:"pods"`
	Unsupported []Unsupported `json:"unsupported,omitempty"`
}

// Unsupported is one field of the YAML that sandbox does not honour.
type Unsupported struct {
	Line   int    `json:"line"`
	Field  string `json:"field"`  // its path, like spec.nodeSelector
	Object string `json:"object"` // Kind/name of the object it is in
	Why    string `json:"why,omitempty"`
}
