package spawn

// haveVfork says rawVfork exists on this architecture (vfork_amd64.s).
const haveVfork = true

// rawVfork makes the system call trap(a1, a2) as a vfork-style clone:
// see vfork_amd64.s.
func rawVfork(trap, a1, a2 uintptr) (r1, errno uintptr)

// rawCloneStack clones a child that shares this memory and starts on
// stack, in entry(r) (payloadEntry, heldEntry): see vfork_amd64.s. ptid
// is where the kernel stores the child's pid with CLONE_PARENT_SETTID
// (0 without).
func rawCloneStack(flags, stack uintptr, r *vforkReq, entry, ptid uintptr) (pid, errno uintptr)

// payloadEntry, heldEntry, nsEntry and innerEntry are the entries
// rawCloneStack takes.
func payloadEntry() uintptr
func heldEntry() uintptr
func nsEntry() uintptr
func innerEntry() uintptr
