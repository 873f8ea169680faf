//go:build vmguest

package guest

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// systemdMode says the VM boots the Debian image with systemd (the
// kernel command line has vm.mode=systemd): this binary is then only the
// initramfs's /init, which mounts the root disk, unpacks the payload disk
// into it and hands over to systemd.
func systemdMode() bool {
	os.MkdirAll("/proc", 0o755)
	if unix.Mount("proc", "/proc", "proc", 0, "") != nil {
		return false
	}
	b, _ := os.ReadFile("/proc/cmdline")
	unix.Unmount("/proc", 0)
	return strings.Contains(string(b), "vm.mode=systemd")
}

// bootSystemd mounts the disk with serial "vmsdroot" (ext4, the image),
// extracts the tar on the disk "vmsdpayload" into it (the binaries under
// test), moves /dev, /proc and /sys over and executes /sbin/init there.
func bootSystemd() {
	fail := func(what string, err error) {
		fmt.Fprintf(os.Stderr, "VM_ERROR=initramfs: %s: %v\n", what, err)
		poweroff()
	}
	for _, m := range []struct{ fs, dir string }{{"proc", "/proc"}, {"sysfs", "/sys"}, {"devtmpfs", "/dev"}} {
		os.MkdirAll(m.dir, 0o755)
		if err := unix.Mount(m.fs, m.dir, m.fs, 0, ""); err != nil {
			fail("mount "+m.dir, err)
		}
	}
	loadModules(func(what string, err error) {
		if err != nil {
			fail(what, err)
		}
	})
	root, err := diskBySerial("vmsdroot")
	if err != nil {
		fail("finding the root disk", err)
	}
	os.MkdirAll("/newroot", 0o755)
	if err := unix.Mount(root, "/newroot", "ext4", 0, ""); err != nil {
		fail("mounting "+root, err)
	}
	payload, err := diskBySerial("vmsdpayload")
	if err != nil {
		fail("finding the payload disk", err)
	}
	if err := untar(payload, "/newroot"); err != nil {
		fail("unpacking the payload", err)
	}
	for _, d := range []string{"/dev", "/proc", "/sys"} {
		if err := unix.Mount(d, "/newroot"+d, "", unix.MS_MOVE, ""); err != nil {
			fail("moving "+d, err)
		}
	}
	if err := unix.Chdir("/newroot"); err != nil {
		fail("chdir", err)
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		fail("moving the root", err)
	}
	if err := unix.Chroot("."); err != nil {
		fail("chroot", err)
	}
	unix.Chdir("/")
	fail("exec /sbin/init", unix.Exec("/sbin/init", []string{"/sbin/init"}, []string{"TERM=dumb"}))
}

// untar extracts a tar read from a raw disk: regular files and
// directories, owned by root, with their modes.
func untar(dev, dst string) error {
	f, err := os.Open(dev)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dst, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, os.FileMode(h.Mode).Perm()); err != nil {
				return err
			}
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(p), 0o755)
			out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, os.FileMode(h.Mode).Perm())
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, tr); err != nil {
				out.Close()
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
			os.Chmod(p, os.FileMode(h.Mode).Perm())
		}
	}
}
