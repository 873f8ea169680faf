// Package spawn starts processes with a vfork-style clone: clone with
// CLONE_VM|CLONE_VFORK and, if asked, new namespaces (clone3, for
// CLONE_INTO_CGROUP, only where a cgroup is given: some seccomp filters
// refuse clone3), a child that only makes system calls, then execve.
//
// Go's os/exec never uses CLONE_VM|CLONE_VFORK together with
// CLONE_NEWUSER, because its child waits for the parent to write the id
// maps, which a parent suspended by vfork could not do. Its full fork of
// the sandbox CLI copies the page tables, makes both processes fault on
// every page either writes, and tears the copy down again at the execve:
// 4–5 ms per container start on the test machines. Here the child writes
// its own one-line maps (the namespace's creator may), so nothing needs
// the parent before the execve. A multi-line map (subordinate ids) needs
// newuidmap after the clone: the child then keeps its capabilities
// through the execve as ambient ones (Attr.AmbientCaps), and the program
// waits for its maps (docs/handshake.md, "Subid mode").
//
// The caller gets a pid and reaps it with Wait: no os.Process, whose
// making (os.FindProcess) costs Go's check that pidfds work, a test clone
// of its own (1.5–1.9 ms here).
//
// Only linux/amd64 has the assembly (vfork_amd64.s); elsewhere Supported
// is false and callers use os/exec.
package spawn
