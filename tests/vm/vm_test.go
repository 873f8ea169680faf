// Package vm boots a Debian cloud kernel under qemu (software emulation:
// -accel tcg) with cgroup v2 alone (cgroup_no_v1=all) and runs the tests
// of ./guest there, as unprivileged users to whom a cgroup subtree is
// delegated the way systemd does it: the only place on a CI machine where
// limits are enforced for real. See ../../docs/testing-vm.md.
package vm

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cacheDir keeps the kernel between runs (it is fetched with apt-get
// download, once).
const cacheDir = "/var/tmp/sandbox-tests-vm"

// modules are the kernel modules the guest loads, in dependency order:
// the virtio disk stack (the scratch disk) and overlay (the storage
// driver). ext4 and the serial ports are built in.
var modules = []string{
	"virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci", "virtio_blk", "overlay",
}

func TestCgroupV2InVM(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86): the cgroup v2 tests need the VM")
	}
	for _, tool := range []string{"mkfs.ext4", "dpkg-deb", "apt-get"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the VM harness needs it", tool)
		}
	}
	work := t.TempDir()
	kernel, modDir := fetchKernel(t)
	guest := filepath.Join(work, "guest.test")
	sandbox := filepath.Join(work, "sandbox")
	goBuild(t, "test", "-c", "-tags", "vmguest", "-o", guest, "./guest")
	goBuild(t, "build", "-o", sandbox, "github.com/sandbox-dev/sandbox")

	initrd := filepath.Join(work, "initramfs.cpio")
	if err := buildInitramfs(initrd, guest, sandbox, modDir); err != nil {
		t.Fatalf("building the initramfs: %v", err)
	}
	scratch := filepath.Join(work, "scratch.img")
	if err := makeScratch(scratch); err != nil {
		t.Fatalf("making the scratch disk: %v", err)
	}

	run := bootVM(t, vmBoot{
		qemu: qemu, name: "the VM", work: work, timeout: 20 * time.Minute, cpus: 2,
		kernel: kernel, initrd: initrd, cmdline: "console=ttyS0 quiet panic=-1 cgroup_no_v1=all",
		drives: []string{"file=" + scratch + ",format=raw,if=none,id=scratch,cache=unsafe", "scratch"},
	})
	output, st := run.output, run.status
	if st["VM_ERROR"] != "" {
		t.Fatalf("the VM's init failed: %s\nconsole:\n%s", st["VM_ERROR"], tail(run.console, 4000))
	}
	for _, uid := range []string{"1000", "1001"} {
		if rc := st["VM_RC_"+uid]; rc != "0" {
			t.Errorf("the guest tests as uid %s failed (exit %s): see the output above", uid, rc)
		}
	}
	if fails := regexp.MustCompile(`(?m)^\s*--- FAIL: .*$`).FindAll(output, -1); len(fails) > 0 {
		t.Errorf("failed in the VM:\n%s", bytes.Join(fails, []byte("\n")))
	}
	if !bytes.Contains(output, []byte("--- PASS: TestMemoryLimit")) {
		t.Errorf("TestMemoryLimit did not pass in the VM")
	}
}

// vmBoot is one qemu boot of a test VM.
type vmBoot struct {
	qemu       string // the qemu-system-x86_64 binary
	name, work string
	timeout    time.Duration
	cpus       int
	kernel     string
	initrd     string
	cmdline    string
	// drives are pairs: a qemu -drive value (with id=ID) and the serial
	// the guest finds the virtio disk by.
	drives []string
}

// vmResult is what a guest left on its serial ports: its console, the
// guest tests' output, and KEY=VALUE status lines.
type vmResult struct {
	output, console []byte
	status          map[string]string
}

// bootVM runs qemu (TCG, no display, no reboot) until the guest powers
// off, with three serial ports captured to files in b.work: console,
// output, status. It logs the run time and the output, and fails the test
// unless qemu exited cleanly and the guest said VM_DONE=1.
func bootVM(t *testing.T, b vmBoot) vmResult {
	t.Helper()
	logs := map[string]string{}
	for _, n := range []string{"console", "output", "status"} {
		logs[n] = filepath.Join(b.work, n+".log")
	}
	args := []string{
		"-accel", "tcg,thread=multi", "-cpu", "max", "-m", "1024", "-smp", strconv.Itoa(b.cpus),
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-kernel", b.kernel, "-initrd", b.initrd, "-append", b.cmdline,
		"-serial", "file:" + logs["console"], "-serial", "file:" + logs["output"], "-serial", "file:" + logs["status"],
	}
	for i := 0; i+1 < len(b.drives); i += 2 {
		id := ""
		for _, opt := range strings.Split(b.drives[i], ",") {
			if v, ok := strings.CutPrefix(opt, "id="); ok {
				id = v
			}
		}
		args = append(args, "-drive", b.drives[i], "-device", "virtio-blk-pci,drive="+id+",serial="+b.drives[i+1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.qemu, args...)
	var qemuOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &qemuOut, &qemuOut
	start := time.Now()
	runErr := cmd.Run()
	var r vmResult
	r.output, _ = os.ReadFile(logs["output"])
	status, _ := os.ReadFile(logs["status"])
	r.console, _ = os.ReadFile(logs["console"])
	r.status = parseStatus(status)
	t.Logf("%s ran for %v", b.name, time.Since(start).Round(100*time.Millisecond))
	t.Logf("guest test output:\n%s", r.output)
	if runErr != nil {
		t.Fatalf("qemu: %v\n%s\nconsole:\n%s", runErr, qemuOut.String(), tail(r.console, 4000))
	}
	if r.status["VM_ERROR"] == "" && r.status["VM_DONE"] != "1" {
		t.Fatalf("the VM stopped before the tests ended (status %q)\nconsole:\n%s", status, tail(r.console, 6000))
	}
	return r
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func parseStatus(b []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok {
			out[k] = v
		}
	}
	return out
}

// goBuild runs go ARGS with CGO_ENABLED=0 (the guest has no libc).
func goBuild(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// fetchKernel returns the cloud kernel's vmlinuz and its modules
// directory, downloading the package (apt-get download, no root needed)
// into the cache the first time.
func fetchKernel(t *testing.T) (vmlinuz, modDir string) {
	t.Helper()
	pkg, err := kernelPackage()
	if err != nil {
		t.Fatalf("finding the cloud kernel package: %v", err)
	}
	dir := filepath.Join(cacheDir, pkg)
	if _, err := os.Stat(filepath.Join(dir, "done")); err != nil {
		tmp := dir + ".tmp"
		os.RemoveAll(tmp)
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			t.Fatal(err)
		}
		dl := exec.Command("apt-get", "download", pkg)
		dl.Dir = tmp
		if out, err := dl.CombinedOutput(); err != nil {
			t.Fatalf("apt-get download %s: %v\n%s", pkg, err, out)
		}
		debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
		if len(debs) != 1 {
			t.Fatalf("apt-get download %s left %v", pkg, debs)
		}
		if out, err := exec.Command("dpkg-deb", "-x", debs[0], filepath.Join(tmp, "root")).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
		}
		os.Remove(debs[0])
		os.WriteFile(filepath.Join(tmp, "done"), nil, 0o644)
		os.RemoveAll(dir)
		if err := os.Rename(tmp, dir); err != nil {
			t.Fatal(err)
		}
	}
	kernels, _ := filepath.Glob(filepath.Join(dir, "root", "boot", "vmlinuz-*"))
	mods, _ := filepath.Glob(filepath.Join(dir, "root", "lib", "modules", "*"))
	if len(kernels) != 1 || len(mods) != 1 {
		t.Fatalf("the package %s holds kernels %v and module trees %v", pkg, kernels, mods)
	}
	return kernels[0], mods[0]
}

// kernelPackage is the versioned package linux-image-cloud-amd64 depends
// on, like linux-image-6.1.0-28-cloud-amd64.
func kernelPackage() (string, error) {
	out, err := exec.Command("apt-cache", "depends", "linux-image-cloud-amd64").Output()
	if err != nil {
		return "", fmt.Errorf("apt-cache depends linux-image-cloud-amd64: %w", err)
	}
	m := regexp.MustCompile(`Depends: (linux-image-[0-9][^\s]*-cloud-amd64)`).FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("no kernel among the dependencies of linux-image-cloud-amd64:\n%s", out)
	}
	return string(m[1]), nil
}

// makeScratch makes the ext4 scratch disk (256 MiB, sparse).
func makeScratch(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	f.Truncate(256 << 20)
	f.Close()
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=1", path).CombinedOutput(); err != nil {
		return fmt.Errorf("mkfs.ext4: %v\n%s", err, out)
	}
	return nil
}

// buildInitramfs writes the guest's root: the test binary as /init, the
// sandbox binary, static busybox, newuidmap/newgidmap setuid root with
// their libraries, the users' files and the modules.
func buildInitramfs(out, guest, sandbox, modDir string) error {
	w, err := newCpio(out)
	if err != nil {
		return err
	}
	dirs := []string{"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "opt", "modules", "proc", "sys", "dev", "tmp", "run", "scratch", "lib", "lib64", "lib/x86_64-linux-gnu"}
	for _, d := range dirs {
		w.dir(d, 0o755)
	}
	if err := w.file("init", guest, 0o755); err != nil {
		return err
	}
	if err := w.file("opt/sandbox", sandbox, 0o755); err != nil {
		return err
	}
	busybox, err := staticBusybox()
	if err != nil {
		return err
	}
	if err := w.file("bin/busybox", busybox, 0o755); err != nil {
		return err
	}
	list, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, a := range strings.Fields(string(list)) {
		if a != "busybox" {
			w.symlink("bin/"+a, "busybox")
		}
	}
	libs := map[string]bool{}
	for _, helper := range []string{"newuidmap", "newgidmap"} {
		p, err := exec.LookPath(helper)
		if err != nil {
			return fmt.Errorf("%s is not installed (apt-get install uidmap): %w", helper, err)
		}
		if err := w.file("usr/bin/"+helper, p, 0o4755); err != nil {
			return err
		}
		deps, err := sharedLibs(p)
		if err != nil {
			return err
		}
		for _, l := range deps {
			libs[l] = true
		}
	}
	for l := range libs {
		real, err := filepath.EvalSymlinks(l)
		if err != nil {
			return err
		}
		if err := w.file(strings.TrimPrefix(l, "/"), real, 0o755); err != nil {
			return err
		}
	}
	w.data("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nuser1000:x:1000:1000::/scratch/home-1000:/bin/sh\nuser1001:x:1001:1001::/scratch/home-1001:/bin/sh\n", 0o644)
	w.data("etc/group", "root:x:0:\nuser1000:x:1000:\nuser1001:x:1001:\n", 0o644)
	w.data("etc/subuid", "user1000:100000:65536\nuser1001:200000:65536\n", 0o644)
	w.data("etc/subgid", "user1000:100000:65536\nuser1001:200000:65536\n", 0o644)
	var order []string
	for _, m := range modules {
		found, err := findModule(modDir, m)
		if err != nil {
			return err
		}
		if err := w.file("modules/"+m+".ko", found, 0o644); err != nil {
			return err
		}
		order = append(order, m+".ko")
	}
	w.data("modules/order", strings.Join(order, "\n")+"\n", 0o644)
	return w.close()
}

func staticBusybox() (string, error) {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		static := true
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if static {
			return p, nil
		}
	}
	return "", errors.New("no static busybox (apt-get install busybox-static)")
}

// sharedLibs lists the libraries (and the loader) a binary needs, by ldd.
func sharedLibs(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	var libs []string
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "/") {
			libs = append(libs, f)
		}
	}
	return libs, nil
}

// findModule finds NAME.ko (or .ko.xz, which the guest cannot load: an
// error) in the kernel's module tree.
func findModule(modDir, name string) (string, error) {
	var found string
	filepath.WalkDir(modDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (d.Name() == name+".ko" || d.Name() == strings.ReplaceAll(name, "_", "-")+".ko") {
			found = p
			return filepath.SkipAll
		}
		return nil
	})
	if found == "" {
		return "", fmt.Errorf("module %s.ko not found under %s", name, modDir)
	}
	return found, nil
}
