package userns

import (
	"math"
	"strconv"
	"strings"
	"syscall"
)

// maxMapLines is the most lines the kernel accepts in one uid_map or gid_map
// (since Linux 4.15). The line for the user's own id counts too.
const maxMapLines = 340

// IDMap is one line of /proc/PID/uid_map or gid_map.
type IDMap struct{ ContainerID, HostID, Size uint32 }

// Range is a subordinate id range from /etc/subuid, /etc/subgid or getsubids.
type Range struct{ Start, Count uint32 }

// Mode names the kind of id mapping.
type Mode string

const (
	// ModeSubID maps container 0 to the user and container 1…N to the user's
	// subordinate range(s). Writing such maps needs newuidmap/newgidmap.
	ModeSubID Mode = "subid"
	// ModeSingle maps container 0 to the user; no other ids exist. The
	// process can write this map itself, no helper needed.
	ModeSingle Mode = "single"
)

// Mapping is the id mapping chosen for the current user, and why.
type Mapping struct {
	Mode      Mode
	UIDs      []IDMap
	GIDs      []IDMap
	NewUIDMap string // helper paths, set in subid mode
	NewGIDMap string
	// reason says why this mode was chosen (Reason); explain, when set,
	// says it on demand instead: single-id mode for want of any range,
	// whose full account (a free range to add, the helpers' state) costs
	// a start a tenth of a millisecond and is read only by a warning and
	// `sandbox info`.
	reason  string
	explain func() string
}

// Reason is one sentence: why this mode was chosen.
func (m Mapping) Reason() string {
	if m.explain != nil {
		return m.explain()
	}
	return m.reason
}

// String renders the maps compactly and stably, e.g.
// "u0:1000:1,u1:100000:65536;g0:1000:1,g1:100000:65536".
// The image store records it to notice when the map changes, so the format
// must not change.
func (m Mapping) String() string {
	var b strings.Builder
	writeMaps(&b, 'u', m.UIDs)
	b.WriteByte(';')
	writeMaps(&b, 'g', m.GIDs)
	return b.String()
}

func writeMaps(b *strings.Builder, kind byte, maps []IDMap) {
	for i, e := range maps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte(kind)
		b.WriteString(strconv.FormatUint(uint64(e.ContainerID), 10))
		b.WriteByte(':')
		b.WriteString(strconv.FormatUint(uint64(e.HostID), 10))
		b.WriteByte(':')
		b.WriteString(strconv.FormatUint(uint64(e.Size), 10))
	}
}

// OverflowID is what the kernel shows for an id outside the map.
const OverflowID = 65534

// ToContainer translates host ids to the ids they have inside a container
// with this map, as the kernel would show them: the user's own ids become 0,
// subordinate ids their place in the range, anything else OverflowID.
func (m Mapping) ToContainer(uid, gid int) (int, int) {
	return toContainer(m.UIDs, uid), toContainer(m.GIDs, gid)
}

func toContainer(maps []IDMap, id int) int {
	for _, e := range maps {
		if id >= int(e.HostID) && id < int(e.HostID)+int(e.Size) {
			return int(e.ContainerID) + id - int(e.HostID)
		}
	}
	return OverflowID
}

// Size returns how many container ids exist: 1 in single mode, 1 plus the sum
// of the range sizes in subid mode. If the uid and gid maps differ in size the
// smaller one counts, so that ids 0…Size()-1 are valid both as uid and as gid.
func (m Mapping) Size() uint32 {
	u, g := mapTotal(m.UIDs), mapTotal(m.GIDs)
	return uint32(min(u, g, math.MaxUint32))
}

// mapTotal sums in 64 bits: the sizes of a valid map fit in 32 bits, but a
// hand-made Mapping might not be valid.
func mapTotal(maps []IDMap) uint64 {
	var n uint64
	for _, e := range maps {
		n += uint64(e.Size)
	}
	return n
}

// SysProcIDMaps returns the maps in the form of Go's
// syscall.SysProcAttr.UidMappings/GidMappings, which make the Go runtime
// write the maps of the child itself. That only works for an unprivileged
// user in single mode (a process may map just its own ids); subid maps need
// Apply. For an unprivileged user, leave GidMappingsEnableSetgroups false:
// the kernel refuses a gid_map written without "deny" in setgroups.
func (m Mapping) SysProcIDMaps() (uids, gids []syscall.SysProcIDMap) {
	return sysProcMaps(m.UIDs), sysProcMaps(m.GIDs)
}

func sysProcMaps(maps []IDMap) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, 0, len(maps))
	for _, e := range maps {
		out = append(out, syscall.SysProcIDMap{
			ContainerID: int(e.ContainerID),
			HostID:      int(e.HostID),
			Size:        int(e.Size),
		})
	}
	return out
}

// MapText is maps as the lines of a uid_map or gid_map: "INSIDE OUTSIDE
// COUNT" each (what the helpers and a spare's maker are given, and what
// the id map's cache keeps).
func MapText(maps []IDMap) string {
	var b []byte
	for _, e := range maps {
		b = strconv.AppendUint(b, uint64(e.ContainerID), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(e.HostID), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(e.Size), 10)
		b = append(b, '\n')
	}
	return string(b)
}

// ParseMapText reads what MapText writes, or /proc shows (padded);
// false for anything else, or no line.
func ParseMapText(text string) ([]IDMap, bool) {
	var maps []IDMap
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, false
		}
		var v [3]uint32
		for i := range f {
			n, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				return nil, false
			}
			v[i] = uint32(n)
		}
		maps = append(maps, IDMap{ContainerID: v[0], HostID: v[1], Size: v[2]})
	}
	return maps, len(maps) > 0
}
