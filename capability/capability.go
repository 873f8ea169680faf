package capability

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// names are the capabilities Linux knows, by number, without "CAP_".
var names = []string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK",
	"IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT",
	"SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL",
	"SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON",
	"BPF", "CHECKPOINT_RESTORE"}

// Default is docker's default capability set: what a container's root
// keeps. Everything else leaves the bounding set before the payload runs.
var Default = []int{
	unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_FSETID, unix.CAP_FOWNER,
	unix.CAP_MKNOD, unix.CAP_NET_RAW, unix.CAP_SETGID, unix.CAP_SETUID,
	unix.CAP_SETFCAP, unix.CAP_SETPCAP, unix.CAP_NET_BIND_SERVICE,
	unix.CAP_SYS_CHROOT, unix.CAP_KILL, unix.CAP_AUDIT_WRITE,
}

// Number is the number of a normalized capability name (CAP_X), or -1.
func Number(name string) int {
	for i, n := range names {
		if "CAP_"+n == name {
			return i
		}
	}
	return -1
}

// Name is the CAP_ name of capability number n ("" if unknown).
func Name(n int) string {
	if n < 0 || n >= len(names) {
		return ""
	}
	return "CAP_" + names[n]
}

// Normalize turns "net_admin", "NET_ADMIN" or "CAP_NET_ADMIN" into
// "CAP_NET_ADMIN"; "ALL" stays.
func Normalize(c string) (string, error) {
	u := strings.ToUpper(strings.TrimPrefix(strings.ToUpper(c), "CAP_"))
	if u == "ALL" {
		return "ALL", nil
	}
	for _, n := range names {
		if n == u {
			return "CAP_" + n, nil
		}
	}
	return "", fmt.Errorf("%q is not a capability (like NET_ADMIN or CAP_SYS_PTRACE)", c)
}

// Last is the highest capability number this kernel knows: found by
// PR_CAPBSET_READ, which fails with EINVAL past it (six calls of a
// binary search, where reading /proc/sys/kernel/cap_last_cap took a
// start 0.03 ms of CPU: an open, reads and a close of a procfs file), or
// from that file where prctl says nothing (a seccomp filter refusing
// it).
func Last() int {
	valid := func(c int) (bool, bool) {
		_, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
		switch err {
		case nil:
			return true, true
		case unix.EINVAL:
			return false, true
		}
		return false, false
	}
	// Capability 0 always exists; 63 is the most a 64-bit set holds.
	if ok, known := valid(0); ok && known {
		lo, hi := 0, 64 // lo valid, hi not
		for hi-lo > 1 {
			mid := (lo + hi) / 2
			ok, known := valid(mid)
			if !known {
				return lastFromProc()
			}
			if ok {
				lo = mid
			} else {
				hi = mid
			}
		}
		return lo
	}
	return lastFromProc()
}

// lastFromProc is Last as /proc/sys/kernel/cap_last_cap says it.
func lastFromProc() int {
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
// plus add, minus drop (each a name Normalize returned, or ALL).
func BoundingSet(add, drop []string) []int {
	// As docker: ALL sets the base (drop ALL: none; add ALL: every
	// capability); then the named drops go and the named adds come, so
	// cap_drop = ["ALL"] with cap_add = ["CHOWN"] keeps CHOWN alone.
	kept := map[int]bool{}
	for _, c := range Default {
		kept[c] = true
	}
	if slices.Contains(drop, "ALL") {
		kept = map[int]bool{}
	}
	if slices.Contains(add, "ALL") {
		for c := 0; c <= Last(); c++ {
			kept[c] = true
		}
	}
	for _, name := range drop {
		if n := Number(name); n >= 0 {
			delete(kept, n)
		}
	}
	for _, name := range add {
		if n := Number(name); n >= 0 {
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
