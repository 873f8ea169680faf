package image

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// archiveEntry is one image in a docker-archive's manifest.json.
type archiveEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// Load reads a docker-archive (`docker save` format) holding one or more
// images and adds them to the store, each under the names the archive
// gives. It returns the loaded images.
func (s *Store) Load(path string, note func(string)) ([]*Image, error) {
	entries, err := readArchiveManifest(path)
	if err != nil {
		return nil, err
	}
	s.SweepTemp()
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	var out []*Image
	for _, e := range entries {
		var tag *name.Tag
		if len(e.RepoTags) > 0 {
			t, err := name.NewTag(e.RepoTags[0])
			if err != nil {
				return out, fmt.Errorf("reading %q: bad tag %q: %w", path, e.RepoTags[0], err)
			}
			tag = &t
		} else if len(entries) > 1 {
			return out, fmt.Errorf("reading %q: an untagged image among %d; load it alone", path, len(entries))
		}
		img, err := tarball.Image(opener, tag)
		if err != nil {
			return out, fmt.Errorf("reading %q: %w", path, err)
		}
		var refs []string
		for _, t := range e.RepoTags {
			ref, err := NormalizeRef(shortName(t))
			if err != nil {
				return out, err
			}
			refs = append(refs, ref)
		}
		loaded, err := s.addV1Image(img, refs, note)
		if err != nil {
			return out, fmt.Errorf("loading %s from %q: %w", e.Config, path, err)
		}
		out = append(out, loaded)
	}
	return out, nil
}

// shortName drops docker's default registry and library/ namespace, so an
// archive's "docker.io/library/debian:12" is stored as "debian:12".
func shortName(ref string) string {
	for _, p := range []string{"docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"} {
		if len(ref) > len(p) && ref[:len(p)] == p {
			return ref[len(p):]
		}
	}
	return ref
}

func readArchiveManifest(path string) ([]archiveEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening %q: %w", path, err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%q is not a docker archive: it has no manifest.json", path)
		}
		if err != nil {
			return nil, fmt.Errorf("reading %q: %w", path, err)
		}
		if hdr.Name != "manifest.json" && hdr.Name != "./manifest.json" {
			continue
		}
		var entries []archiveEntry
		if err := json.NewDecoder(tr).Decode(&entries); err != nil {
			return nil, fmt.Errorf("reading manifest.json in %q: %w", path, err)
		}
		if len(entries) == 0 {
			return nil, fmt.Errorf("%q holds no image", path)
		}
		return entries, nil
	}
}

// addV1Image stores img's layers (each unpacked once; one already in the
// store is not unpacked again) and its config as-is, so its ID stays the
// digest of the original config, and names it refs.
func (s *Store) addV1Image(img v1.Image, refs []string, note func(string)) (*Image, error) {
	cfgJSON, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	if len(layers) != len(cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("the image has %d layers but its config lists %d diff IDs", len(layers), len(cfg.RootFS.DiffIDs))
	}
	var stats []layerStats
	for i, l := range layers {
		want := cfg.RootFS.DiffIDs[i].String()
		if ls, ok := s.layerStats(want); ok {
			stats = append(stats, ls)
			continue
		}
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, fmt.Errorf("reading layer %d: %w", i+1, err)
		}
		ls, err := s.addLayer(rc, want, nil)
		rc.Close()
		if err != nil {
			return nil, err
		}
		if ls.DevicesSkipped > 0 && note != nil {
			note(fmt.Sprintf("layer %s: skipped %d device nodes (an unprivileged user cannot create them)", ShortID(ls.DiffID), ls.DevicesSkipped))
		}
		stats = append(stats, ls)
	}
	return s.addImage(cfgJSON, cfg.Created.Time, stats, refs)
}

// layerStats returns the stats of a layer already in the store.
func (s *Store) layerStats(diffID string) (layerStats, bool) {
	b, err := os.ReadFile(s.layerJSON(diffID))
	if err != nil {
		return layerStats{}, false
	}
	var ls layerStats
	if json.Unmarshal(b, &ls) != nil || ls.DiffID != diffID {
		return layerStats{}, false
	}
	return ls, true
}
