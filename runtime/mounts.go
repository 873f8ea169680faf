package runtime

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/fuseoverlay"
	"github.com/sandbox-dev/sandbox/plan"
)

// setupRootfs builds the container's filesystem view and pivots into it.
// It runs in the init, inside the new user and mount namespaces, as root
// there with every capability.
func setupRootfs(spec *Spec) error {
	rootDir := spec.Rootfs.Target
	pre := plan.New(rootDir)
	addNamespaceSetup(pre, spec, true)
	if err := pre.Run(); err != nil {
		return err
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
	if err := prepareRootfs(spec, rootDir, vols); err != nil {
		return err
	}
	Trace("mounts done")
	post := plan.New(rootDir)
	addPivot(post, rootDir, spec.ReadOnly)
	if err := post.Run(); err != nil {
		return err
	}
	Trace("pivoted")
	return nil
}

// addNamespaceSetup adds what comes before the root filesystem: the
// mount namespace's propagation and the hostname.
//
// private is false in a spare root's mount namespace (spareroot.go),
// whose holder made its mounts slaves before it mounted anything, and
// which no other process has been in since: the walk over the host's
// mounts again cost 0.03 ms (strace -T).
func addNamespaceSetup(p *plan.Plan, spec *Spec, private bool) {
	if private {
		addPrivate(p)
	}
	if spec.Hostname != "" {
		name := []byte(spec.Hostname)
		p.Syscall(fmt.Sprintf("setting the hostname %q", spec.Hostname), unix.SYS_SETHOSTNAME, p.Ptr(name, unsafe.Pointer(&name[0])), uintptr(len(name)))
	}
}

// addPrivate makes the mount namespace's mounts slaves: nothing we mount
// may leak back into the host's view. In a namespace owned by an
// unprivileged user the kernel already demotes shared mounts to slaves;
// this says so explicitly rather than rely on it.
func addPrivate(p *plan.Plan) {
	p.Syscall("making the mount namespace private", unix.SYS_MOUNT, p.Str(""), p.Str("/"), p.Str(""), unix.MS_REC|unix.MS_SLAVE, 0)
}

// addPivot makes rootDir the root and detaches the old one, so nothing of
// the host's tree stays reachable: pivot_root(".", ".") stacks the old
// root on top of the new one, where a lazy unmount removes it. Then the
// root is made read-only if asked.
func addPivot(p *plan.Plan, rootDir string, readOnly bool) {
	p.Syscall(fmt.Sprintf("entering %q", rootDir), unix.SYS_CHDIR, p.Str(rootDir))
	dot := p.Str(".")
	p.Syscall(fmt.Sprintf("pivot_root to %q", rootDir), unix.SYS_PIVOT_ROOT, dot, dot)
	p.Syscall("detaching the old root", unix.SYS_UMOUNT2, dot, unix.MNT_DETACH)
	p.Syscall("entering /", unix.SYS_CHDIR, p.Str("/"))
	if readOnly {
		p.ReadOnlyAt("making the root read-only", "/")
	}
}

// devices are bound from the host: a tmpfs made in a user namespace is
// always nodev, so device nodes must come from the host's devtmpfs.
var hostDevices = []string{"null", "zero", "full", "random", "urandom", "tty"}

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

// prepareRootfs mounts what the container sees under rootDir: the base
// (addRootfs), then its volumes and sysctls, then, unless privileged, the
// masks (addMasks). Without volumes and sysctls that is one plan.
func prepareRootfs(spec *Spec, rootDir string, vols []detachedVolume) error {
	p := plan.New(rootDir)
	if err := addRootfs(p, spec, false); err != nil {
		return err
	}
	if len(spec.Mounts) == 0 && len(spec.Sysctls) == 0 {
		if !spec.Privileged {
			addMasks(p)
		}
		return p.Run()
	}
	if err := p.Run(); err != nil {
		return err
	}
	if err := mountVolumes(spec, rootDir, vols); err != nil {
		return err
	}
	if spec.Privileged {
		return nil // --privileged: nothing of /proc or /sys is hidden
	}
	m := plan.New(rootDir)
	m.OpenRoot()
	addMasks(m)
	return m.Run()
}

// addRootfs adds what every container has, once its root filesystem is
// mounted: /proc, /dev and its nodes, /sys, the --tmpfs mounts and the
// generated /etc files; with premade, /dev and /sys are there already
// (a spare's root: spareRoot). Host paths are looked at here (a bind's
// target is a directory or a file as its source is); nothing inside the
// root is, so the plan can be made before the root exists.
func addRootfs(p *plan.Plan, spec *Spec, premade bool) error {
	p.OpenRoot()
	const nsd = unix.MS_NOSUID | unix.MS_NODEV
	b := binder{p: p}
	if !premade {
		addDevSys(p, devSysOf(spec), spec.Devices, &b)
	}
	// /proc after /dev and /sys, premade or not: the container's mount
	// table is in the same order either way.
	p.Mount("proc", "proc", "proc", nsd|unix.MS_NOEXEC, "")
	addTmpfs(p, spec)
	for _, f := range etcFiles(spec) {
		b.bind(f.src, f.dst, false, false)
	}
	if spec.AptConfig != "" {
		p.IfExists(filepath.Dir(AptConfigPath), true)
		b.bind(spec.AptConfig, AptConfigPath, false, true)
	}
	if b.err == nil {
		b.err = p.Err()
	}
	return b.err
}

// addJoinedRootfs is addRootfs in a spare root's namespace, joined
// (rawRoot.joined), where /dev and /sys are in place and the root is
// "/": the /proc made before the join, detached at procFD, then the /etc
// files cloned before it, from etcFD on (etcFiles' order), attached,
// then the --tmpfs mounts. The caller closes the descriptors.
func addJoinedRootfs(p *plan.Plan, spec *Spec, procFD, etcFD int) {
	p.OpenRoot()
	p.AttachTree("mounting proc on /proc", procFD, "proc", true)
	for i, f := range etcFiles(spec) {
		p.AttachTree(fmt.Sprintf("binding %q on /%s", f.src, f.dst), etcFD+i, f.dst, false)
	}
	addTmpfs(p, spec)
}

// addTmpfs adds the --tmpfs mounts.
func addTmpfs(p *plan.Plan, spec *Spec) {
	for _, t := range spec.Tmpfs {
		p.Mount(t, "tmpfs", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777")
	}
}

// etcFile is a file made for the container and bound in at dst.
type etcFile struct{ src, dst string }

// etcFiles are spec's generated /etc files, by target.
func etcFiles(spec *Spec) []etcFile {
	var files []etcFile
	for _, f := range []etcFile{{spec.Hosts, "etc/hosts"}, {spec.Resolv, "etc/resolv.conf"}, {spec.HostnameFile, "etc/hostname"}} {
		if f.src != "" {
			files = append(files, f)
		}
	}
	return files
}

// binder adds binds of host paths to a plan, each a directory or a file
// as its source is; err is the first source it could not look at.
type binder struct {
	p   *plan.Plan
	err error
}

func (b *binder) bind(src, rel string, rec, ro bool) {
	if b.err != nil {
		return
	}
	fi, err := os.Stat(src)
	if err != nil {
		b.err = fmt.Errorf("binding %q: %w", src, err)
		return
	}
	b.p.Bind(src, rel, fi.IsDir(), rec, ro)
}

// devSys is what a container's /dev and /sys depend on besides its
// devices: the same for every start of a launch, so that a spare's
// holder can make them ahead for the next (spareRoot).
type devSys struct {
	Pts, Shm    string // devpts's and /dev/shm's mount options
	SysFromHost bool   // the host's /sys, read-only, instead of a sysfs
}

// devSysOf is spec's.
func devSysOf(spec *Spec) devSys {
	d := devSys{Pts: "newinstance,ptmxmode=0666,mode=0620", Shm: "mode=1777,size=65536k", SysFromHost: spec.SysFromHost}
	if spec.GIDs > 5 {
		d.Pts += ",gid=5" // the tty group, when the map has it
	}
	if spec.ShmSize > 0 {
		d.Shm = "mode=1777,size=" + strconv.FormatInt(spec.ShmSize, 10)
	}
	return d
}

// addDevSys adds /dev (a tmpfs, the host's device nodes bound in, then
// devices, a devpts of its own, shm, mqueue and the links) and /sys to
// a plan whose root is open.
func addDevSys(p *plan.Plan, d devSys, devices []Device, b *binder) {
	const nsd = unix.MS_NOSUID | unix.MS_NODEV
	p.Mount("dev", "tmpfs", "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=65536k")
	for _, n := range hostDevices {
		b.bind("/dev/"+n, "dev/"+n, false, false)
	}
	for _, dev := range devices {
		b.bind(dev.Source, dev.Target, false, dev.ReadOnly)
	}
	p.Mount("dev/pts", "devpts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, d.Pts)
	p.Symlink("pts/ptmx", "dev/ptmx")
	p.Mount("dev/shm", "shm", "tmpfs", nsd|unix.MS_NOEXEC, d.Shm)
	p.Mount("dev/mqueue", "mqueue", "mqueue", nsd|unix.MS_NOEXEC, "")
	p.Symlink("/proc/self/fd", "dev/fd")
	p.Symlink("/proc/self/fd/0", "dev/stdin")
	p.Symlink("/proc/self/fd/1", "dev/stdout")
	p.Symlink("/proc/self/fd/2", "dev/stderr")
	if d.SysFromHost {
		// Mounting sysfs needs a network namespace of our own; with the
		// host's network, show the host's /sys read-only instead.
		b.bind("/sys", "sys", true, true)
		sys := filepath.Join(p.Root, "sys")
		p.ReadOnlyTree("sys", func() error { return readOnlySubmounts(sys) })
	} else {
		p.Mount("sys", "sysfs", "sysfs", nsd|unix.MS_NOEXEC|unix.MS_RDONLY, "")
	}
}

// addMasks hides what docker and podman hide: each path that exists in
// the root is masked (a file by /dev/null, a directory by an empty
// read-only tmpfs) or made read-only. The root is open already.
func addMasks(p *plan.Plan) {
	for _, f := range maskedFiles {
		p.IfExists(f, false)
		p.BindIn("dev/null", f, false, false)
	}
	for _, d := range maskedDirs {
		p.IfExists(d, true)
		p.Mount(d, "tmpfs", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_RDONLY, "size=0")
	}
	for _, r := range readOnlyPaths {
		p.IfExists(r, false)
		p.BindIn(r, r, true, true)
	}
}

// mountVolumes mounts spec.Mounts in order (a volume is seeded with the
// image's content at its target first, which takes Go) and writes the
// sysctls through the container's own /proc/sys.
func mountVolumes(spec *Spec, rootDir string, vols []detachedVolume) error {
	root, err := os.OpenRoot(rootDir)
	if err != nil {
		return fmt.Errorf("opening the container root %q: %w", rootDir, err)
	}
	defer root.Close()
	for i, v := range spec.Mounts {
		target := strings.TrimPrefix(filepath.Clean(v.Target), "/")
		p := plan.New(rootDir)
		p.OpenRoot()
		switch v.Type {
		case "tmpfs":
			flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
			if v.ReadOnly {
				flags |= unix.MS_RDONLY
			}
			p.Mount(target, "tmpfs", "tmpfs", flags, v.Options)
		default:
			if v.Volume != "" {
				if err := seedVolume(root, target, vols[i]); err != nil {
					return seedError(v, err)
				}
			}
			p.Attach(int(vols[i].tree.Fd()), vols[i].tree.Name(), target, vols[i].dir)
		}
		if err := p.Run(); err != nil {
			return err
		}
	}
	for _, sc := range spec.Sysctls {
		name, value, _ := strings.Cut(sc, "=")
		// Through the root: proc/sys is the sandbox's own procfs.
		rel := "proc/sys/" + strings.ReplaceAll(name, ".", "/")
		if err := root.WriteFile(rel, []byte(value), 0); err != nil {
			return fmt.Errorf("--sysctl %s: %w", sc, err)
		}
	}
	return nil
}

// readOnlySubmounts remounts read-only every mount below dir, one at a
// time: ReadOnlyTree's fallback where mount_setattr fails (before Linux
// 5.12, or a submount that refuses, which makes the call fail for all).
func readOnlySubmounts(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
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
	return sc.Err()
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
