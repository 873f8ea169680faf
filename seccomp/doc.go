// Package seccomp owns the system call filter of sandbox's containers:
// the profile (Docker's default from github.com/moby/profiles/seccomp,
// expanded for the container's capabilities, or a Docker/Podman JSON
// file), the fake-root rules of single-id mode, and the compiler that
// turns them into a classic BPF program for seccomp(2). There is no
// libseccomp: sandbox is one static binary (CGO_ENABLED=0). Installing
// the program is the runtime's business (runtime.addFilter, a step of the seal's plan); this
// package only hands it the instructions and the flags.
//
// What the compiled filter does is what runc and libseccomp do with the
// same profile: the same architectures (the native one always, plus
// those listed that sandbox has a table for; a call from any other
// kills the process), the same actions and errnos (EPERM when none is
// given), 64-bit argument comparisons on 64-bit architectures and 32-bit
// ones elsewhere (x86, x32, arm), unknown syscall names skipped, and
// runc's ENOSYS for calls numbered above every call the profile names
// when the default action is not ALLOW, LOG or TRACE.
// The differences:
//
//   - Rules are ordered. Where several rules name one syscall, they are
//     tried in the order given (rules passed to Compile first, then the
//     profile's) and the first whose conditions all hold decides;
//     libseccomp has no order. No profile in use depends on one.
//   - Several conditions on the same argument are ANDed, like conditions
//     on different arguments. runc turns them into separate, ORed rules
//     (opencontainers/runc#2735), which is why Docker's profile never
//     repeats an argument.
//   - On a 32-bit architecture, a comparison with a value that needs more
//     than 32 bits is decided in advance (the argument has no high word)
//     rather than made against the value's low word.
//   - SCMP_ACT_NOTIFY, listenerPath and SECCOMP_FILTER_FLAG_TSYNC are
//     refused: there is no notify listener, and the init installs the
//     filter on one thread on purpose.
//
// The syscall tables (zsyscalls_*.go) are generated from those of
// github.com/elastic/go-seccomp-bpf/arch by internal/mksyscalls, so that
// nothing is built when the program starts.
package seccomp
