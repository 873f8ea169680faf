package tests

import (
	"os"
	"os/exec"
	"testing"
)

// TestBuildsOnArm64: the one static binary builds for linux/arm64 as well
// (CGO_ENABLED=0), with no carried programs there (their blobs are amd64
// only) and every command the CLI serves itself. A system call that only
// amd64 has (alarm(2) broke it once) fails here, not on a user's machine.
func TestBuildsOnArm64(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("no go command to build with: %v", err)
	}
	t.Parallel()
	cmd := exec.Command("go", "build", "-o", os.DevNull, "github.com/sandbox-dev/sandbox")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOARCH=arm64 go build: %v\n%s", err, out)
	}
}
