package userns

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/internal/owndir"
	"github.com/sandbox-dev/sandbox/internal/quoted"
)

// cacheVersion heads a cache file; a file of another version is a miss.
const cacheVersion = "sandbox id map 3"

// passwdFile is what os/user reads for a uid's name without cgo.
const passwdFile = "/etc/passwd"

// DetectCached is Detect with its answer kept in a file of dir, the
// user's runtime directory, for as long as nothing it was made from
// changes: the options, the process's uid, gid and groups, $USER and
// $PATH (the file is named by a digest of them, so that callers of two
// settings each keep theirs), and every file and directory Detect read or
// searched (/etc/passwd for the user's name, nsswitch.conf, the subid
// files, each directory of the helpers' search up to where it found
// them and the name it looked for in each, and the helpers), each
// compared by its inode, size, mode, owner and change times; and the
// helpers must still be ones we may run (access(2)), on a file system
// not mounted nosuid. Every
// container start asks for the map: Detect cost 0.3 ms of it (the
// name's lookup, four files read, the helpers' search), reading this
// file and a dozen stats a fifth of that.
//
// Where the answer depends on what no stat can see (getsubids asking
// nsswitch's other sources, a relative directory in $PATH, a name that
// NSS looks up with cgo), or dir is "", it is Detect's. The file is read
// only from a directory of the user's alone (package owndir), and only
// as a regular file of theirs, readable by them alone: the helpers'
// paths in it are programs a start runs. trace, when not nil, hears why
// the file did not answer, and why none was kept.
func DetectCached(opts Options, dir string, trace func(format string, args ...any)) (Mapping, error) {
	if trace == nil {
		trace = func(string, ...any) {}
	}
	if dir == "" {
		return Detect(opts)
	}
	if !namesFromFiles && opts.UserName == "" {
		trace("id map: none kept: with cgo, NSS looks the user's name up")
		return Detect(opts)
	}
	key := cacheKey(opts)
	file := filepath.Join(dir, cacheName(key))
	m, err := readCache(file, key, opts)
	if err == nil {
		return m, nil
	}
	trace("id map: %v", err)
	c, err := opts.resolve()
	if err != nil {
		return Mapping{}, err
	}
	inputs, files, ok := c.inputs(opts)
	if !ok {
		trace("id map: none kept: getsubids or a relative directory of $PATH decides it")
		return c.detect()
	}
	// The file to keep it in is made first: its time is what writeCache
	// holds the inputs' against.
	w, werr := newCacheWriter(dir)
	before := stats(inputs)
	m, err = c.detect()
	if err != nil {
		w.abandon()
		return m, err
	}
	// Only an answer made from what is still there is kept: a file that
	// changed while Detect read it may have been read half old. And
	// what Detect went by must be what is watched: the inputs again,
	// the same, ending at the helpers it chose.
	after := stats(inputs)
	again, _, ok := c.inputs(opts)
	if !slices.Equal(before, after) || !ok || !slices.Equal(inputs, again) ||
		m.Mode == ModeSubID && !(slices.Contains(inputs, m.NewUIDMap) && slices.Contains(inputs, m.NewGIDMap)) {
		w.abandon()
		trace("id map: none kept: its inputs changed while it was read")
		return m, nil
	}
	if m.explain != nil {
		// No range at all: the helpers were not looked at.
		inputs, after = inputs[:files], after[:files]
	}
	if werr == nil {
		werr = w.commit(file, cacheText(key, inputs, after, m), inputs, after)
	}
	if werr != nil {
		trace("id map: none kept: %v", werr)
	}
	return m, nil
}

// cacheName is the file's name for key: "idmap-" and 16 hex digits of
// its digest (cachePattern).
func cacheName(key []string) string {
	h := sha256.Sum256([]byte(strings.Join(key, "\x00")))
	return "idmap-" + hex.EncodeToString(h[:8])
}

// cachePattern matches every cacheName.
const cachePattern = "idmap-*"

// cacheKey is what, besides files, Detect's answer depends on. The
// supplementary groups decide, with the ids, which helpers LookPath
// finds executable and whether the one found may be run (CheckHelper):
// a distribution may give newuidmap to one group (mode 4754), and a
// user added to it has it at the next login, with no file the cache
// watches changed (/etc/group is not read here).
func cacheKey(opts Options) []string {
	groups, _ := unix.Getgroups()
	gs := make([]string, len(groups))
	for i, g := range groups {
		gs[i] = strconv.Itoa(g)
	}
	return []string{
		fmt.Sprintf("%+v", opts),
		"uid=" + strconv.Itoa(os.Getuid()),
		"gid=" + strconv.Itoa(os.Getgid()),
		"groups=" + strings.Join(gs, ","),
		"USER=" + os.Getenv("USER"),
		"PATH=" + os.Getenv("PATH"),
	}
}

// inputs are the files and directories whose contents decide Detect's
// answer for c, in the order it reads them: the first files of them the
// files it reads, then the helpers' search. !ok where something else
// decides too.
func (c config) inputs(opts Options) (paths []string, files int, ok bool) {
	if c.getsubids != "" || subidBeyondFiles(c.nsswitch) {
		return nil, 0, false
	}
	if opts.UserName == "" {
		paths = append(paths, passwdFile) // the name's lookup (os/user without cgo)
	}
	paths = append(paths, c.nsswitch, c.subUIDFile, c.subGIDFile)
	files = len(paths)
	for _, h := range []struct{ explicit, name string }{{c.newUIDMap, "newuidmap"}, {c.newGIDMap, "newgidmap"}} {
		trail, ok := helperTrail(h.explicit, h.name)
		if !ok {
			return nil, 0, false
		}
		for _, p := range trail {
			if !slices.Contains(paths, p) { // both helpers' search shares its directories
				paths = append(paths, p)
			}
		}
	}
	return paths, files, true
}

// helperTrail is what findHelper looks at for name: the explicit path
// alone; or each directory it searches (exec.LookPath's $PATH, then,
// where that finds none, helperDirs) with the name in it, up to the one
// it finds. A directory's change (a helper added or removed) or the
// name's in it (made executable, a dangling link's target made, its
// mode, owner or capabilities changed) would change the answer. !ok
// where $PATH searches the current directory, which moves.
func helperTrail(explicit, name string) (trail []string, ok bool) {
	if explicit != "" {
		return []string{explicit}, true
	}
	dirs := filepath.SplitList(os.Getenv("PATH"))
	for _, d := range dirs {
		if !filepath.IsAbs(d) {
			return nil, false
		}
	}
	look := func(d string) { trail = append(trail, filepath.Clean(d), filepath.Join(d, name)) }
	found, err := exec.LookPath(name)
	if err == nil {
		for _, d := range dirs {
			look(d)
			if filepath.Join(d, name) == found {
				return trail, true
			}
		}
		return trail, true
	}
	// LookPath searched all of $PATH; then the fallback.
	for _, d := range dirs {
		look(d)
	}
	found = findHelper("", name)
	for _, d := range helperDirs {
		look(d)
		if filepath.Join(d, name) == found {
			break
		}
	}
	return trail, true
}

// fileStat is a path's stat as the cache compares it: its identity and
// change times ("-" for a path that does not exist or cannot be read),
// and those times.
type fileStat struct {
	sig          string
	mtime, ctime unix.Timespec
}

// stats is each path's fileStat.
func stats(paths []string) []fileStat {
	out := make([]fileStat, len(paths))
	for i, p := range paths {
		var st unix.Stat_t
		if unix.Stat(p, &st) != nil {
			out[i].sig = "-"
			continue
		}
		// By hand, not fmt: a start makes a dozen of these.
		b := make([]byte, 0, 96)
		for j, n := range []uint64{st.Dev, st.Ino, uint64(st.Mode), uint64(st.Uid), uint64(st.Gid), uint64(st.Size)} {
			if j > 0 {
				b = append(b, ':')
			}
			b = strconv.AppendUint(b, n, 16)
		}
		for _, t := range []unix.Timespec{st.Mtim, st.Ctim} {
			b = append(b, ':')
			b = strconv.AppendInt(b, t.Sec, 10)
			b = append(b, '.')
			b = strconv.AppendInt(b, t.Nsec, 10)
		}
		out[i].sig = string(b)
		out[i].mtime, out[i].ctime = st.Mtim, st.Ctim
	}
	return out
}

// The cache file is lines of a word and its values (package quoted):
//
//	sandbox id map 3
//	key "{Force: UID:0 …}"    (cacheKey, in order: options, uid, gid, groups, $USER, $PATH)
//	input "/etc/passwd" "fe00:124018:81a4:0:0:5cf:1796616895.349451527:…" (stat, hex; the times)
//	mode "subid"
//	uids "0 1000 1\n1 100000 65536\n"    (MapText)
//	gids "0 1000 1\n1 100000 65536\n"
//	newuidmap "/usr/bin/newuidmap"
//	newgidmap "/usr/bin/newgidmap"
//	reason "using 65536 subordinate ids from /etc/subuid"
//
// reason is absent where Detect explains on demand (single-id mode for
// want of any range): the explanation is then Detect's again.

// cacheText is the file's text for the answer m, made from inputs
// whose stats were st.
func cacheText(key, inputs []string, st []fileStat, m Mapping) []byte {
	var b bytes.Buffer
	b.WriteString(cacheVersion + "\n")
	line := func(word string, vals ...string) {
		b.WriteString(word + " " + quoted.Join(vals...) + "\n")
	}
	// The key and the inputs come first: a file cut short (a disk
	// full) is then one that lacks its answer, which parseCache refuses.
	for _, k := range key {
		line("key", k)
	}
	for i, p := range inputs {
		line("input", p, st[i].sig)
	}
	line("mode", string(m.Mode))
	line("uids", MapText(m.UIDs))
	line("gids", MapText(m.GIDs))
	line("newuidmap", m.NewUIDMap)
	line("newgidmap", m.NewGIDMap)
	if m.explain == nil {
		line("reason", m.reason)
	}
	return b.Bytes()
}

// cacheWriter is the file an answer is kept in, made before its inputs
// are read, under a temporary name; ref is its time of making.
type cacheWriter struct {
	f   *os.File
	ref unix.Timespec
}

// newCacheWriter makes the file in dir, only a directory that is the
// user's alone, as readCache trusts nothing else (a missing one is made
// by the start's later steps, and the next command keeps the answer).
func newCacheWriter(dir string) (*cacheWriter, error) {
	fd, ok := owndir.Open(dir, os.Getuid())
	if !ok {
		return nil, fmt.Errorf("%s is not a directory of yours alone", dir)
	}
	unix.Close(fd)
	sweepCache(dir)
	f, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &cacheWriter{f: f, ref: st.Mtim}, nil
}

// abandon removes the file, if any was made.
func (w *cacheWriter) abandon() {
	if w != nil {
		w.f.Close()
		os.Remove(w.f.Name())
	}
}

// commit writes text and renames the file to name, if every input
// changed last before the file was made: a change after that gets times
// no earlier than the file's, which the next start's stats then see,
// while a change in the same tick of the file system's clock could
// leave an input's times as they were read (a clock of one to four
// milliseconds before Linux 6.13; a second on some file systems, whose
// times then have no fraction). Git's rule for its index.
func (w *cacheWriter) commit(name string, text []byte, inputs []string, st []fileStat) error {
	// An input dated well ahead of the clock (a file unpacked with its
	// times, a clock set back) cannot be changed to those same times:
	// it is no reason to keep no answer, ever.
	soon := unix.NsecToTimespec(w.ref.Nano() + int64(time.Second))
	racy := func(t unix.Timespec) bool {
		end := t // the last moment a change could have been stamped t
		if t.Nsec == 0 {
			end = unix.NsecToTimespec(t.Nano() + int64(time.Second) - 1)
		}
		return !before(end, w.ref) && before(t, soon)
	}
	var err error
	for i, s := range st {
		if s.sig != "-" && (racy(s.mtime) || racy(s.ctime)) {
			err = fmt.Errorf("%s changed within the clock's tick of the answer", inputs[i])
			break
		}
	}
	if err == nil {
		_, err = w.f.Write(text)
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(w.f.Name(), name)
	}
	if err != nil {
		os.Remove(w.f.Name())
	}
	return err
}

// tempPattern names a cacheWriter's file before its rename.
const tempPattern = ".idmap-*"

// sweepCache removes from dir what a cacheWriter killed before its
// rename left (a minute old: a live one is renamed within milliseconds),
// and the answers of settings unused for a day (each setting keeps its
// own, and a setting of one day, a script's $PATH, say, would otherwise
// stay until the next boot empties the directory). An answer in use is
// read, not written again, so it may go too: its next start writes it
// again. It runs only where an answer is written, not at every start.
func sweepCache(dir string) {
	for _, sweep := range []struct {
		pattern string
		age     time.Duration
	}{{tempPattern, time.Minute}, {cachePattern, 24 * time.Hour}} {
		left, _ := filepath.Glob(filepath.Join(dir, sweep.pattern))
		for _, p := range left {
			var st unix.Stat_t
			if unix.Lstat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && time.Since(time.Unix(st.Mtim.Unix())) > sweep.age {
				os.Remove(p)
			}
		}
	}
}

// before says a is earlier than b.
func before(a, b unix.Timespec) bool {
	return a.Sec < b.Sec || a.Sec == b.Sec && a.Nsec < b.Nsec
}

// errStale is the reason a cache file that is not one does not answer.
var errStale = errors.New("the file kept is not an answer of this version")

// readCache is the answer file keeps for key, if every input it lists
// is as it was when it was written; otherwise why not.
func readCache(file string, key []string, opts Options) (Mapping, error) {
	dir, ok := owndir.Open(filepath.Dir(file), os.Getuid())
	if !ok {
		return Mapping{}, fmt.Errorf("%s is not a directory of yours alone", filepath.Dir(file))
	}
	// O_NONBLOCK: a FIFO put there blocks no start.
	fd, err := unix.Openat(dir, filepath.Base(file), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	unix.Close(dir)
	if err != nil {
		return Mapping{}, fmt.Errorf("no answer kept: %w", err)
	}
	f := os.NewFile(uintptr(fd), file)
	defer f.Close()
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || int(st.Uid) != os.Getuid() || st.Mode&0o077 != 0 {
		return Mapping{}, fmt.Errorf("%s is not a file of yours alone", file)
	}
	m, err := parseCache(bufio.NewScanner(f), key)
	if err != nil {
		return Mapping{}, err
	}
	// Whether a helper can do its work depends on its mount too (noexec,
	// nosuid), which no stat shows: asked again, as Detect's checks
	// asked it.
	if m.Mode == ModeSubID {
		for _, h := range []string{m.NewUIDMap, m.NewGIDMap} {
			if err := mayRun(h); err != nil {
				return Mapping{}, fmt.Errorf("%s may no longer be run: %w", h, err)
			}
			if _, nosuid := mountFlags(h); nosuid {
				return Mapping{}, fmt.Errorf("%s is now on a file system mounted nosuid", h)
			}
		}
	}
	if m.explain == nil && m.reason == "" {
		m.explain = func() string {
			c, err := opts.resolve()
			if err != nil {
				return err.Error()
			}
			return c.explainNoRanges()
		}
	}
	return m, nil
}

func parseCache(sc *bufio.Scanner, key []string) (Mapping, error) {
	if !sc.Scan() || sc.Text() != cacheVersion {
		return Mapping{}, errStale
	}
	var m Mapping
	keys := 0
	hasReason, ok := false, false
	for sc.Scan() {
		word, rest, _ := strings.Cut(sc.Text(), " ")
		vals, err := quoted.Split(rest)
		if err != nil {
			return Mapping{}, err
		}
		switch {
		case word == "key" && len(vals) == 1:
			if keys >= len(key) || vals[0] != key[keys] {
				return Mapping{}, errors.New("kept for other options, ids, $USER or $PATH")
			}
			keys++
		case word == "input" && len(vals) == 2:
			if stats(vals[:1])[0].sig != vals[1] {
				return Mapping{}, fmt.Errorf("%s changed", vals[0])
			}
		case word == "mode" && len(vals) == 1:
			m.Mode = Mode(vals[0])
		case word == "uids" && len(vals) == 1:
			if m.UIDs, ok = ParseMapText(vals[0]); !ok {
				return Mapping{}, errStale
			}
		case word == "gids" && len(vals) == 1:
			if m.GIDs, ok = ParseMapText(vals[0]); !ok {
				return Mapping{}, errStale
			}
		case word == "newuidmap" && len(vals) == 1:
			m.NewUIDMap = vals[0]
		case word == "newgidmap" && len(vals) == 1:
			m.NewGIDMap = vals[0]
		case word == "reason" && len(vals) == 1:
			m.reason, hasReason = vals[0], true
		default:
			return Mapping{}, errStale
		}
	}
	if sc.Err() != nil || keys != len(key) || len(m.UIDs) == 0 || len(m.GIDs) == 0 {
		return Mapping{}, errStale
	}
	switch m.Mode {
	case ModeSingle:
	case ModeSubID:
		if !filepath.IsAbs(m.NewUIDMap) || !filepath.IsAbs(m.NewGIDMap) || !hasReason {
			return Mapping{}, errStale
		}
	default:
		return Mapping{}, errStale
	}
	return m, nil
}
