package runtime

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// traceOn makes Trace print, when SANDBOX_TRACE=1: the time spent in each
// phase of a start, for finding where start-up time goes. The init inherits
// the setting through its spec.
var traceOn = os.Getenv("SANDBOX_TRACE") == "1"

// Trace prints a phase mark with the monotonic clock, which all processes
// share, so marks from the CLI and the init line up, and the page faults
// the process has taken so far: the pages of code and data each phase
// touched (docs/ARCHITECTURE.md, "Where a start's time goes").
func Trace(format string, args ...any) {
	if !traceOn {
		return
	}
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	traceAt(ts, format, args...)
}

// traceAt is Trace of something that happened at ts (CLOCK_MONOTONIC),
// in a process that could not say so itself (a raw start's child).
func traceAt(ts unix.Timespec, format string, args ...any) {
	if !traceOn || ts.Sec == 0 {
		return
	}
	ms := float64(ts.Sec)*1000 + float64(ts.Nsec)/1e6
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	fmt.Fprintf(os.Stderr, "trace %.2f [%d] %4d faults: %s\n", ms, os.Getpid(), ru.Minflt, fmt.Sprintf(format, args...))
}
