#include "textflag.h"

// System calls and constants, linux/amd64.
#define SYS_READ		0
#define SYS_WRITE		1
#define SYS_RT_SIGPROCMASK	14
#define SYS_WAIT4		61
#define SYS_GETPID		39
#define SYS_KILL		62
#define SYS_SETPRIORITY		141
#define SYS_PRCTL		157
#define SYS_EXIT_GROUP		231
#define SYS_WAITID		247
#define SYS_PPOLL		271
#define SYS_SIGNALFD4		289
#define SYS_EXECVEAT		322
#define SYS_CLOSE		3

#define PR_SET_PDEATHSIG	1
#define PR_SET_DUMPABLE	4
#define PR_SET_NAME	15
#define PRIO_PROCESS	0
#define SIGKILL		9
#define SIGCHLD		17
#define ECHILD		10
#define WALL		0x40000000
#define CLD_EXITED	1
#define SIG_SETMASK	2
#define EINTR		4
#define POLLIN		1
#define WAIT_FLAGS	0x1000005	// WEXITED|WNOHANG|WNOWAIT
#define WNOHANG		1
#define P_PID		1
#define SFD_FLAGS	0x80800		// SFD_CLOEXEC|SFD_NONBLOCK
#define AT_EMPTY_PATH	0x1000

// The arguments (idle.Args): argv[2] the payload's pid, [3] the program's
// descriptor, [4] [5] [6] stdout, stderr, the exec socket, [7] the mask of
// signals to forward, [8] 1 to reap other children, [9] the descriptor
// that gets the payload's exit code with no Go stage (or -1), [10:] the
// Go stage's argument vector.
#define ARGC_MIN	11
#define RESUME_ARGV	(10*8)

// The frame, below the stack the kernel made.
#define F_POLL		0	// 4 struct pollfd: the signalfd, stdout, stderr, exec
#define F_PID		32
#define F_EXE		40
#define F_MASK		48
#define F_ARGV		56
#define F_ENVP		64
#define F_ZERO		72	// an empty signal set, and an empty path
#define F_SIGFD		80
#define F_REAP		88	// 1: reap the other children too; 2: and linger (idle.Args)
#define F_STATUS	96	// where the exit code goes with no Go stage, or -1
#define F_CODE		104	// that exit code, the byte written
#define F_TS		112	// a struct timespec: how long the end lingers
#define F_SSI		128	// struct signalfd_siginfo (128 bytes)
#define F_WSI		256	// siginfo_t (128 bytes)
#define FRAME		384

// entry is where the kernel starts the program: 0(SP) is argc, then
// argv, a nil, envp. With argv[1] == "idle" it is the idle stage; else it
// starts the Go runtime as the linker's own entry would.
TEXT ·entry(SB), NOSPLIT|NOFRAME, $0-0
	MOVB	$1, ·entered(SB)
	MOVQ	0(SP), AX
	CMPQ	AX, $ARGC_MIN
	JLT	goruntime
	MOVQ	16(SP), SI
	CMPL	0(SI), $0x656c6469	// "idle"
	JNE	goruntime
	CMPB	4(SI), $0
	JNE	goruntime
	JMP	idleMain<>(SB)
goruntime:
	JMP	_rt0_amd64_linux(SB)

// atoi parses the decimal number, perhaps negative, at SI into AX. DX is
// 0, or 1 where the string is not a number.
TEXT atoi<>(SB), NOSPLIT|NOFRAME, $0-0
	XORQ	AX, AX
	XORQ	DX, DX
	XORQ	R8, R8
	MOVBQZX	0(SI), CX
	TESTQ	CX, CX
	JEQ	bad
	CMPQ	CX, $'-'
	JNE	digits
	MOVQ	$1, R8
	INCQ	SI
	MOVBQZX	0(SI), CX
	TESTQ	CX, CX
	JEQ	bad
digits:
	MOVBQZX	0(SI), CX
	TESTQ	CX, CX
	JEQ	sign
	SUBQ	$'0', CX
	CMPQ	CX, $9
	JHI	bad
	IMULQ	$10, AX
	ADDQ	CX, AX
	INCQ	SI
	JMP	digits
sign:
	TESTQ	R8, R8
	JEQ	ok
	NEGQ	AX
ok:
	RET
bad:
	MOVQ	$1, DX
	RET

// arg parses argv[n] (R12 is argv) into AX, or fails the stage.
#define ARG(n) \
	MOVQ	(n*8)(R12), SI; \
	CALL	atoi<>(SB); \
	TESTQ	DX, DX; \
	JNE	fail

TEXT idleMain<>(SB), NOSPLIT|NOFRAME, $0-0
	MOVQ	SP, R13
	SUBQ	$FRAME, SP
	ANDQ	$~15, SP
	MOVQ	SP, R15			// the frame, for drain<> too
	// Not dumpable, as the Go stages: no ptrace, no /proc/1/mem, no
	// /proc/1/fd for the container's processes. First, before anything
	// else is read.
	MOVQ	$SYS_PRCTL, AX
	MOVQ	$PR_SET_DUMPABLE, DI
	XORQ	SI, SI
	XORQ	DX, DX
	XORQ	R10, R10
	XORQ	R8, R8
	SYSCALL
	TESTQ	AX, AX
	JNE	fail
	LEAQ	8(R13), R12		// argv
	// The process's name, which ps shows: argv[0], as the Go stages
	// name themselves (an execveat of a descriptor names it by number).
	MOVQ	$SYS_PRCTL, AX
	MOVQ	$PR_SET_NAME, DI
	MOVQ	0(R12), SI
	SYSCALL
	MOVQ	R12, F_ARGV(R15)
	MOVQ	0(R13), AX
	LEAQ	16(R13)(AX*8), AX	// envp, past argv's nil
	MOVQ	AX, F_ENVP(R15)
	MOVQ	$0, F_ZERO(R15)
	ARG(2)
	MOVQ	AX, F_PID(R15)
	ARG(3)
	MOVQ	AX, F_EXE(R15)
	ARG(4)
	MOVL	AX, (F_POLL+8)(R15)
	ARG(5)
	MOVL	AX, (F_POLL+16)(R15)
	ARG(6)
	MOVL	AX, (F_POLL+24)(R15)
	ARG(7)
	BTSQ	$(SIGCHLD-1), AX
	MOVQ	AX, F_MASK(R15)
	ARG(8)
	MOVQ	AX, F_REAP(R15)
	ARG(9)
	MOVQ	AX, F_STATUS(R15)
	MOVW	$POLLIN, (F_POLL+4)(R15)
	MOVW	$POLLIN, (F_POLL+12)(R15)
	MOVW	$POLLIN, (F_POLL+20)(R15)
	MOVW	$POLLIN, (F_POLL+28)(R15)
	// The Go stage blocked every signal before its execve, and the mask
	// stays: what comes now waits here.
	MOVQ	$SYS_SIGNALFD4, AX
	MOVQ	$-1, DI
	LEAQ	F_MASK(R15), SI
	MOVQ	$8, DX
	MOVQ	$SFD_FLAGS, R10
	SYSCALL
	CMPQ	AX, $0
	JLT	fail
	MOVQ	AX, F_SIGFD(R15)
	MOVL	AX, (F_POLL+0)(R15)
	// A child may have ended while the Go stage went: look first.
	JMP	children

loop:
	MOVW	$0, (F_POLL+6)(R15)
	MOVW	$0, (F_POLL+14)(R15)
	MOVW	$0, (F_POLL+22)(R15)
	MOVW	$0, (F_POLL+30)(R15)
	MOVQ	$SYS_PPOLL, AX
	LEAQ	F_POLL(R15), DI
	MOVQ	$4, SI
	XORQ	DX, DX
	XORQ	R10, R10
	MOVQ	$8, R8
	SYSCALL
	CMPQ	AX, $-EINTR
	JEQ	loop
	CMPQ	AX, $0
	JLT	fail
	// Output or an exec: the Go stage's work.
	MOVW	(F_POLL+14)(R15), AX
	ORW	(F_POLL+22)(R15), AX
	ORW	(F_POLL+30)(R15), AX
	TESTW	AX, AX
	JNE	wake
	MOVW	(F_POLL+6)(R15), AX
	TESTW	AX, AX
	JEQ	loop

signals:
	CALL	drain<>(SB)
	TESTQ	AX, AX
	JEQ	loop

// children reaps every child that has ended, but leaves the payload's
// status to the Go stage, which records it.
children:
	MOVL	$0, (F_WSI+16)(R15)	// si_pid
	MOVQ	$SYS_WAITID, AX
	XORQ	DI, DI			// P_ALL
	XORQ	SI, SI
	CMPQ	F_REAP(R15), $0
	JNE	waitany
	MOVQ	$P_PID, DI		// only the payload: the others are not ours
	MOVQ	F_PID(R15), SI
waitany:
	LEAQ	F_WSI(R15), DX
	MOVQ	$WAIT_FLAGS, R10
	XORQ	R8, R8
	SYSCALL
	CMPQ	AX, $-EINTR
	JEQ	children
	CMPQ	AX, $0
	JNE	loop			// ECHILD
	MOVLQSX	(F_WSI+16)(R15), DI
	TESTQ	DI, DI
	JEQ	loop			// none has ended
	CMPQ	DI, F_PID(R15)
	JEQ	payloadEnded
	MOVQ	$SYS_WAIT4, AX
	XORQ	SI, SI
	MOVQ	$WNOHANG, DX
	XORQ	R10, R10
	SYSCALL
	JMP	children

// payloadEnded: with a Go stage to go to, it records the status (wake);
// without one (EXE is -1: a raw start, docs/handshake.md) the container
// ends here, with the payload's status as this process's: its exit code,
// or 128 and the signal that ended it. As a PID 1 it first ends every
// other process of its namespace and reaps them, so that once the code
// is written to STATUS (if not -1) nothing of the container runs: the
// reader need not wait for this process's own end, in which the kernel
// takes the container's mounts down.
payloadEnded:
	CMPQ	F_EXE(R15), $0
	JGE	wake
	MOVLQSX	(F_WSI+24)(R15), BX	// si_status
	CMPL	(F_WSI+8)(R15), $CLD_EXITED	// si_code
	JEQ	reaped
	ADDQ	$128, BX
reaped:
	MOVQ	$SYS_WAIT4, AX
	MOVQ	F_PID(R15), DI
	XORQ	SI, SI
	MOVQ	$WNOHANG, DX
	XORQ	R10, R10
	SYSCALL
	// kill(-1) reaches the whole namespace only from its PID 1; from
	// any other process it would reach every process of the user.
	MOVQ	$SYS_GETPID, AX
	SYSCALL
	CMPQ	AX, $1
	JNE	report
	MOVQ	$SYS_KILL, AX
	MOVQ	$-1, DI
	MOVQ	$SIGKILL, SI
	SYSCALL
reapAll:
	MOVQ	$SYS_WAIT4, AX
	MOVQ	$-1, DI
	XORQ	SI, SI
	MOVQ	$WALL, DX
	XORQ	R10, R10
	SYSCALL
	CMPQ	AX, $-ECHILD
	JEQ	report
	CMPQ	AX, $-EINTR
	JEQ	reapAll
	CMPQ	AX, $0
	JGT	reapAll
report:
	CMPQ	F_STATUS(R15), $0
	JLT	end
	CMPQ	F_REAP(R15), $2
	JNE	write
	// Lingering (below) is not cut short by the parent-death signal,
	// which comes when the thread that cloned us ends, the first of the
	// command's to end as often as not: disarmed before the code is
	// written, whose reader may end that thread at once. Nothing of the
	// container runs any more for it to end.
	MOVQ	$SYS_PRCTL, AX
	MOVQ	$PR_SET_PDEATHSIG, DI
	XORQ	SI, SI
	XORQ	DX, DX
	XORQ	R10, R10
	XORQ	R8, R8
	SYSCALL
	// The payload's output pipes, 0 to 2, closed first, so that whoever
	// relays them sees their end with the code.
	MOVQ	$SYS_CLOSE, AX
	MOVQ	$0, DI
	SYSCALL
	MOVQ	$SYS_CLOSE, AX
	MOVQ	$1, DI
	SYSCALL
	MOVQ	$SYS_CLOSE, AX
	MOVQ	$2, DI
	SYSCALL
write:
	MOVB	BL, F_CODE(R15)
	MOVQ	$SYS_WRITE, AX
	MOVQ	F_STATUS(R15), DI
	LEAQ	F_CODE(R15), SI
	MOVQ	$1, DX
	SYSCALL
	CMPQ	F_REAP(R15), $2
	JNE	end
	// Linger until the code's reader is gone, or 50 ms: the kernel's
	// taking down of the container's mounts, at this process's end, then
	// comes after the command's exit, not beside it. The reader's end is
	// the command's whole exit: its read end closes with its last thread.
	// Nice 19: the teardown at the end gives way to the command's
	// parent, which wakes with it (best effort). Not the idle policy:
	// the teardown takes the kernel's mount namespace lock, which every
	// mount on the host waits for, and an idle-policy task holding it on
	// a busy machine may wait long for a slice (as fast, measured).
	MOVQ	$SYS_SETPRIORITY, AX
	MOVQ	$PRIO_PROCESS, DI
	XORQ	SI, SI
	MOVQ	$19, DX
	SYSCALL
	// One pollfd, the status pipe's write end, asking for nothing: poll
	// reports POLLERR on it once the pipe has no reader.
	MOVQ	F_STATUS(R15), AX
	MOVL	AX, F_POLL(R15)
	MOVL	$0, (F_POLL+4)(R15)
	MOVQ	$0, F_TS(R15)
	MOVQ	$50000000, (F_TS+8)(R15)
	MOVQ	$SYS_PPOLL, AX
	LEAQ	F_POLL(R15), DI
	MOVQ	$1, SI
	LEAQ	F_TS(R15), DX
	XORQ	R10, R10
	MOVQ	$8, R8
	SYSCALL
end:
	MOVQ	$SYS_EXIT_GROUP, AX
	MOVQ	BX, DI
	SYSCALL
	JMP	fail

// wake forwards the signals still waiting, unblocks them all (a Go
// program's processes inherit its mask) and executes the Go stage.
wake:
	CALL	drain<>(SB)
exec:
	MOVQ	$SYS_RT_SIGPROCMASK, AX
	MOVQ	$SIG_SETMASK, DI
	LEAQ	F_ZERO(R15), SI
	XORQ	DX, DX
	MOVQ	$8, R10
	SYSCALL
	MOVQ	$SYS_EXECVEAT, AX
	MOVQ	F_EXE(R15), DI
	LEAQ	F_ZERO(R15), SI
	MOVQ	F_ARGV(R15), DX
	ADDQ	$RESUME_ARGV, DX
	MOVQ	F_ENVP(R15), R10
	MOVQ	$AT_EMPTY_PATH, R8
	SYSCALL
fail:
	// The container's PID 1 can go on neither way: the container ends.
	MOVQ	$SYS_EXIT_GROUP, AX
	MOVQ	$125, DI
	SYSCALL
	JMP	fail

// drain reads the signalfd until it is empty, sending each forwarded
// signal to the payload; AX is 1 if SIGCHLD was among them, else 0.
// R15 is idleMain's frame.
TEXT drain<>(SB), NOSPLIT|NOFRAME, $0-0
	XORQ	R9, R9
next:
	MOVQ	$SYS_READ, AX
	MOVQ	F_SIGFD(R15), DI
	LEAQ	F_SSI(R15), SI
	MOVQ	$128, DX
	SYSCALL
	CMPQ	AX, $128
	JNE	done			// none left (EAGAIN)
	MOVL	F_SSI(R15), SI		// ssi_signo
	CMPL	SI, $SIGCHLD
	JNE	forward
	MOVQ	$1, R9
	JMP	next
forward:
	MOVQ	$SYS_KILL, AX
	MOVQ	F_PID(R15), DI
	SYSCALL
	JMP	next
done:
	MOVQ	R9, AX
	RET

// forward is a signal handler that sends the signal (DI, in the kernel's
// calling convention) on to forwardPid, and nothing else: see
// ForwardWhileExecuting. It runs on whatever stack the kernel gave it
// (SA_ONSTACK: the thread's signal stack) and uses none of it; every
// register it changes comes back from the signal frame at rt_sigreturn.
TEXT ·forward(SB), NOSPLIT|NOFRAME, $0-0
	MOVL	DI, SI
	MOVL	·forwardPid(SB), DI
	MOVQ	$SYS_KILL, AX
	SYSCALL
	RET

// func forwardAddr() uintptr: forward's own address (a Go func value
// of an assembly function would be the address of its ABI wrapper,
// which expects a goroutine). Its restorer is rawsig's.
TEXT ·forwardAddr(SB), NOSPLIT, $0-8
	LEAQ	·forward(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
