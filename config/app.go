package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/sandbox-dev/sandbox/image/reference"
)

// App is one launch: what `sandbox run` is told by a TOML file (app.toml),
// the user's defaults (config.toml) and flags, merged in that order.
// Sources says, for each key that was set, where it came from: "default",
// "FILE:LINE:COL", or "flag"; Merge keeps the last one.
type App struct {
	Image          string
	Name           string
	Command        []string
	Entrypoint     []string // with EntrypointSet: [] clears the image's
	Workdir        string
	User           string
	Hostname       string
	Pod            string
	ReadOnly       bool
	Network        string
	NetworkAliases []string
	GroupAdd       []string
	UserNS         string
	Ports          []string
	DNS            []string // nameservers for /etc/resolv.conf
	AddHosts       []string // extra /etc/hosts entries, "NAME:IP"
	Devices        []string // --device values
	ShmSize        int64    // /dev/shm's size, bytes
	Env            map[string]string
	EnvFile        string
	Mounts         []Mount
	Resources      Resources
	Security       Security
	Restart        string
	StopTimeout    int      // seconds
	Labels         []string // KEY=VALUE
	CIDFile        string   // where to write the container's ID
	Init           bool     // --init: accepted, always so
	Pull           string   // missing, always, never
	// The health check: HealthCmd (shell form) every HealthInterval.
	HealthCmd, HealthInterval, HealthTimeout, HealthStartPeriod string
	HealthRetries                                               int
	NoHealthcheck                                               bool
	Privileged                                                  bool     // --privileged
	Ulimits                                                     []string // NAME=SOFT[:HARD]
	Sysctls                                                     []string // NAME=VALUE

	EntrypointSet bool
	Sources       map[string]string
}

// Mount is a [[mount]] or [[volume]] table.
type Mount struct {
	Type     string // "bind", "volume" or "tmpfs"
	Source   string // absolute host path (bind), a volume's name ("": anonymous)
	Target   string // absolute container path
	ReadOnly bool
	Size     int64  // tmpfs bytes; 0: the kernel's default
	Mode     uint32 // tmpfs permissions; 0: 1777
}

// Resources is the [resources] table. Zero means no limit.
type Resources struct {
	Memory     int64   // bytes
	MemorySwap int64   // bytes, memory plus swap (docker's meaning)
	CPUs       float64 // CPUs' worth of time
	Pids       int64
	IO         []IOLimit
}

// IsZero says no limit is set: what `omitzero` asks of it, here for
// generated encoders (easyjson, which compares with == otherwise, and a
// slice forbids that) as reflection tells encoding/json.
func (r Resources) IsZero() bool { return reflect.ValueOf(r).IsZero() }

// IOLimit is a bandwidth limit on one block device.
type IOLimit struct {
	Device    string // path, like /dev/vda
	ReadBPS   int64
	WriteBPS  int64
	ReadIOPS  int64
	WriteIOPS int64
}

// Security is the [security] table.
type Security struct {
	CapAdd          []string
	CapDrop         []string
	NoNewPrivileges bool
	Seccomp         string // "default", "unconfined" or a profile's absolute path
	// FakeRoot is root emulation in single-id mode (a seccomp filter that
	// makes chown and setuid-family calls succeed without effect): nil is
	// the default, on in single-id mode; it is never on with subordinate
	// ids, where the ids exist.
	FakeRoot *bool `json:",omitempty"`
}

// IsZero says nothing is set, as Resources.IsZero.
func (s Security) IsZero() bool { return reflect.ValueOf(s).IsZero() }

// SeccompProfile checks a seccomp setting ("default", "unconfined", or a
// profile file) and returns it with a path made absolute against dir.
func SeccompProfile(v, dir string) (string, error) {
	switch v {
	case "default", "unconfined":
		return v, nil
	case "":
		return "", errors.New(`empty: use "default", "unconfined" or a profile file (Docker's JSON format)`)
	}
	if !filepath.IsAbs(v) {
		v = filepath.Join(dir, v)
	}
	f, err := os.Open(v)
	if err != nil {
		return "", fmt.Errorf("%w (a profile file in Docker's JSON format, or \"default\" or \"unconfined\")", err)
	}
	f.Close()
	return v, nil
}

// ParseSecurityOpt applies one --security-opt value to sec, as Docker and
// Podman spell them (KEY=VALUE, or the older KEY:VALUE), and returns the
// launch key it set ("" for an accepted no-op).
func ParseSecurityOpt(opt string, sec *Security) (string, error) {
	k, v, hasValue := strings.Cut(opt, "=")
	if !hasValue {
		k, v, hasValue = strings.Cut(opt, ":")
	}
	boolValue := func() (bool, error) {
		if !hasValue {
			return true, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("--security-opt %s: %q is not true or false", k, v)
		}
		return b, nil
	}
	switch k {
	case "seccomp":
		wd, _ := os.Getwd()
		p, err := SeccompProfile(v, wd)
		if err != nil {
			return "", fmt.Errorf("--security-opt seccomp=%s: %w", v, err)
		}
		sec.Seccomp = p
		return "security.seccomp", nil
	case "no-new-privileges":
		b, err := boolValue()
		sec.NoNewPrivileges = b
		return "security.no_new_privileges", err
	case "fakeroot":
		b, err := boolValue()
		sec.FakeRoot = &b
		return "security.fakeroot", err
	case "label", "apparmor":
		// Podman's scripts say label=disable or apparmor=unconfined: sandbox
		// applies neither SELinux labels nor AppArmor profiles to payloads,
		// so that is what they get anyway.
		if v == "disable" || v == "unconfined" {
			return "", nil
		}
		return "", fmt.Errorf("--security-opt %s: sandbox applies no %s to payloads (only %s=%s is accepted, as a no-op)", opt, map[string]string{"label": "SELinux labels", "apparmor": "AppArmor profiles"}[k], k, map[string]string{"label": "disable", "apparmor": "unconfined"}[k])
	}
	return "", fmt.Errorf("--security-opt %q: unknown option; use seccomp=default|unconfined|PROFILE.json, no-new-privileges[=true|false] or fakeroot=true|false", opt)
}

// MinPids is the fewest processes (threads, for the kernel) a container
// may be limited to: sandbox's init alone runs about ten threads.
const MinPids = 32

// Defaults are the values nothing set.
func Defaults() *App {
	a := &App{Sources: map[string]string{}}
	for _, k := range Keys {
		switch v := k.Default.(type) {
		case nil:
		case int:
			k.Set(a, int64(v), "default")
		default:
			k.Set(a, v, "default")
		}
	}
	return a
}

// LoadApp reads an app.toml. Every mistake in it is reported at once, each
// with file:line:column, the key, the bad value and what would be valid.
// Relative paths (mount sources, env_file) are taken from the file's
// directory; "~" and "${VAR}" expand from env (an undefined variable is an
// error).
func LoadApp(path string, env func(string) (string, bool)) (*App, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %q: %w", path, err)
	}
	root, err := parseTOML(path, data)
	if err != nil {
		return nil, err
	}
	abs, _ := filepath.Abs(path)
	d := &decoder{dir: filepath.Dir(abs), env: env}
	a := d.app(root)
	return a, errors.Join(d.errs...)
}

// decoder turns a positioned tree into an App, collecting every error.
type decoder struct {
	dir  string
	env  func(string) (string, bool)
	errs []error
}

func (d *decoder) errorf(p Pos, format string, args ...any) {
	d.errs = append(d.errs, fmt.Errorf("%s: %s", p, fmt.Sprintf(format, args...)))
}

func (d *decoder) app(root *Value) *App {
	return d.appKeys(root, nil)
}

// appKeys decodes the app keys of root; skip, when not nil, handles the
// keys it recognizes (config.toml's own) and reports whether it did.
func (d *decoder) appKeys(root *Value, skip func(k string, v *Value) bool) *App {
	a := &App{Sources: map[string]string{}}
	var envFile *Value
	for _, k := range root.Keys {
		v := root.Table[k]
		if skip != nil && skip(k, v) {
			continue
		}
		switch k {
		case "env":
			d.envTable(a, v)
		case "mount":
			d.mounts(a, v, "mount")
		case "volume":
			d.mounts(a, v, "volume")
		case "resources", "security":
			d.table(a, k, v)
		default:
			key := Lookup(k)
			if key == nil || key.Type == Table {
				d.unknown(k, v, keysIn("", false))
				continue
			}
			d.value(a, key, v)
			if k == "env_file" && a.Sources[k] != "" {
				a.EnvFile = d.path(a.EnvFile)
				envFile = v
			}
		}
	}
	if envFile != nil {
		d.envFile(a, envFile)
	}
	return a
}

// envFile adds env_file's variables under the [env] table's: a variable
// both set is the table's.
func (d *decoder) envFile(a *App, v *Value) {
	vars, err := ReadEnvFile(a.EnvFile, d.lookup)
	if err != nil {
		var joined interface{ Unwrap() []error }
		if errors.As(err, &joined) {
			for _, e := range joined.Unwrap() {
				d.errorf(v.Pos, "env_file = %q: %v", v.Str, e)
			}
		} else {
			d.errorf(v.Pos, "env_file = %q: %v", v.Str, err)
		}
		return
	}
	if a.Env == nil {
		a.Env = map[string]string{}
	}
	inTable := map[string]bool{}
	for k := range a.Env {
		inTable[k] = true
	}
	for _, e := range vars { // a later line wins, as in docker
		if inTable[e.Key] {
			continue
		}
		a.Env[e.Key] = e.Value
		a.Sources["env."+e.Key] = Pos{File: a.EnvFile, Line: e.Line, Col: 1}.String()
	}
}

func (d *decoder) lookup(k string) (string, bool) {
	if d.env == nil {
		return os.LookupEnv(k)
	}
	return d.env(k)
}

// EnvVar is one variable of an env file.
type EnvVar struct {
	Key, Value string
	Line       int
}

// ReadEnvFile reads an env file (env_file, --env-file): KEY=VALUE lines;
// blank lines and lines starting with # are skipped; a bare KEY takes its
// value from env (skipped when env lacks it), as docker does. A bad line
// is an error naming path:line.
func ReadEnvFile(path string, env func(string) (string, bool)) ([]EnvVar, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %q: %w", path, err)
	}
	var out []EnvVar
	var errs []error
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, val, hasValue := strings.Cut(line, "=")
		if !validVarName(k) {
			errs = append(errs, fmt.Errorf("%s:%d: invalid line %q: want KEY=VALUE (KEY: letters, digits and _)", path, i+1, line))
			continue
		}
		if !hasValue {
			var ok bool
			if val, ok = env(k); !ok {
				continue
			}
		}
		out = append(out, EnvVar{Key: k, Value: val, Line: i + 1})
	}
	return out, errors.Join(errs...)
}

// unknown reports a key that is not in the schema, suggesting the closest.
func (d *decoder) unknown(k string, v *Value, valid []string) {
	msg := fmt.Sprintf("unknown key %q", k)
	if s := closest(k, valid); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	d.errorf(v.KeyPos, "%s; valid keys here: %s", msg, strings.Join(valid, ", "))
}

// closest is the valid key nearest to k by edit distance, if near enough.
func closest(k string, valid []string) string {
	best, bestD := "", 3
	for _, v := range valid {
		if dist := editDistance(k, v); dist < bestD {
			best, bestD = v, dist
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func (d *decoder) typeErr(k string, v *Value, want string) {
	d.errorf(v.Pos, "%s = %s: want %s, found %s", k, v.Text(), want, v.Kind)
}

// str reads a string, with ${VAR} and a leading ~ expanded.
func (d *decoder) str(k string, v *Value) (string, bool) {
	if v.Kind != KString {
		d.typeErr(k, v, "a string")
		return "", false
	}
	s, err := expand(v.Str, d.env)
	if err != nil {
		d.errorf(v.Pos, "%s = %q: %v", k, v.Str, err)
		return "", false
	}
	return s, true
}

func (d *decoder) bool(k string, v *Value) (bool, bool) {
	if v.Kind != KBool {
		d.typeErr(k, v, "true or false")
		return false, false
	}
	return v.Bool, true
}

func (d *decoder) int(k string, v *Value) (int64, bool) {
	if v.Kind != KInt {
		d.typeErr(k, v, "an integer")
		return 0, false
	}
	return v.Int, true
}

func (d *decoder) strings(k string, v *Value) ([]string, bool) {
	if v.Kind != KArray {
		d.typeErr(k, v, "an array of strings")
		return nil, false
	}
	out := []string{}
	ok := true
	for _, e := range v.Arr {
		s, good := d.str(k, e)
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// command reads an array of arguments, or a string run by /bin/sh -c.
func (d *decoder) command(k string, v *Value) ([]string, bool) {
	if v.Kind == KString {
		s, ok := d.str(k, v)
		return []string{"/bin/sh", "-c", s}, ok
	}
	if v.Kind != KArray {
		d.typeErr(k, v, "an array of arguments or a string for /bin/sh -c")
		return nil, false
	}
	return d.strings(k, v)
}

// size reads a size: a string with a unit or a number of bytes.
func (d *decoder) size(k string, v *Value) (int64, bool) {
	switch v.Kind {
	case KInt:
		if v.Int <= 0 {
			d.errorf(v.Pos, "%s = %d: a size must be more than zero", k, v.Int)
			return 0, false
		}
		return v.Int, true
	case KString:
		n, err := ParseBytes(v.Str)
		if err != nil {
			d.errorf(v.Pos, "%s = %q: %v", k, v.Str, err)
			return 0, false
		}
		return n, true
	}
	d.typeErr(k, v, `a size like "512MiB" or a number of bytes`)
	return 0, false
}

// path makes a host path absolute against the TOML file's directory.
func (d *decoder) path(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(d.dir, p)
}

func (d *decoder) envTable(a *App, v *Value) {
	if v.Kind != KTable {
		d.typeErr("env", v, `a table, like env = { LANG = "C.UTF-8" }`)
		return
	}
	if a.Env == nil {
		a.Env = map[string]string{}
	}
	for _, k := range v.Keys {
		e := v.Table[k]
		var s string
		switch e.Kind {
		case KString:
			var ok bool
			if s, ok = d.str("env."+k, e); !ok {
				continue
			}
		case KInt:
			s = strconv.FormatInt(e.Int, 10)
		case KFloat:
			s = strconv.FormatFloat(e.Float, 'f', -1, 64)
		case KBool:
			s = strconv.FormatBool(e.Bool)
		default:
			d.typeErr("env."+k, e, "a string")
			continue
		}
		if k == "" || strings.ContainsAny(k, "= ") {
			d.errorf(e.KeyPos, "env: %q is not a variable name", k)
			continue
		}
		a.Env[k] = s
		a.Sources["env."+k] = e.Pos.String()
	}
}

// mounts decodes [[mount]] tables (table "mount") or [[volume]] tables,
// which are [[mount]]s of type volume whose source is called name.
func (d *decoder) mounts(a *App, v *Value, table string) {
	if v.Kind != KArray {
		d.errorf(v.Pos, "%s: write each one as a [[%s]] table", table, table)
		return
	}
	keys := []string{"type", "source", "target", "read_only", "size", "mode"}
	srcKey := "source"
	if table == "volume" {
		keys, srcKey = []string{"name", "target", "read_only"}, "name"
	}
	for _, t := range v.Arr {
		if t.Kind != KTable {
			d.typeErr(table, t, "a table")
			continue
		}
		m := Mount{Type: "bind"}
		if table == "volume" {
			m.Type = "volume"
		}
		ok := true
		for _, k := range t.Keys {
			e := t.Table[k]
			if !slices.Contains(keys, k) {
				d.unknown(k, e, keys)
				ok = false
				continue
			}
			name := table + "." + k
			switch k {
			case "type":
				if s, good := d.str(name, e); good {
					if s != "bind" && s != "volume" && s != "tmpfs" {
						d.errorf(e.Pos, "%s = %q: valid values are \"bind\", \"volume\", \"tmpfs\"", name, s)
						ok = false
					}
					m.Type = s
				}
			case "source", "name":
				s, good := d.str(name, e)
				if !good {
					ok = false
				} else {
					m.Source = s // made a path below, for a bind
				}
			case "target":
				if s, good := d.str(name, e); good {
					if !filepath.IsAbs(s) {
						d.errorf(e.Pos, "%s = %q: it must be an absolute path in the container, like /%s", name, s, s)
						ok = false
					}
					m.Target = filepath.Clean(s)
				}
			case "read_only":
				m.ReadOnly, _ = d.bool(name, e)
			case "size":
				m.Size, _ = d.size(name, e)
			case "mode":
				if s, good := d.str(name, e); good {
					mode, err := strconv.ParseUint(s, 8, 32)
					if err != nil || mode > 0o7777 {
						d.errorf(e.Pos, "%s = %q: give octal permissions, like \"1777\" or \"700\"", name, s)
						ok = false
					}
					m.Mode = uint32(mode)
				}
			}
		}
		src := t.Table[srcKey]
		switch {
		case m.Target == "" && t.Table["target"] == nil:
			d.errorf(t.Pos, "%s: a [[%s]] needs a target", table, table)
		case m.Type == "bind" && src == nil:
			d.errorf(t.Pos, "%s: a bind mount needs a source (a host path)", table)
		case m.Type == "bind" && m.Source == "":
			if ok {
				d.errorf(src.Pos, `%s.source = "": give a host path, like "./data"`, table)
				ok = false
			}
		case m.Type == "bind":
			m.Source = d.path(m.Source)
			if _, err := os.Stat(m.Source); err != nil {
				d.errorf(src.Pos, "%s.source = %q: %v (create it first)", table, m.Source, errors.Unwrap(err))
				ok = false
			}
		case m.Type == "volume" && m.Source != "":
			if _, err := checkName(m.Source, ""); err != nil {
				d.errorf(src.Pos, "%s.%s = %q: a volume's name: %v (a host path goes in a [[mount]] of type bind)", table, srcKey, m.Source, err)
				ok = false
			}
		case m.Type == "tmpfs" && src != nil:
			d.errorf(src.Pos, "%s.source: a tmpfs mount has no source", table)
		}
		if m.Size != 0 && m.Type != "tmpfs" {
			d.errorf(t.Table["size"].Pos, "%s.size: only a tmpfs mount has a size", table)
		}
		if m.Mode != 0 && m.Type != "tmpfs" {
			d.errorf(t.Table["mode"].Pos, "%s.mode: only a tmpfs mount has a mode", table)
		}
		if prev, dup := a.Sources["mount "+m.Target]; dup && ok && m.Target != "" {
			d.errorf(t.Table["target"].Pos, "%s.target = %q: already mounted by the mount at %s; one mount per target", table, m.Target, prev)
			ok = false
		}
		if ok {
			a.Mounts = append(a.Mounts, m)
			a.Sources["mount "+m.Target] = t.Pos.String()
		}
	}
}

// table decodes [resources] or [security].
func (d *decoder) table(a *App, table string, v *Value) {
	if v.Kind != KTable {
		d.typeErr(table, v, "a table")
		return
	}
	for _, k := range v.Keys {
		e := v.Table[k]
		name := table + "." + k
		key := Lookup(name)
		switch {
		case name == "resources.io":
			d.io(a, &a.Resources, e, name)
		case key == nil:
			d.unknown(k, e, keysIn(table, false))
		default:
			d.value(a, key, e)
		}
	}
	// memory_swap against memory is checked on the merged launch (Check):
	// either may come from another layer.
}

// value decodes one key by its type and checks it.
func (d *decoder) value(a *App, key *Key, v *Value) {
	name, src := key.Name, v.Pos.String()
	switch key.Type {
	case String:
		s, ok := d.str(name, v)
		if !ok {
			return
		}
		// A bad value is kept too: Load's caller sees what was read.
		norm, err := key.CheckString(s, d.dir)
		if err != nil {
			d.errorf(v.Pos, "%s = %q: %v", name, s, err)
		}
		key.Set(a, norm, src)
	case Bool:
		if b, ok := d.bool(name, v); ok {
			key.Set(a, b, src)
		}
	case Int:
		n, ok := d.int(name, v)
		if !ok {
			return
		}
		if err := key.CheckNumber(float64(n)); err != nil {
			d.errorf(v.Pos, "%s = %d: %v", name, n, err)
			return
		}
		key.Set(a, n, src)
	case Number:
		var f float64
		switch v.Kind {
		case KFloat:
			f = v.Float
		case KInt:
			f = float64(v.Int)
		default:
			d.typeErr(name, v, "a number, like 1.5")
			return
		}
		if err := key.CheckNumber(f); err != nil {
			d.errorf(v.Pos, "%s = %v: %v", name, f, err)
			return
		}
		key.Set(a, f, src)
	case Size:
		if n, ok := d.size(name, v); ok {
			key.Set(a, n, src)
		}
	case Strings:
		list, ok := d.strings(name, v)
		if !ok {
			return
		}
		for i, s := range list {
			norm, err := key.CheckString(s, d.dir)
			if err != nil {
				d.errorf(v.Arr[i].Pos, "%s: %q: %v", name, s, err)
				ok = false
			}
			list[i] = norm
		}
		if ok {
			key.Set(a, list, src)
		}
	case Command:
		if c, ok := d.command(name, v); ok {
			key.Set(a, c, src)
		}
	}
}

// io reads [resources.io]: a table per device path of read_bps, write_bps,
// read_iops, write_iops.
func (d *decoder) io(a *App, r *Resources, v *Value, prefix string) {
	if v.Kind != KTable {
		d.typeErr(prefix, v, `a table per device, like io."/dev/vda" = { write_bps = "10MiB" }`)
		return
	}
	for _, dev := range v.Keys {
		t := v.Table[dev]
		if !strings.HasPrefix(dev, "/dev/") {
			d.errorf(t.KeyPos, "%s: %q is not a device path (like /dev/vda)", prefix, dev)
			continue
		}
		if t.Kind != KTable {
			d.typeErr(prefix+"."+dev, t, "a table of read_bps, write_bps, read_iops, write_iops")
			continue
		}
		l := IOLimit{Device: dev}
		for _, k := range t.Keys {
			e := t.Table[k]
			key := prefix + "." + dev + "." + k
			switch k {
			case "read_bps":
				l.ReadBPS, _ = d.size(key, e)
			case "write_bps":
				l.WriteBPS, _ = d.size(key, e)
			case "read_iops":
				if n, ok := d.int(key, e); ok && n > 0 {
					l.ReadIOPS = n
				} else if ok {
					d.errorf(e.Pos, "%s = %d: more than zero", key, n)
				}
			case "write_iops":
				if n, ok := d.int(key, e); ok && n > 0 {
					l.WriteIOPS = n
				} else if ok {
					d.errorf(e.Pos, "%s = %d: more than zero", key, n)
				}
			default:
				d.unknown(k, e, []string{"read_bps", "write_bps", "read_iops", "write_iops"})
			}
		}
		r.IO = append(r.IO, l)
		a.Sources[prefix+"."+dev] = t.Pos.String()
	}
}

// validName reports whether s is a container, network or volume name:
// letters, digits, "_", "." and "-", starting with a letter or digit.
func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		alnum := '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
		if !alnum && (i == 0 || b != '_' && b != '.' && b != '-') {
			return false
		}
	}
	return s != ""
}

// validImageRef checks the shape of an image reference (name[:tag][@digest],
// a 12-64 hex ID, or "host").
func validImageRef(s string) error {
	if reference.Valid(s) {
		return nil
	}
	return errors.New("not an image reference: want name[:tag], like debian:bookworm or registry:5000/team/app:1")
}

// expand replaces ${VAR} from env (undefined is an error), ${VAR:-WORD}
// (WORD when VAR is unset or empty), $$ with one $, and a leading ~ with
// the home directory. A $ before anything else is kept: "$HOME" is left
// for a shell in the container to expand.
func expand(s string, env func(string) (string, bool)) (string, error) {
	if env == nil {
		env = os.LookupEnv
	}
	var b strings.Builder
	if s == "~" || strings.HasPrefix(s, "~/") {
		home, ok := env("HOME")
		if !ok || home == "" {
			return "", errors.New("~ needs HOME to be set")
		}
		b.WriteString(home) // as it is: not expanded again
		s = s[1:]
	}
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 || i == len(s)-1 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			s = s[i+2:]
			continue
		case '{':
		default:
			b.WriteByte('$')
			s = s[i+1:]
			continue
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", errors.New("an unclosed ${ (write $$ for a literal $)")
		}
		name, def, hasDef := strings.Cut(s[i+2:i+j], ":-")
		if !validVarName(name) {
			return "", fmt.Errorf("${%s}: %q is not a variable name (letters, digits and _; write $$ for a literal $)", s[i+2:i+j], name)
		}
		v, ok := env(name)
		switch {
		case hasDef && v == "":
			v = def
		case !ok:
			return "", fmt.Errorf("${%s} is not set in the environment (set it, or give a default: ${%s:-VALUE})", name, name)
		}
		b.WriteString(v)
		s = s[i+j+1:]
	}
}

// validVarName reports whether s is an environment variable's name:
// letters, digits and "_", not starting with a digit.
func validVarName(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		ok := b == '_' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || i > 0 && '0' <= b && b <= '9'
		if !ok {
			return false
		}
	}
	return s != ""
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
