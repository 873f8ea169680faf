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

// TestCDI: a CDI spec written by the test (two nodes, a host directory
// mounted, an env var, a createContainer hook writing a marker): the
// payload sees all of it and the hook ran once with the container's
// state; a node the user cannot open, an unknown device and a malformed
// spec are refused with exit 125 and the file, nothing made; info lists
// the devices.
func TestCDI(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making device nodes for the test needs root (CI runs as root)")
	}
	forEachUser(t, func(t *testing.T, u *user) {
		s, conf := u.launchStore(t, "cdi")
		specs := u.mustMkdir(t, filepath.Join(u.home, "cdi-specs"))
		share := u.mustMkdir(t, filepath.Join(u.home, "cdi-share"))
		u.mustWrite(t, filepath.Join(share, "lib.txt"), "from the host\n", 0o644)
		marker := filepath.Join(u.home, "cdi-marker")
		closed := filepath.Join(u.home, "cdi-closed")
		if err := unix.Mknod(closed, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))); err != nil {
			t.Fatal(err)
		}
		os.Chmod(closed, 0o600)
		u.mustWrite(t, filepath.Join(specs, "test.yaml"), `cdiVersion: "0.6.0"
kind: "sandbox.test/dev"
devices:
  - name: "pair"
    containerEdits:
      deviceNodes:
        - path: "/dev/cdi-null"
          hostPath: "/dev/null"
        - path: "/dev/cdi-zero"
          hostPath: "/dev/zero"
      env: ["CDI_PAIR=yes"]
  - name: "refuser"
    containerEdits:
      hooks:
        - hookName: createContainer
          path: /bin/sh
          args: ["sh", "-c", "echo the hook says no >&2; exit 3"]
  - name: "closed"
    containerEdits:
      deviceNodes:
        - path: "/dev/closed"
          hostPath: "`+closed+`"
containerEdits:
  mounts:
    - hostPath: "`+share+`"
      containerPath: "/opt/vendor"
      options: ["ro", "bind"]
  hooks:
    - hookName: createContainer
      path: /bin/sh
      args: ["sh", "-c", "cat >> `+marker+`; echo >> `+marker+`"]
`, 0o644)
		u.mustWrite(t, filepath.Join(specs, "broken.yaml"), "kind: broken.test/x\ndevices: 3\n", 0o644)
		u.mustWrite(t, conf, "cdi_spec_dirs = [\""+specs+"\"]\n", 0o644)

		id := s.mustID(t, "run", "-d", "--device", "sandbox.test/dev=pair", "busybox", "sh", "-c",
			`ls -l /dev/cdi-null /dev/cdi-zero; head -c 2 /dev/cdi-zero | od -An -tx1; echo "$CDI_PAIR"; cat /opt/vendor/lib.txt; touch /opt/vendor/x 2>/dev/null || echo read-only`)
		wantStdout(t, s.must(t, "wait", id), "0\n")
		logs := s.must(t, "logs", id).stdout
		for _, want := range []string{"1,   3", "/dev/cdi-null", "1,   5", "/dev/cdi-zero", " 00 00", "yes\n", "from the host\n", "read-only\n"} {
			if !strings.Contains(logs, want) {
				t.Errorf("the payload's output lacks %q:\n%s", want, logs)
			}
		}
		b, err := os.ReadFile(marker)
		if err != nil {
			t.Fatalf("the hook left no marker: %v", err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], `"id":"`+id+`"`) || !strings.Contains(lines[0], `"status":"creating"`) || !strings.Contains(lines[0], `"pid":`) {
			t.Errorf("the hook ran %d times, with %q; want once, with the container's state", len(lines), b)
		}
		if got := s.must(t, "inspect", id).stdout; !strings.Contains(got, `"devices": [`) || !strings.Contains(got, `"sandbox.test/dev=pair"`) || !strings.Contains(got, `"PathInContainer": "/dev/cdi-zero"`) {
			t.Errorf("inspect does not show the CDI device and its nodes:\n%s", got)
		}
		s.must(t, "rm", id)

		info := s.must(t, "info").stdout
		if !strings.Contains(info, "sandbox.test/dev=closed, sandbox.test/dev=pair, sandbox.test/dev=refuser") || !strings.Contains(info, "broken.yaml") {
			t.Errorf("info does not list the CDI devices and the broken spec:\n%s", info)
		}
		for _, bad := range []struct{ dev, want string }{
			{"sandbox.test/dev=closed", "CDI spec " + filepath.Join(specs, "test.yaml") + ": --device " + closed},
			{"sandbox.test/dev=nope", "unknown CDI device sandbox.test/dev=nope (the specs in " + specs + " define: sandbox.test/dev=closed, sandbox.test/dev=pair, sandbox.test/dev=refuser)"},
			{"broken.test/x=one", "broken.yaml"},
			{"sandbox.test/dev=refuser", "CDI hook /bin/sh (createContainer, from " + filepath.Join(specs, "test.yaml") + ") failed: exit status 3: the hook says no"},
		} {
			r := s.do(t, "run", "--rm", "--device", bad.dev, "busybox", "true")
			wantCode(t, r, 125)
			if !strings.Contains(r.stderr, bad.want) {
				t.Errorf("--device %s: stderr lacks %q:\n%s", bad.dev, bad.want, r)
			}
		}
		if r := s.must(t, "ps", "-aq"); r.stdout != "" {
			t.Errorf("a refused CDI device left containers: %q", r.stdout)
		}
	})
}
