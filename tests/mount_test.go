package tests

// --mount, --tmpfs and --shm-size (issue 16): Docker's spellings, tmpfs of
// the asked size and mode, every mistake naming its key.

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
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

		// type=volume without a source: an anonymous volume, as Docker
		// makes one, which --rm removes with the container.
		wantStdout(t, s.must(t, "run", "--rm", "--mount", "type=volume,target=/anon", "bb", "sh", "-c", "echo hi > /anon/f && cat /anon/f"), "hi\n")
		if r := s.must(t, "volume", "ls", "-q"); r.stdout != "" {
			t.Errorf("the anonymous volume outlived its --rm container: volume ls -q says %q", r.stdout)
		}

		for _, bad := range []struct {
			args []string
			want string
		}{
			{[]string{"--mount", "type=bind,source=/tmp,target=/x,bind-propagation=rshared"}, "bind-propagation: not supported"},
			{[]string{"--mount", "type=tmpfs,target=/x,size=1m"}, "size: unknown key (the keys are type, source/src"},
			{[]string{"--mount", "type=nfs,target=/x"}, `type: "nfs": use bind, volume or tmpfs`},
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

// TestVolumes: a named volume's data survives the container and is seen by
// the next; -v NAME makes it on first use; volume rm of one in use is
// refused naming the container; rm never removes it; prune takes the
// unused ones only.
func TestVolumes(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "volumes")
		s.must(t, "run", "--name", "writer", "-v", "data:/data", "bb", "sh", "-c", "echo kept > /data/f")
		s.must(t, "rm", "writer")
		wantStdout(t, s.must(t, "run", "--rm", "--mount", "type=volume,src=data,dst=/d,readonly", "bb", "cat", "/d/f"), "kept\n")
		if r := s.do(t, "run", "--rm", "-v", "data:/d:ro", "bb", "sh", "-c", "echo x > /d/g"); r.code == 0 {
			t.Errorf("a read-only volume was written:\n%s", r)
		}

		wantStdout(t, s.must(t, "volume", "create", "spare"), "spare\n")
		wantStdout(t, s.must(t, "volume", "ls", "-q"), "data\nspare\n")
		r := s.must(t, "volume", "inspect", "data")
		if !strings.Contains(r.stdout, `"Name": "data"`) || !strings.Contains(r.stdout, filepath.Join(s.root, "volumes", "data", "_data")) {
			t.Errorf("volume inspect:\n%s", r.stdout)
		}

		s.must(t, "create", "--name", "holder", "-v", "data:/data", "bb", "true")
		wantStdoutContains(t, s.must(t, "system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}"), "Local Volumes 2 1\n")
		r = s.do(t, "volume", "rm", "data")
		wantCode(t, r, 125)
		if !strings.Contains(r.stderr, "volume data is used by holder") {
			t.Errorf("volume rm in use:\n%s", r)
		}
		wantStdout(t, s.must(t, "volume", "prune"), "spare\n")
		s.must(t, "rm", "holder")
		wantStdout(t, s.must(t, "volume", "ls", "-q"), "data\n")
		s.must(t, "volume", "rm", "data")
		if r := s.must(t, "volume", "ls", "-q"); r.stdout != "" {
			t.Errorf("volumes left: %q", r.stdout)
		}
		wantCode(t, s.do(t, "volume", "rm", "data"), 125)
		r = s.do(t, "run", "--rm", "-v", "bad name:/x", "bb", "true")
		wantCode(t, r, 125)
		if !strings.Contains(r.stderr, "is not a volume name") {
			t.Errorf("a bad volume name:\n%s", r)
		}
	})
}

// TestLabelsCidfileInit: --label with ps --filter label=, --cidfile, and
// --init accepted (sandbox's init is always there).
func TestLabelsCidfileInit(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "labels")
		cid := filepath.Join(u.home, "web.cid")
		id := s.mustID(t, "run", "-d", "--init", "--name", "web", "-l", "app=shop", "--label", "tier", "--cidfile", cid, "bb", "sleep", "100")
		s.mustID(t, "create", "--name", "other", "-l", "app=blog", "bb", "true")
		b, err := os.ReadFile(cid)
		if err != nil || string(b) != id {
			t.Errorf("--cidfile wrote %q (%v), want the ID %s", b, err, id)
		}
		for filter, want := range map[string]string{"label=app=shop": "web\n", "label=tier": "web\n", "label=app": "other\nweb\n", "label=app=none": ""} {
			r := s.must(t, "ps", "-a", "--filter", filter, "--format", "{{.Names}}")
			got := strings.Split(strings.TrimSpace(r.stdout), "\n")
			sort.Strings(got)
			if strings.TrimSpace(strings.Join(got, "\n")) != strings.TrimSpace(want) {
				t.Errorf("ps --filter %s: %q, want %q", filter, r.stdout, want)
			}
		}
		if r := s.must(t, "inspect", id).stdout; !strings.Contains(r, `"app=shop"`) {
			t.Errorf("inspect does not show the labels:\n%s", r)
		}
		r := s.do(t, "run", "--rm", "--cidfile", cid, "bb", "true")
		wantCode(t, r, 125)
		if !strings.Contains(r.stderr, "the file exists") {
			t.Errorf("--cidfile over an existing file:\n%s", r)
		}
		s.must(t, "rm", "-f", "web", "other")
	})
}

// TestPullPolicy: --pull never refuses an image that is not here and runs
// one that is; --pull always pulls even an image that is here.
func TestPullPolicy(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s, conf := u.launchStore(t, "pullpolicy")
		// Short names go to a registry that refuses at once.
		u.mustWrite(t, conf, "[registries]\nsearch = [\"127.0.0.1:1\"]\n", 0o644)
		wantStdout(t, s.must(t, "run", "--rm", "--pull", "never", "busybox", "echo", "here"), "here\n")
		r := s.do(t, "run", "--rm", "--pull", "never", "nosuch", "true")
		wantCode(t, r, 125)
		if !strings.Contains(r.stderr, "--pull never") {
			t.Errorf("--pull never of a missing image:\n%s", r)
		}
		r = s.do(t, "run", "--rm", "--pull", "always", "busybox", "true")
		wantCode(t, r, 125)
		if !strings.Contains(r.stderr, "127.0.0.1:1") {
			t.Errorf("--pull always did not try the registry:\n%s", r)
		}
		r = s.do(t, "run", "--rm", "--pull", "sometimes", "busybox", "true")
		wantCode(t, r, 125)
		if !strings.Contains(r.stderr, `valid values are "missing", "always", "never"`) {
			t.Errorf("a bad --pull:\n%s", r)
		}
	})
}

// TestPrivileged: every capability, no seccomp filter, /proc unmasked,
// and said so.
func TestPrivileged(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "privileged")
		show := []string{"sh", "-c", "grep -E '^(CapEff|Seccomp):' /proc/self/status | awk '{print $2}'; mount | grep -c -E ' /proc/(keys|timer_list|kcore|sched_debug) ' || true"}
		r := s.must(t, append([]string{"run", "--rm", "--privileged", "bb"}, show...)...)
		f := strings.Fields(r.stdout)
		if len(f) != 3 || !strings.HasSuffix(f[0], "ffffffffff") || f[1] != "0" || f[2] != "0" {
			t.Errorf("--privileged: CapEff, Seccomp, masks in /proc = %q; want all caps, 0, 0", f)
		}
		if !strings.Contains(r.stderr, "inside the user namespace") {
			t.Errorf("--privileged was not said:\n%s", r)
		}
		f = strings.Fields(s.must(t, append([]string{"run", "--rm", "bb"}, show...)...).stdout)
		if len(f) != 3 || strings.HasSuffix(f[0], "ffffffffff") || f[1] != "2" || f[2] == "0" {
			t.Errorf("without --privileged: CapEff, Seccomp, masks in /proc = %q; want fewer caps, 2, masks", f)
		}
	})
}

// TestUlimit: --ulimit sets the container's limits; a hard limit above
// the host's is refused with the reason.
func TestUlimit(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "ulimit")
		wantStdout(t, s.must(t, "run", "--rm", "--ulimit", "nofile=100:200", "--ulimit", "core=0", "bb", "sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c"), "100\n200\n0\n")
		// Without --ulimit nofile: the user's hard limit, soft and hard,
		// as Podman gives, in a run and in an exec'd process.
		var hard syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &hard); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%d\n%d\n", hard.Max, hard.Max)
		wantStdout(t, s.must(t, "run", "--rm", "bb", "sh", "-c", "ulimit -n; ulimit -Hn"), want)
		s.must(t, "run", "-d", "--name", "nofile", "bb", "sleep", "300")
		wantStdout(t, s.must(t, "exec", "nofile", "sh", "-c", "ulimit -n; ulimit -Hn"), want)
		s.must(t, "rm", "-f", "nofile")
		r := s.do(t, "run", "--rm", "--ulimit", "nofile=100:999999999", "bb", "true")
		wantCode(t, r, 125)
		if !strings.Contains(r.stderr, "a hard limit above the host's needs root") {
			t.Errorf("a hard limit above the host's:\n%s", r)
		}
		r = s.do(t, "run", "--rm", "--ulimit", "files=1", "bb", "true")
		wantCode(t, r, 125)
		if !strings.Contains(r.stderr, "NAME one of as, core") {
			t.Errorf("an unknown limit:\n%s", r)
		}
	})
}

// TestSysctl: namespaced settings are set in the sandbox; a setting of the
// host's, or net.* with the host's network, is refused.
func TestSysctl(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "sysctl")
		r := s.must(t, "run", "--rm", "--net", "none", "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmni=1234",
			"bb", "cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/kernel/shmmni")
		wantStdout(t, r, "1\n1234\n")
		for _, bad := range []struct {
			args []string
			want string
		}{
			{[]string{"--sysctl", "vm.swappiness=1"}, "vm.swappiness is not namespaced"},
			{[]string{"--sysctl", "net.ipv4.ip_forward=1"}, "net.* settings need a network of the container's own"},
			{[]string{"--sysctl", "kernel.shmmni"}, "want NAME=VALUE"},
		} {
			r := s.do(t, append(append([]string{"run", "--rm"}, bad.args...), "bb", "true")...)
			wantCode(t, r, 125)
			if !strings.Contains(r.stderr, bad.want) {
				t.Errorf("%v: stderr lacks %q:\n%s", bad.args, bad.want, r)
			}
		}
	})
}

// TestVolumeSeeding: an empty named volume gets the image's content at its
// mount point (owner kept), once; the image's VOLUME gets an anonymous
// volume, which rm keeps and rm -v (or --rm) removes, never a named one.
func TestVolumeSeeding(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "volseed")
		owner := "1000:1000"
		if u.mode == "single" {
			owner = "0:0" // single-id mode has no other owner
		}
		ctx := u.buildContext(t, "volseed", map[string]string{
			"Containerfile": "FROM bb\nCOPY --chown=" + owner + " seed.txt /srv/data/seed.txt\nVOLUME /srv/data\n",
			"seed.txt":      "seeded\n",
		})
		s.must(t, "build", "-q", "-t", "withvol", ctx)
		uid, _, _ := strings.Cut(owner, ":")

		// A named volume, new: seeded from the image, owner kept; no
		// anonymous volume where it is mounted.
		r := s.must(t, "run", "--rm", "-v", "fresh:/srv/data", "withvol", "sh", "-c", "cat /srv/data/seed.txt; stat -c %u /srv/data/seed.txt; rm /srv/data/seed.txt; echo mine > /srv/data/own")
		wantStdout(t, r, "seeded\n"+uid+"\n")
		wantStdout(t, s.must(t, "volume", "ls", "-q"), "fresh\n")
		// Not empty any more: not seeded again.
		wantStdout(t, s.must(t, "run", "--rm", "-v", "fresh:/srv/data", "withvol", "ls", "/srv/data"), "own\n")

		// The image's VOLUME: an anonymous volume, seeded.
		wantStdout(t, s.must(t, "run", "--name", "a", "withvol", "cat", "/srv/data/seed.txt"), "seeded\n")
		vols := strings.Fields(s.must(t, "volume", "ls", "-q").stdout)
		var anon []string
		for _, v := range vols {
			if v != "fresh" {
				anon = append(anon, v)
			}
		}
		if len(anon) != 1 || len(anon[0]) != 64 {
			t.Fatalf("volumes after a run of an image with VOLUME: %q, want fresh and one anonymous", vols)
		}
		s.must(t, "rm", "a") // without -v: kept, as Docker keeps it
		if got := s.must(t, "volume", "ls", "-q").stdout; !strings.Contains(got, anon[0]) {
			t.Errorf("rm without -v removed the anonymous volume: %q", got)
		}
		s.must(t, "volume", "rm", anon[0])

		// rm -v: its anonymous volumes only.
		s.must(t, "run", "--name", "b", "-v", "fresh:/named", "-v", "/scratch", "withvol", "true")
		if n := len(strings.Fields(s.must(t, "volume", "ls", "-q").stdout)); n != 3 {
			t.Errorf("b has %d volumes, want fresh and two anonymous", n)
		}
		s.must(t, "rm", "-v", "b")
		wantStdout(t, s.must(t, "volume", "ls", "-q"), "fresh\n")
		// --rm: the same.
		s.must(t, "run", "--rm", "-v", "/scratch", "withvol", "true")
		wantStdout(t, s.must(t, "volume", "ls", "-q"), "fresh\n")
	})
}

// TestGroupAdd: --group-add gives the payload (and exec) more groups, by
// id; in single-id mode an id outside the map is refused with the reason.
func TestGroupAdd(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "groupadd")
		if u.mode == "single" {
			r := s.do(t, "run", "--rm", "--group-add", "5", "bb", "id", "-G")
			wantCode(t, r, 125)
			if !strings.Contains(r.stderr, "group 5 is outside the user namespace") {
				t.Errorf("--group-add 5 in single-id mode:\n%s", r)
			}
			return
		}
		wantStdout(t, s.must(t, "run", "--rm", "--group-add", "5", "--group-add", "70", "bb", "id", "-G"), "0 5 70\n")
		s.mustID(t, "run", "-d", "--name", "g", "--group-add", "70", "bb", "sleep", "100")
		wantStdout(t, s.must(t, "exec", "g", "id", "-G"), "0 70\n")
		s.must(t, "rm", "-f", "g")
		r := s.do(t, "run", "--rm", "--group-add", "nosuch", "bb", "true")
		wantCode(t, r, 125)
		if !strings.Contains(r.stderr, "--group-add nosuch: no such group") {
			t.Errorf("an unknown group name:\n%s", r)
		}
	})
}

// TestUserNSKeepID: --userns=keep-id runs as the user's own uid and gid,
// a file it writes to a bind mount is the user's on the host, the image's
// files still belong to root inside, and -u 0 is root with capabilities.
// Without subordinate ids it is refused with the reason.
func TestUserNSKeepID(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "keepid")
		if u.mode == "single" {
			r := s.do(t, "run", "--rm", "--userns", "keep-id", "bb", "true")
			wantCode(t, r, 125)
			if !strings.Contains(r.stderr, "needs subordinate ids") {
				t.Errorf("keep-id without subordinate ids:\n%s", r)
			}
			return
		}
		dir := u.mustMkdir(t, filepath.Join(u.home, "keepid-w"))
		r := s.must(t, "run", "--rm", "--userns", "keep-id", "-v", dir+":/w", "bb", "sh", "-c",
			"id -u; id -g; stat -c %u:%g /bin/busybox; echo mine > /w/f")
		want := fmt.Sprintf("%d\n%d\n0:0\n", u.uid, u.gid)
		wantStdout(t, r, want)
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(dir, "f"), &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != u.uid || st.Gid != u.gid {
			t.Errorf("a file keep-id wrote to a bind mount is %d:%d on the host, want the user's %d:%d", st.Uid, st.Gid, u.uid, u.gid)
		}
		// Root inside is still root, with its capabilities, over the
		// image's files.
		wantStdout(t, s.must(t, "run", "--rm", "--userns", "keep-id", "-u", "0", "bb", "sh", "-c", "touch /etc/x && id -u"), "0\n")
		// Its ids stay across a restart; commit is refused.
		s.mustID(t, "run", "-d", "--name", "k", "--userns", "keep-id", "bb", "sleep", "100")
		s.must(t, "stop", "-t", "0", "k")
		s.must(t, "start", "k")
		wantStdout(t, s.must(t, "exec", "k", "id", "-u"), fmt.Sprintf("%d\n", u.uid))
		r = s.do(t, "commit", "k", "kimg")
		wantCode(t, r, 125)
		if !strings.Contains(r.stderr, "keep-id") {
			t.Errorf("commit of a keep-id container:\n%s", r)
		}
		s.must(t, "rm", "-f", "k")
		if r := s.do(t, "run", "--rm", "--userns", "host", "bb", "true"); r.code != 125 || !strings.Contains(r.stderr, "keep-id") {
			t.Errorf("--userns host:\n%s", r)
		}
	})
}
