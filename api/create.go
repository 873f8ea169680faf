package api

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	ntypes "github.com/moby/moby/api/types/network"

	"github.com/sandbox-dev/sandbox/api/calls"
)

// createRequest is a create request in the launch file's words
// (calls.CreateRequest): the backend checks each value with its key's own
// check. What sandbox cannot honour is refused here, each field named.
func createRequest(req ctypes.CreateRequest, name string) (calls.CreateRequest, error) {
	out := calls.CreateRequest{CreateOptions: calls.CreateOptions{
		Rm:          req.HostConfig != nil && req.HostConfig.AutoRemove,
		Interactive: req.OpenStdin, TTY: req.Tty, StdinOnce: req.StdinOnce}}
	var errs []error
	set := func(key string, v any) { out.Settings = append(out.Settings, calls.Setting{Key: key, Value: v}) }
	refuse := func(field, why string) { errs = append(errs, fmt.Errorf("%s: %s", field, why)) }
	c := req.Config
	set("image", c.Image)
	if name != "" {
		set("name", strings.TrimPrefix(name, "/"))
	}
	out.Command = c.Cmd
	if c.Entrypoint != nil {
		out.Entrypoint, out.EntrypointSet = c.Entrypoint, true
	}
	out.Env = c.Env
	for key, v := range map[string]string{"workdir": c.WorkingDir, "user": c.User, "hostname": c.Hostname} {
		if v != "" {
			set(key, v)
		}
	}
	if len(c.Labels) > 0 {
		var labels []string
		for k, v := range c.Labels {
			labels = append(labels, k+"="+v)
		}
		sort.Strings(labels)
		set("labels", labels)
	}
	if c.StopTimeout != nil {
		set("stop_timeout", int64(*c.StopTimeout))
	}
	if c.StopSignal != "" {
		refuse("StopSignal", "a container's stop signal is its image's here (STOPSIGNAL)")
	}
	if h := c.Healthcheck; h != nil && len(h.Test) > 0 {
		switch h.Test[0] {
		case "NONE":
			set("no_healthcheck", true)
		case "CMD-SHELL":
			if len(h.Test) > 1 {
				set("health_cmd", h.Test[1])
			}
		case "CMD":
			// The launch key takes a shell command: the words, quoted.
			var words []string
			for _, w := range h.Test[1:] {
				words = append(words, "'"+strings.ReplaceAll(w, "'", `'\''`)+"'")
			}
			set("health_cmd", strings.Join(words, " "))
		}
		for key, d := range map[string]time.Duration{"health_interval": h.Interval, "health_timeout": h.Timeout, "health_start_period": h.StartPeriod} {
			if d > 0 {
				set(key, d.String())
			}
		}
		if h.Retries > 0 {
			set("health_retries", int64(h.Retries))
		}
	}
	// A mount counts in the merge only with its source noted, as a flag's.

	var anonymous []string
	for path := range c.Volumes {
		anonymous = append(anonymous, path)
	}
	hc := req.HostConfig
	if hc == nil {
		hc = &ctypes.HostConfig{}
	}
	netNames, err := networkSetting(hc, req)
	if err != nil {
		errs = append(errs, err)
	} else if netNames != "" {
		set("network", netNames)
	}
	if req.NetworkingConfig != nil {
		var aliases []string
		for _, ep := range req.NetworkingConfig.EndpointsConfig {
			if ep != nil {
				aliases = append(aliases, ep.Aliases...)
			}
		}
		if len(aliases) > 0 {
			set("network_aliases", dedupe(aliases))
		}
	}
	var ports []string
	publish := func(port ntypes.Port, b ntypes.PortBinding) {
		host := b.HostPort
		if host == "" || host == "0" {
			// Docker's ephemeral port: a free one, picked now.
			free, err := freePort(string(port.Proto()), b.HostIP)
			if err != nil {
				refuse("PortBindings", fmt.Sprintf("%s: no free host port: %v", port, err))
				return
			}
			host = strconv.Itoa(free)
		}
		spec := host + ":" + port.Port() + "/" + string(port.Proto())
		if b.HostIP.IsValid() {
			spec = b.HostIP.String() + ":" + spec
		}
		ports = append(ports, spec)
	}
	for port, binds := range hc.PortBindings {
		for _, b := range binds {
			publish(port, b)
		}
	}
	if hc.PublishAllPorts {
		for port := range c.ExposedPorts {
			if _, bound := hc.PortBindings[port]; !bound {
				publish(port, ntypes.PortBinding{})
			}
		}
	}
	if len(ports) > 0 {
		sort.Strings(ports)
		set("ports", ports)
	}
	out.Binds = hc.Binds
	for _, m := range hc.Mounts {
		ms, err := mountFromAPI(m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out.Mounts = append(out.Mounts, ms)
	}
	for path, opts := range hc.Tmpfs {
		spec := path
		if opts != "" {
			spec += ":" + opts
		}
		out.Tmpfs = append(out.Tmpfs, spec)
	}
	// Config.Volumes without a mount of their own: anonymous volumes.
	sort.Strings(anonymous)
	out.Anonymous = anonymous
	if p := hc.RestartPolicy.Name; p != "" && p != "no" {
		switch p {
		case "unless-stopped":
			p = "always" // a stop here always ends the restarts
		case "on-failure", "always":
		default:
			refuse("RestartPolicy", fmt.Sprintf("%q is not a policy here (no, on-failure, always, unless-stopped)", p))
		}
		set("restart", string(p))
	}
	if hc.Memory > 0 {
		set("resources.memory", hc.Memory)
	}
	if hc.MemorySwap > 0 {
		set("resources.memory_swap", hc.MemorySwap)
	}
	switch {
	case hc.NanoCPUs > 0:
		set("resources.cpus", float64(hc.NanoCPUs)/1e9)
	case hc.CPUQuota > 0:
		period := hc.CPUPeriod
		if period == 0 {
			period = 100000
		}
		set("resources.cpus", float64(hc.CPUQuota)/float64(period))
	}
	if hc.PidsLimit != nil && *hc.PidsLimit > 0 {
		set("resources.pids", *hc.PidsLimit)
	}
	for field, on := range map[string]bool{
		"CpuShares": hc.CPUShares != 0, "CpusetCpus": hc.CpusetCpus != "", "CpusetMems": hc.CpusetMems != "",
		"BlkioWeight": hc.BlkioWeight != 0, "MemoryReservation": hc.MemoryReservation != 0,
		"OomKillDisable": hc.OomKillDisable != nil && *hc.OomKillDisable, "CgroupParent": hc.CgroupParent != "",
		"DeviceCgroupRules": len(hc.DeviceCgroupRules) > 0, "DeviceRequests": len(hc.DeviceRequests) > 0,
		"VolumesFrom": len(hc.VolumesFrom) > 0, "Links": len(hc.Links) > 0,
	} {
		if on {
			refuse(field, "not served: sandbox cannot honour it, and does not drop a limit silently")
		}
	}
	for mode, v := range map[string]string{"IpcMode": string(hc.IpcMode), "PidMode": string(hc.PidMode), "UTSMode": string(hc.UTSMode)} {
		if v != "" && v != "private" && v != "shareable" {
			refuse(mode, fmt.Sprintf("%q: a sandbox always has its own (pods share theirs: sandbox pod)", v))
		}
	}
	if len(hc.CapAdd) > 0 {
		set("security.cap_add", []string(hc.CapAdd))
	}
	if len(hc.CapDrop) > 0 {
		set("security.cap_drop", []string(hc.CapDrop))
	}
	for _, o := range hc.SecurityOpt {
		k, v, _ := strings.Cut(o, "=")
		if !strings.Contains(o, "=") {
			k, v, _ = strings.Cut(o, ":") // the old spelling
		}
		switch k {
		case "seccomp":
			set("security.seccomp", v)
		case "no-new-privileges":
			set("security.no_new_privileges", v == "" || v == "true")
		case "label", "apparmor":
			if v != "disable" && v != "unconfined" {
				refuse("SecurityOpt", fmt.Sprintf("%q: sandbox applies no SELinux or AppArmor profile", o))
			}
		default:
			refuse("SecurityOpt", fmt.Sprintf("%q is not served (seccomp=…, no-new-privileges)", o))
		}
	}
	if hc.Privileged {
		set("privileged", true)
	}
	if hc.ReadonlyRootfs {
		set("read_only", true)
	}
	if hc.ShmSize > 0 {
		set("shm_size", hc.ShmSize)
	}
	var ulimits []string
	for _, u := range hc.Ulimits {
		ulimits = append(ulimits, fmt.Sprintf("%s=%d:%d", u.Name, u.Soft, u.Hard))
	}
	if len(ulimits) > 0 {
		set("ulimits", ulimits)
	}
	var sysctls []string
	for k, v := range hc.Sysctls {
		sysctls = append(sysctls, k+"="+v)
	}
	if len(sysctls) > 0 {
		sort.Strings(sysctls)
		set("sysctls", sysctls)
	}
	var devices []string
	for _, d := range hc.Devices {
		spec := d.PathOnHost
		if d.PathInContainer != "" {
			spec += ":" + d.PathInContainer
		}
		if d.CgroupPermissions != "" {
			spec += ":" + d.CgroupPermissions
		}
		devices = append(devices, spec)
	}
	if len(devices) > 0 {
		set("devices", devices)
	}
	if len(hc.ExtraHosts) > 0 {
		set("add_hosts", []string(hc.ExtraHosts))
	}
	var dns []string
	for _, d := range hc.DNS {
		dns = append(dns, d.String())
	}
	if len(dns) > 0 {
		set("dns", dns)
	}
	if len(hc.GroupAdd) > 0 {
		set("group_add", []string(hc.GroupAdd))
	}
	if u := string(hc.UsernsMode); u != "" {
		set("userns", u)
	}
	if hc.Init != nil && *hc.Init {
		set("init", true)
	}
	if len(errs) > 0 {
		return calls.CreateRequest{}, errors.Join(errs...)
	}
	return out, nil
}

// networkSetting is the network key a request makes: its NetworkMode,
// and the networks its NetworkingConfig names. Docker's default network
// (bridge) is sandbox's private network, slirp.
func networkSetting(hc *ctypes.HostConfig, req ctypes.CreateRequest) (string, error) {
	mode := string(hc.NetworkMode)
	var names []string
	switch {
	case mode == "" || mode == "default" || mode == "bridge":
		mode = "slirp"
	case mode == "host" || mode == "none":
	case strings.HasPrefix(mode, "container:"):
		return "", fmt.Errorf("NetworkMode %q: share a network with a pod (sandbox pod create, run --pod)", mode)
	default:
		names = append(names, mode)
	}
	if req.NetworkingConfig != nil {
		var more []string
		for n := range req.NetworkingConfig.EndpointsConfig {
			if n != mode && n != "bridge" && n != "default" && n != "host" && n != "none" {
				more = append(more, n)
			}
		}
		sort.Strings(more)
		names = append(names, more...)
	}
	if len(names) > 0 {
		return strings.Join(dedupe(names), ","), nil
	}
	return mode, nil
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// mountFromAPI is one HostConfig.Mounts entry.
func mountFromAPI(m mount.Mount) (calls.MountSpec, error) {
	cm := calls.MountSpec{Type: string(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
	switch m.Type {
	case mount.TypeBind:
		if m.BindOptions != nil && m.BindOptions.Propagation != "" {
			return cm, fmt.Errorf("Mounts: %s: bind propagation is refused: a rootless sandbox's mounts are private to it", m.Target)
		}
	case mount.TypeVolume:
		if m.VolumeOptions != nil && (m.VolumeOptions.NoCopy || m.VolumeOptions.Subpath != "" || m.VolumeOptions.DriverConfig != nil) {
			return cm, fmt.Errorf("Mounts: %s: volume options (nocopy, subpath, drivers) are not served", m.Target)
		}
	case mount.TypeTmpfs:
		if o := m.TmpfsOptions; o != nil {
			cm.Size, cm.Mode = o.SizeBytes, uint32(o.Mode.Perm())
		}
	default:
		return cm, fmt.Errorf("Mounts: %s: type %q is not served (bind, volume, tmpfs)", m.Target, m.Type)
	}
	return cm, nil
}

// freePort is a host port free now on ip (127.0.0.1, sandbox's default
// address, when not given), for proto.
func freePort(proto string, ip netip.Addr) (int, error) {
	addr := "127.0.0.1"
	if ip.IsValid() {
		addr = ip.String()
	}
	if proto == "udp" {
		c, err := net.ListenPacket("udp", net.JoinHostPort(addr, "0"))
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
