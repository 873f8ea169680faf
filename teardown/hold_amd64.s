#include "textflag.h"

// func rawHold(stack, ppid uintptr) (pid, errno uintptr)
//
// clone(CLONE_VM) with the stack given and no exit signal. The child
// never returns from here: it uses no stack (no calls, no pushes) and only
// registers, which it got as copies, so nothing of the parent's Go state
// is touched.
TEXT ·rawHold(SB),NOSPLIT|NOFRAME,$0-32
	MOVQ	ppid+8(FP), R12
	MOVQ	$0x100, DI // CLONE_VM
	MOVQ	stack+0(FP), SI
	MOVQ	$0, DX
	MOVQ	$0, R10
	MOVQ	$0, R8
	MOVQ	$56, AX // SYS_clone
	SYSCALL
	CMPQ	AX, $0
	JEQ	child
	CMPQ	AX, $0xfffffffffffff001
	JLS	ok
	MOVQ	$-1, pid+16(FP)
	NEGQ	AX
	MOVQ	AX, errno+24(FP)
	RET
ok:
	MOVQ	AX, pid+16(FP)
	MOVQ	$0, errno+24(FP)
	RET

child:
	// close_range(0, ~0, 0): a copy of a pipe held here would keep a
	// reader of the CLI's output waiting. A kernel without it (before
	// 5.9): end at once, the CLI's exit then tears down as before.
	MOVQ	$436, AX
	MOVQ	$0, DI
	MOVQ	$-1, SI
	MOVQ	$0, DX
	SYSCALL
	CMPQ	AX, $0
	JNE	done
	// prctl(PR_SET_PDEATHSIG, SIGKILL): end with the CLI. Without it
	// nothing would end the holder: end at once.
	MOVQ	$157, AX
	MOVQ	$1, DI
	MOVQ	$9, SI
	MOVQ	$0, DX
	MOVQ	$0, R10
	MOVQ	$0, R8
	SYSCALL
	CMPQ	AX, $0
	JNE	done
	// The CLI may have exited before the signal was set: then our parent
	// is no longer the pid it had.
	MOVQ	$110, AX // SYS_getppid
	SYSCALL
	CMPQ	AX, R12
	JNE	done
wait:
	MOVQ	$34, AX // SYS_pause
	SYSCALL
	JMP	wait
done:
	MOVQ	$0, DI
	MOVQ	$60, AX // SYS_exit
	SYSCALL
	JMP	done
