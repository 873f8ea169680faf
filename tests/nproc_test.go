package tests

import (
	"strings"
	"testing"
)

// TestProcessLimitWithoutCgroup: where no pids cgroup limit applies (this
// machine's cgroups are v1), each id of a sandbox may run at most 2048
// processes (RLIMIT_NPROC, soft and hard, so the payload cannot raise it),
// and `info` says so.
func TestProcessLimitWithoutCgroup(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		bb := u.bb(t)
		r := u.mustRun(t, "run", "--rm", bb, "cat", "/proc/self/limits")
		var line string
		for _, l := range strings.Split(r.stdout, "\n") {
			if strings.HasPrefix(l, "Max processes") {
				line = l
			}
		}
		if f := strings.Fields(line); len(f) < 4 || f[2] != "2048" || f[3] != "2048" {
			t.Errorf("the payload's process limit is %q, want 2048 soft and hard:\n%s", line, r)
		}
		// Lowering works (the shell can set it), raising does not.
		r = u.runWith(t, runOpts{}, "run", "--rm", bb, "sh", "-c", "ulimit -u 1000 && ulimit -u 4096")
		if r.code == 0 || !strings.Contains(r.stderr, "not permitted") {
			t.Errorf("the payload raised its process limit past 2048, or could not lower it:\n%s", r)
		}
		wantStdoutContains(t, u.mustRun(t, "info"), "at most 2048 per id in a sandbox")
	})
}
