package runtime

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/fuseoverlay"
	"github.com/sandbox-dev/sandbox/task"
	"github.com/sandbox-dev/sandbox/userns"
)

// removeOwned removes path as the user. A directory of the user's that
// denies its owner (overlayfs makes its work/work, and a volatile mount's
// incompat marker, mode 0) gets its owner's bits back and the removal
// goes on (removeAt): that costs a chmod where a task in the user
// namespace costs a process.
func removeOwned(path string) error { return removeAt(unix.AT_FDCWD, path) }

func init() {
	task.Register("rm", func(args []string, _ io.Reader) error {
		for _, p := range args {
			// The same walk as the user's: it follows no link and stops
			// at a mount point, which the task's mount namespace, a copy
			// of the host's, has too.
			if err := removeOwned(p); err != nil {
				return err
			}
		}
		return nil
	})
}

// RemoveAll removes a tree the store owns. Files a container created may
// belong to subordinate ids, or sit in directories without write
// permission, which the user cannot remove directly: then the removal runs
// again inside a user namespace with the store's map, where the user is
// root over every id the map has (a task: initDir is RunTask's).
func RemoveAll(m userns.Mapping, initDir, path string) error {
	err := removeOwned(path)
	if err == nil {
		return nil
	}
	Trace("removing %s in the user namespace: %v", path, err)
	if terr := RunTask(m, initDir, "rm", []string{path}, nil); terr != nil {
		return fmt.Errorf("removing %q: %v (inside the user namespace: %w)", path, err, terr)
	}
	return nil
}

func init() {
	task.Register("probe-storage", func(args []string, _ io.Reader) error {
		res := fuseoverlay.Probe(args[0])
		return os.WriteFile(filepath.Join(args[0], "result"), []byte(string(res.Driver)+"\n"+res.Reason), 0o644)
	})
}

// ProbeStorage reports which storage driver works for containers here, and
// why, by trying in a user namespace like a container's. scratch is an
// empty directory the caller removes afterwards; initDir is RunTask's.
func ProbeStorage(m userns.Mapping, initDir, scratch string) (fuseoverlay.Driver, string, error) {
	if err := RunTask(m, initDir, "probe-storage", []string{scratch}, nil); err != nil {
		return "", "", err
	}
	b, err := os.ReadFile(filepath.Join(scratch, "result"))
	if err != nil {
		return "", "", err
	}
	driver, reason, _ := strings.Cut(string(b), "\n")
	return fuseoverlay.Driver(driver), reason, nil
}
