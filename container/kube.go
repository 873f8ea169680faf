package container

import (
	"fmt"
	"strings"

	"github.com/sandbox-dev/sandbox/config"
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
		NoNewPrivileges: cfg.Security.NoNewPrivileges, Seccomp: cfg.Security.Seccomp,
		StopTimeout: cfg.StopTimeout,
	}
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
		if v.Type == "tmpfs" {
			m.Source = ""
			m.Size = tmpfsSize(v.Options)
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
// notes on what the object cannot say.
func KubeGenerate(p kube.Pod, kind string) ([]byte, []string, error) {
	return kubebin.Run([]string{"generate", "--type", kind}, mustJSON(p))
}
