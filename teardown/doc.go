// Package teardown takes the kernel's teardown of a process's address
// space off the path of its exit.
//
// A process's exit is noticed by its parent (the user's shell) only once
// the kernel has unmapped its memory: exit_mm comes before the parent is
// told. For the sandbox CLI, a 30 MB static Go program with a few MB of
// heap, that teardown is most of the ~1–1.5 ms its exit takes on the test
// machine, a virtual machine where freeing each page costs the host too.
// But the kernel tears an address space down only when its last user
// leaves it. Defer, called just before the CLI exits, clones a holder:
// a process that shares the address space (CLONE_VM) and nothing else
// (it closes every descriptor it got a copy of), waits for the CLI's
// exit on a pidfd of it, and then exits itself, doing the teardown after
// the shell has its status. A pidfd, not a parent-death signal: that
// signal comes when the thread that cloned the holder exits, and
// exit_group ends that thread first, before the CLI's other threads, the
// last of which then did the teardown after all (0.36 ms, traced). It
// waits at the idle policy, so that the shell, woken with it, has a core
// at once. Measured (before the pidfd): the exit of
// `sandbox version` 0.98 → 0.54 ms, of `run --rm` 1.49 → 0.72 ms
// (medians of 30, from the exit call to the parent's wait).
//
// The holder runs only the assembly in hold_amd64.s: system calls on a
// stack of its own, with every signal blocked (the Go runtime's handlers
// must never run in it). It lives for as long as the CLI's exit and its
// own teardown take, and ends an orphan, reaped by whoever reaps the
// CLI's orphans (init, or the nearest subreaper), as a throwaway run's
// init is. Elsewhere than linux/amd64, Defer does nothing; where the
// kernel lacks pidfds, or a seccomp filter refuses pidfd_open, the
// holder ends at once and the CLI's exit tears down as without one.
package teardown
