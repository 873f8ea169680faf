#include "textflag.h"

// func rawHold(stack, ppid uintptr) (pid, errno uintptr)
//
// clone(CLONE_VM) with the stack given and no exit signal. The child
// never returns from here: it makes no calls and no pushes, uses
// registers, which it got as copies, and writes only its poll's pollfd
// and its sched_param at the top of the stack given, so nothing of the
// parent's Go state is touched.
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
	// pidfd_open(ppid, 0): the CLI as a whole. The kernel makes it
	// readable only once every thread of the CLI has exited, which a
	// parent-death signal would not wait for: that comes when the thread
	// that cloned us exits, and exit_group ends the calling thread first,
	// so the holder died before the CLI's other threads, and the last of
	// them tore the address space down on the shell's path after all.
	// A kernel without pidfds (before 5.3, and close_range needs 5.9),
	// or a seccomp filter that refuses pidfd_open: end at once, the
	// CLI's exit then tears down as it would without a holder.
	MOVQ	$434, AX
	MOVQ	R12, DI
	MOVQ	$0, SI
	SYSCALL
	CMPQ	AX, $0
	JLT	done
	MOVQ	AX, R13
	// The CLI may have exited, and its pid been taken by another, before
	// pidfd_open: then our parent is no longer that pid. While it is,
	// the pidfd names the CLI.
	MOVQ	$110, AX // SYS_getppid
	SYSCALL
	CMPQ	AX, R12
	JNE	done
	// poll({pidfd, POLLIN}, 1, -1), the pollfd at the top of our stack.
	MOVQ	SP, R14
	SUBQ	$16, R14
	MOVL	R13, 0(R14)
	MOVW	$1, 4(R14) // POLLIN
	MOVW	$0, 6(R14)
	// sched_setscheduler(0, SCHED_IDLE, {0}), the sched_param below the
	// pollfd: the teardown then gives way at once to the CLI's parent,
	// which wakes with it (best effort: a refusal leaves the policy).
	MOVL	$0, 8(R14)
	MOVQ	$144, AX // SYS_sched_setscheduler
	MOVQ	$0, DI
	MOVQ	$5, SI // SCHED_IDLE
	LEAQ	8(R14), DX
	SYSCALL
wait:
	MOVQ	$7, AX // SYS_poll
	MOVQ	R14, DI
	MOVQ	$1, SI
	MOVQ	$-1, DX
	SYSCALL
	// Every signal is blocked, so EINTR is all but impossible; any other
	// error ends the wait too (the teardown is then the CLI's, as before).
	CMPQ	AX, $-4 // -EINTR
	JEQ	wait
done:
	MOVQ	$0, DI
	MOVQ	$60, AX // SYS_exit
	SYSCALL
	JMP	done
