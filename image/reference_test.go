package image

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestNormalizeRef(t *testing.T) {
	long := strings.Repeat("t", 128)
	tests := []struct {
		ref, want string
	}{
		{"debian", "debian:latest"},
		{"debian:12", "debian:12"},
		{"debian:latest", "debian:latest"},
		{"team/app", "team/app:latest"},
		{"registry:5000/team/app", "registry:5000/team/app:latest"},
		{"registry:5000/team/app:v1.2", "registry:5000/team/app:v1.2"},
		{"localhost:5000/app:1", "localhost:5000/app:1"},
		{"my-app_x.y__z--w", "my-app_x.y__z--w:latest"},
		{"a.b.c/d-e", "a.b.c/d-e:latest"},
		{"debian:Bookworm_1.0-rc", "debian:Bookworm_1.0-rc"},
		{"debian:_x", "debian:_x"},
		{"debian:" + long, "debian:" + long},
		{"0", "0:latest"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := NormalizeRef(tt.ref)
			if err != nil {
				t.Fatalf("NormalizeRef(%q): %v", tt.ref, err)
			}
			if got != tt.want {
				t.Errorf("NormalizeRef(%q) = %q, want %q", tt.ref, got, tt.want)
			}
		})
	}
}

func TestNormalizeRefErrors(t *testing.T) {
	tests := []struct {
		ref, want string
	}{
		{"", "invalid image name"},
		{"Debian", "invalid image name"},
		{"team/App:1", "invalid image name"},
		{"-debian", "invalid image name"},
		{"debian-", "invalid image name"},
		{"debian/", "invalid image name"},
		{"a//b", "invalid image name"},
		{"deb ian", "invalid image name"},
		{"debian@sha256", "invalid digest"},
		{"registry:port/app", "invalid image name"},
		{":12", "invalid image name"},
		{"debian:", "invalid tag"},
		{"debian:-rc", "invalid tag"},
		{"debian:.rc", "invalid tag"},
		{"debian:a+b", "invalid tag"},
		{"debian:" + strings.Repeat("t", 129), "invalid tag"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := NormalizeRef(tt.ref)
			if err == nil {
				t.Fatalf("NormalizeRef(%q) = %q, want an error", tt.ref, got)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NormalizeRef(%q) error %q does not contain %q", tt.ref, err, tt.want)
			}
		})
	}
}

func TestSplitRef(t *testing.T) {
	tests := []struct {
		ref, name, tag string
	}{
		{"debian:12", "debian", "12"},
		{"debian:latest", "debian", "latest"},
		{"registry:5000/team/app:v1", "registry:5000/team/app", "v1"},
		{"a/b/c:x.y", "a/b/c", "x.y"},
	}
	for _, tt := range tests {
		name, tag := SplitRef(tt.ref)
		if name != tt.name || tag != tt.tag {
			t.Errorf("SplitRef(%q) = %q, %q; want %q, %q", tt.ref, name, tag, tt.name, tt.tag)
		}
	}
}

func TestShortID(t *testing.T) {
	hex := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		id, want string
	}{
		{"sha256:" + hex, "0123456789ab"},
		{hex, "0123456789ab"},
		{"sha256:0123456789ab", "0123456789ab"},
		{"sha256:abc", "abc"},
		{"abc", "abc"},
		{"host", "host"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := ShortID(tt.id); got != tt.want {
			t.Errorf("ShortID(%q) = %q, want %q", tt.id, got, tt.want)
		}
	}
}

// testID makes a full image ID from a hex prefix, padded with zeros.
func testID(prefix string) string {
	return "sha256:" + prefix + strings.Repeat("0", 64-len(prefix))
}

func TestIndexResolve(t *testing.T) {
	id1, id2, id3 := testID("aaaa1111"), testID("aaaa2222"), testID("bbbb3333")
	idx := &index{
		Refs: map[string]string{
			"debian:12":    id1,
			"app:latest":   id2,
			"ghost:latest": testID("cccc"), // names an image that is gone
			"bbbb:latest":  id1,            // a name that looks like an ID prefix
		},
		Images: map[string]*Record{
			id1: {ID: id1},
			id2: {ID: id2},
			id3: {ID: id3},
		},
	}
	found := []struct {
		ref, want string
	}{
		{"debian:12", id1},
		{"app", id2},
		{"app:latest", id2},
		{id1, id1},
		{strings.TrimPrefix(id2, "sha256:"), id2},
		{"aaaa1", id1},
		{"sha256:aaaa2", id2},
		{"bbbb3", id3},
		{"sha256:bbbb", id3}, // "sha256:bbbb" is no stored name, so an ID prefix
		{"bbbb", id1},        // the name wins over the ID prefix
		{"b", id3},
	}
	for _, tt := range found {
		t.Run(tt.ref, func(t *testing.T) {
			rec, err := idx.resolve(tt.ref)
			if err != nil {
				t.Fatalf("resolve(%q): %v", tt.ref, err)
			}
			if rec.ID != tt.want {
				t.Errorf("resolve(%q) = %s, want %s", tt.ref, rec.ID, tt.want)
			}
		})
	}

	t.Run("ambiguous prefix", func(t *testing.T) {
		for _, ref := range []string{"aaaa", "sha256:a", "a"} {
			rec, err := idx.resolve(ref)
			if !errors.Is(err, ErrAmbiguous) {
				t.Fatalf("resolve(%q) = %v, %v; want ErrAmbiguous", ref, rec, err)
			}
			if errors.Is(err, ErrNotFound) {
				t.Errorf("resolve(%q) error %v is also ErrNotFound", ref, err)
			}
			want := ShortID(id1) + ", " + ShortID(id2)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("resolve(%q) error %q does not list the candidates %q", ref, err, want)
			}
		}
	})

	notFound := []string{
		"debian",        // no debian:latest
		"ghost",         // the name's image is gone
		"cccc",          // no such ID
		"AAAA",          // IDs are lower case
		"sha256:",       // nothing after the algorithm
		"",              // nothing at all
		testID("dddd"),  // a full ID not stored
		id1 + "0",       // too long for an ID
		"zz",            // not hex, not a stored name
		"registry:5000", // neither
	}
	for _, ref := range notFound {
		t.Run("not found "+ref, func(t *testing.T) {
			rec, err := idx.resolve(ref)
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("resolve(%q) = %v, %v; want ErrNotFound", ref, rec, err)
			}
			if !strings.Contains(err.Error(), `"`+ref+`"`) {
				t.Errorf("resolve(%q) error %q does not quote the reference", ref, err)
			}
		})
	}
}

func TestCandidates(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		ref    string
		search []string
		want   []string
	}{
		{"debian", []string{"docker.io"}, []string{"docker.io/library/debian:latest"}},
		{"debian:12", []string{"quay.io", "docker.io"}, []string{"quay.io/debian:12", "docker.io/library/debian:12"}},
		{"team/app", []string{"docker.io"}, []string{"docker.io/team/app:latest"}},
		{"127.0.0.1:5000/debian:bookworm", []string{"docker.io"}, []string{"127.0.0.1:5000/debian:bookworm"}},
		{"localhost/app", []string{"docker.io"}, []string{"localhost/app:latest"}},
		{"registry.example/app@" + digest, []string{"docker.io"}, []string{"registry.example/app@" + digest}},
		{"debian@" + digest, []string{"docker.io"}, []string{"docker.io/library/debian@" + digest}},
		{"Bad", []string{"docker.io"}, nil},
	} {
		got := Candidates(tc.ref, tc.search)
		if !slices.Equal(got, tc.want) {
			t.Errorf("Candidates(%q, %q) = %q, want %q", tc.ref, tc.search, got, tc.want)
		}
	}
}
