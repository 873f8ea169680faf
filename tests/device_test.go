package tests

// --device (issue 15): host device nodes bound into the sandbox with their
// owner and mode; what the user cannot open is refused before anything is
// made.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making device nodes for the test needs root (CI runs as root)")
	}
	// Nodes the tests make: /dev/null's numbers, closed to others, and
	// /dev/zero's, readable by others only.
	// (t.TempDir's parent is closed to the test users.)
	dir, err := os.MkdirTemp("", "sandbox-devices-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	closed := filepath.Join(dir, "closed")
	readable := filepath.Join(dir, "readable")
	if err := unix.Mknod(closed, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(readable, unix.S_IFCHR|0o644, int(unix.Mkdev(1, 5))); err != nil {
		t.Fatal(err)
	}
	os.Chmod(closed, 0o600)
	os.Chmod(readable, 0o644)
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "device")
		r := s.must(t, "run", "--rm", "--device", "/dev/zero:/dev/myzero", "bb", "sh", "-c",
			"ls -l /dev/myzero; head -c 4 /dev/myzero | od -An -tx1")
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "crw-rw-rw-") || !strings.Contains(lines[0], "1,   5") || strings.Fields(lines[1])[0] != "00" {
			t.Errorf("the bound /dev/zero:\n%s", r.stdout)
		}
		// Readable only: given read-only, reads work and writes do not.
		r = s.must(t, "run", "--rm", "--device", readable+":/dev/ro:r", "bb", "sh", "-c",
			"head -c 2 /dev/ro | od -An -tx1; echo x > /dev/ro && echo wrote || echo refused")
		if !strings.Contains(r.stdout, "00 00") || !strings.Contains(r.stdout, "refused") {
			t.Errorf("a device readable by the user, given read-only:\n%s", r)
		}
		id := s.mustID(t, "create", "--device", "/dev/zero:/dev/z", "bb", "true")
		if got := s.must(t, "inspect", "--format", "{{json .HostConfig.Devices}}", id).stdout; got != `[{"PathOnHost":"/dev/zero","PathInContainer":"/dev/z","CgroupPermissions":"rwm"}]`+"\n" {
			t.Errorf("inspect shows the devices as %q", got)
		}
		s.must(t, "rm", id)

		for _, bad := range []struct{ dev, want string }{
			{closed, "mode 0600"},
			{closed + ":/dev/c:r", "cannot be opened to read"},
			{"/dev/zero:/dev/z:r", "read-only access to /dev/zero cannot be enforced"},
			{"/etc/hostname", "is not a device node"},
			{"/dev/nosuch", "no such file or directory"},
			{"dev/zero", "both paths must be absolute"},
			{"/dev/zero:/z:rx", `permissions "rx"`},
		} {
			r := s.do(t, "run", "--rm", "--device", bad.dev, "bb", "true")
			wantCode(t, r, 125)
			if !strings.Contains(r.stderr, bad.want) {
				t.Errorf("--device %s: stderr lacks %q:\n%s", bad.dev, bad.want, r)
			}
		}
		if r := s.must(t, "ps", "-aq"); r.stdout != "" {
			t.Errorf("a refused --device left containers: %q", r.stdout)
		}
	})
}
