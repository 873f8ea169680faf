package userns

import (
	"slices"
	"testing"
)

func TestKeepID(t *testing.T) {
	m := Mapping{Mode: ModeSubID,
		UIDs: []IDMap{{0, 1000, 1}, {1, 100000, 65536}},
		GIDs: []IDMap{{0, 1000, 1}, {1, 100000, 65536}}}
	k, err := m.KeepID(1000, 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := []IDMap{{0, 100000, 1000}, {1000, 1000, 1}, {1001, 101000, 64536}}
	if !slices.Equal(k.UIDs, want) || !slices.Equal(k.GIDs, want) {
		t.Errorf("KeepID(1000) = %v / %v, want %v", k.UIDs, k.GIDs, want)
	}
	if k.Size() != m.Size() {
		t.Errorf("KeepID changed the size: %d, want %d", k.Size(), m.Size())
	}
	// Every file owner, seen through the keep-id map, shifted, lands on
	// the host id the store's map gave it.
	s := Shift{UID: 1000, GID: 1000}
	for _, c := range []uint32{0, 1, 999, 1000, 1001, 65536} {
		host, _ := hostOf(m.UIDs, c)
		var seen uint32
		for _, e := range k.UIDs {
			if host >= e.HostID && host-e.HostID < e.Size {
				seen = e.ContainerID + host - e.HostID
			}
		}
		if got, _ := s.Owner(seen, seen); got != c {
			t.Errorf("owner %d (host %d) is seen as %d under keep-id, shifted to %d, want %d", c, host, seen, got, c)
		}
	}
	if _, err := (Mapping{Mode: ModeSingle, UIDs: []IDMap{{0, 1000, 1}}, GIDs: []IDMap{{0, 1000, 1}}}).KeepID(1000, 1000); err == nil {
		t.Error("KeepID in single-id mode gave a mapping")
	}
	if _, err := m.KeepID(70000, 1000); err == nil {
		t.Error("KeepID of a uid outside the map gave a mapping")
	}
}
