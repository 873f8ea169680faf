package userns

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSubidBeyondFiles(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
		want       bool
	}{
		{"no subid line", "passwd: files\ngroup: files\n", false},
		{"files only", "subid: files\n", false},
		{"sss", "subid:  sss\n", true},
		{"files then sss", "subid: files sss # ldap users\n", true},
		{"commented out", "# subid: sss\n", false},
		{"action only", "subid: files [NOTFOUND=return]\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "nsswitch.conf")
			if err := os.WriteFile(p, []byte(tc.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := subidBeyondFiles(p); got != tc.want {
				t.Errorf("subidBeyondFiles(%q) = %v, want %v", tc.conf, got, tc.want)
			}
		})
	}
	if subidBeyondFiles(filepath.Join(t.TempDir(), "missing")) {
		t.Error("a missing nsswitch.conf must mean files only")
	}
}

func TestToContainer(t *testing.T) {
	m := Mapping{
		UIDs: []IDMap{{0, 1000, 1}, {1, 100000, 65536}},
		GIDs: []IDMap{{0, 1001, 1}, {1, 200000, 10}},
	}
	for _, tc := range []struct{ uid, gid, wantUID, wantGID int }{
		{1000, 1001, 0, 0},
		{100000, 200000, 1, 1},
		{165535, 200009, 65536, 10},
		{0, 0, OverflowID, OverflowID},
		{165536, 200010, OverflowID, OverflowID},
	} {
		u, g := m.ToContainer(tc.uid, tc.gid)
		if u != tc.wantUID || g != tc.wantGID {
			t.Errorf("ToContainer(%d, %d) = %d, %d; want %d, %d", tc.uid, tc.gid, u, g, tc.wantUID, tc.wantGID)
		}
	}
}
