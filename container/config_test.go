package container

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sandbox-dev/sandbox/fuseoverlay"
	"github.com/sandbox-dev/sandbox/runtime"
)

func TestParseVolume(t *testing.T) {
	tests := []struct {
		spec string
		want runtime.Mount
	}{
		{"/src:/dst", runtime.Mount{Type: "bind", Source: "/src", Target: "/dst"}},
		{"/src:/dst:ro", runtime.Mount{Type: "bind", Source: "/src", Target: "/dst", ReadOnly: true}},
		{"/src:/dst:rw", runtime.Mount{Type: "bind", Source: "/src", Target: "/dst"}},
		{"/src:/dst:rw,ro", runtime.Mount{Type: "bind", Source: "/src", Target: "/dst", ReadOnly: true}},
		{"/src:/dst:ro,rw", runtime.Mount{Type: "bind", Source: "/src", Target: "/dst"}},
		{"/src/./a/:/dst/../data/", runtime.Mount{Type: "bind", Source: "/src/a", Target: "/data"}},
		// A container path alone: an anonymous volume.
		{"/data/", runtime.Mount{Type: "volume", Target: "/data"}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseVolume(tt.spec)
			if err != nil {
				t.Fatalf("ParseVolume(%q): %v", tt.spec, err)
			}
			if got != tt.want {
				t.Errorf("ParseVolume(%q) = %+v, want %+v", tt.spec, got, tt.want)
			}
		})
	}
}

func TestParseVolumeRelativeSource(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	tests := []struct {
		spec, wantSrc string
	}{
		{"./data:/data", filepath.Join(dir, "data")},
		{"./a/b:/data", filepath.Join(dir, "a", "b")},
		{".:/data", dir},
		{"../up:/data", filepath.Join(filepath.Dir(dir), "up")},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseVolume(tt.spec)
			if err != nil {
				t.Fatalf("ParseVolume(%q): %v", tt.spec, err)
			}
			if got.Source != tt.wantSrc {
				t.Errorf("ParseVolume(%q).Source = %q, want %q", tt.spec, got.Source, tt.wantSrc)
			}
			if !filepath.IsAbs(got.Source) {
				t.Errorf("ParseVolume(%q).Source = %q is not absolute", tt.spec, got.Source)
			}
		})
	}
}

// TestParseVolumeNamed: a source without a slash names a volume, as in
// Docker.
func TestParseVolumeNamed(t *testing.T) {
	got, err := ParseVolume("data:/data:ro")
	if err != nil || got.Type != "volume" || got.Source != "data" || got.Target != "/data" || !got.ReadOnly {
		t.Errorf("ParseVolume(data:/data:ro) = %+v, %v; want the volume data, read-only", got, err)
	}
	if _, err := ParseVolume("no good:/data"); err == nil || !strings.Contains(err.Error(), "not a volume name") {
		t.Errorf("a bad volume name: %v", err)
	}
}

func TestParseVolumeErrors(t *testing.T) {
	tests := []struct {
		name, spec, want string
	}{
		{"empty", "", "want SRC:DST"},
		{"missing DST", "src", "want SRC:DST"},
		{"empty DST", "/src:", "want SRC:DST"},
		{"empty SRC", ":/dst", "want SRC:DST"},
		{"relative DST", "/src:dst", `the container path "dst" must be absolute`},
		{"unknown option", "/src:/dst:z", `invalid volume option "z"`},
		{"unknown option in a list", "/src:/dst:ro,nocopy", `invalid volume option "nocopy"`},
		{"empty option", "/src:/dst:", `invalid volume option ""`},
		{"too many colons", "/src:/dst:ro:extra", "want SRC:DST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseVolume(tt.spec)
			if err == nil {
				t.Fatalf("ParseVolume(%q) = %+v, want an error", tt.spec, m)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseVolume(%q) error %q does not contain %q", tt.spec, err, tt.want)
			}
			if !strings.Contains(err.Error(), `"`+tt.spec+`"`) {
				t.Errorf("ParseVolume(%q) error %q does not quote the spec", tt.spec, err)
			}
		})
	}
}

// setUnset sets key for the test and removes it right away, so that it is
// unset during the test and restored afterwards.
func setUnset(t *testing.T, key string) {
	t.Helper()
	t.Setenv(key, "")
	if err := os.Unsetenv(key); err != nil {
		t.Fatal(err)
	}
}

func TestParseEnv(t *testing.T) {
	t.Setenv("SANDBOX_TEST_SET", "from env")
	t.Setenv("SANDBOX_TEST_EMPTY", "")
	setUnset(t, "SANDBOX_TEST_UNSET")
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"nil", nil, nil},
		{"key=value", []string{"A=1"}, []string{"A=1"}},
		{"empty value", []string{"A="}, []string{"A="}},
		{"value with =", []string{"A=b=c"}, []string{"A=b=c"}},
		{"bare key set", []string{"SANDBOX_TEST_SET"}, []string{"SANDBOX_TEST_SET=from env"}},
		{"bare key set to empty", []string{"SANDBOX_TEST_EMPTY"}, []string{"SANDBOX_TEST_EMPTY="}},
		{"bare key unset is dropped", []string{"SANDBOX_TEST_UNSET"}, nil},
		{
			"mixed, order kept",
			[]string{"A=1", "SANDBOX_TEST_UNSET", "SANDBOX_TEST_SET", "A=2"},
			[]string{"A=1", "SANDBOX_TEST_SET=from env", "A=2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseEnv(tt.in)
			if !slices.Equal(got, tt.want) {
				t.Errorf("ParseEnv(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestReadEnvFile(t *testing.T) {
	t.Setenv("SANDBOX_TEST_SET", "v")
	setUnset(t, "SANDBOX_TEST_UNSET")
	content := strings.Join([]string{
		"# a comment",
		"A=1",
		"",
		"   # an indented comment",
		"  B=two words  ",
		"C=",
		"D=x=y",
		"SANDBOX_TEST_SET",
		"SANDBOX_TEST_UNSET",
		"",
	}, "\n")
	p := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadEnvFile(p)
	if err != nil {
		t.Fatalf("ReadEnvFile: %v", err)
	}
	want := []string{"A=1", "B=two words", "C=", "D=x=y", "SANDBOX_TEST_SET=v"}
	if !slices.Equal(got, want) {
		t.Errorf("ReadEnvFile = %q, want %q", got, want)
	}
}

func TestReadEnvFileErrors(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"empty key", "A=1\n# c\n=value\n", ":3: invalid line \"=value\""},
		{"space in key", "\nMY KEY=1\n", ":2: invalid line \"MY KEY=1\""},
		{"tab in key", "A\tB=1\n", ":1: invalid line"},
		{"bare key with space", "A=1\nNOT A KEY\n", ":2: invalid line \"NOT A KEY\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "env")
			if err := os.WriteFile(p, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadEnvFile(p)
			if err == nil {
				t.Fatalf("ReadEnvFile = %q, want an error", got)
			}
			if !strings.Contains(err.Error(), p+tt.want) {
				t.Errorf("ReadEnvFile error %q does not contain %q", err, p+tt.want)
			}
		})
	}
}

func TestReadEnvFileMissing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "missing")
	_, err := ReadEnvFile(p)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadEnvFile(missing) error = %v, want one wrapping os.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), "--env-file") {
		t.Errorf("error %q does not mention --env-file", err)
	}
}

// joined returns the errors an errors.Join holds (or the error itself).
func joined(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestValidateAcceptsGoodConfig(t *testing.T) {
	src := t.TempDir()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"minimal", Config{Image: "debian"}},
		{"everything", Config{
			Image: "registry:5000/team/app:1.0", Name: "web_1.a-b", Network: "none",
			Workdir: "/app", Env: []string{"A=1", "B="}, Hostname: "box",
			Volumes:       []runtime.Mount{{Type: "bind", Source: src, Target: "/data"}, {Type: "tmpfs", Target: "/scratch"}},
			StorageDriver: fuseoverlay.VFS,
		}},
		{"host network", Config{Image: "debian", Network: "host", StorageDriver: "auto"}},
		{"name of digits", Config{Image: "debian", Name: "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); err != nil {
				t.Errorf("Validate(%+v) = %v, want nil", tt.cfg, err)
			}
		})
	}
}

func TestValidateReportsEveryError(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	cfg := Config{
		Name:          "-bad",
		Network:       "bridge",
		Workdir:       "relative/dir",
		Env:           []string{"=oops"},
		Volumes:       []runtime.Mount{{Type: "bind", Source: missing, Target: "/data"}},
		Hostname:      "has space",
		StorageDriver: "btrfs",
	}
	err := cfg.Validate()
	want := []string{
		"no image given",
		`--name "-bad"`,
		`--workdir "relative/dir"`,
		`--hostname "has space"`,
		"--net \"bridge\": Docker's default network",
		`invalid environment entry "=oops"`,
		`volume source "` + missing + `": no such file or directory`,
		`unknown storage driver "btrfs"`,
	}
	errs := joined(err)
	if len(errs) != len(want) {
		t.Fatalf("Validate joined %d errors, want %d:\n%v", len(errs), len(want), err)
	}
	for i, w := range want {
		if !strings.Contains(errs[i].Error(), w) {
			t.Errorf("error %d = %q, want it to contain %q", i, errs[i], w)
		}
	}
}

func TestValidateSingleErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"unknown network", Config{Image: "i", Network: "bridge"}, "--net \"bridge\": Docker's default network"},
		{"ports on the host network", Config{Image: "i", Ports: []string{"8080:80"}}, "needs a private network: add --net slirp"},
		{"bad port", Config{Image: "i", Network: "none", Ports: []string{"8080:80/sctp"}}, `invalid port "8080:80/sctp"`},
		{"same host port twice", Config{Image: "i", Network: "none", Ports: []string{"8080:80", "127.0.0.1:8080:81"}}, `both publish 127.0.0.1:8080/tcp`},
		{"dns not an address", Config{Image: "i", DNS: []string{"dns.example"}}, `invalid --dns "dns.example"`},
		{"add-host without ip", Config{Image: "i", AddHosts: []string{"db"}}, `invalid --add-host "db"`},
		{"add-host bad ip", Config{Image: "i", AddHosts: []string{"db:10.0.0"}}, `"10.0.0" is not an IP address`},
		{"add-host injecting a line", Config{Image: "i", AddHosts: []string{"db\n1.2.3.4 evil:10.0.0.1"}}, `invalid --add-host`},
		{"name with slash", Config{Image: "i", Name: "a/b"}, `--name "a/b"`},
		{"name starting with dot", Config{Image: "i", Name: ".hidden"}, `--name ".hidden"`},
		{"hostname too long", Config{Image: "i", Hostname: strings.Repeat("h", 65)}, "--hostname"},
		{"hostname with slash", Config{Image: "i", Hostname: "a/b"}, "--hostname"},
		{"driver in capitals", Config{Image: "i", StorageDriver: "VFS"}, `unknown storage driver "VFS"`},
	}
	// A user-mode network helper on PATH, whatever this machine has: a
	// missing one is an error of its own (tested elsewhere), which would
	// come with the one each case wants.
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "pasta"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := joined(tt.cfg.Validate())
			if len(errs) != 1 {
				t.Fatalf("Validate(%+v) gave %d errors, want 1: %v", tt.cfg, len(errs), errs)
			}
			if !strings.Contains(errs[0].Error(), tt.want) {
				t.Errorf("Validate(%+v) = %q, want it to contain %q", tt.cfg, errs[0], tt.want)
			}
		})
	}
}

// TestOutsideRunDir: a volume source that is the runtime directory, holds
// it, or is a directory or file in it is refused; a socket in it (the API
// service's) may be bound.
func TestOutsideRunDir(t *testing.T) {
	home := t.TempDir()
	run := filepath.Join(home, "run", "sandbox")
	initDir := filepath.Join(run, "init-0123")
	if err := os.MkdirAll(initDir, 0o700); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(initDir, "sandbox-init")
	if err := os.WriteFile(prog, []byte("x"), 0o700); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(run, "sandbox.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	other := filepath.Join(home, "data")
	os.Mkdir(other, 0o755)
	for _, tc := range []struct {
		source  string
		refused bool
	}{
		{run, true}, {filepath.Dir(run), true}, {home, true},
		{initDir, true}, {prog, true}, {filepath.Join(run, "spare"), true},
		{sock, false}, {other, false},
	} {
		err := outsideRunDir(tc.source, run)
		if tc.refused != errors.Is(err, ErrVolumeRunDir) {
			t.Errorf("outsideRunDir(%q) = %v, refused: want %v", tc.source, err, tc.refused)
		}
	}
}
