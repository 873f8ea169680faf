package container

import (
	"github.com/sandbox-dev/sandbox/cdi"

	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/sandbox-dev/sandbox/capability"
	"github.com/sandbox-dev/sandbox/config"
	"github.com/sandbox-dev/sandbox/fuseoverlay"
	"github.com/sandbox-dev/sandbox/network"
	"github.com/sandbox-dev/sandbox/runtime"
	"github.com/sandbox-dev/sandbox/userns"
)

// Config is how a container is run: the run flags, parsed. It is stored in
// container.json.
type Config struct {
	Image       string          `json:"image"`
	Name        string          `json:"name,omitempty"`
	Rm          bool            `json:"rm,omitempty"`
	Detach      bool            `json:"detach,omitempty"`
	Interactive bool            `json:"interactive,omitempty"`
	TTY         bool            `json:"tty,omitempty"`
	Env         []string        `json:"env,omitempty"` // KEY=VALUE; later wins
	Volumes     []runtime.Mount `json:"volumes,omitempty"`
	Workdir     string          `json:"workdir,omitempty"`
	User        string          `json:"user,omitempty"`
	Hostname    string          `json:"hostname,omitempty"`
	ReadOnly    bool            `json:"read_only,omitempty"`
	// Network is a mode ("host", "none", or private: "slirp", "pasta",
	// "slirp4netns") or user-defined networks' names, comma separated
	// (network.Names); NetworkAliases are more names on those.
	Network        string   `json:"network,omitempty"`
	NetworkAliases []string `json:"network_aliases,omitempty"`
	// DNS replaces the nameservers of /etc/resolv.conf; AddHosts are
	// extra /etc/hosts lines, "NAME:IP" (IP may be host-gateway).
	DNS      []string `json:"dns,omitempty"`
	AddHosts []string `json:"add_hosts,omitempty"`
	// Devices are --device values: HOSTPATH[:CTRPATH][:rwm], or CDI
	// names, whose nodes (as HOSTPATH:CTRPATH) and hooks are resolved
	// into CDINodes and Hooks when the container is made (expandCDI).
	Devices  []string   `json:"devices,omitempty"`
	CDINodes []string   `json:"cdi_nodes,omitempty"`
	Hooks    []cdi.Hook `json:"hooks,omitempty"`
	// ShmSize is /dev/shm's size in bytes (0: 64 MiB).
	ShmSize int64 `json:"shm_size,omitempty"`
	// Labels are KEY=VALUE; CIDFile is where create writes the ID.
	Labels  []string `json:"labels,omitempty"`
	CIDFile string   `json:"cidfile,omitempty"`
	// Pull is when the image is pulled: "missing" (or empty), "always",
	// "never".
	Pull string `json:"pull,omitempty"`
	// Privileged is --privileged (FromApp sets its capabilities and
	// seccomp too).
	Privileged bool `json:"privileged,omitempty"`
	// Ulimits are --ulimit's NAME=SOFT[:HARD].
	Ulimits []string `json:"ulimits,omitempty"`
	// Sysctls are --sysctl's NAME=VALUE, namespaced ones only.
	Sysctls []string `json:"sysctls,omitempty"`
	// Health is the health check (--health-*; the image's HEALTHCHECK
	// fills what the flags leave out, at create); NoHealthcheck turns
	// the image's off.
	Health *runtime.HealthCheck `json:"healthcheck,omitempty"`
	// StdinOnce, with Interactive and Detach, ends the payload's input
	// when the first attached client ends its own (docker run -i).
	StdinOnce bool `json:"stdin_once,omitempty"`
	// KeepExit, with Rm, keeps the exit code of the removed container in
	// the runtime directory for RemovedExit (the API's waiters).
	KeepExit bool `json:"keep_exit,omitempty"`
	// UserNS is "" or KeepID (--userns).
	UserNS string `json:"userns,omitempty"`
	// GroupAdd are --group-add's groups.
	GroupAdd      []string `json:"group_add,omitempty"`
	NoHealthcheck bool     `json:"no_healthcheck,omitempty"`
	// CDISpecDirs are config.toml's cdi_spec_dirs, for expandCDI.
	CDISpecDirs []string `json:"-"`
	// Entrypoint replaces the image's when EntrypointSet; empty clears it.
	Entrypoint    []string           `json:"entrypoint,omitempty"`
	EntrypointSet bool               `json:"entrypoint_set,omitempty"`
	Cmd           []string           `json:"cmd,omitempty"`
	StorageDriver fuseoverlay.Driver `json:"storage_driver,omitempty"`
	// Shell runs /bin/sh when neither the user nor the image names a
	// command (sandbox shell).
	Shell bool `json:"shell,omitempty"`
	// Ports to publish ([IP:]HOST:CONTAINER[/proto]); they need a private
	// network.
	Ports []string `json:"ports,omitempty"`
	// Resources are the limits asked for; Cgroups is the user's policy for
	// limits sandbox cannot enforce ("required", "best-effort", "off").
	Resources config.Resources `json:"resources,omitzero"`
	Cgroups   string           `json:"cgroups,omitempty"`
	Security  config.Security  `json:"security,omitzero"`
	// Restart is the policy of detached runs: "no", "on-failure", "always".
	Restart string `json:"restart,omitempty"`
	// StopTimeout is how many seconds stop waits before killing; nil: the
	// default.
	StopTimeout *int `json:"stop_timeout,omitempty"`
	// LaunchFile is the launch file `up` ran (absolute): up and down only
	// touch the container of their own file.
	LaunchFile string `json:"launch_file,omitempty"`
	// Pod is the pod the container belongs to (pod.go); PodInfra marks
	// the pod's infra container, which holds the pod's namespaces.
	Pod      string `json:"pod,omitempty"`
	PodInfra bool   `json:"pod_infra,omitempty"`
}

// Validate checks the config before anything is created and reports every
// problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Image == "" {
		errs = append(errs, errors.New("no image given"))
	}
	// The launch keys' own rules and messages (config.Keys), for a config
	// that did not come through a launch (a restart, the API).
	netOK := true
	for _, kv := range [][2]string{{"name", c.Name}, {"workdir", c.Workdir}, {"hostname", c.Hostname}, {"restart", c.Restart}, {"network", c.Network}} {
		if kv[1] != "" {
			err := checkKey(kv[0], kv[1])
			errs = append(errs, err)
			netOK = netOK && (kv[0] != "network" || err == nil)
		}
	}
	// The network's value is checked with the keys above; networks by
	// name exist (checkNetworks) and need a private network's helper. A
	// refused value gets no second error about its helper.
	if netOK && network.IsPrivate(c.Network) {
		ports, _ := network.ParsePorts(c.Ports) // reported below
		if _, _, err := network.Find(c.Network, ports); err != nil {
			errs = append(errs, err)
		}
	}
	for _, d := range c.DNS {
		ip := net.ParseIP(d)
		switch {
		case ip == nil:
			errs = append(errs, fmt.Errorf("invalid --dns %q: give a nameserver's IP address, like 1.1.1.1", d))
		case ip.To4() == nil && network.IsPrivate(c.Network):
			errs = append(errs, fmt.Errorf("--dns %s: an IPv6 nameserver cannot be reached from the private network, which is IPv4 only", d))
		}
	}
	for _, h := range c.AddHosts {
		if _, _, err := network.ParseAddHost(h); err != nil {
			errs = append(errs, fmt.Errorf("invalid --add-host %q: %w", h, err))
		}
	}
	for _, kv := range c.Env {
		if k, _, _ := strings.Cut(kv, "="); k == "" {
			errs = append(errs, fmt.Errorf("invalid environment entry %q: want KEY=VALUE", kv))
		}
	}
	for _, v := range c.Volumes {
		if v.Type == "bind" {
			if _, _, _, err := runtime.ResolveVolumeSource(v.Source); errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("%w (create it first)", err))
			} else if err != nil {
				errs = append(errs, err)
			}
		}
	}
	if p := c.Security.Seccomp; p != "" && p != "default" && p != "unconfined" {
		// A profile file is read and compiled now, so that a mistake in it
		// makes nothing.
		if _, err := seccompFilter(c.Security, capability.BoundingSet(c.Security.CapAdd, c.Security.CapDrop), userns.Mapping{}); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := fuseoverlay.ParseDriver(string(c.StorageDriver)); err != nil {
		errs = append(errs, err)
	}
	if _, err := network.ParsePorts(c.Ports); err != nil {
		errs = append(errs, err)
	} else if len(c.Ports) > 0 && c.Pod != "" && !c.PodInfra {
		errs = append(errs, fmt.Errorf("--pod %s: %w", c.Pod, errPodPorts))
	} else if len(c.Ports) > 0 && !network.IsPrivate(c.Network) {
		errs = append(errs, fmt.Errorf("publishing ports (%s) needs a private network: add --net slirp (network = \"slirp\"); with the host's network a port the container listens on is already the host's", strings.Join(c.Ports, ", ")))
	}
	for _, sc := range c.Sysctls {
		if strings.HasPrefix(sc, "net.") && (c.Network == "" || c.Network == "host") {
			errs = append(errs, fmt.Errorf("--sysctl %s: net.* settings need a network of the container's own (--net slirp or none): with the host's they would be the host's", sc))
		}
	}
	if _, err := devices(c.Devices); err != nil {
		errs = append(errs, err)
	}
	if c.Rm && c.Restart != "" && c.Restart != "no" {
		errs = append(errs, fmt.Errorf("--rm and restart = %q conflict: a container that restarts is not removed when it exits; drop one", c.Restart))
	}
	if c.StopTimeout != nil {
		k := config.Lookup("stop_timeout")
		if err := k.CheckNumber(float64(*c.StopTimeout)); err != nil {
			errs = append(errs, k.FlagError(*c.StopTimeout, err))
		}
	}
	return errors.Join(errs...)
}

// checkKey checks a value of the launch key named key, with its flag's
// message.
func checkKey(key, v string) error {
	k := config.Lookup(key)
	if _, err := k.CheckString(v, ""); err != nil {
		return k.FlagError(v, err)
	}
	return nil
}

// resolveVolumes returns vols with each bind source resolved once and for
// all (runtime.ResolveVolumeSource): what container.json records, and
// inspect shows, is the path that is mounted.
func resolveVolumes(vols []runtime.Mount, runDir string) ([]runtime.Mount, error) {
	out := append([]runtime.Mount(nil), vols...)
	for i, v := range out {
		if v.Type != "bind" {
			continue
		}
		resolved, dev, ino, err := runtime.ResolveVolumeSource(v.Source)
		if err != nil {
			return nil, err
		}
		if err := outsideRunDir(resolved, runDir); err != nil {
			return nil, err
		}
		out[i].Source, out[i].Dev, out[i].Ino = resolved, dev, ino
	}
	return out, nil
}

// ErrVolumeRunDir is a volume that would show sandbox's own
// runtime directory: every sandbox's exec socket, and the init program
// each sandbox starts with (runtime/initexe.go).
var ErrVolumeRunDir = errors.New("volume source contains sandbox's runtime directory")

// outsideRunDir refuses a volume source that is runDir, holds it, or is in
// it and not a socket. A directory or file in it is sandbox's own: the
// installed init (which runs outside any sandbox too, as the watcher and
// the spare maker), the spare user namespaces' records, a container's
// live directory. A socket in it is a service the user chooses to hand
// over, as with Podman's API socket: the API service's sandbox.sock.
func outsideRunDir(source, runDir string) error {
	if runDir == "" {
		return nil
	}
	dir := runDir
	if r, err := filepath.EvalSymlinks(runDir); err == nil {
		dir = r
	}
	if dir == source || strings.HasPrefix(dir, strings.TrimSuffix(source, "/")+"/") {
		return fmt.Errorf("%w: %q holds %q (the exec sockets of your sandboxes and the init they start from, which no sandbox may reach); bind the files you need from it instead, e.g. -v %s/wayland-0:/run/wayland-0", ErrVolumeRunDir, source, runDir, filepath.Dir(runDir))
	}
	if strings.HasPrefix(source, dir+"/") {
		if fi, err := os.Stat(source); err != nil || fi.Mode().Type() != fs.ModeSocket {
			return fmt.Errorf("%w: %q is in %q, sandbox's own (the init your sandboxes start from, and their live state), which no sandbox may reach; only a socket in it may be bound, such as the API service's sandbox.sock", ErrVolumeRunDir, source, runDir)
		}
	}
	return nil
}

// ValidateRun is Validate for a container about to run: a restart policy
// needs a detached run, whose monitor restarts it.
func (c *Config) ValidateRun() error {
	err := c.Validate()
	if c.Restart != "" && c.Restart != "no" && !c.Detach {
		err = errors.Join(err, fmt.Errorf("restart = %q needs a detached run: add -d (or use sandbox up)", c.Restart))
	}
	return err
}

// ParseVolume parses -v SRC:DST[:OPTIONS]: SRC is a named volume when it
// has no slash, else a host path (a relative one taken from the current
// directory); OPTIONS is ro or rw. -v /path alone is an anonymous volume.
func ParseVolume(spec string) (runtime.Mount, error) {
	if filepath.IsAbs(spec) && !strings.Contains(spec, ":") {
		// -v /path: an anonymous volume, as Docker makes one.
		return runtime.Mount{Type: "volume", Target: filepath.Clean(spec)}, nil
	}
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return runtime.Mount{}, fmt.Errorf("invalid volume %q: want SRC:DST or SRC:DST:ro", spec)
	}
	if !filepath.IsAbs(parts[1]) {
		return runtime.Mount{}, fmt.Errorf("invalid volume %q: the container path %q must be absolute", spec, parts[1])
	}
	// As Docker: a source without a slash names a volume; one with a
	// slash, or starting with "." (".", "..", ".data": no volume name
	// starts so), is a host path (./dir is a directory here).
	m := runtime.Mount{Type: "volume", Source: parts[0], Target: filepath.Clean(parts[1])}
	if strings.Contains(parts[0], "/") || strings.HasPrefix(parts[0], ".") {
		src, err := filepath.Abs(parts[0])
		if err != nil {
			return runtime.Mount{}, err
		}
		m.Type, m.Source = "bind", src
	} else if err := checkKey("name", parts[0]); err != nil {
		return runtime.Mount{}, fmt.Errorf("invalid volume %q: %q is not a volume name (a host directory needs a slash, like ./%s): %w", spec, parts[0], parts[0], err)
	}
	if len(parts) == 3 {
		for _, o := range strings.Split(parts[2], ",") {
			switch o {
			case "ro":
				m.ReadOnly = true
			case "rw":
				m.ReadOnly = false
			default:
				return runtime.Mount{}, fmt.Errorf("invalid volume option %q in %q: use ro or rw", o, spec)
			}
		}
	}
	return m, nil
}

// ParseEnv turns -e values into KEY=VALUE entries. A bare KEY takes the
// value from sandbox's own environment and is dropped when unset, as docker.
func ParseEnv(values []string) []string {
	var out []string
	for _, v := range values {
		if strings.Contains(v, "=") {
			out = append(out, v)
		} else if val, ok := os.LookupEnv(v); ok {
			out = append(out, v+"="+val)
		}
	}
	return out
}

// ReadEnvFile reads an --env-file (config.ReadEnvFile) as KEY=VALUE
// entries; a bare KEY is taken from this process's environment.
func ReadEnvFile(path string) ([]string, error) {
	vars, err := config.ReadEnvFile(path, os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("--env-file: %w", err)
	}
	out := make([]string, len(vars))
	for i, v := range vars {
		out[i] = v.Key + "=" + v.Value
	}
	return out, nil
}
