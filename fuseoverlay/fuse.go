package fuseoverlay

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// mountFuse serves the overlay with fuse-overlayfs. The helper daemonizes
// once the mount is in place, so waiting for the foreground process is
// waiting for the mount. The daemon is then a child of the container's init:
// it lives in the container's PID namespace and dies with it, so no stale
// "Transport endpoint is not connected" mount can outlive the container.
func mountFuse(layers []string, upper, work, target string) error {
	bin, err := FuseAvailable()
	if err != nil {
		return err
	}
	lowers := make([]string, 0, len(layers))
	for i := len(layers) - 1; i >= 0; i-- {
		lowers = append(lowers, escape(layers[i]))
	}
	// fsync=0: a container's writable layer is scratch space; syncing every
	// write is what makes fuse-overlayfs builds crawl (fuse-overlayfs#92).
	opts := "lowerdir=" + strings.Join(lowers, ":") + ",upperdir=" + escape(upper) +
		",workdir=" + escape(work) + ",fsync=0"
	// The daemon keeps whatever stderr it was given, so a pipe would never
	// reach EOF: hand it an anonymous file and read that after the
	// foreground process exits.
	fd, err := unix.MemfdCreate("fuse-overlayfs-stderr", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("creating a buffer for fuse-overlayfs: %w", err)
	}
	stderr := os.NewFile(uintptr(fd), "fuse-overlayfs-stderr")
	defer stderr.Close()
	// We mount the FUSE filesystem ourselves and hand the daemon the
	// /dev/fuse descriptor ("/dev/fd/N" as its mount point, which libfuse
	// ≥ 3.3 understands), because the daemon cannot share our root: a
	// later pivot_root moves every process whose root is the old root onto
	// the new one, and a daemon whose root is its own mount deadlocks on its
	// first path lookup. So it runs chrooted in a recursive bind of the
	// host's tree, which the pivot leaves alone, and where a mount it made
	// itself would land out of our sight.
	dev, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("opening /dev/fuse: %w", err)
	}
	defer dev.Close()
	data := fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0,default_permissions,allow_other", dev.Fd())
	if err := unix.Mount("fuse-overlayfs", target, "fuse.fuse-overlayfs", unix.MS_NOSUID|unix.MS_NODEV, data); err != nil {
		return fmt.Errorf("mounting fuse at %q: %w", target, err)
	}
	root := filepath.Join(filepath.Dir(work), "fuse-root")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return fmt.Errorf("preparing a root for fuse-overlayfs: %w", err)
	}
	if err := unix.Mount("/", root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding the host's tree for fuse-overlayfs: %w", err)
	}
	cmd := exec.Command(bin, "-o", opts, "/dev/fd/3")
	cmd.ExtraFiles = []*os.File{dev}
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	cmd.Dir = "/"
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		unix.Unmount(target, unix.MNT_DETACH)
		msg, _ := io.ReadAll(io.NewSectionReader(stderr, 0, 4096))
		return fmt.Errorf("running fuse-overlayfs at %q: %w: %s", target, err, strings.TrimSpace(string(msg)))
	}
	return nil
}
