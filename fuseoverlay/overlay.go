package fuseoverlay

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// maxOverlayData is the most mount(2) copies of the option string: one page.
const maxOverlayData = 4095

// mountOverlay mounts kernel overlayfs at target. Lower layers are named by
// open file descriptors, relative to /proc/self/fd, so that the option
// string stays far below the one-page limit however long the store's paths
// are: 150 layers cost ~600 bytes instead of ~15 KiB.
func mountOverlay(layers []string, upper, work, target string, volatile bool) error {
	fds := make([]int, 0, len(layers))
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	// overlayfs lists the top layer first; ours are bottom first.
	names := make([]string, 0, len(layers))
	for i := len(layers) - 1; i >= 0; i-- {
		fd, err := unix.Open(layers[i], unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("opening layer %q: %w", layers[i], err)
		}
		fds = append(fds, fd)
		names = append(names, strconv.Itoa(fd))
	}
	data := "lowerdir=" + strings.Join(names, ":") +
		",upperdir=" + escape(upper) + ",workdir=" + escape(work) + ",userxattr"
	if volatile {
		data += ",volatile"
	}
	if len(data) > maxOverlayData {
		return fmt.Errorf("overlay options for %d layers are %d bytes, over the kernel's one-page limit", len(layers), len(data))
	}
	// The relative lower names resolve against the working directory, so
	// stand in /proc/self/fd for the mount call only.
	old, err := os.Getwd()
	if err != nil {
		old = "/"
	}
	if err := unix.Chdir("/proc/self/fd"); err != nil {
		return fmt.Errorf("entering /proc/self/fd: %w", err)
	}
	err = unix.Mount("overlay", target, "overlay", 0, data)
	unix.Chdir(old)
	if err != nil {
		return fmt.Errorf("mounting overlay at %q with %d layers: %w", target, len(layers), err)
	}
	return nil
}

// escape protects the characters overlayfs treats as separators in a path.
func escape(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `:`, `\:`, `,`, `\,`)
	return r.Replace(p)
}
