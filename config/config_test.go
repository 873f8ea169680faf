package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// writeConfig writes content to a config.toml in a fresh directory and
// returns its path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadMissingFileIsZeroConfig(t *testing.T) {
	u, err := Load(filepath.Join(t.TempDir(), "no-such-dir", "config.toml"))
	if err != nil {
		t.Fatalf("Load of a missing file: %v, want no error", err)
	}
	u.Defaults = nil
	if !reflect.DeepEqual(u, User{}) {
		t.Errorf("Load of a missing file = %+v, want the zero config", u)
	}
}

func TestLoadValid(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    User
	}{
		{"empty file", "", User{}},
		{"comments only", "# nothing set\n\n", User{}},
		{
			name: "every key",
			content: `# my defaults
storage_driver = "vfs"
storage_root = "/srv/sandbox"
userns = "single"
network = "none"
`,
			want: User{StorageDriver: "vfs", StorageRoot: "/srv/sandbox", UserNS: "single", Network: "none"},
		},
		{"fuse-overlayfs", `storage_driver = "fuse-overlayfs"`, User{StorageDriver: "fuse-overlayfs"}},
		{"auto values", "storage_driver = \"auto\"\nuserns = \"auto\"\n", User{StorageDriver: "auto", UserNS: "auto"}},
		{"overlay and host", "storage_driver = 'overlay'\nnetwork = 'host'\n", User{StorageDriver: "overlay", Network: "host"}},
		{
			name:    "registries",
			content: "[registries]\nsearch = [\"quay.io\", \"docker.io\"]\ninsecure = [\"127.0.0.1:5000\"]\n",
			want:    User{Registries: Registries{Search: []string{"quay.io", "docker.io"}, Insecure: []string{"127.0.0.1:5000"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeConfig(t, tt.content)
			got, err := Load(p)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got.Defaults = nil // launch defaults: tested with the launch files
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Load = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// hasPosition reports whether msg holds "path:LINE:COLUMN".
func hasPosition(msg, path string, line int) bool {
	re := regexp.MustCompile(regexp.QuoteMeta(path) + `:` + strconv.Itoa(line) + `:[0-9]+`)
	return re.MatchString(msg)
}

func TestLoadDecodeErrors(t *testing.T) {
	tests := []struct {
		name     string
		content  string
		line     int      // the line the error must point at
		mentions []string // further substrings the message must hold
	}{
		{
			name:     "unknown key",
			content:  "storage_drivr = \"vfs\"\n",
			line:     1,
			mentions: []string{"unknown key", "storage_drivr", "storage_driver"},
		},
		{
			name:     "unknown key on a later line",
			content:  "# defaults\nnetwork = \"none\"\nstorage_drivr = \"vfs\"\n",
			line:     3,
			mentions: []string{"unknown key", "storage_drivr", "storage_driver"},
		},
		{
			name:     "wrong type",
			content:  "network = \"none\"\nstorage_driver = 5\n",
			line:     2,
			mentions: []string{"integer"},
		},
		{
			name:    "syntax error",
			content: "userns = \n",
			line:    1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeConfig(t, tt.content)
			_, err := Load(p)
			if err == nil {
				t.Fatalf("Load(%q) succeeded, want an error", tt.content)
			}
			msg := err.Error()
			if !hasPosition(msg, p, tt.line) {
				t.Errorf("error %q does not hold %s:%d:COLUMN", msg, p, tt.line)
			}
			for _, s := range tt.mentions {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not mention %q", msg, s)
				}
			}
		})
	}
}

func TestLoadUnreadable(t *testing.T) {
	// A directory where the file should be: reading fails with something
	// other than "not exist", which must be an error naming the path.
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil {
		t.Fatal("Load of a directory succeeded, want an error")
	}
	if !strings.Contains(err.Error(), p) {
		t.Errorf("error %q does not name %q", err, p)
	}
}

func TestLoadBadValuesReportedTogether(t *testing.T) {
	p := writeConfig(t, `storage_driver = "btrfs"
storage_root = "relative/dir"
userns = "keep-id"
network = "bridge"
`)
	u, err := Load(p)
	if err == nil {
		t.Fatal("Load succeeded, want errors")
	}
	// The decoded values are still returned alongside the errors.
	if u.StorageDriver != "btrfs" || u.Network != "bridge" {
		t.Errorf("Load returned %+v, want the decoded values", u)
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %T is not an errors.Join of several errors", err)
	}
	errs := joined.Unwrap()
	want := []string{
		`:4:11: network = "bridge"`, // from the decoder, with its position
		`storage_driver = "btrfs"`,
		`userns = "keep-id"`,
		`storage_root = "relative/dir" must be an absolute path`,
	}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(want), err)
	}
	for i, w := range want {
		msg := errs[i].Error()
		if !strings.HasPrefix(msg, p+":") {
			t.Errorf("error %d %q does not start with the path %q", i, msg, p)
		}
		if !strings.Contains(msg, w) {
			t.Errorf("error %d %q does not contain %q", i, msg, w)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		u     User
		wantN int // number of joined errors; 0 means valid
		want  string
	}{
		{"zero", User{}, 0, ""},
		{"all valid", User{StorageDriver: "vfs", StorageRoot: "/data", UserNS: "single", Network: "host"}, 0, ""},
		{"bad driver", User{StorageDriver: "VFS"}, 1, `storage_driver = "VFS"`},
		{"bad userns", User{UserNS: "subid"}, 1, `userns = "subid"`},
		{"relative root", User{StorageRoot: "./store"}, 1, `storage_root = "./store"`},
		{"two bad", User{Cgroups: "maybe", UserNS: "x"}, 2, `cgroups = "maybe"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.u.Validate("/etc/x.toml")
			if tt.wantN == 0 {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", tt.u, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate(%+v) = nil, want an error", tt.u)
			}
			var n int
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				n = len(j.Unwrap())
			}
			if n != tt.wantN {
				t.Errorf("Validate(%+v) joined %d errors, want %d: %v", tt.u, n, tt.wantN, err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "/etc/x.toml") {
				t.Errorf("Validate(%+v) = %q, want it to contain %q and the path", tt.u, err, tt.want)
			}
		})
	}
}

func TestDefaultPaths(t *testing.T) {
	runFallback := filepath.Join(os.TempDir(), "sandbox-"+strconv.Itoa(os.Getuid()))
	tests := []struct {
		name                       string
		home, data, cfg, run       string
		wantData, wantCfg, wantRun string
	}{
		{
			name: "XDG variables set",
			home: "/home/ann", data: "/xdg/data", cfg: "/xdg/config", run: "/run/user/1000",
			wantData: "/xdg/data/sandbox", wantCfg: "/xdg/config/sandbox/config.toml", wantRun: "/run/user/1000/sandbox",
		},
		{
			name:     "fall back to HOME",
			home:     "/home/ann",
			wantData: "/home/ann/.local/share/sandbox", wantCfg: "/home/ann/.config/sandbox/config.toml", wantRun: runFallback,
		},
		{
			name: "only XDG_RUNTIME_DIR",
			home: "/home/bob", run: "/run/user/1001",
			wantData: "/home/bob/.local/share/sandbox", wantCfg: "/home/bob/.config/sandbox/config.toml", wantRun: "/run/user/1001/sandbox",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HOME", tt.home)
			t.Setenv("XDG_DATA_HOME", tt.data)
			t.Setenv("XDG_CONFIG_HOME", tt.cfg)
			t.Setenv("XDG_RUNTIME_DIR", tt.run)
			got := DefaultPaths()
			want := Paths{Data: tt.wantData, Config: tt.wantCfg, Runtime: tt.wantRun}
			if got != want {
				t.Errorf("DefaultPaths() =\n %+v, want\n %+v", got, want)
			}
		})
	}
}

// TestLoadReportsEveryUnknownKey: two typos, two errors, each with its
// position and its key.
func TestLoadReportsEveryUnknownKey(t *testing.T) {
	p := writeConfig(t, "storage_drivr = \"vfs\"\nnetwork = \"none\"\nusrns = \"single\"\n")
	_, err := Load(p)
	if err == nil {
		t.Fatal("Load succeeded, want an error")
	}
	msg := err.Error()
	for _, want := range []string{p + ":1:", `"storage_drivr"`, p + ":3:", `"usrns"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
}
