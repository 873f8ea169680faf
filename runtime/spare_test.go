package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/fuseoverlay"
	"github.com/sandbox-dev/sandbox/internal/quoted"
	"github.com/sandbox-dev/sandbox/userns"
)

// TestSameMaps: a spare's maps, as /proc shows them (padded, in any
// order), match the store's lines exactly or not at all; userns.MapText
// writes what userns.ParseMapText reads.
func TestSameMaps(t *testing.T) {
	want := []userns.IDMap{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}}
	for _, c := range []struct {
		text string
		same bool
	}{
		{"         0       1000          1\n         1     100000      65536\n", true},
		{"         1     100000      65536\n         0       1000          1\n", true},
		{userns.MapText(want), true},
		{"         0       1000          1\n", false},
		{"         0       1000          1\n         1     100000      65535\n", false},
		{"         0       1000          1\n         1     100000      65536\n         65537 200000 1\n", false},
		{"0 1000\n1 100000 65536\n", false},
		{"", false},
	} {
		if got := sameMaps(c.text, want); got != c.same {
			t.Errorf("sameMaps(%q) = %v, want %v", c.text, got, c.same)
		}
	}
}

// TestUseSpareRefuses: a record that is malformed, was made under other
// limits, or names a process that is not a holder (this test, with its
// true start time), is refused before anything is opened or killed.
func TestUseSpareRefuses(t *testing.T) {
	m := userns.Mapping{Mode: userns.ModeSubID, UIDs: []userns.IDMap{{ContainerID: 0, HostID: 1000, Size: 1}}, GIDs: []userns.IDMap{{ContainerID: 0, HostID: 1000, Size: 1}}}
	start, _, err := ProcessStart(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	lim := nsLimits()
	if strings.Count(lim, ",") != 3 {
		t.Fatalf("nsLimits() = %q, want four limits", lim)
	}
	for _, rec := range []string{"", "12", "x y", "-3 5 " + lim, fmt.Sprintf("%d %d", os.Getpid(), start),
		fmt.Sprintf("%d %d %s", os.Getpid(), start, lim), fmt.Sprintf("%d %d %s", os.Getpid(), start+1, lim),
		fmt.Sprintf("%d %d 1,2,3,4", os.Getpid(), start)} {
		ns, root, err := useSpare(rec, m, true)
		if ns != nil || root != nil || err == nil {
			t.Errorf("useSpare(%q) = %v, %v; want a refusal", rec, ns, err)
		}
		if ns != nil {
			ns.Close()
		}
	}
	// A key with no root's directory, and a directory with no key: read
	// as malformed before any process is looked at.
	for _, rec := range []string{fmt.Sprintf("%d %d %s abc\n", os.Getpid(), start, lim), fmt.Sprintf("%d %d %s\n/tmp/spare-1\n", os.Getpid(), start, lim)} {
		if _, _, err := useSpare(rec, m, true); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("useSpare(%q): %v; want a malformed record", rec, err)
		}
	}
	if _, name, _ := ProcessStart(os.Getpid()); name == "" || strings.ContainsAny(name, "()") {
		t.Errorf("ProcessStart names this process %q", name)
	}
}

// TestRootIsUser: spares serve the store's map, whose root is the user,
// and not keep-id's, whose root is a subordinate id.
func TestRootIsUser(t *testing.T) {
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	store := userns.Mapping{Mode: userns.ModeSubID,
		UIDs: []userns.IDMap{{ContainerID: 0, HostID: uid, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}},
		GIDs: []userns.IDMap{{ContainerID: 0, HostID: gid, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}}}
	keepID := userns.Mapping{Mode: userns.ModeSubID,
		UIDs: []userns.IDMap{{ContainerID: 0, HostID: 100000, Size: uid}, {ContainerID: uid, HostID: uid, Size: 1}},
		GIDs: []userns.IDMap{{ContainerID: 0, HostID: 100000, Size: gid}, {ContainerID: gid, HostID: gid, Size: 1}}}
	if !rootIsUser(store) {
		t.Error("the store's map is refused")
	}
	if rootIsUser(keepID) {
		t.Error("keep-id's map is taken for one whose root is the user")
	}
	if ns, _, next := takeSpare(t.TempDir(), keepID, true); ns != nil || next != nil {
		t.Errorf("takeSpare for keep-id's map: %v, %v; want neither a spare nor a request for one", ns, next)
	}
}

// TestTakeSpareNeedsPrivateDir: in a runtime directory others can enter
// (another user may have made /tmp/sandbox-UID first), no record is read
// and no spare asked for; in a private one the same record is taken
// (and, naming pid 1, refused).
func TestTakeSpareNeedsPrivateDir(t *testing.T) {
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	m := userns.Mapping{Mode: userns.ModeSubID,
		UIDs: []userns.IDMap{{ContainerID: 0, HostID: uid, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}},
		GIDs: []userns.IDMap{{ContainerID: 0, HostID: gid, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}}}
	for _, mode := range []os.FileMode{0o755, 0o700} {
		run := filepath.Join(t.TempDir(), "run")
		if err := os.MkdirAll(filepath.Join(run, spareDirName), 0o700); err != nil {
			t.Fatal(err)
		}
		os.Chmod(run, mode)
		start, _, _ := ProcessStart(1)
		record := filepath.Join(run, spareDirName, spareReady+"1")
		if err := os.WriteFile(record, fmt.Appendf(nil, "1 %d %s\n", start, nsLimits()), 0o600); err != nil {
			t.Fatal(err)
		}
		ns, _, next := takeSpare(run, m, true)
		if ns != nil {
			ns.Close()
			t.Fatalf("mode %v: a spare was taken from a record naming pid 1", mode)
		}
		_, err := os.Stat(record)
		if shared := mode&0o077 != 0; shared {
			if next != nil || err != nil {
				t.Errorf("runtime directory of mode %v: request %v, record read: %v; want neither", mode, next, err != nil)
			}
		} else if next == nil || err == nil {
			t.Errorf("private runtime directory: request %v, record still there: %v; want a request and the record taken", next, err == nil)
		}
	}
}

// TestSpareRootKey: a spare root's key is the same for the same root and
// layers, and differs for any other field, for a layer directory made
// anew under the same name (an rmi, then a pull), and for another
// store; a missing layer has none. The maker's arguments carry the root
// whole.
func TestSpareRootKey(t *testing.T) {
	dir := t.TempDir()
	layer := filepath.Join(dir, "layer")
	if err := os.Mkdir(layer, 0o755); err != nil {
		t.Fatal(err)
	}
	root := spareRoot{Tmp: filepath.Join(dir, "tmp"), Layers: []string{layer}, Volatile: true,
		DevSys: devSys{Pts: "newinstance", Shm: "size=1", SysFromHost: true}}
	key := func(r spareRoot) string {
		t.Helper()
		k, err := r.key()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	first := key(root)
	if again := key(root); again != first {
		t.Errorf("the same root has two keys: %s, %s", first, again)
	}
	others := map[string]spareRoot{}
	for name, change := range map[string]func(r *spareRoot){
		"tmp":      func(r *spareRoot) { r.Tmp += "2" },
		"volatile": func(r *spareRoot) { r.Volatile = false },
		"pts":      func(r *spareRoot) { r.DevSys.Pts += ",gid=5" },
		"shm":      func(r *spareRoot) { r.DevSys.Shm = "size=2" },
		"sys":      func(r *spareRoot) { r.DevSys.SysFromHost = false },
		"layers":   func(r *spareRoot) { r.Layers = []string{layer, layer} },
		"targets":  func(r *spareRoot) { r.Targets = []string{"etc/hosts"} },
	} {
		r := root
		r.Layers = slices.Clone(root.Layers)
		change(&r)
		others[name] = r
	}
	for name, r := range others {
		if key(r) == first {
			t.Errorf("a root with another %s has the same key", name)
		}
	}
	time.Sleep(10 * time.Millisecond) // another change time, to the nanosecond
	if err := os.Remove(layer); err != nil {
		t.Fatal(err)
	}
	if _, err := root.key(); err == nil {
		t.Error("a root whose layer is gone has a key")
	}
	if err := os.Mkdir(layer, 0o755); err != nil {
		t.Fatal(err)
	}
	if key(root) == first {
		t.Error("a layer directory made anew under the same name keeps the root's key")
	}

	req := &spareRequest{runDir: dir, m: userns.Mapping{Mode: userns.ModeSingle,
		UIDs: []userns.IDMap{{ContainerID: 0, HostID: 1000, Size: 1}}, GIDs: []userns.IDMap{{ContainerID: 0, HostID: 1000, Size: 1}}}, root: &root}
	args := spareArgs(req)
	if len(args) != 8 || args[5] != "-" || args[6] != "-" {
		t.Fatalf("single-id mode's maker arguments %q: want no helpers (-)", args)
	}
	if got := parseSpareRoot(args[7]); got == nil || key(*got) != key(root) {
		t.Errorf("the root %+v came through the maker's arguments as %+v", root, got)
	}
	req.root = nil
	if got := parseSpareRoot(spareArgs(req)[7]); got != nil {
		t.Errorf("no root came through as %+v", got)
	}
}

// TestRemovalArgs: the remove stage's arguments name the spare root to
// remove, or "-", before the skeleton.
func TestRemovalArgs(t *testing.T) {
	for _, c := range []struct {
		r    Removal
		want []string
	}{
		{Removal{Name: "rm-1"}, []string{"rm-1", "-"}},
		{Removal{Name: "rm-1", Spare: "spare-7", Skeleton: []string{"skel-a", "a"}}, []string{"rm-1", "spare-7", "skel-a", "a"}},
	} {
		if got := c.r.args(); !slices.Equal(got, c.want) {
			t.Errorf("%+v: args %q, want %q", c.r, got, c.want)
		}
	}
}

// TestSpareRootTake: a held root whose key is the spec's gives the
// container its directories (exchanged: each side has the other's); one
// that cannot give all three puts back those it gave; another key gives
// nothing.
func TestSpareRootTake(t *testing.T) {
	dir := t.TempDir()
	layer, spare, ctr := filepath.Join(dir, "layer"), filepath.Join(dir, "tmp", "spare-1"), filepath.Join(dir, "ctr")
	for _, d := range []string{layer, spare, ctr} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Each directory holds a file naming its side.
	mark := func(base string, names ...string) {
		for _, n := range names {
			if err := os.MkdirAll(filepath.Join(base, n), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(base, n, "side"), []byte(base), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	side := func(path string) string {
		b, _ := os.ReadFile(filepath.Join(path, "side"))
		return string(b)
	}
	l := fuseoverlay.Layout{Upper: filepath.Join(ctr, "upper"), Work: filepath.Join(ctr, "work"), Target: filepath.Join(ctr, "merged")}
	root := &spareRoot{Tmp: filepath.Dir(spare), Layers: []string{layer}}
	key, err := root.key()
	if err != nil {
		t.Fatal(err)
	}
	held := func(k string) *heldRoot { return &heldRoot{key: k, dir: spare, pidfd: -1, lock: -1} }

	// The spare lacks merged: the third exchange fails, the first two are put back.
	mark(spare, "upper", "work")
	mark(ctr, "upper", "work", "merged")
	if taken, err := held(key).take(root, l, false); taken || err != nil {
		t.Fatalf("take of a spare without merged: %v, %v; want not taken, no error", taken, err)
	}
	for _, d := range []string{"upper", "work", "merged"} {
		if got := side(filepath.Join(ctr, d)); got != ctr {
			t.Errorf("after a failed take, the container's %s is %q's", d, got)
		}
	}
	// Another key: nothing moves.
	mark(spare, "merged")
	if taken, err := held("other").take(root, l, false); taken || err != nil {
		t.Fatalf("take with another key: %v, %v; want not taken", taken, err)
	}
	if got := side(l.Upper); got != ctr {
		t.Errorf("after a take with another key, the container's upper is %q's", got)
	}
	// The key: all three exchanged.
	if taken, err := held(key).take(root, l, false); !taken || err != nil {
		t.Fatalf("take: %v, %v; want taken", taken, err)
	}
	for _, d := range []string{"upper", "work", "merged"} {
		if got, back := side(filepath.Join(ctr, d)), side(filepath.Join(spare, d)); got != spare || back != ctr {
			t.Errorf("after a take, the container's %s is %q's and the spare's %q's", d, got, back)
		}
	}
}

// TestSpareUserLine: the record's user line reads back as written, for
// users and homes with spaces and quotes, with and without groups; a
// line that is not one reads as none.
func TestSpareUserLine(t *testing.T) {
	for _, u := range []spareUser{
		{User: "", Found: execUser{Home: "/root"}},
		{User: "app user:grp", Found: execUser{UID: 1000, GID: 100, Home: `/home/a "b"`, Groups: []uint32{5, 27, 100}}},
	} {
		got := parseSpareUser(u.String())
		if got == nil || got.User != u.User || got.Found.UID != u.Found.UID || got.Found.GID != u.Found.GID ||
			got.Found.Home != u.Found.Home || !slices.Equal(got.Found.Groups, u.Found.Groups) {
			t.Errorf("%+v came back as %+v from %q", u, got, u.String())
		}
	}
	for _, line := range []string{"", "\x000\x000", "\x00x\x000\x00/\x00", "\x000\x000\x00/\x001,x"} {
		if got := parseSpareUser(line); got != nil {
			t.Errorf("parseSpareUser(%q) = %+v, want none", line, got)
		}
	}
}

// TestStillNamed: a sweep that opened a spare root's lock before a maker
// renamed a new one over its name does not take the old lock, free, for
// the new one's.
func TestStillNamed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "spare-1.lock")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if !stillNamed(fd, unix.AT_FDCWD, path) {
		t.Fatal("the lock open is the one named, but stillNamed says not")
	}
	dirfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dirfd)
	if !stillNamed(fd, dirfd, "spare-1.lock") {
		t.Fatal("the lock open is the one named in dirfd, but stillNamed says not")
	}
	pending := filepath.Join(dir, ".pending-spare-1.lock")
	if err := os.WriteFile(pending, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(pending, path); err != nil {
		t.Fatal(err)
	}
	if stillNamed(fd, unix.AT_FDCWD, path) || stillNamed(fd, dirfd, "spare-1.lock") {
		t.Fatal("a new lock renamed over the name is taken for the one open")
	}
	// FreeLock: the new lock, held by its holder (shared), is not a
	// sweep's; once let go, it is.
	held, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(held, unix.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	if l := FreeLock(dirfd, "spare-1.lock"); l >= 0 {
		unix.Close(l)
		t.Fatal("freeLock took a lock a holder holds")
	}
	unix.Close(held)
	l := FreeLock(dirfd, "spare-1.lock")
	if l < 0 {
		t.Fatal("freeLock did not take a free lock")
	}
	unix.Close(l)
	os.Remove(path)
	if stillNamed(fd, unix.AT_FDCWD, path) {
		t.Fatal("a lock whose name is gone is taken for named")
	}
	if l := FreeLock(dirfd, "spare-1.lock"); l >= 0 {
		unix.Close(l)
		t.Fatal("freeLock took a lock that is gone")
	}
}

// TestSweepKeepsFreshRoot: of the spare roots whose lock is free, the
// sweep keeps one it can make fresh (recycleDir) and removes the others;
// one whose lock is held it leaves alone. The next root takes the kept
// one whole under its own name, its old lock gone.
func TestSweepKeepsFreshRoot(t *testing.T) {
	tmp := t.TempDir()
	old := unix.Umask(0o022)
	defer unix.Umask(old)
	root := func(name string, mode os.FileMode) string {
		dir := filepath.Join(tmp, name)
		if err := os.Mkdir(dir, mode); err != nil {
			t.Fatal(err)
		}
		for _, d := range spareRootDirs {
			if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(dir+".lock", nil, 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	// Named for this process, as the maker's next root would be (an
	// ended process's of the same pid): removed, never kept.
	own := root(fmt.Sprintf("spare-%d", os.Getpid()), 0o700)
	if kept := sweepSpareRoots(tmp); kept != nil || exists(own) || exists(own+".lock") {
		t.Errorf("the sweep kept %+v, or left %s, named for this process", kept, own)
	}
	// Not as a maker makes one (its own mode): removed, never kept.
	odd := root("spare-3", 0o755)
	held := root("spare-2", 0o700)
	hl, err := os.Open(held + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer hl.Close()
	if err := unix.Flock(int(hl.Fd()), unix.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	// A root no start took: its overlay's files, a volatile mount's
	// marker in a directory closed to its owner.
	keep := root("spare-1", 0o700)
	for _, p := range []string{"upper/etc", "work/work/incompat/volatile"} {
		if err := os.MkdirAll(filepath.Join(keep, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(keep, "upper/etc/hosts"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(keep, "work/work"), 0); err != nil {
		t.Fatal(err)
	}

	kept := sweepSpareRoots(tmp)
	if kept == nil || kept.dir != keep {
		t.Fatalf("the sweep kept %+v; want %s", kept, keep)
	}
	if exists(odd) || exists(odd+".lock") {
		t.Errorf("the sweep left %s, which is not as a maker makes a root", odd)
	}

	if !exists(held) || !exists(held+".lock") {
		t.Errorf("the sweep removed %s, whose lock is held", held)
	}
	// A second sweep meanwhile leaves the kept one alone: its lock is held.
	if again := sweepSpareRoots(tmp); again != nil || !exists(keep) {
		t.Errorf("a second sweep took the kept root: %+v", again)
	}

	lock, dir, err := prepareSpareRoot(&spareRoot{Tmp: tmp}, "99", kept)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lock)
	if dir != filepath.Join(tmp, "spare-99") {
		t.Fatalf("the new root is %s", dir)
	}
	wantFresh(t, dir, spareRootDirs, "")
	if exists(keep) || exists(keep+".lock") {
		t.Errorf("the kept root's old name or lock is still there: %v", dirEntries(t, tmp))
	}
	if FreeLock(unix.AT_FDCWD, dir+".lock") >= 0 {
		t.Errorf("the new root's lock is not held")
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	slices.Sort(names)
	return names
}

// TestSpareRootText: a spare root comes back whole through its text,
// every field of it set (filled by reflection, so that a field added to
// spareRoot and not to text fails here), awkward bytes and all; and no
// other text is taken for one.
func TestSpareRootText(t *testing.T) {
	n := 0
	var fill func(v reflect.Value)
	fill = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			n++
			v.SetString(fmt.Sprintf("f%d \"q\" sp ace\nnl\\%d", n, n))
		case reflect.Bool:
			v.SetBool(true)
		case reflect.Slice:
			s := reflect.MakeSlice(v.Type(), 2, 2)
			for i := 0; i < 2; i++ {
				fill(s.Index(i))
			}
			v.Set(s)
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				fill(v.Field(i))
			}
		default:
			t.Fatalf("spareRoot has a field of kind %s: give text and this test a way for it", v.Kind())
		}
	}
	var full spareRoot
	fill(reflect.ValueOf(&full).Elem())
	for _, r := range []spareRoot{full, {Tmp: "/t", Layers: []string{"/l"}}, {}} {
		text := r.text()
		if strings.ContainsAny(text, "\x00\n") {
			t.Errorf("text %q holds a NUL or a newline: no argument can", text)
		}
		got, err := parseSpareRootText(text)
		if err != nil || !reflect.DeepEqual(*got, r) {
			t.Errorf("%+v came back from %q as %+v, %v", r, text, got, err)
		}
	}
	for _, bad := range []string{"", "-", `{"Tmp":"/t"}`, quoted.Join("root/0", "/t", "false", "", "", "false", "", "0"),
		quoted.Join(spareRootForm, "/t", "false", "", "", "false", "", "2", "/l"), quoted.Join(spareRootForm, "/t", "maybe", "", "", "false", "", "0"),
		quoted.Join(spareRootForm, "/t", "false", "", "", "false", "", "9223372036854775806", "/l")} {
		if got, err := parseSpareRootText(bad); err == nil {
			t.Errorf("%q read as %+v", bad, got)
		}
	}
}

// isSpareRootOf knows every name spareRootName gives a maker, and no
// other maker's or another kind of entry's.
func TestSpareRootNames(t *testing.T) {
	for n := 0; n < spareDepth+1; n++ {
		if name := SpareRootPrefix + spareRootName(12, n); !isSpareRootOf(name, 12) || isSpareRootOf(name, 1) || isSpareRootOf(name, 123) {
			t.Errorf("%q: isSpareRootOf 12 %v, 1 %v, 123 %v; want only 12", name, isSpareRootOf(name, 12), isSpareRootOf(name, 1), isSpareRootOf(name, 123))
		}
	}
	for _, name := range []string{SpareRootPrefix + "123", SpareRootPrefix + "12x", "skel-12", "12", SpareRootPrefix} {
		if isSpareRootOf(name, 12) {
			t.Errorf("isSpareRootOf(%q, 12) = true", name)
		}
	}
}
