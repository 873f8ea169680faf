package initbin

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/sandbox-dev/sandbox/program/programtest"
)

// TestBlobMatchesSource: a change to the init's source without
// `go generate ./runtime/initbin` fails here.
func TestBlobMatchesSource(t *testing.T) {
	programtest.CheckBlob(t, programtest.Blob{Package: "../../cmd/sandbox-init", Program: Binary,
		Digest: Digest, GoVersion: GoVersion, Generate: "go generate ./runtime/initbin"})
}

// TestInitStaysSmall: the init links only the standard library, x/sys,
// x/term and sandbox's own light packages. A heavy import (the registry
// client, cgroups, TOML) would cost every start its package
// initialisation and every sandbox its memory.
func TestInitStaysSmall(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "../../cmd/sandbox-init").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	allowed := map[string]bool{
		"golang.org/x/sys/unix": true, "golang.org/x/term": true,
		"github.com/sandbox-dev/sandbox/runtime": true, "github.com/sandbox-dev/sandbox/runtime/initbin": true,
		"github.com/sandbox-dev/sandbox/capability": true, "github.com/sandbox-dev/sandbox/fuseoverlay": true,
		"github.com/sandbox-dev/sandbox/userns": true, "github.com/sandbox-dev/sandbox/task": true,
		"github.com/sandbox-dev/sandbox/cmd/sandbox-init": true,
		// How runtime starts a child: a leaf of system calls, no
		// package initialisation.
		"github.com/sandbox-dev/sandbox/spawn": true,
		// A network's switch is the init program's "bridge" stage: a leaf
		// with no package initialisation, and the DNS message codec it
		// answers with (no init either).
		"github.com/sandbox-dev/sandbox/network/bridge": true, "golang.org/x/net/dns/dnsmessage": true,
		// The switch's Endpoint: a type, no code.
		"github.com/sandbox-dev/sandbox/network/endpoint": true,
		// The "text" stage: a leaf of system calls and an ELF header's
		// read, no package initialisation.
		"github.com/sandbox-dev/sandbox/textpages": true,
		// The process's umask read from /proc (the recycling of a run's
		// directories, the unpack task): the standard library only, no
		// package initialisation.
		"github.com/sandbox-dev/sandbox/internal/umask": true,
		// A spare root's text (the maker's and the holder's argument):
		// strconv and errors, no package initialisation but a sentinel.
		"github.com/sandbox-dev/sandbox/internal/quoted": true,
		// The rule for a directory of the user's alone: x/sys only.
		"github.com/sandbox-dev/sandbox/internal/owndir": true,
		// The idle stage: the program's entry and a loop of system
		// calls in assembly, no package initialisation.
		"github.com/sandbox-dev/sandbox/idle": true,
		// idle's handler of forwarded signals is put in place by it: the
		// kernel's struct sigaction and a restorer, no package
		// initialisation.
		"github.com/sandbox-dev/sandbox/rawsig": true,
		// The container's mounts as a list of system calls: a leaf of
		// system calls, no package initialisation.
		"github.com/sandbox-dev/sandbox/plan": true,
		// The tasks (runtime.RunTask): the init program runs them, so
		// that a task's peak memory is not the CLI's code. Their package
		// initialisation (klauspost's flate tables, archive/tar: 0.03
		// ms) runs only where the init's Go runtime starts (an exec, a
		// health check), never in a raw start's PID 1.
		"github.com/sandbox-dev/sandbox/image/layer": true,
		"github.com/klauspost/compress/gzip":         true, "github.com/klauspost/compress/flate": true,
		"github.com/klauspost/compress/internal/le": true, "github.com/klauspost/compress/internal/regmask": true,
	}
	for _, p := range strings.Fields(string(out)) {
		if !allowed[p] {
			t.Errorf("cmd/sandbox-init imports %s: keep heavy packages out of the init (or allow this one here with a reason)", p)
		}
	}
	// 4.5 MB with the tasks, which starts paired with the 3.8 MB one
	// without them measured the same (300 rounds in each order).
	if len(Binary) > 5<<20 {
		t.Errorf("the init blob is %d bytes: over 5 MiB, it no longer starts in a fraction of the CLI's time", len(Binary))
	}
}
