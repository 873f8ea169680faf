package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// fakeEnv is an environment for LoadApp that never reads the process's.
func fakeEnv(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// errList flattens an errors.Join tree into its leaves.
func errList(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, errList(e)...)
		}
		return out
	}
	return []error{err}
}

// withoutSources is a copy of a with Sources dropped, for comparing values.
func withoutSources(a *App) App {
	c := *a
	c.Sources = nil
	return c
}

// sortMounts is a copy of ms ordered by target.
func sortMounts(ms []Mount) []Mount {
	out := append([]Mount(nil), ms...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out
}

// everyKeyApp is an app.toml that sets every key. Line numbers matter:
// TestLoadAppEveryKey checks the position of each.
const everyKeyApp = `# app.toml: every key
image = "registry:5000/team/app:1"
name = "web-1"
command = ["nginx", "-g", "daemon off;"]
entrypoint = ["/docker-entrypoint.sh"]
workdir = "/srv"
user = "1000:1000"
hostname = "web"
read_only = true
network = "slirp"
ports = ["8080:80", "127.0.0.1:8443:443/tcp"]
env_file = "app.env"
restart = "on-failure"
stop_timeout = 30

[env]
LANG = "C.UTF-8"
GREETING = "hello ${WHO}"
WORKERS = 4

[resources]
memory = "512MiB"
memory_swap = "1G"
cpus = 0.5
pids = 100
io."/dev/vda" = { read_bps = "10MiB", write_bps = 1048576, read_iops = 100, write_iops = 50 }

[security]
cap_add = ["net_admin", "CAP_SYS_PTRACE"]
cap_drop = ["ALL"]
no_new_privileges = false
seccomp = "unconfined"

[[mount]]
source = "data"
target = "/data"
read_only = true

[[mount]]
type = "tmpfs"
target = "/tmp/"
size = "64MiB"

[[mount]]
source = "~/cache"
target = "/cache"
`

// everyKeyDir makes the directory everyKeyApp needs (data/, app.env and a
// home with cache/) and returns it, the app.toml's path and its env.
func everyKeyDir(t *testing.T) (dir, path string, env func(string) (string, bool)) {
	t.Helper()
	dir = t.TempDir()
	home := filepath.Join(dir, "home")
	for _, d := range []string{filepath.Join(dir, "data"), filepath.Join(home, "cache")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// env_file's variables come under [env]'s: LANG stays the table's.
	writeFile(t, dir, "app.env", "# from the env file\nA=1\nLANG=from-file\n")
	path = writeFile(t, dir, "app.toml", everyKeyApp)
	return dir, path, fakeEnv(map[string]string{"HOME": home, "WHO": "world"})
}

func TestLoadAppEveryKey(t *testing.T) {
	dir, p, env := everyKeyDir(t)
	got, err := LoadApp(p, env)
	if err != nil {
		t.Fatalf("LoadApp: %v", err)
	}
	want := App{
		Image:      "registry:5000/team/app:1",
		Name:       "web-1",
		Command:    []string{"nginx", "-g", "daemon off;"},
		Entrypoint: []string{"/docker-entrypoint.sh"},
		Workdir:    "/srv",
		User:       "1000:1000",
		Hostname:   "web",
		ReadOnly:   true,
		Network:    "slirp",
		Ports:      []string{"8080:80", "127.0.0.1:8443:443/tcp"},
		Env:        map[string]string{"LANG": "C.UTF-8", "GREETING": "hello world", "WORKERS": "4", "A": "1"},
		EnvFile:    filepath.Join(dir, "app.env"),
		Mounts: []Mount{
			{Type: "bind", Source: filepath.Join(dir, "data"), Target: "/data", ReadOnly: true},
			{Type: "tmpfs", Target: "/tmp", Size: 64 << 20},
			{Type: "bind", Source: filepath.Join(dir, "home", "cache"), Target: "/cache"},
		},
		Resources: Resources{
			Memory:     512 << 20,
			MemorySwap: 1 << 30,
			CPUs:       0.5,
			Pids:       100,
			IO:         []IOLimit{{Device: "/dev/vda", ReadBPS: 10 << 20, WriteBPS: 1 << 20, ReadIOPS: 100, WriteIOPS: 50}},
		},
		Security: Security{
			CapAdd:          []string{"CAP_NET_ADMIN", "CAP_SYS_PTRACE"},
			CapDrop:         []string{"ALL"},
			NoNewPrivileges: false,
			Seccomp:         "unconfined",
		},
		Restart:       "on-failure",
		StopTimeout:   30,
		EntrypointSet: true,
	}
	if g := withoutSources(got); !reflect.DeepEqual(g, want) {
		t.Errorf("LoadApp =\n %+v\nwant\n %+v", g, want)
	}

	// Each source is the position of the value; an array's is its key's
	// (the parser gives arrays no range of their own).
	at := func(line, col int) string { return fmt.Sprintf("%s:%d:%d", p, line, col) }
	wantSources := map[string]string{
		"image":                      at(2, 9),
		"name":                       at(3, 8),
		"command":                    at(4, 1),
		"entrypoint":                 at(5, 1),
		"workdir":                    at(6, 11),
		"user":                       at(7, 8),
		"hostname":                   at(8, 12),
		"read_only":                  at(9, 13),
		"network":                    at(10, 11),
		"ports":                      at(11, 1),
		"env_file":                   at(12, 12),
		"restart":                    at(13, 11),
		"stop_timeout":               at(14, 16),
		"env.LANG":                   at(17, 8),
		"env.GREETING":               at(18, 12),
		"env.WORKERS":                at(19, 11),
		"env.A":                      filepath.Join(dir, "app.env") + ":2:1",
		"resources.memory":           at(22, 10),
		"resources.memory_swap":      at(23, 15),
		"resources.cpus":             at(24, 8),
		"resources.pids":             at(25, 8),
		"resources.io./dev/vda":      at(26, 17),
		"security.cap_add":           at(29, 1),
		"security.cap_drop":          at(30, 1),
		"security.no_new_privileges": at(31, 21),
		"security.seccomp":           at(32, 11),
		"mount /data":                at(34, 3),
		"mount /tmp":                 at(39, 3),
		"mount /cache":               at(44, 3),
	}
	for k, w := range wantSources {
		if g, ok := got.Sources[k]; !ok || g != w {
			t.Errorf("Sources[%q] = %q, want %q", k, g, w)
		}
	}
	for k, g := range got.Sources {
		if _, ok := wantSources[k]; !ok {
			t.Errorf("unexpected Sources[%q] = %q", k, g)
		}
	}
}

// loadAppFormCases are the other ways of writing a setting.
var loadAppFormCases = []struct {
	name    string
	content string
	env     map[string]string
	check   func(t *testing.T, a *App, dir string)
}{
	{
		name:    "command as a string runs /bin/sh -c",
		content: `command = "echo $PATH && exec nginx"`,
		check: func(t *testing.T, a *App, _ string) {
			if want := []string{"/bin/sh", "-c", "echo $PATH && exec nginx"}; !reflect.DeepEqual(a.Command, want) {
				t.Errorf("Command = %q, want %q", a.Command, want)
			}
		},
	},
	{
		name:    "entrypoint as a string",
		content: `entrypoint = "exec \"$@\""`,
		check: func(t *testing.T, a *App, _ string) {
			if want := []string{"/bin/sh", "-c", `exec "$@"`}; !reflect.DeepEqual(a.Entrypoint, want) || !a.EntrypointSet {
				t.Errorf("Entrypoint = %q (set %v), want %q", a.Entrypoint, a.EntrypointSet, want)
			}
		},
	},
	{
		name:    "empty entrypoint clears the image's",
		content: `entrypoint = []`,
		check: func(t *testing.T, a *App, _ string) {
			if a.Entrypoint == nil || len(a.Entrypoint) != 0 || !a.EntrypointSet {
				t.Errorf("Entrypoint = %#v (set %v), want an empty, set entrypoint", a.Entrypoint, a.EntrypointSet)
			}
		},
	},
	{
		name:    "no entrypoint key leaves it unset",
		content: `image = "debian"`,
		check: func(t *testing.T, a *App, _ string) {
			if a.EntrypointSet {
				t.Errorf("EntrypointSet = true with no entrypoint key")
			}
		},
	},
	{
		name:    "inline env table and dotted keys",
		content: "env = { A = \"1\", B = true, C = 1.5 }\n",
		check: func(t *testing.T, a *App, _ string) {
			if want := map[string]string{"A": "1", "B": "true", "C": "1.5"}; !reflect.DeepEqual(a.Env, want) {
				t.Errorf("Env = %v, want %v", a.Env, want)
			}
		},
	},
	{
		name:    "relative bind source resolves against the file's directory",
		content: "[[mount]]\nsource = \"./sub/../data\"\ntarget = \"/data\"\n",
		check: func(t *testing.T, a *App, dir string) {
			want := []Mount{{Type: "bind", Source: filepath.Join(dir, "data"), Target: "/data"}}
			if !reflect.DeepEqual(a.Mounts, want) {
				t.Errorf("Mounts = %+v, want %+v", a.Mounts, want)
			}
		},
	},
	{
		name:    "tilde and variables in paths",
		content: "env_file = \"~/app.env\"\nworkdir = \"${WD}/x\"\n",
		env:     map[string]string{"HOME": "HOMEDIR", "WD": "/work"},
		check: func(t *testing.T, a *App, dir string) {
			if a.Workdir != "/work/x" {
				t.Errorf("Workdir = %q, want /work/x", a.Workdir)
			}
			if want := filepath.Join(dir, "app.env"); a.EnvFile != want {
				t.Errorf("EnvFile = %q, want %q", a.EnvFile, want)
			}
		},
	},
	{
		name:    "bare tilde",
		content: "[[mount]]\nsource = \"~\"\ntarget = \"/home\"\n",
		env:     map[string]string{"HOME": "HOMEDIR"},
		check: func(t *testing.T, a *App, dir string) {
			if len(a.Mounts) != 1 || a.Mounts[0].Source != dir {
				t.Errorf("Mounts = %+v, want the home %q as source", a.Mounts, dir)
			}
		},
	},
	{
		name:    "a tilde not at the start stays",
		content: `user = "a~b"`,
		env:     map[string]string{"HOME": "/h"},
		check: func(t *testing.T, a *App, _ string) {
			if a.User != "a~b" {
				t.Errorf("User = %q, want a~b", a.User)
			}
		},
	},
	{
		// ~ is replaced by HOME, and what HOME holds is not expanded again.
		name:    "HOME is not expanded twice",
		content: `workdir = "~/x"`,
		env:     map[string]string{"HOME": "/home/a${b}"},
		check: func(t *testing.T, a *App, _ string) {
			if a.Workdir != "/home/a${b}/x" {
				t.Errorf("Workdir = %q, want /home/a${b}/x", a.Workdir)
			}
		},
	},
	{
		name:    "dollars: $$, ${VAR:-default} and a $ for the shell",
		content: `command = "echo $$HOME ${PORT:-8080} ${USER} $1"`,
		env:     map[string]string{"USER": "ann"},
		check: func(t *testing.T, a *App, _ string) {
			if want := []string{"/bin/sh", "-c", "echo $HOME 8080 ann $1"}; !reflect.DeepEqual(a.Command, want) {
				t.Errorf("Command = %q, want %q", a.Command, want)
			}
		},
	},
	{
		name:    "integer cpus and sizes in bytes",
		content: "[resources]\ncpus = 1\nmemory = 1073741824\n",
		check: func(t *testing.T, a *App, _ string) {
			if a.Resources.CPUs != 1 || a.Resources.Memory != 1<<30 {
				t.Errorf("Resources = %+v, want 1 CPU and 1GiB", a.Resources)
			}
		},
	},
	{
		name:    "pids at the minimum",
		content: fmt.Sprintf("[resources]\npids = %d\n", MinPids),
		check: func(t *testing.T, a *App, _ string) {
			if a.Resources.Pids != MinPids {
				t.Errorf("Pids = %d, want %d", a.Resources.Pids, MinPids)
			}
		},
	},
	{
		name:    "image forms",
		content: "image = \"quay.io/org/app@sha256:" + strings.Repeat("ab", 32) + "\"\n",
		check: func(t *testing.T, a *App, _ string) {
			if !strings.HasPrefix(a.Image, "quay.io/org/app@sha256:abab") {
				t.Errorf("Image = %q", a.Image)
			}
		},
	},
}

// TestLoadAppForms: the other ways of writing a setting.
func TestLoadAppForms(t *testing.T) {
	for _, tt := range loadAppFormCases {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = strings.ReplaceAll(v, "HOMEDIR", dir)
			}
			if err := os.Mkdir(filepath.Join(dir, "data"), 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, dir, "app.env", "A=1\n")
			p := writeFile(t, dir, "app.toml", tt.content)
			a, err := LoadApp(p, fakeEnv(env))
			if err != nil {
				t.Fatalf("LoadApp(%q): %v", tt.content, err)
			}
			tt.check(t, a, dir)
		})
	}
}

// threeMistakesApp is the file.
const threeMistakesApp = `image = "debian:bookworm"

[resources]
memroy = "512MiB"
cpus = "lots"

[[mount]]
source = "."
target = "data"
`

// TestLoadAppThreeMistakes is the file: a typo, a wrong type and a
// relative mount target, all reported at once with their positions.
func TestLoadAppThreeMistakes(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "app.toml", threeMistakesApp)
	_, err := LoadApp(p, fakeEnv(nil))
	if err == nil {
		t.Fatal("LoadApp succeeded, want three errors")
	}
	errs := errList(err)
	if len(errs) != 3 {
		t.Fatalf("got %d errors, want 3:\n%v", len(errs), err)
	}
	want := []struct {
		prefix   string
		mentions []string
	}{
		{p + ":4:1: ", []string{`"memroy"`, `did you mean "memory"?`}},
		{p + ":5:8: ", []string{"resources.cpus", `"lots"`, "1.5"}},
		{p + ":9:10: ", []string{"mount.target", `"data"`, "absolute", "/data"}},
	}
	for i, w := range want {
		msg := errs[i].Error()
		if !strings.HasPrefix(msg, w.prefix) {
			t.Errorf("error %d = %q, want it to start with %q", i, msg, w.prefix)
		}
		for _, m := range w.mentions {
			if !strings.Contains(msg, m) {
				t.Errorf("error %d = %q, want it to mention %s", i, msg, m)
			}
		}
	}
	// The joined text holds them all, one a line.
	if lines := strings.Split(err.Error(), "\n"); len(lines) != 3 {
		t.Errorf("error text has %d lines, want 3:\n%s", len(lines), err)
	}
}

// loadAppErrorCases have one mistake a file (FuzzLoadApp seeds on them).
var loadAppErrorCases = []struct {
	name      string
	content   string
	env       map[string]string // nil: an empty environment
	line, col int
	mentions  []string
}{
	// Wrong types.
	{name: "image not a string", content: "image = 5\n", line: 1, col: 9, mentions: []string{"image", "an integer"}},
	{name: "bool as a string", content: "read_only = \"yes\"\n", line: 1, col: 13, mentions: []string{"read_only", `"yes"`, "true or false"}},
	{name: "stop_timeout as a string", content: "stop_timeout = \"10s\"\n", line: 1, col: 16, mentions: []string{"stop_timeout", "an integer"}},
	{name: "ports as a string", content: "ports = \"8080:80\"\n", line: 1, col: 9, mentions: []string{"ports", "an array"}},
	{name: "port not a string", content: "ports = [8080]\n", line: 1, col: 10, mentions: []string{"ports", "a string"}},
	{name: "command a number", content: "command = 1\n", line: 1, col: 11, mentions: []string{"command", "/bin/sh -c"}},
	{name: "entrypoint element a table", content: "entrypoint = [\"a\", {}]\n", line: 1, col: 20, mentions: []string{"entrypoint", "a table"}},
	{name: "env not a table", content: "env = [\"A=1\"]\n", line: 1, col: 1, mentions: []string{"env", "a table"}},
	{name: "env value an array", content: "[env]\nA = [1]\n", line: 2, col: 1, mentions: []string{"env.A", "an array"}},
	{name: "env key not a name", content: "[env]\n\"A B\" = \"x\"\n", line: 2, col: 1, mentions: []string{"env", `"A B"`, "variable name"}},
	{name: "resources not a table", content: "resources = \"big\"\n", line: 1, col: 13, mentions: []string{"resources", "a table"}},
	{name: "security not a table", content: "security = true\n", line: 1, col: 12, mentions: []string{"security", "a table"}},
	{name: "a date", content: "stop_timeout = 1979-05-27\n", line: 1, col: 16, mentions: []string{"stop_timeout", "1979-05-27", "a date"}},
	{name: "mount as an inline table", content: "mount = { target = \"/x\" }\n", line: 1, col: 9, mentions: []string{"mount", "[[mount]]"}},
	{name: "pids as a float", content: "[resources]\npids = 64.5\n", line: 2, col: 8, mentions: []string{"resources.pids", "a number"}},

	// Sizes and limits.
	{name: "memory 5 hundred", content: "[resources]\nmemory = \"5 hundred\"\n", line: 2, col: 10, mentions: []string{"resources.memory", `"5 hundred"`, "unknown unit"}},
	{name: "memory lots", content: "[resources]\nmemory = \"lots\"\n", line: 2, col: 10, mentions: []string{"resources.memory", `"lots"`, "not a size"}},
	{name: "memory negative", content: "[resources]\nmemory = -1\n", line: 2, col: 10, mentions: []string{"resources.memory", "-1", "more than zero"}},
	{name: "memory zero", content: "[resources]\nmemory = 0\n", line: 2, col: 10, mentions: []string{"resources.memory", "= 0", "more than zero"}},
	{name: "memory negative string", content: "[resources]\nmemory = \"-1G\"\n", line: 2, col: 10, mentions: []string{"resources.memory", `"-1G"`, "more than zero"}},
	{name: "memory a bool", content: "[resources]\nmemory = true\n", line: 2, col: 10, mentions: []string{"resources.memory", "512MiB"}},
	{name: "memory under a byte", content: "[resources]\nmemory = \"0.5\"\n", line: 2, col: 10, mentions: []string{"resources.memory", `"0.5"`}},
	{name: "memory 2^63 bytes", content: "[resources]\nmemory = \"8388608TiB\"\n", line: 2, col: 10, mentions: []string{"resources.memory", `"8388608TiB"`, "too large"}},
	{name: "cpus zero", content: "[resources]\ncpus = 0\n", line: 2, col: 8, mentions: []string{"resources.cpus = 0", "more than zero"}},
	{name: "cpus negative", content: "[resources]\ncpus = -1.5\n", line: 2, col: 8, mentions: []string{"resources.cpus = -1.5", "more than zero"}},
	{name: "cpus inf", content: "[resources]\ncpus = inf\n", line: 2, col: 8, mentions: []string{"resources.cpus"}},
	{name: "cpus nan", content: "[resources]\ncpus = nan\n", line: 2, col: 8, mentions: []string{"resources.cpus"}},
	{name: "pids below MinPids", content: "[resources]\npids = 10\n", line: 2, col: 8, mentions: []string{"resources.pids = 10", fmt.Sprint("at least ", MinPids)}},
	{name: "pids one below MinPids", content: fmt.Sprintf("[resources]\npids = %d\n", MinPids-1), line: 2, col: 8, mentions: []string{"resources.pids", fmt.Sprint(MinPids)}},
	{name: "pids zero", content: "[resources]\npids = 0\n", line: 2, col: 8, mentions: []string{"resources.pids = 0"}},
	{name: "pids negative", content: "[resources]\npids = -5\n", line: 2, col: 8, mentions: []string{"resources.pids = -5"}},
	{name: "stop_timeout negative", content: "stop_timeout = -1\n", line: 1, col: 16, mentions: []string{"stop_timeout = -1", "zero or more"}},
	{name: "io device not under /dev", content: "[resources.io]\nvda = { read_bps = \"1M\" }\n", line: 2, col: 1, mentions: []string{"resources.io", `"vda"`, "/dev/vda"}},
	{name: "io iops zero", content: "[resources.io.\"/dev/vda\"]\nread_iops = 0\n", line: 2, col: 13, mentions: []string{"read_iops = 0", "more than zero"}},
	{name: "io bps bad", content: "[resources.io.\"/dev/vda\"]\nwrite_bps = \"fast\"\n", line: 2, col: 13, mentions: []string{"write_bps", `"fast"`}},
	{name: "io unknown key", content: "[resources.io.\"/dev/vda\"]\nread_bsp = 1\n", line: 2, col: 1, mentions: []string{`"read_bsp"`, `did you mean "read_bps"?`}},

	// Mounts.
	{name: "relative mount target", content: "[[mount]]\ntype = \"tmpfs\"\ntarget = \"data\"\n", line: 3, col: 10, mentions: []string{"mount.target", `"data"`, "/data"}},
	{name: "missing bind source", content: "[[mount]]\nsource = \"nope\"\ntarget = \"/nope\"\n", line: 2, col: 10, mentions: []string{"mount.source", "nope", "create it first"}},
	{name: "bind without source", content: "\n[[mount]]\ntarget = \"/x\"\n", line: 2, col: 3, mentions: []string{"mount", "needs a source"}},
	{name: "bind with an empty source", content: "[[mount]]\nsource = \"\"\ntarget = \"/x\"\n", line: 2, col: 10, mentions: []string{"mount.source"}},
	{name: "mount without target", content: "[[mount]]\ntype = \"tmpfs\"\n", line: 1, col: 3, mentions: []string{"mount", "needs a target"}},
	{name: "mount type unknown", content: "[[mount]]\ntype = \"overlay\"\ntarget = \"/x\"\n", line: 2, col: 8, mentions: []string{"mount.type", `"overlay"`, `"volume"`, `"tmpfs"`}},
	{name: "volume with a path", content: "[[volume]]\nname = \"./data\"\ntarget = \"/x\"\n", line: 2, col: 8, mentions: []string{"volume.name", "a host path goes in a [[mount]]"}},
	{name: "volume with a source", content: "[[volume]]\nsource = \"data\"\ntarget = \"/x\"\n", line: 2, col: 1, mentions: []string{"source", "name"}},
	{name: "mode of a bind", content: "[[mount]]\nsource = \".\"\ntarget = \"/x\"\nmode = \"700\"\n", line: 4, col: 8, mentions: []string{"mount.mode", "only a tmpfs"}},
	{name: "mount unknown key", content: "[[mount]]\ntype = \"tmpfs\"\ntarget = \"/x\"\nreadonly = true\n", line: 4, col: 1, mentions: []string{`"readonly"`, `did you mean "read_only"?`}},
	{name: "size on a bind mount", content: "[[mount]]\nsource = \".\"\ntarget = \"/x\"\nsize = \"1M\"\n", line: 4, col: 8, mentions: []string{"mount.size", "tmpfs"}},
	{name: "source on a tmpfs", content: "[[mount]]\ntype = \"tmpfs\"\nsource = \".\"\ntarget = \"/x\"\n", line: 3, col: 10, mentions: []string{"mount.source", "tmpfs"}},
	{name: "tmpfs size bad", content: "[[mount]]\ntype = \"tmpfs\"\ntarget = \"/x\"\nsize = \"big\"\n", line: 4, col: 8, mentions: []string{"mount.size", `"big"`}},
	{name: "same target twice", content: "[[mount]]\ntype = \"tmpfs\"\ntarget = \"/x\"\n[[mount]]\ntype = \"tmpfs\"\ntarget = \"/x/\"\n", line: 6, col: 10, mentions: []string{"mount.target", `"/x"`, ":1:3"}},

	// Image, names and enumerations.
	{name: "image upper case", content: "image = \"Debian:Bookworm\"\n", line: 1, col: 9, mentions: []string{"image", `"Debian:Bookworm"`, "debian:bookworm"}},
	{name: "image with a space", content: "image = \"debian bookworm\"\n", line: 1, col: 9, mentions: []string{"image", `"debian bookworm"`}},
	{name: "image empty", content: "image = \"\"\n", line: 1, col: 9, mentions: []string{"image", `""`}},
	{name: "image bad digest", content: "image = \"debian@sha256:abc\"\n", line: 1, col: 9, mentions: []string{"image", "sha256:abc"}},
	{name: "name bad", content: "name = \"-web\"\n", line: 1, col: 8, mentions: []string{"name", `"-web"`}},
	{name: "hostname with a slash", content: "hostname = \"a/b\"\n", line: 1, col: 12, mentions: []string{"hostname", `"a/b"`}},
	{name: "hostname too long", content: "hostname = \"" + strings.Repeat("h", 65) + "\"\n", line: 1, col: 12, mentions: []string{"hostname", "64"}},
	{name: "workdir relative", content: "workdir = \"srv\"\n", line: 1, col: 11, mentions: []string{"workdir", `"srv"`, "absolute"}},
	{name: "restart unknown", content: "restart = \"sometimes\"\n", line: 1, col: 11, mentions: []string{"restart", `"sometimes"`, `"on-failure"`}},
	{name: "network unknown", content: "network = \"bridge\"\n", line: 1, col: 11, mentions: []string{"network", `"bridge"`, `"slirp"`}},
	{name: "seccomp profile", content: "[security]\nseccomp = \"/etc/profile.json\"\n", line: 2, col: 11, mentions: []string{"security.seccomp", `"/etc/profile.json"`}},
	{name: "capability unknown", content: "[security]\ncap_add = [\"CHOWN\", \"fly\"]\n", line: 2, col: 21, mentions: []string{"security.cap_add", `"fly"`, "NET_ADMIN"}},
	{name: "security unknown key", content: "[security]\nno_new_privilege = true\n", line: 2, col: 1, mentions: []string{`"no_new_privilege"`, `did you mean "no_new_privileges"?`}},
	{name: "unknown top-level key", content: "image = \"debian\"\nimgae = \"debian\"\n", line: 2, col: 1, mentions: []string{`"imgae"`, `did you mean "image"?`}},
	{name: "unknown key, nothing close", content: "\n  volumes = [\"/a:/b\"]\n", line: 2, col: 3, mentions: []string{`"volumes"`, "valid keys here"}},

	// Ports.
	{name: "port without container port", content: "ports = [\"80\"]\n", line: 1, col: 10, mentions: []string{"ports", `"80"`, "8080:80"}},
	{name: "port protocol", content: "ports = [\"8080:80\", \"53:53/sctp\"]\n", line: 1, col: 21, mentions: []string{"ports", `"53:53/sctp"`, "tcp or udp"}},
	{name: "dns not an address", content: "dns = [\"1.1.1.1\", \"dns.example\"]\n", line: 1, col: 19, mentions: []string{"dns", `"dns.example"`, "IP address"}},
	{name: "add_hosts without ip", content: "add_hosts = [\"db\"]\n", line: 1, col: 14, mentions: []string{"add_hosts", `"db"`, "NAME:IP"}},
	{name: "port zero", content: "ports = [\"0:80\"]\n", line: 1, col: 10, mentions: []string{"ports", `"0:80"`, "1 to 65535"}},
	{name: "port too big", content: "ports = [\"8080:65536\"]\n", line: 1, col: 10, mentions: []string{"ports", "65536"}},
	{name: "port not a number", content: "ports = [\"http:80\"]\n", line: 1, col: 10, mentions: []string{"ports", `"http"`}},
	{name: "port with too many parts", content: "ports = [\"1:2:3:4\"]\n", line: 1, col: 10, mentions: []string{"ports", `"1:2:3:4"`}},
	{name: "port with a bad IP", content: "ports = [\"localhost-ish:8080:80\"]\n", line: 1, col: 10, mentions: []string{"ports", "localhost-ish"}},
	// The parser gives arrays no place of their own: a nested one is
	// reported at its key.
	{name: "port in a nested array", content: "ports = [[\"8080:80\"]]\n", line: 1, col: 1, mentions: []string{"ports"}},

	// Expansion.
	{name: "undefined variable", content: "[env]\nGREETING = \"hello ${WHO}\"\n", line: 2, col: 12, mentions: []string{"env.GREETING", `"hello ${WHO}"`, "${WHO} is not set"}},
	{name: "unclosed variable", content: "workdir = \"/${WD\"\n", line: 1, col: 11, mentions: []string{"workdir", "unclosed"}},
	{name: "tilde without HOME", content: "[[mount]]\nsource = \"~/data\"\ntarget = \"/data\"\n", line: 2, col: 10, mentions: []string{"mount.source", `"~/data"`, "HOME"}},
	{name: "tilde with an empty HOME", content: "env_file = \"~/.env\"\n", env: map[string]string{"HOME": ""}, line: 1, col: 12, mentions: []string{"env_file", "HOME"}},
	{name: "tilde to a missing dir", content: "[[mount]]\nsource = \"~/none\"\ntarget = \"/none\"\n", env: map[string]string{"HOME": "/nonexistent-home"}, line: 2, col: 10, mentions: []string{"mount.source", "/nonexistent-home/none"}},
	{name: "env_file missing", content: "env_file = \"missing.env\"\n", line: 1, col: 12, mentions: []string{"env_file", `"missing.env"`}},
	{name: "env_file empty", content: "env_file = \"\"\n", line: 1, col: 12, mentions: []string{"env_file"}},

	// TOML itself.
	{name: "syntax error", content: "image = \"debian\"\nname = \n", line: 2, col: 8, mentions: []string{"expected"}},
	{name: "key set twice", content: "image = \"a\"\n\nimage = \"b\"\n", line: 3, col: 1, mentions: []string{`"image"`, "twice", "line 1"}},
	{name: "table header over a key", content: "resources = 1\n[resources]\n", line: 2, col: 2, mentions: []string{`"resources"`, "not a table"}},
	{name: "integer overflow", content: "stop_timeout = 99999999999999999999\n", line: 1, col: 16, mentions: []string{"99999999999999999999"}},
}

// TestLoadAppErrors: one mistake a file, each reported once at its
// position, naming the key and the bad value.
func TestLoadAppErrors(t *testing.T) {
	for _, tt := range loadAppErrorCases {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := writeFile(t, dir, "app.toml", tt.content)
			a, err := LoadApp(p, fakeEnv(tt.env))
			if err == nil {
				t.Fatalf("LoadApp(%q) = %+v, nil; want an error at %d:%d", tt.content, a, tt.line, tt.col)
			}
			errs := errList(err)
			if len(errs) != 1 {
				t.Errorf("LoadApp(%q): %d errors, want 1:\n%v", tt.content, len(errs), err)
			}
			msg := errs[0].Error()
			if prefix := fmt.Sprintf("%s:%d:%d: ", p, tt.line, tt.col); !strings.HasPrefix(msg, prefix) {
				t.Errorf("error %q does not start with %q", msg, prefix)
			}
			for _, m := range tt.mentions {
				if !strings.Contains(msg, m) {
					t.Errorf("error %q does not mention %s", msg, m)
				}
			}
		})
	}
}

// TestLoadAppReadError: a file that cannot be read is an error naming it.
func TestLoadAppReadError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "missing.toml")
	_, err := LoadApp(p, fakeEnv(nil))
	if err == nil || !strings.Contains(err.Error(), p) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadApp of a missing file = %v, want an error naming %q that is os.ErrNotExist", err, p)
	}
}

// TestLoadAppInvalidTOML: documents the TOML spec forbids must not load.
func TestLoadAppInvalidTOML(t *testing.T) {
	for _, tt := range []struct{ name, content string }{
		{"table defined twice", "[resources]\npids = 64\n[resources]\nmemory = \"1G\"\n"},
		{"table after array of tables", "[[mount]]\ntype = \"tmpfs\"\ntarget = \"/a\"\n[mount]\nread_only = true\n"},
		{"array of tables over a static array", "mount = [{ type = \"tmpfs\", target = \"/a\" }]\n[[mount]]\ntype = \"tmpfs\"\ntarget = \"/b\"\n"},
		{"inline table extended by a header", "env = { A = \"1\" }\n[env]\nB = \"2\"\n"},
		{"inline table extended by a dotted key", "env = { A = \"1\" }\nenv.B = \"2\"\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "app.toml", tt.content)
			a, err := LoadApp(p, fakeEnv(nil))
			if err == nil {
				t.Errorf("LoadApp(%q) = %+v, nil; want a TOML error", tt.content, withoutSources(a))
			} else if !strings.HasPrefix(err.Error(), p+":") {
				t.Errorf("error %q has no position", err)
			}
		})
	}
}

// mergeFixture loads the layers of a launch: Defaults, a config.toml, an
// app.toml and a flags layer built the way the run command builds it.
type mergeFixture struct {
	dir, cfgPath, appPath string
	user, file, flags     *App
}

func newMergeFixture(t *testing.T) mergeFixture {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"a", "b", "cache"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfgPath := writeFile(t, dir, "config.toml", `network = "none"
restart = "always"
stop_timeout = 20

[env]
A = "user"
C = "user"

[resources]
pids = 64
`)
	user, err := Load(cfgPath)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	appPath := writeFile(t, dir, "app.toml", `image = "debian:bookworm"
restart = "on-failure"

[env]
A = "1"
B = "1"

[resources]
memory = "1G"
pids = 100

[[mount]]
source = "a"
target = "/data"

[[mount]]
source = "cache"
target = "/cache"
`)
	file, err := LoadApp(appPath, fakeEnv(nil))
	if err != nil {
		t.Fatalf("LoadApp: %v", err)
	}
	flags := &App{
		Env:       map[string]string{"A": "2"},
		Mounts:    []Mount{{Type: "bind", Source: filepath.Join(dir, "b"), Target: "/data", ReadOnly: true}},
		Resources: Resources{Memory: 2 << 30},
		Sources:   map[string]string{"env.A": "flag", "mount /data": "flag", "resources.memory": "flag"},
	}
	return mergeFixture{dir, cfgPath, appPath, user.Defaults, file, flags}
}

func TestMergePrecedence(t *testing.T) {
	f := newMergeFixture(t)
	got := Merge(Defaults(), f.user, f.file, f.flags)
	want := App{
		Image:       "debian:bookworm",
		Network:     "none",
		Restart:     "on-failure",
		StopTimeout: 20,
		Env:         map[string]string{"A": "2", "B": "1", "C": "user"},
		Mounts: []Mount{
			{Type: "bind", Source: filepath.Join(f.dir, "cache"), Target: "/cache"},
			{Type: "bind", Source: filepath.Join(f.dir, "b"), Target: "/data", ReadOnly: true},
		},
		Resources: Resources{Memory: 2 << 30, Pids: 100},
		Security:  Security{NoNewPrivileges: true, Seccomp: "default"},
	}
	g := withoutSources(got)
	g.Mounts = sortMounts(g.Mounts) // order: TestMergeKeepsMountOrder
	if !reflect.DeepEqual(g, want) {
		t.Errorf("Merge =\n %+v\nwant\n %+v", g, want)
	}
	cfg := func(line, col int) string { return fmt.Sprintf("%s:%d:%d", f.cfgPath, line, col) }
	app := func(line, col int) string { return fmt.Sprintf("%s:%d:%d", f.appPath, line, col) }
	wantSources := map[string]string{
		"image":                      app(1, 9),
		"network":                    cfg(1, 11),
		"restart":                    app(2, 11),
		"stop_timeout":               cfg(3, 16),
		"env.A":                      "flag",
		"env.B":                      app(6, 5),
		"env.C":                      cfg(7, 5),
		"resources.memory":           "flag",
		"resources.pids":             app(10, 8),
		"mount /data":                "flag",
		"mount /cache":               app(16, 3),
		"security.no_new_privileges": "default",
		"security.seccomp":           "default",
	}
	if !reflect.DeepEqual(got.Sources, wantSources) {
		t.Errorf("Merge Sources =\n %v\nwant\n %v", got.Sources, wantSources)
	}

	// A layer's absence changes only what it set.
	noFlags := Merge(Defaults(), f.user, f.file, nil)
	if noFlags.Env["A"] != "1" || noFlags.Sources["env.A"] != app(5, 5) || noFlags.Resources.Memory != 1<<30 {
		t.Errorf("Merge without flags: env.A = %q from %q, memory %d; want the file's", noFlags.Env["A"], noFlags.Sources["env.A"], noFlags.Resources.Memory)
	}
	onlyDefaults, d := Merge(Defaults(), nil), Defaults()
	if len(onlyDefaults.Env) != 0 {
		t.Errorf("Merge(Defaults()) has env %v", onlyDefaults.Env)
	}
	onlyDefaults.Env = nil
	if !reflect.DeepEqual(onlyDefaults, d) {
		t.Errorf("Merge(Defaults()) = %+v, want %+v", onlyDefaults, d)
	}
	// Merge must not change its layers.
	if f.file.Env["A"] != "1" || len(f.file.Mounts) != 2 || f.file.Mounts[0].Source != filepath.Join(f.dir, "a") {
		t.Errorf("Merge changed the file layer: %+v", f.file)
	}
}

// TestMergeKeepsMountOrder: mounts are made in order, so a mount under
// another must stay after it; Merge must keep the layers' order.
func TestMergeKeepsMountOrder(t *testing.T) {
	layer := &App{Sources: map[string]string{}}
	for _, target := range []string{"/srv", "/srv/data", "/srv/data/cache", "/srv/data/cache/tmp", "/srv/log", "/var"} {
		layer.Mounts = append(layer.Mounts, Mount{Type: "tmpfs", Target: target})
		layer.Sources["mount "+target] = "flag"
	}
	for i := range 20 {
		got := Merge(Defaults(), layer)
		if !reflect.DeepEqual(got.Mounts, layer.Mounts) {
			t.Fatalf("Merge #%d: mounts in order %v, want %v", i, targets(got.Mounts), targets(layer.Mounts))
		}
	}
}

func targets(ms []Mount) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Target)
	}
	return out
}

// TestMergeMountSameTargetInOneFile: the mount Merge keeps is the one
// Sources names.
func TestMergeMountSameTargetInOneFile(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"first", "second"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := writeFile(t, dir, "app.toml", "[[mount]]\nsource = \"first\"\ntarget = \"/x\"\n\n[[mount]]\nsource = \"second\"\ntarget = \"/x\"\n")
	a, err := LoadApp(p, fakeEnv(nil))
	if err != nil {
		return // reporting the duplicate is a fine answer
	}
	m := Merge(Defaults(), a)
	if len(m.Mounts) != 1 {
		t.Fatalf("merged mounts %+v, want one at /x", m.Mounts)
	}
	src := m.Sources["mount /x"]
	line := map[string]string{filepath.Join(dir, "first"): p + ":1:3", filepath.Join(dir, "second"): p + ":5:3"}[m.Mounts[0].Source]
	if src != line {
		t.Errorf("merged mount /x has source %q but Sources says %q (the mount written at %s)", m.Mounts[0].Source, src, line)
	}
}

func TestEnvList(t *testing.T) {
	a := &App{Env: map[string]string{"B": "2", "A": "x=y", "C": ""}}
	if got, want := a.EnvList(), []string{"A=x=y", "B=2", "C="}; !reflect.DeepEqual(got, want) {
		t.Errorf("EnvList = %q, want %q", got, want)
	}
	if got := (&App{}).EnvList(); len(got) != 0 {
		t.Errorf("EnvList of no env = %q, want none", got)
	}
}

// TestWriteTOMLExplain: each setting is followed by where it came from.
func TestWriteTOMLExplain(t *testing.T) {
	f := newMergeFixture(t)
	a := Merge(Defaults(), f.user, f.file, f.flags)
	var b bytes.Buffer
	a.WriteTOML(&b, true)
	out := b.String()
	cfg := func(line, col int) string { return fmt.Sprintf("%s:%d:%d", f.cfgPath, line, col) }
	app := func(line, col int) string { return fmt.Sprintf("%s:%d:%d", f.appPath, line, col) }
	for _, w := range []struct{ text, src string }{
		{`image = "debian:bookworm"`, app(1, 9)},
		{`network = "none"`, cfg(1, 11)},
		{`restart = "on-failure"`, app(2, 11)},
		{`stop_timeout = 20`, cfg(3, 16)},
		{`"A" = "2"`, "flag"},
		{`"B" = "1"`, app(6, 5)},
		{`"C" = "user"`, cfg(7, 5)},
		{`memory = "2GiB"`, "flag"},
		{`pids = 100`, app(10, 8)},
		{`no_new_privileges = true`, "default"},
		{`seccomp = "default"`, "default"},
		{`target = "/data"`, "flag"},
		{`target = "/cache"`, app(16, 3)},
	} {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(w.text) + ` +# ` + regexp.QuoteMeta(w.src) + `$`)
		if !re.MatchString(out) {
			t.Errorf("explained TOML has no line %q with source %q:\n%s", w.text, w.src, out)
		}
	}
	// Every key = value line but a mount's details carries a source.
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, " = ") || strings.Contains(l, "#") {
			continue
		}
		if k, _, _ := strings.Cut(l, " = "); k != "type" && k != "source" && k != "read_only" && k != "size" {
			t.Errorf("explained line %q has no source", l)
		}
	}
	// Without explain there are no comments.
	b.Reset()
	a.WriteTOML(&b, false)
	if strings.Contains(b.String(), "#") {
		t.Errorf("WriteTOML(explain=false) wrote comments:\n%s", b.String())
	}
}

// roundTrip writes a as TOML (explained or not) next to dir, loads it back
// and returns the result.
func roundTrip(t *testing.T, a *App, dir string, explain bool, env func(string) (string, bool)) (string, *App, error) {
	t.Helper()
	var b bytes.Buffer
	a.WriteTOML(&b, explain)
	p := writeFile(t, dir, fmt.Sprintf("written-%v.toml", explain), b.String())
	back, err := LoadApp(p, env)
	return b.String(), back, err
}

// TestWriteTOMLRoundTrip: what WriteTOML writes, LoadApp reads back to the
// same values. WriteTOML orders mounts by target; the comparison does too.
func TestWriteTOMLRoundTrip(t *testing.T) {
	check := func(t *testing.T, a *App, dir string, env func(string) (string, bool)) {
		t.Helper()
		for _, explain := range []bool{false, true} {
			text, back, err := roundTrip(t, a, dir, explain, env)
			if err != nil {
				t.Errorf("explain=%v: LoadApp of WriteTOML's output: %v\n%s", explain, err, text)
				continue
			}
			want, got := withoutSources(a), withoutSources(back)
			want.Mounts, got.Mounts = sortMounts(want.Mounts), sortMounts(got.Mounts)
			if len(want.Env) == 0 && len(got.Env) == 0 {
				want.Env, got.Env = nil, nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("explain=%v: round trip =\n %+v\nwant\n %+v\nTOML:\n%s", explain, got, want, text)
			}
			if explain {
				continue
			}
			for k := range a.Sources {
				if _, ok := back.Sources[k]; !ok {
					t.Errorf("key %q did not survive the round trip:\n%s", k, text)
				}
			}
		}
	}

	t.Run("every key", func(t *testing.T) {
		dir, p, env := everyKeyDir(t)
		a, err := LoadApp(p, env)
		if err != nil {
			t.Fatalf("LoadApp: %v", err)
		}
		check(t, a, dir, env)
	})
	t.Run("merged layers", func(t *testing.T) {
		f := newMergeFixture(t)
		check(t, Merge(Defaults(), f.user, f.file, f.flags), f.dir, fakeEnv(nil))
	})

	// Values a flags layer can hold (they are not checked the way a file's
	// are), one a case.
	for _, tt := range []struct {
		name string
		a    App
	}{
		{"plain", App{Image: "debian", Command: []string{"sh", "-c", `echo "hi" \ there`}, Env: map[string]string{"PS1": `\u@\h:\w$ `}}},
		{"unicode", App{Env: map[string]string{"MSG": "héllo – 世界"}}},
		{"tab and newline", App{Env: map[string]string{"T": "a\tb\nc\r"}}},
		{"escape character", App{Env: map[string]string{"COLOR": "\x1b[31m"}}},
		{"bell", App{Env: map[string]string{"BELL": "\a"}}},
		{"vertical tab", App{Env: map[string]string{"VT": "\v"}}},
		{"delete", App{Env: map[string]string{"DEL": "\x7f"}}},
		// TOML holds only UTF-8: invalid bytes are written as U+FFFD, so
		// they cannot round-trip.
		{"dollar brace", App{Command: []string{"sh", "-c", "echo ${HOME}"}}},
		{"two dollars", App{Env: map[string]string{"PRICE": "$$5"}}},
		// A leading ~ is always the home: a literal one cannot round-trip.
		{"memory in round units", App{Resources: Resources{Memory: 3 << 29, MemorySwap: 3 << 30}}},
		{"memory of 10^9 bytes", App{Resources: Resources{Memory: 1000000000}}},
		{"memory one byte over 1.5GiB", App{Resources: Resources{Memory: 3<<29 + 1}}},
		{"memory of 10000GiB and a byte", App{Resources: Resources{Memory: 10000<<30 + 1}}},
		{"tmpfs of 100000 bytes", App{Mounts: []Mount{{Type: "tmpfs", Target: "/t", Size: 100000}}}},
		{"cpus", App{Resources: Resources{CPUs: 1.0 / 3}}},
		{"io", App{Resources: Resources{IO: []IOLimit{{Device: "/dev/vda", ReadBPS: 1000, WriteIOPS: 7}, {Device: "/dev/vdb", WriteBPS: 1 << 20}}}}},
		{"empty entrypoint", App{Entrypoint: []string{}, EntrypointSet: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.a
			a.Sources = map[string]string{}
			// Every field set is a key in Sources, as a layer has it.
			for k, set := range map[string]bool{
				"image": a.Image != "", "command": a.Command != nil, "entrypoint": a.EntrypointSet,
				"resources.memory": a.Resources.Memory != 0, "resources.memory_swap": a.Resources.MemorySwap != 0,
				"resources.cpus": a.Resources.CPUs != 0,
			} {
				if set {
					a.Sources[k] = "flag"
				}
			}
			for k := range a.Env {
				a.Sources["env."+k] = "flag"
			}
			for _, m := range a.Mounts {
				a.Sources["mount "+m.Target] = "flag"
			}
			for _, l := range a.Resources.IO {
				a.Sources["resources.io."+l.Device] = "flag"
			}
			check(t, &a, t.TempDir(), fakeEnv(map[string]string{"HOME": "/home/other"}))
		})
	}
}

// TestLoadAppNoNaN guards the float conversion: a value that is not a
// number must never reach a limit.
func TestLoadAppNoNaN(t *testing.T) {
	for _, v := range []string{"nan", "+nan", "-nan", "inf", "-inf"} {
		p := writeFile(t, t.TempDir(), "app.toml", "[resources]\ncpus = "+v+"\n")
		a, err := LoadApp(p, fakeEnv(nil))
		if err == nil && (math.IsNaN(a.Resources.CPUs) || math.IsInf(a.Resources.CPUs, 0)) {
			t.Errorf("cpus = %s loaded as %v with no error", v, a.Resources.CPUs)
		}
	}
}

// TestLoadAppEnvFile: env_file's variables join [env]'s, the table's
// winning; within the file, a later line wins, as with docker's --env-file.
func TestLoadAppEnvFile(t *testing.T) {
	dir := t.TempDir()
	envPath := writeFile(t, dir, "conf/app.env", "# comment\n\nA=file\nB=1\nB=2\nC\nD\nE=x=y\n")
	p := writeFile(t, dir, "app.toml", "env_file = \"conf/app.env\"\n\n[env]\nA = \"table\"\n")
	a, err := LoadApp(p, fakeEnv(map[string]string{"C": "from-env"}))
	if err != nil {
		t.Fatalf("LoadApp: %v", err)
	}
	if want := map[string]string{"A": "table", "B": "2", "C": "from-env", "E": "x=y"}; !reflect.DeepEqual(a.Env, want) {
		t.Errorf("Env = %v, want %v", a.Env, want)
	}
	for k, w := range map[string]string{
		"env.A":    p + ":4:5",
		"env.B":    envPath + ":5:1",
		"env.C":    envPath + ":6:1",
		"env.E":    envPath + ":8:1",
		"env_file": p + ":1:12",
	} {
		if g := a.Sources[k]; g != w {
			t.Errorf("Sources[%q] = %q, want %q", k, g, w)
		}
	}
	if a.EnvFile != envPath {
		t.Errorf("EnvFile = %q, want %q", a.EnvFile, envPath)
	}

	// Each bad line is an error, and each line of the error text has a
	// position.
	writeFile(t, dir, "bad.env", "A=1\nbad line\n1X=3\n")
	p = writeFile(t, dir, "bad.toml", "env_file = \"bad.env\"\n")
	_, err = LoadApp(p, fakeEnv(nil))
	if err == nil {
		t.Fatal("LoadApp with a bad env file succeeded")
	}
	for i, l := range strings.Split(err.Error(), "\n") {
		if !strings.HasPrefix(l, p+":1:12: ") {
			t.Errorf("error line %d %q does not start with the env_file key's position %s:1:12", i, l, p)
		}
	}
	for _, w := range []string{"bad.env:2", `"bad line"`, "bad.env:3", `"1X=3"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %s", err, w)
		}
	}
}

func TestLoadAppNetworkKeys(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "app.toml", `network = "pasta"
ports = ["8080:80", "127.0.0.1:5353:53/udp"]
dns = ["192.0.2.53", "2001:db8::53"]
add_hosts = ["db:192.0.2.10", "api:host-gateway"]
`)
	a, err := LoadApp(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Network != "pasta" || len(a.Ports) != 2 || !reflect.DeepEqual(a.DNS, []string{"192.0.2.53", "2001:db8::53"}) ||
		!reflect.DeepEqual(a.AddHosts, []string{"db:192.0.2.10", "api:host-gateway"}) {
		t.Errorf("LoadApp = network %q ports %q dns %q add_hosts %q", a.Network, a.Ports, a.DNS, a.AddHosts)
	}
	// Merged into the dry-run TOML and read back unchanged.
	var b strings.Builder
	a.WriteTOML(&b, false)
	back, err := LoadApp(writeFile(t, dir, "back.toml", b.String()), nil)
	if err != nil {
		t.Fatalf("reading back:\n%s\n%v", b.String(), err)
	}
	if !reflect.DeepEqual(back.DNS, a.DNS) || !reflect.DeepEqual(back.AddHosts, a.AddHosts) {
		t.Errorf("round trip lost dns/add_hosts:\n%s", b.String())
	}
}

func TestVolumeTables(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "app.toml", "image = \"bb\"\n[[volume]]\nname = \"data\"\ntarget = \"/data\"\nread_only = true\n\n[[volume]]\ntarget = \"/cache\"\n\n[[mount]]\ntype = \"tmpfs\"\ntarget = \"/t\"\nmode = \"700\"\n\n[[mount]]\ntype = \"volume\"\nsource = \"logs\"\ntarget = \"/logs\"\n")
	a, err := LoadApp(filepath.Join(dir, "app.toml"), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{Type: "volume", Source: "data", Target: "/data", ReadOnly: true},
		{Type: "volume", Target: "/cache"},
		{Type: "tmpfs", Target: "/t", Mode: 0o700},
		{Type: "volume", Source: "logs", Target: "/logs"},
	}
	if !reflect.DeepEqual(a.Mounts, want) {
		t.Errorf("mounts = %+v\nwant %+v", a.Mounts, want)
	}
}
