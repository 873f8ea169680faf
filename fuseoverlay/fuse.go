package fuseoverlay

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

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
	cmd := exec.Command(bin, "-o", opts, target)
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		msg, _ := io.ReadAll(io.NewSectionReader(stderr, 0, 4096))
		return fmt.Errorf("running fuse-overlayfs at %q: %w: %s", target, err, strings.TrimSpace(string(msg)))
	}
	return nil
}
