package tests

import (
	"strings"
	"testing"
)

// TestStorageDrivers: each driver assembles a working, writable root of the
// kind it names; deleting a lower file works; and a 150-layer image with
// whiteouts and an opaque directory comes out right.
func TestStorageDrivers(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		bb := u.bb(t)
		many := u.manyImage(t)
		r := u.mustRun(t, "images")
		wantStdoutContains(t, r, "many")

		for _, driver := range []string{"overlay", "fuse-overlayfs", "vfs"} {
			t.Run(driver, func(t *testing.T) {
				if driver == "fuse-overlayfs" {
					if why := fuseUnusable(); why != "" {
						t.Skip(why)
					}
				}
				run := func(args ...string) result {
					return u.run(t, append([]string{"run", "--rm", "--storage-driver", driver}, args...)...)
				}

				r := run(bb, "sh", "-c", "echo ok > /f; cat /f; head -1 /proc/mounts")
				wantCode(t, r, 0)
				lines := strings.Split(r.stdout, "\n")
				if lines[0] != "ok" || len(lines) < 2 {
					t.Fatalf("writing a file in the root failed:\n%s", r)
				}
				// /proc/mounts: "source mountpoint type options 0 0".
				root := strings.Fields(lines[1])
				if len(root) < 3 || root[1] != "/" {
					t.Fatalf("the first mount is not the root: %q\n%s", lines[1], r)
				}
				fstype := root[2]
				switch driver {
				case "overlay":
					if fstype != "overlay" {
						t.Fatalf("--storage-driver overlay: the root is %q, want overlay\n%s", fstype, r)
					}
				case "fuse-overlayfs":
					if !strings.HasPrefix(fstype, "fuse") {
						t.Fatalf("--storage-driver fuse-overlayfs: the root is %q, want fuse\n%s", fstype, r)
					}
				case "vfs":
					if fstype == "overlay" || strings.HasPrefix(fstype, "fuse") {
						t.Fatalf("--storage-driver vfs: the root is %q, want a plain copy\n%s", fstype, r)
					}
				}

				// Deleting a file of a lower layer. busybox sh runs applets
				// without looking at the file, so call it by path.
				r = run(bb, "sh", "-c", `rm /bin/ls || exit 10; if /bin/ls / >/dev/null 2>&1; then echo "ls still runs"; else echo "ls gone"; fi`)
				wantCode(t, r, 0)
				wantStdout(t, r, "ls gone\n")

				r = run(many, "sh", "-c", `cat /layer149 /layer001; ls /opq
					test -e /etc/doomed && echo "doomed present"
					test -e /layer010 && echo "layer010 present"
					test -e /layer011 || echo "layer011 missing"
					echo end`)
				wantCode(t, r, 0)
				wantStdout(t, r, "layer 149\nlayer 001\nnew\nend\n")
			})
		}
	})
}
