package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/fuseoverlay"
	"github.com/sandbox-dev/sandbox/internal/quoted"
	"github.com/sandbox-dev/sandbox/plan"
)

// A spare root (docs/handshake.md, "A spare root") is the root of the
// next raw start of the image a raw start just ran, made ahead by the
// holder of the next spare user namespace: in a mount and an IPC
// namespace of that user namespace, the overlay of the image's layers
// is mounted on the merged directory of SpareRootPrefix+PID in the
// store's tmp/ (PID the maker's, which made the directory:
// prepareSpareRoot; PID.N for the N+1th a maker makes: spareRootName),
// on that directory's own upper and work, with /dev and /sys mounted in
// it (addDevSys). The holder holds a shared flock on that name's
// ".lock" (the maker's, inherited) for as long as it lives,
// and a start that takes the root holds one of its own until it has
// taken it or not, so that a sweep of tmp/ (which needs the lock
// exclusive: image's staging rule, a directory whose lock is held)
// leaves the directory alone meanwhile, whenever the holder ends.
//
// A raw start that takes the spare enters those namespaces with it. If
// its own spec asks for the same root (spareRoot.key), it exchanges the
// directory's upper, work and merged with its container's (three
// renameat2 calls with RENAME_EXCHANGE: the overlay goes with its
// directories, the mount with its mount point), and PID 1 mounts only
// /proc, the /etc files and the masks before its pivot. If not, PID 1
// mounts the root as always; the spare's overlay, left at tmp/, goes
// with the old root at the pivot. Either way the start then ends the
// holder, and the directory (then holding the container's empty ones,
// or the unused root) goes with the run's removal (Removal.Spare), or
// else with a sweep.

// SpareRootPrefix begins the name of a spare root's directory in the
// store's tmp/, and of its lock beside it.
const SpareRootPrefix = "spare-"

// spareRoot is what a spare root is made of, as the start that asks for
// one and the holder that makes it both say it: it travels as its text
// from one to the other, and its key is what a later start compares.
type spareRoot struct {
	Tmp      string // the store's tmp/, where its directory is made
	Layers   []string
	Volatile bool
	DevSys   devSys
	// Targets are the files of the image's root that the start binds
	// its /etc files on (etcFiles), made ahead where missing, as PID 1's
	// plan would make them, with /proc: made in the overlay's upper, each
	// costs a start 0.04-0.1 ms (strace -T).
	Targets []string
	// User is the --user of the start that asked: the maker looks it up
	// in the layers (spareUser) for a next start of the same. Not part
	// of the key: a start with another takes the root and looks its own
	// up.
	User string
}

// spareRootForm heads a spare root's text: a maker or holder reads no
// other form (one of an older build, say).
const spareRootForm = "root/1"

// text is r as the maker's argument, and the holder's: package quoted's
// form, the fields in a fixed order (the layers counted, the targets
// last). Not JSON: the start writes it while its payload runs, where
// encoding/json's first use of the type cost 0.15 ms of CPU (perf, 150
// runs), and the maker and the holder each read it.
func (r *spareRoot) text() string {
	f := []string{spareRootForm, r.Tmp, strconv.FormatBool(r.Volatile), r.DevSys.Pts, r.DevSys.Shm,
		strconv.FormatBool(r.DevSys.SysFromHost), r.User, strconv.Itoa(len(r.Layers))}
	f = append(append(f, r.Layers...), r.Targets...)
	return quoted.Join(f...)
}

// errNotSpareRoot is parseSpareRootText's answer for any other text.
var errNotSpareRoot = errors.New("not a spare root's text")

// parseSpareRootText reads text's form back.
func parseSpareRootText(s string) (*spareRoot, error) {
	f, err := quoted.Split(s)
	if err != nil || len(f) < 8 || f[0] != spareRootForm {
		return nil, errNotSpareRoot
	}
	volatile, err1 := strconv.ParseBool(f[2])
	sysFromHost, err2 := strconv.ParseBool(f[5])
	n, err3 := strconv.Atoi(f[7])
	if err1 != nil || err2 != nil || err3 != nil || n < 0 || n > len(f)-8 {
		return nil, errNotSpareRoot
	}
	r := &spareRoot{Tmp: f[1], Volatile: volatile, DevSys: devSys{Pts: f[3], Shm: f[4], SysFromHost: sysFromHost}, User: f[6]}
	if n > 0 {
		r.Layers = f[8 : 8+n : 8+n]
	}
	if len(f) > 8+n {
		r.Targets = f[8+n:]
	}
	return r, nil
}

// spareUser is a user a spare root's maker looked up in the root's
// layers (imageUser), kept on the record's third line (String): a start
// on that root with the same --user takes it instead of reading
// /etc/passwd and /etc/group through the layers itself (0.12 ms,
// traced).
type spareUser struct {
	User  string
	Found execUser
}

// String is u as the record's line: the user, the ids, the home and
// the groups, NUL-separated (none of them holds a NUL, nor a newline:
// the maker writes no line for a user that does), the groups
// comma-separated. Neither JSON nor fmt's scanning: the start reads it
// on its path, where the first use of either's code costs it 0.1 ms.
func (u spareUser) String() string {
	b := append([]byte(u.User), 0)
	b = strconv.AppendUint(b, uint64(u.Found.UID), 10)
	b = append(b, 0)
	b = strconv.AppendUint(b, uint64(u.Found.GID), 10)
	b = append(b, 0)
	b = append(b, u.Found.Home...)
	b = append(b, 0)
	for i, g := range u.Found.Groups {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(g), 10)
	}
	return string(b)
}

// recordable says whether u can be a record's line (String).
func (u spareUser) recordable() bool {
	return !strings.ContainsAny(u.User, "\x00\n") && !strings.ContainsAny(u.Found.Home, "\x00\n")
}

// parseSpareUser reads what String writes; nil where it cannot.
func parseSpareUser(line string) *spareUser {
	f := strings.Split(line, "\x00")
	if len(f) != 5 {
		return nil
	}
	uid, err1 := strconv.ParseUint(f[1], 10, 32)
	gid, err2 := strconv.ParseUint(f[2], 10, 32)
	if err1 != nil || err2 != nil {
		return nil
	}
	u := &spareUser{User: f[0], Found: execUser{UID: uint32(uid), GID: uint32(gid), Home: f[3]}}
	if f[4] != "" {
		for _, g := range strings.Split(f[4], ",") {
			n, err := strconv.ParseUint(g, 10, 32)
			if err != nil {
				return nil
			}
			u.Found.Groups = append(u.Found.Groups, uint32(n))
		}
	}
	return u
}

// spareRootOf is the root spec's start would take from a spare, or nil
// where it takes none: one of its devices is bound into /dev (no spare
// holds those), or no store directory was given.
func spareRootOf(spec *Spec, tmp string) *spareRoot {
	// Not with the fakeroot's apt configuration, bound from the host:
	// a start that joins the holder's namespace (joinNSPlan) binds no
	// host path.
	if tmp == "" || len(spec.Devices) > 0 || len(spec.Rootfs.Layers) == 0 || spec.AptConfig != "" {
		return nil
	}
	r := &spareRoot{Tmp: tmp, Layers: spec.Rootfs.Layers, Volatile: spec.Rootfs.Volatile, DevSys: devSysOf(spec), User: spec.Process.User}
	for _, f := range etcFiles(spec) {
		r.Targets = append(r.Targets, f.dst)
	}
	return r
}

// key names r and the layer directories it would mount, as they are
// now: the device, inode and change time of each. A layer removed and
// unpacked again under the same name (an rmi, then a pull) is another
// directory, which an overlay made on the first does not show.
//
// Written out by hand, every field NUL-separated, rather than marshalled:
// a start computes it on its path, where encoding/json's first use of a
// type cost 0.1 ms (traced).
func (r *spareRoot) key() (string, error) {
	b := make([]byte, 0, 512)
	b = append(b, r.Tmp...)
	b = append(b, 0)
	b = strconv.AppendBool(b, r.Volatile)
	b = append(b, 0)
	b = append(b, r.DevSys.Pts...)
	b = append(b, 0)
	b = append(b, r.DevSys.Shm...)
	b = append(b, 0)
	b = strconv.AppendBool(b, r.DevSys.SysFromHost)
	for _, t := range r.Targets {
		b = append(b, 0)
		b = append(b, t...)
	}
	b = append(b, 0, 0) // the targets end, the layers begin
	for _, l := range r.Layers {
		var st unix.Stat_t
		if err := unix.Stat(l, &st); err != nil {
			return "", fmt.Errorf("layer %q: %w", l, err)
		}
		b = append(b, 0)
		b = append(b, l...)
		for _, n := range []int64{int64(st.Dev), int64(st.Ino), st.Ctim.Sec, st.Ctim.Nsec} {
			b = append(b, 0)
			b = strconv.AppendInt(b, n, 10)
		}
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// spareRootDirs are the directories of a spare root that a start takes
// into its container's directory, as the container names them.
var spareRootDirs = []string{"upper", "work", "merged"}

// The descriptors a raw holder keeps the mount namespaces at while it
// makes the one a start joins (joinNSPlan): the holder's own at
// holdSavedFD until it is back in it, the joined one at holdJoinFD for
// its life, where a start opens it (openJoinNS).
const (
	holdJoinFD  = 4
	holdSavedFD = 5
)

// prepareSpareRoot is the maker's part of a spare root, before it starts
// the holder: it makes r's directory, named for id (spareRootName),
// with the overlay's directories, or renames the one the sweep kept
// (reuse, which it takes or removes either way), and takes the
// directory's lock, which it returns open (close-on-exec) for the holder
// to inherit and keep.
// As the user, on the host: the namespace's root is the user, so the
// holder owns all of it.
func prepareSpareRoot(r *spareRoot, id string, reuse *sweptRoot) (lock int, dir string, err error) {
	dir = filepath.Join(r.Tmp, SpareRootPrefix+id)
	// Locked under a pending name and renamed into place: a sweep that
	// found it unlocked (made, not yet locked) would take it for a dead
	// one's and unlink it (image's staging rule ages pending names out
	// after an hour instead).
	pending := filepath.Join(r.Tmp, ".pending-"+SpareRootPrefix+id+".lock")
	lock, err = unix.Open(pending, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		reuse.release()
		return -1, "", fmt.Errorf("opening the spare root's lock: %w", err)
	}
	fail := func(err error) (int, string, error) {
		reuse.release()
		unix.Close(lock)
		os.Remove(pending)
		return -1, "", err
	}
	if err := unix.Flock(lock, unix.LOCK_SH|unix.LOCK_NB); err != nil {
		return fail(fmt.Errorf("locking the spare root's lock: %w", err))
	}
	// What an earlier process of this pid left, once no one holds it (a
	// start taking that one's root would). Its lock is held until ours
	// has its name and its directory is emptied: a store's sweep that
	// took it free in between would remove our root with it.
	if old, oerr := unix.Open(dir+".lock", unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); oerr == nil {
		if err := unix.Flock(old, unix.LOCK_EX|unix.LOCK_NB); err != nil {
			unix.Close(old)
			return fail(fmt.Errorf("an earlier spare root named %q is still in use", SpareRootPrefix+id))
		}
		defer unix.Close(old)
	}
	if err := os.Rename(pending, dir+".lock"); err != nil {
		return fail(err)
	}
	removeOwned(dir)
	if reuse.take(dir) {
		return lock, dir, nil
	}
	err = os.Mkdir(dir, 0o700)
	for _, d := range spareRootDirs {
		if err == nil {
			err = os.Mkdir(filepath.Join(dir, d), 0o755)
		}
	}
	if err != nil {
		unix.Close(lock)
		return -1, "", err
	}
	return lock, dir, nil
}

// holdPlan is what a holder does in its namespaces once its maps are
// written: with a root r, it mounts r on dir (spareRootPlan), and with
// join (a raw holder, whose descriptors 4 and 5 are free for it) makes
// the mount namespace a start joins (joinNSPlan); then holdEnd.
func holdPlan(r *spareRoot, dir string, join bool) (*plan.Plan, error) {
	p := plan.New("/")
	if r != nil {
		var err error
		if p, err = spareRootPlan(r, dir); err != nil {
			return nil, err
		}
		if join {
			joinNSPlan(p, dir)
		}
	}
	holdEnd(p)
	return p, p.Err()
}

// joinNSPlan adds the making of the mount namespace a start joins
// (docs/handshake.md, "A spare root", step 2): a copy of the holder's,
// made once its root is mounted, in which the root is pivoted into and
// the host's tree detached. The holder keeps it open at holdJoinFD and
// goes back to its own, which keeps the host's tree: a start's PID 1
// starts there, where a proc may still be mounted (the kernel refuses a
// user namespace a new proc where none is fully visible) and the host's
// /etc files of the container are still in reach, and enters the joined
// one once it has made its /proc and taken those files (rawEarlyPlan,
// buildRaw).
func joinNSPlan(p *plan.Plan, dir string) {
	merged := filepath.Join(dir, "merged")
	p.CloseRoot()
	p.OpenFixed("keeping the holder's mount namespace", "/proc/thread-self/ns/mnt", unix.O_RDONLY, holdSavedFD)
	p.Syscall("making the mount namespace a start joins", unix.SYS_UNSHARE, unix.CLONE_NEWNS)
	p.OpenFixed("keeping the mount namespace a start joins", "/proc/thread-self/ns/mnt", unix.O_RDONLY, holdJoinFD)
	addPivot(p, merged, false)
	p.Syscall("going back to the holder's mount namespace", unix.SYS_SETNS, holdSavedFD, unix.CLONE_NEWNS)
	p.Syscall("closing the holder's mount namespace", unix.SYS_CLOSE, holdSavedFD)
}

// holdEnd adds what every holder does last before its idle stage: it
// sets its alarm for spareLife (ITIMER_REAL, which outlives the execve
// and whose default action ends the process), leaves the directory it
// was started in (it would keep that filesystem from being unmounted),
// closes its standard descriptors (its maker waits for that; the idle
// stage's signalfd takes 0) and makes a session of its own, out of the
// terminal's reach: only now, since the kernel schedules a session as
// one group (autogroup), where the idle policy it inherits would count
// only against its own tasks while it mounts.
func holdEnd(p *plan.Plan) {
	itv := &unix.Itimerval{Value: unix.NsecToTimeval(int64(spareLife))}
	p.Syscall("setting the holder's alarm", unix.SYS_SETITIMER, unix.ITIMER_REAL, p.Ptr(itv, unsafe.Pointer(itv)), 0)
	p.Syscall("leaving the directory the holder started in", unix.SYS_CHDIR, p.Str("/"))
	p.Syscall("closing the holder's standard descriptors", unix.SYS_CLOSE_RANGE, 0, 2, 0)
	p.Syscall("making the holder's session", unix.SYS_SETSID)
}

// sweepSpareRoots removes from tmp the spare roots whose holder has
// ended (their lock is free): a start took the root and left its
// container's empty directories there, or none took it in time. The
// maker sweeps as it makes the next; a sweep of the store's tmp/ takes
// what is left when none follows.
//
// The first it can make a fresh root of (recycleDir: upper, work and
// merged as a maker makes them, nothing else) it keeps, still locked,
// for the next root to take whole (sweptRoot.take). In the common case,
// a start that took the last root, it holds the container's directories,
// made by a skeleton, never used, and all three are kept; of a root no
// start took, the overlay's upper and work are made again. On ext4
// here removing a directory costs 0.15–0.3 ms and making one 0.04–0.45
// ms (the first of a tree, placed by the allocator), and a root is four
// of each, on the way from a command's exit to the next spare.
func sweepSpareRoots(tmp string) *sweptRoot {
	d, err := os.Open(tmp)
	if err != nil {
		return nil
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	var kept *sweptRoot
	for _, n := range names {
		base, ok := strings.CutSuffix(n, ".lock")
		if !ok || !strings.HasPrefix(base, SpareRootPrefix) {
			continue
		}
		lock := FreeLock(unix.AT_FDCWD, filepath.Join(tmp, n))
		if lock < 0 {
			continue
		}
		dir := filepath.Join(tmp, base)
		// Not one named for this maker, an ended process's of the same
		// pid: prepareSpareRoot, which takes that name, would find its
		// lock held (ours, on another descriptor) and make none.
		if kept == nil && !isSpareRootOf(base, os.Getpid()) && recycleDir(unix.AT_FDCWD, dir, spareRootDirs, "") {
			kept = &sweptRoot{dir: dir, lock: lock}
			continue
		}
		(&sweptRoot{dir: dir, lock: lock}).release()
	}
	return kept
}

// sweptRoot is a spare root's directory that a sweep kept for the next
// root (sweepSpareRoots), its lock held exclusive meanwhile: no other
// sweep removes it.
type sweptRoot struct {
	dir  string
	lock int
}

// take renames the kept directory to dir, which must not exist, and lets
// go of its old lock; false, with the directory removed, where it cannot
// (dir is there, or the rename fails): the caller makes one instead. A
// nil r takes nothing.
func (r *sweptRoot) take(dir string) bool {
	if r == nil {
		return false
	}
	err := unix.Renameat2(unix.AT_FDCWD, r.dir, unix.AT_FDCWD, dir, unix.RENAME_NOREPLACE)
	if err != nil {
		removeOwned(r.dir)
	}
	os.Remove(r.dir + ".lock")
	unix.Close(r.lock)
	return err == nil
}

// release removes the directory and its lock, untaken (the sweep's
// removal of a free root too).
func (r *sweptRoot) release() {
	if r == nil {
		return
	}
	removeOwned(r.dir)
	os.Remove(r.dir + ".lock")
	unix.Close(r.lock)
}

// FreeLock takes a lock file of the store's tmp/ (a spare root's, or a
// staging directory's), at path in dirfd, exclusive, for a sweep to
// remove what it guards before letting go: its descriptor, or -1 where a
// holder, a start or a command holds it, or it is gone or no longer
// named path.
func FreeLock(dirfd int, path string) int {
	fd, err := unix.Openat(dirfd, path, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil || !stillNamed(fd, dirfd, path) {
		unix.Close(fd)
		return -1
	}
	return fd
}

// stillNamed says whether the lock file open as fd is still the one at
// path (in dirfd): a maker may have renamed a new, held lock over the
// name since it was opened (prepareSpareRoot, an earlier root of the
// same pid), and a free old lock would then let a sweep remove the new
// root's directory and lock.
func stillNamed(fd, dirfd int, path string) bool {
	var open, named unix.Stat_t
	if unix.Fstat(fd, &open) != nil || unix.Fstatat(dirfd, path, &named, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return false
	}
	return open.Dev == named.Dev && open.Ino == named.Ino
}

// removeSpareRootAt removes the spare root name in the directory dirfd,
// and then its lock, if no holder holds that lock.
func removeSpareRootAt(dirfd int, name string) {
	lock := FreeLock(dirfd, name+".lock")
	if lock < 0 {
		return
	}
	defer unix.Close(lock)
	if removeAt(dirfd, name) == nil {
		unix.Unlinkat(dirfd, name+".lock", 0)
	}
}

// spareRootPlan mounts r on dir's merged: the namespace's mounts made
// private first, as PID 1's are (addNamespaceSetup), then the overlay,
// /dev and /sys.
func spareRootPlan(r *spareRoot, dir string) (*plan.Plan, error) {
	p := plan.New(filepath.Join(dir, "merged"))
	addPrivate(p)
	if _, err := addOverlay(p, r.Layers, filepath.Join(dir, "upper"), filepath.Join(dir, "work"), r.Volatile); err != nil {
		return nil, err
	}
	p.OpenRoot()
	b := binder{p: p}
	addDevSys(p, r.DevSys, nil, &b)
	p.MkdirAll("making /proc", "proc")
	for _, t := range r.Targets {
		p.Make("making /"+t, t, false)
	}
	if b.err == nil {
		b.err = p.Err()
	}
	return p, b.err
}

// addOverlay adds the mount of the overlay of layers (bottom first) on
// upper and work at p's root, by path (descriptors opened here would
// belong to this mount namespace, whose mounts an overlay made in
// another refuses), and returns its index in p.
func addOverlay(p *plan.Plan, layers []string, upper, work string, volatile bool) (int, error) {
	data, err := fuseoverlay.OverlayPathOptions(layers, upper, work, volatile)
	if err != nil {
		return -1, err
	}
	at := p.Len()
	p.Syscall(fmt.Sprintf("mounting overlay at %q with %d layers", p.Root, len(layers)),
		unix.SYS_MOUNT, p.Str("overlay"), p.Str(p.Root), p.Str("overlay"), 0, p.Str(data))
	return at, nil
}

// heldRoot is a spare root a start took with its spare: the namespaces
// it was made in, for PID 1 to enter (until the clone), and its holder,
// alive until the start has decided (take or end), so that no sweep
// takes the directory meanwhile.
type heldRoot struct {
	mnt, ipc *os.File
	// join is the mount namespace its holder keeps for a start to join
	// (joinNSPlan), nil where it keeps none and once PID 1 has it (as
	// mnt and ipc); hasJoin says it was there, for good. early is PID
	// 1's Hold.Early, which says whether it made its /proc, which it
	// needs there (rawEarlyPlan): asked only once PID 1 is cloned, and
	// late, when it has long been done (waiting for it on the clone's
	// thread delayed the clone's outcome, which the start waits for).
	join     *os.File
	hasJoin  bool
	early    func() error
	key, dir string
	pidfd    int        // -1 once ended
	lock     int        // a shared flock of the root's lock, -1 once ended
	user     *spareUser // nil where the maker looked none up
	ended    sync.Once  // end: by the clone's thread or by Run's goroutine, once
}

// joinable says whether PID 1, cloned, made its /proc (early).
func (h *heldRoot) joinable() bool {
	if h.early == nil {
		return false
	}
	if err := h.early(); err != nil {
		Trace("the spare root's namespace not joinable: %v", err)
		return false
	}
	return true
}

// lockSpareRoot takes a shared flock of the spare root dir's lock, so
// that no sweep removes dir whatever becomes of its holder; -1 where
// one is at work (it holds the lock exclusive), or the lock is gone.
func lockSpareRoot(dir string) int {
	fd, err := unix.Open(dir+".lock", unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	if unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB) != nil {
		unix.Close(fd)
		return -1
	}
	return fd
}

// closeNS closes the namespaces, once PID 1 is in them.
func (h *heldRoot) closeNS() {
	if h == nil {
		return
	}
	for _, f := range []*os.File{h.mnt, h.ipc, h.join} {
		if f != nil {
			f.Close()
		}
	}
	h.mnt, h.ipc, h.join = nil, nil, nil
}

// end ends the holder and lets go of the lock: the directory is then a
// sweep's.
func (h *heldRoot) end() {
	if h == nil {
		return
	}
	h.ended.Do(func() {
		unix.PidfdSendSignal(h.pidfd, unix.SIGKILL, nil, 0)
		unix.Close(h.pidfd)
		unix.Close(h.lock)
		h.pidfd, h.lock = -1, -1
	})
}

// take gives the container whose root is l the spare root's directories
// if want, r's key, is the spare's: their directories exchanged, so that
// l.Target is the spare's mount point (as PID 1's mount namespace, the
// spare's, has it), with its overlay on what are now l.Upper and l.Work.
// Either way it ends the holder, but for a root taken with keep: PID 1
// is to join the holder's other namespace (joinNSPlan), and the holder
// then lives until PID 1 has (the caller ends it), so that PID 1, the
// last process in the holder's own namespace but for the holder, does
// not take that namespace down, the host's tree in it, as it leaves it:
// the kernel does that in the leaving call. false: the start mounts its
// own root. An error says an exchange could not be put back: the
// container's directories are mixed with the spare's, and the start
// must not go on.
func (h *heldRoot) take(r *spareRoot, l fuseoverlay.Layout, keep bool) (taken bool, err error) {
	if h == nil {
		return false, nil
	}
	defer func() {
		if !keep || !taken || err != nil {
			h.end()
		}
	}()
	want, err := r.key()
	if err != nil || want != h.key {
		Trace("spare root not taken: another image or launch")
		return false, nil
	}
	ours := []string{l.Upper, l.Work, l.Target}
	for i, d := range spareRootDirs {
		err := unix.Renameat2(unix.AT_FDCWD, filepath.Join(h.dir, d), unix.AT_FDCWD, ours[i], unix.RENAME_EXCHANGE)
		if err == nil {
			continue
		}
		Trace("spare root not taken: exchanging %s: %v", d, err)
		for j := i - 1; j >= 0; j-- { // back as they were
			if berr := unix.Renameat2(unix.AT_FDCWD, filepath.Join(h.dir, spareRootDirs[j]), unix.AT_FDCWD, ours[j], unix.RENAME_EXCHANGE); berr != nil {
				return false, fmt.Errorf("putting back the container's %s after exchanging its %s with the spare root %s failed: %w (the container is removed with this run; run it again, or with SANDBOX_NO_SPARE=1 to start without spare roots)", spareRootDirs[j], d, h.dir, berr)
			}
		}
		return false, nil
	}
	Trace("spare root taken")
	return true, nil
}
