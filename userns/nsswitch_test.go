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
