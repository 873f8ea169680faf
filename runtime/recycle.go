package runtime

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// A throwaway run leaves directories that the next run makes again: its
// container's (upper, work, merged, userdata: the skeleton's), and a
// spare root's (upper, work, merged). On ext4 here a directory removed
// costs 0.15–0.3 ms and one made 0.04 ms, the first of a tree 0.3–0.45
// ms (the allocator places it), all of it after every run, beside the
// next start. So they are emptied and kept instead, where each is then
// as a container's creation makes it.

// recycleDir empties the directory name in dirfd (the user's, mode 0700,
// as a container's directory or a spare root's is made) down to the
// directories dirs and the entry keep ("" for none): each of dirs
// emptied and kept where it is then as freshDir says, else removed and
// made again; every other entry removed; keep left as it is. false where
// some entry cannot be removed (files of other ids) or a directory not
// made: what is left is the caller's to remove.
func recycleDir(dirfd int, name string, dirs []string, keep string) bool {
	d, names, ok := openOwnDir(dirfd, name, 0o700)
	if !ok {
		return false
	}
	defer d.Close()
	fd := int(d.Fd())
	for _, n := range names {
		switch {
		case n == keep:
		case slices.Contains(dirs, n):
			if !freshDir(fd, n) && removeAt(fd, n) != nil {
				return false
			}
		case removeAt(fd, n) != nil:
			return false
		}
	}
	for _, n := range dirs {
		if err := unix.Mkdirat(fd, n, 0o755); err != nil && err != unix.EEXIST {
			return false
		}
	}
	return true
}

// freshDir empties the directory name in dirfd and says whether it is
// then as a container's creation makes one: a directory of the user's,
// mode 0755, with no extended attribute once the user.* ones are removed
// (overlayfs marks an upper directory it used, user.overlay.uuid). A
// payload's chmod or xattr on its root is its upper's: such a directory
// is not fresh, and is made again.
func freshDir(dirfd int, name string) bool {
	d, names, ok := openOwnDir(dirfd, name, 0o755)
	if !ok {
		return false
	}
	defer d.Close()
	fd := int(d.Fd())
	for _, n := range names {
		if removeAt(fd, n) != nil {
			return false
		}
	}
	buf := make([]byte, 1024)
	size, err := unix.Flistxattr(fd, buf)
	if err != nil {
		return false
	}
	for _, attr := range strings.Split(string(buf[:size]), "\x00") {
		if attr == "" {
			continue
		}
		if !strings.HasPrefix(attr, "user.") || unix.Fremovexattr(fd, attr) != nil {
			return false
		}
	}
	return true
}

// openOwnDir opens the directory name in dirfd, following no link, and
// lists it; ok only where it is the user's with exactly mode's
// permission bits, and no mount point (then the caller closes d).
func openOwnDir(dirfd int, name string, mode uint32) (d *os.File, names []string, ok bool) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, false
	}
	d = os.NewFile(uintptr(fd), name)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR && int(st.Uid) == os.Getuid() && st.Mode&0o7777 == mode && !mountRoot(fd) {
		if names, err = d.Readdirnames(-1); err == nil {
			return d, names, true
		}
	}
	d.Close()
	return nil, nil, false
}

// recycleSkeleton makes the container's directory name, in dirfd, the
// skeleton the removal would make (makeSkeleton): emptied to the
// directories dirs and its lock (recycleDir), renamed under a pending
// name, its lock replaced by a new one, and renamed into place.
//
// false, with nothing renamed, where a skeleton is there already or
// recycleDir fails (the caller's removal takes the rest). Once renamed,
// true: the container's files are gone, whether the skeleton is made or
// not.
func recycleSkeleton(dirfd int, name, skeleton string, dirs []string) bool {
	var st unix.Stat_t
	if unix.Fstatat(dirfd, skeleton, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
		return false
	}
	if !recycleDir(dirfd, name, dirs, "lock") {
		return false
	}
	pending := fmt.Sprintf(".pending-%s-%d", skeleton, os.Getpid())
	if unix.Renameat2(dirfd, name, dirfd, pending, unix.RENAME_NOREPLACE) != nil {
		return false
	}
	// A new lock: the container's, which this removal holds until it
	// ends, would refuse the next container its flock.
	lockPath := pending + "/lock"
	unix.Unlinkat(dirfd, lockPath, 0)
	lock, err := unix.Openat(dirfd, lockPath, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err == nil {
		unix.Close(lock)
		err = unix.Renameat2(dirfd, pending, dirfd, skeleton, unix.RENAME_NOREPLACE)
	}
	if err != nil {
		removeAt(dirfd, pending)
		return true
	}
	removeOtherSkeletons(dirfd, skeleton)
	return true
}
