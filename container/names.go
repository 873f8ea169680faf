package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/image"
)

// The name index is a directory of entries, NAME@ID@PROOF, one per
// container that stays (not --rm): what every create must know of the
// containers (the names taken), read with one directory listing and a
// stat per container instead of one record each. A create read every
// record: 17 µs per container in the store, so a `run --rm` with 60
// stopped containers beside it took 1 ms more. A --rm container lives
// for one run: it has no entry and is read, as the few there are at a
// time.
//
// The records stay the truth. PROOF is the inode and modification time
// of the container.json the entry was made from: every write of a record
// renames a new file into place, so an entry whose proof differs from
// the record's (a rename by an older sandbox, a record lost or rewritten
// since, a rename killed midway) is not trusted, and the record is read
// instead. The index is kept under the store lock by create, rename and
// every pass over it (scan), which drops the entries not trusted and of
// containers gone, and indexes a container with none.
const namesDirName = "names"

// namesDir is the store's name index.
func namesDir(s *image.Store) string { return filepath.Join(s.Root, namesDirName) }

// nameEntry is the index entry's name for a container.
func nameEntry(id, name, proof string) string { return name + "@" + id + "@" + proof }

// recordProof is the proof of id's container.json as it is now.
func recordProof(s *image.Store, id string) (string, error) {
	var st unix.Stat_t
	if err := unix.Lstat(recordPath(s, id), &st); err != nil {
		return "", err
	}
	return fmt.Sprintf("%x.%x", st.Ino, st.Mtim.Nano()), nil
}

// indexEntry is one entry of the index.
type indexEntry struct{ file, name, proof string }

// parseNameEntry reads an entry's name.
func parseNameEntry(e string) (id string, ent indexEntry, ok bool) {
	name, rest, ok1 := strings.Cut(e, "@")
	id, proof, ok2 := strings.Cut(rest, "@")
	return id, indexEntry{file: e, name: name, proof: proof}, ok1 && ok2 && name != "" && len(id) >= 16 && proof != ""
}

// indexable says whether name can be part of a file name in the index:
// every valid name can (config's check); one an older sandbox let
// through may not, and its container is then read at every pass.
func indexable(name string) bool { return checkKey("name", name) == nil }

// addNameEntry indexes a container that stays, as its record is now; a
// failure only costs the next pass a read of its record.
func addNameEntry(s *image.Store, id, name string, rm bool) {
	if rm || !indexable(name) {
		return
	}
	proof, err := recordProof(s, id)
	if err != nil {
		return
	}
	// A symbolic link, dangling (to the ID: a walk that follows links
	// finds nothing): one system call, where a file is an open and a
	// close; its name is all that is read.
	entry := filepath.Join(namesDir(s), nameEntry(id, name, proof))
	if err := os.Symlink(id, entry); errors.Is(err, os.ErrNotExist) && os.MkdirAll(namesDir(s), 0o700) == nil {
		os.Symlink(id, entry)
	}
}

// readNameIndex maps the IDs the index names to their entries.
func readNameIndex(s *image.Store) map[string][]indexEntry {
	ents, _ := os.ReadDir(namesDir(s))
	idx := make(map[string][]indexEntry, len(ents))
	for _, e := range ents {
		if id, ent, ok := parseNameEntry(e.Name()); ok {
			idx[id] = append(idx[id], ent)
		}
	}
	return idx
}

// trustedName is the name id's entries give, if one of them has the
// proof of its record as it is now. With mend (the store lock held), the
// others are removed.
func trustedName(s *image.Store, id string, ents []indexEntry, mend bool) (string, bool) {
	if len(ents) == 0 {
		return "", false
	}
	proof, err := recordProof(s, id)
	name, ok := "", false
	for _, e := range ents {
		if err == nil && e.proof == proof && !ok {
			name, ok = e.name, true
		} else if mend {
			os.Remove(filepath.Join(namesDir(s), e.file))
		}
	}
	return name, ok
}

// dropNameEntries removes every entry of id (the store lock held).
func dropNameEntries(s *image.Store, id string) {
	for _, e := range readNameIndex(s)[id] {
		os.Remove(filepath.Join(namesDir(s), e.file))
	}
}

// readRecord reads what a pass needs of the container in directory dir.
func readRecord(s *image.Store, dir string) record {
	r := record{dir: dir}
	b, err := os.ReadFile(recordPath(s, dir))
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
