package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/fuseoverlay"
	"github.com/sandbox-dev/sandbox/idle"
	"github.com/sandbox-dev/sandbox/plan"
	"github.com/sandbox-dev/sandbox/spawn"
	"github.com/sandbox-dev/sandbox/userns"
)

// A spare user namespace (docs/handshake.md, "A spare user namespace")
// is one made, and its subid maps written by newuidmap and newgidmap,
// after a command, for the next container start in subid mode (a raw
// one or the Go init's) to begin in: those two setuid helpers cost that
// start about a millisecond of its path and three of CPU. Each spare serves one container, so containers
// share no user namespace (nor the keyrings and counts it holds).
//
// A maker (the init program's "spare" stage, started as a command ends:
// by a raw start's removal hand-off, or by StartSpare)
// starts the holder in a new user namespace (a held child with no Go,
// startRawHolder, or the "spare-hold" stage where that cannot be), has
// its maps written and leaves a record, ready-PID,
// holding "PID START LIMITS" (nsLimits),
// in the spare directory of the user's runtime directory. A start takes
// the record (renames it to taken-PID: one start gets it), checks that
// the process is that holder (its start time and name), that its maps
// are the ones it would write and that the namespace is the user's,
// opens the namespace and kills the holder. A holder nobody takes ends
// after spareLife.
const (
	spareDirName   = "spare"
	spareReady     = "ready-"
	spareTaken     = "taken-"
	spareLock      = "make.lock"
	spareQueue     = "make.queue" // held by the one maker waiting for make.lock
	spareMakerName = "sandbox-mkspare"
	spareHoldName  = "sandbox-spare"
	spareLife      = 10 * time.Minute
)

// spareRequest is what the maker of the next spare needs: the user's
// runtime directory and the map, and the root its holder makes too, if
// any (a raw start's: spareroot.go).
type spareRequest struct {
	runDir string
	m      userns.Mapping
	root   *spareRoot
	args   []string // spareArgs, once made (argv)
}

// argv is spareArgs(req), made once. A raw start makes it while its
// payload runs (RawEarly.Run), off the path from the payload's end to
// the command's. Set root first.
func (req *spareRequest) argv() []string {
	if req.args == nil {
		req.args = spareArgs(req)
	}
	return req.args
}

// pendingSpare is the request for the next spare after a start of the Go
// init that looked for one: StartSpare makes it as the command ends. (A
// raw start has its removal make it: startRemoval.) Starts may run at
// once (the API service).
var pendingSpare atomic.Pointer[spareRequest]

// StartSpare starts the maker of the next spare user namespace if a
// start of the Go init in this process looked for one: called as the
// command ends, so that the maker's work (newuidmap, newgidmap, the
// holder's start) comes after it. It costs the command one process start.
func StartSpare() {
	req := pendingSpare.Swap(nil)
	if req == nil {
		return
	}
	exe := openInit(req.runDir)
	if exe == nil {
		return
	}
	defer exe.Close()
	cmd := &exec.Cmd{
		Path: "/proc/self/fd/3", Args: spareArgs(req),
		Env:        append([]string{initEnv + "=1"}, initRuntimeEnv...),
		ExtraFiles: []*os.File{exe},
		// Its own process group (spawn.Attr.Setpgid), no parent-death
		// signal: it outlives us.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	var err error
	if a, ok := spawn.FromCmd(cmd); ok {
		a.Idle, a.Detach = true, true // after the command, not waited for (startRemoval)
		_, err = spawn.Start(a)
	} else {
		err = cmd.Start()
	}
	if err != nil {
		Trace("no spare user namespace made: %v", err)
		return
	}
	Trace("spare maker started")
}

// spareOff says spares are not used (SANDBOX_NO_SPARE=1, for comparing).
func spareOff() bool { return os.Getenv("SANDBOX_NO_SPARE") != "" }

// joinOff says a start on a spare root does not join the namespace its
// holder keeps (SANDBOX_NO_SPARE_JOIN=1, for comparing): PID 1 mounts
// /proc, the /etc files and the masks and pivots in the holder's own,
// as where a Go holder made the root.
func joinOff() bool { return os.Getenv("SANDBOX_NO_SPARE_JOIN") != "" }

// takeSpare is a spare user namespace with m's maps, open, or nil, and,
// in subid mode, the request for the next one (startRemoval makes it).
// withRoot takes the spare's root too, where its holder made one (a raw
// start): its namespaces, and its holder left alive until the start
// takes the root or not (heldRoot.take). Otherwise the holder ends here.
//
// In single-id mode, where a start writes its one-line maps itself, a
// spare is only worth its entering (a child more) with a root: so only
// withRoot asks for, or takes, one there.
func takeSpare(runDir string, m userns.Mapping, withRoot bool) (*os.File, *heldRoot, *spareRequest) {
	if runDir == "" || !(m.Mode == userns.ModeSubID || m.Mode == userns.ModeSingle && withRoot) || !rootIsUser(m) || spareOff() {
		return nil, nil, nil
	}
	// Only in a runtime directory no one else can enter: without
	// XDG_RUNTIME_DIR it is /tmp/sandbox-UID, which another user could
	// make first and fill with records naming processes of ours (one in
	// a running container: its namespace has our maps and is ours).
	if PrivateDir(runDir) != nil {
		return nil, nil, nil
	}
	next := &spareRequest{runDir: runDir, m: m}
	dir := filepath.Join(runDir, spareDirName)
	d, err := os.Open(dir)
	if err != nil {
		return nil, nil, next
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, name := range names {
		id, ok := strings.CutPrefix(name, spareReady)
		if !ok {
			continue
		}
		taken := filepath.Join(dir, spareTaken+id)
		if os.Rename(filepath.Join(dir, name), taken) != nil {
			continue // another start took it
		}
		b, err := os.ReadFile(taken)
		os.Remove(taken)
		if err != nil {
			continue
		}
		ns, root, err := useSpare(string(b), m, withRoot)
		if err != nil {
			Trace("spare user namespace %s not used: %v", id, err)
			continue
		}
		Trace("spare user namespace taken")
		return ns, root, next
	}
	return nil, nil, next
}

// rootIsUser says whether m maps the container's root to the user, as
// the store's map does: a process of ours that enters such a namespace
// executes as its root, with every capability. Not so with keep-id's map
// (root is a subordinate id there, and the user is itself): that start
// needs its mapwait stage, which only a namespace made for it has.
func rootIsUser(m userns.Mapping) bool {
	own := func(maps []userns.IDMap, id int) bool {
		for _, e := range maps {
			if e.ContainerID == 0 {
				return int(e.HostID) == id
			}
		}
		return false
	}
	return own(m.UIDs, os.Getuid()) && own(m.GIDs, os.Getgid())
}

// useSpare opens the user namespace of the holder a record names, once
// it has checked it, and ends the holder; with withRoot, where the
// holder made a root, it opens that root's namespaces too and leaves the
// holder to the root's end (heldRoot.end).
func useSpare(record string, m userns.Mapping, withRoot bool) (*os.File, *heldRoot, error) {
	first, rest, _ := strings.Cut(strings.TrimSuffix(record, "\n"), "\n")
	rootDir, userLine, _ := strings.Cut(rest, "\n")
	f := strings.Fields(first)
	if len(f) != 3 && len(f) != 4 {
		return nil, nil, fmt.Errorf("a malformed record %q", record)
	}
	if f[2] != nsLimits() {
		return nil, nil, fmt.Errorf("made under other limits (%s, not %s)", f[2], nsLimits())
	}
	pid, err1 := strconv.Atoi(f[0])
	start, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 || (len(f) == 4) != (rootDir != "") {
		return nil, nil, fmt.Errorf("a malformed record %q", record)
	}
	// The pidfd names this process whatever becomes of its pid: the
	// checks below read /proc by pid, so the kill through the pidfd,
	// whose result is checked, is what proves they read the holder (had
	// it ended and its pid been reused, the kill fails with ESRCH, and
	// the namespace is not used).
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("its holder %d: %w", pid, err)
	}
	got, name, err := ProcessStart(pid)
	if err != nil || got != start || name != spareHoldName {
		unix.Close(pidfd)
		return nil, nil, fmt.Errorf("process %d is not the holder that was recorded (%q, started %d, %v)", pid, name, got, err)
	}
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", pid))
	if err != nil {
		unix.Close(pidfd)
		return nil, nil, err
	}
	err = checkSpare(ns, pid, m)
	if err == nil && m.Mode != userns.ModeSubID && rootDir == "" {
		// Its maps a start writes itself: entering it costs a child more.
		err = errors.New("in single-id mode a spare is of use with a root only")
	}
	var root *heldRoot
	if err == nil && withRoot && rootDir != "" {
		// The root's directory is ours from its lock on, whenever its
		// holder ends; without it (a sweep at work), the namespace alone
		// is taken.
		if lock := lockSpareRoot(rootDir); lock >= 0 {
			root = &heldRoot{key: f[3], dir: rootDir, pidfd: -1, lock: lock}
			if userLine != "" {
				root.user = parseSpareUser(userLine)
			}
			if root.mnt, err = os.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid)); err == nil {
				root.ipc, err = os.Open(fmt.Sprintf("/proc/%d/ns/ipc", pid))
			}
			if err == nil && !joinOff() {
				root.join = openJoinNS(pidfd, pid, ns)
				root.hasJoin = root.join != nil
			}
		}
	}
	// A signal through the pidfd proves the reads by pid were the
	// holder's: had it ended and its pid been reused, it fails with
	// ESRCH, and the namespaces are not used. Still the holder that was
	// checked, it goes whatever the checks say (only the container will
	// be in the namespace, and a holder of the wrong one is of no use),
	// but for the holder of a root the start takes: that one goes once
	// the start has decided (heldRoot.end).
	sig := unix.SIGKILL
	if err == nil && root != nil {
		sig = 0
	}
	if kerr := unix.PidfdSendSignal(pidfd, sig, nil, 0); err == nil && kerr != nil {
		err = fmt.Errorf("signalling its holder: %w", kerr)
	}
	if err != nil || root == nil {
		unix.Close(pidfd)
		if err != nil {
			ns.Close()
			root.closeNS()
			if root != nil {
				unix.Close(root.lock)
			}
			return nil, nil, err
		}
		return ns, nil, nil
	}
	root.pidfd = pidfd
	return ns, root, nil
}

// nsLimits are the soft limits a new user namespace keeps as its own
// ceilings, checked against the user's count on the host whatever the
// limits of the processes in it (RLIMIT_NPROC, MSGQUEUE, SIGPENDING and
// MEMLOCK, as create_user_ns records them from its creator), as one
// word. A spare's are its maker's, inherited from the command before:
// a start takes only one made under its own, or a `ulimit -u` of that
// command would bind this one's container, or one of this command
// would not.
func nsLimits() string {
	var b strings.Builder
	for i, r := range []int{unix.RLIMIT_NPROC, unix.RLIMIT_MSGQUEUE, unix.RLIMIT_SIGPENDING, unix.RLIMIT_MEMLOCK} {
		var l unix.Rlimit
		unix.Getrlimit(r, &l)
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(l.Cur, 10))
	}
	return b.String()
}

// nsGetOwnerUID is NS_GET_OWNER_UID, _IO(0xb7, 0x4), which x/sys lacks;
// nsGetUserNS and nsGetNSType are NS_GET_USERNS and NS_GET_NSTYPE.
const (
	nsGetOwnerUID = 0xb704
	nsGetUserNS   = 0xb701
	nsGetNSType   = 0xb703
)

// openJoinNS opens the mount namespace a raw holder keeps at holdJoinFD
// (joinNSPlan): the container's root alone, pivoted into. It must be a
// mount namespace owned by userNS, the holder's user namespace; nil
// where the holder keeps none (the Go holder, or an older build's).
// Taken through the holder's pidfd (one call; the user owns the
// holder's namespace, so may), else through /proc (where Yama's
// ptrace_scope 3 refuses every attach, which pidfd_getfd counts as).
func openJoinNS(pidfd, pid int, userNS *os.File) *os.File {
	var f *os.File
	if fd, err := unix.PidfdGetfd(pidfd, holdJoinFD, 0); err == nil {
		f = os.NewFile(uintptr(fd), "mnt")
	} else if errors.Is(err, unix.EBADF) {
		Trace("no mount namespace to join: the holder has no descriptor %d", holdJoinFD)
		return nil
	} else {
		if f, err = os.Open(fmt.Sprintf("/proc/%d/fd/%d", pid, holdJoinFD)); err != nil {
			Trace("no mount namespace to join: %v", err)
			return nil
		}
	}
	if err := checkJoinNS(f, userNS); err != nil {
		Trace("no mount namespace to join: descriptor %d of the holder: %v", holdJoinFD, err)
		f.Close()
		return nil
	}
	return f
}

// checkJoinNS checks that f is a mount namespace owned by userNS.
func checkJoinNS(f, userNS *os.File) error {
	typ, _, e := syscall.Syscall(unix.SYS_IOCTL, f.Fd(), nsGetNSType, 0)
	if e != 0 || typ != unix.CLONE_NEWNS {
		return fmt.Errorf("not a mount namespace (%d, %v)", typ, e)
	}
	owner, _, e := syscall.Syscall(unix.SYS_IOCTL, f.Fd(), nsGetUserNS, 0)
	if e != 0 {
		return fmt.Errorf("its owner: %w", e)
	}
	var got, want unix.Stat_t
	err := unix.Fstat(int(owner), &got)
	unix.Close(int(owner))
	if err == nil {
		err = unix.Fstat(int(userNS.Fd()), &want)
	}
	if err != nil {
		return err
	}
	if got.Dev != want.Dev || got.Ino != want.Ino {
		return errors.New("owned by another user namespace")
	}
	return nil
}

// checkSpare checks that ns (the user namespace of pid) is the user's own
// and has exactly m's maps.
func checkSpare(ns *os.File, pid int, m userns.Mapping) error {
	var owner uint32
	if _, _, e := syscall.Syscall(unix.SYS_IOCTL, ns.Fd(), nsGetOwnerUID, uintptr(unsafe.Pointer(&owner))); e != 0 {
		return fmt.Errorf("its owner: %w", e)
	}
	if int(owner) != os.Getuid() {
		return fmt.Errorf("it belongs to uid %d", owner)
	}
	for _, mp := range []struct {
		file string
		want []userns.IDMap
	}{{"uid_map", m.UIDs}, {"gid_map", m.GIDs}} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, mp.file))
		if err != nil {
			return err
		}
		if !sameMaps(string(b), mp.want) {
			return fmt.Errorf("its %s is %q, not this store's map", mp.file, b)
		}
	}
	return nil
}

// sameMaps says whether text (a uid_map or gid_map as /proc shows it,
// in whatever order) has exactly the lines want.
func sameMaps(text string, want []userns.IDMap) bool {
	got, ok := userns.ParseMapText(text)
	if !ok {
		return false
	}
	byContainer := func(a, b userns.IDMap) int { return int(int64(a.ContainerID) - int64(b.ContainerID)) }
	w := slices.Clone(want)
	slices.SortFunc(got, byContainer)
	slices.SortFunc(w, byContainer)
	return slices.Equal(got, w)
}

// ProcessStart reads a live process's start time (clock ticks since
// boot), which tells it from a later process given the same pid, and its
// name; a zombie reads as ended.
func ProcessStart(pid int) (start uint64, name string, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", err
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return 0, "", errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 20 {
		return 0, "", errors.New("malformed /proc stat")
	}
	if f[0] == "Z" || f[0] == "X" {
		return 0, "", errors.New("exited")
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	return start, s[open+1 : end], err
}

// spareArgs are the maker's arguments for req: the runtime directory, the
// maps and the helpers that write them ("-" for both in single-id mode,
// where the maker writes them itself), and the root as its text ("-" for
// none).
func spareArgs(req *spareRequest) []string {
	root := "-"
	if req.root != nil {
		root = req.root.text()
	}
	newUID, newGID := req.m.NewUIDMap, req.m.NewGIDMap
	if req.m.Mode != userns.ModeSubID {
		newUID, newGID = "-", "-"
	}
	return []string{spareMakerName, "spare", req.runDir, userns.MapText(req.m.UIDs), userns.MapText(req.m.GIDs), newUID, newGID, root}
}

// parseSpareRoot reads spareArgs' root: nil for none, or one it cannot
// read (no root is made then).
func parseSpareRoot(arg string) *spareRoot {
	if arg == "-" {
		return nil
	}
	r, err := parseSpareRootText(arg)
	if err != nil || r.Tmp == "" || len(r.Layers) == 0 {
		Trace("no spare root: %q: %v", arg, err)
		return nil
	}
	return r
}

// spareMain is the "spare" stage, the maker: RUNDIR UIDMAP GIDMAP
// NEWUIDMAP NEWGIDMAP ROOT, and the remove stage's NAME SPARE [SKELETON
// DIR...] (Removal.args) when it starts a removal too (as startRemoval
// passes them, with the removal descriptors). Once the maker before it,
// if any, has ended (waitMakerLock), it makes spares until spareDepth
// are ready (makeSpare), doing the removal after the first, and exits.
func spareMain(args []string) {
	setName(spareMakerName)
	if len(args) < 6 {
		os.Exit(125)
	}
	// The removal, if one was handed to us, is done once the first spare
	// is made (or not made): the two would share the CPU a start leaves,
	// and the spare is what the next start waits for. Here where we can,
	// else by the remove stage we start. Its descriptors are
	// close-on-exec until then: newuidmap gets none. Once, whichever
	// comes first: the first spare's end, a panic, or removalLate after
	// our start (a maker waiting on newuidmap or on its holder must not
	// keep the container's files and lock for that long). It runs under
	// make.lock: a maker queued behind us waits for it too.
	removal := func() {}
	if len(args) > 6 {
		if len(args) < 8 {
			os.Exit(125)
		}
		rm := Removal{Dir: os.NewFile(removalDirFD, "dir"), Keep: os.NewFile(removalLockFD, "lock"), Name: args[6], Skeleton: args[8:], Init: initPidfd()}
		if args[7] != "-" {
			rm.Spare = args[7]
		}
		ns, exe := os.NewFile(removalNSFD, "userns"), os.NewFile(removalExeFD, "exe")
		for _, f := range []*os.File{rm.Dir, rm.Keep, exe, ns, rm.Init} {
			if f != nil {
				unix.CloseOnExec(int(f.Fd()))
			}
		}
		removal = sync.OnceFunc(func() {
			// Here, as the user on the host, where we can: a process
			// fewer a run (its Go runtime's start, 2–3 ms of CPU the
			// next start may share). Files of other ids of the
			// container's map (a payload's user of its own) refuse us:
			// then the remove stage in the container's user namespace
			// takes what is left.
			var err error
			if rerr := removeFiles(rm.args()); rerr != nil {
				Trace("removing the container's files here: %v; starting the removal", rerr)
				err = startRemoval(ns, exe, rm, nil)
			}
			// The files are gone, or the lock stays with the removal
			// alone. Closed through their files, not by number: a file
			// left to the collector would close its number again later,
			// by then the spare's lock or pipe.
			for _, f := range []*os.File{rm.Dir, rm.Keep, exe, ns} {
				f.Close()
			}
			if rm.Init != nil {
				rm.Init.Close()
			}
			if err != nil {
				Trace("no removal process: %v", err)
			}
		})
		defer removal()
		time.AfterFunc(removalLate, removal)
	}
	uids, ok1 := userns.ParseMapText(args[1])
	gids, ok2 := userns.ParseMapText(args[2])
	if !ok1 || !ok2 {
		removal()
		os.Exit(125)
	}
	m := userns.Mapping{Mode: userns.ModeSubID, UIDs: uids, GIDs: gids, NewUIDMap: args[3], NewGIDMap: args[4]}
	if args[3] == "-" {
		m = userns.Mapping{Mode: userns.ModeSingle, UIDs: uids, GIDs: gids}
	}
	if err := PrivateDir(args[0]); err != nil { // as takeSpare checks it
		removal()
		Trace("no spare user namespace: %v", err)
		os.Exit(1)
	}
	err := makeSpare(filepath.Join(args[0], spareDirName), m, parseSpareRoot(args[5]), removal)
	removal()
	if err != nil {
		Trace("making a spare user namespace: %v", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// removalLate is how long after its start a maker starts the removal it
// was handed even if the spare is not made yet (spareMain): making one
// takes 9–12 ms here.
const removalLate = 100 * time.Millisecond

// makeSpare keeps spareDepth spares with m's maps ready in dir, once no
// other maker is at work (waitMakerLock), making each with root where
// one is asked for. Ready spares made for another root count: each is of
// use to a start, which takes its user namespace and mounts its own
// root, and a start cannot choose one by its key (it takes one before
// its image is resolved). beforeWait runs before any wait for another
// maker, and again once the first spare is made: the removal the maker
// was handed, which would otherwise wait with it (it runs once; a no-op
// where none was handed).
func makeSpare(dir string, m userns.Mapping, root *spareRoot, beforeWait func()) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(dir, spareLock), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if queued, err := waitMakerLock(dir, lock, beforeWait); err != nil || !queued {
		return err
	}
	var key string
	if root != nil {
		// The layers as they are now: should one change before the
		// holder mounts it, the key names what a start would not want.
		if key, err = root.key(); err != nil {
			Trace("no spare root: %v", err)
			root = nil
		}
	}
	if root == nil && m.Mode != userns.ModeSubID {
		return nil // in single-id mode a spare is made for its root alone
	}
	for n := 0; n < spareDepth; n++ {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		ready := 0
		for _, e := range entries {
			name := e.Name()
			switch {
			case strings.HasPrefix(name, spareReady):
				ready++
			case n == 0 && (strings.HasPrefix(name, spareTaken) || strings.HasPrefix(name, ".new-")):
				// What a start or a maker killed midway left: a record
				// taken but not removed, or one never renamed into place.
				if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Minute {
					os.Remove(filepath.Join(dir, name))
				}
			}
		}
		if ready >= spareDepth {
			return nil
		}
		rooted, err := makeOneSpare(dir, m, root, key, spareRootName(os.Getpid(), n))
		if err != nil {
			return err
		}
		beforeWait()
		if root != nil && !rooted {
			return nil // made without its root (Trace says why): so would the next be
		}
	}
	return nil
}

// spareDepth is how many spares a maker keeps ready. With one, a start
// that came within the maker's time of the one before (20-25 ms after
// its exit with subordinate ids on a slow machine: the maker's own start,
// then newuidmap and newgidmap) found none and made its user namespace
// and root itself; two cover two starts in a row, and each start's maker
// makes the one its start took again. Each costs a sleeping holder (80
// KiB of PSS) for up to spareLife.
const spareDepth = 2

// spareRootName names the n-th spare root a maker of pid makes: its
// directory in the store's tmp/ (prepareSpareRoot), after
// SpareRootPrefix.
func spareRootName(pid, n int) string {
	if n == 0 {
		return strconv.Itoa(pid)
	}
	return strconv.Itoa(pid) + "." + strconv.Itoa(n)
}

// isSpareRootOf says whether base (a name in tmp/) is one spareRootName
// gives a maker of pid, whatever its n.
func isSpareRootOf(base string, pid int) bool {
	name, ok := strings.CutPrefix(base, SpareRootPrefix)
	p, _, _ := strings.Cut(name, ".")
	return ok && p == strconv.Itoa(pid)
}

// makeOneSpare makes a spare with m's maps in dir; with root, it makes
// the root's directory (prepareSpareRoot, named for id) and its holder
// mounts the root there, for a start to take by key.
func makeOneSpare(dir string, m userns.Mapping, root *spareRoot, key, id string) (rooted bool, err error) {
	var rootDir string
	var rootLock *os.File // the root's lock, which the holder inherits
	if root != nil {
		var fd int
		if fd, rootDir, err = prepareSpareRoot(root, id, sweepSpareRoots(root.Tmp)); err == nil {
			rootLock = os.NewFile(uintptr(fd), "spare root lock")
			defer rootLock.Close()
		}
		if err != nil {
			Trace("no spare root: %v", err)
			root = nil
		}
	}
	if root == nil && m.Mode != userns.ModeSubID {
		return false, nil // in single-id mode a spare is made for its root alone
	}
	var pid int
	var hold *goHolder
	if spawn.Supported() && idle.Entered() {
		if pid, err = startRawHolder(m, root, rootDir, rootLock); errors.Is(err, errHolderMaps) {
			return false, err
		} else if err != nil {
			// A step the Go holder has another way for (a /sys submount
			// that refuses to be made read-only: plan's fallbacks), as a
			// raw start gives way to the Go init; what a volatile
			// overlay left in the work directory would refuse the next.
			Trace("no raw holder: %v", err)
			if root != nil {
				clearWorkDir(filepath.Join(rootDir, "work"))
			}
			pid = 0
		}
	}
	if pid == 0 {
		if hold, err = startGoHolder(m, root, rootDir, rootLock); err != nil {
			return false, err
		}
		pid = hold.cmd.Process.Pid
	}
	if rootLock != nil {
		// The holder has its own copy: ours would keep the lock held
		// past a start that took the root and ended the holder, until
		// we exit, and its removal would leave the directory to a sweep.
		rootLock.Close()
	}
	// Ends the holder on a failure below.
	kill := func() {
		unix.Kill(pid, unix.SIGKILL)
		if hold != nil {
			hold.cmd.Wait()
		} else {
			spawn.Wait(pid)
		}
	}
	if hold != nil {
		if err = hold.ready(m); err != nil {
			kill()
			return false, err
		}
	}
	if err == nil {
		var ns *os.File
		if ns, err = os.Open(fmt.Sprintf("/proc/%d/ns/user", pid)); err == nil {
			err = checkSpare(ns, pid, m)
			ns.Close()
		}
	}
	var start uint64
	if err == nil {
		// Its execve of the idle stage names it "exe" until the stage
		// names itself again: a start that read it then would refuse it.
		// The record waits for the name: microseconds, but the holder
		// runs at the idle policy, which a loaded machine can hold off
		// for a second or more; a bound of 100 ms lost spares there.
		var name string
		deadline := time.Now().Add(holderNameWait)
		for pause := 50 * time.Microsecond; ; pause = min(2*pause, 10*time.Millisecond) {
			start, name, err = ProcessStart(pid)
			if err != nil || name == spareHoldName || time.Now().After(deadline) {
				break
			}
			time.Sleep(pause)
		}
		if err == nil && name != spareHoldName {
			err = fmt.Errorf("the holder is named %q, not %q", name, spareHoldName)
		}
	}
	if err == nil {
		// Whole or not at all: renamed into place once written.
		tmp := filepath.Join(dir, fmt.Sprintf(".new-%d", pid))
		record := fmt.Appendf(nil, "%d %d %s\n", pid, start, nsLimits())
		if root != nil {
			// The key, and on a line of its own the root's directory;
			// then the user looked up, if found.
			record = fmt.Appendf(nil, "%d %d %s %s\n%s\n", pid, start, nsLimits(), key, rootDir)
			if u, err := imageUser(fuseoverlay.Layout{Layers: root.Layers}, root.User); err == nil {
				if su := (spareUser{User: root.User, Found: u}); su.recordable() {
					record = append(append(record, su.String()...), '\n')
				}
			}
		}
		if err = os.WriteFile(tmp, record, 0o600); err == nil {
			err = os.Rename(tmp, filepath.Join(dir, spareReady+strconv.Itoa(pid)))
		}
	}
	if err != nil {
		kill()
		return false, err
	}
	Trace("spare user namespace %d ready", pid)
	if hold != nil {
		return root != nil, hold.cmd.Process.Release()
	}
	return root != nil, nil
}

// holderNameWait bounds a maker's wait for its live holder to name
// itself (a holder that died first ends the wait at once: ProcessStart
// reads its zombie, named "exe").
const holderNameWait = 5 * time.Second

// makerLockWait bounds a maker's wait for the one before it
// (waitMakerLock): making a spare takes 10-40 ms here, seconds at the
// idle policy under load. Only one maker waits, so the bound costs one
// sleeping process; it ends the wait that a maker stuck for good (a hung
// newuidmap) would make endless, and must not end one behind a maker
// that a loaded machine only holds off.
const makerLockWait = 2 * time.Minute

// waitMakerLock takes the makers' lock (make.lock), waiting for a maker
// at work to let go where one is, and says whether this maker is to go
// on and look for a spare.
//
// A maker that found the lock taken used to end at once, which lost a
// spare: the maker before it, at the idle policy, can be stalled between
// renaming its record into place and letting go of the lock, while a
// start takes that record and starts us; the one before then ends
// without making another (it made one), and so did we. So one maker
// waits, and looks once the one at work has ended: the one holding
// make.queue. A maker that finds that taken too ends at once, since the
// waiting one looks after it has the lock and lets go of make.queue, so
// after our start took its spare; at most two makers are then alive, one
// at work and one waiting, however many commands end meanwhile.
// beforeWait runs before the wait. Polled, not a blocking flock: a
// blocking one could not be bounded without a signal.
func waitMakerLock(dir string, lock *os.File, beforeWait func()) (bool, error) {
	if unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
		return true, nil
	}
	queue, err := os.OpenFile(filepath.Join(dir, spareQueue), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false, err
	}
	defer queue.Close()
	if unix.Flock(int(queue.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return false, nil // another waits, and looks after us
	}
	if beforeWait != nil {
		beforeWait()
	}
	deadline := time.Now().Add(makerLockWait)
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return true, nil // make.queue let go of as we return: after this
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			return false, fmt.Errorf("taking the makers' lock: %w", err)
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("another maker held the lock for %v", makerLockWait)
		}
		time.Sleep(pause)
	}
}

// goHolder is a spare's holder started as our program's "spare-hold"
// stage (spareHoldMain): where package spawn cannot start one (other
// architectures), or where a raw holder failed (startRawHolder).
type goHolder struct {
	cmd   *exec.Cmd
	named *os.File // its stdout: ends once it is ready; what it wrote says why not
	goW   *os.File // its go-ahead to make the root, once its maps are written; nil without a root
}

// startGoHolder starts a goHolder in a new user namespace (and mount and
// IPC namespaces, with root to make on rootDir, lock its descriptor 3);
// ready then writes its maps and waits for it.
func startGoHolder(m userns.Mapping, root *spareRoot, rootDir string, lock *os.File) (*goHolder, error) {
	named, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	h := &goHolder{named: named, cmd: &exec.Cmd{
		Path: "/proc/self/exe", Args: []string{spareHoldName, "spare-hold"},
		Env:    append([]string{initEnv + "=1"}, initRuntimeEnv...),
		Stdout: w,
		// In our process group, not a session of its own yet: the
		// kernel schedules a session as one group (autogroup), in which
		// the idle policy we run at (and it inherits) would count only
		// against its own tasks, and its mounts would take the CPU from
		// a command started meanwhile. It makes its own session once
		// its work is done (spareHoldMain).
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER, Setpgid: true, Pgid: unix.Getpgrp()},
	}}
	fail := func(err error) (*goHolder, error) {
		named.Close()
		if h.goW != nil {
			h.goW.Close()
		}
		return nil, err
	}
	if root != nil {
		goR, goW, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		defer goR.Close()
		h.goW = goW
		h.cmd.Args = append(h.cmd.Args, root.text(), rootDir)
		h.cmd.Stdin = goR
		h.cmd.ExtraFiles = []*os.File{lock}
		h.cmd.SysProcAttr.Cloneflags |= unix.CLONE_NEWNS | unix.CLONE_NEWIPC
		if m.Mode == userns.ModeSubID {
			// Its maps are written after its execve, which leaves no
			// capability to a process whose ids are not yet mapped:
			// these go through it as ambient (as the Go init's,
			// parent.go), and once the maps are written it is the
			// namespace's root, whose every capability the root needs.
			h.cmd.SysProcAttr.AmbientCaps = allCaps()
		}
	}
	if m.Mode != userns.ModeSubID {
		// One line each, ours: written before its execve, by os/exec.
		h.cmd.SysProcAttr.UidMappings, h.cmd.SysProcAttr.GidMappings = m.SysProcIDMaps()
	}
	if err := h.cmd.Start(); err != nil {
		return fail(fmt.Errorf("starting the holder: %w", err))
	}
	return h, nil
}

// ready writes the holder's maps (subid mode), gives it the go-ahead
// for its root, if any, and waits for it to have its name.
func (h *goHolder) ready(m userns.Mapping) error {
	defer h.named.Close()
	var err error
	if m.Mode == userns.ModeSubID {
		err = m.Apply(h.cmd.Process.Pid)
	}
	if h.goW != nil {
		if err == nil {
			_, err = h.goW.Write([]byte{1})
		}
		h.goW.Close()
	}
	if err == nil {
		// Its end of the pipe closes once it has its name (and its root,
		// if asked), which a start checks; what it wrote before is why
		// it could not.
		h.named.SetReadDeadline(time.Now().Add(5 * time.Second))
		if b, rerr := io.ReadAll(h.named); rerr != nil || len(b) > 0 {
			err = fmt.Errorf("the holder did not get ready: %s%v", b, rerr)
		}
	}
	return err
}

// spareHoldMain is the "spare-hold" stage, the holder of a spare where a
// raw one (startRawHolder) cannot be or failed: it holds its user
// namespace until a start takes it (and kills it) or spareLife passes.
// It names itself, sets an alarm for spareLife (which outlives the
// execve, and whose default action ends the process), closes its
// descriptors (the maker waits for that: the name is then in place) and
// executes its program's idle stage: two pages of stack and the few of
// the stage's code, instead of a Go runtime (1.5 MiB of PSS).
//
// With a root to make (ROOT DIR, spareroot.go), it waits for the maker's
// byte on its stdin (its maps are written) and runs holdPlan, which does
// the rest of the above; its maker made DIR and passes the root's lock
// as descriptor 3, which it keeps. What went wrong, it writes to its
// stdout and exits.
func spareHoldMain(args []string) {
	setName(spareHoldName)
	// Without a root, only holdPlan's end (holdEnd); with one, its
	// mounts first, once the maps are written, and its lock kept at 3.
	p, keep := plan.New("/"), 3
	var err error
	if len(args) == 2 {
		var root *spareRoot
		root, err = parseSpareRootText(args[0])
		if err == nil {
			if n, rerr := os.Stdin.Read(make([]byte, 1)); n != 1 {
				err = fmt.Errorf("no go-ahead: %v", rerr)
			}
		}
		if err == nil {
			p, err = holdPlan(root, args[1], false)
		}
		keep = 4
	} else {
		holdEnd(p)
		err = p.Err()
	}
	if err == nil {
		err = p.Run()
	}
	if err != nil {
		fmt.Fprintf(os.Stdout, "making its root: %v", err)
		os.Exit(1)
	}
	// Close-on-exec rather than closed: the Go runtime keeps
	// descriptors of its own (its cgroup's CPU limit) until the execve.
	unix.CloseRange(uint(keep), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if idle.Entered() {
		// No forwarding, and no payload: SIGALRM, SIGTERM or SIGKILL end
		// it, each the default way.
		syscall.Exec("/proc/self/exe", holderArgs(), nil)
	}
	// The CLI as its own init (no idle stage): the Go runtime ignores
	// SIGALRM, so the sleep ends it.
	time.Sleep(spareLife)
	os.Exit(0)
}

// holderArgs are the idle stage's arguments for a holder.
func holderArgs() []string {
	return idle.Args(spareHoldName, 0, -1, -1, -1, -1, 0, true, -1, false, []string{"-"})
}

// errHolderMaps says newuidmap or newgidmap refused a holder's maps: the
// Go holder would run them again, to the same end, so makeSpare does not
// fall back to it.
var errHolderMaps = errors.New("writing the holder's maps")

// startRawHolder starts a spare's holder as a child of package spawn,
// with no Go: it makes its user namespace (and mount and IPC namespaces,
// with a root to make on dir, lock as its descriptor 3) and waits,
// beside us (spawn's Hold), for its maps: its own one line each in
// single-id mode, newuidmap's and newgidmap's in subid mode. Then it runs
// holdPlan and executes the idle stage of our program (the init
// program's). It saves the holder a Go runtime's start (1.5–3 ms at the
// idle policy, on the path of the spare the next start waits for). Its
// pid once it has executed the stage; nothing is left running on an
// error. Held rather than vfork-style, we are not suspended, nor
// syscall.ForkLock held, while it waits or mounts (the removal's start
// need not wait); we wait for its execve, which a mount that hangs would
// hold up, as it would a start's PID 1.
func startRawHolder(m userns.Mapping, root *spareRoot, dir string, lock *os.File) (int, error) {
	p, err := holdPlan(root, dir, true)
	if err != nil {
		return 0, err
	}
	hold := &spawn.Hold{}
	a := &spawn.Attr{
		Path: "/proc/self/exe", Args: holderArgs(),
		Files:      []*os.File{nil, nil, nil},
		Cloneflags: unix.CLONE_NEWUSER,
		CgroupFD:   -1,
		Hold:       hold,
	}
	if root != nil {
		// The lock at 3; 4 and 5 held for the mount namespaces the plan
		// opens there (joinNSPlan), above which the status pipe is.
		a.Files = heldFiles(append(a.Files, lock), holdJoinFD, nil, holdSavedFD)
		a.Cloneflags |= unix.CLONE_NEWNS | unix.CLONE_NEWIPC
	}
	if m.Mode != userns.ModeSubID {
		a.UIDMap, a.GIDMap = userns.MapText(m.UIDs), userns.MapText(m.GIDs)
	}
	pid, err := spawn.Start(a)
	if err != nil {
		return 0, fmt.Errorf("starting the holder: %w", err)
	}
	if m.Mode == userns.ModeSubID {
		if err := m.Apply(pid); err != nil {
			hold.Abort()
			spawn.Wait(pid)
			return 0, fmt.Errorf("%w: %w", errHolderMaps, err)
		}
	}
	if err := hold.Go(p, nil); err != nil {
		// Go reaped it (Hold.Go: on every error).
		var se *spawn.StepError
		if errors.As(err, &se) && se.Step == spawn.StepSetup {
			err = fmt.Errorf("%s: %w", p.Failure(se.Index, se.Errno), err)
		}
		return 0, fmt.Errorf("starting the holder: %w", err)
	}
	return pid, nil
}
