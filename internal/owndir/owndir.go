package owndir

import "golang.org/x/sys/unix"

// Private says whether st is a directory of uid's that no one else may
// enter or list.
func Private(st *unix.Stat_t, uid int) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFDIR && int(st.Uid) == uid && st.Mode&0o077 == 0
}

// Open opens dir for the *at calls, and only where what it names (a
// symbolic link followed, as runtime.PrivateDir follows it: another
// user's link in a sticky directory such as /tmp is not followed, under
// the kernel's protected_symlinks) is Private for uid.
func Open(dir string, uid int) (int, bool) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, false
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || !Private(&st, uid) {
		unix.Close(fd)
		return -1, false
	}
	return fd, true
}
