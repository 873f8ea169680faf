package container

import (
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/sandbox-dev/sandbox/capability"
	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/runtime"
	"github.com/sandbox-dev/sandbox/seccomp"
	"github.com/sandbox-dev/sandbox/userns"
)

func TestMergeEnv(t *testing.T) {
	tests := []struct {
		name              string
		imageEnv, userEnv []string
		tty               bool
		want              []string
	}{
		{
			name: "defaults only",
			want: []string{defaultPath, "HOSTNAME=box"},
		},
		{
			name: "tty adds TERM",
			tty:  true,
			want: []string{defaultPath, "HOSTNAME=box", "TERM=xterm"},
		},
		{
			name:     "image PATH replaces the default in place",
			imageEnv: []string{"LANG=C.UTF-8", "PATH=/opt/bin:/usr/bin"},
			want:     []string{"PATH=/opt/bin:/usr/bin", "HOSTNAME=box", "LANG=C.UTF-8"},
		},
		{
			name:     "user env replaces image env",
			imageEnv: []string{"A=image", "B=image"},
			userEnv:  []string{"B=user", "C=user"},
			want:     []string{defaultPath, "HOSTNAME=box", "A=image", "B=user", "C=user"},
		},
		{
			name:     "user PATH beats image PATH beats default",
			imageEnv: []string{"PATH=/image"},
			userEnv:  []string{"PATH=/user"},
			want:     []string{"PATH=/user", "HOSTNAME=box"},
		},
		{
			name:    "later user value wins",
			userEnv: []string{"A=1", "A=2", "A=3"},
			want:    []string{defaultPath, "HOSTNAME=box", "A=3"},
		},
		{
			name:     "later image value wins",
			imageEnv: []string{"A=1", "A=2"},
			want:     []string{defaultPath, "HOSTNAME=box", "A=2"},
		},
		{
			name:    "user overrides HOSTNAME and TERM",
			tty:     true,
			userEnv: []string{"TERM=dumb", "HOSTNAME=other"},
			want:    []string{defaultPath, "HOSTNAME=other", "TERM=dumb"},
		},
		{
			name:     "image TERM beats the tty default",
			tty:      true,
			imageEnv: []string{"TERM=vt100"},
			want:     []string{defaultPath, "HOSTNAME=box", "TERM=vt100"},
		},
		{
			name:    "empty value still replaces",
			userEnv: []string{"PATH="},
			want:    []string{"PATH=", "HOSTNAME=box"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mergeEnv(tt.imageEnv, tt.userEnv, "box", tt.tty)
			if !slices.Equal(got, tt.want) {
				t.Errorf("mergeEnv(%q, %q, box, %v) =\n %q, want\n %q", tt.imageEnv, tt.userEnv, tt.tty, got, tt.want)
			}
		})
	}
}

// hasHostsEntry reports whether a hosts file maps some address to name.
func hasHostsEntry(hosts, name string) bool {
	for _, line := range strings.Split(hosts, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if slices.Contains(fields[1:], name) {
			return true
		}
	}
	return false
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteEtcFilesNetNone(t *testing.T) {
	const base = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	tests := []struct {
		hostname  string
		wantHosts string
	}{
		{"0123456789ab", base + "127.0.1.1\t0123456789ab\n"},
		{"box", base + "127.0.1.1\tbox\n"},
		{"localhost", base},
		// A name that is only part of another name in the file still
		// needs its own line, or it does not resolve.
		{"local", base + "127.0.1.1\tlocal\n"},
	}
	for _, tt := range tests {
		t.Run(tt.hostname, func(t *testing.T) {
			dir := t.TempDir()
			spec := &runtime.Spec{Network: "none", Hostname: tt.hostname}
			if err := writeEtcFiles(spec, Config{}, dir, nil); err != nil {
				t.Fatalf("writeEtcFiles: %v", err)
			}
			wantPaths := [3]string{filepath.Join(dir, "hosts"), filepath.Join(dir, "resolv.conf"), filepath.Join(dir, "hostname")}
			if got := [3]string{spec.Hosts, spec.Resolv, spec.HostnameFile}; got != wantPaths {
				t.Fatalf("spec paths = %q, want %q", got, wantPaths)
			}
			hosts := readFile(t, spec.Hosts)
			if hosts != tt.wantHosts {
				t.Errorf("hosts =\n%q, want\n%q", hosts, tt.wantHosts)
			}
			if !hasHostsEntry(hosts, tt.hostname) {
				t.Errorf("hosts has no entry for %q:\n%s", tt.hostname, hosts)
			}
			if got := readFile(t, spec.Resolv); got != "" {
				t.Errorf("resolv.conf with --net none = %q, want empty", got)
			}
			if got := readFile(t, spec.HostnameFile); got != tt.hostname+"\n" {
				t.Errorf("hostname file = %q, want %q", got, tt.hostname+"\n")
			}
		})
	}
}

func TestWriteEtcFilesNetHost(t *testing.T) {
	hostHosts, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Skipf("the host has no readable /etc/hosts to copy: %v", err)
	}
	hostResolv, _ := os.ReadFile("/etc/resolv.conf") // missing means empty
	const name = "sandbox-unit-test-host"
	if strings.Contains(string(hostHosts), name) {
		t.Skipf("the host's /etc/hosts already names %q", name)
	}
	dir := t.TempDir()
	spec := &runtime.Spec{Network: "host", Hostname: name}
	if err := writeEtcFiles(spec, Config{}, dir, nil); err != nil {
		t.Fatalf("writeEtcFiles: %v", err)
	}
	hosts := readFile(t, spec.Hosts)
	prefix := string(hostHosts)
	if prefix != "" && !strings.HasSuffix(prefix, "\n") {
		prefix += "\n"
	}
	if want := prefix + "127.0.1.1\t" + name + "\n"; hosts != want {
		t.Errorf("hosts =\n%q, want the host's file and a line for the hostname:\n%q", hosts, want)
	}
	if got := readFile(t, spec.Resolv); got != string(hostResolv) {
		t.Errorf("resolv.conf = %q, want the host's %q", got, hostResolv)
	}
	if got := readFile(t, spec.HostnameFile); got != name+"\n" {
		t.Errorf("hostname file = %q, want %q", got, name+"\n")
	}
}

func TestWriteEtcFilesError(t *testing.T) {
	spec := &runtime.Spec{Network: "none", Hostname: "box"}
	err := writeEtcFiles(spec, Config{}, filepath.Join(t.TempDir(), "missing"), nil)
	if err == nil || !strings.Contains(err.Error(), "hosts") {
		t.Fatalf("writeEtcFiles into a missing directory = %v, want an error naming hosts", err)
	}
}

// specFixture makes a store and a container directory for buildSpec.
func specFixture(t *testing.T, cfg Config) (*image.Store, *Container) {
	t.Helper()
	s := &image.Store{
		Root:    t.TempDir(),
		Mapping: userns.Mapping{UIDs: []userns.IDMap{{Size: 65536}}, GIDs: []userns.IDMap{{Size: 65536}}},
	}
	c := &Container{ID: strings.Repeat("ab", 32), Name: "test", Image: "img", Config: cfg}
	if err := os.MkdirAll(filepath.Join(Dir(s, c.ID), "userdata"), 0o755); err != nil {
		t.Fatal(err)
	}
	return s, c
}

func strPtr(s string) *string { return &s }

func TestBuildSpecCommand(t *testing.T) {
	tests := []struct {
		name          string
		imgEntrypoint []string
		imgCmd        []string
		entrypoint    *string
		cmd           []string
		want          []string
	}{
		{"image entrypoint and cmd", []string{"/ep", "-x"}, []string{"a", "b"}, nil, nil, []string{"/ep", "-x", "a", "b"}},
		{"user cmd replaces image cmd", []string{"/ep", "-x"}, []string{"a", "b"}, nil, []string{"c"}, []string{"/ep", "-x", "c"}},
		{"image cmd only", nil, []string{"/bin/sh", "-c", "echo"}, nil, nil, []string{"/bin/sh", "-c", "echo"}},
		{"user cmd without image entrypoint", nil, []string{"/bin/sh"}, nil, []string{"ls", "-l"}, []string{"ls", "-l"}},
		{"--entrypoint drops image entrypoint and cmd", []string{"/ep"}, []string{"a"}, strPtr("/new"), nil, []string{"/new"}},
		{"--entrypoint with user cmd", []string{"/ep"}, []string{"a"}, strPtr("/new"), []string{"c", "d"}, []string{"/new", "c", "d"}},
		{"--entrypoint empty clears everything", []string{"/ep"}, []string{"a"}, strPtr(""), nil, []string{}},
		{"--entrypoint empty with user cmd", []string{"/ep"}, []string{"a"}, strPtr(""), []string{"sh"}, []string{"sh"}},
		{"nothing at all", nil, nil, nil, nil, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Image: "img", Network: "none", Cmd: tt.cmd}
			if tt.entrypoint != nil {
				cfg.EntrypointSet = true
				if *tt.entrypoint != "" {
					cfg.Entrypoint = []string{*tt.entrypoint}
				}
			}
			s, c := specFixture(t, cfg)
			img := &image.Image{ID: "sha256:" + strings.Repeat("0", 64)}
			img.Config.Config = v1.Config{Entrypoint: tt.imgEntrypoint, Cmd: tt.imgCmd}
			spec, err := buildSpec(s, c, img, IO{})
			if err != nil {
				t.Fatalf("buildSpec: %v", err)
			}
			if !slices.Equal(spec.Process.Args, tt.want) {
				t.Errorf("Args = %q, want %q", spec.Process.Args, tt.want)
			}
			// The image's own slices must not be changed by the merge.
			if !slices.Equal(img.Config.Config.Entrypoint, tt.imgEntrypoint) || !slices.Equal(img.Config.Config.Cmd, tt.imgCmd) {
				t.Errorf("buildSpec changed the image's config: %q %q", img.Config.Config.Entrypoint, img.Config.Config.Cmd)
			}
		})
	}
}

func TestBuildSpecWorkdirAndUser(t *testing.T) {
	tests := []struct {
		name                string
		imgWorkdir, imgUser string
		workdir, user       string
		wantCwd, wantUser   string
	}{
		{"image values", "/srv", "app", "", "", "/srv", "app"},
		{"flags win", "/srv", "app", "/tmp", "0:0", "/tmp", "0:0"},
		{"neither", "", "", "", "", "", ""},
		{"only flags", "", "", "/w", "1000", "/w", "1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := specFixture(t, Config{Image: "img", Network: "none", Workdir: tt.workdir, User: tt.user})
			img := &image.Image{ID: "sha256:" + strings.Repeat("0", 64)}
			img.Config.Config = v1.Config{WorkingDir: tt.imgWorkdir, User: tt.imgUser, Cmd: []string{"sh"}}
			spec, err := buildSpec(s, c, img, IO{})
			if err != nil {
				t.Fatalf("buildSpec: %v", err)
			}
			if spec.Process.Cwd != tt.wantCwd {
				t.Errorf("Cwd = %q, want %q", spec.Process.Cwd, tt.wantCwd)
			}
			if spec.Process.User != tt.wantUser {
				t.Errorf("User = %q, want %q", spec.Process.User, tt.wantUser)
			}
		})
	}
}

func TestBuildSpecLayoutAndNetwork(t *testing.T) {
	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		network      string
		hostname     string
		wantNetwork  string
		wantHostname string
		wantSys      bool
	}{
		{"none uses the short ID", "none", "", "none", strings.Repeat("ab", 6), false},
		{"default is host with the host's name", "", "", "host", hostname, true},
		{"explicit hostname", "none", "box", "none", "box", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := t.TempDir()
			s, c := specFixture(t, Config{
				Image: "img", Network: tt.network, Hostname: tt.hostname, ReadOnly: true,
				Env: []string{"USER_VAR=1"}, StorageDriver: "vfs",
				Volumes: []runtime.Mount{{Type: "bind", Source: src, Target: "/dst"}},
			})
			img := &image.Image{
				ID:     "sha256:" + strings.Repeat("0", 64),
				Layers: []string{"/store/layers/a/diff", "/store/layers/b/diff"},
			}
			img.Config.Config = v1.Config{Cmd: []string{"sh"}, Env: []string{"IMG_VAR=2"}}
			spec, err := buildSpec(s, c, img, IO{})
			if err != nil {
				t.Fatalf("buildSpec: %v", err)
			}
			dir := Dir(s, c.ID)
			if spec.ID != c.ID || spec.Network != tt.wantNetwork || spec.Hostname != tt.wantHostname ||
				spec.SysFromHost != tt.wantSys || !spec.ReadOnly || spec.UIDs != 65536 || spec.GIDs != 65536 {
				t.Errorf("spec = ID %q Network %q Hostname %q SysFromHost %v ReadOnly %v ids %d/%d, want %q %q %q %v true 65536/65536",
					spec.ID, spec.Network, spec.Hostname, spec.SysFromHost, spec.ReadOnly, spec.UIDs, spec.GIDs,
					c.ID, tt.wantNetwork, tt.wantHostname, tt.wantSys)
			}
			l := spec.Rootfs
			if l.Driver != "vfs" || !slices.Equal(l.Layers, img.Layers) || l.Upper != filepath.Join(dir, "upper") ||
				l.Work != filepath.Join(dir, "work") || l.Target != filepath.Join(dir, "merged") || len(l.HostDirs) != 0 {
				t.Errorf("Rootfs = %+v, want the image's layers under %s", l, dir)
			}
			if len(spec.Mounts) != 1 || spec.Mounts[0].Target != "/dst" || spec.Mounts[0].Ino == 0 {
				t.Errorf("Mounts = %+v, want the one volume, with the identity of its source", spec.Mounts)
			}
			wantEnv := []string{defaultPath, "HOSTNAME=" + tt.wantHostname, "IMG_VAR=2", "USER_VAR=1"}
			if !slices.Equal(spec.Process.Env, wantEnv) {
				t.Errorf("Env = %q, want %q", spec.Process.Env, wantEnv)
			}
			if spec.Process.Terminal {
				t.Error("Terminal set without -t")
			}
			if spec.HostnameFile != filepath.Join(dir, "userdata", "hostname") {
				t.Errorf("HostnameFile = %q, want it in the container's userdata", spec.HostnameFile)
			}
			if got := readFile(t, spec.HostnameFile); got != tt.wantHostname+"\n" {
				t.Errorf("hostname file = %q, want %q", got, tt.wantHostname+"\n")
			}
		})
	}
}

// TestEtcFilesPrivateNetwork: in a private network the hostname is the
// container's address, the host has a name, the nameserver is the helper's
// forwarder (unless --dns), and --add-host lines are appended with
// host-gateway meaning the host's loopback as seen from inside.
func TestEtcFilesPrivateNetwork(t *testing.T) {
	dir := t.TempDir()
	spec := &runtime.Spec{Network: "slirp", Hostname: "web"}
	cfg := Config{AddHosts: []string{"db:10.1.2.3", "api:host-gateway"}}
	if err := writeEtcFiles(spec, cfg, dir, nil); err != nil {
		t.Fatal(err)
	}
	hosts := readFile(t, spec.Hosts)
	for _, want := range []string{"10.0.2.100\tweb\n", "10.0.2.2\thost.containers.internal\n", "10.1.2.3\tdb\n", "10.0.2.2\tapi\n"} {
		if !strings.Contains(hosts, want) {
			t.Errorf("hosts lacks %q:\n%s", want, hosts)
		}
	}
	if strings.Contains(hosts, "127.0.1.1") {
		t.Errorf("hosts maps the hostname to 127.0.1.1 as well:\n%s", hosts)
	}
	resolv := readFile(t, spec.Resolv)
	if !strings.Contains(resolv, "nameserver 10.0.2.3\n") || strings.Count(resolv, "nameserver") != 1 {
		t.Errorf("resolv.conf = %q, want only the helper's forwarder", resolv)
	}

	cfg.DNS = []string{"192.0.2.53", "2001:db8::53"}
	if err := writeEtcFiles(spec, cfg, dir, nil); err != nil {
		t.Fatal(err)
	}
	resolv = readFile(t, spec.Resolv)
	if !strings.Contains(resolv, "nameserver 192.0.2.53\nnameserver 2001:db8::53\n") || strings.Contains(resolv, "10.0.2.3") {
		t.Errorf("resolv.conf with --dns = %q", resolv)
	}
}

func TestResolvConfKeepsSearchAndOptions(t *testing.T) {
	base := "# generated\nnameserver 127.0.0.53\nsearch example.org\noptions edns0 trust-ad\n"
	got := resolvConf(base, nil, []string{"10.0.2.3"})
	want := "search example.org\noptions edns0 trust-ad\nnameserver 10.0.2.3\n"
	if got != want {
		t.Errorf("resolvConf = %q, want %q", got, want)
	}
	if got := resolvConf(base, nil, nil); got != base {
		t.Errorf("without servers the file should be kept, got %q", got)
	}
}

// TestDefaultFilterPrecompiled: a container that adds or drops no
// capability gets the seccomp filter compiled when sandbox was built
// (seccomp/zdefault_amd64.go): the set it was made for is the one the
// runtime gives.
func TestDefaultFilterPrecompiled(t *testing.T) {
	if goruntime.GOARCH != "amd64" {
		t.Skip("the precompiled profile is made for amd64 (go generate ./seccomp on another architecture makes its own)")
	}
	if !seccomp.DefaultIsPrecompiled(capNames(capability.BoundingSet(nil, nil))) {
		t.Fatalf("Docker's default capabilities %v have no precompiled filter: run go generate ./seccomp", capNames(capability.BoundingSet(nil, nil)))
	}
}
