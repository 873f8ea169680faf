package plan

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The executor. Everything here may run in the child of a vfork-style
// clone, on the stack of the goroutine that cloned it, while the rest of
// the process runs on: system calls only, no allocation, no stack growth
// (every function is nosplit, so the linker proves the frames fit), no
// pointer stored anywhere but on the stack.

// Execute runs p's ops from index from, in this process or in a
// vfork-style child: it returns the index of the op that failed and its
// errno, or -1. The root descriptor an OpenRoot made stays open
// (close-on-exec) after a failure.
//
//go:nosplit
//go:norace
func Execute(p *Plan, from int) (int, syscall.Errno) {
	ops := p.ops
	for i := from; i < len(ops); i++ {
		o := &ops[i]
		var e syscall.Errno
		switch o.kind {
		case opIfExists:
			if !exists(p, o) {
				i++ // whatever the reason, as lstat's error would
			}
		case opMount:
			e = doMount(p, o)
		case opBind:
			e = doBind(p, o)
		case opBindIn:
			e = doBindIn(p, o)
		case opSymlink:
			e = doSymlink(p, o)
		case opReadOnlyTree:
			e = doReadOnlyTree(p, o)
		case opAttach:
			e = doAttach(p, o)
		case opMake:
			var fd uintptr
			if fd, e = target(p, o); e == 0 {
				closeFD(fd)
			}
		case opOpenRoot:
			e = doOpenRoot(p, o)
		case opCloseRoot:
			if p.rootFD != ^uintptr(0) {
				closeFD(p.rootFD)
				p.rootFD = ^uintptr(0)
			}
		case opSyscall:
			if _, e = sys6(o.trap, o.args[0], o.args[1], o.args[2], o.args[3], o.args[4], o.args[5]); e == 0 || o.try {
				e = 0
			}
		case opFSMount:
			e = doFSMount(o)
		case opOpenFixed, opOpenTreeFixed:
			e = doOpenFixed(o)
		case opReadOnlyAt:
			var fd uintptr
			if fd, e = sys6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(o.src)), unix.O_PATH|unix.O_CLOEXEC, 0, 0, 0); e == 0 {
				e = readOnly(p, fd)
				closeFD(fd)
			}
		default:
			e = syscall.EINVAL
		}
		if e != 0 {
			return i, e
		}
	}
	return -1, 0
}

//go:nosplit
//go:norace
func exists(p *Plan, o *op) bool {
	how := &p.howLstat
	if o.dir {
		how = &p.howLstatDir
	}
	fd, e := openIn(p.rootFD, o.rel, how)
	if e != 0 {
		return false
	}
	closeFD(fd)
	return true
}

//go:nosplit
//go:norace
func doSymlink(p *Plan, o *op) syscall.Errno {
	fd, e := openIn(p.rootFD, o.parent, &p.howPath)
	if e != 0 {
		return e
	}
	_, e = sys6(unix.SYS_SYMLINKAT, uintptr(unsafe.Pointer(o.src)), fd, uintptr(unsafe.Pointer(o.name)), 0, 0, 0)
	closeFD(fd)
	if e == syscall.EEXIST {
		e = 0
	}
	return e
}

//go:nosplit
//go:norace
func doReadOnlyTree(p *Plan, o *op) syscall.Errno {
	fd, e := openIn(p.rootFD, o.rel, &p.howPath)
	if e != 0 {
		return e
	}
	_, e = sys6(unix.SYS_MOUNT_SETATTR, fd, uintptr(unsafe.Pointer(p.empty)),
		unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, uintptr(unsafe.Pointer(&p.attrRO)), unsafe.Sizeof(p.attrRO), 0)
	closeFD(fd)
	return e
}

//go:nosplit
//go:norace
func doAttach(p *Plan, o *op) syscall.Errno {
	fd, e := target(p, o)
	if e != 0 {
		return e
	}
	_, e = sys6(unix.SYS_MOVE_MOUNT, o.flags, uintptr(unsafe.Pointer(p.empty)), fd, uintptr(unsafe.Pointer(p.empty)),
		unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH, 0)
	closeFD(fd)
	return e
}

// doFSMount is opFSMount: the filesystem's context, its source, the
// superblock, then the mount at its descriptor.
//
//go:nosplit
//go:norace
func doFSMount(o *op) syscall.Errno {
	ctx, e := sys6(unix.SYS_FSOPEN, uintptr(unsafe.Pointer(o.fstype)), unix.FSOPEN_CLOEXEC, 0, 0, 0, 0)
	if e != 0 {
		return e
	}
	if _, e = sys6(unix.SYS_FSCONFIG, ctx, unix.FSCONFIG_SET_STRING, uintptr(unsafe.Pointer(o.data)), uintptr(unsafe.Pointer(o.src)), 0, 0); e == 0 {
		_, e = sys6(unix.SYS_FSCONFIG, ctx, unix.FSCONFIG_CMD_CREATE, 0, 0, 0, 0)
	}
	var fd uintptr
	if e == 0 {
		fd, e = sys6(unix.SYS_FSMOUNT, ctx, unix.FSMOUNT_CLOEXEC, o.flags, 0, 0, 0)
	}
	closeFD(ctx)
	if e != 0 {
		return e
	}
	return fixFD(fd, o.args[0])
}

// doOpenFixed is opOpenFixed and opOpenTreeFixed.
//
//go:nosplit
//go:norace
func doOpenFixed(o *op) syscall.Errno {
	trap, flags := uintptr(unix.SYS_OPENAT), o.flags|unix.O_CLOEXEC
	if o.kind == opOpenTreeFixed {
		trap, flags = unix.SYS_OPEN_TREE, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC
	}
	fd, e := sys6(trap, atFDCWD, uintptr(unsafe.Pointer(o.src)), flags, 0, 0, 0)
	if e != 0 {
		return e
	}
	return fixFD(fd, o.args[0])
}

// fixFD moves descriptor fd to want (dup3 without close-on-exec), unless
// it is there already.
//
//go:nosplit
//go:norace
func fixFD(fd, want uintptr) syscall.Errno {
	if fd == want {
		_, e := sys6(unix.SYS_FCNTL, fd, unix.F_SETFD, 0, 0, 0, 0)
		return e
	}
	_, e := sys6(unix.SYS_DUP3, fd, want, 0, 0, 0, 0)
	closeFD(fd)
	return e
}

//go:nosplit
//go:norace
func doOpenRoot(p *Plan, o *op) syscall.Errno {
	if p.rootFD != ^uintptr(0) {
		closeFD(p.rootFD)
	}
	path := p.root
	if o.src != nil {
		path = o.src
	}
	fd, e := sys6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(path)), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		p.rootFD = ^uintptr(0)
		return e
	}
	p.rootFD = fd
	return 0
}

//go:nosplit
//go:norace
func doMount(p *Plan, o *op) syscall.Errno {
	fd, e := target(p, o)
	if e != 0 {
		return e
	}
	_, e = sys6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(o.src)), p.pathA.of(fd),
		uintptr(unsafe.Pointer(o.fstype)), o.flags, uintptr(unsafe.Pointer(o.data)), 0)
	closeFD(fd)
	return e
}

//go:nosplit
//go:norace
func doBind(p *Plan, o *op) syscall.Errno {
	fd, e := target(p, o)
	if e != 0 {
		return e
	}
	_, e = sys6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(o.src)), p.pathA.of(fd), uintptr(unsafe.Pointer(p.empty)),
		bindFlags(o), uintptr(unsafe.Pointer(p.empty)), 0)
	closeFD(fd)
	if e != 0 || !o.ro {
		return e
	}
	// The descriptor the bind went to names the directory under the new
	// mount: the path is opened again to reach the mount itself. (Here
	// and in doBindIn, not in a function of its own: its frame would not
	// fit under a raw start's nosplit chain.)
	if fd, e = openIn(p.rootFD, o.rel, &p.howPath); e != 0 {
		return e
	}
	e = readOnly(p, fd)
	closeFD(fd)
	return e
}

//go:nosplit
//go:norace
func doBindIn(p *Plan, o *op) syscall.Errno {
	rootFD := p.rootFD
	src, e := openIn(rootFD, o.src, &p.howPath)
	if e != 0 {
		return e
	}
	dst, e := openIn(rootFD, o.rel, &p.howPath)
	if e != 0 {
		closeFD(src)
		return e
	}
	_, e = sys6(unix.SYS_MOUNT, p.pathA.of(src), p.pathB.of(dst), uintptr(unsafe.Pointer(p.empty)),
		bindFlags(o), uintptr(unsafe.Pointer(p.empty)), 0)
	closeFD(src)
	closeFD(dst)
	if e != 0 || !o.ro {
		return e
	}
	// As in doBind.
	if dst, e = openIn(p.rootFD, o.rel, &p.howPath); e != 0 {
		return e
	}
	e = readOnly(p, dst)
	closeFD(dst)
	return e
}

//go:nosplit
func bindFlags(o *op) uintptr {
	if o.rec {
		return unix.MS_BIND | unix.MS_REC
	}
	return unix.MS_BIND
}

// readOnly makes the mount open at fd read-only: mount_setattr, or before
// Linux 5.12 a remount, which must repeat the flags the mount has (the
// locked ones at least).
//
//go:nosplit
//go:norace
func readOnly(p *Plan, fd uintptr) syscall.Errno {
	_, e := sys6(unix.SYS_MOUNT_SETATTR, fd, uintptr(unsafe.Pointer(p.empty)),
		unix.AT_EMPTY_PATH, uintptr(unsafe.Pointer(&p.attrRO)), unsafe.Sizeof(p.attrRO), 0)
	if e != syscall.ENOSYS {
		return e
	}
	if _, e := sys6(unix.SYS_FSTATFS, fd, uintptr(unsafe.Pointer(&p.statfs)), 0, 0, 0, 0); e != 0 {
		return e
	}
	_, e = sys6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(p.empty)), p.pathB.of(fd), uintptr(unsafe.Pointer(p.empty)),
		RemountFlags(uintptr(p.statfs.Flags)), uintptr(unsafe.Pointer(p.empty)), 0)
	return e
}

// RemountFlags are the flags of a read-only remount of a mount whose
// statfs flags are f: the ones the mount has must be repeated (the locked
// ones at least).
//
//go:nosplit
func RemountFlags(f uintptr) uintptr {
	flags := uintptr(unix.MS_REMOUNT | unix.MS_BIND | unix.MS_RDONLY)
	if f&unix.ST_NOSUID != 0 {
		flags |= unix.MS_NOSUID
	}
	if f&unix.ST_NODEV != 0 {
		flags |= unix.MS_NODEV
	}
	if f&unix.ST_NOEXEC != 0 {
		flags |= unix.MS_NOEXEC
	}
	if f&unix.ST_NOATIME != 0 {
		flags |= unix.MS_NOATIME
	}
	if f&unix.ST_NODIRATIME != 0 {
		flags |= unix.MS_NODIRATIME
	}
	if f&unix.ST_RELATIME != 0 {
		flags |= unix.MS_RELATIME
	}
	return flags
}

// target opens o's target for a mount, making it (and the directories on
// the way) first if it is missing.
//
//go:nosplit
//go:norace
func target(p *Plan, o *op) (uintptr, syscall.Errno) {
	var fd uintptr
	var e syscall.Errno
	if !o.fresh {
		if fd, e = openIn(p.rootFD, o.rel, &p.howPath); e != syscall.ENOENT {
			return fd, e
		}
	}
	// The directories on the way, then the target.
	for j := 0; j < len(o.mkdirs); j++ {
		m := &o.mkdirs[j]
		if fd, e = openIn(p.rootFD, m.parent, &p.howPath); e != 0 {
			return 0, e
		}
		_, e = sys6(unix.SYS_MKDIRAT, fd, uintptr(unsafe.Pointer(m.name)), 0o755, 0, 0, 0)
		closeFD(fd)
		if e != 0 && e != syscall.EEXIST {
			return 0, e
		}
	}
	if !o.dir {
		// Made open for writing: that descriptor is the target.
		return openIn(p.rootFD, o.rel, &p.howCreate)
	}
	return openIn(p.rootFD, o.rel, &p.howPath)
}

// openIn is openat2 of rel in the root.
//
//go:nosplit
//go:norace
func openIn(rootFD uintptr, rel *byte, how *openHow) (uintptr, syscall.Errno) {
	fd, e := sys6(unix.SYS_OPENAT2, rootFD, uintptr(unsafe.Pointer(rel)),
		uintptr(unsafe.Pointer(how)), unsafe.Sizeof(*how), 0, 0)
	return fd, e
}

//go:nosplit
func closeFD(fd uintptr) { sys6(unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0) }

// atFDCWD is AT_FDCWD (-100) as a system call argument.
const atFDCWD = ^uintptr(99)

// fdPath holds "/proc/self/fd/N", NUL-terminated: the path through which
// a mount reaches a target opened in the root. Plans keep two, so that
// the executor's frames stay small.
type fdPath [40]byte

// of writes the path of descriptor fd and returns its address.
//
//go:nosplit
func (b *fdPath) of(fd uintptr) uintptr {
	const prefix = "/proc/self/fd/"
	base := unsafe.Pointer(b)
	for i := uintptr(0); i < uintptr(len(prefix)); i++ {
		*(*byte)(unsafe.Add(base, i)) = prefix[i]
	}
	WriteDecimal(unsafe.Add(base, len(prefix)), fd)
	return uintptr(base)
}

// WriteDecimal writes v in decimal and then a NUL at dst, which has room
// for 21 bytes, for code that may not allocate (a raw start's PID 1
// writes its payload's pid so). Bytes go in through unsafe.Add, not
// indexing: a bounds check's panic is a call no nosplit frame holds.
//
//go:nosplit
func WriteDecimal(dst unsafe.Pointer, v uintptr) {
	n := uintptr(1)
	for t := v / 10; t > 0; t /= 10 {
		n++
	}
	for i := n; i > 0; i-- {
		*(*byte)(unsafe.Add(dst, i-1)) = byte('0' + v%10)
		v /= 10
	}
	*(*byte)(unsafe.Add(dst, n)) = 0
}
