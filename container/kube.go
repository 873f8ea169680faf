package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sandbox-dev/sandbox/config"
	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/kube"
	"github.com/sandbox-dev/sandbox/kube/kubebin"
	"github.com/sandbox-dev/sandbox/network"
)

// KubePod describes containers as one pod for `kube generate`: named
// NAME-pod after the first, as Podman names it; the pod-wide settings
// (network, hostname, /etc files, restart policy) are the first
// container's.
func KubePod(name string, cfgs []Config, names []string) (kube.Pod, error) {
	if len(cfgs) == 0 || len(cfgs) != len(names) {
		return kube.Pod{}, fmt.Errorf("kube: no containers to describe")
	}
	first := cfgs[0]
	p := kube.Pod{Name: name, Restart: first.Restart, Hostname: first.Hostname, Network: first.Network,
		AddHosts: first.AddHosts, DNS: first.DNS}
	if !network.IsMode(first.Network) {
		// User-defined networks: the pod gets a network of its own.
		p.Network, p.Networks = "slirp", network.Names(first.Network)
	}
	for i, cfg := range cfgs {
		c, err := kubeContainer(names[i], cfg)
		if err != nil {
			return kube.Pod{}, err
		}
		p.Containers = append(p.Containers, c)
	}
	return p, nil
}

// kubeContainer is cfg in kube's terms.
func kubeContainer(name string, cfg Config) (kube.Container, error) {
	c := kube.Container{
		Name: name, Image: cfg.Image, Command: cfg.Entrypoint, CommandSet: cfg.EntrypointSet, Args: cfg.Cmd,
		Workdir: cfg.Workdir, User: cfg.User, ReadOnly: cfg.ReadOnly,
		Memory: cfg.Resources.Memory, MemorySwap: cfg.Resources.MemorySwap, CPUs: cfg.Resources.CPUs,
		Pids: cfg.Resources.Pids, IOLimits: len(cfg.Resources.IO),
		CapAdd: cfg.Security.CapAdd, CapDrop: cfg.Security.CapDrop,
		NoNewPrivileges: &cfg.Security.NoNewPrivileges, Seccomp: cfg.Security.Seccomp,
		StopTimeout: cfg.StopTimeout, Devices: cfg.Devices,
	}
	for key, set := range map[string]bool{
		"labels": len(cfg.Labels) > 0, "ulimits": len(cfg.Ulimits) > 0, "sysctls": len(cfg.Sysctls) > 0,
		"health_cmd": cfg.Health != nil, "group_add": len(cfg.GroupAdd) > 0, "shm_size": cfg.ShmSize > 0,
		"userns": cfg.UserNS != "", "network_aliases": len(cfg.NetworkAliases) > 0, "privileged": cfg.Privileged,
	} {
		if set {
			c.LeftOut = append(c.LeftOut, key)
		}
	}
	sort.Strings(c.LeftOut)
	// Later values of a name win, in the place of its first.
	at := map[string]int{}
	for _, kv := range cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		if i, ok := at[k]; ok {
			c.Env[i].Value = v
			continue
		}
		at[k] = len(c.Env)
		c.Env = append(c.Env, kube.EnvVar{Name: k, Value: v})
	}
	ports, err := network.ParsePorts(cfg.Ports)
	if err != nil {
		return kube.Container{}, err
	}
	for _, p := range ports {
		c.Ports = append(c.Ports, kube.Port{ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIP: p.HostIP, Protocol: p.Proto})
	}
	for _, v := range cfg.Volumes {
		m := kube.Mount{Type: v.Type, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly}
		switch {
		case v.Type == "tmpfs":
			m.Source = ""
			m.Size = tmpfsSize(v.Options)
		case v.Volume != "":
			// A volume a created container holds is bound from its
			// directory in the store: Kubernetes gets its name (none
			// for an anonymous one), not that path.
			m.Type, m.Source = "volume", v.Volume
			if v.Anonymous {
				m.Source = ""
			}
		}
		c.Mounts = append(c.Mounts, m)
	}
	return c, nil
}

// tmpfsSize reads size= from tmpfs options; 0 when absent or unreadable.
func tmpfsSize(opts string) int64 {
	for _, o := range strings.Split(opts, ",") {
		if v, ok := strings.CutPrefix(o, "size="); ok {
			if n, err := config.ParseBytes(v); err == nil {
				return n
			}
		}
	}
	return 0
}

// KubeGenerate writes p as a Kubernetes object of kind (kube.Kinds), with
// notes on what the object cannot say. runDir is where the helper program
// is installed (kubebin.Run).
func KubeGenerate(runDir string, p kube.Pod, kind string) ([]byte, []string, error) {
	return kubebin.Run(runDir, []string{"generate", "--type", kind}, mustJSON(p))
}

// KubePlay is what `kube play` runs: one container per container of each
// pod, named POD-CONTAINER as Podman names them, each as a launch layer
// (config.App) for the caller to lay over its defaults as `up` does. Pods
// of several containers need pods, which sandbox does not have yet: they
// are refused before anything runs. dataDir holds the pods' own volumes
// (emptyDir on disk, ConfigMap files); WriteKubeVolumes fills it.
func KubePlay(plan kube.Plan, file, dataDir string) ([]*config.App, []PodPlan, error) {
	var apps []*config.App
	var pods []PodPlan
	for _, p := range plan.Pods {
		if len(p.Containers) == 1 {
			apps = append(apps, kubeApp(p, p.Containers[0], file, dataDir))
			continue
		}
		// Several containers: a sandbox pod holds the network, its
		// ports and the hostname; its members hold the rest.
		kp := PodPlan{Name: p.Name, Config: Config{Network: p.Network, Hostname: p.Hostname, DNS: p.DNS, AddHosts: p.AddHosts, LaunchFile: file}}
		for _, c := range p.Containers {
			kp.Config.Ports = append(kp.Config.Ports, portSpecs(c.Ports)...)
			member := p
			member.Network, member.Hostname, member.DNS, member.AddHosts = "", "", nil, nil
			c.Ports = nil
			a := kubeApp(member, c, file, dataDir)
			config.Lookup("pod").Set(a, p.Name, file)
			apps = append(apps, a)
		}
		pods = append(pods, kp)
	}
	return apps, pods, nil
}

// PodPlan is a pod `kube play` makes before its members: its name and the
// infra's network, ports and hostname.
type PodPlan struct {
	Name   string
	Config Config
}

// portSpecs are the published ones of ports, as -p writes them.
func portSpecs(ports []kube.Port) []string {
	var out []string
	for _, pt := range ports {
		if pt.HostPort == 0 {
			continue // in Kubernetes too, a port that is not published is only a note
		}
		s := fmt.Sprintf("%d:%d", pt.HostPort, pt.ContainerPort)
		if pt.HostIP != "" {
			s = pt.HostIP + ":" + s
		}
		if pt.Protocol == "udp" {
			s += "/udp"
		}
		out = append(out, s)
	}
	return out
}

// kubeApp is one container of a pod as a launch layer whose source is the
// YAML file.
func kubeApp(p kube.Pod, c kube.Container, file, dataDir string) *config.App {
	a := &config.App{Env: map[string]string{}, Sources: map[string]string{}}
	set := func(key string, v any) { config.Lookup(key).Set(a, v, file) }
	set("image", c.Image)
	set("name", p.Name+"-"+c.Name)
	if c.CommandSet {
		set("entrypoint", c.Command)
	}
	if c.Args != nil {
		set("command", c.Args)
	}
	for key, v := range map[string]string{"workdir": c.Workdir, "user": c.User, "hostname": p.Hostname,
		"network": p.Network, "restart": p.Restart, "security.seccomp": c.Seccomp} {
		if v != "" {
			set(key, v)
		}
	}
	if c.ReadOnly {
		set("read_only", true)
	}
	for key, v := range map[string][]string{"ports": portSpecs(c.Ports), "dns": p.DNS, "add_hosts": p.AddHosts,
		"security.cap_add": c.CapAdd, "security.cap_drop": c.CapDrop, "devices": c.Devices} {
		if len(v) > 0 {
			set(key, v)
		}
	}
	for _, e := range c.Env {
		a.Env[e.Name] = e.Value
		a.Sources["env."+e.Name] = file
	}
	for _, m := range c.Mounts {
		cm := config.Mount{Type: m.Type, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly, Size: m.Size}
		switch m.Type {
		case "dir", "files":
			cm.Type, cm.Source = "bind", filepath.Join(dataDir, p.Name, m.Volume)
			cm.ReadOnly = m.ReadOnly || m.Type == "files" // as Kubernetes mounts a ConfigMap
		}
		a.Mounts = append(a.Mounts, cm)
		a.Sources["mount "+m.Target] = file
	}
	if c.Memory > 0 {
		set("resources.memory", c.Memory)
	}
	if c.CPUs > 0 {
		set("resources.cpus", c.CPUs)
	}
	if c.MemorySwap > 0 {
		set("resources.memory_swap", c.MemorySwap)
	}
	if c.Pids > 0 {
		set("resources.pids", c.Pids)
	}
	if c.NoNewPrivileges != nil {
		set("security.no_new_privileges", *c.NoNewPrivileges)
	}
	if c.StopTimeout != nil {
		set("stop_timeout", int64(*c.StopTimeout))
	}
	return a
}

// WriteKubeVolumes makes the pods' own volumes in dataDir: a directory per
// emptyDir, and a ConfigMap's files.
func WriteKubeVolumes(plan kube.Plan, dataDir string) error {
	for _, p := range plan.Pods {
		for _, c := range p.Containers {
			for _, m := range c.Mounts {
				if m.Type != "dir" && m.Type != "files" {
					continue
				}
				dir := filepath.Join(dataDir, p.Name, m.Volume)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return fmt.Errorf("kube play: making volume %s of %s: %w", m.Volume, p.Name, err)
				}
				for rel, content := range m.Files {
					path := filepath.Join(dir, filepath.Clean("/"+rel))
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						return err
					}
					if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
						return fmt.Errorf("kube play: writing %s of volume %s: %w", rel, m.Volume, err)
					}
				}
			}
		}
	}
	return nil
}

// KubeParse reads Kubernetes YAML (Pods, Deployments, Jobs, ConfigMaps)
// into a plan, with the fields sandbox does not honour.
func KubeParse(runDir string, yaml []byte) (kube.Plan, error) {
	out, _, err := kubebin.Run(runDir, []string{"play"}, yaml)
	if err != nil {
		return kube.Plan{}, err
	}
	var plan kube.Plan
	if err := json.Unmarshal(out, &plan); err != nil {
		return kube.Plan{}, fmt.Errorf("kube play: reading the kube program's plan: %w", err)
	}
	return plan, nil
}

// KubeDown stops and removes every container `kube play` of file (an
// absolute path) started, and the pods' own volumes in dataDir.
func KubeDown(s *image.Store, file, dataDir string, timeout time.Duration) ([]*Container, error) {
	all, err := List(s)
	if err != nil {
		return nil, err
	}
	// Members before the infras that hold their namespaces.
	sort.SliceStable(all, func(i, j int) bool { return !all[i].Config.PodInfra && all[j].Config.PodInfra })
	var done []*Container
	var errs []error
	for _, c := range all {
		if c.Config.LaunchFile != file {
			continue
		}
		if _, err := Stop(s, c.ID, timeout); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := RemoveRef(s, c.ID, false, true); err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, c)
	}
	if err := errors.Join(errs...); err != nil {
		return done, err
	}
	if len(done) == 0 {
		return nil, fmt.Errorf("%w: none was started by `sandbox kube play %s`", ErrNotFound, file)
	}
	return done, os.RemoveAll(dataDir)
}
