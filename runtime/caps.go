package runtime

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/config"
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
func restrictThread(keep []int, noNewPrivs bool) error {
	kept := defaultCaps
	if keep != nil {
		kept = map[int]bool{}
		for _, c := range keep {
			kept[c] = true
		}
	}
	last := lastCap()
	for c := 0; c <= last; c++ {
		if kept[c] {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("dropping capability %d from the bounding set: %v", c, err)
		}
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

// BoundingSet is the capabilities a container keeps: docker's default set,
// plus add, minus drop (each a CAP_ name, or ALL).
func BoundingSet(add, drop []string) []int {
	// As docker: ALL sets the base (drop ALL: none; add ALL: every
	// capability); then the named drops go and the named adds come, so
	// cap_drop = ["ALL"] with cap_add = ["CHOWN"] keeps CHOWN alone. Names
	// are config.NormalizeCap's (CAP_CHOWN).
	kept := map[int]bool{}
	for c := range defaultCaps {
		kept[c] = true
	}
	if slices.Contains(drop, "ALL") {
		kept = map[int]bool{}
	}
	if slices.Contains(add, "ALL") {
		for c := 0; c <= lastCap(); c++ {
			kept[c] = true
		}
	}
	for _, name := range drop {
		if n := config.CapNumber(name); n >= 0 {
			delete(kept, n)
		}
	}
	for _, name := range add {
		if n := config.CapNumber(name); n >= 0 {
			kept[n] = true
		}
	}
	out := []int{}
	for c := range kept {
		out = append(out, c)
	}
	sort.Ints(out)
	return out
}
