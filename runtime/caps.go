package runtime

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// defaultCaps is docker's default capability set: what a container's root
// keeps. Everything else leaves the bounding set before the payload runs.
var defaultCaps = map[int]bool{
	unix.CAP_CHOWN: true, unix.CAP_DAC_OVERRIDE: true, unix.CAP_FSETID: true,
	unix.CAP_FOWNER: true, unix.CAP_MKNOD: true, unix.CAP_NET_RAW: true,
	unix.CAP_SETGID: true, unix.CAP_SETUID: true, unix.CAP_SETFCAP: true,
	unix.CAP_SETPCAP: true, unix.CAP_NET_BIND_SERVICE: true, unix.CAP_SYS_CHROOT: true,
	unix.CAP_KILL: true, unix.CAP_AUDIT_WRITE: true,
}

// restrictThread drops from the calling thread's bounding set every
// capability outside defaultCaps and sets no_new_privs on it, and makes the
// init non-dumpable. Both are per-thread credentials in Linux, copied by
// fork: the caller locks its goroutine to the thread first and starts every
// container process from it, so each one inherits the limits. (Doing it on
// all threads with AllThreadsSyscall stops the world once per capability,
// which cost more than everything else in the init together.)
func restrictThread() error {
	last := lastCap()
	for c := 0; c <= last; c++ {
		if defaultCaps[c] {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("dropping capability %d from the bounding set: %v", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("setting no_new_privs: %v", err)
	}
	// Not dumpable: /proc/1/* (exe, mem, fd) is out of reach of the
	// container's processes, which lack CAP_SYS_PTRACE.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("making the init non-dumpable: %v", err)
	}
	return nil
}

func lastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return unix.CAP_LAST_CAP
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return unix.CAP_LAST_CAP
	}
	return n
}
