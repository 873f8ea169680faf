package runtime

import (
	"encoding/binary"
	"fmt"
	"slices"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/capability"
	"github.com/sandbox-dev/sandbox/plan"
)

// sealThread makes the calling thread into the one every container
// process is forked from: it runs the plan of addRestrict, then that of
// addFilter. Credentials, the keyring and the filter are per thread in
// Linux and copied by fork, so each payload and exec'd process starts
// with them.
func sealThread(spec *Spec) error {
	Trace("sealing a thread")
	p := plan.New("/")
	addRestrict(p, spec)
	// Not dumpable: /proc/1/* (exe, mem, fd) is out of reach of the
	// container's processes, which lack CAP_SYS_PTRACE. A property of
	// the address space, not of the thread: the whole init's. (Not in
	// addRestrict: a raw start's payload child shares the CLI's.)
	p.Syscall("making the init non-dumpable", unix.SYS_PRCTL, unix.PR_SET_DUMPABLE, 0)
	if err := p.Run(); err != nil {
		return err
	}
	// The plan set RLIMIT_NOFILE with a system call of its own; syscall's
	// Setrlimit of the same value tells the Go runtime so, which would
	// otherwise give children the limit this init started with.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil {
		syscall.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	}
	Trace("thread restricted")
	if len(spec.Seccomp) > 0 {
		f := plan.New("/")
		if err := addFilter(f, spec); err != nil {
			return err
		}
		if err := f.Run(); err != nil {
			return err
		}
		Trace("seccomp filter installed")
	}
	return nil
}

// addRestrict adds, in this order:
//
//  1. a session keyring of its own: the one inherited from the user's
//     login links the user's keyring, whose keys (Kerberos tickets,
//     ecryptfs keys) a payload could otherwise read, add to or revoke;
//     KEYCTL_JOIN_SESSION_KEYRING with no name, as runc does;
//  2. the bounding set (docker's default set, or the container's), no
//     ambient capabilities and no_new_privs;
//  3. RLIMIT_NPROC, where no pids cgroup bounds the processes; the
//     open-file limit; the container's --ulimit ones.
//
// The limits are per process: the init's own too.
func addRestrict(p *plan.Plan, spec *Spec) {
	p.Syscall("creating the sandbox's own session keyring", unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0)
	p.Explain(unix.EDQUOT, "the user has as many keys as kernel.keys.maxkeys allows; raise it with sysctl, or end sessions that hold keys")
	keep, last := spec.Caps, spec.CapLast
	if keep == nil {
		keep = capability.Default
	}
	if last <= 0 {
		last = capability.Last()
	}
	for c := 0; c <= last; c++ {
		if !slices.Contains(keep, c) {
			p.Syscallf("dropping capability %d from the bounding set", uintptr(c), unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c))
		}
	}
	// No ambient capability reaches a payload, whoever it runs as: a
	// subid-mode init held them all until its maps existed (mapWait
	// cleared them; this makes sure for what the thread starts).
	p.Syscall("clearing the ambient capabilities", unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL)
	if !spec.AllowNewPrivs {
		p.Syscall("setting no_new_privs", unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1)
	}
	if spec.Nproc > 0 {
		// A lower limit the user already has stays.
		lim := &unix.Rlimit{Cur: spec.Nproc, Max: spec.Nproc}
		var cur unix.Rlimit
		if unix.Getrlimit(unix.RLIMIT_NPROC, &cur) == nil {
			lim = &unix.Rlimit{Cur: min(lim.Cur, cur.Cur), Max: min(lim.Max, cur.Max)}
		}
		p.Syscall(fmt.Sprintf("setting the process limit (RLIMIT_NPROC %d)", spec.Nproc), unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NPROC, p.Ptr(lim, unsafe.Pointer(lim)), 0)
	}
	// Without --ulimit nofile the container's open-file limit is the
	// user's hard one, soft and hard, as Podman gives.
	if !slices.ContainsFunc(spec.Rlimits, func(r Rlimit) bool { return r.Resource == unix.RLIMIT_NOFILE }) {
		var lim unix.Rlimit
		if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil {
			l := &unix.Rlimit{Cur: lim.Max, Max: lim.Max}
			p.Try("raising the open-file limit", unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NOFILE, p.Ptr(l, unsafe.Pointer(l)), 0)
		}
	}
	for _, r := range spec.Rlimits {
		l := &unix.Rlimit{Cur: r.Soft, Max: r.Hard}
		p.Syscall(fmt.Sprintf("--ulimit %s=%d:%d", r.Name, r.Soft, r.Hard), unix.SYS_PRLIMIT64, 0, uintptr(r.Resource), p.Ptr(l, unsafe.Pointer(l)), 0)
		p.Explain(unix.EPERM, "a hard limit above the host's needs root")
		p.Explain(unix.EINVAL, "a hard limit above the host's needs root")
	}
}

const seccompSetModeFilter = 1 // SECCOMP_SET_MODE_FILTER

// addFilter adds the seccomp filter the CLI compiled (raw struct
// sock_filter entries), last: it may refuse keyctl and prctl. It goes on
// the calling thread only: no TSYNC.
func addFilter(p *plan.Plan, spec *Spec) error {
	raw := spec.Seccomp
	if len(raw)%8 != 0 || len(raw)/8 > 4096 {
		return fmt.Errorf("the seccomp filter is %d bytes: not a program of at most 4096 instructions", len(raw))
	}
	prog := make([]unix.SockFilter, len(raw)/8)
	for i := range prog {
		b := raw[i*8:]
		prog[i] = unix.SockFilter{Code: binary.NativeEndian.Uint16(b), Jt: b[2], Jf: b[3], K: binary.NativeEndian.Uint32(b[4:])}
	}
	fprog := &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	p.Ptr(prog, unsafe.Pointer(&prog[0]))
	p.Syscall("installing the seccomp filter", unix.SYS_SECCOMP, seccompSetModeFilter, uintptr(spec.SeccompFlags), p.Ptr(fprog, unsafe.Pointer(fprog)))
	return nil
}
