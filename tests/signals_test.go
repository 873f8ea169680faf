package tests

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// containerProcs finds the payload `sleep 1000` started by the sandbox CLI
// cli, and its parent, the container's init, once they run.
func containerProcs(t *testing.T, cli *proc) (payload, init procInfo) {
	t.Helper()
	ok := waitFor(20*time.Second, func() bool {
		for _, p := range listProcs() {
			if p.cmdline == "sleep 1000" && descendantOf(p.pid, cli.pid) {
				payload = p
				return true
			}
		}
		return false
	})
	if !ok {
		cli.kill()
		r, _ := cli.wait(5 * time.Second)
		t.Fatalf("the container's sleep never showed up on the host:\n%s", r)
	}
	init, ok = readProc(payload.ppid)
	if !ok || init.comm != "sandbox-init" {
		t.Fatalf("the payload's parent (pid %d) is %q (%s), not sandbox-init", payload.ppid, init.comm, init.cmdline)
	}
	// Whatever the test finds, leak nothing: killing the init ends its PID
	// namespace.
	t.Cleanup(func() {
		for _, p := range []procInfo{init, payload} {
			if alive(p) {
				syscall.Kill(p.pid, syscall.SIGKILL)
			}
		}
	})
	return payload, init
}

// leftovers lists the user's processes that are still in the container's
// PID namespace and look like its payload or init.
func leftovers(u *user, pidns string, known ...procInfo) []string {
	var out []string
	for _, p := range listProcs() {
		if p.uid != u.uid || p.state == 'Z' {
			continue
		}
		if !strings.Contains(p.cmdline, "sleep 1000") && p.comm != "sandbox-init" {
			continue
		}
		isKnown := false
		for _, k := range known {
			isKnown = isKnown || (k.pid == p.pid && k.starttime == p.starttime)
		}
		if isKnown || p.pidns == pidns {
			out = append(out, fmt.Sprintf("pid %d (%s)", p.pid, p.cmdline))
		}
	}
	return out
}

// TestSignals: SIGTERM to the CLI reaches the payload and the CLI exits
// 143 within 2 s; SIGKILL of the CLI takes the container down within 2 s.
// Either way no process and no mount of the container survive, and the
// store stays usable.
func TestSignals(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		bb := u.bb(t)

		noMounts := func(t *testing.T) {
			t.Helper()
			if m := mountsUnder(t, u.home); len(m) > 0 {
				t.Errorf("mounts under the user's home remain in the host's namespace: %v", m)
			}
		}

		t.Run("SIGTERM", func(t *testing.T) {
			cli := u.start(t, "run", "--rm", bb, "sleep", "1000")
			payload, init := containerProcs(t, cli)

			sent := time.Now()
			if err := syscall.Kill(cli.pid, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			r, ok := cli.wait(10 * time.Second)
			took := time.Since(sent)
			if !ok {
				t.Fatalf("sandbox did not exit within 10 s of SIGTERM:\n%s", r)
			}
			wantCode(t, r, 143)
			if took > 2*time.Second {
				t.Fatalf("sandbox took %v to exit after SIGTERM, want at most 2 s:\n%s", took, r)
			}
			var left []string
			waitFor(2*time.Second, func() bool {
				left = leftovers(u, payload.pidns, payload, init)
				return len(left) == 0
			})
			if len(left) > 0 {
				t.Errorf("container processes survive SIGTERM: %v", left)
			}
			noMounts(t)
		})

		// Signals that do not end the payload reach it too, each as it
		// comes: the payload traps USR1 (its loop then sleeps 0.06 s
		// instead of 0.05, which the test sees on the host), then HUP,
		// whose trap exits 7. A CLI that did not pass them on would die
		// of USR1 (its default action) and never show the longer sleep.
		// A raw start's (the trace says it was one), whose PID 1 gets
		// them from a handler in the CLI rather than through os/signal.
		t.Run("forwarded", func(t *testing.T) {
			cli := u.startWith(t, runOpts{env: []string{"SANDBOX_TRACE=1"}}, "run", "--rm", bb, "sh", "-c", `d=0.05; trap "d=0.06" USR1; trap "echo got-hup; exit 7" HUP; while :; do sleep $d; done`)
			// sleeping waits until the loop sleeps for what (or fails t).
			sleeping := func(what, fail string) {
				t.Helper()
				if !waitFor(20*time.Second, func() bool {
					for _, p := range listProcs() {
						if p.cmdline == what && descendantOf(p.pid, cli.pid) {
							return true
						}
					}
					return false
				}) {
					cli.kill()
					r, _ := cli.wait(5 * time.Second)
					t.Fatalf("%s:\n%s", fail, r)
				}
			}
			sleeping("sleep 0.05", "the payload's loop never showed up on the host")
			if err := syscall.Kill(cli.pid, syscall.SIGUSR1); err != nil {
				t.Fatal(err)
			}
			sleeping("sleep 0.06", "SIGUSR1 to sandbox did not reach the payload's trap")
			if err := syscall.Kill(cli.pid, syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			r, ok := cli.wait(10 * time.Second)
			if !ok {
				t.Fatalf("sandbox did not exit within 10 s of SIGHUP:\n%s", r)
			}
			wantCode(t, r, 7)
			if !strings.Contains(r.stdout, "got-hup") {
				t.Errorf("the payload's HUP trap did not run:\n%s", r)
			}
			if !strings.Contains(r.stderr, "raw: PID 1 executes its idle stage") || strings.Contains(r.stderr, "no raw start") {
				t.Errorf("not a raw start, whose forwarding this tests:\n%s", r)
			}
			noMounts(t)
		})

		t.Run("SIGKILL", func(t *testing.T) {
			cli := u.start(t, "run", "--rm", bb, "sleep", "1000")
			payload, init := containerProcs(t, cli)

			sent := time.Now()
			if err := syscall.Kill(cli.pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			var left []string
			gone := waitFor(2*time.Second, func() bool {
				left = leftovers(u, payload.pidns, payload, init)
				return !alive(payload) && !alive(init) && len(left) == 0
			})
			if !gone {
				t.Fatalf("%v after SIGKILL of sandbox, its container still runs: %v", time.Since(sent).Round(time.Millisecond), left)
			}
			cli.wait(5 * time.Second)
			noMounts(t)

			// The killed CLI could not remove its --rm container: the next
			// command must still work and sweep it.
			r := u.mustRun(t, "run", "--rm", bb, "true")
			if left := dirEntries(t, filepath.Join(u.store(), "containers")); len(left) > 0 {
				t.Errorf("the killed --rm container was not swept by the next run: %v left in %s\n%s", left, filepath.Join(u.store(), "containers"), r)
			}
			noMounts(t)
		})
	})
}
