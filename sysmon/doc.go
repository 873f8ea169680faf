// Package sysmon makes the Go runtime's system monitor thread wake less
// often in the CLI.
//
// Every Go program has that thread (sysmon). While any goroutine runs or
// waits in a system call it sleeps 20 µs at a time (nanosleep) and looks
// for processors to take back; it backs off only after a millisecond in
// which it found nothing to do. A `run --rm` is about five milliseconds
// of such work, the runtime's own start included, and the thread woke
// every 0.1 ms (the 20 µs and the kernel's timer slack of 50 µs) through
// all of it: each time a timer interrupt, a context switch and the
// runtime's scan, on a virtual machine of two processors where the
// sandbox's PID 1 and its payload run beside the CLI. A bubblewrap start
// has no such thread.
//
// The kernel lets a thread wake up to its timer slack after the time it
// asked for (prctl PR_SET_TIMERSLACK). A thread sets only its own (another
// thread's needs CAP_SYS_NICE), and a thread starts with its creator's.
// So a CLI linked with this package's entry point (-ldflags
// "-E github.com/sandbox-dev/sandbox/sysmon.entry", LinkFlags) sets the
// slack to Slack before it starts the runtime: the monitor thread,
// the first the runtime makes, starts with it. Settle, the first thing
// main does, gives every other thread the slack the process started with
// again (each runs a handler of a few instructions for a signal sent to
// it alone), so that no other thread and no child has it.
//
// Measured (paired rounds of `run --rm`, 200 each, both orders, both test
// users): with the runtime itself changed to set the slack as the thread
// starts, 0.18 to 0.31 ms sooner with 4 ms, 0.08 to 0.22 ms with 1 ms;
// with this package's entry and Settle (which costs 0.05 to 0.12 ms of
// its own), 0.12 to 0.32 ms (eight pairs, 0.19 on average). Set from
// main instead, for the rest of the command only, it gained nothing
// measurable. docs/ARCHITECTURE.md, "The runtime's monitor thread".
//
// A binary built without the flags (`go build .`, as the README builds
// it: a module cannot give the linker flags of its own) starts as any Go
// program does: Settle then does nothing, and the start is that much
// slower. So does one started with signal 64 blocked (the runtime's
// threads keep the mask they start with, and no handler would run):
// entry leaves the slack alone then.
package sysmon
