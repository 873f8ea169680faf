package userns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// helperDirs are searched for newuidmap/newgidmap when PATH has none: the
// helpers live in sbin on some distributions, and sbin is often not in an
// ordinary user's PATH. A variable so tests can empty it.
var helperDirs = []string{"/usr/bin", "/usr/sbin", "/bin", "/sbin"}

// helperInfo is what CheckHelper needs to know about a helper file.
type helperInfo struct {
	mode fs.FileMode
	uid  uint32 // owner
	gid  uint32 // group
	caps bool   // has the security.capability xattr
	// notOurs: its mode lets others run it but not us (a helper given to
	// one group, mode 4754, where we are not in it), by access(2) with
	// our effective ids and groups. Inverted so that tests' helpers are
	// runnable unless they say otherwise.
	notOurs bool
	// noexec, nosuid: its file system is mounted so. access(2) refuses
	// a noexec one as it refuses a file not ours (EACCES); a nosuid one
	// it allows, but there the setuid bit and file capabilities do
	// nothing, and every start would fail at the helper.
	noexec, nosuid bool
}

// statHelper looks at a helper file. A variable because a setuid-root file
// cannot be made by an unprivileged test; tests replace it.
var statHelper = func(path string) (helperInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return helperInfo{}, err
	}
	info := helperInfo{mode: fi.Mode()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		info.uid, info.gid = st.Uid, st.Gid
	}
	info.notOurs = mayRun(path) == unix.EACCES
	info.noexec, info.nosuid = mountFlags(path)
	// Any answer but a size means "no capabilities" (ENODATA: no such
	// attribute, ENOTSUP: the file system has no xattrs).
	if _, err := syscall.Getxattr(path, "security.capability", nil); err == nil {
		info.caps = true
	}
	return info, nil
}

// mayRun is access(2)'s answer to whether we may execute path, by our
// effective ids and groups: its mode, and its mount (noexec), which no
// stat shows. CheckHelper asks it, and the id map's cache again at each
// start (readCache).
func mayRun(path string) error {
	return unix.Faccessat(unix.AT_FDCWD, path, unix.X_OK, unix.AT_EACCESS)
}

// mountFlags says whether path's file system is mounted noexec and
// nosuid, neither where statfs fails. CheckHelper asks it, and the id
// map's cache again at each start (readCache): no stat shows a remount.
func mountFlags(path string) (noexec, nosuid bool) {
	var sfs unix.Statfs_t
	if unix.Statfs(path, &sfs) != nil {
		return false, false
	}
	return sfs.Flags&unix.ST_NOEXEC != 0, sfs.Flags&unix.ST_NOSUID != 0
}

// CheckHelper explains whether a newuidmap-like helper is usable: the file
// exists, is an executable regular file, and is either setuid root or has
// file capabilities (Debian and Fedora ship it either way). nil means usable;
// otherwise the error is one sentence saying what is wrong.
func CheckHelper(path string) error {
	name := filepath.Base(path)
	info, err := statHelper(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s at %s does not exist (install the uidmap package)", name, path)
	}
	if err != nil {
		return fmt.Errorf("checking %s: %w", name, err)
	}
	if !info.mode.IsRegular() || info.mode.Perm()&0o111 == 0 {
		return fmt.Errorf("%s at %s is not an executable file; reinstall the uidmap package", name, path)
	}
	if info.noexec || info.nosuid {
		opt := "noexec"
		if !info.noexec {
			opt = "nosuid"
		}
		return fmt.Errorf("%s at %s is on a file system mounted %s, where it cannot take the ids it maps; remount that file system without %s, or install the uidmap package on another", name, path, opt, opt)
	}
	if info.notOurs {
		return fmt.Errorf("%s at %s may be run only by its owner (uid %d) or group (gid %d), mode %#o, and you are neither; ask to be added to that group and log in again", name, path, info.uid, info.gid, info.mode.Perm())
	}
	if info.caps {
		return nil
	}
	if info.mode&fs.ModeSetuid != 0 && info.uid == 0 {
		return nil
	}
	if info.mode&fs.ModeSetuid != 0 {
		return fmt.Errorf("%s at %s is setuid but owned by uid %d instead of root, and has no file capabilities; reinstall the uidmap package", name, path, info.uid)
	}
	return fmt.Errorf("%s at %s is not setuid root and has no file capabilities; reinstall the uidmap package", name, path)
}

// findHelper returns the path of helper name: explicit if set, else the one
// in PATH, else the first in helperDirs; "" if there is none.
func findHelper(explicit, name string) string {
	if explicit != "" {
		return explicit
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range helperDirs {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}
