package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/plan"
	"github.com/sandbox-dev/sandbox/spawn"
)

// A throwaway run (run --rm in the foreground) ends with its container's
// removal, and removing a directory tree costs a few milliseconds here
// (about 0.13 ms per name unlinked on ext4). The user is waiting for the
// payload's status, not for that: once the payload has exited, the parent
// takes the container out of the store in one rename and hands the files
// to the init, which removes them as it ends while the command has already
// returned (docs/handshake.md, "A throwaway run"). The init, as root in the
// container's user namespace, can remove every file there, whatever id owns
// it.

// Removal is what Options.HandOffRemoval gives the init: the directory that
// now holds the container's files, their name in it, and a file for the
// init to hold until they are gone (the container's lock: a sweeper leaves
// to a live holder what it holds).
type Removal struct {
	Dir  *os.File
	Name string
	Keep *os.File
	// Init, for a raw start's removal, is a pidfd of the container's PID
	// 1, which may still be taking the container's mounts down as it
	// ends (RawEarly.finish): the removal waits for its end first. Nil:
	// it has ended. The caller keeps it open.
	Init *os.File
	// Skeleton, when set, is what a raw start's removal leaves in Dir:
	// a directory named Skeleton[0] holding the directories Skeleton[1:]
	// and an empty file "lock", for the next container to take
	// (image.SkeletonPrefix says why). The container's own directory,
	// emptied (recycleSkeleton), or else one made once the files are
	// gone; under a ".pending-" name first; left alone if one is there
	// already.
	Skeleton []string
	// Spare, when set, is the name in Dir of the spare root whose
	// namespaces the container's PID 1 entered (spareroot.go), its holder
	// ended: the removal removes it and its lock first (what it holds is
	// the container's empty directories, or the root it did not take).
	Spare string
}

// args are the remove stage's arguments for r: NAME SPARE [SKELETON
// DIR...], SPARE "-" for none.
func (r Removal) args() []string {
	spare := r.Spare
	if spare == "" {
		spare = "-"
	}
	return append([]string{r.Name, spare}, r.Skeleton...)
}

// handOffRemoval waits for the payload's status, then gives the init the
// container's files. false: nothing was handed over (the init ended
// first, or the caller declined), and Run goes on as for any run.
func (c *child) handOffRemoval(opts Options, relay *Relay) (int, bool) {
	c.readStatusUntil(opts, "exited")
	if c.payloadExit == nil {
		return 0, false // the init ended without a payload's status
	}
	code := *c.payloadExit
	decline := func() (int, bool) {
		// The init waits for a message either way: this one ends it.
		c.sync.Write([]byte{'X'})
		return 0, false
	}
	if c.failure != nil {
		return decline()
	}
	// What the payload wrote is in the pipes: its own end is closed, and
	// whatever it left behind was killed before the report.
	if relay != nil {
		relay.Finish()
	}
	r, ok := opts.HandOffRemoval()
	if !ok {
		return decline()
	}
	defer r.Dir.Close()
	rights := unix.UnixRights(int(r.Dir.Fd()), int(r.Keep.Fd()))
	if err := unix.Sendmsg(int(c.sync.Fd()), append([]byte{'R'}, r.Name...), rights, nil, 0); err != nil {
		// The init is gone: its status says how. The files stay in
		// the store's tmp/, where the next sweep finds them.
		return 0, false
	}
	// Until the init has cleared its parent-death signal, our exit would
	// kill it halfway.
	c.readStatusUntil(opts, "removing")
	if !c.removalTaken {
		return code, true // it died meanwhile; the sweep removes the rest
	}
	Trace("removal handed to the init")
	return code, true
}

// removeAfterExit is a throwaway run's init once the payload runs: when
// the payload exits, it ends what is left in the container, reports the
// status, and removes the container's files if the parent hands them over.
func removeAfterExit(exit chan unix.WaitStatus) {
	code := exitCode(<-exit)
	unix.Kill(-1, unix.SIGKILL)
	report(status{Type: "exited", Code: code})
	buf := make([]byte, 512)
	oob := make([]byte, unix.CmsgSpace(2*4))
	n, oobn, _, _, err := unix.Recvmsg(fdSync, buf, oob, unix.MSG_CMSG_CLOEXEC)
	for err == unix.EINTR {
		n, oobn, _, _, err = unix.Recvmsg(fdSync, buf, oob, unix.MSG_CMSG_CLOEXEC)
	}
	if err != nil || n < 2 || buf[0] != 'R' {
		os.Exit(code)
	}
	var fds []int
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(msgs) == 1 {
		fds, _ = unix.ParseUnixRights(&msgs[0])
	}
	if len(fds) != 2 {
		os.Exit(code)
	}
	// On the main thread, where the signal was set: the parent returns
	// as soon as it reads the answer.
	unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0)
	report(status{Type: "removing"})
	closeStatus()
	if err := removeContainerAt(fds[0], string(buf[1:n])); err != nil {
		Trace("removing the container's files: %v", err)
	}
	os.Exit(code)
}

// removeAt removes name, a tree under the directory dirfd, without
// following symbolic links. Whoever else removes the same tree meanwhile
// (a sweep) is no error.
func removeAt(dirfd int, name string) error { return removeAtLast(dirfd, name, "") }

// removeContainerAt removes a container's files, name under dirfd, its
// lock last: a sweep takes a directory in tmp/ whose lock is not there
// to be held for a dead command's (image.Store.SweepTemp) and would
// remove it beside us.
func removeContainerAt(dirfd int, name string) error { return removeAtLast(dirfd, name, "lock") }

// removeAtLast is removeAt, with the entry named last, if any, of the
// top directory removed after its others.
func removeAtLast(dirfd int, name, last string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR {
		return err
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.EACCES && chmodDir(dirfd, name) {
		fd, err = unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), name)
	if mountRoot(fd) {
		d.Close()
		return fmt.Errorf("%q is a mount point: what is mounted there is not removed", name)
	}
	names, rerr := d.Readdirnames(-1)
	var errs []error
	if rerr != nil {
		errs = append(errs, rerr)
	}
	// An entry refused for want of write permission on this directory:
	// once more after its owner's bits are back (fchmod works only where
	// the directory is ours, and then it denied its owner).
	child := func(n string) error {
		err := removeAt(fd, n)
		if errors.Is(err, unix.EACCES) && unix.Fchmod(fd, 0o700) == nil {
			err = removeAt(fd, n)
		}
		return err
	}
	for _, n := range names {
		if n == last {
			continue // after the others
		}
		if err := child(n); err != nil {
			errs = append(errs, err)
		}
	}
	if last != "" && len(errs) == 0 { // a lock stays while anything else does
		if err := child(last); err != nil {
			errs = append(errs, err)
		}
	}
	d.Close()
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && err != unix.ENOENT {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// mountRoot says whether the directory open as fd is the root of a
// mount: a removal, and a recycling, stop there rather than empty what is
// mounted (none is made on the host under the store; one that is there
// is not ours to empty). Kernels before 5.8 do not say: false.
func mountRoot(fd int) bool {
	var stx unix.Statx_t
	if unix.Statx(fd, "", unix.AT_EMPTY_PATH, 0, &stx) != nil {
		return false
	}
	return stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0
}

// chmodDir gives the directory name under dirfd its owner's bits back,
// where it is ours with them cleared (an overlay's work/work), for a
// removal that is not the namespace's root (the user on the host). By
// an O_PATH descriptor, which needs no permission on it and follows no
// link: chmod through its /proc/self/fd name reaches that directory
// alone, whatever the name is by then.
func chmodDir(dirfd int, name string) bool {
	fd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.Chmod(fmt.Sprintf("/proc/self/fd/%d", fd), 0o700) == nil
}

// startRemoval hands a throwaway container's files (a Removal) to a
// process of its own, the init program's "remove" stage, which removes
// them as root of the container's user namespace (userns, held open past
// PID 1's end: files of any id in its map) while the command returns: a
// raw start's PID 1 has no Go to do it. It runs in a process group of
// its own, at idle priority (spawn.Attr.Idle), with no parent-death
// signal, and holds the container's lock until the files are gone, as
// the Go init does. Idle priority is a trade: under load that leaves no
// core idle the files stay in tmp/ longer (an idle task gets a small
// share, not none), where the next command's start would otherwise pay.
//
// With spare (subid mode), the process started is the maker of the next
// spare user namespace instead (spare.go), in this user namespace: it
// makes the spare, then starts the removal, so that the command's path
// has one process start either way.
func startRemoval(userns, exe *os.File, r Removal, spare *spareRequest) error {
	env := append([]string{initEnv + "=1"}, initRuntimeEnv...)
	cmd := &exec.Cmd{
		Path: fmt.Sprintf("/proc/self/fd/%d", removalExeFD), Args: append([]string{initName, "remove"}, r.args()...), Env: env,
		// In the order of the removal descriptors' numbers.
		ExtraFiles: []*os.File{r.Dir, r.Keep, exe, userns}, SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if r.Init != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, r.Init)
	}
	if spare != nil {
		cmd.Args = slices.Concat(spare.argv(), r.args())
	}
	a, ok := spawn.FromCmd(cmd)
	if !ok {
		return errors.New("entering the container's user namespace needs a vfork-style start")
	}
	// After the command, whose exit comes first; and not waited for: the
	// execve of an idle-policy child waited behind whatever else ran on
	// its core (PID 1's end, 0.1-0.4 ms), and the command with it.
	a.Idle, a.Detach = true, true
	if spare == nil {
		// setns before the execve: its own thread, nothing shared but the
		// memory of a child that only makes system calls.
		p := plan.New("/")
		p.Syscall("entering the container's user namespace", unix.SYS_SETNS, removalNSFD, unix.CLONE_NEWUSER)
		a.Setup = p
	}
	_, err := spawn.Start(a)
	return err
}

// The descriptors a removal process gets (startRemoval), which the
// remove stage, and the spare maker that starts it, read.
const (
	removalDirFD  = 3 // the directory holding the files
	removalLockFD = 4 // the container's lock, held until they are gone
	removalExeFD  = 5 // the init program
	removalNSFD   = 6 // the container's user namespace
	removalInitFD = 7 // a pidfd of the container's PID 1, if it may not have ended (Removal.Init)
)

// waitInitGone waits until the process whose pidfd is removalInitFD has
// ended: at once where that descriptor is no pidfd (none was passed, and
// the number may be anything the runtime opened since).
func waitInitGone() {
	if _, ok := pidfdPid(removalInitFD); !ok {
		return
	}
	fds := []unix.PollFd{{Fd: removalInitFD, Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != unix.EINTR {
			return
		}
	}
}

// initPidfd is removalInitFD as a file, or nil where it is no pidfd.
func initPidfd() *os.File {
	if _, ok := pidfdPid(removalInitFD); !ok {
		return nil
	}
	return os.NewFile(removalInitFD, "pidfd")
}

// removeMain is the "remove" stage: NAME SPARE [SKELETON DIR...]
// (Removal.args). Descriptor 3 is the directory that holds the files
// named NAME, 4 the lock it holds until they are gone; it removes the
// spare root named SPARE first, if any, and then the files, leaving the
// skeleton, if asked (Removal.Skeleton).
func removeMain(args []string) {
	setName("sandbox-rm")
	if len(args) < 2 {
		os.Exit(125)
	}
	if err := removeFiles(args); err != nil {
		Trace("removing the container's files: %v", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// removeFiles is the removal's work, NAME SPARE [SKELETON DIR...]
// (Removal.args), on the removal descriptors: once PID 1 has ended, the
// spare root named SPARE, then the container's files: its directory
// made the skeleton where it can be (recycleSkeleton), else removed and
// a skeleton made. An error says the container's files are not all gone
// (a skeleton not made is only traced).
func removeFiles(args []string) error {
	// No file is taken from under a mount the ending PID 1 still has.
	waitInitGone()
	if args[1] != "-" {
		removeSpareRootAt(removalDirFD, args[1])
	}
	if len(args) > 2 && recycleSkeleton(removalDirFD, args[0], args[2], args[3:]) {
		return nil
	}
	if err := removeContainerAt(removalDirFD, args[0]); err != nil {
		return err
	}
	if len(args) > 2 { // a skeleton's name and its directories
		if err := makeSkeleton(removalDirFD, args[2], args[3:]); err != nil {
			Trace("making a skeleton: %v", err)
		}
	}
	return nil
}

// makeSkeleton makes, in the directory dirfd, a directory called name
// holding the directories dirs and an empty "lock" (0600), as a
// container's creation would (mode 0700 and 0755, under the umask), unless
// one is there already: under a pending name first, renamed into place
// without replacing anything, so that no one takes it half made.
func makeSkeleton(dirfd int, name string, dirs []string) error {
	pending := skeletonPending(name)
	if err := unix.Mkdirat(dirfd, pending, 0o700); err != nil {
		return err
	}
	for _, d := range dirs {
		if err := unix.Mkdirat(dirfd, pending+"/"+d, 0o755); err != nil {
			removeAt(dirfd, pending)
			return err
		}
	}
	return publishSkeleton(dirfd, pending, name)
}

// skeletonPending is the name a skeleton is made under, in the store's
// tmp/, before publishSkeleton renames it into place: a sweep leaves a
// .pending- name alone for an hour.
func skeletonPending(name string) string {
	return fmt.Sprintf(".pending-%s-%d", name, os.Getpid())
}

// publishSkeleton puts the skeleton made under pending, in dirfd, into
// place as name: with a new empty lock (one there, a removed
// container's, may be held), by a rename that replaces nothing (a
// skeleton there will do). Whatever fails, pending is gone after; an
// error but for one there already. Then another layout's skeletons go.
func publishSkeleton(dirfd int, pending, name string) error {
	lockPath := pending + "/lock"
	unix.Unlinkat(dirfd, lockPath, 0)
	lock, err := unix.Openat(dirfd, lockPath, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err == nil {
		unix.Close(lock)
		err = unix.Renameat2(dirfd, pending, dirfd, name, unix.RENAME_NOREPLACE)
	}
	if err != nil {
		removeAt(dirfd, pending)
		if err != unix.EEXIST {
			return err
		}
		// The one there will do.
	}
	removeOtherSkeletons(dirfd, name)
	return nil
}

// removeOtherSkeletons removes the skeletons beside name that another
// layout made (the same name up to its first '-', the rest another):
// an older binary's, which no create takes.
func removeOtherSkeletons(dirfd int, name string) {
	i := strings.IndexByte(name, '-')
	if i < 0 {
		return
	}
	fd, err := unix.Openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	d := os.NewFile(uintptr(fd), "tmp") // its own descriptor: closing it leaves dirfd
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, n := range names {
		if n != name && strings.HasPrefix(n, name[:i+1]) {
			removeAt(dirfd, n)
		}
	}
}
