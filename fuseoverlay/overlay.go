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

// mountOverlay mounts kernel overlayfs at target (OverlayOptions).
func mountOverlay(layers []string, upper, work, target string, volatile bool) error {
	data, fds, err := overlayOptions(layers, upper, work, volatile)
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	if err != nil {
		return err
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

// overlayOptions opens the layers (bottom first) and returns the option
// string of a kernel overlay mount of them, and the descriptors, which the
// caller closes once the mount is made (also after an error). Lower layers
// are named by their descriptors, relative to /proc/self/fd, where the
// mount must be made from, so that the string stays far below the
// one-page limit however long the store's paths are: 150 layers cost
// ~600 bytes instead of ~15 KiB.
func overlayOptions(layers []string, upper, work string, volatile bool) (string, []int, error) {
	fds := make([]int, 0, len(layers))
	// overlayfs lists the top layer first; ours are bottom first.
	names := make([]string, 0, len(layers))
	for i := len(layers) - 1; i >= 0; i-- {
		fd, err := unix.Open(layers[i], unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", fds, fmt.Errorf("opening layer %q: %w", layers[i], err)
		}
		fds = append(fds, fd)
		names = append(names, strconv.Itoa(fd))
	}
	data, err := overlayData(names, upper, work, volatile)
	return data, fds, err
}

// OverlayPathOptions is the option string of a kernel overlay mount of the
// layers (bottom first) named by their paths, for a process whose mount
// namespace is not the one the layers' descriptors would come from (an
// overlay refuses a lower layer of another namespace): an error where it
// does not fit in a page.
func OverlayPathOptions(layers []string, upper, work string, volatile bool) (string, error) {
	names := make([]string, 0, len(layers))
	for i := len(layers) - 1; i >= 0; i-- {
		names = append(names, escape(layers[i]))
	}
	return overlayData(names, upper, work, volatile)
}

// overlayData is the option string with the lower layers named (top
// first) as given.
func overlayData(lower []string, upper, work string, volatile bool) (string, error) {
	data := "lowerdir=" + strings.Join(lower, ":") +
		",upperdir=" + escape(upper) + ",workdir=" + escape(work) + ",userxattr"
	if volatile {
		data += ",volatile"
	}
	if len(data) > maxOverlayData {
		return "", fmt.Errorf("overlay options for %d layers are %d bytes, over the kernel's one-page limit", len(lower), len(data))
	}
	return data, nil
}

// escape protects the characters overlayfs treats as separators in a path.
// (Not a strings.Replacer: one made per path built 6 KiB of tables each
// time, on every start.)
func escape(p string) string {
	if !strings.ContainsAny(p, `\:,`) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if c := p[i]; c == '\\' || c == ':' || c == ',' {
			b.WriteByte('\\')
		}
		b.WriteByte(p[i])
	}
	return b.String()
}
