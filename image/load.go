package image

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/image/layer"
)

// archiveEntry is one image in a docker-archive's manifest.json.
type archiveEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// Load reads a docker-archive (`docker save` format) or an oci-archive (a
// tarred OCI layout) holding one or more images and adds them to the
// store, each under the names the archive gives. It returns the loaded
// images.
func (s *Store) Load(path string, note func(string)) ([]*Image, error) {
	format, err := archiveFormat(path)
	if err != nil {
		return nil, err
	}
	s.SweepTemp()
	release, err := s.gcLock(unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer release()
	if format == OCIArchive {
		return s.loadOCI(path, note)
	}
	entries, err := readArchiveManifest(path)
	if err != nil {
		return nil, err
	}
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

// archiveFormat tells a docker-archive (manifest.json) from an oci-archive
// (oci-layout, index.json). Newer docker archives hold both: their
// manifest.json carries the names, so it wins.
func archiveFormat(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("opening %q: %w", path, err)
	}
	defer f.Close()
	oci := false
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("reading %q: %w (is it a tar archive?)", path, err)
		}
		switch strings.TrimPrefix(hdr.Name, "./") {
		case "manifest.json":
			return DockerArchive, nil
		case "oci-layout", "index.json":
			oci = true
		}
	}
	if oci {
		return OCIArchive, nil
	}
	return "", fmt.Errorf("%q is neither a docker archive (no manifest.json) nor an OCI archive (no index.json)", path)
}

// loadOCI unpacks an oci-archive into staging and loads every image its
// index lists (for a nested index, the one for this machine).
func (s *Store) loadOCI(path string, note func(string)) ([]*Image, error) {
	dir, release, err := s.TempDir()
	if err != nil {
		return nil, err
	}
	defer release()
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening %q: %w", path, err)
	}
	defer f.Close()
	if _, err := layer.Unpack(f, dir, layer.Options{}); err != nil {
		return nil, fmt.Errorf("reading %q: %w", path, err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the OCI layout in %q: %w", path, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading the index of %q: %w", path, err)
	}
	var out []*Image
	for _, d := range im.Manifests {
		var img v1.Image
		if d.MediaType.IsIndex() {
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return out, err
			}
			img, err = imageForPlatform(child)
			if err != nil {
				return out, fmt.Errorf("%s in %q: %w", d.Digest, path, err)
			}
		} else if img, err = idx.Image(d.Digest); err != nil {
			return out, fmt.Errorf("reading image %s in %q: %w", d.Digest, path, err)
		}
		var refs []string
		for _, key := range []string{annotationImageName, annotationRefName} {
			// A bare tag ("latest", as skopeo writes) names nothing alone.
			if v := d.Annotations[key]; strings.ContainsAny(v, "/:") {
				if ref, err := NormalizeRef(shortName(v)); err == nil {
					refs = append(refs, ref)
					break
				}
			}
		}
		loaded, err := s.addV1Image(img, refs, note)
		if err != nil {
			return out, fmt.Errorf("loading %s from %q: %w", d.Digest, path, err)
		}
		out = append(out, loaded)
	}
	return out, nil
}

// imageForPlatform picks this machine's image from an index.
func imageForPlatform(idx v1.ImageIndex) (v1.Image, error) {
	want, _ := parsePlatform("")
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var seen []string
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.OS == want.OS && d.Platform.Architecture == want.Architecture {
			return idx.Image(d.Digest)
		}
		if d.Platform != nil {
			seen = append(seen, platformString(*d.Platform))
		}
	}
	return nil, fmt.Errorf("no image for %s (it has: %s)", platformString(want), strings.Join(seen, ", "))
}
