package container

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sandbox-dev/sandbox/fuseoverlay"
	"github.com/sandbox-dev/sandbox/runtime"
)

// skeletonDirs are the empty directories the host image's root starts with.
var skeletonDirs = []string{"proc", "dev", "sys", "tmp", "run", "var", "root", "home", "mnt", "srv", "media"}

// hostLayout makes the built-in host image's root: a private writable
// directory holding the skeleton, the host's /usr, /etc, /bin, /sbin and
// /lib* each under an overlay with a private upper layer (what is written
// there stays in the container), a fresh /tmp, and the user's home bound
// read-write at the same path.
func hostLayout(spec *runtime.Spec, dir string, stdio IO) error {
	root := filepath.Join(dir, "upper")
	for _, d := range skeletonDirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return fmt.Errorf("making the host image's root: %w", err)
		}
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	candidates := []string{"/usr", "/etc", "/bin", "/sbin"}
	libs, _ := filepath.Glob("/lib*")
	candidates = append(candidates, libs...)
	spec.Rootfs.Layers = nil
	for _, p := range candidates {
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		name := strings.TrimPrefix(p, "/")
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			// Merged-/usr hosts: /bin -> usr/bin and friends, kept as links.
			target, err := os.Readlink(p)
			if err == nil {
				err = os.Symlink(target, filepath.Join(root, name))
			}
			if err != nil && !os.IsExist(err) {
				return fmt.Errorf("linking %q in the host image: %w", p, err)
			}
		case fi.IsDir():
			hd := fuseoverlay.HostDir{
				Path:  p,
				Upper: filepath.Join(dir, "host", name, "upper"),
				Work:  filepath.Join(dir, "host", name, "work"),
			}
			for _, d := range []string{hd.Upper, hd.Work, filepath.Join(root, name)} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return fmt.Errorf("preparing %q in the host image: %w", p, err)
				}
			}
			spec.Rootfs.HostDirs = append(spec.Rootfs.HostDirs, hd)
		}
	}
	spec.Tmpfs = append(spec.Tmpfs, "/tmp")
	home, err := os.UserHomeDir()
	if err == nil && filepath.IsAbs(home) {
		if _, err := os.Stat(home); err == nil {
			spec.Mounts = append([]runtime.Mount{{Type: "bind", Source: home, Target: home}}, spec.Mounts...)
			if spec.Process.Cwd == "" {
				spec.Process.Cwd = home
				if wd, err := os.Getwd(); err == nil && (wd == home || strings.HasPrefix(wd, home+"/")) {
					spec.Process.Cwd = wd
				}
			}
		}
	}
	return nil
}
