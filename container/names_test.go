package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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
		// NAME@ID, without the proof (which the tests cannot know).
		if id, ent, ok := parseNameEntry(e.Name()); ok {
			out = append(out, ent.name+"@"+id)
		}
	}
	slices.Sort(out)
	return out
}

// TestNameIndex: a pass over the store indexes the containers that stay
// (not --rm ones, not damaged ones), and the next pass takes their names
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
	want := []string{"kept@" + ids["a"]}
	if got := indexEntries(t, s); !slices.Equal(got, want) {
		t.Fatalf("index after the first pass = %v, want %v", got, want)
	}

	// From the index: a record unreadable now still gives its name.
	record := filepath.Join(Dir(s, ids["a"]), "container.json")
	good, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(record)
	if err != nil {
		t.Fatal(err)
	}
	// Garbage in place, the same file and time: the proof still holds,
	// so a name that still comes can only come from the index.
	if err := os.WriteFile(record, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(record, fi.ModTime(), fi.ModTime())
	names, _, err := sweepLocked(s)
	if err != nil {
		t.Fatal(err)
	}
	if names["kept"] != ids["a"][:12] || names["created_rm"] != ids["b"][:12] {
		t.Errorf("the second pass lost kept's name (its record is unreadable, its entry is not) or created_rm's: %v", names)
	}

	// An entry of a container that is gone, and a second one for a.
	if err := os.WriteFile(record, good, 0o600); err != nil {
		t.Fatal(err)
	}
	proof, err := recordProof(s, ids["a"])
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{nameEntry(strings.Repeat("9", 64), "ghost", proof), nameEntry(ids["a"], "renamed", "1.2")} {
		if err := os.Symlink("x", filepath.Join(namesDir(s), e)); err != nil {
			t.Fatal(err)
		}
	}
	if names, _, err = sweepLocked(s); err != nil {
		t.Fatal(err)
	}
	if names["ghost"] != "" || names["renamed"] != "" || names["kept"] != ids["a"][:12] {
		t.Errorf("names after a stale and a doubled entry = %v; want no ghost, no renamed, kept for a", names)
	}
	if got := indexEntries(t, s); !slices.Equal(got, want) {
		t.Errorf("index after the third pass = %v, want %v", got, want)
	}
}

// TestRenameAndFindIndexed: create indexes a container, rename moves its
// entry (the old name is free again), and Find resolves by name, ID and
// prefix from the index; a container the index lacks (an older
// sandbox's) is still found (its record read), and its name still taken.
func TestRenameAndFindIndexed(t *testing.T) {
	s, _ := sweepFixture(t)
	img := image.HostImage()
	c, lock, err := create(s, img, Config{Name: "web"}, "", false)
	if err != nil {
		t.Fatal(err)
	}
	lock.Close()
	if !slices.Contains(indexEntries(t, s), "web@"+c.ID) {
		t.Fatalf("create did not index web: %v", indexEntries(t, s))
	}
	if err := Rename(s, "web", "api"); err != nil {
		t.Fatal(err)
	}
	if got := indexEntries(t, s); !slices.Contains(got, "api@"+c.ID) || slices.Contains(got, "web@"+c.ID) {
		t.Errorf("index after rename web → api: %v", got)
	}
	// The fixture's damaged containers: findIndexed cannot tell what
	// they are named, so it leaves the answer to Find.
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
	w, lock, err := create(s, img, Config{Name: "web"}, "", false)
	if err != nil {
		t.Fatalf("create --name web after web was renamed: %v", err)
	}
	lock.Close()

	// As an older sandbox would leave it: no entry.
	dropNameEntries(s, w.ID)
	if got := findIndexed(s, "web"); got == nil || got.ID != w.ID {
		t.Errorf("findIndexed(web) with no entry = %v, want %s (its record read)", got, w.ID[:12])
	}
	if got, err := Find(s, "web"); err != nil || got.ID != w.ID {
		t.Errorf("Find(web) with no entry = %v, %v", got, err)
	}
	if _, _, err := create(s, img, Config{Name: "web"}, "", false); !errors.Is(err, ErrNameInUse) {
		t.Errorf("create --name web while an unindexed web exists = %v, want ErrNameInUse", err)
	}
	if !slices.Contains(indexEntries(t, s), "web@"+w.ID) {
		t.Error("the pass did not index the container that lacked an entry")
	}
}

// namesStore is an empty store for the index's tests.
func namesStore(t *testing.T) *image.Store {
	t.Helper()
	s := &image.Store{Root: t.TempDir()}
	for _, d := range []string{"containers", "tmp"} {
		if err := os.Mkdir(filepath.Join(s.Root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func mustCreate(t *testing.T, s *image.Store, cfg Config) *Container {
	t.Helper()
	c, lock, err := create(s, image.HostImage(), cfg, "", false)
	if err != nil {
		t.Fatal(err)
	}
	lock.Close()
	return c
}

// TestNameIndexStaleEntries: an entry that no longer matches its record
// is not believed (the cases a review found with entries trusted
// unchecked): a rename the index did not see (an older sandbox's) leaves
// the new name taken and Find answering by it, not by an ID prefix; an
// entry for a name the record never held frees nothing; and a lost
// record of a --rm container is swept, its name free.
func TestNameIndexStaleEntries(t *testing.T) {
	s := namesStore(t)
	x := mustCreate(t, s, Config{Name: "web"})
	y := mustCreate(t, s, Config{Name: "db"})
	ref := y.ID[:6]
	x.Name = ref // renamed by an older sandbox: the record only
	if err := image.WriteFileAtomic(filepath.Join(Dir(s, x.ID), "container.json"), recordJSON(x), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := Find(s, ref); err != nil || got.ID != x.ID {
		t.Errorf("Find(%q) = %v, %v; want %s, named so (a name wins over an ID prefix)", ref, got, err, x.ID[:12])
	}
	if _, _, err := create(s, image.HostImage(), Config{Name: ref}, "", false); !errors.Is(err, ErrNameInUse) {
		t.Errorf("create --name %s, which %s's record holds: %v, want ErrNameInUse", ref, x.ID[:12], err)
	}
	c := mustCreate(t, s, Config{Name: "web"}) // free: no record holds it
	if c.Name != "web" {
		t.Fatalf("created %q", c.Name)
	}

	// An entry for a name no record holds, with a proof that is not
	// the record's (a rename killed midway).
	addNameEntry(s, y.ID, "short", false)
	for _, e := range readNameIndex(s)[y.ID] {
		if e.name == "short" {
			os.Rename(filepath.Join(namesDir(s), e.file), filepath.Join(namesDir(s), nameEntry(y.ID, "short", "0.0")))
		}
	}
	mustCreate(t, s, Config{Name: "short"})
	if _, _, err := create(s, image.HostImage(), Config{Name: "db"}, "", false); !errors.Is(err, ErrNameInUse) {
		t.Errorf("create --name db, which %s's record holds: %v", y.ID[:12], err)
	}

	// A --rm container's record lost (written unsynced, then a power cut).
	r := mustCreate(t, s, Config{Name: "tmp1", Rm: true})
	os.Remove(filepath.Join(Dir(s, r.ID), "container.json"))
	mustCreate(t, s, Config{Name: "tmp1"})
	if _, err := os.Stat(Dir(s, r.ID)); err == nil {
		t.Error("the directory whose record was lost was not swept")
	}
}

// TestFreeNameWhenEveryPairIsTaken: with every two-word name taken, a
// container given no name still gets one, free (the search ended in a
// loop for good before).
func TestFreeNameWhenEveryPairIsTaken(t *testing.T) {
	taken := map[string]string{}
	for _, a := range adjectives {
		for _, n := range nouns {
			taken[a+"_"+n] = "id"
		}
	}
	done := make(chan string)
	go func() {
		defer close(done)
		for i := 0; i < 100; i++ {
			name := freeName(taken)
			if taken[name] != "" {
				done <- fmt.Sprintf("freeName gave %q, which is taken", name)
				return
			}
			taken[name] = "id"
		}
	}()
	select {
	case msg, ok := <-done:
		if ok {
			t.Fatal(msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("freeName found no free name in 10 s")
	}
}
