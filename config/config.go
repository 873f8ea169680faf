package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// User is the user's config.toml. Unknown keys are errors: a typo must
// never silently drop a setting.
type User struct {
	// StorageDriver forces a storage driver: "overlay", "fuse-overlayfs" or "vfs".
	StorageDriver string `toml:"storage_driver"`
	// StorageRoot replaces $XDG_DATA_HOME/sandbox.
	StorageRoot string `toml:"storage_root"`
	// UserNS is "auto" (subordinate ids when usable) or "single".
	UserNS string `toml:"userns"`
	// Network is the default for --net: "host" or "none".
	Network string `toml:"network"`
	// Registries says where short names are looked up and which registries
	// may be reached over plain HTTP.
	Registries Registries `toml:"registries"`
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

// validKeys lists config.toml's keys for error messages.
const validKeys = "storage_driver, storage_root, userns, network, [registries] search, insecure"

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

// Load reads config.toml at path; a missing file is the empty config.
func Load(path string) (User, error) {
	var u User
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return u, nil
	}
	if err != nil {
		return u, fmt.Errorf("reading %q: %w", path, err)
	}
	dec := toml.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		// Unknown keys first: that error also unwraps to DecodeErrors, one
		// per key, and every one of them is worth reporting.
		var se *toml.StrictMissingError
		if errors.As(err, &se) {
			var errs []error
			for i := range se.Errors {
				de := &se.Errors[i]
				row, col := de.Position()
				errs = append(errs, fmt.Errorf("%s:%d:%d: unknown key %q (valid keys: %s)", path, row, col, strings.Join(de.Key(), "."), validKeys))
			}
			return u, errors.Join(errs...)
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return u, fmt.Errorf("%s:%d:%d: %v", path, row, col, de.Error())
		}
		return u, fmt.Errorf("%s: %w", path, err)
	}
	return u, u.Validate(path)
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
	switch u.Network {
	case "", "host", "none":
	default:
		errs = append(errs, fmt.Errorf("%s: network = %q: valid values are \"host\", \"none\"", path, u.Network))
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
