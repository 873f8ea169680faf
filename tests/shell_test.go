package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestHostShell: `sandbox shell` with the built-in host image: root in the
// sandbox, the host's /usr writable but only privately, the home shared.
func TestHostShell(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		// A name of our own, so parallel runs never meet.
		probe := fmt.Sprintf("/usr/probe-%s-%d", u.mode, os.Getpid())
		if _, err := os.Lstat(probe); err == nil {
			t.Fatalf("%s exists before the test", probe)
		}
		t.Cleanup(func() { os.Remove(probe) })

		r := u.run(t, "shell", "--", "sh", "-c", fmt.Sprintf("id -u; echo x > %s; cat %s", probe, probe))
		wantCode(t, r, 0)
		wantStdout(t, r, "0\nx\n")
		if _, err := os.Lstat(probe); err == nil {
			t.Fatalf("a write to /usr in the sandbox reached the host's %s:\n%s", probe, r)
		}

		// The home is bound read-write at the same path.
		u.mustWrite(t, filepath.Join(u.home, "hostshell-marker"), "m\n", 0o644)
		r = u.run(t, "shell", "--", "sh", "-c", `ls "$HOME"; echo y > "$HOME/from-shell"`)
		wantCode(t, r, 0)
		wantStdoutContains(t, r, "hostshell-marker\n")
		if b, err := os.ReadFile(filepath.Join(u.home, "from-shell")); err != nil || string(b) != "y\n" {
			t.Fatalf("a write to $HOME in the sandbox did not reach the host (%q, %v):\n%s", b, err, r)
		}
	})
}
