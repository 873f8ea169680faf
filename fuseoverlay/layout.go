package fuseoverlay

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/plan"
	"github.com/sandbox-dev/sandbox/userns"
)

// Driver names a way to assemble the root filesystem.
type Driver string

const (
	Auto          Driver = ""
	Overlay       Driver = "overlay"
	FuseOverlayfs Driver = "fuse-overlayfs"
	VFS           Driver = "vfs"
)

// ParseDriver validates a --storage-driver value.
func ParseDriver(s string) (Driver, error) {
	switch d := Driver(s); d {
	case Auto, Overlay, FuseOverlayfs, VFS:
		return d, nil
	case "auto":
		return Auto, nil
	}
	return "", fmt.Errorf("unknown storage driver %q (valid: overlay, fuse-overlayfs, vfs, auto)", s)
}

// HostDir is a host directory shown at the same path inside the container
// with a private writable layer on top (the built-in host image).
type HostDir struct {
	Path        string // absolute host path, e.g. /usr
	Upper, Work string // the container's writable layer for it
}

// Layout is everything Mount needs. All paths are absolute host paths.
type Layout struct {
	Driver Driver
	// Layers are the image's layer directories, bottom layer first. When
	// empty, Upper itself is the root (the host image's skeleton).
	Layers []string
	// Upper and Work are the container's writable layer and overlay's
	// scratch directory, on the same filesystem.
	Upper, Work string
	// Target is the directory the root filesystem is mounted on.
	Target   string
	HostDirs []HostDir
	// Volatile says the writable layer is thrown away after one run (a
	// --rm container): kernel overlay then skips its syncs, the largest of
	// which, at unmount, would hold up the container's end. After a crash
	// such a layer cannot be mounted again, which nobody asks of it.
	Volatile bool
	// Shift, for a --userns=keep-id container, makes the root a copy of
	// the layers (the vfs driver, whatever Driver says) whose owners are
	// shifted to look as the image gave them under its map.
	Shift *userns.Shift `json:",omitempty"`
}

// Result says what Mount did.
type Result struct {
	Driver Driver
	// Reason explains a fallback ("kernel overlay refused: …"); empty when
	// the first choice worked.
	Reason string
}

// ErrNoDriver is returned when every driver failed.
var ErrNoDriver = errors.New("no storage driver could assemble the root filesystem")

// Mount assembles the root filesystem at l.Target. It must run inside the
// container's user and mount namespaces with CAP_SYS_ADMIN there; every mount
// it makes dies with that mount namespace. fuse-overlayfs daemons it starts
// are children of the caller (the container's PID 1), which reaps them.
func Mount(l Layout) (Result, error) {
	if len(l.Layers) == 0 {
		return mountHost(l)
	}
	if l.Shift != nil {
		return Result{Driver: VFS}, copyShifted(l.Layers, l.Upper, l.Work, l.Target, l.Shift)
	}
	return mountWith(l.Driver, l.Layers, l.Upper, l.Work, l.Target, l.Volatile, mountCopy)
}

// mountWith mounts one overlay stack with the given driver, or, for Auto,
// with the first driver that works. vfs is the caller's last resort: a copy
// for image layers, a read-only bind for host directories.
func mountWith(d Driver, layers []string, upper, work, target string, volatile bool, vfs func(layers []string, upper, work, target string) error) (Result, error) {
	switch d {
	case Overlay:
		return Result{Driver: Overlay}, mountOverlay(layers, upper, work, target, volatile)
	case FuseOverlayfs:
		return Result{Driver: FuseOverlayfs}, mountFuse(layers, upper, work, target)
	case VFS:
		return Result{Driver: VFS}, vfs(layers, upper, work, target)
	}
	kerr := mountOverlay(layers, upper, work, target, volatile)
	if kerr == nil {
		return Result{Driver: Overlay}, nil
	}
	reason := fmt.Sprintf("kernel overlay refused (%v)", kerr)
	if _, err := FuseAvailable(); err == nil {
		ferr := mountFuse(layers, upper, work, target)
		if ferr == nil {
			return Result{Driver: FuseOverlayfs, Reason: reason}, nil
		}
		reason += fmt.Sprintf("; fuse-overlayfs failed (%v)", ferr)
	} else {
		reason += "; " + err.Error()
	}
	if err := vfs(layers, upper, work, target); err != nil {
		return Result{}, fmt.Errorf("%w: %s; the vfs fallback failed too: %v", ErrNoDriver, reason, err)
	}
	return Result{Driver: VFS, Reason: reason + "; fell back to vfs"}, nil
}

// mountHost makes the host image's root: the writable skeleton in Upper
// becomes the root, and each host directory gets an overlay whose lower is
// the host's own directory. With vfs a copy of /usr is out of the question,
// so host directories are bound read-only instead. The first directory
// decides the driver for the rest.
func mountHost(l Layout) (Result, error) {
	if err := bindSelf(l.Upper, l.Target); err != nil {
		return Result{}, err
	}
	res := Result{Driver: l.Driver}
	roBind := func(layers []string, _, _, target string) error { return bindReadOnly(layers[0], target) }
	for _, hd := range l.HostDirs {
		r, err := mountWith(res.Driver, []string{hd.Path}, hd.Upper, hd.Work, l.Target+hd.Path, l.Volatile, roBind)
		if err != nil {
			return Result{}, fmt.Errorf("mounting host directory %q: %w", hd.Path, err)
		}
		if res.Driver == Auto {
			res = r
			if r.Driver == VFS {
				res.Reason += ": host directories are read-only"
			}
		}
	}
	if res.Driver == Auto {
		res.Driver = Overlay
	}
	return res, nil
}

func bindSelf(src, target string) error {
	if err := unix.Mount(src, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding %q on %q: %w", src, target, err)
	}
	return nil
}

func bindReadOnly(src, target string) error {
	if err := unix.Mount(src, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding %q on %q: %w", src, target, err)
	}
	return RemountReadOnly(target)
}

// RemountReadOnly makes the bind mount at target read-only, keeping the
// flags the kernel locked on it (nosuid, nodev, noexec, atime): in a user
// namespace a remount that would clear one of them is refused.
func RemountReadOnly(target string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		return fmt.Errorf("reading mount flags of %q: %w", target, err)
	}
	if err := unix.Mount("", target, "", plan.RemountFlags(uintptr(st.Flags)), ""); err != nil {
		return fmt.Errorf("remounting %q read-only: %w", target, err)
	}
	return nil
}

// FuseAvailable reports the fuse-overlayfs path, or why it cannot be used.
func FuseAvailable() (string, error) {
	p, err := exec.LookPath("fuse-overlayfs")
	if err != nil {
		// The container's init runs with an empty environment: look where
		// packages install it.
		for _, dir := range []string{"/usr/bin", "/usr/local/bin", "/bin", "/usr/sbin", "/sbin"} {
			if unix.Access(dir+"/fuse-overlayfs", unix.X_OK) == nil {
				p, err = dir+"/fuse-overlayfs", nil
				break
			}
		}
	}
	if err != nil {
		return "", errors.New("fuse-overlayfs is not installed (apt-get install fuse-overlayfs)")
	}
	if err := unix.Access("/dev/fuse", unix.R_OK|unix.W_OK); err != nil {
		return "", fmt.Errorf("/dev/fuse is not usable (%v): it must be mode 0666, as udev makes it", err)
	}
	return p, nil
}

// KernelOverlayExpected reports whether this kernel should accept overlayfs
// mounts in a user namespace (Linux ≥ 5.11 with userxattr), and why not.
func KernelOverlayExpected() (bool, string) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false, err.Error()
	}
	rel := unix.ByteSliceToString(u.Release[:])
	var major, minor int
	fmt.Sscanf(rel, "%d.%d", &major, &minor)
	if major < 5 || (major == 5 && minor < 11) {
		return false, fmt.Sprintf("kernel %s is older than 5.11, which first allowed overlayfs in a user namespace", rel)
	}
	fs, err := os.ReadFile("/proc/filesystems")
	if err == nil && !strings.Contains(string(fs), "\toverlay\n") {
		// Not loaded yet is not the same as missing: the mount loads the
		// module on demand, so only say so.
		return true, fmt.Sprintf("kernel %s; the overlay module is not loaded yet", rel)
	}
	return true, fmt.Sprintf("kernel %s supports overlayfs with userxattr in a user namespace", rel)
}
