package container

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/image"
)

func indexEntries(t *testing.T, s *image.Store) []string {
	t.Helper()
	ents, err := os.ReadDir(namesDir(s))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

// TestNameIndex: a pass over the store indexes the containers that stay
// (not damaged ones, not swept ones), and the next pass takes their names
// from the index without reading their records; it drops entries of
// containers that are gone, and trusts neither of two entries for one
// container (a rename killed midway), reading the record instead.
func TestNameIndex(t *testing.T) {
	s, ids := sweepFixture(t)
	held, err := os.OpenFile(filepath.Join(Dir(s, ids["d"]), "lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	unix.Flock(int(held.Fd()), unix.LOCK_EX)
	if _, _, err := sweepLocked(s); err != nil {
		t.Fatal(err)
	}
	want := []string{nameEntry(ids["b"], "created_rm", true), nameEntry(ids["d"], "running_rm", true),
		nameEntry(ids["g"], "nolock_rm", true), nameEntry(ids["a"], "kept", false)}
	slices.Sort(want)
	if got := indexEntries(t, s); !slices.Equal(got, want) {
		t.Fatalf("index after the first pass = %v, want %v", got, want)
	}

	// From the index: a record unreadable now still gives its name.
	if err := os.WriteFile(filepath.Join(Dir(s, ids["a"]), "container.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	// An entry of a container that is gone, and a second entry for b.
	ghost := nameEntry(strings.Repeat("9", 64), "ghost", false)
	for _, e := range []string{ghost, nameEntry(ids["b"], "renamed", true)} {
		if err := os.WriteFile(filepath.Join(namesDir(s), e), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	names, _, err := sweepLocked(s)
	if err != nil {
		t.Fatal(err)
	}
	if names["kept"] != ids["a"][:12] {
		t.Errorf("the second pass lost kept's name (its record is unreadable, its entry is not): %v", names)
	}
	if names["ghost"] != "" || names["renamed"] != "" || names["created_rm"] != ids["b"][:12] {
		t.Errorf("names after a stale and a doubled entry = %v; want no ghost, no renamed, created_rm for b", names)
	}
	if got := indexEntries(t, s); !slices.Equal(got, want) {
		t.Errorf("index after the second pass = %v, want %v", got, want)
	}
}

// TestRenameAndFindIndexed: create indexes a container, rename moves its
// entry (the old name is free again), and Find resolves by name, ID and
// prefix from the index; a container the index lacks (an older
// sandbox's) is still found, and its name still taken.
func TestRenameAndFindIndexed(t *testing.T) {
	s, _ := sweepFixture(t)
	img := image.HostImage()
	c, lock, err := create(s, img, Config{Name: "web"}, "")
	if err != nil {
		t.Fatal(err)
	}
	lock.Close()
	if !slices.Contains(indexEntries(t, s), nameEntry(c.ID, "web", false)) {
		t.Fatalf("create did not index web: %v", indexEntries(t, s))
	}
	if err := Rename(s, "web", "api"); err != nil {
		t.Fatal(err)
	}
	if got := indexEntries(t, s); !slices.Contains(got, nameEntry(c.ID, "api", false)) || slices.Contains(got, nameEntry(c.ID, "web", false)) {
		t.Errorf("index after rename web → api: %v", got)
	}
	// The fixture's damaged containers have no entry: nothing is found
	// from the index alone until they go.
	if got := findIndexed(s, "api"); got != nil {
		t.Errorf("findIndexed answered %s while damaged containers lack entries", got.Name)
	}
	for _, key := range []string{"f", "h", "i"} { // damaged: system check's to remove
		os.RemoveAll(Dir(s, strings.Repeat(key, 64)))
	}
	if _, _, err := sweepLocked(s); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"api", c.ID, c.ID[:10]} {
		got := findIndexed(s, ref)
		if got == nil || got.ID != c.ID {
			t.Errorf("findIndexed(%q) = %v, want %s", ref, got, c.ID[:12])
		}
	}
	w, lock, err := create(s, img, Config{Name: "web"}, "")
	if err != nil {
		t.Fatalf("create --name web after web was renamed: %v", err)
	}
	lock.Close()

	// As an older sandbox would leave it: no entry.
	os.Remove(filepath.Join(namesDir(s), nameEntry(w.ID, "web", false)))
	if findIndexed(s, "web") != nil {
		t.Error("findIndexed answered with a container missing from the index")
	}
	if got, err := Find(s, "web"); err != nil || got.ID != w.ID {
		t.Errorf("Find(web) with no entry = %v, %v", got, err)
	}
	if _, _, err := create(s, img, Config{Name: "web"}, ""); !errors.Is(err, ErrNameInUse) {
		t.Errorf("create --name web while an unindexed web exists = %v, want ErrNameInUse", err)
	}
	if !slices.Contains(indexEntries(t, s), nameEntry(w.ID, "web", false)) {
		t.Error("the pass did not index the container that lacked an entry")
	}
}
