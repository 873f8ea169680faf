package tests

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestImportConfinement: hostile tarballs ("..", absolute names, a symlink
// or hard link out of the tree and an entry through it) either fail with
// 125 or are imported confined to the layer: nothing is ever written
// outside it, and the store stays usable.
func TestImportConfinement(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		bb := u.bb(t)

		// The sentinels belong to the user: were the import to follow an
		// entry out of the layer, permissions would not stop it, so only
		// sandbox's confinement keeps them untouched.
		sentinel := u.mustMkdir(t, filepath.Join(baseDir, "sentinel-"+u.mode))
		sentinelFile := u.mustWrite(t, filepath.Join(baseDir, "sentinel-"+u.mode+"-file"), "original\n", 0o644)
		absExisted := exists("/abs")

		cases := []struct {
			name    string
			entries []tarEntry
		}{
			{"dotdot", []tarEntry{
				fileEntry("../escape", "escaped\n", 0o644),
				// From the staging directory up to baseDir.
				fileEntry("../../../../../../../escape", "escaped\n", 0o644),
			}},
			{"absolute", []tarEntry{dirEntry("/abs/", 0o755), fileEntry("/abs/file", "abs\n", 0o644)}},
			{"symlink", []tarEntry{symlinkEntry("link", sentinel), fileEntry("link/x", "through the link\n", 0o644)}},
			{"hardlink", []tarEntry{hardlinkEntry("hl", sentinelFile)}},
			{"combined", []tarEntry{
				fileEntry("../escape", "escaped\n", 0o644),
				fileEntry("/abs/file", "abs\n", 0o644),
				symlinkEntry("link", sentinel),
				fileEntry("link/x", "through the link\n", 0o644),
			}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				tarball := u.mustWrite(t, filepath.Join(u.home, "evil", c.name+".tar"), string(tarBytes(t, c.entries)), 0o644)
				r := u.run(t, "import", tarball, "evil-"+c.name)
				switch r.code {
				case 0:
					t.Logf("imported (confined): %s", strings.TrimSpace(r.stdout))
				case 125:
					wantStderrContains(t, r, "sandbox: ")
					t.Logf("refused: %s", strings.TrimSpace(r.stderr))
				default:
					t.Fatalf("want exit 0 (confined) or 125 (refused):\n%s", r)
				}

				if names := dirEntries(t, sentinel); len(names) > 0 {
					t.Errorf("the import wrote into the sentinel directory %s: %v\n%s", sentinel, names, r)
				}
				if b, err := os.ReadFile(sentinelFile); err != nil || string(b) != "original\n" {
					t.Errorf("the sentinel file changed: %q, %v", b, err)
				}
				var st syscall.Stat_t
				if err := syscall.Stat(sentinelFile, &st); err == nil && st.Nlink != 1 {
					t.Errorf("the sentinel file %s got %d links: the import hard-linked a host file into the layer", sentinelFile, st.Nlink)
				}
				if !absExisted && exists("/abs") {
					t.Errorf("/abs appeared on the host")
				}
				for _, p := range strays(t, u) {
					t.Errorf("a file of the tarball landed outside its layer: %s", p)
				}
				if r.code == 0 && (c.name == "absolute" || c.name == "combined") {
					if found, _ := filepath.Glob(filepath.Join(u.store(), "layers", "*", "diff", "abs", "file")); len(found) == 0 {
						t.Errorf("the import succeeded but /abs/file is not inside any layer")
					}
				}
				if left := stagingEntries(t, filepath.Join(u.store(), "tmp")); len(left) > 0 {
					t.Errorf("the import left staging files behind: %v", left)
				}
			})
		}

		// The store is still fine.
		u.mustRun(t, "images")
		r := u.mustRun(t, "run", "--rm", bb, "echo", "still works")
		wantStdout(t, r, "still works\n")
	})
}

// strays lists files named "escape", or an abs/file, anywhere under baseDir
// except inside a layer's diff/ tree.
func strays(t *testing.T, u *user) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(baseDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(baseDir, path)
		if inLayerDiff(rel) {
			return nil
		}
		if d.Name() == "escape" || strings.HasSuffix(path, "/abs/file") {
			out = append(out, path)
		}
		return nil
	})
	return out
}

// inLayerDiff reports whether a path relative to baseDir is inside some
// store's layers/<id>/diff/, or tmp/<staging>/diff/ where a layer is
// unpacked before it moves into layers/ (the other user's import may be
// running meanwhile).
func inLayerDiff(rel string) bool {
	parts := strings.Split(rel, string(filepath.Separator))
	for i := 0; i+2 < len(parts); i++ {
		if (parts[i] == "layers" || parts[i] == "tmp") && parts[i+2] == "diff" && i+3 < len(parts) {
			return true
		}
	}
	return false
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// TestImportFormats: import reads gzip and zstd tarballs and directories.
func TestImportFormats(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		rootfs := busyboxRootfs(t)
		withMarker := func(m string) []byte {
			return tarBytes(t, append(append([]tarEntry{}, rootfs...), fileEntry("marker", m+"\n", 0o644)))
		}

		t.Run("gzip", func(t *testing.T) {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(withMarker("gzip"))
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			p := u.mustWrite(t, filepath.Join(u.home, "formats", "rootfs.tar.gz"), buf.String(), 0o644)
			u.mustRun(t, "import", p, "bbgz")
			r := u.mustRun(t, "run", "--rm", "bbgz", "sh", "-c", "cat /marker; stat -c %u:%g /marker")
			wantStdout(t, r, "gzip\n0:0\n")
		})

		t.Run("zstd", func(t *testing.T) {
			var buf bytes.Buffer
			zw, err := zstd.NewWriter(&buf)
			if err != nil {
				t.Fatal(err)
			}
			zw.Write(withMarker("zstd"))
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			p := u.mustWrite(t, filepath.Join(u.home, "formats", "rootfs.tar.zst"), buf.String(), 0o644)
			u.mustRun(t, "import", p, "bbzst")
			r := u.mustRun(t, "run", "--rm", "bbzst", "sh", "-c", "cat /marker; stat -c %u:%g /marker")
			wantStdout(t, r, "zstd\n0:0\n")
		})

		t.Run("dir", func(t *testing.T) {
			dir := u.mustMkdir(t, filepath.Join(u.home, "formats", "rootfs"))
			bin, err := os.ReadFile(busybox.path)
			if err != nil {
				t.Fatal(err)
			}
			u.mustWrite(t, filepath.Join(dir, "bin", "busybox"), string(bin), 0o755)
			for _, a := range []string{"sh", "cat"} {
				l := filepath.Join(dir, "bin", a)
				if err := os.Symlink("busybox", l); err != nil {
					t.Fatal(err)
				}
				if err := u.chown(l); err != nil {
					t.Fatal(err)
				}
			}
			u.mustWrite(t, filepath.Join(dir, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n", 0o644)
			u.mustWrite(t, filepath.Join(dir, "marker"), "dir\n", 0o644)
			u.mustRun(t, "import", dir, "bbdir:v1")
			// The user's own files are root's in the container, as
			// everywhere else (a volume, the host image, the unpacked
			// layers): the user is container root in either mode.
			r := u.mustRun(t, "run", "--rm", "bbdir:v1", "sh", "-c", "cat /marker; stat -c %u:%g /marker /bin/busybox")
			wantStdout(t, r, "dir\n0:0\n0:0\n")
		})
	})
}

// TestTasksRunInInit: the tasks that run in a user namespace (a layer
// unpacked, a container's changes packed, a layer's tar rebuilt) run in
// the small init program, not in the sandbox binary, whose code would be
// most of their peak memory (runtime.RunTask); the store check's verify
// task, which the init does not carry, in the sandbox binary.
func TestTasksRunInInit(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		tarball := busyboxTar(t)
		trace := runOpts{env: []string{"SANDBOX_TRACE=1"}}
		steps := []struct {
			task   string
			args   []string
			inInit bool
		}{
			{"unpack", []string{"import", tarball, "tasks-bb"}, true},
			{"pack", []string{"commit", "tasks-c", "tasks-bb2"}, true},
			{"assemble", []string{"save", "-o", filepath.Join(u.home, "tasks-bb2.tar"), "tasks-bb2"}, true},
			{"verify", []string{"system", "check"}, false},
		}
		u.mustRun(t, "create", "--name", "tasks-c", u.bb(t), "true")
		defer u.run(t, "rm", "tasks-c")
		defer u.run(t, "rmi", "tasks-bb", "tasks-bb2")
		defer os.Remove(filepath.Join(u.home, "tasks-bb2.tar"))
		for _, s := range steps {
			r := u.runWith(t, trace, s.args...)
			wantCode(t, r, 0)
			var line string
			for _, l := range strings.Split(r.stderr, "\n") {
				if _, rest, ok := strings.Cut(l, ": task "+s.task+" in "); ok {
					line = rest
				}
			}
			if line == "" {
				t.Errorf("%s: no %s task traced:\n%s", strings.Join(s.args, " "), s.task, r.stderr)
			} else if s.inInit && !strings.Contains(line, "sandbox-init") {
				t.Errorf("%s: the %s task ran in %s, not in the init program", strings.Join(s.args, " "), s.task, line)
			} else if !s.inInit && line != sandboxBin {
				t.Errorf("%s: the %s task ran in %s, not in the sandbox binary %s", strings.Join(s.args, " "), s.task, line, sandboxBin)
			}
		}
	})
}
