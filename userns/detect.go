package userns

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
)

// Options lets tests and the CLI steer detection. The zero value means "the
// real system, automatic choice".
type Options struct {
	// Force is "" for the automatic choice. ModeSingle forces single mode;
	// ModeSubID forces subid mode and makes Detect fail if it is impossible.
	Force Mode

	// UID and GID are the host ids container root maps to. 0 means the
	// current process's real uid/gid: a non-root user can never map host id
	// 0, and for root the current id is 0 anyway, so 0 never needs to be
	// spelled out. Negative values are rejected.
	UID, GID int

	// UserName is matched against the owner field of the subid files and
	// passed to getsubids. Default: looked up from UID in /etc/passwd (os/user
	// is pure Go without cgo), else $USER if UID is the current uid. If it
	// stays empty, the files are matched by numeric uid only.
	UserName string

	SubUIDFile string // default /etc/subuid
	SubGIDFile string // default /etc/subgid

	// Getsubids is the path of getsubids, which asks libsubid (and so
	// nsswitch) for the ranges. Default: looked up in PATH, but only when
	// NSSwitch names a subid source other than files (otherwise getsubids
	// would read the same files, at the cost of a process); "-" disables it.
	Getsubids string

	// NSSwitch is the nsswitch.conf consulted for the default above.
	// Default /etc/nsswitch.conf.
	NSSwitch string

	// NewUIDMap and NewGIDMap are the helper paths. Default: looked up in
	// PATH, then in /usr/bin, /usr/sbin, /bin and /sbin.
	NewUIDMap, NewGIDMap string
}

// config is Options validated and with the defaults filled in.
type config struct {
	force                  Mode
	uid, gid               uint32
	name                   string
	subUIDFile, subGIDFile string
	nsswitch               string
	getsubids              string // "" = do not use getsubids
	newUIDMap, newGIDMap   string // "" = not found
}

// resolve validates the options and fills in the defaults. It only looks
// things up; nothing is run.
func (o Options) resolve() (config, error) {
	switch o.Force {
	case "", ModeSubID, ModeSingle:
	default:
		return config{}, fmt.Errorf("unknown id mapping mode %q (want %q or %q)", o.Force, ModeSubID, ModeSingle)
	}
	uid, gid := o.UID, o.GID
	if uid == 0 {
		uid = os.Getuid()
	}
	if gid == 0 {
		gid = os.Getgid()
	}
	if uid < 0 || uid > math.MaxUint32-1 {
		return config{}, fmt.Errorf("invalid uid %d", o.UID)
	}
	if gid < 0 || gid > math.MaxUint32-1 {
		return config{}, fmt.Errorf("invalid gid %d", o.GID)
	}
	c := config{
		force:      o.Force,
		uid:        uint32(uid),
		gid:        uint32(gid),
		name:       o.UserName,
		subUIDFile: o.SubUIDFile,
		subGIDFile: o.SubGIDFile,
		getsubids:  o.Getsubids,
		newUIDMap:  o.NewUIDMap, // found by detectSubID, where it needs them
		newGIDMap:  o.NewGIDMap,
	}
	if c.name == "" {
		if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
			c.name = u.Username
		} else if uid == os.Getuid() {
			c.name = os.Getenv("USER")
		}
	}
	if c.subUIDFile == "" {
		c.subUIDFile = "/etc/subuid"
	}
	if c.subGIDFile == "" {
		c.subGIDFile = "/etc/subgid"
	}
	c.nsswitch = o.NSSwitch
	if c.nsswitch == "" {
		c.nsswitch = "/etc/nsswitch.conf"
	}
	switch c.getsubids {
	case "-":
		c.getsubids = ""
	case "":
		if subidBeyondFiles(c.nsswitch) {
			if p, err := exec.LookPath("getsubids"); err == nil {
				c.getsubids = p
			}
		}
	}
	return c, nil
}

// subidBeyondFiles reports whether nsswitch.conf has a "subid:" line naming
// a source other than files (such as sss). Without one, libsubid reads
// /etc/subuid and /etc/subgid, which we read ourselves.
func subidBeyondFiles(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		db, sources, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(db) != "subid" {
			continue
		}
		for _, src := range strings.Fields(sources) {
			if src != "files" && !strings.HasPrefix(src, "[") {
				return true
			}
		}
	}
	return false
}

// Detect chooses the id mapping for the user: subid mode when the user has
// subordinate uid and gid ranges and both helpers are usable, else single
// mode. The Reason of the result says why. An error means invalid options, or
// Force=ModeSubID when subid mode is impossible.
func Detect(opts Options) (Mapping, error) {
	c, err := opts.resolve()
	if err != nil {
		return Mapping{}, err
	}
	return c.detect()
}

// detect is Detect for the options c resolved.
func (c config) detect() (Mapping, error) {
	if c.force == ModeSingle {
		return c.single("single-id mode requested"), nil
	}
	rr := c.readRanges()
	if c.force == "" && rr.none() {
		// The commonest reason: single-id mode at once, and why (with
		// all else that stands in subid mode's way) only when asked.
		m := c.single("")
		m.explain = c.explainNoRanges
		return m, nil
	}
	m, problems := c.detectSubID(rr)
	if len(problems) == 0 {
		return m, nil
	}
	reason := strings.Join(problems, "; ")
	if c.force == ModeSubID {
		return Mapping{}, fmt.Errorf("cannot use subid mode: %s", reason)
	}
	return c.single(reason), nil
}

// explainNoRanges says why single-id mode was chosen for want of any
// range: all that stands in subid mode's way now, read again, or, where
// nothing does any more, that there was none when the command started.
func (c config) explainNoRanges() string {
	if _, problems := c.detectSubID(c.readRanges()); len(problems) > 0 {
		return strings.Join(problems, "; ")
	}
	return "no subordinate uid or gid range for " + c.who() + " when the command started"
}

func (c config) single(reason string) Mapping {
	return Mapping{
		Mode:   ModeSingle,
		UIDs:   []IDMap{{ContainerID: 0, HostID: c.uid, Size: 1}},
		GIDs:   []IDMap{{ContainerID: 0, HostID: c.gid, Size: 1}},
		reason: reason,
	}
}

// userRanges are the user's subordinate ranges as c.ranges read them,
// once a start (a getsubids source costs a process each).
type userRanges struct {
	uids, gids     []Range
	uidSrc, gidSrc string
	uidErr, gidErr error
}

func (c config) readRanges() userRanges {
	var r userRanges
	r.uids, r.uidSrc, r.uidErr = c.ranges(false)
	r.gids, r.gidSrc, r.gidErr = c.ranges(true)
	return r
}

// none says the user has no uid range and no gid range, every source
// read without error.
func (r userRanges) none() bool {
	return r.uidErr == nil && r.gidErr == nil && len(r.uids) == 0 && len(r.gids) == 0
}

// detectSubID builds the subid mapping from rr, or returns every reason
// it cannot (all of them, so the user can fix everything in one go).
func (c config) detectSubID(rr userRanges) (Mapping, []string) {
	var problems []string
	c.newUIDMap, c.newGIDMap = findHelper(c.newUIDMap, "newuidmap"), findHelper(c.newGIDMap, "newgidmap")

	uidRanges, uidSrc, gidRanges, gidSrc := rr.uids, rr.uidSrc, rr.gids, rr.gidSrc
	for _, err := range []error{rr.uidErr, rr.gidErr} {
		if err != nil {
			problems = append(problems, err.Error())
		}
	}
	// Report missing ranges only where reading them did not already fail.
	uidMissing := len(uidRanges) == 0 && uidSrc != ""
	gidMissing := len(gidRanges) == 0 && gidSrc != ""
	if p := c.missingRanges(uidMissing, gidMissing); p != "" {
		problems = append(problems, p)
	}

	uids, uidIgnored := buildMap(c.uid, uidRanges)
	gids, gidIgnored := buildMap(c.gid, gidRanges)
	if len(uidRanges) > 0 && len(uids) == 1 {
		problems = append(problems, fmt.Sprintf("every subordinate uid range for %s contains the user's own uid %d or overlaps an earlier range", c.who(), c.uid))
	}
	if len(gidRanges) > 0 && len(gids) == 1 {
		problems = append(problems, fmt.Sprintf("every subordinate gid range for %s contains the user's own gid %d or overlaps an earlier range", c.who(), c.gid))
	}

	problems = append(problems, c.helperProblems()...)
	if len(problems) > 0 {
		return Mapping{}, problems
	}

	m := Mapping{
		Mode:      ModeSubID,
		UIDs:      uids,
		GIDs:      gids,
		NewUIDMap: c.newUIDMap,
		NewGIDMap: c.newGIDMap,
	}
	src := uidSrc
	if gidSrc != uidSrc {
		src = uidSrc + " and " + gidSrc
	}
	nu, ng := mapTotal(uids)-1, mapTotal(gids)-1
	if nu == ng {
		m.reason = fmt.Sprintf("using %d subordinate ids from %s", nu, src)
	} else {
		m.reason = fmt.Sprintf("using %d subordinate uids and %d subordinate gids from %s", nu, ng, src)
	}
	if n := uidIgnored + gidIgnored; n > 0 {
		m.reason += fmt.Sprintf(" (ignoring %d range(s) that overlap the user's own id or an earlier range, or exceed the kernel's limit of %d map lines)", n, maxMapLines)
	}
	return m, nil
}

// ranges returns the user's subordinate uid (or, if group, gid) ranges and
// where they came from: the file when it lists the user, else getsubids
// (which also asks nsswitch sources such as SSSD). The file comes first
// because it costs a read where getsubids costs a process, and this runs
// on every container start. source is "" when the lookup failed (err set).
func (c config) ranges(group bool) (ranges []Range, source string, err error) {
	file := c.subUIDFile
	if group {
		file = c.subGIDFile
	}
	f, ferr := os.Open(file)
	switch {
	case ferr == nil:
		// Both files are keyed by user name or uid (not gid), as in shadow-utils.
		ranges, err = ParseSubIDFile(f, c.name, int(c.uid))
		f.Close()
		if err != nil {
			return nil, "", fmt.Errorf("%s %w", file, err)
		}
		if len(ranges) > 0 {
			return ranges, file, nil
		}
	case !errors.Is(ferr, fs.ErrNotExist):
		return nil, "", fmt.Errorf("reading subordinate ids: %w", ferr)
	}
	if c.getsubids != "" && c.name != "" && !strings.HasPrefix(c.name, "-") {
		// A failure or empty answer is not final: getsubids may be broken
		// or unconfigured, and the file's answer (none) stands.
		if rs, err := runGetsubids(c.getsubids, c.name, group); err == nil && len(rs) > 0 {
			return rs, "getsubids", nil
		}
	}
	return nil, file, nil
}

// missingRanges phrases the "no ranges" problem, with the usermod command
// that fixes it.
func (c config) missingRanges(uid, gid bool) string {
	login := c.name
	if login == "" {
		login = "LOGIN"
	}
	r := freeRange(c.subUIDFile, c.subGIDFile)
	where := func(file string) string {
		if c.getsubids != "" && c.name != "" {
			return "from getsubids or in " + file
		}
		return "in " + file
	}
	switch {
	case uid && gid:
		return fmt.Sprintf("no subordinate uid and gid ranges for %s %s and %s (add them with: usermod --add-subuids %s --add-subgids %s %s)",
			c.who(), where(c.subUIDFile), c.subGIDFile, r, r, login)
	case uid:
		return fmt.Sprintf("no subordinate uid range for %s %s (add one with: usermod --add-subuids %s %s)",
			c.who(), where(c.subUIDFile), r, login)
	case gid:
		return fmt.Sprintf("no subordinate gid range for %s %s (add one with: usermod --add-subgids %s %s)",
			c.who(), where(c.subGIDFile), r, login)
	}
	return ""
}

// freeRange suggests a 65536-id range that no line of the subid files
// uses yet: the first multiple of 65536 from 100000 up past every range.
func freeRange(files ...string) string {
	next := uint64(100000)
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Split(strings.TrimSpace(line), ":")
			if len(f) != 3 {
				continue
			}
			start, err1 := strconv.ParseUint(f[1], 10, 32)
			count, err2 := strconv.ParseUint(f[2], 10, 32)
			if err1 == nil && err2 == nil && start+count > next {
				next = start + count
			}
		}
	}
	if next > 100000 {
		next = (next + 65535) / 65536 * 65536
	}
	return fmt.Sprintf("%d-%d", next, next+65535)
}

// who names the user in messages.
func (c config) who() string {
	if c.name != "" {
		return strconv.Quote(c.name)
	}
	return fmt.Sprintf("uid %d", c.uid)
}

// helperProblems says what is wrong with newuidmap and newgidmap, if anything.
func (c config) helperProblems() []string {
	switch {
	case c.newUIDMap == "" && c.newGIDMap == "":
		return []string{"newuidmap and newgidmap not found (install the uidmap package)"}
	case c.newUIDMap == "":
		return []string{"newuidmap not found (install the uidmap package)"}
	case c.newGIDMap == "":
		return []string{"newgidmap not found (install the uidmap package)"}
	}
	var problems []string
	for _, p := range []string{c.newUIDMap, c.newGIDMap} {
		if err := CheckHelper(p); err != nil {
			problems = append(problems, err.Error())
		}
	}
	return problems
}

// buildMap maps container 0 to the user's own id and container 1… to the
// ranges in order. Ranges that overlap the own id or an earlier range are
// ignored: the kernel refuses maps whose host sides overlap. At most
// maxMapLines lines are made; ignored counts the ranges left out.
//
// The container side always fits in 32 bits: the host ranges are disjoint
// and each ends at or below math.MaxUint32, so together with the own id they
// hold at most math.MaxUint32 ids. The check below only guards that.
func buildMap(own uint32, ranges []Range) (maps []IDMap, ignored int) {
	maps = []IDMap{{ContainerID: 0, HostID: own, Size: 1}}
	next := uint64(1) // next free container id
	for _, r := range ranges {
		if len(maps) == maxMapLines || next+uint64(r.Count) > math.MaxUint32 || overlapsAny(maps, r) {
			ignored++
			continue
		}
		maps = append(maps, IDMap{ContainerID: uint32(next), HostID: r.Start, Size: r.Count})
		next += uint64(r.Count)
	}
	return maps, ignored
}

func overlapsAny(maps []IDMap, r Range) bool {
	start, end := uint64(r.Start), uint64(r.Start)+uint64(r.Count)
	for _, m := range maps {
		mStart, mEnd := uint64(m.HostID), uint64(m.HostID)+uint64(m.Size)
		if start < mEnd && mStart < end {
			return true
		}
	}
	return false
}
