package tests

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLimitsWithoutCgroupV2: on a machine whose cgroups are v1 or hybrid
// (CI's), a memory limit is refused with 125, saying that cgroup v2
// memory is not available, and nothing is created; with cgroups =
// "best-effort" it runs and warns. (Enforcement itself is tested in the
// VM: tests/vm.)
func TestLimitsWithoutCgroupV2(t *testing.T) {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		t.Skip("this machine has cgroup v2: limits are tested on a v1 machine (CI) and in the VM (tests/vm)")
	}
	forEachUser(t, func(t *testing.T, u *user) {
		s, cfgPath := u.launchStore(t, "nov2")
		r := s.do(t, "run", "--rm", "--memory", "64m", "busybox", "true")
		wantCode(t, r, 125)
		wantStderrContains(t, r, "cgroup v2 memory is not available")
		wantStderrContains(t, r, `cgroups = "best-effort"`)
		if n := len(s.psJSON(t)); n != 0 {
			t.Fatalf("the refused run left %d containers", n)
		}
		r = s.must(t, "info")
		if !strings.Contains(r.stdout, "memory, memory_swap limits: refused") {
			t.Errorf("info does not say memory limits are refused:\n%s", r.stdout)
		}
		u.mustWrite(t, cfgPath, "cgroups = \"best-effort\"\n", 0o644)
		r = s.must(t, "run", "--rm", "--memory", "64m", "busybox", "echo", "ran")
		wantStdout(t, r, "ran\n")
		wantStderrContains(t, r, "memory 64MiB: not enforced")
	})
}
