#include "textflag.h"

#define SYS_PRCTL		157
#define PR_SET_TIMERSLACK	29
#define PR_GET_TIMERSLACK	30
#define SYS_RT_SIGPROCMASK	14
#define SIG_BLOCK		0
#define SIGRTMAX_BIT		$0x8000000000000000	// signal 64, which Settle sends

// entry is where the kernel starts a program linked with LinkFlags: it
// keeps the slack the process has, sets Slack, and starts the Go
// runtime as the linker's own entry would (0(SP) is still argc). Not
// where the process started with signal 64 blocked: the runtime's
// threads keep that mask, and Settle could not set them back.
TEXT ·entry(SB), NOSPLIT|NOFRAME, $0-0
	MOVB	$1, ·linked(SB)
	MOVQ	$SYS_RT_SIGPROCMASK, AX
	MOVQ	$SIG_BLOCK, DI
	XORQ	SI, SI
	LEAQ	·startMask(SB), DX
	MOVQ	$8, R10
	SYSCALL
	TESTQ	AX, AX
	JNE	start
	MOVQ	SIGRTMAX_BIT, AX
	TESTQ	AX, ·startMask(SB)
	JNE	start
	MOVQ	$PR_GET_TIMERSLACK, DI
	XORQ	SI, SI
	XORQ	DX, DX
	XORQ	R10, R10
	XORQ	R8, R8
	MOVQ	$SYS_PRCTL, AX
	SYSCALL
	TESTQ	AX, AX
	JLE	start	// no slack to go back to: leave it
	MOVQ	AX, ·startSlack(SB)
	MOVQ	$PR_SET_TIMERSLACK, DI
	MOVQ	·entrySlack(SB), SI
	MOVQ	$SYS_PRCTL, AX
	SYSCALL
	TESTQ	AX, AX
	JNE	start
	MOVB	$1, ·entered(SB)
start:
	JMP	_rt0_amd64_linux(SB)

// handler runs on each thread Settle signals, every signal blocked:
// prctl(PR_SET_TIMERSLACK, startSlack), then reset++. The kernel
// restores every register at rt_sigreturn.
TEXT ·handler(SB), NOSPLIT|NOFRAME, $0-0
	MOVQ	$PR_SET_TIMERSLACK, DI
	MOVQ	·startSlack(SB), SI
	XORQ	DX, DX
	XORQ	R10, R10
	XORQ	R8, R8
	MOVQ	$SYS_PRCTL, AX
	SYSCALL
	LOCK
	INCL	·reset(SB)
	RET

// func handlerAddr() uintptr: handler's own address, not that of Go's
// ABI wrapper. Its restorer is rawsig's.
TEXT ·handlerAddr(SB), NOSPLIT, $0-8
	LEAQ	·handler(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
