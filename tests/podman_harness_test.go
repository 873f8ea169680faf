package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// podmanUser prepares rootless podman as the subid user (the single-id
// user has no subordinate ids, which rootless podman needs), with a store
// of its own beside a fresh sandbox store (lcStore: bb imported). pod runs
// podman and fails the test unless it exits 0 or, when the arguments
// say "exit 3", 3. runc, not crun: crun refuses cgroup v1 and hybrid hosts.
func podmanUser(t *testing.T, name string) (*user, *store, func(args ...string) result) {
	t.Helper()
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("podman is not installed (.ci/run installs it)")
	}
	var u *user
	for _, c := range users {
		if c.mode == "subid" {
			u = c
		}
	}
	if u == nil {
		t.Fatal("no subid user")
	}
	if u.skip != "" {
		t.Skip(u.skip)
	}
	s := u.lcStore(t, name)
	// podman refuses a run root longer than 50 characters.
	short, err := os.MkdirTemp("/tmp", "pf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(short) })
	if err := u.chown(short); err != nil {
		t.Fatal(err)
	}
	p := runOpts{bin: podman, timeout: 3 * time.Minute, env: append(append([]string{}, s.opts.env...),
		"XDG_CONFIG_HOME="+u.mustMkdir(t, filepath.Join(u.home, "podman-config-"+name)))}
	base := []string{"--runtime", "runc", "--cgroup-manager=cgroupfs", "--events-backend=file", "--root", filepath.Join(s.root, "..", "podman"), "--runroot", short}
	// podman keeps a pause process for its user namespace: end it.
	t.Cleanup(func() {
		u.runWith(t, p, append(base, "rm", "-af")...)
		if b, err := os.ReadFile(filepath.Join(u.runtimeDir(), "libpod", "tmp", "pause.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	pod := func(args ...string) result {
		t.Helper()
		r := u.runWith(t, p, append(base, args...)...)
		if r.code != 0 && !(r.code == 3 && strings.Contains(strings.Join(args, " "), "exit 3")) {
			t.Fatalf("podman %v:\n%s", args, r)
		}
		return r
	}
	return u, s, pod
}
