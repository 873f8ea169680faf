package container

import (
	"sort"
	"strconv"
	"strings"

	"github.com/sandbox-dev/sandbox/config"
	"github.com/sandbox-dev/sandbox/runtime"
)

// FromApp turns merged launch settings into a container config (the
// per-invocation choices, like --rm or -d, are the caller's to add).
// Mounts are sorted by target, so a mount inside another comes after it.
func FromApp(a *config.App) Config {
	c := Config{
		Image: a.Image, Name: a.Name, Cmd: a.Command, Workdir: a.Workdir, User: a.User,
		Hostname: a.Hostname, Pod: a.Pod, ReadOnly: a.ReadOnly, Network: a.Network, NetworkAliases: a.NetworkAliases, Ports: a.Ports,
		DNS: a.DNS, AddHosts: a.AddHosts, Devices: a.Devices, ShmSize: a.ShmSize, Labels: a.Labels, CIDFile: a.CIDFile, Pull: a.Pull, Ulimits: a.Ulimits, Sysctls: a.Sysctls,
		Resources: a.Resources, Security: a.Security, Restart: a.Restart, StopTimeout: &a.StopTimeout,
	}
	c.Entrypoint, c.EntrypointSet = a.Entrypoint, a.EntrypointSet
	if a.Privileged {
		// As Docker's --privileged, within what a user namespace gives.
		c.Privileged = true
		c.Security.CapAdd, c.Security.CapDrop = []string{"ALL"}, nil
		c.Security.Seccomp, c.Security.NoNewPrivileges = "unconfined", false
		off := false
		c.Security.FakeRoot = &off // its filter too: no seccomp filter at all
	}
	c.Env = a.EnvList() // env_file's variables are in it (config.LoadApp)
	for _, m := range a.Mounts {
		rm := runtime.Mount{Type: m.Type, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
		var opts []string
		if m.Type == "tmpfs" && m.Size > 0 {
			opts = append(opts, "size="+strconv.FormatInt(m.Size, 10))
		}
		if m.Type == "tmpfs" && m.Mode != 0 {
			opts = append(opts, "mode="+strconv.FormatUint(uint64(m.Mode), 8))
		}
		rm.Options = strings.Join(opts, ",")
		c.Volumes = append(c.Volumes, rm)
	}
	sort.SliceStable(c.Volumes, func(i, j int) bool { return c.Volumes[i].Target < c.Volumes[j].Target })
	return c
}
