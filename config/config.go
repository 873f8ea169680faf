package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// User is the user's config.toml. Unknown keys are errors: a typo must
// never silently drop a setting.
type User struct {
	// StorageDriver forces a storage driver: "overlay", "fuse-overlayfs" or "vfs".
	StorageDriver string
	// StorageRoot replaces $XDG_DATA_HOME/sandbox.
	StorageRoot string
	// UserNS is "auto" (subordinate ids when usable) or "single".
	UserNS string
	// Network is the default for --net: "host", "none" or "slirp".
	Network string
	// Registries says where short names are looked up and which registries
	// may be reached over plain HTTP.
	Registries Registries
	// Cgroups is the policy for resource limits sandbox cannot enforce:
	// "required" (the default: refuse to run), "best-effort" (run, with a
	// warning per limit dropped) or "off" (no cgroups at all).
	Cgroups string
	// LogSize caps a detached container's log (bytes; 0: no cap).
	LogSize int64
	// CDISpecDirs are where Container Device Interface specs are read
	// (default: cdi.DefaultDirs).
	CDISpecDirs []string
	// Defaults are launch settings that apply to every container (network,
	// env, resources, security, restart, stop_timeout, read_only, user).
	Defaults *App
}

// Registries is the [registries] table.
type Registries struct {
	// Search is tried in order for names without a registry ("debian").
	// Default: docker.io.
	Search []string `toml:"search"`
	// Insecure registries are reached over HTTP, or HTTPS without
	// certificate checks (like --tls-verify=false for them alone).
	Insecure []string `toml:"insecure"`
}

// SearchRegistries returns the search list, with its default.
func (u User) SearchRegistries() []string {
	if len(u.Registries.Search) == 0 {
		return []string{"docker.io"}
	}
	return u.Registries.Search
}

// Paths are where sandbox keeps its state.
type Paths struct {
	Data    string // images, layers, containers
	Runtime string // sockets and pids of live containers
	Config  string // config.toml
}

// DefaultPaths follows the XDG base directory spec.
func DefaultPaths() Paths {
	home, _ := os.UserHomeDir()
	data := os.Getenv("XDG_DATA_HOME")
	if data == "" {
		data = filepath.Join(home, ".local", "share")
	}
	cfg := os.Getenv("XDG_CONFIG_HOME")
	if cfg == "" {
		cfg = filepath.Join(home, ".config")
	}
	run := os.Getenv("XDG_RUNTIME_DIR")
	if run == "" {
		run = filepath.Join(os.TempDir(), "sandbox-"+strconv.Itoa(os.Getuid()))
	} else {
		run = filepath.Join(run, "sandbox")
	}
	return Paths{
		Data:    filepath.Join(data, "sandbox"),
		Runtime: run,
		Config:  filepath.Join(cfg, "sandbox", "config.toml"),
	}
}

// userKeys are config.toml's own keys (the launch keys it may set are
// Keys with User).
var userKeys = []string{"storage_driver", "storage_root", "userns", "registries", "cgroups", "log_size", "cdi_spec_dirs"}

// Load reads config.toml at path; a missing file is the empty config.
// Every mistake is reported at once, with file:line:column.
func Load(path string) (User, error) {
	u := User{Defaults: &App{Sources: map[string]string{}}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return u, nil
	}
	if err != nil {
		return u, fmt.Errorf("reading %q: %w", path, err)
	}
	root, err := parseTOML(path, data)
	if err != nil {
		return u, err
	}
	d := &decoder{dir: filepath.Dir(path)}
	launch := keysIn("", true)
	valid := append(append([]string{}, userKeys...), launch...)
	u.Defaults = d.appKeys(root, func(k string, v *Value) bool {
		switch k {
		case "storage_driver":
			u.StorageDriver, _ = d.str(k, v)
		case "storage_root":
			u.StorageRoot, _ = d.str(k, v)
		case "userns":
			u.UserNS, _ = d.str(k, v)
		case "cgroups":
			u.Cgroups, _ = d.str(k, v)
		case "log_size":
			u.LogSize, _ = d.size(k, v)
		case "cdi_spec_dirs":
			u.CDISpecDirs, _ = d.strings(k, v)
		case "registries":
			d.registries(&u.Registries, v)
		default:
			if slices.Contains(launch, k) {
				return false
			}
			if slices.Contains(keysIn("", false), k) {
				d.errorf(v.KeyPos, "%q belongs in a launch file (app.toml), not in config.toml", k)
				return true
			}
			d.unknown(k, v, valid)
		}
		return true
	})
	u.Network = u.Defaults.Network
	if err := u.Validate(path); err != nil {
		d.errs = append(d.errs, err.(interface{ Unwrap() []error }).Unwrap()...)
	}
	return u, errors.Join(d.errs...)
}

func (d *decoder) registries(r *Registries, v *Value) {
	if v.Kind != KTable {
		d.typeErr("registries", v, "a table")
		return
	}
	for _, k := range v.Keys {
		e := v.Table[k]
		switch k {
		case "search":
			r.Search, _ = d.strings("registries.search", e)
		case "insecure":
			r.Insecure, _ = d.strings("registries.insecure", e)
		default:
			d.unknown(k, e, []string{"search", "insecure"})
		}
	}
}

// Validate checks values the decoder cannot.
func (u User) Validate(path string) error {
	var errs []error
	switch u.StorageDriver {
	case "", "auto", "overlay", "fuse-overlayfs", "vfs":
	default:
		errs = append(errs, fmt.Errorf("%s: storage_driver = %q: valid values are \"overlay\", \"fuse-overlayfs\", \"vfs\"", path, u.StorageDriver))
	}
	switch u.UserNS {
	case "", "auto", "single":
	default:
		errs = append(errs, fmt.Errorf("%s: userns = %q: valid values are \"auto\", \"single\"", path, u.UserNS))
	}
	switch u.Cgroups {
	case "", "required", "best-effort", "off":
	default:
		errs = append(errs, fmt.Errorf("%s: cgroups = %q: valid values are \"required\", \"best-effort\", \"off\"", path, u.Cgroups))
	}
	for _, r := range append(append([]string{}, u.Registries.Search...), u.Registries.Insecure...) {
		if r == "" || strings.ContainsAny(r, "/ \t") {
			errs = append(errs, fmt.Errorf("%s: registries: %q is not a registry host (like docker.io or 127.0.0.1:5000)", path, r))
		}
	}
	if u.StorageRoot != "" && !filepath.IsAbs(u.StorageRoot) {
		errs = append(errs, fmt.Errorf("%s: storage_root = %q must be an absolute path", path, u.StorageRoot))
	}
	return errors.Join(errs...)
}
