#include "textflag.h"

// sigreturn is where every handler Install puts in place returns to
// (its restorer): the return into rt_sigreturn, which restores every
// register from the signal frame.
TEXT ·sigreturn(SB), NOSPLIT|NOFRAME, $0-0
	MOVQ	$15, AX	// SYS_rt_sigreturn
	SYSCALL
	INT	$3

// func restorerAddr() uintptr: sigreturn's own address.
TEXT ·restorerAddr(SB), NOSPLIT, $0-8
	LEAQ	·sigreturn(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
