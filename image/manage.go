package image

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/image/imagetypes"
	"github.com/sandbox-dev/sandbox/runtime"
)

// ErrInUse is returned when removing an image containers still use.
var ErrInUse = imagetypes.ErrInUse

// Tag gives the image src the name dst (name[:tag]); a name another image
// had moves to this one, as in docker.
func (s *Store) Tag(src, dst string) error {
	ref, err := NormalizeRef(dst)
	if err != nil {
		return err
	}
	if strings.Contains(ref, "@") {
		return fmt.Errorf("cannot tag with a digest (%q): give name[:tag]", dst)
	}
	unlock, err := s.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	rec, err := idx.resolve(src, s.searchList()...)
	if err != nil {
		return err
	}
	idx.Refs[ref] = rec.ID
	return s.writeIndex(idx)
}

// RemoveResult is what rmi and prune did (package imagetypes).
type RemoveResult = imagetypes.RemoveResult

// Remove removes what ref names, as `docker rmi` does: a name of an image
// that has other names is only untagged; the last name, or an ID, deletes
// the image. An image that containers use (usersOf maps image IDs to
// container names) is refused, or with force only untagged: it stays, as
// <none>, until its containers are gone. Layers go only when no image
// uses them any more. usersOf is asked under the store lock, under which
// a container is created (checking its image is still there, StillHas):
// so no container made meanwhile is missed.
func (s *Store) Remove(ref string, force bool, usersOf func() (map[string][]string, error)) (RemoveResult, error) {
	var res RemoveResult
	s.SweepTemp()
	unlock, err := s.Lock()
	if err != nil {
		return res, err
	}
	idx, err := s.readIndex()
	if err != nil {
		unlock()
		return res, err
	}
	rec, err := idx.resolve(ref, s.searchList()...)
	if err != nil {
		unlock()
		return res, err
	}
	names := namesOf(idx, rec.ID)
	byName := ""
	if norm, err := NormalizeRef(ref); err == nil {
		for _, c := range append([]string{norm}, Candidates(ref, s.searchList())...) {
			if idx.Refs[c] == rec.ID {
				byName = c
				break
			}
		}
	}
	if byName != "" && len(names) > 1 {
		delete(idx.Refs, byName)
		res.Untagged = []string{byName}
		err := s.writeIndex(idx)
		unlock()
		return res, err
	}
	users, err := usersOf()
	if err != nil {
		unlock()
		return res, err
	}
	if u := users[rec.ID]; len(u) > 0 {
		if !force {
			unlock()
			return res, fmt.Errorf("%w: image %s is used by container(s) %s: remove them first (sandbox rm), or untag the image with rmi -f", ErrInUse, ShortID(rec.ID), strings.Join(u, ", "))
		}
		for _, n := range names {
			delete(idx.Refs, n)
		}
		res.Untagged = names
		err := s.writeIndex(idx)
		unlock()
		return res, err
	}
	for _, n := range names {
		delete(idx.Refs, n)
	}
	delete(idx.Images, rec.ID)
	res.Untagged, res.Deleted = names, []string{rec.ID}
	err = s.writeIndex(idx)
	unlock()
	if err != nil {
		return res, err
	}
	res.Freed, err = s.collectGarbage()
	return res, err
}

// Prune deletes dangling images (no name), or with all every image no
// container uses (usersOf, asked under the store lock as Remove asks it),
// and then the layers nothing uses any more.
func (s *Store) Prune(all bool, usersOf func() (map[string][]string, error)) (RemoveResult, error) {
	var res RemoveResult
	s.SweepTemp()
	unlock, err := s.Lock()
	if err != nil {
		return res, err
	}
	idx, err := s.readIndex()
	if err != nil {
		unlock()
		return res, err
	}
	users, err := usersOf()
	if err != nil {
		unlock()
		return res, err
	}
	for id := range idx.Images {
		if len(users[id]) > 0 {
			continue
		}
		names := namesOf(idx, id)
		if len(names) > 0 && !all {
			continue
		}
		for _, n := range names {
			delete(idx.Refs, n)
		}
		delete(idx.Images, id)
		res.Deleted = append(res.Deleted, id)
		res.Untagged = append(res.Untagged, names...)
	}
	sort.Strings(res.Deleted)
	err = s.writeIndex(idx)
	unlock()
	if err != nil {
		return res, err
	}
	res.Freed, err = s.collectGarbage()
	return res, err
}

func namesOf(idx *index, id string) []string {
	var names []string
	for ref, rid := range idx.Refs {
		if rid == id {
			names = append(names, ref)
		}
	}
	sort.Strings(names)
	return names
}

// collectGarbage removes layers and blobs no image refers to. It takes the
// collector's lock exclusively, so it waits for every pull, load, import
// and commit in progress (they hold it shared from their first layer to
// their image record), and none of their fresh layers is mistaken for
// garbage.
func (s *Store) collectGarbage() (int64, error) {
	release, err := s.gcLock(unix.LOCK_EX)
	if err != nil {
		return 0, err
	}
	defer release()
	unlock, err := s.Lock()
	if err != nil {
		return 0, err
	}
	defer unlock()
	return s.collectLocked()
}

// collectLocked is collectGarbage with both its locks held.
func (s *Store) collectLocked() (int64, error) {
	idx, err := s.readIndex()
	if err != nil {
		return 0, err
	}
	usedLayers := map[string]bool{}
	usedBlobs := map[string]bool{}
	for id, rec := range idx.Images {
		usedBlobs[strings.TrimPrefix(id, "sha256:")] = true
		usedBlobs[strings.TrimPrefix(rec.Manifest, "sha256:")] = true
		for _, l := range rec.Layers {
			usedLayers[strings.TrimPrefix(l, "sha256:")] = true
		}
	}
	var freed int64
	entries, _ := os.ReadDir(filepath.Join(s.Root, "layers"))
	for _, e := range entries {
		if usedLayers[e.Name()] {
			continue
		}
		if ls, ok := s.layerStats("sha256:" + e.Name()); ok {
			freed += ls.Size
		}
		// Out of layers/ first, in one rename: a half-removed layer must
		// never be found by name.
		trash := filepath.Join(s.Root, "tmp", trashPrefixGC+e.Name()+"-"+RandomHex(4))
		if err := os.Rename(filepath.Join(s.Root, "layers", e.Name()), trash); err != nil {
			return freed, fmt.Errorf("removing layer %s: %w", e.Name()[:12], err)
		}
		if err := runtime.RemoveAll(s.Mapping, s.RunDir, trash); err != nil {
			return freed, err
		}
	}
	blobs, _ := os.ReadDir(filepath.Join(s.Root, "blobs", "sha256"))
	for _, b := range blobs {
		if !usedBlobs[b.Name()] && !strings.HasPrefix(b.Name(), ".") {
			os.Remove(filepath.Join(s.Root, "blobs", "sha256", b.Name()))
		}
	}
	return freed, nil
}

// gcLock takes the collector's lock (LOCK_SH for writers that add layers,
// LOCK_EX for the collector).
func (s *Store) gcLock(how int) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.Root, "gc.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the store's gc lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the store's gc lock: %w", err)
	}
	return func() { f.Close() }, nil
}
