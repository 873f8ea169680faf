package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/sandbox-dev/sandbox/container/containertypes"
	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/runtime"
)

// Named volumes are directories the store keeps, volumes/NAME/_data, that
// containers mount by name (-v NAME:/path, --mount type=volume) and that
// outlive them: rm never removes one; `volume rm` refuses one in use.

var (
	ErrNoVolume    = containertypes.ErrNoVolume
	ErrVolumeInUse = containertypes.ErrVolumeInUse
)

// Volume is what `volume inspect` shows (package containertypes).
type Volume = containertypes.Volume

// volumesDirName is the store's directory of named volumes.
const volumesDirName = "volumes"

func volumeDir(s *image.Store, name string) string {
	return filepath.Join(s.Root, volumesDirName, name)
}

// CreateVolume makes volume name (a random one when empty), or returns it
// if it exists.
func CreateVolume(s *image.Store, name string) (Volume, error) {
	return CreateVolumeWith(s, name, nil)
}

// CreateVolumeWith is CreateVolume with labels for a new volume.
func CreateVolumeWith(s *image.Store, name string, labels map[string]string) (Volume, error) {
	if name == "" {
		name = image.RandomHex(32)
	}
	if err := checkKey("name", name); err != nil {
		return Volume{}, fmt.Errorf("volume name %q: %w", name, err)
	}
	dir := volumeDir(s, name)
	if v, err := InspectVolume(s, name); err == nil {
		return v, nil
	}
	if err := os.MkdirAll(filepath.Join(dir, "_data"), 0o755); err != nil {
		return Volume{}, fmt.Errorf("making volume %s: %w", name, err)
	}
	v := Volume{Name: name, Driver: "local", Mountpoint: filepath.Join(dir, "_data"), CreatedAt: time.Now().UTC(), Labels: labels}
	if err := image.WriteFileAtomic(filepath.Join(dir, "volume.json"), mustJSON(v), 0o600); err != nil {
		return Volume{}, err
	}
	return v, nil
}

// InspectVolume describes volume name.
func InspectVolume(s *image.Store, name string) (Volume, error) {
	dir := volumeDir(s, name)
	if _, err := os.Stat(filepath.Join(dir, "_data")); err != nil {
		return Volume{}, fmt.Errorf("%w: %q (see `sandbox volume ls`)", ErrNoVolume, name)
	}
	v := Volume{Name: name, Driver: "local", Mountpoint: filepath.Join(dir, "_data")}
	if b, err := os.ReadFile(filepath.Join(dir, "volume.json")); err == nil {
		json.Unmarshal(b, &v)
	}
	return v, nil
}

// Volumes lists the volumes, by name.
func Volumes(s *image.Store) ([]Volume, error) {
	entries, err := os.ReadDir(filepath.Join(s.Root, volumesDirName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var out []Volume
	for _, e := range entries {
		if v, err := InspectVolume(s, e.Name()); err == nil {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// volumesOf are the named volumes c mounts (usersBy's key).
func volumesOf(c *Container) []string {
	var out []string
	for _, m := range c.Config.Volumes {
		if m.Volume != "" {
			out = append(out, m.Volume)
		}
	}
	return out
}

// VolumeUsers maps each volume to the containers that mount it.
func VolumeUsers(s *image.Store) (map[string][]*Container, error) { return usersBy(s, volumesOf) }

// RemoveVolume removes volume name and its data; one a container mounts
// (running or not) is refused, naming the containers. Its users are
// found, and it is taken out of volumes/, under the store lock, under
// which a container is made (checking its volumes are still there): so
// no container made meanwhile is missed.
func RemoveVolume(s *image.Store, name string) error {
	unlock, err := s.Lock()
	if err != nil {
		return err
	}
	if _, err := InspectVolume(s, name); err != nil {
		unlock()
		return err
	}
	users, err := VolumeUsers(s)
	if err != nil {
		unlock()
		return err
	}
	if len(users[name]) > 0 {
		unlock()
		return fmt.Errorf("%w: volume %s is used by %s: remove them first (sandbox rm)", ErrVolumeInUse, name, containerNames(users[name]))
	}
	trash, err := takeVolumeOut(s, name)
	unlock()
	if err != nil {
		return err
	}
	return runtime.RemoveAll(s.Mapping, s.RunDir, trash)
}

// removeVolumeData removes volume name, in use or not.
func removeVolumeData(s *image.Store, name string) error {
	if _, err := InspectVolume(s, name); err != nil {
		return err
	}
	trash, err := takeVolumeOut(s, name)
	if err != nil {
		return err
	}
	return runtime.RemoveAll(s.Mapping, s.RunDir, trash)
}

// takeVolumeOut moves volume name out of volumes/ in one rename, into
// tmp/ where the caller removes it: files a container wrote may belong
// to subordinate ids.
func takeVolumeOut(s *image.Store, name string) (string, error) {
	trash := filepath.Join(s.Root, "tmp", "vol-"+name+"-"+image.RandomHex(4))
	if err := os.Rename(volumeDir(s, name), trash); err != nil {
		return "", fmt.Errorf("removing volume %s: %w", name, err)
	}
	return trash, nil
}

// PruneVolumes removes every volume no container mounts.
func PruneVolumes(s *image.Store) ([]string, error) {
	vols, err := Volumes(s)
	if err != nil {
		return nil, err
	}
	users, err := VolumeUsers(s)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, v := range vols {
		if len(users[v.Name]) > 0 {
			continue
		}
		if err := RemoveVolume(s, v.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, v.Name)
	}
	return removed, errors.Join(errs...)
}

// attachVolumes makes cfg's named volumes (creating those that do not
// exist yet, as Docker does) into binds of their data, each remembering
// its volume.
func attachVolumes(s *image.Store, cfg *Config) error {
	for i, m := range cfg.Volumes {
		if m.Type != "volume" {
			continue
		}
		v, err := CreateVolume(s, m.Source)
		if err != nil {
			return err
		}
		cfg.Volumes[i].Anonymous = m.Source == ""
		cfg.Volumes[i].Type, cfg.Volumes[i].Source, cfg.Volumes[i].Volume = "bind", v.Mountpoint, v.Name
	}
	return nil
}

// VolumeUsage is the volumes' line of `system df`: how many, how many a
// container mounts, and the bytes in their data (what the user can read).
func VolumeUsage(s *image.Store) (count, active int, size int64, err error) {
	vols, err := Volumes(s)
	if err != nil {
		return 0, 0, 0, err
	}
	users, err := VolumeUsers(s)
	if err != nil {
		return 0, 0, 0, err
	}
	for _, v := range vols {
		if len(users[v.Name]) > 0 {
			active++
		}
		filepath.WalkDir(v.Mountpoint, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					size += fi.Size()
				}
			}
			return nil
		})
	}
	return len(vols), active, size, nil
}

// imageVolumes adds an anonymous volume for each VOLUME of the image that
// no mount of cfg covers, as Docker does.
func imageVolumes(s *image.Store, img *image.Image, cfg *Config) error {
	var paths []string
	for p := range img.Config.Config.Volumes {
		paths = append(paths, filepath.Clean(p))
	}
	sort.Strings(paths)
	for _, p := range paths {
		if !filepath.IsAbs(p) || slices.ContainsFunc(cfg.Volumes, func(m runtime.Mount) bool { return filepath.Clean(m.Target) == p }) {
			continue
		}
		v, err := CreateVolume(s, "")
		if err != nil {
			return err
		}
		cfg.Volumes = append(cfg.Volumes, runtime.Mount{Type: "bind", Source: v.Mountpoint, Target: p, Volume: v.Name, Anonymous: true})
	}
	return nil
}

// removeAnonymousVolumes removes the volumes made for c alone.
func removeAnonymousVolumes(s *image.Store, c *Container) error {
	var errs []error
	for _, m := range c.Config.Volumes {
		if m.Anonymous && m.Volume != "" {
			if err := removeVolumeData(s, m.Volume); err != nil && !errors.Is(err, ErrNoVolume) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
