package tests

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestExitHolder: as it exits, the CLI leaves the unmapping of its memory
// to a holder that shares it (package teardown). The holder must end
// with the command, every time: one that stayed would keep the command's
// whole memory alive. It shares the command's memory, so its
// /proc/PID/environ is the command's: a mark in the environment finds it.
func TestExitHolder(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		mark := []byte(fmt.Sprintf("SANDBOX_TEST_EXIT_MARK=%d-%d", os.Getpid(), time.Now().UnixNano()))
		marked := func() []procInfo {
			var out []procInfo
			for _, p := range listProcs() {
				env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.pid))
				if err == nil && p.state != 'Z' && bytes.Contains(env, mark) {
					out = append(out, p)
				}
			}
			return out
		}
		for i := 0; i < 10; i++ {
			r := u.runWith(t, runOpts{env: []string{string(mark)}}, "version")
			wantCode(t, r, 0)
			waitFor(5*time.Second, func() bool { return len(marked()) == 0 })
			if left := marked(); len(left) > 0 {
				for _, p := range left {
					syscall.Kill(p.pid, syscall.SIGKILL)
				}
				t.Fatalf("run %d: %d process(es) of `sandbox version` still there 5 s after it exited: %+v", i, len(left), left)
			}
		}
	})
}
