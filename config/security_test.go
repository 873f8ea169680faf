package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSecurityOpt(t *testing.T) {
	dir := t.TempDir()
	profile := filepath.Join(dir, "p.json")
	os.WriteFile(profile, []byte("{}"), 0o644)
	tests := []struct {
		opt, key string
		check    func(Security) bool
		err      string
	}{
		{"seccomp=unconfined", "security.seccomp", func(s Security) bool { return s.Seccomp == "unconfined" }, ""},
		{"seccomp:default", "security.seccomp", func(s Security) bool { return s.Seccomp == "default" }, ""},
		{"seccomp=" + profile, "security.seccomp", func(s Security) bool { return s.Seccomp == profile }, ""},
		{"seccomp=" + filepath.Join(dir, "missing.json"), "", nil, "no such file"},
		{"no-new-privileges", "security.no_new_privileges", func(s Security) bool { return s.NoNewPrivileges }, ""},
		{"no-new-privileges=false", "security.no_new_privileges", func(s Security) bool { return !s.NoNewPrivileges }, ""},
		{"no-new-privileges:maybe", "", nil, "not true or false"},
		{"fakeroot=false", "security.fakeroot", func(s Security) bool { return s.FakeRoot != nil && !*s.FakeRoot }, ""},
		{"fakeroot", "security.fakeroot", func(s Security) bool { return s.FakeRoot != nil && *s.FakeRoot }, ""},
		{"label=disable", "", func(s Security) bool { return true }, ""},
		{"label=type:x", "", nil, "SELinux"},
		{"seccom=x", "", nil, "unknown option"},
	}
	for _, tt := range tests {
		sec := Security{NoNewPrivileges: true}
		key, err := ParseSecurityOpt(tt.opt, &sec)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want one containing %q", tt.opt, err, tt.err)
			}
			continue
		}
		if err != nil || key != tt.key || !tt.check(sec) {
			t.Errorf("%q: key %q, %+v, %v; want key %q", tt.opt, key, sec, err, tt.key)
		}
	}
}

// TestLaunchSecurityKeys: fakeroot and a profile path relative to the file.
func TestLaunchSecurityKeys(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "deny.json"), []byte("{}"), 0o644)
	app := filepath.Join(dir, "app.toml")
	os.WriteFile(app, []byte("image = \"bb\"\n[security]\nseccomp = \"deny.json\"\nfakeroot = false\n"), 0o644)
	a, err := LoadApp(app, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Security.Seccomp != filepath.Join(dir, "deny.json") || a.Security.FakeRoot == nil || *a.Security.FakeRoot {
		t.Fatalf("security = %+v", a.Security)
	}
	os.WriteFile(app, []byte("image = \"bb\"\n[security]\nseccomp = \"nope.json\"\nfakerot = true\n"), 0o644)
	_, err = LoadApp(app, nil)
	if err == nil || !strings.Contains(err.Error(), "app.toml:3:11") || !strings.Contains(err.Error(), "nope.json") || !strings.Contains(err.Error(), "fakeroot") {
		t.Fatalf("err = %v, want the missing profile at 3:11 and a suggestion for fakerot", err)
	}
}
