#include "textflag.h"

// func rawVfork(trap, a1, a2 uintptr) (r1, errno uintptr)
//
// A clone with CLONE_VM|CLONE_VFORK and no stack of its own: the child
// runs on this stack while the parent sleeps until the child's execve.
// Both return through here, the child first; its later calls overwrite
// the slot that held this function's return address, so each keeps it in
// a register (R12, its own copy of the registers) across the system call.
TEXT ·rawVfork(SB),NOSPLIT|NOFRAME,$0-40
	MOVQ	a1+8(FP), DI
	MOVQ	a2+16(FP), SI
	MOVQ	$0, DX
	MOVQ	$0, R10
	MOVQ	$0, R8
	MOVQ	$0, R9
	MOVQ	trap+0(FP), AX
	POPQ	R12
	SYSCALL
	PUSHQ	R12
	CMPQ	AX, $0xfffffffffffff001
	JLS	ok
	MOVQ	$-1, r1+24(FP)
	NEGQ	AX
	MOVQ	AX, errno+32(FP)
	RET
ok:
	MOVQ	AX, r1+24(FP)
	MOVQ	$0, errno+32(FP)
	RET

// func rawCloneStack(flags, stack uintptr, r *vforkReq, entry, ptid uintptr) (pid, errno uintptr)
//
// A clone whose child starts on stack (its top, 16-byte aligned) and
// calls entry(r) (payloadEntry or heldEntry), which never returns: a
// child that runs beside its parent in the same memory (CLONE_VM without
// CLONE_VFORK).
TEXT ·rawCloneStack(SB),NOSPLIT|NOFRAME,$0-56
	MOVQ	flags+0(FP), DI
	MOVQ	stack+8(FP), SI
	MOVQ	r+16(FP), R12
	MOVQ	entry+24(FP), R13
	MOVQ	ptid+32(FP), DX	// CLONE_PARENT_SETTID's word, or 0
	XORQ	R10, R10
	XORQ	R8, R8
	MOVQ	$56, AX		// SYS_clone
	SYSCALL
	TESTQ	AX, AX
	JEQ	child
	CMPQ	AX, $0xfffffffffffff001
	JLS	ok
	MOVQ	$-1, pid+40(FP)
	NEGQ	AX
	MOVQ	AX, errno+48(FP)
	RET
ok:
	MOVQ	AX, pid+40(FP)
	MOVQ	$0, errno+48(FP)
	RET
child:
	// The kernel put SP at stack: room below for the call's argument
	// and return address. An indirect call: the linker's check of
	// nosplit frames would add the child's to the parent's, which it
	// does not run on.
	SUBQ	$64, SP
	MOVQ	R12, 0(SP)
	CALL	R13
exit:
	MOVQ	$231, AX	// SYS_exit_group, should it return
	MOVQ	$253, DI
	SYSCALL
	JMP	exit

// func payloadEntry() uintptr
// func heldEntry() uintptr
// func nsEntry() uintptr
// func innerEntry() uintptr
//
// The addresses rawCloneStack calls: payloadChild's, heldChild's,
// nsChild's and innerChild's.
TEXT ·payloadEntry(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	$·payloadChild(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·heldEntry(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	$·heldChild(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·nsEntry(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	$·nsChild(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·innerEntry(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	$·innerChild(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
