package tests

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUsernsRefusal: on a host that refuses user namespaces, sandbox names
// the setting and its fix instead of a bare errno. The refusal here is
// user.max_user_namespaces = 0, which an unprivileged user may set only in
// a user namespace of their own (unshare --user --map-root-user): sandbox
// runs in it, and may make no user namespace there. `info` says user
// namespaces are unavailable, naming the setting and the sysctl that lifts
// it; `run` fails with 125 saying the same.
func TestUsernsRefusal(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare is not installed (apt-get install util-linux): it makes the user namespace that refuses others")
	}
	forEachUser(t, func(t *testing.T, u *user) {
		// The store records its id map, and in the namespace the user is
		// root: a store of its own, so no other test's store sees that map.
		data := u.mustMkdir(t, filepath.Join(u.home, "data-userns-refusal"))
		o := runOpts{bin: unshare, env: []string{"XDG_DATA_HOME=" + data}}
		const limit = "echo 0 > /proc/sys/user/max_user_namespaces"
		inRefusingNS := func(t *testing.T, args ...string) result {
			t.Helper()
			script := limit + ` && exec "$0" "$@"`
			return u.runWith(t, o, append([]string{"--user", "--map-root-user", "sh", "-c", script, sandboxBin}, args...)...)
		}

		// The setting works as the test needs: it can be set there, and
		// then no user namespace can be made.
		r := u.runWith(t, o, "--user", "--map-root-user", "sh", "-c",
			limit+" && cat /proc/sys/user/max_user_namespaces && { unshare --user true; echo unshare=$?; }")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "0\n") || strings.Contains(r.stdout, "unshare=0") {
			t.Fatalf("setting user.max_user_namespaces = 0 in a user namespace of the test's own does not refuse user namespaces on this kernel:\n%s", r)
		}

		t.Run("info", func(t *testing.T) {
			r := inRefusingNS(t, "info")
			wantCode(t, r, 0)
			wantStdoutContains(t, r, "available: no: refused by user.max_user_namespaces = 0")
			wantStdoutContains(t, r, "sudo sysctl -w user.max_user_namespaces=")
			wantStdoutContains(t, r, "/etc/sysctl.d/")
		})

		t.Run("run", func(t *testing.T) {
			r := inRefusingNS(t, "run", "--rm", "host", "true")
			wantCode(t, r, 125)
			wantStderrContains(t, r, "user.max_user_namespaces = 0")
			wantStderrContains(t, r, "sudo sysctl -w user.max_user_namespaces=")
		})

		// Outside that namespace nothing refuses them.
		r = u.runWith(t, runOpts{env: o.env}, "info")
		wantCode(t, r, 0)
		wantStdoutContains(t, r, "available: yes")
	})
}
