package container

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sandbox-dev/sandbox/config"
)

// mountKeys are --mount's keys, Docker's spellings (aliases after the
// first of each group).
var mountKeys = [][]string{{"type"}, {"source", "src"}, {"target", "dst", "destination"},
	{"readonly", "ro"}, {"bind-propagation"}, {"tmpfs-size"}, {"tmpfs-mode"}}

// ParseMount reads --mount's KEY=VALUE,… with Docker's keys: a bind
// (type=bind, source, target, readonly), a named volume (type=volume,
// source=NAME, target, readonly) or a tmpfs (type=tmpfs, target,
// tmpfs-size, tmpfs-mode). Every mistake names its key.
func ParseMount(s string) (config.Mount, error) {
	var m config.Mount
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--mount %s: %s: %s", s, key, fmt.Sprintf(format, args...)))
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, hasValue := strings.Cut(kv, "=")
		switch canonical(k) {
		case "type":
			m.Type = v
			if v != "bind" && v != "tmpfs" && v != "volume" {
				bad(k, "%q: use bind, volume or tmpfs", v)
			}
		case "source":
			m.Source = v
		case "target":
			m.Target = v
		case "readonly":
			ro, err := strconv.ParseBool(v)
			if !hasValue {
				ro, err = true, nil
			}
			if err != nil {
				bad(k, "%q: use true or false", v)
			}
			m.ReadOnly = ro
		case "bind-propagation":
			bad(k, "not supported: a rootless sandbox's mounts are always private to it (propagation to or from the host would need the host's mount namespace)")
		case "tmpfs-size":
			n, err := config.ParseBytes(v)
			if err != nil {
				bad(k, "%v", err)
			}
			m.Size = n
		case "tmpfs-mode":
			n, err := strconv.ParseUint(v, 8, 32)
			if err != nil || n > 0o7777 {
				bad(k, "%q: an octal mode, like 1777", v)
			}
			m.Mode = uint32(n)
		default:
			var names []string
			for _, g := range mountKeys {
				names = append(names, strings.Join(g, "/"))
			}
			bad(k, "unknown key (the keys are %s)", strings.Join(names, ", "))
		}
	}
	switch {
	case m.Type == "":
		bad("type", "missing: type=bind, type=volume or type=tmpfs")
	case m.Target == "" || !filepath.IsAbs(m.Target):
		bad("target", "missing or not absolute: the path in the container")
	case m.Type == "bind" && m.Source == "":
		bad("source", "missing: the host path to bind")
	case m.Type == "tmpfs" && m.Source != "":
		bad("source", "a tmpfs has no source")
	case m.Type != "tmpfs" && (m.Size != 0 || m.Mode != 0):
		bad("tmpfs-size", "only for type=tmpfs")
	}
	if m.Type == "volume" && m.Source != "" {
		if err := checkKey("name", m.Source); err != nil {
			bad("source", "%q is not a volume name: %v", m.Source, err)
		}
	}
	if m.Type == "bind" && m.Source != "" {
		abs, err := filepath.Abs(m.Source)
		if err != nil {
			bad("source", "%v", err)
		}
		m.Source = abs
	}
	return m, errors.Join(errs...)
}

// canonical is the first spelling of k's group, or k.
func canonical(k string) string {
	for _, g := range mountKeys {
		for _, name := range g {
			if name == k {
				return g[0]
			}
		}
	}
	return k
}

// ParseTmpfs reads --tmpfs PATH[:OPTIONS], OPTIONS comma-separated:
// size=SIZE, mode=OCTAL, ro, rw (and Docker's defaults nosuid, nodev,
// which a sandbox's tmpfs always has).
func ParseTmpfs(s string) (config.Mount, error) {
	path, opts, _ := strings.Cut(s, ":")
	m := config.Mount{Type: "tmpfs", Target: path}
	if !filepath.IsAbs(path) {
		return m, fmt.Errorf("--tmpfs %s: the path must be absolute", s)
	}
	for _, o := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "", "rw", "nosuid", "nodev":
		case "ro":
			m.ReadOnly = true
		case "size":
			n, err := config.ParseBytes(v)
			if err != nil {
				return m, fmt.Errorf("--tmpfs %s: size: %v", s, err)
			}
			m.Size = n
		case "mode":
			n, err := strconv.ParseUint(v, 8, 32)
			if err != nil || n > 0o7777 {
				return m, fmt.Errorf("--tmpfs %s: mode %q: an octal mode, like 1777", s, v)
			}
			m.Mode = uint32(n)
		default:
			return m, fmt.Errorf("--tmpfs %s: option %q is not supported (size=, mode=, ro, rw)", s, k)
		}
	}
	return m, nil
}
