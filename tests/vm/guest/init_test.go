//go:build vmguest

// Package guest holds the cgroup v2 tests that run inside the test VM
// (tests/vm boots it): real limits, enforced by a real kernel, on an
// unprivileged user in a delegated subtree.
//
// The same static test binary is the VM's /init: as PID 1 it mounts what
// a booted system has, loads the kernel modules, delegates a cgroup
// subtree to each test user the way systemd and logind do, and runs
// itself as that user, in that user's "app.slice/test.scope", to run the
// tests. Its results leave through the serial ports: the tests' output on
// ttyS1, "VM_RC=N" per user on ttyS2.
package guest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	switch {
	case os.Getpid() == 1:
		vmInit()
	case os.Getenv("VM_HOG_MIB") != "":
		hog()
	case os.Getenv("VM_FORKER") != "":
		forker()
	default:
		os.Exit(m.Run())
	}
}

// testUser is a user the tests run as, with the controllers delegated to
// it: uid 1000 gets all four, uid 1001 what stock systemd delegates.
type testUser struct {
	uid         int
	controllers string
	run, skip   string // -test.run and -test.skip patterns
}

var testUsers = []testUser{
	{1000, "cpu io memory pids", ".", "^TestStockDelegation$|^TestSystemd"},
	{1001, "cpu memory pids", "^TestStockDelegation$", "^$"},
}

// vmInit is PID 1. It never returns: it powers the VM off.
func vmInit() {
	if os.Getenv("VM_SWITCHED") == "" {
		if systemdMode() {
			bootSystemd() // never returns
		}
		switchRoot()
	}
	status := os.Stderr // the console, until /dev is mounted
	defer poweroff()
	must := func(what string, err error) {
		if err != nil {
			fmt.Fprintf(status, "VM_ERROR=%s: %v\n", what, err)
			poweroff()
		}
	}
	for _, m := range []struct{ fs, dir, opts string }{
		{"proc", "/proc", ""}, {"sysfs", "/sys", ""}, {"devtmpfs", "/dev", ""},
		{"tmpfs", "/tmp", "mode=1777"}, {"tmpfs", "/run", "mode=755"},
	} {
		os.MkdirAll(m.dir, 0o755)
		must("mount "+m.dir, unix.Mount(m.fs, m.dir, m.fs, 0, m.opts))
	}
	os.MkdirAll("/dev/pts", 0o755)
	must("mount /dev/pts", unix.Mount("devpts", "/dev/pts", "devpts", 0, "newinstance,ptmxmode=0666,mode=620"))
	loadModules(must)
	out, err := os.OpenFile("/dev/ttyS1", os.O_WRONLY, 0)
	must("opening ttyS1", err)
	status, err = os.OpenFile("/dev/ttyS2", os.O_WRONLY, 0)
	must("opening ttyS2", err)
	for _, f := range []*os.File{out, status} {
		raw(f)
	}
	must("mount cgroup2", unix.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, "nsdelegate,memory_recursiveprot"))
	must("mount scratch", mountScratch())
	for _, u := range testUsers {
		scope, err := delegate(u)
		must(fmt.Sprintf("delegating to uid %d", u.uid), err)
		code := runAs(u, scope, out)
		fmt.Fprintf(status, "VM_RC_%d=%d\n", u.uid, code)
	}
	fmt.Fprintln(status, "VM_DONE=1")
	status.Sync()
	out.Sync()
}

// switchRoot copies the initramfs into a tmpfs, makes that the root and
// runs /init again there. pivot_root, which every container start uses,
// refuses to leave the initramfs (rootfs cannot be unmounted): real
// systems leave it the same way.
func switchRoot() {
	fail := func(what string, err error) {
		fmt.Fprintf(os.Stderr, "VM_ERROR=switching root: %s: %v\n", what, err)
		poweroff()
	}
	if err := os.MkdirAll("/newroot", 0o755); err != nil {
		fail("mkdir", err)
	}
	if err := unix.Mount("tmpfs", "/newroot", "tmpfs", 0, "mode=755"); err != nil {
		fail("mount", err)
	}
	err := filepath.Walk("/", func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == "/" {
			return err
		}
		if p == "/newroot" {
			return filepath.SkipDir
		}
		dst := "/newroot" + p
		mode := fi.Mode()
		switch {
		case mode.IsDir():
			return os.Mkdir(dst, mode.Perm())
		case mode&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		case mode.IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(dst, b, 0o600); err != nil {
				return err
			}
			return os.Chmod(dst, fileMode(mode))
		}
		return nil
	})
	if err != nil {
		fail("copying", err)
	}
	for _, step := range []struct {
		what string
		fn   func() error
	}{
		{"chdir", func() error { return unix.Chdir("/newroot") }},
		{"move", func() error { return unix.Mount(".", "/", "", unix.MS_MOVE, "") }},
		{"chroot", func() error { return unix.Chroot(".") }},
		{"chdir /", func() error { return unix.Chdir("/") }},
	} {
		if err := step.fn(); err != nil {
			fail(step.what, err)
		}
	}
	os.Setenv("VM_SWITCHED", "1")
	fail("exec", unix.Exec("/init", []string{"/init"}, os.Environ()))
}

// fileMode keeps setuid and setgid bits, which os.FileMode holds apart.
func fileMode(m os.FileMode) os.FileMode {
	out := m.Perm()
	if m&os.ModeSetuid != 0 {
		out |= os.ModeSetuid
	}
	if m&os.ModeSetgid != 0 {
		out |= os.ModeSetgid
	}
	return out
}

func poweroff() {
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	os.Exit(0)
}

// loadModules loads /modules/*.ko in the order of /modules/order.
func loadModules(must func(string, error)) {
	b, err := os.ReadFile("/modules/order")
	if err != nil {
		return
	}
	for _, name := range strings.Fields(string(b)) {
		f, err := os.Open(filepath.Join("/modules", name))
		must("opening module "+name, err)
		if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && err != unix.EEXIST {
			must("loading module "+name, err)
		}
		f.Close()
	}
}

// raw makes a serial port pass bytes as they are (no \n → \r\n).
func raw(f *os.File) {
	t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		return
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t)
}

// mountScratch mounts the virtio disk whose serial is "scratch" (ext4,
// made by the host) at /scratch: the tests' stores, and the disk the io
// limits are tried on.
func mountScratch() error {
	dev, err := diskBySerial("scratch")
	if err != nil {
		return err
	}
	os.MkdirAll("/scratch", 0o755)
	if err := unix.Mount(dev, "/scratch", "ext4", 0, ""); err != nil {
		return fmt.Errorf("mounting %s: %w", dev, err)
	}
	return os.Chmod("/scratch", 0o1777)
}

func diskBySerial(serial string) (string, error) {
	blocks, _ := filepath.Glob("/sys/block/vd*")
	for _, b := range blocks {
		s, _ := os.ReadFile(filepath.Join(b, "serial"))
		if strings.TrimSpace(string(s)) == serial {
			return "/dev/" + filepath.Base(b), nil
		}
	}
	return "", fmt.Errorf("no virtio disk with serial %q", serial)
}

// delegate does what systemd and logind do for a user: enable the
// controllers down to user-UID.slice, make user@UID.service the user's
// (with the controllers u.controllers), and inside it app.slice and a
// test.scope, as the user manager would. It returns the scope.
func delegate(u testUser) (string, error) {
	cg := "/sys/fs/cgroup"
	all := "+cpu +io +memory +pids"
	var ctrls []string
	for _, c := range strings.Fields(u.controllers) {
		ctrls = append(ctrls, "+"+c)
	}
	mine := strings.Join(ctrls, " ")
	slice := filepath.Join(cg, "user.slice", fmt.Sprintf("user-%d.slice", u.uid))
	svc := filepath.Join(slice, fmt.Sprintf("user@%d.service", u.uid))
	app := filepath.Join(svc, "app.slice")
	scope := filepath.Join(app, "test.scope")
	steps := []struct {
		mkdir, ctl, val string
	}{
		{"", filepath.Join(cg, "cgroup.subtree_control"), all},
		{filepath.Join(cg, "user.slice"), filepath.Join(cg, "user.slice", "cgroup.subtree_control"), all},
		{slice, filepath.Join(slice, "cgroup.subtree_control"), mine},
		{svc, filepath.Join(svc, "cgroup.subtree_control"), mine},
		{app, filepath.Join(app, "cgroup.subtree_control"), mine},
		{scope, "", ""},
	}
	for _, s := range steps {
		if s.mkdir != "" {
			if err := os.Mkdir(s.mkdir, 0o755); err != nil && !os.IsExist(err) {
				return "", err
			}
		}
		if s.ctl != "" {
			if err := os.WriteFile(s.ctl, []byte(s.val), 0); err != nil {
				return "", fmt.Errorf("%s: %w", s.ctl, err)
			}
		}
	}
	// What systemd hands over: the service's directory and its
	// cgroup.procs, cgroup.subtree_control and cgroup.threads; what the
	// user manager makes inside is the user's own, every file of it.
	for _, p := range []string{svc, svc + "/cgroup.procs", svc + "/cgroup.subtree_control", svc + "/cgroup.threads"} {
		if err := os.Chown(p, u.uid, u.uid); err != nil {
			return "", err
		}
	}
	for _, dir := range []string{app, scope} {
		entries, _ := os.ReadDir(dir)
		os.Chown(dir, u.uid, u.uid)
		for _, e := range entries {
			os.Chown(filepath.Join(dir, e.Name()), u.uid, u.uid)
		}
	}
	return scope, nil
}

// runAs runs this binary's tests as u, started in scope; it returns the
// exit code.
func runAs(u testUser, scope string, out *os.File) int {
	home := fmt.Sprintf("/scratch/home-%d", u.uid)
	os.MkdirAll(home, 0o755)
	os.Chown(home, u.uid, u.uid)
	runtimeDir := fmt.Sprintf("/run/user/%d", u.uid)
	// /run/user as logind makes it, open to all: MkdirAll would make it
	// 0700 too, and the user could not reach their own directory (every
	// start then ran without its runtime directory: no installed init).
	os.MkdirAll("/run/user", 0o755)
	os.MkdirAll(runtimeDir, 0o700)
	os.Chown(runtimeDir, u.uid, u.uid)
	dir, err := os.Open(scope)
	if err != nil {
		fmt.Fprintf(out, "opening %s: %v\n", scope, err)
		return 125
	}
	defer dir.Close()
	args := []string{"/init", "-test.v", "-test.run", u.run, "-test.skip", u.skip, "-test.timeout", "20m"}
	cmd := &exec.Cmd{
		Path: "/init",
		Args: args,
		Env: []string{"HOME=" + home, "USER=user" + strconv.Itoa(u.uid), "PATH=/usr/bin:/bin:/usr/sbin:/sbin",
			"XDG_RUNTIME_DIR=" + runtimeDir, "TMPDIR=/tmp", "VM_DELEGATED=" + u.controllers},
		Dir:    home,
		Stdout: out,
		Stderr: out,
		SysProcAttr: &syscall.SysProcAttr{
			Credential:  &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.uid), Groups: []uint32{}},
			UseCgroupFD: true,
			CgroupFD:    int(dir.Fd()),
		},
	}
	fmt.Fprintf(out, "=== uid %d, delegated: %s, in %s\n", u.uid, u.controllers, strings.TrimPrefix(scope, "/sys/fs/cgroup"))
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintf(out, "running the tests as uid %d: %v\n", u.uid, err)
		return 125
	}
	return 0
}

// hog is the payload of the memory tests: it allocates and touches
// VM_HOG_MIB MiB, then says so and exits 0.
func hog() {
	n, _ := strconv.Atoi(os.Getenv("VM_HOG_MIB"))
	var keep [][]byte
	for i := 0; i < n; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		keep = append(keep, b)
	}
	fmt.Printf("allocated %d MiB\n", len(keep))
}

// forker is the payload of the pids test: it starts sleeping children
// until the kernel refuses one, says how it was refused, kills them, and
// exits 0: the container lives on.
func forker() {
	var kids []*os.Process
	for i := 0; i < 1000; i++ {
		p, err := os.StartProcess("/bin/sleep", []string{"sleep", "60"}, &os.ProcAttr{})
		if err != nil {
			fmt.Printf("fork %d refused: %v\n", i+1, err)
			break
		}
		kids = append(kids, p)
	}
	for _, p := range kids {
		p.Kill()
		p.Wait()
	}
	fmt.Printf("still alive after %d children\n", len(kids))
}
