package userns

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/internal/quoted"
)

// cacheVersion heads a cache file; a file of another version is a miss.
const cacheVersion = "sandbox id map 1"

// passwdFile is what os/user reads for a uid's name without cgo.
const passwdFile = "/etc/passwd"

// DetectCached is Detect with its answer kept in file, a file of the
// user's runtime directory, for as long as nothing it was made from
// changes: the options, the process's uid and gid, $USER and $PATH, and
// every file and directory Detect read or searched (/etc/passwd for the
// user's name, nsswitch.conf, the subid files, each directory of the
// helpers' search up to where it found them, and the helpers), each
// compared by its inode, size, mode, owner and change times. Every
// container start asks for the map: Detect cost 0.3 ms of it (the
// name's lookup, four files read, the helpers' search), reading this
// file and a dozen stats a fifth of that.
//
// Where the answer depends on what no stat can see (getsubids asking
// nsswitch's other sources, a relative directory in $PATH), or file is
// "", it is Detect's. A file that is not a regular file of the user's,
// readable by them alone, is a miss: the helpers' paths in it are
// programs a start runs.
func DetectCached(opts Options, file string) (Mapping, error) {
	if file == "" {
		return Detect(opts)
	}
	key := cacheKey(opts)
	if m, ok := readCache(file, key, opts); ok {
		return m, nil
	}
	c, err := opts.resolve()
	if err != nil {
		return Mapping{}, err
	}
	inputs, files, ok := c.inputs(opts)
	if !ok {
		return Detect(opts)
	}
	before := stats(inputs)
	m, err := Detect(opts)
	if err != nil {
		return m, err
	}
	// Only an answer made from what is still there is kept: a file that
	// changed while Detect read it may have been read half old.
	after := stats(inputs)
	if !slices.Equal(before, after) {
		return m, nil
	}
	if m.explain != nil {
		// No range at all: the helpers were not looked at.
		inputs, after = inputs[:files], after[:files]
	}
	writeCache(file, key, inputs, after, m)
	return m, nil
}

// cacheKey is what, besides files, Detect's answer depends on.
func cacheKey(opts Options) []string {
	return []string{
		fmt.Sprintf("%+v", opts),
		"uid=" + strconv.Itoa(os.Getuid()),
		"gid=" + strconv.Itoa(os.Getgid()),
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
		trail, ok := helperTrail(h.explicit, findHelper(h.explicit, h.name))
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

// helperTrail is what findHelper looked at to find found ("" when it
// found nothing): each directory it searched, whose change (a helper
// added) would change the answer, and the helper, whose change (its
// mode, owner or capabilities) would change CheckHelper's.
func helperTrail(explicit, found string) (trail []string, ok bool) {
	if explicit != "" {
		return []string{explicit}, true
	}
	dirs := filepath.SplitList(os.Getenv("PATH"))
	for _, d := range dirs {
		if !filepath.IsAbs(d) {
			return nil, false // the current directory's: it moves
		}
	}
	for _, d := range append(dirs, helperDirs...) {
		trail = append(trail, d)
		if found != "" && filepath.Dir(found) == filepath.Clean(d) {
			return append(trail, found), true
		}
	}
	return trail, true
}

// stats is each path's identity and change times, "-" for one that does
// not exist or cannot be read.
func stats(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		var st unix.Stat_t
		if unix.Stat(p, &st) != nil {
			out[i] = "-"
			continue
		}
		out[i] = fmt.Sprintf("%x:%x:%o:%d:%d:%d:%d.%d:%d.%d", st.Dev, st.Ino, st.Mode, st.Uid, st.Gid, st.Size,
			st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
	}
	return out
}

// The cache file is lines of a word and its values (package quoted):
//
//	sandbox id map 1
//	key "force="          (cacheKey, in order)
//	input "/etc/passwd" "803:1a2b:100644:0:0:1234:…"
//	mode "subid"
//	maps "u0:1000:1,u1:100000:65536;g0:1000:1,g1:100000:65536"
//	newuidmap "/usr/bin/newuidmap"
//	newgidmap "/usr/bin/newgidmap"
//	reason "using 65536 subordinate ids from /etc/subuid"
//
// reason is absent where Detect explains on demand (single-id mode for
// want of any range): the explanation is then Detect's again.

func writeCache(file string, key, inputs, st []string, m Mapping) {
	var b bytes.Buffer
	b.WriteString(cacheVersion + "\n")
	line := func(word string, vals ...string) {
		b.WriteString(word + " " + quoted.Join(vals...) + "\n")
	}
	for _, k := range key {
		line("key", k)
	}
	for i, p := range inputs {
		line("input", p, st[i])
	}
	line("mode", string(m.Mode))
	line("maps", m.String())
	line("newuidmap", m.NewUIDMap)
	line("newgidmap", m.NewGIDMap)
	if m.explain == nil {
		line("reason", m.reason)
	}
	// Only into a directory that is the user's alone, as readCache
	// trusts nothing else; a missing one is made by the start's later
	// steps, and the next command writes the file.
	var st2 unix.Stat_t
	dir := filepath.Dir(file)
	if unix.Stat(dir, &st2) != nil || int(st2.Uid) != os.Getuid() || st2.Mode&0o077 != 0 {
		return
	}
	f, err := os.CreateTemp(dir, ".idmap-*")
	if err != nil {
		return
	}
	_, err = f.Write(b.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), file)
	}
	if err != nil {
		os.Remove(f.Name())
	}
}

// errStale is any reason a cache file does not answer.
var errStale = errors.New("stale")

// readCache is the answer file keeps for key, if every input it lists
// is as it was when it was written.
func readCache(file string, key []string, opts Options) (Mapping, bool) {
	fd, err := unix.Open(file, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return Mapping{}, false
	}
	f := os.NewFile(uintptr(fd), file)
	defer f.Close()
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || int(st.Uid) != os.Getuid() || st.Mode&0o077 != 0 {
		return Mapping{}, false
	}
	m, err := parseCache(bufio.NewScanner(f), key)
	if err != nil {
		return Mapping{}, false
	}
	if m.explain == nil && m.reason == "" {
		m.explain = func() string {
			fresh, _ := Detect(opts)
			return fresh.Reason()
		}
	}
	return m, true
}

func parseCache(sc *bufio.Scanner, key []string) (Mapping, error) {
	if !sc.Scan() || sc.Text() != cacheVersion {
		return Mapping{}, errStale
	}
	var m Mapping
	keys := 0
	hasReason := false
	for sc.Scan() {
		word, rest, _ := strings.Cut(sc.Text(), " ")
		vals, err := quoted.Split(rest)
		if err != nil {
			return Mapping{}, err
		}
		switch {
		case word == "key" && len(vals) == 1:
			if keys >= len(key) || vals[0] != key[keys] {
				return Mapping{}, errStale
			}
			keys++
		case word == "input" && len(vals) == 2:
			if stats(vals[:1])[0] != vals[1] {
				return Mapping{}, errStale
			}
		case word == "mode" && len(vals) == 1:
			m.Mode = Mode(vals[0])
		case word == "maps" && len(vals) == 1:
			if m.UIDs, m.GIDs, err = parseMaps(vals[0]); err != nil {
				return Mapping{}, err
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

// parseMaps reads Mapping.String's form back.
func parseMaps(s string) (uids, gids []IDMap, err error) {
	u, g, ok := strings.Cut(s, ";")
	if !ok {
		return nil, nil, errStale
	}
	if uids, err = parseMapList(u, 'u'); err != nil {
		return nil, nil, err
	}
	gids, err = parseMapList(g, 'g')
	return uids, gids, err
}

func parseMapList(s string, kind byte) ([]IDMap, error) {
	var out []IDMap
	for _, e := range strings.Split(s, ",") {
		if len(e) < 2 || e[0] != kind {
			return nil, errStale
		}
		f := strings.Split(e[1:], ":")
		if len(f) != 3 {
			return nil, errStale
		}
		var n [3]uint32
		for i, v := range f {
			x, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return nil, errStale
			}
			n[i] = uint32(x)
		}
		out = append(out, IDMap{ContainerID: n[0], HostID: n[1], Size: n[2]})
	}
	return out, nil
}
