package image

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/image/layer"
	"github.com/sandbox-dev/sandbox/runtime"
)

// Problem is one thing wrong in a store, as `system check` reports it.
type Problem struct {
	Kind   string // "index", "layer", "blob", "image", "staging" or "container"
	ID     string // a digest, an image or container ID, or a file name
	What   string // what is wrong
	Repair string // what --repair does about it
	// Kept is set when --repair leaves it (a running container uses it).
	Kept string `json:",omitempty"`
}

func (p Problem) String() string {
	s := fmt.Sprintf("%s %s: %s", p.Kind, p.ID, p.What)
	if p.Kept != "" {
		return s + "; kept: " + p.Kept
	}
	return s + "; --repair: " + p.Repair
}

// Check is what CheckImages found: the problems, and what a repair
// removes because of them.
type Check struct {
	Problems []Problem
	// Images, Layers and Blobs are the image IDs, layer diff IDs and blob
	// digests to remove: damaged, or resting on something damaged.
	Images, Layers, Blobs map[string]bool
	// Staging are tmp/ entries left by killed commands.
	Staging []string
	// BadIndex is set when images.json could not be read.
	BadIndex bool
	// Counted says how much was checked, for the report.
	ImageCount, LayerCount, BlobCount int
}

// LockAll takes the collector's lock and the store's: nothing is pulled,
// committed, removed or collected while a check looks and a repair acts.
func (s *Store) LockAll() (unlock func(), err error) {
	release, err := s.gcLock(unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	u, err := s.Lock()
	if err != nil {
		release()
		return nil, err
	}
	return func() { u(); release() }, nil
}

// CheckImages checks the image side of the store; call it with LockAll
// held. Every layer is rebuilt from its directory and split record and
// hashed against its diff ID, every blob against its digest; each image
// needs its config, manifest and layers; staging directories whose
// command is gone are listed. It changes nothing.
func (s *Store) CheckImages() (*Check, error) {
	c := &Check{Images: map[string]bool{}, Layers: map[string]bool{}, Blobs: map[string]bool{}}
	idx, err := s.readIndex()
	if err != nil {
		c.BadIndex = true
		c.add(Problem{Kind: "index", ID: "images.json", What: err.Error(),
			Repair: "set it aside as images.json.damaged and start an empty image list (every image and container is then unknown)"})
		idx = &index{Refs: map[string]string{}, Images: map[string]*Record{}}
	}
	if err := s.checkLayers(c); err != nil {
		return nil, err
	}
	s.checkBlobs(c)
	c.ImageCount = len(idx.Images)
	ids := make([]string, 0, len(idx.Images))
	for id := range idx.Images {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		rec := idx.Images[id]
		var why []string
		for _, d := range []struct{ what, digest string }{{"config", rec.ID}, {"manifest", rec.Manifest}} {
			switch _, err := os.Stat(s.blobPath(d.digest)); {
			case c.Blobs[d.digest]:
				why = append(why, fmt.Sprintf("its %s blob %s is damaged", d.what, ShortID(d.digest)))
			case err != nil:
				why = append(why, fmt.Sprintf("its %s blob %s is missing", d.what, ShortID(d.digest)))
			}
		}
		for _, l := range rec.Layers {
			switch _, err := os.Stat(s.LayerDir(l)); {
			case c.Layers[l]:
				why = append(why, fmt.Sprintf("its layer %s is damaged", ShortID(l)))
			case err != nil:
				why = append(why, fmt.Sprintf("its layer %s is missing", ShortID(l)))
			}
		}
		if len(why) == 0 {
			continue
		}
		c.Images[id] = true
		name := ShortID(id)
		if names := namesOf(idx, id); len(names) > 0 {
			name += " (" + strings.Join(names, ", ") + ")"
		}
		c.add(Problem{Kind: "image", ID: name, What: strings.Join(why, "; "), Repair: "remove the image and the containers made from it"})
	}
	s.checkStaging(c)
	return c, nil
}

func (c *Check) add(p Problem) { c.Problems = append(c.Problems, p) }

// checkLayers rebuilds every layer's tar in one task in the user
// namespace (its files may belong to subordinate ids) and compares.
func (s *Store) checkLayers(c *Check) error {
	entries, err := os.ReadDir(filepath.Join(s.Root, "layers"))
	if err != nil {
		return fmt.Errorf("reading the layers: %w", err)
	}
	var dirs []string
	for _, e := range entries {
		name, dir := e.Name(), filepath.Join(s.Root, "layers", e.Name())
		c.LayerCount++
		digest := "sha256:" + name
		bad := func(what string) {
			c.Layers[digest] = true
			c.add(Problem{Kind: "layer", ID: ShortID(digest), What: what, Repair: "remove the layer, the images on it and their containers"})
		}
		if len(name) != 64 || strings.Trim(name, "0123456789abcdef") != "" {
			bad("not a layer (its name is not a digest)")
			continue
		}
		if _, ok := s.layerStats(digest); !ok {
			bad("its record (layer.json) is missing or unreadable")
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, layer.SplitName)); err != nil {
			bad("its split record is missing: its content cannot be checked, saved or pushed")
			continue
		}
		dirs = append(dirs, dir)
	}
	if len(dirs) == 0 {
		return nil
	}
	var out bytes.Buffer
	if err := runtime.RunTaskIO(s.Mapping, "", verifyTask, dirs, nil, &out); err != nil {
		return fmt.Errorf("checking the layers' content: %w", err)
	}
	got := map[string]string{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		dir, res, _ := strings.Cut(sc.Text(), "\t")
		got[dir] = res
	}
	for _, dir := range dirs {
		digest := "sha256:" + filepath.Base(dir)
		res := got[dir]
		var what string
		switch {
		case res == digest:
			continue
		case res == "":
			what = "it was not checked (the check task gave no result for it)"
		case strings.HasPrefix(res, "error: "):
			what = "its files cannot be rebuilt into its tar: " + strings.TrimPrefix(res, "error: ")
		default:
			what = fmt.Sprintf("its files changed since it was stored (they hash to %s)", ShortID(res))
		}
		c.Layers[digest] = true
		c.add(Problem{Kind: "layer", ID: ShortID(digest), What: what, Repair: "remove the layer, the images on it and their containers"})
	}
	return nil
}

// checkBlobs hashes every blob against its name.
func (s *Store) checkBlobs(c *Check) {
	dir := filepath.Join(s.Root, "blobs", "sha256")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue // a blob being written (WriteFileAtomic's temp file)
		}
		c.BlobCount++
		digest := "sha256:" + e.Name()
		f, err := os.Open(filepath.Join(dir, e.Name()))
		var sum string
		if err == nil {
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			sum = "sha256:" + hex.EncodeToString(h.Sum(nil))
		}
		switch {
		case err != nil:
			c.add(Problem{Kind: "blob", ID: ShortID(digest), What: err.Error(), Repair: "remove the blob and the images that need it"})
		case sum != digest:
			c.add(Problem{Kind: "blob", ID: ShortID(digest), What: fmt.Sprintf("its content hashes to %s", ShortID(sum)), Repair: "remove the blob and the images that need it"})
		default:
			continue
		}
		c.Blobs[digest] = true
	}
}

// checkStaging lists what SweepTemp would remove: staging whose command
// is gone.
func (s *Store) checkStaging(c *Check) {
	dead := s.deadStaging()
	for _, name := range dead {
		if strings.HasPrefix(name, runtime.SpareRootPrefix) {
			// A spare root whose holder has ended (a start took it, or
			// took only its user namespace) is no damage: the next
			// maker, or any command's sweep, removes it.
			continue
		}
		c.Staging = append(c.Staging, name)
		if base, ok := strings.CutSuffix(name, ".lock"); ok && slices.Contains(dead, base) {
			continue // reported with its directory
		}
		what := "staging left by a killed command"
		switch {
		case strings.HasPrefix(name, trashPrefixGC):
			what = "a layer a killed command was removing"
		case strings.HasPrefix(name, ".pending-"):
			what = "a lock file or container skeleton a killed command left"
		case strings.HasPrefix(name, TrashContainerPrefix):
			what = "a container a killed command was removing"
		}
		c.add(Problem{Kind: "staging", ID: "tmp/" + name, What: what, Repair: "remove it"})
	}
}

// The names of what is being removed, in tmp/: a layer collectGarbage
// removes, and a container's directory (container.Remove).
const (
	trashPrefixGC        = "gc-"
	TrashContainerPrefix = "rm-"
)

// SkeletonPrefix begins the name of a container's directory made ahead,
// its subdirectories and lock in place and nothing else, that the next
// container's creation takes with one rename instead of making them
// (container.create): a raw start's removal leaves one as it ends. The
// rest of the name is the layout (a skeleton of another layout, an
// older binary's, is never taken, and the next removal removes it).
// Complete once under its name (made as a .pending- entry first), so a
// sweep leaves it alone.
const SkeletonPrefix = "skel-"

// deadStaging are the tmp/ entries no live command holds
// (eachDeadStaging), for a check to list.
func (s *Store) deadStaging() []string {
	var dead []string
	s.eachDeadStaging(func(name string) error {
		dead = append(dead, name)
		return nil
	})
	return dead
}

// eachDeadStaging calls fn with each tmp/ entry no live command holds: a
// directory whose lock file is free or gone, a lock file whose directory
// is gone, a pending lock older than an hour. A directory with a free
// lock, and then its lock file, fn gets while the lock is held here, so
// that the removal is done before anyone takes the lock: a spare root's
// maker takes a free root's lock to make that directory the next root
// (runtime's sweepSpareRoots), and a sweep that let go of the lock before
// removing emptied the next spare's root under its holder. Where fn
// fails for the directory, the lock file is left: the directory would
// otherwise be one whose lock is gone, which any sweep removes unlocked.
func (s *Store) eachDeadStaging(fn func(name string) error) {
	tmp := filepath.Join(s.Root, "tmp")
	entries, _ := os.ReadDir(tmp)
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, SkeletonPrefix) {
			continue
		}
		if strings.HasPrefix(name, ".pending-") {
			// A lock on its way to its name; one left by a killed command
			// is dead once old enough that no live one can be it.
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
				fn(name)
			}
			continue
		}
		base, isLock := strings.CutSuffix(name, ".lock")
		if !isLock {
			if _, err := os.Stat(filepath.Join(tmp, name+".lock")); errors.Is(err, os.ErrNotExist) && !removing(tmp, name) {
				fn(name)
			}
			continue
		}
		lock := runtime.FreeLock(unix.AT_FDCWD, filepath.Join(tmp, name))
		if lock < 0 {
			continue
		}
		if _, err := os.Lstat(filepath.Join(tmp, base)); err != nil || fn(base) == nil {
			fn(name)
		}
		unix.Close(lock)
	}
}

// removing says whether a container's directory in tmp/ is being removed
// by a live process: one that holds the container's lock in it (the
// container's own init removes a --rm container's files as it ends).
func removing(tmp, name string) bool {
	if !strings.HasPrefix(name, TrashContainerPrefix) {
		return false
	}
	lock, err := os.OpenFile(filepath.Join(tmp, name, "lock"), os.O_RDWR|unix.O_NOFOLLOW, 0)
	if err != nil {
		return false
	}
	defer lock.Close()
	return unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) == unix.EWOULDBLOCK
}

// RepairImages removes what c found, with LockAll held: images that are
// damaged or rest on something damaged (names and records), then every
// layer and blob no image is left to use (as rmi's collection does), and
// dead staging. keep are image IDs a running container uses: those stay,
// with their layers and blobs.
func (s *Store) RepairImages(c *Check, keep map[string]bool) error {
	if c.BadIndex {
		p := filepath.Join(s.Root, "images.json")
		if err := os.Rename(p, p+".damaged"); err != nil {
			return fmt.Errorf("setting aside %q: %w", p, err)
		}
	}
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	for id := range c.Images {
		if keep[id] {
			continue
		}
		for _, n := range namesOf(idx, id) {
			delete(idx.Refs, n)
		}
		delete(idx.Images, id)
	}
	if err := s.writeIndex(idx); err != nil {
		return err
	}
	// What no image is left to use goes: the damaged layers and blobs,
	// and what only the removed images used.
	var errs []error
	if _, err := s.collectLocked(); err != nil {
		errs = append(errs, err)
	}
	for _, name := range c.Staging {
		errs = append(errs, runtime.RemoveAll(s.Mapping, s.RunDir, filepath.Join(s.Root, "tmp", name)))
	}
	return errors.Join(errs...)
}

// HasImage reports whether the image list holds the image with this ID.
func (s *Store) HasImage(id string) bool {
	idx, err := s.readIndex()
	return err == nil && idx.Images[id] != nil
}
