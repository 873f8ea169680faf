package runtime

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/capability"
)

// restrictThread drops from the calling thread's bounding set every
// capability outside keep (nil: docker's default set) and sets no_new_privs on it, and makes the
// init non-dumpable. Both are per-thread credentials in Linux, copied by
// fork: the caller locks its goroutine to the thread first and starts every
// container process from it, so each one inherits the limits. (Doing it on
// all threads with AllThreadsSyscall stops the world once per capability,
// which cost more than everything else in the init together.)
func restrictThread(keep []int, noNewPrivs bool, last int) error {
	if keep == nil {
		keep = capability.Default
	}
	if last <= 0 {
		last = capability.Last()
	}
	kept := map[int]bool{}
	for _, c := range keep {
		kept[c] = true
	}
	for c := 0; c <= last; c++ {
		if kept[c] {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("dropping capability %d from the bounding set: %v", c, err)
		}
	}
	// No ambient capability reaches a payload, whoever it runs as: a
	// subid-mode init held them all until its maps existed (mapWait
	// cleared them; this thread makes sure for what it starts).
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clearing the ambient capabilities: %v", err)
	}
	if noNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("setting no_new_privs: %v", err)
		}
	}
	// Not dumpable: /proc/1/* (exe, mem, fd) is out of reach of the
	// container's processes, which lack CAP_SYS_PTRACE.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("making the init non-dumpable: %v", err)
	}
	return nil
}
