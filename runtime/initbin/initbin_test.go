package initbin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestBlobMatchesSource rebuilds cmd/sandbox-init exactly as go generate
// does and compares the bytes with the embedded blob: a change to the
// init's source without `go generate ./runtime/initbin` fails here.
func TestBlobMatchesSource(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the blob is built for linux/amd64 only")
	}
	have, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		t.Skipf("no go toolchain to rebuild the init with: %v", err)
	}
	if v := strings.TrimSpace(string(have)); v != strings.TrimSpace(GoVersion) {
		t.Skipf("the blob was built by %s, this toolchain is %s: the bytes can only match with the same one", strings.TrimSpace(GoVersion), v)
	}
	out := filepath.Join(t.TempDir(), "sandbox-init.amd64")
	gen := exec.Command("go", "run", "gen.go", "-o", out)
	if msg, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("go run gen.go: %v\n%s", err, msg)
	}
	built, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, Binary) {
		t.Fatalf("the embedded init (%d bytes) is not what its source builds (%d bytes): run go generate ./runtime/initbin", len(Binary), len(built))
	}
	sum := sha256.Sum256(Binary)
	if hex.EncodeToString(sum[:]) != strings.TrimSpace(Digest) {
		t.Fatalf("Digest %s is not the blob's SHA-256 %x", strings.TrimSpace(Digest), sum)
	}
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
	}
	for _, p := range strings.Fields(string(out)) {
		if !allowed[p] {
			t.Errorf("cmd/sandbox-init imports %s: keep heavy packages out of the init (or allow this one here with a reason)", p)
		}
	}
	if len(Binary) > 4<<20 {
		t.Errorf("the init blob is %d bytes: over 4 MiB, it no longer starts in a fraction of the CLI's time", len(Binary))
	}
}
