package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sandbox-dev/sandbox/fuseoverlay"
	"github.com/sandbox-dev/sandbox/task"
	"github.com/sandbox-dev/sandbox/userns"
)

// removeOwned removes path as the user. A directory of the user's that
// denies its owner (overlayfs makes its work/work, and a volatile mount's
// incompat marker, mode 0) is opened up and the removal tried again: that
// costs a chmod where a task in the user namespace costs a process.
func removeOwned(path string) error {
	for range 8 {
		err := os.RemoveAll(path)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		var pe *os.PathError
		if !errors.As(err, &pe) || !errors.Is(err, os.ErrPermission) {
			return err
		}
		// The denied name, or the directory it sits in, is one of ours
		// with its owner's bits cleared.
		fixed := false
		for _, dir := range []string{pe.Path, filepath.Dir(pe.Path)} {
			if st, serr := os.Lstat(dir); serr == nil && st.IsDir() && st.Mode().Perm()&0o700 != 0o700 && ownedByUs(st) {
				fixed = os.Chmod(dir, 0o700) == nil || fixed
			}
		}
		if !fixed {
			return err
		}
	}
	return os.RemoveAll(path)
}

func init() {
	task.Register("rm", func(args []string, _ io.Reader) error {
		for _, p := range args {
			if err := os.RemoveAll(p); err != nil {
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

func ownedByUs(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}
