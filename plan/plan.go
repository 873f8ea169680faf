package plan

import (
	"fmt"
	"path"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kind is what an op does; each is a few system calls (exec.go).
type kind uint8

const (
	// opMount mounts a filesystem on a directory in the root, made if
	// missing.
	opMount kind = iota + 1
	// opBind binds a host path on a directory or file in the root, made
	// if missing; recursively when rec, then read-only when ro.
	opBind
	// opBindIn binds a path in the root on another path in the root,
	// which must exist.
	opBindIn
	// opSymlink makes a symlink in the root unless the name exists.
	opSymlink
	// opIfExists skips the next op unless its path exists (a directory
	// when dir), its last component not followed, as lstat would.
	opIfExists
	// opReadOnlyTree makes every mount at and below a path read-only.
	opReadOnlyTree
	// opAttach moves a detached mount tree (a descriptor of open_tree)
	// on a directory or file in the root, made if missing.
	opAttach
	// opMake makes a directory, or an empty file, in the root unless it
	// exists, and the directories on the way.
	opMake
	// opOpenRoot opens the root, which ops with a path in it need; a
	// plan opens it after the root filesystem is mounted there.
	opOpenRoot
	// opCloseRoot closes it again.
	opCloseRoot
	// opSyscall is one system call with arguments fixed in advance.
	opSyscall
	// opReadOnlyAt makes the mount at an absolute path read-only.
	opReadOnlyAt
	// opFSMount makes a detached mount of a new filesystem (fsopen,
	// fsconfig, fsmount) at a fixed descriptor.
	opFSMount
	// opOpenFixed opens a host path at a fixed descriptor.
	opOpenFixed
	// opOpenTreeFixed clones the mount at a host path, detached
	// (open_tree), at a fixed descriptor.
	opOpenTreeFixed
)

// mkdir is one directory to make on the way to a target: mkdirat of name
// in parent (both relative to the root, NUL-terminated).
type mkdir struct{ parent, name *byte }

// op is one step. Its strings are NUL-terminated copies kept by the
// Plan; the executor only reads them.
type op struct {
	kind         kind
	dir, rec, ro bool
	flags        uintptr
	rel          *byte // the target, relative to the root
	parent, name *byte // rel's directory ("." at the top) and last component
	src          *byte // a host path (opBind), a path in the root (opBindIn), a symlink's text
	fstype, data *byte
	mkdirs       []mkdir
	fresh        bool         // the target is missing for sure (add): made without a look
	fallback     func() error // Run's answer to this op's failure
	// what says, for errors, what the op does ("mounting proc on
	// /proc"): given for an opSyscall, a format with one %d for whatArg
	// when whatFormat; made from the op's own fields for the rest
	// (describe), only when an error needs it.
	what       string
	whatArg    uintptr
	whatFormat bool
	// opSyscall's number and arguments.
	trap uintptr
	args [6]uintptr
	try  bool // any errno counts as success
	// explain adds to an errno what the user can do about it.
	explain map[syscall.Errno]string
}

// openHow is struct open_how of openat2(2).
type openHow struct{ flags, mode, resolve uint64 }

// Plan is a list of ops on the container root at Root. Build one with New
// and its methods; each method records where a mistake in its own
// arguments (a path that leaves the root) made it fail, and Err returns
// the first.
type Plan struct {
	root *byte
	Root string
	ops  []op
	err  error
	// What the executor passes to openat2 and mount_setattr, here so
	// that it need not build them on a stack it shares.
	howPath, howCreate, howLstat, howLstatDir openHow
	attrRO                                    unix.MountAttr
	empty                                     *byte
	// The executor's scratch: fd paths and fstatfs's answer. Only bytes,
	// so that writing them needs no write barrier.
	pathA, pathB fdPath
	statfs       unix.Statfs_t
	// rootFD is the root's descriptor once opOpenRoot ran, else -1.
	rootFD uintptr
	// keep holds what opSyscall's arguments point to.
	keep []any
	// What the plan knows as it is built, so that an op does not make
	// again what an earlier one made: directories sure to exist once the
	// earlier ops ran (known), directories that were empty then (emptied:
	// a tmpfs mounted, or a directory made in one), and every target so
	// far (seen).
	known, emptied, seen map[string]bool
}

const resolve = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// New starts a plan for the root directory root (an absolute path).
func New(root string) *Plan {
	p := &Plan{Root: root, rootFD: ^uintptr(0)}
	p.root = cstr(root)
	p.howPath = openHow{flags: unix.O_PATH | unix.O_CLOEXEC, resolve: resolve}
	p.howCreate = openHow{flags: unix.O_CREAT | unix.O_WRONLY | unix.O_CLOEXEC, mode: 0o644, resolve: resolve}
	p.howLstat = openHow{flags: unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC, resolve: resolve}
	p.howLstatDir = openHow{flags: unix.O_PATH | unix.O_NOFOLLOW | unix.O_DIRECTORY | unix.O_CLOEXEC, resolve: resolve}
	p.attrRO = unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	p.empty = cstr("")
	p.known, p.emptied, p.seen = map[string]bool{}, map[string]bool{}, map[string]bool{}
	return p
}

// Len is the number of ops so far.
func (p *Plan) Len() int { return len(p.ops) }

// Err is the first mistake a method found in its arguments.
func (p *Plan) Err() error { return p.err }

// add records o for the target rel ("dev/pts": relative, cleaned); made
// says whether the target is made if missing, as a directory when dir.
func (p *Plan) add(o op, rel string, made bool) {
	clean := path.Clean(strings.TrimPrefix(rel, "/"))
	o.rel = cstr(clean)
	if clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		if p.err == nil {
			p.err = fmt.Errorf("%s: the path %q is not inside the container", p.describe(&o), rel)
		}
		return
	}
	dir, name := path.Split(clean)
	o.name = cstr(name)
	if dir == "" {
		o.parent = cstr(".")
	} else {
		o.parent = cstr(strings.TrimSuffix(dir, "/"))
	}
	if made {
		// Every ancestor, and the target itself when it is a directory,
		// but those an earlier op made or mounted on.
		parts := strings.Split(clean, "/")
		if !o.dir {
			parts = parts[:len(parts)-1]
		}
		start := 0
		for i := len(parts); i > 0; i-- {
			if p.known[strings.Join(parts[:i], "/")] {
				start = i
				break
			}
		}
		for i := start; i < len(parts); i++ {
			parent := "."
			if i > 0 {
				parent = strings.Join(parts[:i], "/")
			}
			o.mkdirs = append(o.mkdirs, mkdir{parent: cstr(parent), name: cstr(parts[i])})
		}
		// In a directory that was empty, a target no op made is missing:
		// no look first.
		o.fresh = p.emptied[strings.TrimSuffix(dir, "/")] && !p.seen[clean]
	}
	p.ops = append(p.ops, o)
	p.learn(o, clean, made)
}

// learn records what o, for the target clean, leaves in place.
func (p *Plan) learn(o op, clean string, made bool) {
	dir := path.Dir(clean)
	p.seen[clean] = true
	if !made {
		return
	}
	for d := dir; d != "." && d != "/"; d = path.Dir(d) {
		p.known[d] = true
	}
	if o.dir {
		p.known[clean] = true
		p.emptied[clean] = o.kind == opMake && p.emptied[dir]
	}
}

// Mount mounts a filesystem (mount(2)'s source, fstype, flags and data) on
// the directory rel, made if missing.
func (p *Plan) Mount(rel, source, fstype string, flags uintptr, data string) {
	p.add(op{kind: opMount, dir: true, src: cstr(source), fstype: cstr(fstype), flags: flags, data: cstr(data)}, rel, true)
	if fstype == "tmpfs" {
		p.emptied[path.Clean(strings.TrimPrefix(rel, "/"))] = true // nothing in it yet
	}
}

// Bind binds the host path src on rel, which is made if missing (a
// directory when dir, else an empty file); recursively when rec, and
// then, when ro, made read-only.
func (p *Plan) Bind(src, rel string, dir, rec, ro bool) {
	p.add(op{kind: opBind, dir: dir, rec: rec, ro: ro, src: cstr(src)}, rel, true)
}

// BindIn binds srcRel, a path in the root, on rel, which must exist
// (IfExists before it): both are resolved in the root.
func (p *Plan) BindIn(srcRel, rel string, rec, ro bool) {
	src := path.Clean(strings.TrimPrefix(srcRel, "/"))
	if src == ".." || strings.HasPrefix(src, "../") {
		if p.err == nil {
			p.err = fmt.Errorf("binding /%s: the path %q is not inside the container", rel, srcRel)
		}
		return
	}
	p.add(op{kind: opBindIn, rec: rec, ro: ro, src: cstr(src)}, rel, false)
}

// Symlink makes rel a symlink to target unless rel exists; its directory
// must exist.
func (p *Plan) Symlink(target, rel string) {
	p.add(op{kind: opSymlink, src: cstr(target)}, rel, false)
}

// IfExists makes the next op run only if rel exists (as a directory, when
// dir), rel's last component not followed.
func (p *Plan) IfExists(rel string, dir bool) {
	p.add(op{kind: opIfExists, dir: dir}, rel, false)
}

// ReadOnlyTree makes every mount at and below rel read-only, in one call
// (mount_setattr, Linux 5.12; all or nothing). Where that call fails, Run
// calls fallback instead (a mount at a time, say); an executor without
// Go fails there.
func (p *Plan) ReadOnlyTree(rel string, fallback func() error) {
	p.add(op{kind: opReadOnlyTree, fallback: fallback}, rel, false)
}

// Attach moves the detached mount tree open at fd (open_tree's, named
// name in errors) on rel, which is made if missing (a directory when dir,
// else an empty file). fd must stay open until the plan has run.
func (p *Plan) Attach(fd int, name, rel string, dir bool) {
	p.add(op{kind: opAttach, dir: dir, flags: uintptr(fd),
		what: fmt.Sprintf("mounting volume %q on /%s", name, strings.TrimPrefix(rel, "/"))}, rel, true)
}

// AttachTree is Attach described by what ("mounting /proc"), for a tree
// the plan made itself (FSMount) rather than a volume.
func (p *Plan) AttachTree(what string, fd int, rel string, dir bool) {
	p.add(op{kind: opAttach, dir: dir, flags: uintptr(fd), what: what}, rel, true)
}

// FSMount makes a new filesystem of type fstype, named source, as a
// detached mount with the MOUNT_ATTR_* flags attrs, at descriptor fd
// (not close-on-exec; one open there is closed): fsopen, fsconfig and
// fsmount (Linux 5.2), which checks what a mount(2) would, such as a
// proc's visibility, in the mount namespace of the caller at the time,
// so that the tree can then be attached (AttachTree) in another.
func (p *Plan) FSMount(what, fstype, source string, attrs uintptr, fd int) {
	p.ops = append(p.ops, op{kind: opFSMount, fstype: cstr(fstype), src: cstr(source), data: cstr("source"),
		flags: attrs, args: [6]uintptr{uintptr(fd)}, what: what})
}

// OpenFixed opens the host path path with flags at descriptor fd (not
// close-on-exec; one open there is closed): a namespace's file that a
// later op or another process finds by its number.
func (p *Plan) OpenFixed(what, path string, flags uintptr, fd int) {
	p.ops = append(p.ops, op{kind: opOpenFixed, src: cstr(path), flags: flags, args: [6]uintptr{uintptr(fd)}, what: what})
}

// OpenTreeFixed clones the host path path as a detached bind mount
// (open_tree with OPEN_TREE_CLONE, Linux 5.2) at descriptor fd (not
// close-on-exec; one open there is closed): a host file to attach
// (AttachTree) in a mount namespace where its path is out of reach.
func (p *Plan) OpenTreeFixed(what, path string, fd int) {
	p.ops = append(p.ops, op{kind: opOpenTreeFixed, src: cstr(path), args: [6]uintptr{uintptr(fd)}, what: what})
}

// MkdirAll makes the directory rel in the root, and those on the way.
func (p *Plan) MkdirAll(what, rel string) {
	p.Make(what, rel, true)
}

// Make makes rel in the root unless it exists, a directory when dir,
// else an empty file (as a bind's target is made), and the directories
// on the way.
func (p *Plan) Make(what, rel string, dir bool) {
	p.add(op{kind: opMake, dir: dir, what: what}, rel, true)
}

// OpenRoot opens Root for the ops after it that name a path in it: after
// the root filesystem is mounted there, so that they see the mount.
func (p *Plan) OpenRoot() {
	p.ops = append(p.ops, op{kind: opOpenRoot})
}

// OpenRootAt is OpenRoot of another directory, path: "/" once the plan
// has pivoted into the container's root, say.
func (p *Plan) OpenRootAt(path string) {
	p.ops = append(p.ops, op{kind: opOpenRoot, src: cstr(path)})
}

// Append adds q's ops after p's: the same steps in one plan. An OpenRoot
// of q's opens p's root: q should name its own (OpenRootAt).
func (p *Plan) Append(q *Plan) {
	if p.err == nil {
		p.err = q.err
	}
	p.ops = append(p.ops, q.ops...)
	p.keep = append(p.keep, q.keep...)
}

// CloseRoot closes what OpenRoot opened (before a pivot_root, say).
func (p *Plan) CloseRoot() {
	p.ops = append(p.ops, op{kind: opCloseRoot})
}

// Syscall adds system call trap with arguments args, each a number or
// what Ptr and Str return.
func (p *Plan) Syscall(what string, trap uintptr, args ...uintptr) {
	o := op{kind: opSyscall, what: what, trap: trap}
	copy(o.args[:], args)
	p.ops = append(p.ops, o)
}

// Syscallf is Syscall described by format with arg for its one %d,
// formatted only should the call fail: a plan of forty steps formats
// nothing as it is built.
func (p *Plan) Syscallf(format string, arg uintptr, trap uintptr, args ...uintptr) {
	p.Syscall(format, trap, args...)
	o := &p.ops[len(p.ops)-1]
	o.whatArg, o.whatFormat = arg, true
}

// Try is Syscall whose failure is no failure of the plan.
func (p *Plan) Try(what string, trap uintptr, args ...uintptr) {
	p.Syscall(what, trap, args...)
	p.ops[len(p.ops)-1].try = true
}

// Explain adds hint to the error of the last op when it fails with e.
func (p *Plan) Explain(e syscall.Errno, hint string) {
	o := &p.ops[len(p.ops)-1]
	if o.explain == nil {
		o.explain = map[syscall.Errno]string{}
	}
	o.explain[e] = hint
}

// Str is s as a system call argument: a NUL-terminated copy the plan
// keeps for as long as it lives.
func (p *Plan) Str(s string) uintptr {
	b := cstr(s)
	p.keep = append(p.keep, b)
	return uintptr(unsafe.Pointer(b))
}

// Ptr is v, a pointer, as a system call argument; the plan keeps v.
func (p *Plan) Ptr(v any, ptr unsafe.Pointer) uintptr {
	p.keep = append(p.keep, v)
	return uintptr(ptr)
}

// ReadOnlyAt makes the mount at path, an absolute path, read-only.
func (p *Plan) ReadOnlyAt(what, path string) {
	p.ops = append(p.ops, op{kind: opReadOnlyAt, src: cstr(path), what: what})
}

// Run executes the plan in this process and returns the first failure
// as "what: errno".
func (p *Plan) Run() error {
	if p.err != nil {
		return p.err
	}
	defer p.closeRoot()
	for from := 0; ; {
		at, e := Execute(p, from)
		if at < 0 {
			return nil
		}
		o := &p.ops[at]
		if o.fallback != nil {
			if err := o.fallback(); err != nil {
				return fmt.Errorf("%s: %w", p.describe(o), err)
			}
			from = at + 1
			continue
		}
		return p.Failure(at, e)
	}
}

// HasFallback says whether op at has a fallback (ReadOnlyTree's): what
// Run does there, an executor without Go cannot.
func (p *Plan) HasFallback(at int) bool {
	return at >= 0 && at < len(p.ops) && p.ops[at].fallback != nil
}

// Failure is the error of op at failing with errno e, for an executor
// that reports the two.
func (p *Plan) Failure(at int, e syscall.Errno) error {
	if at < 0 || at >= len(p.ops) {
		return fmt.Errorf("step %d of the container's setup: %w", at, e)
	}
	o := &p.ops[at]
	if hint := o.explain[e]; hint != "" {
		return fmt.Errorf("%s: %w (%s)", p.describe(o), e, hint)
	}
	return fmt.Errorf("%s: %w", p.describe(o), e)
}

func (p *Plan) closeRoot() {
	if p.rootFD != ^uintptr(0) {
		unix.Close(int(p.rootFD))
		p.rootFD = ^uintptr(0)
	}
}

// describe is what o does, for its error.
func (p *Plan) describe(o *op) string {
	rel := gostr(o.rel)
	if rel == "." {
		rel = "" // the root itself: "/", where add refuses it
	}
	switch o.kind {
	case opMount:
		return "mounting " + gostr(o.fstype) + " on /" + rel
	case opBind:
		return fmt.Sprintf("binding %q on /%s", gostr(o.src), rel)
	case opBindIn:
		return "binding /" + gostr(o.src) + " on /" + rel
	case opSymlink:
		return "creating /" + rel
	case opIfExists:
		return "looking up /" + rel
	case opReadOnlyTree:
		return "making /" + rel + " read-only"
	case opOpenRoot:
		if o.src != nil {
			return fmt.Sprintf("opening %q", gostr(o.src))
		}
		return fmt.Sprintf("opening the container root %q", p.Root)
	case opCloseRoot:
		return "closing the container root"
	}
	if o.whatFormat {
		return fmt.Sprintf(o.what, o.whatArg)
	}
	return o.what
}

// gostr is the Go string of a cstr.
func gostr(b *byte) string {
	if b == nil {
		return ""
	}
	return unix.BytePtrToString(b)
}

// cstr is s as a NUL-terminated string that the executor can pass to the
// kernel as it is.
func cstr(s string) *byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return &b[0]
}
