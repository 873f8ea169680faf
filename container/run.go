package container

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sandbox-dev/sandbox/fuseoverlay"
	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/runtime"
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
}

// buildSpec turns the container, its image and its config into what the
// init needs.
func buildSpec(s *image.Store, c *Container, img *image.Image, stdio IO) (*runtime.Spec, error) {
	cfg := c.Config
	dir := Dir(s, c.ID)
	ic := img.Config.Config
	spec := &runtime.Spec{
		Caps:          runtime.BoundingSet(cfg.Security.CapAdd, cfg.Security.CapDrop),
		AllowNewPrivs: cfg.Security.Seccomp != "" && !cfg.Security.NoNewPrivileges,
		ID:            c.ID,
		Network:       cfg.Network,
		ReadOnly:      cfg.ReadOnly,
		Mounts:        cfg.Volumes,
		SysFromHost:   cfg.Network != "none",
		UIDs:          s.Mapping.Size(),
		GIDs:          s.Mapping.Size(),
	}
	if spec.Network == "" {
		spec.Network = "host"
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
	spec.Process.User = cfg.User
	if spec.Process.User == "" {
		spec.Process.User = ic.User
	}
	if cfg.TTY {
		spec.Process.Terminal = true
		spec.Process.Rows, spec.Process.Cols, _ = runtime.TerminalSize(stdio.Stdin, stdio.Stdout)
	}

	spec.Rootfs = fuseoverlay.Layout{
		Driver: cfg.StorageDriver,
		Layers: img.Layers,
		Upper:  filepath.Join(dir, "upper"),
		Work:   filepath.Join(dir, "work"),
		Target: filepath.Join(dir, "merged"),
	}
	if img.Host {
		if err := hostLayout(spec, dir, stdio); err != nil {
			return nil, err
		}
	}
	if err := writeEtcFiles(spec, filepath.Join(dir, "userdata")); err != nil {
		return nil, err
	}
	return spec, nil
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
func writeEtcFiles(spec *runtime.Spec, dir string) error {
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	resolv := ""
	if spec.Network == "host" {
		if b, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts = string(b)
			if len(hosts) > 0 && !strings.HasSuffix(hosts, "\n") {
				hosts += "\n"
			}
		}
		if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
			resolv = string(b)
		}
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
