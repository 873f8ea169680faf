//go:build vmguest

package guest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The tests of the systemd route: run in the Debian VM, as user dev in a
// PAM login session (user-1000.slice/session-N.scope, root's, not
// delegated: what an ssh login gets), where sandbox must ask the systemd
// user manager for a delegated scope per limited container.

func inSession(t *testing.T) string {
	t.Helper()
	b, _ := os.ReadFile("/proc/self/cgroup")
	own := strings.TrimSpace(strings.TrimPrefix(string(b), "0::"))
	if !strings.Contains(own, "/session-") {
		t.Fatalf("the systemd tests must run in a login session's scope; this process is in %s", own)
	}
	return own
}

// TestSystemdScope: from a login session, limits are enforced in a scope
// the user manager delegated (OOM kill 137, pids, cpu.max), the scope is
// under user@1000.service, and it is gone once the container is.
func TestSystemdScope(t *testing.T) {
	inSession(t)
	img := bb(t)
	r := must(t, "info")
	for _, want := range []string{"version: v2", "a scope per limited container, from the systemd user manager", "delegated controllers: cpu memory pids"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("info lacks %q:\n%s", want, r.stdout)
		}
	}

	args := append([]string{"run", "--rm", "--memory", "64m", "--memory-swap", "64m", "-e", "VM_HOG_MIB=256"}, hogArgs...)
	r = run(t, nil, append(args, img, "/payload")...)
	if r.code != 137 || !strings.Contains(r.stderr, "killed: out of memory (limit 64MiB)") {
		t.Fatalf("256 MiB under 64 MiB in a systemd scope: want 137 and the OOM message:\n%s", r)
	}
	args = append([]string{"run", "--rm", "--memory", "64m", "-e", "VM_HOG_MIB=16"}, hogArgs...)
	if r := run(t, nil, append(args, img, "/payload")...); r.code != 0 {
		t.Fatalf("16 MiB under 64 MiB: the scope's OOM policy must not end sandbox:\n%s", r)
	}

	args = append([]string{"run", "--rm", "--pids-limit", "32", "-e", "VM_FORKER=1"}, hogArgs...)
	r = run(t, nil, append(args, img, "/payload")...)
	if r.code != 0 || !strings.Contains(r.stdout, "resource temporarily unavailable") {
		t.Fatalf("fork loop under --pids-limit 32 in a scope:\n%s", r)
	}

	must(t, "run", "-d", "--name", "sdspin", "--cpus", "0.2", img, "sh", "-c", "while :; do :; done")
	cg := inspect(t, "sdspin").State.Cgroup
	if !strings.Contains(cg, "/user@1000.service/") || !strings.HasSuffix(cg, ".scope/container") {
		run(t, nil, "rm", "-f", "sdspin")
		t.Fatalf("the container's cgroup is %s; want a .scope/container under user@1000.service", cg)
	}
	if got := strings.TrimSpace(cgroupFile(t, cg, "cpu.max")); got != "20000 100000" {
		t.Errorf("cpu.max = %q", got)
	}
	var stat string
	if !waitFor(2*time.Minute, func() bool {
		stat = cgroupFile(t, cg, "cpu.stat")
		return keyed(stat, "nr_periods") >= 10 && keyed(stat, "nr_throttled") > 0
	}) {
		t.Errorf("never throttled:\n%s", stat)
	}
	checkCPUQuota(t, stat, 20000)
	must(t, "rm", "-f", "sdspin")
	scope := filepath.Join("/sys/fs/cgroup", filepath.Dir(cg))
	if !waitFor(30*time.Second, func() bool { _, err := os.Stat(scope); return os.IsNotExist(err) }) {
		t.Fatalf("the scope %s outlived its container", scope)
	}

	// io is not delegated by stock systemd: refused, naming the drop-in.
	r = run(t, nil, "run", "--rm", "--device-write-bps", rootDevice(t)+":1MiB", img, "true")
	if r.code != 125 || !strings.Contains(r.stderr, "io") || !strings.Contains(r.stderr, "Delegate=pids memory cpu io") {
		t.Fatalf("an io limit with cpu memory pids delegated: want 125 naming io and the drop-in:\n%s", r)
	}
}

// TestSystemdPrivateSocket: with the user bus unreachable (a stale
// DBUS_SESSION_BUS_ADDRESS), sandbox talks to the user manager's private
// socket instead, and the limit still holds.
func TestSystemdPrivateSocket(t *testing.T) {
	inSession(t)
	img := bb(t)
	args := append([]string{"run", "--rm", "--memory", "64m", "--memory-swap", "64m", "-e", "VM_HOG_MIB=256"}, hogArgs...)
	r := run(t, []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus"}, append(args, img, "/payload")...)
	if r.code != 137 || !strings.Contains(r.stderr, "killed: out of memory") {
		t.Fatalf("through the private socket: want the limit enforced (137):\n%s", r)
	}
}

func rootDevice(t *testing.T) string {
	t.Helper()
	b, _ := os.ReadFile("/proc/mounts")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && f[1] == "/" && strings.HasPrefix(f[0], "/dev/") {
			return f[0]
		}
	}
	t.Fatal("no block device under /")
	return ""
}
