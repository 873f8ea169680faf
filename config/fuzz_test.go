package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// fuzzSeeds are valid and invalid launch files, with the examples of the
// loader's tests (FuzzLoadApp adds their tables) and a few shapes of TOML
// that are easy to get wrong.
var fuzzSeeds = []string{
	everyKeyApp,
	// The same, valid in any directory holding it as app.toml.
	strings.NewReplacer(`"data"`, `"."`, `"app.env"`, `"app.toml"`, `"~/cache"`, `"~"`).Replace(everyKeyApp),
	"",
	"# nothing\n",
	`command = "echo $$HOME ${PORT:-8080} $1"`,
	"entrypoint = []\n",
	"env = { A = \"1\", B = true, C = 1.5 }\n",
	"[[mount]]\nsource = \"~\"\ntarget = \"/home\"\n",
	threeMistakesApp,
	"image = 5\n",
	"read_only = \"yes\"\n",
	"ports = [8080, \"0:80\", \"53:53/sctp\", \"1:2:3:4\"]\n",
	"[env]\n\"A B\" = \"x\"\nC = [1]\nD = 1979-05-27T07:32:00Z\n",
	"[resources]\nmemory = \"5 hundred\"\nmemory_swap = -1\ncpus = 0\npids = 10\n",
	"[resources]\nmemory = \"1G\"\nmemory_swap = \"512M\"\ncpus = -1.5\n",
	"[resources.io]\nvda = { read_bps = \"1M\" }\n\"/dev/vdb\" = { read_iops = 0, write_bps = \"fast\", x = 1 }\n",
	"[[mount]]\ntarget = \"/x\"\n[[mount]]\ntype = \"tmpfs\"\nsource = \".\"\nsize = \"big\"\n[[mount]]\nsource = \"nope\"\ntarget = \"/nope\"\nsize = 5\n",
	"mount = [{ type = \"tmpfs\", target = \"/a\" }, 5]\n",
	"image = \"Debian:Bookworm\"\nname = \"-web\"\nhostname = \"a/b\"\nworkdir = \"srv\"\nrestart = \"sometimes\"\nnetwork = \"bridge\"\n",
	"[security]\nseccomp = \"/etc/profile.json\"\ncap_add = [\"fly\"]\nno_new_privilege = true\n",
	"[env]\nGREETING = \"hello ${WHO}\"\nX = \"${UNCLOSED\"\nY = \"${1X}\"\n",
	"env_file = \"~/.env\"\nworkdir = \"~/x\"\n",
	"image = \"a\"\n\nimage = \"b\"\n",
	"resources = 1\n[resources]\n",
	"stop_timeout = 99999999999999999999\n",
	"name = \n",
	"x = [1,",
	"[[mount]]\n[mount]\ntarget = \"/a\"\n",
}

// posLine is the start of one error: PATH:LINE:COL: .
var posLine = regexp.MustCompile(`^(.*?):([0-9]+):([0-9]+): `)

// posSource is a source in App.Sources that is a position: PATH:LINE:COL.
var posSource = regexp.MustCompile(`^(.*):([1-9][0-9]*):([1-9][0-9]*)$`)

// FuzzLoadApp: whatever the file holds, LoadApp does not panic, and every
// error it reports points into the file: PATH:LINE:COL, on a line the file
// has.
func FuzzLoadApp(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	for _, c := range loadAppFormCases {
		f.Add(c.content)
	}
	for _, c := range loadAppErrorCases {
		f.Add(c.content)
	}
	f.Fuzz(func(t *testing.T, content string) {
		dir := t.TempDir()
		p := filepath.Join(dir, "app.toml")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		env := fakeEnv(map[string]string{"HOME": dir, "WHO": "world", "EMPTY": ""})
		a, err := LoadApp(p, env)
		lines := strings.Count(content, "\n") + 1
		if err == nil {
			if a == nil {
				t.Fatal("LoadApp returned neither an App nor an error")
			}
			// A source is a position in the file, or in its env_file.
			for k, src := range a.Sources {
				m := posSource.FindStringSubmatch(src)
				if m == nil || m[1] != p && m[1] != a.EnvFile {
					t.Errorf("Sources[%q] = %q, not a position in %s", k, src, p)
				}
			}
			return
		}
		for _, e := range errList(err) {
			msg := e.Error()
			m := posLine.FindStringSubmatch(msg)
			if m == nil || m[1] != p {
				t.Errorf("error without a position in %s:\n%s\nfile:\n%q", p, msg, content)
				continue
			}
			line, _ := strconv.Atoi(m[2])
			col, _ := strconv.Atoi(m[3])
			if line < 1 || line > lines || col < 1 {
				t.Errorf("error at %d:%d, outside the file's %d lines:\n%s\nfile:\n%q", line, col, lines, msg, content)
			}
		}
	})
}

// FuzzWriteTOML: what LoadApp accepts, WriteTOML writes as TOML that
// LoadApp reads back to the same values.
func FuzzWriteTOML(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		dir := t.TempDir()
		p := filepath.Join(dir, "app.toml")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		env := fakeEnv(map[string]string{"HOME": dir, "WHO": "world", "EMPTY": ""})
		a, err := LoadApp(p, env)
		if err != nil {
			return
		}
		var b bytes.Buffer
		a.WriteTOML(&b, false)
		q := filepath.Join(dir, "written.toml")
		if err := os.WriteFile(q, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		back, err := LoadApp(q, env)
		if err != nil {
			t.Fatalf("LoadApp of WriteTOML's output: %v\ninput:\n%q\noutput:\n%s", err, content, b.String())
		}
		want, got := withoutSources(a), withoutSources(back)
		want.Mounts, got.Mounts = sortMounts(want.Mounts), sortMounts(got.Mounts)
		if len(want.Env) == 0 && len(got.Env) == 0 {
			want.Env, got.Env = nil, nil
		}
		if !equalApps(got, want) {
			t.Errorf("round trip =\n %+v\nwant\n %+v\ninput:\n%q\noutput:\n%s", got, want, content, b.String())
		}
	})
}

// equalApps compares two Apps as values; nil and empty slices are equal.
func equalApps(a, b App) bool {
	for _, x := range []*App{&a, &b} {
		for _, l := range []*[]string{&x.Command, &x.Entrypoint, &x.Ports, &x.Security.CapAdd, &x.Security.CapDrop} {
			if len(*l) == 0 {
				*l = nil
			}
		}
		if len(x.Mounts) == 0 {
			x.Mounts = nil
		}
		if len(x.Resources.IO) == 0 {
			x.Resources.IO = nil
		}
		if len(x.Env) == 0 {
			x.Env = nil
		}
	}
	return reflect.DeepEqual(a, b)
}
