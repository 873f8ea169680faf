package fuseoverlay

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Probe finds which driver works here by mounting a one-layer overlay in
// scratch (an empty directory), and unmounts it again. It must run in a user
// and mount namespace of its own, as the container's init does.
func Probe(scratch string) Result {
	dirs := map[string]string{}
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		dirs[d] = filepath.Join(scratch, d)
		if err := os.Mkdir(dirs[d], 0o755); err != nil {
			return Result{Driver: VFS, Reason: fmt.Sprintf("cannot even make a scratch directory: %v", err)}
		}
	}
	kerr := mountOverlay([]string{dirs["lower"]}, dirs["upper"], dirs["work"], dirs["merged"], false)
	if kerr == nil {
		unix.Unmount(dirs["merged"], unix.MNT_DETACH)
		_, why := KernelOverlayExpected()
		return Result{Driver: Overlay, Reason: "probed: " + why}
	}
	reason := fmt.Sprintf("kernel overlay refused (%v)", kerr)
	if _, err := FuseAvailable(); err != nil {
		return Result{Driver: VFS, Reason: reason + "; " + err.Error() + "; every container start copies its image"}
	}
	if ferr := mountFuse([]string{dirs["lower"]}, dirs["upper"], dirs["work"], dirs["merged"]); ferr != nil {
		return Result{Driver: VFS, Reason: fmt.Sprintf("%s; fuse-overlayfs failed (%v); every container start copies its image", reason, ferr)}
	}
	unix.Unmount(dirs["merged"], unix.MNT_DETACH)
	return Result{Driver: FuseOverlayfs, Reason: reason}
}
