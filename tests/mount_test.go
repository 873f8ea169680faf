package tests

// --mount, --tmpfs and --shm-size (issue 16): Docker's spellings, tmpfs of
// the asked size and mode, every mistake naming its key.

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestMountFlags(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "mounts")
		data := u.mustMkdir(t, filepath.Join(u.home, "mount-data"))
		u.mustWrite(t, filepath.Join(data, "f"), "on the host\n", 0o644)
		r := s.must(t, "run", "--rm",
			"--tmpfs", "/scratch:size=8m,mode=700",
			"--mount", "type=tmpfs,target=/t2,tmpfs-size=4m",
			"--mount", "type=bind,src="+data+",dst=/data,readonly",
			"--shm-size", "32m",
			"bb", "sh", "-c", `df -k /scratch /t2 /dev/shm | tail -3 | awk '{print $1, $2, $6}'; stat -c %a /scratch; cat /data/f; touch /data/x 2>/dev/null || echo read-only`)
		want := "tmpfs 8192 /scratch\ntmpfs 4096 /t2\nshm 32768 /dev/shm\n700\non the host\nread-only\n"
		wantStdout(t, r, want)

		// The same from a launch file: [[mount]] and shm_size.
		file := u.mustWrite(t, filepath.Join(u.home, "mounts.toml"), "image = \"bb\"\ncommand = [\"sh\", \"-c\", \"df -k /dev/shm /cache | tail -2 | awk '{print $2}'\"]\nshm_size = \"16MiB\"\n[[mount]]\ntype = \"tmpfs\"\ntarget = \"/cache\"\nsize = \"2MiB\"\n", 0o644)
		wantStdout(t, s.must(t, "run", "--rm", "--config", file), "16384\n2048\n")

		for _, bad := range []struct {
			args []string
			want string
		}{
			{[]string{"--mount", "type=bind,source=/tmp,target=/x,bind-propagation=rshared"}, "bind-propagation: not supported"},
			{[]string{"--mount", "type=tmpfs,target=/x,size=1m"}, "size: unknown key (the keys are type, source/src"},
			{[]string{"--mount", "type=volume,source=v,target=/x"}, "type: named volumes are not supported yet"},
			{[]string{"--mount", "type=tmpfs,target=/x,tmpfs-mode=999"}, `tmpfs-mode: "999": an octal mode`},
			{[]string{"--mount", "type=bind,target=/x"}, "source: missing"},
			{[]string{"--mount", "type=tmpfs,dst=x"}, "target: missing or not absolute"},
			{[]string{"--tmpfs", "/x:exec"}, `option "exec" is not supported`},
			{[]string{"--shm-size", "lots"}, "shm-size"},
		} {
			r := s.do(t, append(append([]string{"run", "--rm"}, bad.args...), "bb", "true")...)
			wantCode(t, r, 125)
			if !strings.Contains(r.stderr, bad.want) {
				t.Errorf("%v: stderr lacks %q:\n%s", bad.args, bad.want, r)
			}
		}
	})
}
