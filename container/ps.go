package container

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sandbox-dev/sandbox/config"
	"github.com/sandbox-dev/sandbox/container/containertypes"
	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/network"
	"github.com/sandbox-dev/sandbox/runtime"
)

// Row is one line of `sandbox ps` (package containertypes).
type Row = containertypes.Row

// PS lists containers: running ones, or all; filters are "status=…",
// "name=…" (substring), "id=…" (prefix), "ancestor=…" (image as given),
// "pod=…" (its name), "label=KEY" or "label=KEY=VALUE" (all must hold).
func PS(s *image.Store, all bool, filters []string) ([]Row, error) {
	rows, _, err := PSRecords(s, all, filters)
	return rows, err
}

// PSRecords is PS with each row's record beside it (records[i] is
// rows[i]'s), from the same read of the store.
func PSRecords(s *image.Store, all bool, filters []string) (rows []Row, records []*Container, err error) {
	want := map[string][]string{}
	for _, f := range filters {
		k, v, ok := strings.Cut(f, "=")
		switch {
		case !ok:
			return nil, nil, fmt.Errorf("invalid filter %q: want KEY=VALUE", f)
		case k == "status" && v != Created && v != Running && v != Exited:
			return nil, nil, fmt.Errorf("invalid status %q: use created, running or exited", v)
		case k != "status" && k != "name" && k != "id" && k != "ancestor" && k != "pod" && k != "label":
			return nil, nil, fmt.Errorf("unknown filter %q: use status, name, id, ancestor, pod or label", k)
		}
		want[k] = append(want[k], v)
	}
	cs, err := List(s)
	if err != nil {
		return nil, nil, err
	}
	for _, c := range cs {
		st := CurrentState(s, c.ID)
		if !all && len(want["status"]) == 0 && st.Status != Running && !st.Restarting {
			continue
		}
		if !matches(want["status"], func(v string) bool { return st.Status == v }) ||
			!matches(want["name"], func(v string) bool { return strings.Contains(c.Name, v) }) ||
			!matches(want["id"], func(v string) bool { return strings.HasPrefix(c.ID, v) }) ||
			!matches(want["pod"], func(v string) bool { return c.Config.Pod == v }) ||
			!matchesAll(want["label"], func(v string) bool { return hasLabel(c.Config.Labels, v) }) ||
			!matches(want["ancestor"], func(v string) bool {
				return c.Image == v || strings.HasPrefix(c.ImageID, v) || strings.HasPrefix(strings.TrimPrefix(c.ImageID, "sha256:"), v)
			}) {
			continue
		}
		rows = append(rows, Row{ID: c.ID, Name: c.Name, Image: c.Image, Command: commandOf(s, c), Created: c.Created, State: st, Ports: portStrings(c), Pod: c.Config.Pod, Health: healthStatus(s, c, st)})
		records = append(records, c)
	}
	return rows, records, nil
}

// matchesAll: every value must hold (labels, as Docker ANDs them).
func matchesAll(values []string, ok func(string) bool) bool {
	for _, v := range values {
		if !ok(v) {
			return false
		}
	}
	return true
}

// hasLabel says whether labels has KEY (want "KEY") or KEY=VALUE.
func hasLabel(labels []string, want string) bool {
	wk, wv, withValue := strings.Cut(want, "=")
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		if k == wk && (!withValue || v == wv) {
			return true
		}
	}
	return false
}

// matches: no values means no filter; several values of one key are ORed.
func matches(values []string, ok func(string) bool) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		if ok(v) {
			return true
		}
	}
	return false
}

// commandOf is the command the container runs, as its spec would have it.
func commandOf(s *image.Store, c *Container) []string {
	args := c.Config.Cmd
	if img, err := s.Resolve(c.ImageID); err == nil {
		ic := img.Config.Config
		ep, cmd := ic.Entrypoint, ic.Cmd
		if c.Config.EntrypointSet {
			ep, cmd = c.Config.Entrypoint, nil
		}
		if len(c.Config.Cmd) > 0 {
			cmd = c.Config.Cmd
		}
		args = append(append([]string{}, ep...), cmd...)
	}
	return args
}

// Details is `sandbox inspect CONTAINER`, with docker's field names.
type Details struct {
	Id              string
	Name            string
	Created         time.Time
	Path            string
	Args            []string
	Image           string // the image ID
	ImageName       string
	State           DetailsState
	Config          Config
	Mounts          []runtime.Mount
	HostConfig      HostConfig
	RestartCount    int
	NetworkSettings NetworkSettings
}

// NetworkSettings is the part of inspect about the container's network:
// in a private network its address, gateway (the host's loopback) and the
// helper; and the published ports, docker style
// ("8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]).
type NetworkSettings struct {
	IPAddress   string `json:",omitempty"`
	IPPrefixLen int    `json:",omitempty"`
	Gateway     string `json:",omitempty"`
	Helper      string `json:",omitempty"` // while running: pasta or slirp4netns
	HelperPid   int    `json:",omitempty"`
	Ports       map[string][]PortBinding
	// Networks are the user-defined networks it is on, by name: its
	// address there while it runs.
	Networks map[string]EndpointSettings `json:",omitempty"`
}

// EndpointSettings is the container's place on one network, in Docker's
// words.
type EndpointSettings struct {
	NetworkID   string
	IPAddress   string `json:",omitempty"`
	IPPrefixLen int    `json:",omitempty"`
	Gateway     string `json:",omitempty"`
	MacAddress  string `json:",omitempty"`
	Aliases     []string
	DNSNames    []string
}

// PortBinding is one host side of a published port.
type PortBinding struct {
	HostIp   string
	HostPort string
}

// DetailsState is the State object of inspect.
type DetailsState struct {
	Status     string
	Running    bool
	Pid        int
	ExitCode   int
	OOMKilled  bool
	Restarting bool
	Cgroup     string // while running: its cgroup under /sys/fs/cgroup
	// Health is the health check's record while it runs with one.
	Health     *runtime.Health `json:",omitempty"`
	StartedAt  time.Time
	FinishedAt time.Time
}

// HostConfig is the part of inspect about how the container runs.
type HostConfig struct {
	NetworkMode    string
	ReadonlyRootfs bool
	AutoRemove     bool
	StorageDriver  string
	RestartPolicy  RestartPolicy
	CapAdd         []string
	CapDrop        []string
	// SecurityOpt is what applies, in --security-opt's words:
	// seccomp=default|unconfined|PROFILE, no-new-privileges=BOOL,
	// fakeroot=BOOL (fake root in effect, which only single-id mode has).
	SecurityOpt []string
	// Devices are --device's, in Docker's words.
	Devices []DeviceMapping
}

// DeviceMapping is docker's HostConfig.Devices entry.
type DeviceMapping struct {
	PathOnHost, PathInContainer, CgroupPermissions string
}

// deviceMappings are c's --device values as inspect shows them.
func deviceMappings(values []string) []DeviceMapping {
	out := []DeviceMapping{}
	for _, v := range values {
		d, err := config.ParseDevice(v)
		if err != nil {
			continue
		}
		perms := "rwm"
		if d.ReadOnly {
			perms = "r"
		}
		out = append(out, DeviceMapping{PathOnHost: d.Source, PathInContainer: d.Target, CgroupPermissions: perms})
	}
	return out
}

// RestartPolicy is docker's HostConfig.RestartPolicy.
type RestartPolicy struct{ Name string }

// Inspect returns a container's details.
func Inspect(s *image.Store, ref string) (*Details, error) {
	c, err := Find(s, ref)
	if err != nil {
		return nil, err
	}
	st := CurrentState(s, c.ID)
	cmd := commandOf(s, c)
	d := &Details{
		Id: c.ID, Name: c.Name, Created: c.Created, Image: c.ImageID, ImageName: c.Image,
		State: DetailsState{Status: st.Status, Running: st.Status == Running, Pid: st.Pid, ExitCode: st.ExitCode,
			OOMKilled: st.OOMKilled, Restarting: st.Restarting, Cgroup: st.Cgroup, StartedAt: st.StartedAt, FinishedAt: st.FinishedAt,
			Health: HealthOf(s, c, st)},
		RestartCount: st.RestartCount,
		Config:       c.Config, Mounts: c.Config.Volumes,
		HostConfig: HostConfig{NetworkMode: netMode(c.Config.Network), ReadonlyRootfs: c.Config.ReadOnly, AutoRemove: c.Config.Rm, StorageDriver: string(c.Config.StorageDriver),
			RestartPolicy: RestartPolicy{Name: c.Config.Restart},
			CapAdd:        c.Config.Security.CapAdd, CapDrop: c.Config.Security.CapDrop,
			SecurityOpt: securityOpts(c.Config.Security, s.Mapping), Devices: deviceMappings(append(append([]string{}, c.Config.Devices...), c.Config.CDINodes...))},
	}
	if len(cmd) > 0 {
		d.Path, d.Args = cmd[0], cmd[1:]
	}
	d.NetworkSettings.Ports = map[string][]PortBinding{}
	if network.IsPrivate(c.Config.Network) {
		d.NetworkSettings.IPAddress, d.NetworkSettings.IPPrefixLen = network.ContainerIP, network.PrefixLen
		d.NetworkSettings.Gateway = network.HostLoopback
		d.NetworkSettings.Helper, d.NetworkSettings.HelperPid = st.NetHelper, st.NetHelperPid
	}
	for _, name := range network.Names(c.Config.Network) {
		e := EndpointSettings{Aliases: c.Config.NetworkAliases, DNSNames: append([]string{c.Name, c.ID[:12]}, c.Config.NetworkAliases...)}
		if rec, err := InspectNetwork(s, name); err == nil {
			e.NetworkID = rec.ID
		}
		for _, ep := range st.Networks {
			if ep.Network == name {
				e.IPAddress, e.IPPrefixLen, e.Gateway, e.MacAddress = ep.IP, ep.Prefix, ep.Gateway, ep.MAC
			}
		}
		if d.NetworkSettings.Networks == nil {
			d.NetworkSettings.Networks = map[string]EndpointSettings{}
		}
		d.NetworkSettings.Networks[name] = e
	}
	for _, p := range Ports(c) {
		k := fmt.Sprintf("%d/%s", p.ContainerPort, p.Proto)
		d.NetworkSettings.Ports[k] = append(d.NetworkSettings.Ports[k], PortBinding{HostIp: p.HostIP, HostPort: strconv.Itoa(p.HostPort)})
	}
	if d.Mounts == nil {
		d.Mounts = []runtime.Mount{}
	}
	return d, nil
}

func netMode(n string) string {
	if n == "" {
		return "host"
	}
	return n
}

// Ports are the container's published ports (validated when it was
// created).
func Ports(c *Container) []network.Port {
	ports, _ := network.ParsePorts(c.Config.Ports)
	return ports
}

func portStrings(c *Container) []string {
	var out []string
	for _, p := range Ports(c) {
		out = append(out, p.String())
	}
	return out
}

func healthStatus(s *image.Store, c *Container, st State) string {
	if h := HealthOf(s, c, st); h != nil {
		return h.Status
	}
	return ""
}
