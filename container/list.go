package container

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/sandbox-dev/sandbox/container/containertypes"
	"github.com/sandbox-dev/sandbox/image"
)

// ErrNotFound is returned when no container has the given name or ID.
var ErrNotFound = containertypes.ErrNotFound

// List returns every container record, newest first. Records a killed
// create left half-written are skipped.
func List(s *image.Store) ([]*Container, error) {
	entries, err := os.ReadDir(s.ContainersDir())
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	var out []*Container
	for _, e := range entries {
		if c, err := load(s, e.Name()); err == nil {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// Find resolves a container by name, full ID, or unique ID prefix.
func Find(s *image.Store, ref string) (*Container, error) {
	if c := findIndexed(s, ref); c != nil {
		return c, nil
	}
	all, err := List(s)
	if err != nil {
		return nil, err
	}
	var byPrefix []*Container
	for _, c := range all {
		if c.Name == ref || c.ID == ref {
			return c, nil
		}
		if len(ref) >= 3 && strings.HasPrefix(c.ID, ref) {
			byPrefix = append(byPrefix, c)
		}
	}
	switch len(byPrefix) {
	case 1:
		return byPrefix[0], nil
	case 0:
		return nil, fmt.Errorf("%w: %q (see `sandbox ps -a`)", ErrNotFound, ref)
	}
	var ids []string
	for _, c := range byPrefix {
		ids = append(ids, c.ID[:12]+" ("+c.Name+")")
	}
	return nil, fmt.Errorf("container ID prefix %q is ambiguous: %s; give more digits", ref, strings.Join(ids, ", "))
}

// findIndexed is Find's answer from the name index, the containers
// directory's listing and the records of the containers the index lacks
// (--rm ones, an older sandbox's), reading one more record: what Find
// would pick, without reading every record (17 µs each). Nil where it
// cannot tell (no match, an ambiguous prefix, a damaged record, an index
// the records contradict): Find then reads them all.
func findIndexed(s *image.Store, ref string) *Container {
	dirs, err := os.ReadDir(s.ContainersDir())
	if err != nil {
		return nil
	}
	idx := readNameIndex(s)
	var byName, byID string
	var byPrefix []string
	for _, d := range dirs {
		id := d.Name()
		name, ok := trustedName(s, id, idx[id], false)
		if !ok {
			r := readRecord(s, id)
			if r.err != nil {
				return nil
			}
			name = r.Name
		}
		switch {
		case name == ref:
			byName = id
		case id == ref:
			byID = id
		case len(ref) >= 3 && strings.HasPrefix(id, ref):
			byPrefix = append(byPrefix, id)
		}
	}
	pick := byName
	if pick == "" {
		pick = byID
	}
	if pick == "" && len(byPrefix) == 1 {
		pick = byPrefix[0]
	}
	if pick == "" {
		return nil
	}
	c, err := load(s, pick)
	if err != nil || c.ID != pick || (pick == byName && c.Name != ref) {
		return nil // the record disagrees: Find reads them all
	}
	return c
}

// UsersOf maps image IDs to the names of the containers made from them.
func UsersOf(s *image.Store) (map[string][]string, error) {
	all, err := List(s)
	if err != nil {
		return nil, err
	}
	m := map[string][]string{}
	for _, c := range all {
		m[c.ImageID] = append(m[c.ImageID], c.Name)
	}
	return m, nil
}

// Usage is the container half of `sandbox system df`.
type Usage struct {
	Count int
	Size  int64 // bytes in the containers' writable layers
}

// DiskUsage totals the containers' writable layers. Directories a
// container made unreadable to the user outside are not counted.
func DiskUsage(s *image.Store) (Usage, error) {
	all, err := List(s)
	if err != nil {
		return Usage{}, err
	}
	u := Usage{Count: len(all)}
	for _, c := range all {
		filepath.WalkDir(filepath.Join(Dir(s, c.ID), "upper"), func(_ string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					u.Size += fi.Size()
				}
			}
			return nil
		})
	}
	return u, nil
}

// FindName finds the container named name: by name only, never by ID
// prefix (for commands that replace a container by name).
func FindName(s *image.Store, name string) (*Container, error) {
	all, err := List(s)
	if err != nil {
		return nil, err
	}
	for _, c := range all {
		if c.Name == name {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w: %q (see `sandbox ps -a`)", ErrNotFound, name)
}

// usersBy maps each name key gives a container (the volumes it mounts,
// the networks it is on) to those containers, running or not, in one
// reading of the store.
func usersBy(s *image.Store, key func(*Container) []string) (map[string][]*Container, error) {
	all, err := List(s)
	if err != nil {
		return nil, err
	}
	out := map[string][]*Container{}
	for _, c := range all {
		for _, k := range key(c) {
			if !slices.Contains(out[k], c) {
				out[k] = append(out[k], c)
			}
		}
	}
	return out, nil
}

// containerNames is cs's names, for a message.
func containerNames(cs []*Container) string {
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return strings.Join(names, ", ")
}
