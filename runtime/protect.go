package runtime

import (
	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/userns"
)

// exeWritableFromInside reports whether a process in the container could
// write this binary if it got hold of it: the owner is an id the map
// covers (the user, or one of its subordinate ids), or the file is group-
// or world-writable. Only then is the read-only re-exec worth its cost.
func exeWritableFromInside(m userns.Mapping) bool {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		return true
	}
	if st.Mode&0o022 != 0 {
		return true
	}
	for _, r := range m.UIDs {
		if st.Uid >= r.HostID && uint64(st.Uid) < uint64(r.HostID)+uint64(r.Size) {
			return true
		}
	}
	return false
}
