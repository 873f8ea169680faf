package runtime

import (
	"slices"
	"testing"
)

func TestBoundingSet(t *testing.T) {
	const chown, netAdmin, netRaw, sysAdmin = 0, 12, 13, 21
	all := BoundingSet([]string{"ALL"}, nil)
	if len(all) != lastCap()+1 {
		t.Fatalf("add ALL kept %d capabilities, want %d", len(all), lastCap()+1)
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
