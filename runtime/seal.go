package runtime

import (
	"encoding/binary"
	"fmt"
	"slices"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sealThread makes the calling thread into the one every container
// process is forked from, in this order:
//
//  1. a session keyring of its own: the one inherited from the user's
//     login links the user's keyring, whose keys (Kerberos tickets,
//     ecryptfs keys) a payload could otherwise read, add to or revoke;
//  2. the bounding set, no_new_privs and not dumpable (restrictThread);
//  3. RLIMIT_NPROC, where no pids cgroup bounds the processes;
//  4. the seccomp filter, last: it may refuse keyctl and prctl.
//
// Credentials, the keyring and the filter are per thread in Linux and
// copied by fork, so each payload and exec'd process starts with them.
func sealThread(spec *Spec) error {
	Trace("sealing a thread")
	if err := joinNewSessionKeyring(); err != nil {
		return err
	}
	if err := restrictThread(spec.Caps, !spec.AllowNewPrivs, spec.CapLast); err != nil {
		return err
	}
	if spec.Nproc > 0 {
		// Per process, not per thread: the init's own threads count too,
		// which the default leaves ample room for.
		// A lower limit the user already has stays.
		lim := unix.Rlimit{Cur: spec.Nproc, Max: spec.Nproc}
		var cur unix.Rlimit
		if unix.Getrlimit(unix.RLIMIT_NPROC, &cur) == nil {
			lim = unix.Rlimit{Cur: min(lim.Cur, cur.Cur), Max: min(lim.Max, cur.Max)}
		}
		if err := unix.Setrlimit(unix.RLIMIT_NPROC, &lim); err != nil {
			return fmt.Errorf("setting the process limit (RLIMIT_NPROC %d): %w", spec.Nproc, err)
		}
	}
	// Without --ulimit nofile the container's open-file limit is the
	// user's hard one, soft and hard, as Podman gives. (The init is a Go
	// program: its runtime raised its soft limit as it started, and gives
	// its children back whatever it started with, which depends on how
	// it was started.) syscall's Setrlimit also stops that giving back.
	if !slices.ContainsFunc(spec.Rlimits, func(r Rlimit) bool { return r.Resource == unix.RLIMIT_NOFILE }) {
		var lim syscall.Rlimit
		if err := syscall.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil {
			lim.Cur = lim.Max
			syscall.Setrlimit(unix.RLIMIT_NOFILE, &lim)
		}
	}
	// Per process: the init's too. syscall's Setrlimit, so that the Go
	// runtime gives children this NOFILE rather than its own start's.
	for _, r := range spec.Rlimits {
		if err := syscall.Setrlimit(r.Resource, &syscall.Rlimit{Cur: r.Soft, Max: r.Hard}); err != nil {
			return fmt.Errorf("--ulimit %s=%d:%d: %w (a hard limit above the host's needs root)", r.Name, r.Soft, r.Hard, err)
		}
	}
	Trace("thread restricted")
	if len(spec.Seccomp) > 0 {
		if err := installFilter(spec.Seccomp, spec.SeccompFlags); err != nil {
			return err
		}
		Trace("seccomp filter installed")
	}
	return nil
}

// joinNewSessionKeyring replaces the calling thread's session keyring
// with a new anonymous one (KEYCTL_JOIN_SESSION_KEYRING with no name), as
// runc does for every container.
func joinNewSessionKeyring() error {
	_, _, errno := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0)
	switch errno {
	case 0:
		return nil
	case unix.EDQUOT:
		return fmt.Errorf("creating the sandbox's own session keyring: %v (the user has as many keys as kernel.keys.maxkeys allows; raise it with sysctl, or end sessions that hold keys)", errno)
	default:
		return fmt.Errorf("creating the sandbox's own session keyring: %v", errno)
	}
}

const seccompSetModeFilter = 1 // SECCOMP_SET_MODE_FILTER

// installFilter loads a classic BPF seccomp filter (raw struct sock_filter
// entries) on the calling thread only: no TSYNC, the init's other threads
// stay unfiltered.
func installFilter(raw []byte, flags uint) error {
	if len(raw)%8 != 0 || len(raw)/8 > 4096 {
		return fmt.Errorf("the seccomp filter is %d bytes: not a program of at most 4096 instructions", len(raw))
	}
	prog := make([]unix.SockFilter, len(raw)/8)
	for i := range prog {
		b := raw[i*8:]
		prog[i] = unix.SockFilter{Code: binary.NativeEndian.Uint16(b), Jt: b[2], Jf: b[3], K: binary.NativeEndian.Uint32(b[4:])}
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, seccompSetModeFilter, uintptr(flags), uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return fmt.Errorf("installing the seccomp filter: %v", errno)
	}
	return nil
}
