package vm

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// systemdImage is the cached Debian image with systemd (no kernel or
// modules inside: the initramfs loads what it needs before handing over).
const systemdImage = cacheDir + "/systemd-bookworm-root.img"

// TestSystemdUserScopeInVM boots a debootstrapped Debian 12 with systemd
// 252, dbus and a lingering user "dev" (uid 1000), and runs the guest's
// TestSystemd* tests as dev in a PAM login session, as an ssh login
// would: there the user owns no cgroup, and sandbox has to ask the
// systemd user manager for a delegated scope.
func TestSystemdUserScopeInVM(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)")
	}
	work := t.TempDir()
	kernel, modDir := fetchKernel(t)
	image := buildSystemdImage(t)
	guest := filepath.Join(work, "guest.test")
	sandbox := filepath.Join(work, "sandbox")
	goBuild(t, "test", "-c", "-tags", "vmguest", "-o", guest, "./guest")
	goBuild(t, "build", "-o", sandbox, "github.com/sandbox-dev/sandbox")
	busybox, err := staticBusybox()
	if err != nil {
		t.Skip(err)
	}

	payload := filepath.Join(work, "payload.tar")
	if err := writeTar(payload, map[string]string{"opt/guest.test": guest, "opt/sandbox": sandbox, "opt/busybox": busybox}); err != nil {
		t.Fatal(err)
	}
	initrd := filepath.Join(work, "initrd.cpio")
	w, err := newCpio(initrd)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"modules", "proc", "sys", "dev", "newroot"} {
		w.dir(d, 0o755)
	}
	w.file("init", guest, 0o755)
	var order []string
	for _, m := range modules {
		p, err := findModule(modDir, m)
		if err != nil {
			t.Fatal(err)
		}
		w.file("modules/"+m+".ko", p, 0o644)
		order = append(order, m+".ko")
	}
	w.data("modules/order", strings.Join(order, "\n")+"\n", 0o644)
	if err := w.close(); err != nil {
		t.Fatal(err)
	}

	// One vCPU: under TCG two compete for the host's two cores, and the
	// boot is slower.
	run := bootVM(t, vmBoot{
		qemu: qemu, name: "the systemd VM", work: work, timeout: 15 * time.Minute, cpus: 1,
		kernel: kernel, initrd: initrd,
		cmdline: "console=ttyS0 panic=-1 quiet systemd.show_status=false cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 vm.mode=systemd",
		drives: []string{
			"file=" + image + ",format=raw,if=none,id=root,snapshot=on,cache=unsafe", "vmsdroot",
			"file=" + payload + ",format=raw,if=none,id=payload,readonly=on", "vmsdpayload",
		},
	})
	output, st := run.output, run.status
	if st["VM_RC"] != "0" {
		t.Errorf("the guest tests failed (exit status %s)", st["VM_RC"])
	}
	if fails := regexp.MustCompile(`(?m)^\s*--- FAIL: .*$`).FindAll(output, -1); len(fails) > 0 {
		t.Errorf("failed in the VM:\n%s", bytes.Join(fails, []byte("\n")))
	}
	for _, name := range []string{"TestSystemdScope", "TestSystemdPrivateSocket"} {
		if !bytes.Contains(output, []byte("--- PASS: "+name)) {
			t.Errorf("%s did not pass in the VM", name)
		}
	}
}

// writeTar writes files (name in the archive → host path) as a tar.
func writeTar(path string, files map[string]string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := os.ReadFile(files[n])
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	// Whole sectors: a disk's size is.
	st, _ := f.Stat()
	if r := st.Size() % 512; r != 0 {
		f.Write(make([]byte, 512-r))
	}
	return nil
}

// testUnit runs the tests as dev in a login session (PAMName=login; the
// session type and class an ssh login gets), writes the output raw on
// ttyS1 and the exit status on ttyS2, and powers off either way.
const testUnit = `[Unit]
Description=sandbox VM tests
Wants=user@1000.service
After=user@1000.service systemd-logind.service systemd-user-sessions.service dbus.service
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=simple
User=dev
PAMName=login
Environment=XDG_SESSION_TYPE=tty XDG_SESSION_CLASS=user
WorkingDirectory=/home/dev
StandardOutput=file:/dev/ttyS1
StandardError=file:/dev/ttyS1
ExecStartPre=+/bin/stty -F /dev/ttyS1 raw -echo
ExecStartPre=+/bin/stty -F /dev/ttyS2 raw -echo
ExecStart=/opt/guest.test -test.v -test.run ^TestSystemd -test.timeout 12m
ExecStopPost=+/bin/sh -c 'echo "VM_RC=$EXIT_STATUS" > /dev/ttyS2; echo VM_DONE=1 > /dev/ttyS2'

[Install]
WantedBy=multi-user.target
`

// buildSystemdImage returns the cached image, or makes it: debootstrap
// (as root) with systemd, dbus, dbus-user-session, libpam-systemd and
// uidmap; user dev (uid 1000) with subordinate ids and linger; the test
// unit; gettys, timers and modprobe@ masked (a faster boot); then an ext4
// image of it.
func buildSystemdImage(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(systemdImage); err == nil {
		return systemdImage
	}
	if os.Geteuid() != 0 {
		t.Skipf("making the systemd image needs debootstrap as root (no cached image at %s); run the suite as root", systemdImage)
	}
	for _, tool := range []string{"debootstrap", "mkfs.ext4"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	os.MkdirAll(cacheDir, 0o755)
	dir, err := os.MkdirTemp(cacheDir, "systemd-root-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	args := []string{"--variant=minbase", "--include=systemd,systemd-sysv,dbus,dbus-user-session,libpam-systemd,procps,uidmap,kmod",
		"bookworm", dir, "http://deb.debian.org/debian"}
	out, err := exec.CommandContext(ctx, "debootstrap", args...).CombinedOutput()
	unmountUnder(dir)
	if err != nil {
		t.Fatalf("debootstrap %s: %v\n%s", strings.Join(args, " "), err, tail(out, 3000))
	}
	id := make([]byte, 16)
	rand.Read(id)
	files := map[string]string{
		"etc/hostname":                         "sandboxvm\n",
		"etc/fstab":                            "",
		"etc/machine-id":                       hex.EncodeToString(id) + "\n",
		"etc/subuid":                           "dev:100000:65536\n",
		"etc/subgid":                           "dev:100000:65536\n",
		"etc/systemd/system/vmsd-test.service": testUnit,
		"var/lib/systemd/linger/dev":           "",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("chroot", dir, "useradd", "-m", "-u", "1000", "-U", "-s", "/bin/sh", "dev").CombinedOutput(); err != nil {
		t.Fatalf("useradd in the image: %v\n%s", err, out)
	}
	wants := filepath.Join(dir, "etc/systemd/system/multi-user.target.wants")
	os.MkdirAll(wants, 0o755)
	os.Symlink("/etc/systemd/system/vmsd-test.service", filepath.Join(wants, "vmsd-test.service"))
	for _, unit := range []string{"getty@.service", "serial-getty@.service", "getty-static.service", "apt-daily.timer", "apt-daily-upgrade.timer",
		"dpkg-db-backup.timer", "e2scrub_all.timer", "fstrim.timer", "e2scrub_reap.service", "modprobe@.service", "systemd-timesyncd.service"} {
		os.Symlink("/dev/null", filepath.Join(dir, "etc/systemd/system", unit))
	}
	os.RemoveAll(filepath.Join(dir, "var/cache/apt/archives"))
	tmp := fmt.Sprintf("%s.partial-%d", systemdImage, os.Getpid())
	defer os.Remove(tmp)
	f, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(1 << 30)
	f.Close()
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-d", dir, tmp).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4 -d: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, systemdImage); err != nil {
		t.Fatal(err)
	}
	return systemdImage
}

// unmountUnder unmounts what debootstrap may have left mounted in dir.
func unmountUnder(dir string) {
	b, _ := os.ReadFile("/proc/self/mounts")
	var mounts []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			mounts = append(mounts, f[1])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, m := range mounts {
		exec.Command("umount", "-l", m).Run()
	}
}
