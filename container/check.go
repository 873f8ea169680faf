package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/runtime"
)

// CheckReport is what CheckStore found and, with repair, did.
type CheckReport struct {
	Problems []image.Problem
	// Checked says how much was looked at.
	Images, Layers, Blobs, Containers int
	// Repaired is set when repair ran; Remaining counts the problems it
	// left (in use by a running container).
	Repaired  bool
	Remaining int
}

// CheckStore is `system check`: the image side (image.CheckImages:
// layers' content against their digests, blobs, images against their
// layers and blobs, dead staging) and every container against its image
// and its own directories, all under the store's locks. With repair it
// removes exactly what is damaged and what depends on it — containers of
// a removed image, images on a removed layer — and nothing a running
// container uses, which it reports as kept.
func CheckStore(s *image.Store, repair bool) (*CheckReport, error) {
	unlock, err := s.LockAll()
	if err != nil {
		return nil, err
	}
	defer unlock()
	ic, err := s.CheckImages()
	if err != nil {
		return nil, err
	}
	r := &CheckReport{Problems: ic.Problems, Images: ic.ImageCount, Layers: ic.LayerCount, Blobs: ic.BlobCount}
	entries, err := os.ReadDir(s.ContainersDir())
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	type damaged struct {
		id, name string
		c        *Container // nil: no readable record
		problem  int        // index in r.Problems
	}
	var bad []damaged
	keep := map[string]bool{} // images running containers use
	for _, e := range entries {
		id := e.Name()
		r.Containers++
		c, why := checkContainer(s, id, ic)
		inUse := recorderAlive(s, id)
		if c != nil && inUse {
			keep[c.ImageID] = true
		}
		if why == "" {
			continue
		}
		name := id
		if len(name) > 12 {
			name = name[:12]
		}
		if c != nil {
			name += " (" + c.Name + ")"
		}
		p := image.Problem{Kind: "container", ID: name, What: why, Repair: "remove the container (its writable layer and records)"}
		if inUse {
			p.Kept = "it is running: stop it, then run system check --repair again"
		}
		r.Problems = append(r.Problems, p)
		if !inUse {
			bad = append(bad, damaged{id, name, c, len(r.Problems) - 1})
		}
	}
	// An image a running container uses is kept, and so is what it needs.
	for i, p := range r.Problems {
		if p.Kind == "image" {
			for id := range keep {
				if ic.Images[id] && strings.HasPrefix(p.ID, image.ShortID(id)) {
					r.Problems[i].Kept = "a running container uses it: stop it, then run system check --repair again"
				}
			}
		}
	}
	for _, p := range r.Problems {
		if p.Kept != "" {
			r.Remaining++
		}
	}
	if !repair || len(r.Problems) == 0 {
		return r, nil
	}
	r.Repaired = true
	var errs []error
	for _, d := range bad {
		c := d.c
		if c == nil {
			c = &Container{ID: d.id, Name: d.name}
		}
		// Under its lock: one started since it was looked at stays.
		lock, err := lockContainer(s, c, false)
		if errors.Is(err, ErrRunning) {
			r.Problems[d.problem].Kept = "it started meanwhile: stop it, then run system check --repair again"
			r.Remaining++
			continue
		}
		if err := remove(s, c, d.c != nil); err != nil {
			errs = append(errs, err)
		}
		if lock != nil {
			lock.Close()
		}
	}
	errs = append(errs, s.RepairImages(ic, keep))
	return r, errors.Join(errs...)
}

// checkContainer says what is wrong with one container directory ("" for
// nothing), and returns its record when it could be read.
func checkContainer(s *image.Store, id string, ic *image.Check) (*Container, string) {
	dir := Dir(s, id)
	if _, err := os.Stat(filepath.Join(dir, "container.json")); errors.Is(err, os.ErrNotExist) {
		// create writes the record under the store lock CheckStore holds:
		// a directory without one was left by a killed create.
		return nil, "it has no record (container.json): a killed create or rm left it"
	}
	c, err := load(s, id)
	if err != nil {
		return nil, "its record is unreadable: " + err.Error()
	}
	var why []string
	if c.ImageID != image.HostName {
		switch {
		case ic.Images[c.ImageID]:
			why = append(why, fmt.Sprintf("its image %s is damaged", image.ShortID(c.ImageID)))
		case !ic.BadIndex && !s.HasImage(c.ImageID):
			why = append(why, fmt.Sprintf("its image %s is gone", image.ShortID(c.ImageID)))
		}
	}
	var missing []string
	for _, d := range []string{"upper", "work"} {
		if fi, err := os.Stat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
			missing = append(missing, d+"/")
		}
	}
	if len(missing) > 0 {
		why = append(why, "its writable layer is incomplete (no "+strings.Join(missing, ", no ")+")")
	}
	if c.Config.Rm && (c.Run || readState(s, id).Status != Created) && !recorderAlive(s, id) {
		why = append(why, "it was to be removed when it exited (--rm), but its run was killed")
	}
	sort.Strings(why)
	return c, strings.Join(why, "; ")
}

// storeEntries are what a store holds (image.Open and the commands make
// them): Reset removes these and nothing else, so a storage_root that
// holds other files keeps them.
var storeEntries = []string{"containers", namesDirName, "layers", "blobs", "tmp", "notes", volumesDirName, networksDirName, "kube", "images.json", "images.json.damaged", "buildcache.json", "store.json", "gc.lock", "lock"}

// Reset is `system reset`: every container is stopped and removed, then
// the store's own files, then the store's directory if that left it
// empty. config.toml and login credentials are not the store's.
func Reset(s *image.Store) error {
	cs, err := List(s)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range cs {
		if _, err := RemoveRef(s, c.ID, true, false); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w (the images were kept: run system reset again)", err)
	}
	for _, name := range storeEntries {
		if err := runtime.RemoveAll(s.Mapping, s.RunDir, filepath.Join(s.Root, name)); err != nil {
			errs = append(errs, err)
		}
	}
	if s.RunDir != "" {
		errs = append(errs, runtime.RemoveAll(s.Mapping, "", s.RunDir))
	}
	os.Remove(s.Root) // only when empty
	return errors.Join(errs...)
}
