package tests

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHelp: help and version work and exit 0.
func TestHelp(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		r := u.mustRun(t, "--help")
		wantStdoutContains(t, r, "Usage:")
		r = u.mustRun(t, "run", "--help")
		wantStdoutContains(t, r, "Usage: sandbox run")
		r = u.mustRun(t, "version")
		wantStdoutContains(t, r, "sandbox version")
	})
}

// TestRunBasics: output and exit codes of `sandbox run`: the payload's own
// status, 127 for a command that does not exist, 126 for one that cannot
// be executed, 125 (with the usage line) for a command-line mistake.
func TestRunBasics(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		bb := u.bb(t)

		r := u.run(t, "run", "--rm", bb, "echo", "hello")
		wantCode(t, r, 0)
		wantStdout(t, r, "hello\n")

		r = u.run(t, "run", "--rm", bb, "sh", "-c", "exit 3")
		wantCode(t, r, 3)

		r = u.run(t, "run", "--rm", bb, "nosuchcmd")
		wantCode(t, r, 127)
		wantStderrContains(t, r, "nosuchcmd")

		r = u.run(t, "run", "--rm", bb, "/etc/passwd")
		wantCode(t, r, 126)
		wantStderrContains(t, r, "/etc/passwd")

		r = u.run(t, "run", "--bogus-flag", bb, "true")
		wantCode(t, r, 125)
		wantStderrContains(t, r, "sandbox: ")
		wantStderrContains(t, r, "Usage:")

		// stdin reaches the payload with -i.
		r = u.runWith(t, runOpts{stdin: strings.NewReader("from stdin\n")}, "run", "--rm", "-i", bb, "cat")
		wantCode(t, r, 0)
		wantStdout(t, r, "from stdin\n")
	})
}

// TestIdentity: the id maps sandbox writes. subid: container root is the
// user and 1…65536 are the user's subordinate ids; single: only root, the
// user, exists, and other users are refused with a reason.
func TestIdentity(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		bb := u.bb(t)
		for _, m := range []struct{ file, idcmd string }{{"uid_map", "-u"}, {"gid_map", "-g"}} {
			r := u.mustRun(t, "run", "--rm", bb, "cat", "/proc/self/"+m.file)
			got := mapLines(r.stdout)
			host, ranges := u.uid, u.subUIDs
			if m.file == "gid_map" {
				host, ranges = u.gid, u.subGIDs
			}
			want := []string{fmt.Sprintf("0 %d 1", host)}
			if u.mode == "subid" {
				next := uint32(1)
				for _, rg := range ranges {
					want = append(want, fmt.Sprintf("%d %d %d", next, rg.start, rg.count))
					next += rg.count
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("/proc/self/%s is %q, want %q:\n%s", m.file, got, want, r)
			}
			r = u.mustRun(t, "run", "--rm", bb, "id", m.idcmd)
			wantStdout(t, r, "0\n")
		}

		r := u.run(t, "run", "--rm", "-u", "1000:1000", bb, "sh", "-c", "id -u; id -g")
		if u.mode == "subid" {
			wantCode(t, r, 0)
			wantStdout(t, r, "1000\n1000\n")
			// By name too, from the image's /etc/passwd.
			r = u.mustRun(t, "run", "--rm", "-u", "user", bb, "id", "-un")
			wantStdout(t, r, "user\n")
		} else {
			wantCode(t, r, 125)
			wantStderrContains(t, r, "single-id mode")
		}
	})
}

// mapLines normalizes the columns of /proc/PID/uid_map.
func mapLines(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			out = append(out, strings.Join(f, " "))
		}
	}
	return out
}

// TestEphemeral: with --rm nothing a container writes survives it, the
// image's layers never change whatever the container does to its files,
// and no container record is left behind.
func TestEphemeral(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		bb := u.bb(t)

		u.mustRun(t, "run", "--rm", bb, "sh", "-c", "echo x > /written")
		r := u.run(t, "run", "--rm", bb, "cat", "/written")
		wantFailure(t, r)
		wantStderrContains(t, r, "No such file")

		layers := filepath.Join(u.store(), "layers")
		before, n := hashTree(t, layers)
		if n < 10 {
			t.Fatalf("only %d entries under %s: is the store elsewhere?", n, layers)
		}
		// Delete, rewrite, append, chmod (a big file too: a copy-up of the
		// running busybox, which cannot be written), make and remove
		// directories: all must stay in the container's own layer.
		const mutate = `rm /bin/ls && echo y > /etc/passwd && echo z >> /etc/group && chmod 600 /etc/group &&
			chmod 700 /bin/busybox && mkdir /newdir && rm -r /tmp && cat /etc/passwd && test ! -e /bin/ls && echo done`
		drivers := []string{"", "vfs", "fuse-overlayfs"}
		for _, d := range drivers {
			name := d
			if name == "" {
				name = "default"
			}
			t.Run(name, func(t *testing.T) {
				args := []string{"run", "--rm"}
				if d != "" {
					if d == "fuse-overlayfs" {
						if why := fuseUnusable(); why != "" {
							t.Skip(why)
						}
					}
					args = append(args, "--storage-driver", d)
				}
				r := u.run(t, append(args, bb, "sh", "-c", mutate)...)
				wantCode(t, r, 0)
				wantStdout(t, r, "y\ndone\n")

				if after, _ := hashTree(t, layers); after != before {
					t.Fatalf("the image's layers under %s changed after the container modified its files", layers)
				}
				r = u.run(t, append(args, bb, "sh", "-c", "cat /etc/passwd; test -e /bin/ls && test -d /tmp && echo intact")...)
				wantCode(t, r, 0)
				wantStdout(t, r, "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nintact\n")
			})
		}

		if left := dirEntries(t, filepath.Join(u.store(), "containers")); len(left) > 0 {
			t.Errorf("--rm containers left records behind in %s: %v", filepath.Join(u.store(), "containers"), left)
		}
	})
}

// TestInit: PID 1 is sandbox's init, and it reaps orphans: a process whose
// parent exits is re-parented to PID 1, and once it exits it does not stay
// a zombie while the payload keeps running.
func TestInit(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		bb := u.bb(t)

		// comm, not args: in subid mode the init is executed through a file
		// descriptor (docs/handshake.md), and names itself.
		r := u.mustRun(t, "run", "--rm", bb, "ps", "-o", "pid,comm")
		found := false
		for _, line := range strings.Split(r.stdout, "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "1" {
				found = strings.Contains(line, "sandbox-init")
			}
		}
		if !found {
			t.Fatalf("PID 1 is not sandbox-init:\n%s", r)
		}

		// The inner sh starts `sleep 1` in the background and exits at
		// once: the sleep is orphaned. The payload waits for it to end,
		// then looks for it: reaped, it is gone; unreaped, a zombie.
		const script = `
			sh -c 'sleep 1 & echo $! > /tmp/orphan'
			o=$(cat /tmp/orphan)
			set -- $(cat /proc/$o/stat)
			echo "orphan ppid=$4"
			i=0
			while [ -e /proc/$o ] && [ "$(cut -d' ' -f3 /proc/$o/stat 2>/dev/null)" != Z ] && [ $i -lt 100 ]; do
				usleep 100000; i=$((i+1))
			done
			usleep 300000
			if [ -e /proc/$o ]; then echo "orphan still there, state $(cut -d' ' -f3 /proc/$o/stat)"; else echo "orphan reaped"; fi
			ps -o pid,stat,args`
		r = u.mustRun(t, "run", "--rm", bb, "sh", "-c", script)
		wantStdoutContains(t, r, "orphan ppid=1\n")
		wantStdoutContains(t, r, "orphan reaped\n")
		for _, line := range strings.Split(r.stdout, "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[0] != "PID" && strings.HasPrefix(f[1], "Z") {
				t.Fatalf("a zombie in the container:\n%s", r)
			}
		}
	})
}

// TestRunFlags: the run flags shared with docker.
func TestRunFlags(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		bb := u.bb(t)

		t.Run("env", func(t *testing.T) {
			r := u.mustRun(t, "run", "--rm", "-e", "A=1", bb, "sh", "-c", `echo "$A"`)
			wantStdout(t, r, "1\n")
			// A bare name takes the value from sandbox's environment.
			r = u.runWith(t, runOpts{env: []string{"FROMHOST=host value"}}, "run", "--rm", "-e", "FROMHOST", bb, "sh", "-c", `echo "$FROMHOST"`)
			wantCode(t, r, 0)
			wantStdout(t, r, "host value\n")
		})

		t.Run("env-file", func(t *testing.T) {
			f := u.mustWrite(t, filepath.Join(u.home, "flags", "env"), "# a comment\n\nB=2\nC=three words\n  # indented comment\n", 0o644)
			r := u.mustRun(t, "run", "--rm", "--env-file", f, bb, "sh", "-c", `echo "$B|$C"`)
			wantStdout(t, r, "2|three words\n")
		})

		t.Run("volume", func(t *testing.T) {
			dir := u.mustMkdir(t, filepath.Join(u.home, "flags", "vol"))
			u.mustRun(t, "run", "--rm", "-v", dir+":/data", bb, "sh", "-c", "echo hi > /data/out")
			if b, err := os.ReadFile(filepath.Join(dir, "out")); err != nil || string(b) != "hi\n" {
				t.Fatalf("a write to a rw volume did not reach the host: %q, %v", b, err)
			}
			r := u.run(t, "run", "--rm", "-v", dir+":/data:ro", bb, "sh", "-c", "echo hi > /data/out2")
			wantFailure(t, r)
			if _, err := os.Lstat(filepath.Join(dir, "out2")); err == nil {
				t.Fatalf("a write to a read-only volume reached the host:\n%s", r)
			}
			r = u.mustRun(t, "run", "--rm", "-v", dir+":/data:ro", bb, "cat", "/data/out")
			wantStdout(t, r, "hi\n")
		})

		t.Run("workdir", func(t *testing.T) {
			r := u.mustRun(t, "run", "--rm", "-w", "/some/dir", bb, "pwd")
			wantStdout(t, r, "/some/dir\n")
		})

		t.Run("hostname", func(t *testing.T) {
			r := u.mustRun(t, "run", "--rm", "--hostname", "foo", bb, "sh", "-c", "hostname; cat /etc/hostname")
			wantStdout(t, r, "foo\nfoo\n")
		})

		t.Run("read-only", func(t *testing.T) {
			r := u.run(t, "run", "--rm", "--read-only", bb, "sh", "-c", "echo x > /probe")
			wantFailure(t, r)
			wantStderrContains(t, r, "Read-only file system")
			u.mustRun(t, "run", "--rm", "--read-only", bb, "true")
		})

		t.Run("net-none", func(t *testing.T) {
			r := u.mustRun(t, "run", "--rm", "--net", "none", bb, "ip", "-o", "link")
			lines := mapLines(r.stdout)
			loOnly := regexp.MustCompile(`^\d+: lo[:@]`)
			if len(lines) == 0 {
				t.Fatalf("no interfaces at all:\n%s", r)
			}
			for _, l := range lines {
				if !loOnly.MatchString(l) {
					t.Fatalf("--net none shows an interface other than lo:\n%s", r)
				}
			}
		})

		t.Run("entrypoint", func(t *testing.T) {
			r := u.mustRun(t, "run", "--rm", "--entrypoint", "/bin/echo", bb, "hello", "world")
			wantStdout(t, r, "hello world\n")
			// The busybox image has neither Entrypoint nor Cmd.
			r = u.run(t, "run", "--rm", bb)
			wantCode(t, r, 125)
		})
	})
}

// TestRunOutputToIdleReader: a caller that reads the command's output
// only once it has exited (a script's "wait, then read") gets every line
// of a payload that writes a line at a time. The relay used to splice
// each line into its own slot of the caller's pipe: the 17th line
// blocked the command for good, with a few hundred bytes in the pipe.
func TestRunOutputToIdleReader(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		bb := u.bb(t)
		outR, outW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer outR.Close()
		c := u.command(runOpts{}, "run", "--rm", bb, "sh", "-c", "for i in $(seq 40); do echo line $i; usleep 3000; done")
		var stderr bytes.Buffer
		c.Stdout, c.Stderr = outW, &stderr
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		outW.Close()
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
		case <-time.After(defaultTimeout):
			syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			<-done
			t.Fatal("run --rm blocked writing 40 short lines to a pipe read only after it exits")
		}
		got, _ := io.ReadAll(outR)
		var want strings.Builder
		for i := 1; i <= 40; i++ {
			fmt.Fprintf(&want, "line %d\n", i)
		}
		if string(got) != want.String() {
			t.Fatalf("stdout %q, want %q", got, want.String())
		}
	})
}
