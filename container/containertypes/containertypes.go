package containertypes

import (
	"errors"
	"time"

	"github.com/sandbox-dev/sandbox/network/endpoint"
)

// ErrNameInUse is returned when --name is taken by another container.
var ErrNameInUse = errors.New("container name already in use")

// ErrNotFound is returned when no container has the given name or ID.
var ErrNotFound = errors.New("no such container")

// ErrNoPod is a pod that does not exist.
var ErrNoPod = errors.New("no such pod")

// ErrRunning is returned when an operation needs a stopped container.
var ErrRunning = errors.New("container is running")

// ErrNotRunning is returned when signalling a container that is not running.
var ErrNotRunning = errors.New("container is not running")

// Statuses of a container.
const (
	Created = "created"
	Running = "running"
	Exited  = "exited"
)

// State is state.json: what the process that runs a container (the CLI in
// the foreground, the monitor when detached) last recorded. Whether it is
// running is never taken from here alone: Status derives it from the
// recorded init process, by pid and start time, so a container whose
// processes were killed, or that a reboot ended, is never shown running.
type State struct {
	Status     string    `json:"status"`
	Pid        int       `json:"pid,omitempty"`         // the init, in the host's PID namespace
	PidStart   uint64    `json:"pid_start,omitempty"`   // its start time, clock ticks since boot
	ExitCode   int       `json:"exit_code"`             // meaningful once exited
	OOMKilled  bool      `json:"oom_killed,omitempty"`  // memory.events counted an OOM kill
	Cgroup     string    `json:"cgroup,omitempty"`      // while running: its cgroup, under /sys/fs/cgroup
	StartedAt  time.Time `json:"started_at,omitempty"`  //
	FinishedAt time.Time `json:"finished_at,omitempty"` //
	// Killed says the exit was inferred: the recorder died (SIGKILL, a
	// reboot) without writing it, so the init was killed with it.
	Killed bool `json:"killed,omitempty"`
	// Restarting says the monitor waits to start it again (its restart
	// policy); RestartCount counts the restarts since the user started it.
	Restarting   bool `json:"restarting,omitempty"`
	RestartCount int  `json:"restart_count,omitempty"`
	// NetHelper and NetHelperPid are the user-mode network helper of a
	// private network while the container runs.
	NetHelper    string `json:"net_helper,omitempty"`
	NetHelperPid int    `json:"net_helper_pid,omitempty"`
	// Networks are its places on user-defined networks while it runs.
	Networks []endpoint.Endpoint `json:"networks,omitempty"`
}

// Row is one line of `sandbox ps`.
type Row struct {
	ID      string
	Name    string
	Image   string
	Command []string
	Created time.Time
	State   State
	// Ports are the published ports, as "127.0.0.1:8080->80/tcp".
	Ports []string
	// Pod is the pod the container is in (its infra's included).
	Pod string
	// Health is its health while it runs with a check: starting,
	// healthy or unhealthy.
	Health string
}

// Volume is what `volume inspect` shows, in Docker's words.
type Volume struct {
	Name       string            `json:"Name"`
	Driver     string            `json:"Driver"`
	Mountpoint string            `json:"Mountpoint"`
	CreatedAt  time.Time         `json:"CreatedAt"`
	Labels     map[string]string `json:"Labels,omitempty"`
}

// Network is a network's record, in Podman's words (`network inspect`).
type Network struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Driver     string            `json:"driver"`
	Interface  string            `json:"network_interface,omitempty"`
	Created    time.Time         `json:"created"`
	Subnets    []Subnet          `json:"subnets"`
	IPv6       bool              `json:"ipv6_enabled"`
	Internal   bool              `json:"internal"`
	DNSEnabled bool              `json:"dns_enabled"`
	Labels     map[string]string `json:"labels,omitempty"`
}

// Subnet is a network's IPv4 subnet and its gateway (the switch's address:
// it answers DNS there).
type Subnet struct {
	Subnet  string `json:"subnet"`
	Gateway string `json:"gateway"`
}

// NetworkOptions are `network create`'s choices.
type NetworkOptions struct {
	Subnet  string // CIDR; empty: the first free 10.89.N.0/24
	Gateway string // empty: the subnet's first address
	Labels  map[string]string
}

// LogOptions shape `sandbox logs`.
type LogOptions struct {
	Follow     bool
	Tail       int // the last N lines; negative for all
	Timestamps bool
}

// ErrNoNetwork is a network that does not exist; ErrNetworkInUse one a
// container is on.
var (
	ErrNoNetwork    = errors.New("no such network")
	ErrNetworkInUse = errors.New("network in use")
)

// ErrNoVolume is a volume that does not exist; ErrVolumeInUse one a
// container mounts.
var (
	ErrNoVolume    = errors.New("no such volume")
	ErrVolumeInUse = errors.New("volume in use")
)
