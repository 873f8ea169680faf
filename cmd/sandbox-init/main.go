// Command sandbox-init is the container's PID 1: the child side of the
// parent/child handshake (docs/handshake.md). It is small on purpose — it
// links only the runtime's child side and the leaf packages it uses, the
// layer code of the tasks, the standard library, x/sys, x/term, x/net's
// DNS message codec and klauspost's gzip (TestInitStaysSmall in
// runtime/initbin holds the list) — because every sandbox start pays for
// its start-up and every running sandbox for its memory.
// It also runs the tasks (runtime.RunTask: a layer unpacked, packed or
// rebuilt, a tree removed), whose peak memory would otherwise be mostly
// the CLI's code. The sandbox binary carries it built (runtime/initbin)
// and executes it from a file it installs, or a sealed memfd.
package main

// The program starts at the idle stage's entry, which starts the Go
// runtime unless it is to be a resident init's idle stage (package idle).
//
//sandbox:entry github.com/sandbox-dev/sandbox/idle.entry

import (
	"os"
	goruntime "runtime"

	_ "github.com/sandbox-dev/sandbox/idle"
	// Its tasks (runtime's own register with it).
	_ "github.com/sandbox-dev/sandbox/image/layer"
	"github.com/sandbox-dev/sandbox/runtime"
)

// The main goroutine stays on the main thread: the name it gives itself
// (PR_SET_NAME, per thread) is then the process's, which ps shows, and
// not that of whichever thread the goroutine had moved to. In every
// stage, the resident one too: it executes the idle stage from its main
// goroutine, and an execve from another thread ends the main one first,
// which for that moment makes /proc/PID/stat say the process is a
// zombie; a command that looked then took the container for ended (the
// health test caught it, a check waking the init every half second).
func init() {
	goruntime.LockOSThread()
}

func main() {
	if !runtime.IsInit() {
		// Run some other way than by sandbox's handshake (a script in a
		// container whose interpreter is /proc/self/exe, say).
		os.Stderr.WriteString("sandbox-init: only sandbox starts this program\n")
		os.Exit(125)
	}
	runtime.InitMain()
}
