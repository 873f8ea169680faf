package runtime

import (
	"os"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/internal/umask"
)

// A throwaway run leaves directories that the next run makes again: its
// container's (upper, work, merged, userdata: the skeleton's), and a
// spare root's (upper, work, merged). On ext4 here a directory removed
// costs 0.15–0.3 ms and one made 0.04 ms, the first of a tree 0.3–0.45
// ms (the allocator places it), all of it after every run, beside the
// next start. So those that are as a container's creation makes them
// are kept instead (asMade), emptied where nothing can reach them any
// more.

// overlayDirs are the directories of a layout that an overlay writes in.
// Once an overlay has used them they are never kept: an overlay that
// outlives its run (a descriptor of it passed out of the container, a
// mount namespace someone entered) would write into the next one's, and
// the kernel mounts a second overlay on directories another uses with no
// more than a warning. So they are kept only as made, empty and unused;
// the exchange of a spare root leaves the container's so.
var overlayDirs = []string{"upper", "work"}

// recycleDir empties the directory name in dirfd (the user's, as a
// container's directory or a spare root's is made) down to the
// directories dirs and the entry keep ("" for none): each of dirs kept
// where it is as made (asMade: emptied first, but for overlayDirs, which
// must be unused; both of those go if either was used), else removed and
// made again; every other entry removed; keep left as it is. false where
// some entry cannot be removed (files of other ids, a mount point) or a
// directory not made: what is left is the caller's to remove.
func recycleDir(dirfd int, name string, dirs []string, keep string) bool {
	mask := umask.Current()
	d, top, names, ok := openOwnDir(dirfd, name, 0o700&^mask)
	if !ok {
		return false
	}
	defer d.Close()
	fd := int(d.Fd())
	used := false
	for _, n := range overlayDirs {
		if slices.Contains(dirs, n) && slices.Contains(names, n) && !asMade(fd, n, top.Gid, mask, false) {
			used = true
		}
	}
	for _, n := range names {
		var gone bool
		switch {
		case n == keep:
			continue
		case slices.Contains(overlayDirs, n) && slices.Contains(dirs, n):
			gone = !used || removeAt(fd, n) == nil
		case slices.Contains(dirs, n):
			gone = asMade(fd, n, top.Gid, mask, true) || removeAt(fd, n) == nil
		default:
			gone = removeAt(fd, n) == nil
		}
		if !gone {
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

// asMade says whether the directory name in dirfd is as a container's
// creation makes one, 0755 under the umask mask: a directory of the
// user's and of group gid (its parent's), with that mode and no extended
// attribute (an overlay's marks, a payload's, an ACL), and empty. With
// empty, it removes what the directory holds first.
func asMade(dirfd int, name string, gid, mask uint32, empty bool) bool {
	d, st, names, ok := openOwnDir(dirfd, name, 0o755&^mask)
	if !ok {
		return false
	}
	defer d.Close()
	fd := int(d.Fd())
	if st.Gid != gid {
		return false
	}
	if n, err := unix.Flistxattr(fd, nil); err != nil || n != 0 {
		return false
	}
	if !empty {
		return len(names) == 0
	}
	for _, n := range names {
		if removeAt(fd, n) != nil {
			return false
		}
	}
	return true
}

// openOwnDir opens the directory name in dirfd, following no link, and
// lists it; ok only where it is the user's with exactly mode's
// permission bits, and no mount point (then the caller closes d).
func openOwnDir(dirfd int, name string, mode uint32) (d *os.File, st unix.Stat_t, names []string, ok bool) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, st, nil, false
	}
	d = os.NewFile(uintptr(fd), name)
	if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR && int(st.Uid) == os.Getuid() && st.Mode&0o7777 == mode && !mountRoot(fd) {
		if names, err = d.Readdirnames(-1); err == nil {
			return d, st, names, true
		}
	}
	d.Close()
	return nil, st, nil, false
}

// recycleSkeleton makes the container's directory name, in dirfd, the
// skeleton the removal would make (makeSkeleton): emptied to the
// directories dirs and its lock (recycleDir), renamed under a pending
// name and put into place as makeSkeleton's is (publishSkeleton).
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
	pending := skeletonPending(skeleton)
	if unix.Renameat2(dirfd, name, dirfd, pending, unix.RENAME_NOREPLACE) != nil {
		return false
	}
	if err := publishSkeleton(dirfd, pending, skeleton); err != nil {
		Trace("making a skeleton: %v", err)
	}
	return true
}
