package idle

import "strconv"

// entered is set by the entry, before the Go runtime starts.
var entered bool

// Entered reports whether this program started through the idle stage's
// entry, so that it can execute itself as the idle stage.
func Entered() bool { return entered }

// Stage is the name of the idle stage, its program's first argument.
const Stage = "idle"

// Args is the idle stage's argument vector: the payload's pid, the
// program's descriptor, the descriptors whose reading means work for the
// Go stage (the output pipes and the exec socket; -1 for none), the
// signals to forward (a mask, bit n-1 for signal n), whether to reap
// other children that end (a PID 1 must; a watcher must leave its
// network helper to the program it resumes), and then the argument
// vector of the Go stage that it executes on work. The entry reads them
// by position (idle_amd64.s). With exe -1 there is no Go stage: the
// payload's end ends the idle stage, with the payload's exit code (or 128
// and its signal) as its own, and nothing else wakes it; as a PID 1 it
// first kills and reaps every other process of its namespace, then
// writes that code, one byte, to descriptor status (unless -1), so that
// whoever reads it knows the container is over before this process's
// own end, in which the kernel takes its namespaces down.
//
// (A raw start, which has no Go stage at all, gives -1 for exe and the
// descriptors.)
//
// linger, with reapOthers and a status descriptor, keeps the stage alive
// after it wrote the code, its descriptors 0 to 2 closed first, until the
// status pipe has no reader or 50 ms: its end, in which the kernel takes
// the container's mounts down, then comes after its parent's (a throwaway
// run's command, which does not wait for it, and whose read end closes
// with its last thread) rather than beside it, at nice 19, giving way
// to the command's parent, which wakes with it. It disarms its
// parent-death signal before it writes the code: that signal comes with
// the end of the thread that cloned it, which may be the first of the
// command's threads to end, and the teardown then ran beside the rest of
// the command's exit.
func Args(name string, pid, exe, stdout, stderr, exec int, forward uint64, reapOthers bool, status int, linger bool, resume []string) []string {
	reap := "0"
	if reapOthers {
		reap = "1"
		if linger && status >= 0 {
			reap = "2"
		}
	}
	return append([]string{name, Stage,
		strconv.Itoa(pid), strconv.Itoa(exe),
		strconv.Itoa(stdout), strconv.Itoa(stderr), strconv.Itoa(exec),
		strconv.FormatUint(forward, 10), reap, strconv.Itoa(status),
	}, resume...)
}
