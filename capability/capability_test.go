package capability

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestBoundingSet(t *testing.T) {
	const chown, netAdmin, netRaw, sysAdmin = 0, 12, 13, 21
	all := BoundingSet([]string{"ALL"}, nil)
	if len(all) != Last()+1 {
		t.Fatalf("add ALL kept %d capabilities, want %d", len(all), Last()+1)
	}
	for _, tc := range []struct {
		name      string
		add, drop []string
		has, lack []int
	}{
		{"default", nil, nil, []int{chown, netRaw}, []int{netAdmin, sysAdmin}},
		{"add one", []string{"CAP_NET_ADMIN"}, nil, []int{chown, netAdmin}, []int{sysAdmin}},
		{"drop one", nil, []string{"CAP_NET_RAW"}, []int{chown}, []int{netRaw}},
		{"drop ALL add one", []string{"CAP_CHOWN"}, []string{"ALL"}, []int{chown}, []int{netRaw, netAdmin}},
		{"add ALL drop one", []string{"ALL"}, []string{"CAP_SYS_ADMIN"}, []int{netAdmin, chown}, []int{sysAdmin}},
	} {
		got := BoundingSet(tc.add, tc.drop)
		for _, c := range tc.has {
			if !slices.Contains(got, c) {
				t.Errorf("%s: capability %d missing from %v", tc.name, c, got)
			}
		}
		for _, c := range tc.lack {
			if slices.Contains(got, c) {
				t.Errorf("%s: capability %d present in %v", tc.name, c, got)
			}
		}
	}
	if got := BoundingSet([]string{"CAP_CHOWN"}, []string{"ALL"}); len(got) != 1 {
		t.Errorf("drop ALL, add CHOWN = %v, want CHOWN alone", got)
	}
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"net_admin", "CAP_NET_ADMIN"},
		{"NET_ADMIN", "CAP_NET_ADMIN"},
		{"CAP_NET_ADMIN", "CAP_NET_ADMIN"},
		{"cap_sys_ptrace", "CAP_SYS_PTRACE"},
		{"all", "ALL"},
		{"ALL", "ALL"},
		{"CAP_ALL", "ALL"},
		{"checkpoint_restore", "CAP_CHECKPOINT_RESTORE"},
	} {
		got, err := Normalize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if tc.want != "ALL" && Number(got) < 0 {
			t.Errorf("Number(%q) = -1", got)
		}
	}
	if Number("CAP_CHOWN") != 0 || Number("CAP_NET_ADMIN") != 12 || Number("CAP_CHECKPOINT_RESTORE") != 40 {
		t.Errorf("Number does not follow linux/capability.h")
	}
	for _, in := range []string{"", "CAP_", "fly", "CAP_CAP_CHOWN", "NET ADMIN"} {
		if got, err := Normalize(in); err == nil {
			t.Errorf("Normalize(%q) = %q, want an error", in, got)
		} else if !strings.Contains(err.Error(), fmt.Sprintf("%q", in)) {
			t.Errorf("Normalize(%q) error %q does not quote the input", in, err)
		}
	}
}

// TestLast: the binary search finds what the kernel says.
func TestLast(t *testing.T) {
	if got, want := Last(), lastFromProc(); got != want {
		t.Errorf("Last() = %d, /proc/sys/kernel/cap_last_cap says %d", got, want)
	}
}

func BenchmarkLast(b *testing.B) {
	for b.Loop() {
		Last()
	}
}

func BenchmarkLastFromProc(b *testing.B) {
	for b.Loop() {
		lastFromProc()
	}
}
