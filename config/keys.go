package config

import (
	"os"

	"github.com/sandbox-dev/sandbox/cdi"

	"errors"
	"fmt"
	"math"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sandbox-dev/sandbox/capability"
	"github.com/sandbox-dev/sandbox/network"
)

// Type is how a launch key's value is written.
type Type int

const (
	String  Type = iota
	Bool         // true or false
	Int          // an integer
	Number       // an integer or a decimal
	Size         // "512MiB" or a number of bytes
	Strings      // an array of strings
	Command      // an array of arguments, or a string for /bin/sh -c
	Table        // read by its own code: env, [[mount]], io
)

var typeNames = map[Type]string{
	String: "string", Bool: "boolean", Int: "integer", Number: "number", Size: "size",
	Strings: "array of strings", Command: "array or string", Table: "table",
}

func (t Type) String() string { return typeNames[t] }

// Key is one launch setting. Keys is the one list of them: the launch
// file's decoder, config.toml's, the merge, --dry-run's TOML, Check's
// names, the run flags that map one to one, and docs/config.md's key
// table (TestKeysDoc) all read it.
type Key struct {
	// Name is the TOML key; a key in a table is "table.key".
	Name string
	Type Type
	// Flag is the run flag that sets it, without dashes ("" for none); a
	// key whose flag does not give its value as is (-v, -e,
	// --security-opt) has Custom set and is read by the command line's
	// own code.
	Flag    string
	Short   string
	Aliases []string
	Custom  bool
	// FlagDoc is how docs/config.md spells the flag when it is not --Flag.
	FlagDoc string
	// Doc says what the key means, for --help and docs/config.md.
	Doc string
	// Default is the value Defaults sets (nil: none); DefaultDoc is what
	// applies when nothing sets the key and there is no Default.
	Default    any
	DefaultDoc string
	// User keys may also be set in config.toml, for every launch.
	User bool
	// field is the App field the key sets: *string, *bool, *int, *int64,
	// *float64, *[]string or **bool.
	field func(*App) any
	// check refuses a bad value and may normalize it (a capability name,
	// a seccomp path made absolute against dir). It gets one element of
	// a Strings key. Its message names neither the key nor the value.
	check func(s, dir string) (string, error)
	// checkNum refuses a bad Int or Number.
	checkNum func(float64) error
}

// Keys are the launch keys, in the order docs/config.md and --dry-run
// list them.
var Keys = []*Key{
	{Name: "image", Type: String, FlagDoc: "IMAGE argument", Doc: "the image to run", DefaultDoc: "required",
		field: func(a *App) any { return &a.Image }, check: checkImageRef},
	{Name: "name", Type: String, Flag: "name", Doc: "the container's name", DefaultDoc: "generated",
		field: func(a *App) any { return &a.Name }, check: checkName},
	{Name: "command", Type: Command, FlagDoc: "COMMAND arguments", Doc: "the command, replacing the image's", DefaultDoc: "the image's",
		field: func(a *App) any { return &a.Command }},
	{Name: "entrypoint", Type: Command, Flag: "entrypoint", Custom: true, Doc: "replace the image's entrypoint (`[]` clears it)", DefaultDoc: "the image's",
		field: func(a *App) any { return &a.Entrypoint }},
	{Name: "workdir", Type: String, Flag: "workdir", Short: "w", Doc: "working directory inside the container", DefaultDoc: "the image's",
		field: func(a *App) any { return &a.Workdir }, check: checkAbsInContainer},
	{Name: "user", Type: String, Flag: "user", Short: "u", User: true, Doc: "user to run as: name, uid, uid:gid or name:group", DefaultDoc: "the image's",
		field: func(a *App) any { return &a.User }},
	{Name: "userns", Type: String, Flag: "userns", Doc: "keep-id: your own uid and gid inside (not root), so that files you write to a bind mount are yours; needs subordinate ids, and copies the image's files once per container", DefaultDoc: "your uid is the container's root",
		field: func(a *App) any { return &a.UserNS }, check: checkUserNS},
	{Name: "group_add", Type: Strings, Flag: "group-add", Doc: "more supplementary groups for the container's processes: group ids, or names in the image's /etc/group", DefaultDoc: "none",
		field: func(a *App) any { return &a.GroupAdd }, check: checkGroup},
	{Name: "hostname", Type: String, Flag: "hostname", Doc: "the container's hostname", DefaultDoc: "the container's short ID",
		field: func(a *App) any { return &a.Hostname }, check: checkHostname},
	{Name: "pod", Type: String, Flag: "pod", Doc: "run in this pod (`sandbox pod create`): its network, ports and hostname are the pod's", DefaultDoc: "none",
		field: func(a *App) any { return &a.Pod }, check: checkName},
	{Name: "read_only", Type: Bool, Flag: "read-only", User: true, Doc: "mount the container's root read-only", DefaultDoc: "`false`",
		field: func(a *App) any { return &a.ReadOnly }},
	{Name: "network", Type: String, Flag: "net", Aliases: []string{"network"}, User: true, Default: "host",
		Doc:   "host (share the host's), none (only lo), slirp (private, with outbound access; pasta or slirp4netns), or networks made by `sandbox network create`, comma separated",
		field: func(a *App) any { return &a.Network }, check: checkNetwork},
	{Name: "network_aliases", Type: Strings, Flag: "network-alias", Doc: "more names the container has on its user-defined networks", DefaultDoc: "none",
		field: func(a *App) any { return &a.NetworkAliases }, check: checkName},
	{Name: "ports", Type: Strings, Flag: "publish", Short: "p", Doc: "publish a port: [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp] (needs a private network; IP defaults to 127.0.0.1)", DefaultDoc: "none",
		field: func(a *App) any { return &a.Ports }, check: checkPort},
	{Name: "dns", Type: Strings, Flag: "dns", User: true, Doc: "nameservers for /etc/resolv.conf (replace the default ones)", DefaultDoc: "the host's",
		field: func(a *App) any { return &a.DNS }, check: checkIP},
	{Name: "add_hosts", Type: Strings, Flag: "add-host", User: true, Doc: "/etc/hosts entries: NAME:IP (IP may be host-gateway)", DefaultDoc: "none",
		field: func(a *App) any { return &a.AddHosts }, check: checkAddHost},
	{Name: "devices", Type: Strings, Flag: "device", Doc: "host devices to give: HOSTPATH[:CONTAINERPATH][:rwm], bound with the host's owner and mode (docs/devices.md)", DefaultDoc: "none",
		field: func(a *App) any { return &a.Devices }, check: checkDevice},
	{Name: "env", Type: Table, Flag: "env", Short: "e", Custom: true, User: true, Doc: "environment variables (KEY=VALUE, or KEY to copy it)", DefaultDoc: "the image's"},
	{Name: "env_file", Type: String, Flag: "env-file", Custom: true, Doc: "read KEY=VALUE lines from a file", DefaultDoc: "none",
		field: func(a *App) any { return &a.EnvFile }},
	{Name: "mount", Type: Table, Flag: "volume", Short: "v", Custom: true, FlagDoc: "--volume, -v SRC:DST[:ro]; --mount type=bind|tmpfs,…; --tmpfs PATH[:size=…,mode=…]", Doc: "a bind, volume or tmpfs mount ([[mount]] tables: type, source, target, read_only; size and mode for tmpfs)", DefaultDoc: "none"},
	{Name: "volume", Type: Table, Custom: true, FlagDoc: "-v NAME:DST[:ro], --mount type=volume,…", Doc: "a named volume, made on first use ([[volume]] tables: name, target, read_only; no name: an anonymous volume)", DefaultDoc: "none"},
	{Name: "shm_size", Type: Size, Flag: "shm-size", Doc: "the size of /dev/shm, like 256MiB", DefaultDoc: "64MiB",
		field: func(a *App) any { return &a.ShmSize }},
	{Name: "resources.memory", Type: Size, Flag: "memory", User: true, Doc: "memory limit, like 512MiB", DefaultDoc: "no limit",
		field: func(a *App) any { return &a.Resources.Memory }},
	{Name: "resources.memory_swap", Type: Size, Flag: "memory-swap", User: true, Doc: "memory plus swap limit (Docker's meaning); not less than memory", DefaultDoc: "no limit",
		field: func(a *App) any { return &a.Resources.MemorySwap }},
	{Name: "resources.cpus", Type: Number, Flag: "cpus", User: true, Doc: "CPUs' worth of time, like 1.5", DefaultDoc: "no limit",
		field: func(a *App) any { return &a.Resources.CPUs }, checkNum: checkCPUs},
	{Name: "resources.pids", Type: Int, Flag: "pids-limit", User: true, Doc: fmt.Sprintf("processes and threads; at least %d", MinPids), DefaultDoc: "no limit",
		field: func(a *App) any { return &a.Resources.Pids }, checkNum: checkPids},
	{Name: "resources.io", Type: Table, Flag: "device-read-bps", Custom: true, User: true, FlagDoc: "--device-read-bps, --device-write-bps DEVICE:RATE",
		Doc: "per-device I/O limits: read_bps, write_bps, read_iops, write_iops", DefaultDoc: "no limit"},
	{Name: "security.cap_add", Type: Strings, Flag: "cap-add", User: true, Doc: "add capabilities (like NET_ADMIN)", DefaultDoc: "none",
		field: func(a *App) any { return &a.Security.CapAdd }, check: checkCap},
	{Name: "security.cap_drop", Type: Strings, Flag: "cap-drop", User: true, Doc: "drop capabilities (or ALL)", DefaultDoc: "none",
		field: func(a *App) any { return &a.Security.CapDrop }, check: checkCap},
	{Name: "security.no_new_privileges", Type: Bool, Flag: "security-opt", Custom: true, User: true, FlagDoc: "--security-opt no-new-privileges[=true|false]",
		Doc: "setuid programs gain nothing", Default: true, field: func(a *App) any { return &a.Security.NoNewPrivileges }},
	{Name: "security.seccomp", Type: String, Flag: "security-opt", Custom: true, User: true, FlagDoc: "--security-opt seccomp=…",
		Doc: `"default", "unconfined", or a profile file in Docker's JSON format`, Default: "default",
		field: func(a *App) any { return &a.Security.Seccomp }, check: SeccompProfile},
	{Name: "security.fakeroot", Type: Bool, Flag: "security-opt", Custom: true, User: true, FlagDoc: "--security-opt fakeroot=true|false",
		Doc: "root emulation (chown and setuid calls succeed without effect); never with subordinate ids", DefaultDoc: "on in single-id mode",
		field: func(a *App) any { return &a.Security.FakeRoot }},
	{Name: "restart", Type: String, Flag: "restart", User: true, Doc: "with -d: restart policy " + strings.Join(RestartPolicies, ", "), Default: "no",
		field: func(a *App) any { return &a.Restart }, check: oneOf(RestartPolicies)},
	{Name: "stop_timeout", Type: Int, Flag: "stop-timeout", User: true, Doc: "seconds stop waits before killing", Default: 10,
		field: func(a *App) any { return &a.StopTimeout }, checkNum: checkStopTimeout},
	{Name: "labels", Type: Strings, Flag: "label", Short: "l", Doc: "labels: KEY=VALUE (ps --filter label=KEY[=VALUE] finds them)", DefaultDoc: "none",
		field: func(a *App) any { return &a.Labels }, check: checkLabel},
	{Name: "cidfile", Type: String, Flag: "cidfile", Doc: "write the container's ID to this file, which must not exist", DefaultDoc: "none",
		field: func(a *App) any { return &a.CIDFile }, check: checkCIDFile},
	{Name: "privileged", Type: Bool, Flag: "privileged", Doc: "every capability, no seccomp filter, nothing of /proc or /sys masked: all inside the user namespace, which still keeps the host's root out of reach", DefaultDoc: "`false`",
		field: func(a *App) any { return &a.Privileged }},
	{Name: "ulimits", Type: Strings, Flag: "ulimit", Doc: "resource limits of the container's processes: NAME=SOFT[:HARD], like nofile=1024:4096 (a hard limit above the host's needs root)", DefaultDoc: "the user's; open files: the user's hard limit, soft and hard, as Podman gives",
		field: func(a *App) any { return &a.Ulimits }, check: checkUlimit},
	{Name: "sysctls", Type: Strings, Flag: "sysctl", Doc: "namespaced kernel settings: NAME=VALUE, net.* (with a network of its own), kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*", DefaultDoc: "none",
		field: func(a *App) any { return &a.Sysctls }, check: checkSysctl},
	{Name: "pull", Type: String, Flag: "pull", Doc: "when to pull the image: missing (when it is not here), always, or never", DefaultDoc: "`\"missing\"`",
		field: func(a *App) any { return &a.Pull }, check: oneOf(PullPolicies)},
	{Name: "health_cmd", Type: String, Flag: "health-cmd", Doc: "a health check: a shell command run in the container every health_interval, healthy when it exits 0 (`sandbox healthcheck run`)", DefaultDoc: "the image's HEALTHCHECK",
		field: func(a *App) any { return &a.HealthCmd }},
	{Name: "health_interval", Type: String, Flag: "health-interval", Doc: "time between health checks, like 30s", DefaultDoc: "`\"30s\"`",
		field: func(a *App) any { return &a.HealthInterval }, check: checkDuration},
	{Name: "health_timeout", Type: String, Flag: "health-timeout", Doc: "how long a health check may take before it counts as failed", DefaultDoc: "`\"30s\"`",
		field: func(a *App) any { return &a.HealthTimeout }, check: checkDuration},
	{Name: "health_start_period", Type: String, Flag: "health-start-period", Doc: "time after the start when failed checks do not count", DefaultDoc: "`\"0s\"`",
		field: func(a *App) any { return &a.HealthStartPeriod }, check: checkDuration},
	{Name: "health_retries", Type: Int, Flag: "health-retries", Doc: "failed checks in a row that make the container unhealthy", DefaultDoc: "`3`",
		field: func(a *App) any { return &a.HealthRetries }, checkNum: checkPositive},
	{Name: "no_healthcheck", Type: Bool, Flag: "no-healthcheck", Doc: "no health check, not even the image's", DefaultDoc: "`false`",
		field: func(a *App) any { return &a.NoHealthcheck }},
	{Name: "init", Type: Bool, Flag: "init", Doc: "accepted for Docker's sake: sandbox's own init is always the container's PID 1, reaping and forwarding signals", DefaultDoc: "`true` (always)",
		field: func(a *App) any { return &a.Init }},
}

// Lookup is the key named name, or nil.
func Lookup(name string) *Key {
	for _, k := range Keys {
		if k.Name == name {
			return k
		}
	}
	return nil
}

// tableOf is the table a key is in ("" for the top level) and its last part.
func tableOf(name string) (table, last string) {
	if i := strings.IndexByte(name, '.'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return "", name
}

// keysIn are the key names a table holds (a sub-table by its name),
// config.toml's only when user.
func keysIn(table string, user bool) []string {
	var out []string
	for _, k := range Keys {
		if user && !k.User {
			continue
		}
		t, last := tableOf(k.Name)
		if t == table {
			out = append(out, last)
		} else if table == "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// FlagName is the key as a flag: "--memory-swap", or the key's name when
// no flag sets it alone.
func (k *Key) FlagName() string {
	if k.Flag == "" || k.Custom {
		return k.Name
	}
	return "--" + k.Flag
}

// CheckString checks a String key's value, or one element of a Strings
// key's, and returns it normalized (dir: where relative paths start).
func (k *Key) CheckString(s, dir string) (string, error) {
	if k.check == nil {
		return s, nil
	}
	return k.check(s, dir)
}

// CheckNumber checks an Int or Number key's value.
func (k *Key) CheckNumber(f float64) error {
	if k.checkNum == nil {
		return nil
	}
	return k.checkNum(f)
}

// FlagError is a bad value given to k's flag, worded as a launch file's
// mistake is (Key.fileError) but naming the flag.
func (k *Key) FlagError(value any, err error) error {
	return fmt.Errorf("%s %s: %w", k.FlagName(), showValue(value), err)
}

func showValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

// Set sets k's field in a to v (a string, bool, int64, float64 or
// []string, as k.Type reads) and records src as where it came from.
func (k *Key) Set(a *App, v any, src string) {
	switch p := k.field(a).(type) {
	case *string:
		*p = v.(string)
	case *bool:
		*p = v.(bool)
	case **bool:
		b := v.(bool)
		*p = &b
	case *int:
		*p = int(v.(int64))
	case *int64:
		*p = v.(int64)
	case *float64:
		*p = v.(float64)
	case *[]string:
		*p = v.([]string)
		if k.Name == "entrypoint" {
			a.EntrypointSet = true
		}
	}
	a.Sources[k.Name] = src
}

// Normalize turns v, a value as encoding/json decodes it into an any (a
// string, bool, float64, or []any of strings), into what Set takes for
// k: a whole number for an integer field, a []string for a list. Values
// already of Set's types pass as they are.
func (k *Key) Normalize(v any) (any, error) {
	switch k.field(&App{}).(type) {
	case *string:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case *bool, **bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case *int, *int64:
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<62 {
				return int64(x), nil
			}
		}
	case *float64:
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		}
	case *[]string:
		switch x := v.(type) {
		case []string:
			return x, nil
		case []any:
			out := make([]string, 0, len(x))
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil, k.wrongType(v)
				}
				out = append(out, s)
			}
			return out, nil
		}
	}
	return nil, k.wrongType(v)
}

// wrongType is Normalize's refusal of v.
func (k *Key) wrongType(v any) error {
	return fmt.Errorf("%s: want a %s, not %s", k.Name, k.Type, showValue(v))
}

// copyTo copies k's value from src to dst.
func (k *Key) copyTo(dst, src *App) {
	switch p := k.field(dst).(type) {
	case *string:
		*p = *k.field(src).(*string)
	case *bool:
		*p = *k.field(src).(*bool)
	case **bool:
		*p = *k.field(src).(**bool)
	case *int:
		*p = *k.field(src).(*int)
	case *int64:
		*p = *k.field(src).(*int64)
	case *float64:
		*p = *k.field(src).(*float64)
	case *[]string:
		*p = *k.field(src).(*[]string)
		if k.Name == "entrypoint" {
			dst.EntrypointSet = true
		}
	}
}

// toml is k's value in a as TOML.
func (k *Key) toml(a *App) string {
	switch p := k.field(a).(type) {
	case *string:
		return tomlString(*p)
	case *bool:
		return strconv.FormatBool(*p)
	case **bool:
		return strconv.FormatBool(*p != nil && **p)
	case *int:
		return strconv.Itoa(*p)
	case *int64:
		if k.Type == Size {
			return tomlString(ExactBytes(*p))
		}
		return strconv.FormatInt(*p, 10)
	case *float64:
		return strconv.FormatFloat(*p, 'f', -1, 64)
	case *[]string:
		q := make([]string, len(*p))
		for i, s := range *p {
			q[i] = tomlString(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return ""
}

// The value checks. Each message says what is wrong and what is valid,
// without the key or the value, which the caller adds as its source
// spells them.

// checkUserNS takes keep-id, the one mode besides the default.
func checkUserNS(s, _ string) (string, error) {
	if s == "" || s == "keep-id" {
		return s, nil
	}
	return s, errors.New(`valid values are "keep-id" (Podman's other modes, host, auto and nomap, have no rootless meaning here: a sandbox always has a user namespace of its own)`)
}

// checkGroup takes a group id or a group name.
func checkGroup(s, _ string) (string, error) {
	if s == "" || strings.ContainsAny(s, ":, \t\n") {
		return s, errors.New("give a group id or a group name")
	}
	if s == "keep-groups" {
		return s, errors.New("keep-groups (the user's own groups) is not supported: give the group ids the container needs")
	}
	return s, nil
}

// checkDuration takes a Go duration of zero or more, like 30s or 1m30s.
func checkDuration(s, _ string) (string, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return s, errors.New("give a duration, like 30s, 500ms or 1m30s")
	}
	return s, nil
}

func checkPositive(f float64) error {
	if f < 1 || f != math.Trunc(f) {
		return errors.New("give a whole number of 1 or more")
	}
	return nil
}

// checkNetwork takes a mode, or the names of networks.
func checkNetwork(s, dir string) (string, error) {
	if network.IsMode(s) {
		return s, nil
	}
	for _, n := range strings.Split(s, ",") {
		if strings.TrimSpace(n) == "bridge" {
			return s, fmt.Errorf("Docker's default network is \"slirp\" here (a private network of the container's own); for containers that reach each other by name, make a network (`sandbox network create NAME`) and name it")
		}
		if _, err := checkName(strings.TrimSpace(n), dir); err != nil || network.IsMode(strings.TrimSpace(n)) {
			return s, fmt.Errorf("valid values are %s, or the names of networks (`sandbox network ls`), comma separated", quoteList(NetworkModes))
		}
	}
	return s, nil
}

func oneOf(valid []string) func(s, dir string) (string, error) {
	return func(s, _ string) (string, error) {
		if slices.Contains(valid, s) {
			return s, nil
		}
		return s, fmt.Errorf("valid values are %s", quoteList(valid))
	}
}

func quoteList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

func checkImageRef(s, _ string) (string, error) { return s, validImageRef(s) }

func checkName(s, _ string) (string, error) {
	if !validName(s) {
		return s, errors.New("use letters, digits, _ . and -, starting with a letter or digit")
	}
	return s, nil
}

func checkAbsInContainer(s, _ string) (string, error) {
	if !filepath.IsAbs(s) {
		return s, errors.New("it must be an absolute path in the container")
	}
	return s, nil
}

func checkHostname(s, _ string) (string, error) {
	if s == "" || len(s) > 64 || strings.ContainsAny(s, " /\t\n") {
		return s, errors.New("1 to 64 characters, no spaces or slashes")
	}
	return s, nil
}

func checkPort(s, _ string) (string, error) {
	_, err := network.ParsePort(s)
	return s, err
}

func checkIP(s, _ string) (string, error) {
	if net.ParseIP(s) == nil {
		return s, errors.New(`not an IP address: give nameservers' addresses, like "1.1.1.1"`)
	}
	return s, nil
}

func checkDevice(s, _ string) (string, error) {
	if cdi.IsName(s) {
		return s, nil // resolved when the container is made
	}
	_, err := ParseDevice(s)
	return s, err
}

// PullPolicies are the values of the pull key.
var PullPolicies = []string{"missing", "always", "never"}

func checkUlimit(s, _ string) (string, error) {
	_, err := ParseUlimit(s)
	return s, err
}

// namespacedSysctls are the settings a sandbox's own namespaces hold
// (IPC, mqueue, network): any other would be the host's.
var namespacedSysctls = []string{"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
	"kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced", "fs.mqueue.", "net."}

func checkSysctl(s, _ string) (string, error) {
	name, _, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return s, errors.New("want NAME=VALUE, like net.ipv4.ip_forward=1")
	}
	for _, p := range namespacedSysctls {
		if name == p || strings.HasSuffix(p, ".") && strings.HasPrefix(name, p) {
			return s, nil
		}
	}
	return s, fmt.Errorf("%s is not namespaced: setting it would change the host (namespaced: net.*, kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*)", name)
}

func checkLabel(s, _ string) (string, error) {
	if k, _, _ := strings.Cut(s, "="); k == "" {
		return s, errors.New("want KEY=VALUE (or KEY)")
	}
	return s, nil
}

func checkCIDFile(s, dir string) (string, error) {
	if !filepath.IsAbs(s) {
		s = filepath.Join(dir, s)
	}
	if _, err := os.Lstat(s); err == nil {
		return s, errors.New("the file exists: remove it first (a stale ID would name another container)")
	}
	return s, nil
}

func checkAddHost(s, _ string) (string, error) {
	_, _, err := network.ParseAddHost(s)
	return s, err
}

func checkCap(s, _ string) (string, error) {
	n, err := capability.Normalize(s)
	if err != nil {
		return s, errors.New("not a capability (like NET_ADMIN or CAP_SYS_PTRACE)")
	}
	return n, nil
}

func checkCPUs(f float64) error {
	if !(f > 0) || math.IsInf(f, 0) {
		return errors.New("a number of CPUs more than zero, like 1.5")
	}
	return nil
}

func checkPids(f float64) error {
	if f < MinPids {
		return fmt.Errorf("at least %d (sandbox's init alone runs about ten threads, and the kernel counts threads)", MinPids)
	}
	return nil
}

func checkStopTimeout(f float64) error {
	if f < 0 {
		return errors.New("seconds, zero or more")
	}
	return nil
}

// KeysMarkdown is the key table of docs/config.md.
func KeysMarkdown() string {
	var b strings.Builder
	b.WriteString("| Key | Type | Default | Flag | config.toml | Meaning |\n|---|---|---|---|---|---|\n")
	for _, k := range Keys {
		key := "`" + k.Name + "`"
		if t, last := tableOf(k.Name); t != "" {
			key = "`[" + t + "]` `" + last + "`"
		}
		if k.Name == "mount" || k.Name == "volume" {
			key = "`[[" + k.Name + "]]`"
		}
		def := k.DefaultDoc
		if k.Default != nil {
			def = "`" + fmt.Sprint(showTOML(k.Default)) + "`"
		}
		flag := "—"
		switch {
		case k.FlagDoc != "":
			flag = "`" + k.FlagDoc + "`"
		case k.Flag != "":
			flag = "`--" + k.Flag + "`"
			if k.Short != "" {
				flag = "`--" + k.Flag + "`, `-" + k.Short + "`"
			}
		}
		user := "no"
		if k.User {
			user = "yes"
		}
		doc := strings.ReplaceAll(k.Doc, "|", `\|`)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", key, k.Type, def, strings.ReplaceAll(flag, "|", `\|`), user, doc)
	}
	return b.String()
}

func showTOML(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}
