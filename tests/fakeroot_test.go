package tests

// Fake root (issue 10): without subordinate ids only root exists in a
// sandbox, so chown to another id, setgroups and setuid fail, and package
// managers with them. With fake root (the default in single-id mode) the
// filter makes those calls succeed without doing anything; with
// --security-opt fakeroot=false they fail again. A user with subordinate
// ids has the real ids and needs none of it.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

var frDebs struct {
	once sync.Once
	dir  string
	err  error
}

// fakerootDebs builds (once) two packages with dpkg-deb, in a directory
// the test users can read: sbxfr-dpkg.deb and sbxfr-apt.deb, each with a
// file owned by 1000:1000 (/opt/NAME/owned-by-1000) and a postinst that
// chowns another (/opt/NAME/by-postinst) to 1000:1000.
func fakerootDebs(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb is not installed (apt-get install dpkg)")
	}
	if os.Geteuid() != 0 {
		t.Skip("building packages with files owned by 1000:1000 needs root; run the suite as root")
	}
	frDebs.once.Do(func() {
		frDebs.err = func() error {
			out := filepath.Join(baseDir, "fakeroot-debs")
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			for _, name := range []string{"sbxfr-dpkg", "sbxfr-apt"} {
				root := filepath.Join(baseDir, "fakeroot-build", name)
				files := map[string]struct {
					content string
					mode    os.FileMode
				}{
					"DEBIAN/control":                 {fmt.Sprintf("Package: %s\nVersion: 1.0\nArchitecture: all\nMaintainer: sandbox tests <tests@example.invalid>\nDescription: fake root test package\n", name), 0o644},
					"DEBIAN/postinst":                {fmt.Sprintf("#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n\ttouch /opt/%[1]s/by-postinst\n\tchown 1000:1000 /opt/%[1]s/by-postinst\nfi\n", name), 0o755},
					"opt/" + name + "/owned-by-1000": {"owned by 1000\n", 0o644},
				}
				for rel, f := range files {
					p := filepath.Join(root, rel)
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						return err
					}
					if err := os.WriteFile(p, []byte(f.content), f.mode); err != nil {
						return err
					}
					if err := os.Chmod(p, f.mode); err != nil {
						return err
					}
				}
				if err := os.Lchown(filepath.Join(root, "opt", name, "owned-by-1000"), 1000, 1000); err != nil {
					return err
				}
				deb := filepath.Join(out, name+".deb")
				if b, err := exec.Command("dpkg-deb", "-Zgzip", "--build", root, deb).CombinedOutput(); err != nil {
					return fmt.Errorf("dpkg-deb --build %s: %v: %s", root, err, b)
				}
				if err := os.Chmod(deb, 0o644); err != nil {
					return err
				}
			}
			frDebs.dir = out
			return nil
		}()
	})
	if frDebs.err != nil {
		t.Fatal(frDebs.err)
	}
	return frDebs.dir
}

// TestFakeRoot: in the Debian image, useradd + su, chown to another id,
// dpkg -i and apt-get install of a local package (files owned by 1000, a
// postinst that chowns) work as either user: with fake root in single-id
// mode, with the real ids in subid mode. Without fake root they fail in
// single-id mode; asking for it in subid mode is refused or changes
// nothing.
func TestFakeRoot(t *testing.T) {
	tarball, skip, err := debianRootfsTar(t)
	if err != nil {
		t.Fatal(err)
	}
	if skip != "" {
		t.Skip(skip)
	}
	debs := fakerootDebs(t)
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.newStore(t, "fakeroot")
		s.opts.bin = escapeBin()
		t.Cleanup(func() { s.removeAll(t) })
		s.mustRun(t, "import", tarball, "debian")

		// sh runs a script in a throwaway Debian sandbox with the packages
		// at /debs and no network (so apt cannot download anything).
		sh := func(t *testing.T, extra []string, script string) result {
			t.Helper()
			args := append([]string{"run", "--rm", "--net", "none", "-v", debs + ":/debs:ro"}, extra...)
			return s.run(t, append(args, "debian", "sh", "-c", script)...)
		}
		const done = "FAKEROOT-DONE"
		for _, step := range []struct{ name, script string }{
			{"useradd-su", "useradd -m u1 && su u1 -c true && echo " + done},
			{"chown", "touch /f && chown 1000:1000 /f && echo " + done + " && stat -c %u:%g /f"},
			{"dpkg-i", "dpkg -i /debs/sbxfr-dpkg.deb && echo " + done + " && stat -c %u:%g /opt/sbxfr-dpkg/owned-by-1000 /opt/sbxfr-dpkg/by-postinst"},
			{"apt-get-install", "cd /debs && apt-get install -y ./sbxfr-apt.deb && echo " + done + " && stat -c %u:%g /opt/sbxfr-apt/owned-by-1000 /opt/sbxfr-apt/by-postinst"},
		} {
			t.Run(step.name, func(t *testing.T) {
				r := sh(t, nil, step.script)
				if r.code != 0 || !strings.Contains(r.stdout, done+"\n") {
					t.Fatalf("%s failed as the %s user:\n%s", step.script, u.mode, r)
				}
				owners := strings.TrimSpace(r.stdout[strings.Index(r.stdout, done+"\n")+len(done)+1:])
				if u.mode == "subid" && owners != "" {
					// Real ids: the files really belong to 1000.
					for _, o := range strings.Split(owners, "\n") {
						if o != "1000:1000" {
							t.Errorf("with subordinate ids the file should really be 1000:1000, stat says %q:\n%s", o, r)
						}
					}
				}
				if step.name == "apt-get-install" {
					for _, l := range strings.Split(r.stdout+r.stderr, "\n") {
						if strings.Contains(l, "_apt") || strings.Contains(strings.ToLower(l), "sandbox") {
							t.Logf("apt-get said: %s", l)
						}
					}
				}
				t.Logf("%s: owners afterwards: %q", step.name, owners)
			})
		}

		chown := "touch /f && chown 1000:1000 /f && stat -c %u:%g /f"
		if u.mode == "single" {
			t.Run("fakeroot=false", func(t *testing.T) {
				r := sh(t, []string{"--security-opt", "fakeroot=false"}, chown)
				if r.code == 0 {
					t.Fatalf("chown to an id that does not exist succeeded without fake root:\n%s", r)
				}
				if r.code == 125 || !(strings.Contains(r.stderr, "Operation not permitted") || strings.Contains(r.stderr, "Invalid argument")) {
					t.Errorf("want chown to fail with \"Operation not permitted\" or \"Invalid argument\":\n%s", r)
				}
			})
		} else {
			t.Run("fakeroot=true", func(t *testing.T) {
				r := sh(t, []string{"--security-opt", "fakeroot=true"}, chown)
				lower := strings.ToLower(r.stderr)
				switch {
				case r.code == 125 && (strings.Contains(lower, "fakeroot") || strings.Contains(lower, "fake root")):
					t.Logf("fakeroot=true is refused with subordinate ids: %s", strings.TrimSpace(r.stderr))
				case r.code == 0 && strings.TrimSpace(r.stdout) == "1000:1000":
					// No effect: the chown was real.
				default:
					t.Errorf("with subordinate ids fakeroot=true must be refused (125, saying why) or change nothing (a real chown to 1000:1000):\n%s", r)
				}
			})
		}

		t.Run("inspect", func(t *testing.T) {
			s.mustID(t, "run", "-d", "--name", "fr", "debian", "sleep", "600")
			r := s.must(t, "inspect", "fr")
			var docs []struct {
				HostConfig struct{ SecurityOpt []string }
			}
			if err := json.Unmarshal([]byte(r.stdout), &docs); err != nil || len(docs) != 1 {
				t.Fatalf("inspect is not one JSON document: %v\n%s", err, r)
			}
			want := fmt.Sprintf("fakeroot=%t", u.mode == "single")
			if opts := docs[0].HostConfig.SecurityOpt; !slices.Contains(opts, want) || !slices.Contains(opts, "seccomp=default") {
				t.Errorf("inspect's HostConfig.SecurityOpt is %q, want %s and seccomp=default for the %s user", opts, want, u.mode)
			}
		})
	})
}
