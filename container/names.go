package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sandbox-dev/sandbox/image"
)

// The name index is a directory of entries, NAME@ID, one per container
// that stays (not --rm): what every create must know of the containers
// (the names taken), read with one directory listing instead of one
// record each. A create read every record: 17 µs per container in the
// store, so a `run --rm` with 60 stopped containers beside it took 1 ms
// more. A --rm container lives for one run: indexing it would cost each
// such run an entry made and, at the next pass, removed (two metadata
// writes), so it has none and is read, as the few there are at a time.
//
// The records stay the truth; the index is kept under the store lock by
// create, rename and the sweep, and mended by every pass over it
// (scan): an entry whose container is gone is removed, and a container
// with no entry (made by an older sandbox, or a create killed between
// its record and its entry) is read, and gets one. A removal outside the
// lock (rm) leaves its entry for the next pass.
const namesDirName = "names"

// namesDir is the store's name index.
func namesDir(s *image.Store) string { return filepath.Join(s.Root, namesDirName) }

// nameEntry is the index entry's name for a container.
func nameEntry(id, name string) string { return name + "@" + id }

// parseNameEntry reads a name the index holds.
func parseNameEntry(e string) (id, name string, ok bool) {
	name, id, ok = strings.Cut(e, "@")
	return id, name, ok && name != "" && len(id) >= 16
}

// indexable says whether name can be part of a file name in the index:
// every valid name can (config's check); one an older sandbox let
// through may not, and its container is then read at every pass.
func indexable(name string) bool { return checkKey("name", name) == nil }

// addNameEntry indexes a container that stays; a failure only costs the
// next pass a read of its record.
func addNameEntry(s *image.Store, id, name string, rm bool) {
	if rm || !indexable(name) {
		return
	}
	// A symbolic link, dangling (to the ID: a walk that follows links
	// finds nothing): one system call, where a file is an open and a
	// close; its name is all that is read.
	entry := filepath.Join(namesDir(s), nameEntry(id, name))
	if err := os.Symlink(id, entry); errors.Is(err, os.ErrNotExist) && os.MkdirAll(namesDir(s), 0o700) == nil {
		os.Symlink(id, entry)
	}
}

// errDuplicateEntry marks an ID the index named twice.
var errDuplicateEntry = errors.New("named twice in the name index")

// readNameIndex maps the IDs the index names to their entries (record.dir
// is the entry's name). Two entries for one ID (a rename killed midway)
// are both removed and the ID marked, so that its record decides.
// Without the store lock the caller only reads.
func readNameIndex(s *image.Store, mend bool) map[string]record {
	ents, _ := os.ReadDir(namesDir(s))
	idx := make(map[string]record, len(ents))
	for _, e := range ents {
		id, name, ok := parseNameEntry(e.Name())
		if !ok {
			continue
		}
		if old, dup := idx[id]; dup {
			if mend {
				os.Remove(filepath.Join(namesDir(s), old.dir))
				os.Remove(filepath.Join(namesDir(s), e.Name()))
			}
			idx[id] = record{err: errDuplicateEntry}
			continue
		}
		idx[id] = record{dir: e.Name(), ID: id, Name: name}
	}
	return idx
}

// readRecord reads what a pass needs of the container in directory dir.
func readRecord(s *image.Store, dir string) record {
	r := record{dir: dir}
	b, err := os.ReadFile(filepath.Join(Dir(s, dir), "container.json"))
	switch {
	case err != nil:
		r.err, r.missing = err, errors.Is(err, os.ErrNotExist)
	case json.Unmarshal(b, &r) != nil:
		r.err = fmt.Errorf("reading container %s: not a container record", dir)
	case len(r.ID) < 16:
		r.err = fmt.Errorf("reading container %s: no ID in its record", dir)
	}
	return r
}
