package userns

import (
	"errors"
	"fmt"
)

// KeepID is the mapping of a --userns=keep-id container: the user's own
// uid and gid are themselves inside (uid and gid, not 0), container root
// and every other id are subordinate ids, and the map has as many ids as
// m. Container ids below uid take the ids m gives one above them; those
// above keep m's. Files laid out with m need their owners shifted to look
// right under it (Shift).
func (m Mapping) KeepID(uid, gid uint32) (Mapping, error) {
	if m.Mode != ModeSubID {
		return Mapping{}, errors.New("--userns=keep-id needs subordinate ids (/etc/subuid and /etc/subgid): without them the container's only id is your own, as root")
	}
	size := m.Size()
	if uid == 0 || gid == 0 || uid >= size || gid >= size {
		return Mapping{}, fmt.Errorf("--userns=keep-id: your uid %d or gid %d is outside the %d ids the user namespace maps", uid, gid, size)
	}
	k := m
	k.UIDs, k.GIDs = keepIDMaps(m.UIDs, uid, size), keepIDMaps(m.GIDs, gid, size)
	k.reason, k.explain = m.Reason()+"; keep-id: your ids are yours inside", nil
	return k, nil
}

// keepIDMaps builds the keep-id map of size ids from maps, merging runs.
func keepIDMaps(maps []IDMap, id, size uint32) []IDMap {
	var out []IDMap
	for c := uint32(0); c < size; c++ {
		from := c // the container id of maps whose host id c takes
		switch {
		case c < id:
			from = c + 1
		case c == id:
			from = 0
		}
		h, ok := hostOf(maps, from)
		if !ok {
			continue
		}
		if n := len(out); n > 0 && out[n-1].ContainerID+out[n-1].Size == c && out[n-1].HostID+out[n-1].Size == h {
			out[n-1].Size++
			continue
		}
		out = append(out, IDMap{ContainerID: c, HostID: h, Size: 1})
	}
	return out
}

func hostOf(maps []IDMap, c uint32) (uint32, bool) {
	for _, e := range maps {
		if c >= e.ContainerID && c-e.ContainerID < e.Size {
			return e.HostID + c - e.ContainerID, true
		}
	}
	return 0, false
}

// Shift says how a file's owner, as a keep-id container sees it, becomes
// the owner the image gave it: the inverse of KeepID's move. The init
// copies the image's layers with it (fuseoverlay.Layout.Shift).
type Shift struct{ UID, GID uint32 }

// Owner is the owner to give a copy of a file seen as owned by uid:gid.
func (s Shift) Owner(uid, gid uint32) (uint32, uint32) {
	return shiftID(uid, s.UID), shiftID(gid, s.GID)
}

func shiftID(v, id uint32) uint32 {
	switch {
	case v < id:
		return v + 1
	case v == id:
		return 0
	}
	return v
}
