// Package idle owns the idle stage of a resident init: a loop of a few
// system calls, written in assembly, that a detached container's PID 1
// runs while nothing asks anything of it. It holds what the Go stage
// held (the container's lock, log and exit record, the output pipes, the
// exec socket), reaps orphans and forwards signals to the payload; on
// anything else (output to copy, an exec to serve, the payload's end) it
// executes the Go stage again, which does the work. A Go program's
// runtime keeps about 0.6 MiB of anonymous memory however little it
// does; the idle stage keeps two pages of stack.
//
// The init program is linked with this package's entry as its ELF entry
// point (program/gen, the //sandbox:entry line of cmd/sandbox-init). The
// entry runs before the Go runtime: with the idle stage's arguments it
// never starts the runtime; with any others it jumps to the runtime's
// own entry, and Entered then reports that the idle stage is there to
// go to. A program linked without it (the CLI, run as its own init)
// never goes idle. docs/handshake.md, "The idle stage", says how the
// stages hand over. ForwardWhileExecuting covers the Go stage's side of
// that hand-over: the signals that come while it executes the idle
// stage. The CLI uses it too, to send a raw start's PID 1 the signals it
// is sent.
package idle
