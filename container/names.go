package container

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/sandbox-dev/sandbox/image"
)

// The name index is a directory of empty files, one per container,
// named NAME@ID, or NAME@ID@rm for a --rm container: what every create
// must know of every container (the names taken, which ones a sweep may
// take), read with one directory listing instead of one record each. A
// create read every record: 17 µs per container in the store, so a
// `run --rm` with 60 stopped containers beside it took 1 ms more.
//
// The records stay the truth; the index is kept under the store lock by
// create, rename and the sweep, and mended by every pass over it
// (scan): an entry whose container is gone is removed, and a container
// with no entry (made by an older sandbox, or a create killed between
// its record and its entry) is read, and gets one. A removal outside the
// lock (rm, a --rm run's end) leaves its entry for the next pass.
const (
	namesDirName = "names"
	rmSuffix     = "@rm"
)

// namesDir is the store's name index.
func namesDir(s *image.Store) string { return filepath.Join(s.Root, namesDirName) }

// nameEntry is the index file's name for a container.
func nameEntry(id, name string, rm bool) string {
	e := name + "@" + id
	if rm {
		e += rmSuffix
	}
	return e
}

// parseNameEntry reads a name the index holds.
func parseNameEntry(e string) (id, name string, rm bool, ok bool) {
	e, rm = strings.CutSuffix(e, rmSuffix)
	name, id, ok = strings.Cut(e, "@")
	return id, name, rm, ok && name != "" && len(id) >= 16
}

// indexable says whether name can be part of a file name in the index:
// every valid name can (config's check); one an older sandbox let
// through may not, and its container is then read at every pass.
func indexable(name string) bool { return checkKey("name", name) == nil }

// addNameEntry indexes a container; a failure only costs the next pass
// a read of its record.
func addNameEntry(s *image.Store, id, name string, rm bool) {
	if !indexable(name) {
		return
	}
	if err := os.MkdirAll(namesDir(s), 0o700); err != nil {
		return
	}
	if f, err := os.OpenFile(filepath.Join(namesDir(s), nameEntry(id, name, rm)), os.O_WRONLY|os.O_CREATE, 0o600); err == nil {
		f.Close()
	}
}

// readNameIndex maps the IDs the index names to their entries' file
// names and what they say. The caller holds the store lock.
func readNameIndex(s *image.Store) map[string]record {
	ents, _ := os.ReadDir(namesDir(s))
	idx := make(map[string]record, len(ents))
	for _, e := range ents {
		id, name, rm, ok := parseNameEntry(e.Name())
		if !ok {
			continue
		}
		if old, dup := idx[id]; dup {
			// Two for one container (a rename killed midway): neither is
			// trusted; the record decides.
			os.Remove(filepath.Join(namesDir(s), old.dir))
			os.Remove(filepath.Join(namesDir(s), e.Name()))
			idx[id] = record{dir: "", err: errDuplicateEntry}
			continue
		}
		r := record{dir: e.Name(), ID: id, Name: name}
		r.Config.Rm = rm
		idx[id] = r
	}
	return idx
}

// errDuplicateEntry marks an ID the index named twice.
var errDuplicateEntry = errors.New("named twice in the name index")
