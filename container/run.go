package container

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sandbox-dev/sandbox/capability"
	"github.com/sandbox-dev/sandbox/config"
	"github.com/sandbox-dev/sandbox/fuseoverlay"
	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/network"
	"github.com/sandbox-dev/sandbox/network/bridge"
	"github.com/sandbox-dev/sandbox/runtime"
	"github.com/sandbox-dev/sandbox/userns"
)

// defaultPath is the PATH a container gets when its image sets none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// IO is the caller's side of a run.
type IO struct {
	Stdin, Stdout, Stderr *os.File
	// Warn prints one line to the user.
	Warn func(string)
	// Pull, when not nil, fetches an image the store lacks (docker's
	// "Unable to find image locally" then pull).
	Pull *image.PullOptions
	// OwnSignals: the signals this process is sent are all for this
	// container (runtime.Options.OwnSignals).
	OwnSignals bool
}

// buildSpec turns the container, its image and its config into what the
// init needs.
func buildSpec(s *image.Store, c *Container, img *image.Image, stdio IO) (*runtime.Spec, error) {
	cfg := c.Config
	dir := Dir(s, c.ID)
	ic := img.Config.Config
	spec := &runtime.Spec{
		Caps:          capability.BoundingSet(cfg.Security.CapAdd, cfg.Security.CapDrop),
		AllowNewPrivs: cfg.Security.Seccomp != "" && !cfg.Security.NoNewPrivileges,
		ID:            c.ID,
		Network:       network.Mode(cfg.Network),
		ReadOnly:      cfg.ReadOnly,
		Mounts:        cfg.Volumes,
		SysFromHost:   cfg.Network == "" || cfg.Network == "host",
		NetworkWait:   network.IsPrivate(cfg.Network),
		UIDs:          s.Mapping.Size(),
		GIDs:          s.Mapping.Size(),
	}
	if spec.Network == "" {
		spec.Network = "host"
	}
	// A pod's infra holds the network; its members find it connected.
	spec.PodInfra, spec.ShmSize, spec.Privileged = cfg.PodInfra, cfg.ShmSize, cfg.Privileged
	spec.Sysctls = cfg.Sysctls
	for _, v := range cfg.Ulimits {
		u, err := config.ParseUlimit(v)
		if err != nil {
			return nil, fmt.Errorf("--ulimit %s: %w", v, err)
		}
		spec.Rlimits = append(spec.Rlimits, runtime.Rlimit{Name: u.Name, Resource: config.Ulimits[u.Name], Soft: u.Soft, Hard: u.Hard})
	}
	if cfg.Pod != "" && !cfg.PodInfra {
		spec.NetworkWait = false
	}
	spec.Hostname = cfg.Hostname
	if spec.Hostname == "" {
		// As docker: the host's name with the host's network, else the short ID.
		spec.Hostname = c.ID[:12]
		if spec.Network == "host" {
			spec.Hostname, _ = os.Hostname()
		}
	}

	// Entrypoint and Cmd combine as in docker: --entrypoint also drops the
	// image's Cmd, and arguments after the image replace it.
	args := ic.Entrypoint
	cmd := ic.Cmd
	if cfg.EntrypointSet {
		args, cmd = cfg.Entrypoint, nil
	}
	if len(cfg.Cmd) > 0 {
		cmd = cfg.Cmd
	}
	spec.Process.Args = append(append([]string{}, args...), cmd...)
	if len(spec.Process.Args) == 0 && cfg.Shell {
		spec.Process.Args = []string{"/bin/sh"}
	}
	spec.Process.Env = mergeEnv(ic.Env, cfg.Env, spec.Hostname, cfg.TTY)
	spec.Process.Cwd = cfg.Workdir
	if spec.Process.Cwd == "" {
		spec.Process.Cwd = ic.WorkingDir
	}
	spec.Process.User, spec.Process.GroupAdd = cfg.User, cfg.GroupAdd
	if spec.Process.User == "" && cfg.UserNS == KeepID {
		spec.Process.User = fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()) // as Podman's keep-id
	}
	if spec.Process.User == "" {
		spec.Process.User = ic.User
	}
	if cfg.TTY {
		spec.Process.Terminal = true
		spec.Process.Rows, spec.Process.Cols, _ = runtime.TerminalSize(stdio.Stdin, stdio.Stdout)
		if spec.Process.Rows == 0 {
			// Detached: no terminal of the user's to take the size from
			// until a client attaches and resizes it.
			spec.Process.Rows, spec.Process.Cols = 24, 80
		}
	}

	spec.Rootfs = fuseoverlay.Layout{
		Driver: cfg.StorageDriver,
		Layers: img.Layers,
		Upper:  filepath.Join(dir, "upper"),
		Work:   filepath.Join(dir, "work"),
		Target: filepath.Join(dir, "merged"),
		// Only a throwaway layer: one kept for restarts must survive a crash.
		Volatile: cfg.Rm,
	}
	if cfg.UserNS == KeepID && !img.Host {
		// The layers' owners are laid out for the store's map: the root
		// is a copy with them shifted (keepid.go).
		spec.Rootfs.Shift = &userns.Shift{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
		spec.Rootfs.Volatile = false
	}
	if img.Host {
		if err := hostLayout(spec, dir, stdio); err != nil {
			return nil, err
		}
	}
	if err := writeEtcFiles(spec, cfg, filepath.Join(dir, "userdata"), nil); err != nil {
		return nil, err
	}
	devs, err := devices(append(append([]string{}, cfg.Devices...), cfg.CDINodes...))
	if err != nil {
		return nil, err
	}
	spec.Devices = devs
	// The init binds a source only if it is still what this resolves.
	mounts, err := resolveVolumes(spec.Mounts, s.RunDir)
	if err != nil {
		return nil, err
	}
	spec.Mounts = mounts
	filter, err := seccompFilter(cfg.Security, spec.Caps, s.Mapping)
	if err != nil {
		return nil, err
	}
	if filter != nil {
		spec.Seccomp, spec.SeccompFlags = filter.Bytes(), filter.Flags
	}
	// The host image's apt is the host's, which sandbox has no business
	// configuring (and its /etc/apt is not the container's to write).
	if FakeRoot(cfg.Security, s.Mapping) && !img.Host && hasPath(spec.Rootfs, filepath.Dir(runtime.AptConfigPath)) {
		p := filepath.Join(dir, "userdata", "apt-fakeroot.conf")
		if err := os.WriteFile(p, []byte(aptFakeRoot), 0o644); err != nil {
			return nil, fmt.Errorf("writing the container's apt configuration: %w", err)
		}
		spec.AptConfig = p
	}
	return spec, nil
}

// hasPath reports whether rel exists in the container's writable layer or
// in any of its image's layers (a whiteout above is not looked for: at
// worst a file is written that the init then does not bind). Cheaper than
// writing, on every start, a file that most images have no use for.
func hasPath(l fuseoverlay.Layout, rel string) bool {
	for _, d := range append([]string{l.Upper}, l.Layers...) {
		if _, err := os.Lstat(filepath.Join(d, rel)); err == nil {
			return true
		}
	}
	return false
}

// mergeEnv layers the image's environment, sandbox's defaults and the
// user's -e/--env-file values; a later KEY replaces an earlier one.
func mergeEnv(imageEnv, userEnv []string, hostname string, tty bool) []string {
	var out []string
	index := map[string]int{}
	set := func(kv string) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := index[k]; ok {
			out[i] = kv
			return
		}
		index[k] = len(out)
		out = append(out, kv)
	}
	set(defaultPath)
	set("HOSTNAME=" + hostname)
	if tty {
		set("TERM=xterm")
	}
	for _, kv := range imageEnv {
		set(kv)
	}
	for _, kv := range userEnv {
		set(kv)
	}
	return out
}

// hostsHasName reports whether an /etc/hosts text maps name (a whole
// field on a line that is not a comment).
func hostsHasName(hosts, name string) bool {
	for _, line := range strings.Split(hosts, "\n") {
		line, _, _ = strings.Cut(line, "#")
		fields := strings.Fields(line)
		for _, f := range fields[min(1, len(fields)):] {
			if f == name {
				return true
			}
		}
	}
	return false
}

// writeEtcFiles generates /etc/hosts, /etc/resolv.conf and /etc/hostname.
// With the host's network they start from the host's; in a private network
// the hostname is the container's address, host.containers.internal the
// host's loopback, and the nameserver the helper's DNS forwarder (the
// host's search domains and options kept). --dns replaces the nameservers;
// --add-host lines are appended, as docker does.
func writeEtcFiles(spec *runtime.Spec, cfg Config, dir string, networks []bridge.Endpoint) error {
	hostResolv, _ := os.ReadFile("/etc/resolv.conf")
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	hostGateway := "127.0.0.1"
	resolv := ""
	switch {
	case spec.Network == "host":
		if b, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts = string(b)
			if len(hosts) > 0 && !strings.HasSuffix(hosts, "\n") {
				hosts += "\n"
			}
		}
		resolv = resolvConf(string(hostResolv), cfg.DNS, nil)
	case network.IsPrivate(spec.Network) && len(networks) > 0:
		// On user-defined networks: its name is its address on the first,
		// and their switches answer DNS (the members' names in
		// bridge.SearchDomain, searched first).
		hostGateway = network.HostLoopback
		hosts += fmt.Sprintf("%s\t%s\n%s\t%s\n", networks[0].IP, spec.Hostname, network.HostLoopback, network.HostAlias)
		resolv = resolvFor(cfg, string(hostResolv), networks)
	case network.IsPrivate(spec.Network):
		hostGateway = network.HostLoopback
		hosts += fmt.Sprintf("%s\t%s\n%s\t%s\n", network.ContainerIP, spec.Hostname, network.HostLoopback, network.HostAlias)
		resolv = resolvFor(cfg, string(hostResolv), nil)
	default: // none: nothing to resolve with, unless the user says so
		resolv = resolvConf("", cfg.DNS, nil)
	}
	for _, h := range cfg.AddHosts {
		name, ip, _ := network.ParseAddHost(h) // validated at create
		if ip == network.HostGateway {
			ip = hostGateway
		}
		hosts += ip + "\t" + name + "\n"
	}
	if !hostsHasName(hosts, spec.Hostname) {
		hosts += "127.0.1.1\t" + spec.Hostname + "\n"
	}
	files := []struct {
		name, content string
		dst           *string
	}{
		{"hosts", hosts, &spec.Hosts},
		{"resolv.conf", resolv, &spec.Resolv},
		{"hostname", spec.Hostname + "\n", &spec.HostnameFile},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, []byte(f.content), 0o644); err != nil {
			return fmt.Errorf("writing the container's %s: %w", f.name, err)
		}
		*f.dst = p
	}
	return nil
}

// resolvFor is a private network's resolv.conf: on user-defined networks
// their switches answer DNS (the members' names in bridge.SearchDomain,
// searched first), else the helper's forwarder.
func resolvFor(cfg Config, hostResolv string, networks []bridge.Endpoint) string {
	if len(networks) == 0 {
		return resolvConf(hostResolv, cfg.DNS, []string{network.DNS})
	}
	var servers []string
	for _, n := range networks[:min(3, len(networks))] {
		servers = append(servers, n.Gateway)
	}
	return resolvConf("search "+bridge.SearchDomain+"\n"+hostResolv, cfg.DNS, servers)
}

// resolvConf is base with its nameserver lines replaced by dns (when
// given) or by fallback (when given); search and options lines are kept.
func resolvConf(base string, dns, fallback []string) string {
	servers := dns
	if len(servers) == 0 {
		servers = fallback
	}
	if len(servers) == 0 {
		return base
	}
	var b strings.Builder
	for _, line := range strings.Split(base, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && (f[0] == "search" || f[0] == "domain" || f[0] == "options") {
			b.WriteString(line + "\n")
		}
	}
	for _, ns := range servers {
		b.WriteString("nameserver " + ns + "\n")
	}
	return b.String()
}
