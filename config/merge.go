package config

import (
	"fmt"
	"io"
	"slices"
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
	k := Lookup(key)
	if k == nil || k.field == nil {
		return false
	}
	k.copyTo(dst, src)
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
	has := func(k string) bool { _, ok := a.Sources[k]; return ok }
	// keys writes the plain keys of one table (Keys' order), under its
	// header once one is set.
	keys := func(table string) {
		header := table == ""
		for _, k := range Keys {
			t, last := tableOf(k.Name)
			if t != table || k.field == nil || !has(k.Name) {
				continue
			}
			if !header {
				fmt.Fprintf(w, "\n[%s]\n", table)
				header = true
			}
			line(k.Name, last+" = "+k.toml(a))
		}
	}
	keys("")
	if len(a.Env) > 0 {
		fmt.Fprintln(w, "\n[env]")
		for _, k := range sortedKeys(a.Env) {
			line("env."+k, strconv.Quote(k)+" = "+str(a.Env[k]))
		}
	}
	keys("resources")
	if io := a.Resources.IO; len(io) > 0 {
		if !slices.ContainsFunc(Keys, func(k *Key) bool { return strings.HasPrefix(k.Name, "resources.") && k.field != nil && has(k.Name) }) {
			fmt.Fprintln(w, "\n[resources]")
		}
		for _, l := range io {
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
	keys("security")
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
