package config

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Merge lays layers over one another, later over earlier (defaults,
// config.toml, app.toml, flags): a key a layer set replaces the same key
// before it; env merges variable by variable; mounts merge by target; and
// Sources keeps, for every key, the layer that set it last.
func Merge(layers ...*App) *App {
	out := &App{Env: map[string]string{}, Sources: map[string]string{}}
	for _, l := range layers {
		if l == nil {
			continue
		}
		for _, key := range orderedKeys(l) {
			if apply(out, l, key) {
				out.Sources[key] = l.Sources[key]
			}
		}
	}
	return out
}

// orderedKeys are the keys a layer set, in an order that does not change
// from run to run: mounts and io limits in the layer's own order (a mount
// inside another comes after it), the rest sorted.
func orderedKeys(l *App) []string {
	var keys, listed []string
	seen := map[string]bool{}
	add := func(k string) {
		if _, ok := l.Sources[k]; ok && !seen[k] {
			listed = append(listed, k)
			seen[k] = true
		}
	}
	for _, m := range l.Mounts {
		add("mount " + m.Target)
	}
	for _, io := range l.Resources.IO {
		add("resources.io." + io.Device)
	}
	for _, k := range sortedKeys(l.Sources) {
		if !seen[k] {
			keys = append(keys, k)
		}
	}
	return append(keys, listed...)
}

// tomlString quotes s as a TOML basic string that LoadApp reads back as
// s: control characters escaped, and $ doubled (LoadApp expands ${VAR}).
// TOML holds only UTF-8: invalid bytes become U+FFFD.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		case r == '$':
			b.WriteString("$$")
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// apply copies one key from src to dst; false for a key it does not know.
func apply(dst, src *App, key string) bool {
	switch {
	case strings.HasPrefix(key, "env."):
		dst.Env[key[4:]] = src.Env[key[4:]]
		return true
	case strings.HasPrefix(key, "mount "):
		target := key[6:]
		for _, m := range src.Mounts {
			if m.Target != target {
				continue
			}
			for i := range dst.Mounts {
				if dst.Mounts[i].Target == target {
					dst.Mounts[i] = m
					return true
				}
			}
			dst.Mounts = append(dst.Mounts, m)
			return true
		}
		return false
	case strings.HasPrefix(key, "resources.io."):
		dev := key[len("resources.io."):]
		for _, l := range src.Resources.IO {
			if l.Device == dev {
				for i := range dst.Resources.IO {
					if dst.Resources.IO[i].Device == dev {
						dst.Resources.IO[i] = l
						return true
					}
				}
				dst.Resources.IO = append(dst.Resources.IO, l)
				return true
			}
		}
		return false
	}
	switch key {
	case "image":
		dst.Image = src.Image
	case "name":
		dst.Name = src.Name
	case "command":
		dst.Command = src.Command
	case "entrypoint":
		dst.Entrypoint, dst.EntrypointSet = src.Entrypoint, true
	case "workdir":
		dst.Workdir = src.Workdir
	case "user":
		dst.User = src.User
	case "hostname":
		dst.Hostname = src.Hostname
	case "read_only":
		dst.ReadOnly = src.ReadOnly
	case "network":
		dst.Network = src.Network
	case "ports":
		dst.Ports = src.Ports
	case "dns":
		dst.DNS = src.DNS
	case "add_hosts":
		dst.AddHosts = src.AddHosts
	case "env_file":
		dst.EnvFile = src.EnvFile
	case "restart":
		dst.Restart = src.Restart
	case "stop_timeout":
		dst.StopTimeout = src.StopTimeout
	case "resources.memory":
		dst.Resources.Memory = src.Resources.Memory
	case "resources.memory_swap":
		dst.Resources.MemorySwap = src.Resources.MemorySwap
	case "resources.cpus":
		dst.Resources.CPUs = src.Resources.CPUs
	case "resources.pids":
		dst.Resources.Pids = src.Resources.Pids
	case "security.cap_add":
		dst.Security.CapAdd = src.Security.CapAdd
	case "security.cap_drop":
		dst.Security.CapDrop = src.Security.CapDrop
	case "security.no_new_privileges":
		dst.Security.NoNewPrivileges = src.Security.NoNewPrivileges
	case "security.seccomp":
		dst.Security.Seccomp = src.Security.Seccomp
	case "security.fakeroot":
		dst.Security.FakeRoot = src.Security.FakeRoot
	default:
		return false
	}
	return true
}

// WriteTOML writes the launch as TOML; with explain, each setting is
// followed by a comment saying where it came from.
func (a *App) WriteTOML(w io.Writer, explain bool) {
	line := func(key, text string) {
		if explain {
			src := a.Sources[key]
			if src == "" {
				src = "default"
			}
			fmt.Fprintf(w, "%-40s # %s\n", text, src)
		} else {
			fmt.Fprintln(w, text)
		}
	}
	str := tomlString
	list := func(v []string) string {
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = str(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	has := func(k string) bool { _, ok := a.Sources[k]; return ok }
	for _, f := range []struct {
		key, val string
	}{
		{"image", str(a.Image)}, {"name", str(a.Name)}, {"command", list(a.Command)}, {"entrypoint", list(a.Entrypoint)},
		{"workdir", str(a.Workdir)}, {"user", str(a.User)}, {"hostname", str(a.Hostname)},
		{"read_only", strconv.FormatBool(a.ReadOnly)}, {"network", str(a.Network)}, {"ports", list(a.Ports)},
		{"dns", list(a.DNS)}, {"add_hosts", list(a.AddHosts)},
		{"env_file", str(a.EnvFile)}, {"restart", str(a.Restart)}, {"stop_timeout", strconv.Itoa(a.StopTimeout)},
	} {
		if has(f.key) {
			line(f.key, f.key+" = "+f.val)
		}
	}
	if len(a.Env) > 0 {
		fmt.Fprintln(w, "\n[env]")
		for _, k := range sortedKeys(a.Env) {
			line("env."+k, strconv.Quote(k)+" = "+str(a.Env[k]))
		}
	}
	r := a.Resources
	if r.Memory != 0 || r.MemorySwap != 0 || r.CPUs != 0 || r.Pids != 0 || len(r.IO) > 0 {
		fmt.Fprintln(w, "\n[resources]")
		if r.Memory != 0 {
			line("resources.memory", "memory = "+str(ExactBytes(r.Memory)))
		}
		if r.MemorySwap != 0 {
			line("resources.memory_swap", "memory_swap = "+str(ExactBytes(r.MemorySwap)))
		}
		if r.CPUs != 0 {
			line("resources.cpus", "cpus = "+strconv.FormatFloat(r.CPUs, 'f', -1, 64))
		}
		if r.Pids != 0 {
			line("resources.pids", "pids = "+strconv.FormatInt(r.Pids, 10))
		}
		for _, l := range r.IO {
			var parts []string
			for _, p := range []struct {
				k string
				v int64
			}{{"read_bps", l.ReadBPS}, {"write_bps", l.WriteBPS}, {"read_iops", l.ReadIOPS}, {"write_iops", l.WriteIOPS}} {
				if p.v != 0 {
					parts = append(parts, p.k+" = "+strconv.FormatInt(p.v, 10))
				}
			}
			line("resources.io."+l.Device, "io."+strconv.Quote(l.Device)+" = { "+strings.Join(parts, ", ")+" }")
		}
	}
	fmt.Fprintln(w, "\n[security]")
	for _, f := range []struct{ key, val string }{
		{"cap_add", list(a.Security.CapAdd)}, {"cap_drop", list(a.Security.CapDrop)},
		{"no_new_privileges", strconv.FormatBool(a.Security.NoNewPrivileges)}, {"seccomp", str(a.Security.Seccomp)},
		{"fakeroot", strconv.FormatBool(a.Security.FakeRoot != nil && *a.Security.FakeRoot)},
	} {
		if has("security." + f.key) {
			line("security."+f.key, f.key+" = "+f.val)
		}
	}
	mounts := append([]Mount{}, a.Mounts...)
	sort.SliceStable(mounts, func(i, j int) bool { return mounts[i].Target < mounts[j].Target })
	for _, m := range mounts {
		fmt.Fprintln(w, "\n[[mount]]")
		line("mount "+m.Target, "target = "+str(m.Target))
		fmt.Fprintln(w, "type = "+str(m.Type))
		if m.Source != "" {
			fmt.Fprintln(w, "source = "+str(m.Source))
		}
		if m.ReadOnly {
			fmt.Fprintln(w, "read_only = true")
		}
		if m.Size != 0 {
			fmt.Fprintln(w, "size = "+str(ExactBytes(m.Size)))
		}
	}
}

// EnvList is the environment as KEY=VALUE entries, sorted by key.
func (a *App) EnvList() []string {
	var out []string
	for _, k := range sortedKeys(a.Env) {
		out = append(out, k+"="+a.Env[k])
	}
	return out
}
