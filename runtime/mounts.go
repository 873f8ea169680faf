package runtime

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/fuseoverlay"
)

// setupRootfs builds the container's filesystem view and pivots into it.
// It runs in the init, inside the new user and mount namespaces, as root
// there with every capability.
func setupRootfs(spec *Spec) error {
	// Nothing we mount may leak back into the host's view. In a namespace
	// owned by an unprivileged user the kernel already demotes shared
	// mounts to slaves; say so explicitly rather than rely on it.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("making the mount namespace private: %w", err)
	}
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("setting the hostname %q: %w", spec.Hostname, err)
		}
	}
	// Volumes are cloned before the root exists, so that no clone can
	// hold the sandbox's own mounts (volume.go).
	vols := make([]detachedVolume, len(spec.Mounts))
	for i, m := range spec.Mounts {
		if m.Type != "bind" {
			continue
		}
		v, err := cloneVolume(m)
		if err != nil {
			return err
		}
		defer v.tree.Close()
		vols[i] = v
	}
	res, err := fuseoverlay.Mount(spec.Rootfs)
	if err != nil {
		return err
	}
	report(status{Type: "rootfs", Driver: string(res.Driver), Msg: res.Reason})
	Trace("rootfs mounted (%s)", res.Driver)
	rootDir := spec.Rootfs.Target
	if err := prepareRootfs(spec, rootDir, vols); err != nil {
		return err
	}
	Trace("mounts done")
	if err := pivotRoot(rootDir); err != nil {
		return err
	}
	Trace("pivoted")
	if spec.ReadOnly {
		if err := fuseoverlay.RemountReadOnly("/"); err != nil {
			return fmt.Errorf("making the root read-only: %w", err)
		}
	}
	return nil
}

// devices are bound from the host: a tmpfs made in a user namespace is
// always nodev, so device nodes must come from the host's devtmpfs.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// AptConfigPath is where Spec.AptConfig goes, relative to the root.
const AptConfigPath = "etc/apt/apt.conf.d/00sandbox-fakeroot"

// maskedFiles and maskedDirs hide kernel information a container has no
// business reading; readOnlyPaths may be read but never written. These are
// the lists docker and podman use.
var (
	maskedFiles = []string{"proc/kcore", "proc/keys", "proc/timer_list", "proc/sched_debug",
		"proc/latency_stats", "proc/timer_stats"}
	maskedDirs    = []string{"proc/acpi", "proc/scsi", "sys/firmware", "sys/devices/virtual/powercap"}
	readOnlyPaths = []string{"proc/sys", "proc/sysrq-trigger", "proc/irq", "proc/bus", "proc/fs", "proc/asound"}
)

func prepareRootfs(spec *Spec, rootDir string, vols []detachedVolume) error {
	root, err := os.OpenRoot(rootDir)
	if err != nil {
		return fmt.Errorf("opening the container root %q: %w", rootDir, err)
	}
	defer root.Close()
	m := mounter{root: root, rootDir: rootDir}
	const nsd = unix.MS_NOSUID | unix.MS_NODEV
	m.mount("proc", "proc", "proc", nsd|unix.MS_NOEXEC, "")
	m.mount("dev", "tmpfs", "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=65536k")
	for _, d := range devices {
		m.bind("/dev/"+d, "dev/"+d, false, false)
	}
	for _, d := range spec.Devices {
		m.bind(d.Source, strings.TrimPrefix(d.Target, "/"), false, d.ReadOnly)
	}
	ptsOpts := "newinstance,ptmxmode=0666,mode=0620"
	if spec.GIDs > 5 {
		ptsOpts += ",gid=5" // the tty group, when the map has it
	}
	m.mount("dev/pts", "devpts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, ptsOpts)
	m.symlink("pts/ptmx", "dev/ptmx")
	shm := "size=65536k"
	if spec.ShmSize > 0 {
		shm = "size=" + strconv.FormatInt(spec.ShmSize, 10)
	}
	m.mount("dev/shm", "shm", "tmpfs", nsd|unix.MS_NOEXEC, "mode=1777,"+shm)
	m.mount("dev/mqueue", "mqueue", "mqueue", nsd|unix.MS_NOEXEC, "")
	m.symlink("/proc/self/fd", "dev/fd")
	m.symlink("/proc/self/fd/0", "dev/stdin")
	m.symlink("/proc/self/fd/1", "dev/stdout")
	m.symlink("/proc/self/fd/2", "dev/stderr")
	if spec.SysFromHost {
		// Mounting sysfs needs a network namespace of our own; with the
		// host's network, show the host's /sys read-only instead.
		m.bind("/sys", "sys", true, true)
		m.readOnlySubmounts(filepath.Join(rootDir, "sys"))
	} else {
		m.mount("sys", "sysfs", "sysfs", nsd|unix.MS_NOEXEC|unix.MS_RDONLY, "")
	}
	for _, t := range spec.Tmpfs {
		m.mount(strings.TrimPrefix(t, "/"), "tmpfs", "tmpfs", nsd, "mode=1777")
	}
	for _, f := range []struct{ src, dst string }{
		{spec.Hosts, "etc/hosts"}, {spec.Resolv, "etc/resolv.conf"}, {spec.HostnameFile, "etc/hostname"},
	} {
		if f.src != "" {
			m.bind(f.src, f.dst, false, false)
		}
	}
	if fi, err := root.Lstat(filepath.Dir(AptConfigPath)); spec.AptConfig != "" && err == nil && fi.IsDir() {
		m.bind(spec.AptConfig, AptConfigPath, false, true)
	}
	for i, v := range spec.Mounts {
		target := strings.TrimPrefix(filepath.Clean(v.Target), "/")
		switch v.Type {
		case "tmpfs":
			flags := uintptr(nsd)
			if v.ReadOnly {
				flags |= unix.MS_RDONLY
			}
			m.mount(target, "tmpfs", "tmpfs", flags, v.Options)
		default:
			if v.Volume != "" && m.err == nil {
				if err := seedVolume(m.root, target, vols[i]); err != nil {
					m.err = seedError(v, err)
				}
			}
			m.attach(vols[i], target)
		}
	}
	for _, sc := range spec.Sysctls {
		name, value, _ := strings.Cut(sc, "=")
		if m.err == nil {
			// Through the root: proc/sys is the sandbox's own procfs.
			rel := "proc/sys/" + strings.ReplaceAll(name, ".", "/")
			if err := m.root.WriteFile(rel, []byte(value), 0); err != nil {
				m.err = fmt.Errorf("--sysctl %s: %w", sc, err)
			}
		}
	}
	if spec.Privileged {
		return m.err // --privileged: nothing of /proc or /sys is hidden
	}
	for _, p := range maskedFiles {
		if _, err := root.Lstat(p); err == nil {
			m.bind(filepath.Join(rootDir, "dev/null"), p, false, false)
		}
	}
	for _, p := range maskedDirs {
		if fi, err := root.Lstat(p); err == nil && fi.IsDir() {
			m.mount(p, "tmpfs", "tmpfs", nsd|unix.MS_RDONLY, "size=0")
		}
	}
	for _, p := range readOnlyPaths {
		if _, err := root.Lstat(p); err == nil {
			m.bind(filepath.Join(rootDir, p), p, true, true)
		}
	}
	return m.err
}

// mounter mounts onto paths inside the container root. Each target is
// resolved through an os.Root, so that a symlink in the image (say /proc ->
// /etc) can never point a mount at the host's tree; the mount then goes to
// /proc/self/fd/N of the opened target. The first error sticks.
type mounter struct {
	root    *os.Root
	rootDir string
	err     error
}

// target creates rel (a directory, or an empty file when file is true)
// if missing and opens it for use as a mount point.
func (m *mounter) target(rel string, file bool) (*os.File, error) {
	if file {
		if err := m.root.MkdirAll(filepath.Dir(rel), 0o755); err != nil {
			return nil, err
		}
		if _, err := m.root.Lstat(rel); err != nil {
			f, err := m.root.OpenFile(rel, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return nil, err
			}
			f.Close()
		}
	} else if err := m.root.MkdirAll(rel, 0o755); err != nil {
		return nil, err
	}
	return m.root.OpenFile(rel, unix.O_PATH, 0)
}

func (m *mounter) mount(rel, source, fstype string, flags uintptr, data string) {
	if m.err != nil {
		return
	}
	t, err := m.target(rel, false)
	if err == nil {
		err = unix.Mount(source, fdPath(t), fstype, flags, data)
		t.Close()
	}
	if err != nil {
		m.err = fmt.Errorf("mounting %s on /%s: %w", fstype, rel, err)
	}
}

// bind binds the host path src onto rel, recursively when rec.
func (m *mounter) bind(src, rel string, rec, readOnly bool) {
	if m.err != nil {
		return
	}
	fi, err := os.Stat(src)
	if err != nil {
		m.err = fmt.Errorf("binding %q: %w", src, err)
		return
	}
	t, err := m.target(rel, !fi.IsDir())
	if err == nil {
		flags := uintptr(unix.MS_BIND)
		if rec {
			flags |= unix.MS_REC
		}
		err = unix.Mount(src, fdPath(t), "", flags, "")
		t.Close()
		if err == nil && readOnly {
			// The old descriptor names the directory under the new mount;
			// open the path again to reach the mount itself.
			if t, err = m.root.OpenFile(rel, unix.O_PATH, 0); err == nil {
				err = fuseoverlay.RemountReadOnly(fdPath(t))
				t.Close()
			}
		}
	}
	if err != nil {
		m.err = fmt.Errorf("binding %q on /%s: %w", src, rel, err)
	}
}

// attach moves a detached volume tree onto rel.
func (m *mounter) attach(v detachedVolume, rel string) {
	if m.err != nil {
		return
	}
	t, err := m.target(rel, !v.dir)
	if err == nil {
		err = unix.MoveMount(int(v.tree.Fd()), "", int(t.Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
		t.Close()
	}
	if err != nil {
		m.err = fmt.Errorf("mounting volume %q on /%s: %w", v.tree.Name(), rel, err)
	}
}

func (m *mounter) symlink(target, rel string) {
	if m.err != nil {
		return
	}
	if err := m.root.Symlink(target, rel); err != nil && !os.IsExist(err) {
		m.err = fmt.Errorf("creating /%s: %w", rel, err)
	}
}

// readOnlySubmounts remounts read-only every mount below dir (a recursive
// bind keeps the submounts' own flags).
func (m *mounter) readOnlySubmounts(dir string) {
	if m.err != nil {
		return
	}
	// One call for the whole subtree (Linux 5.12+; all or nothing): the
	// host's /sys can hold a dozen submounts, each a remount otherwise.
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if unix.MountSetattr(unix.AT_FDCWD, dir, unix.AT_RECURSIVE, &attr) == nil {
		return
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		m.err = err
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if strings.HasPrefix(mp, dir+"/") {
			// Some kernel mounts refuse (EPERM when locked flags differ,
			// EACCES): a read-only parent already blocks path walks that
			// create, so skip rather than fail the container.
			fuseoverlay.RemountReadOnly(mp)
		}
	}
}

func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func fdPath(f *os.File) string { return "/proc/self/fd/" + strconv.Itoa(int(f.Fd())) }

// pivotRoot makes rootDir the root and detaches the old one, so nothing of
// the host's tree stays reachable. pivot_root(".", ".") stacks the old root
// on top of the new one, where a lazy unmount removes it.
func pivotRoot(rootDir string) error {
	if err := unix.Chdir(rootDir); err != nil {
		return fmt.Errorf("entering %q: %w", rootDir, err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root to %q: %w", rootDir, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the old root: %w", err)
	}
	return unix.Chdir("/")
}
