package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/image/layer"
	"github.com/sandbox-dev/sandbox/transfer"
	"github.com/sandbox-dev/sandbox/transfer/wire"
)

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
	sess, err := transfer.Start(context.Background(), s.RunDir, nil)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	var imgs []wire.Image
	if format == OCIArchive {
		// The program reads a layout directory: unpack the archive into
		// one first.
		dir, release, err := s.TempDir()
		if err != nil {
			return nil, err
		}
		defer release()
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("opening %q: %w", path, err)
		}
		_, err = layer.Unpack(f, dir, layer.Options{})
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %q: %w", path, err)
		}
		imgs, err = sess.Archive(wire.OCILayout, dir)
	} else {
		imgs, err = sess.Archive(wire.DockerArchive, path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %q: %w", path, err)
	}
	var out []*Image
	for _, img := range imgs {
		refs, err := archiveRefs(format, img.Names)
		if err != nil {
			return out, err
		}
		loaded, err := s.addArchiveImage(sess, img, refs, note)
		if err != nil {
			return out, fmt.Errorf("loading %s from %q: %w", ShortID(digestOf(img.Config)), path, err)
		}
		out = append(out, loaded)
	}
	return out, nil
}

// archiveRefs are the names to store an archived image under. A
// docker-archive's RepoTags all count; of an OCI layout's annotations the
// first that is a full name does, as a bare tag ("latest", as skopeo
// writes) names nothing alone.
func archiveRefs(format string, names []string) ([]string, error) {
	var refs []string
	for _, n := range names {
		if format == OCIArchive {
			if !strings.ContainsAny(n, "/:") {
				continue
			}
			if ref, err := NormalizeRef(shortName(n)); err == nil {
				return []string{ref}, nil
			}
			continue
		}
		ref, err := NormalizeRef(shortName(n))
		if err != nil {
			return nil, err
		}
		refs = append(refs, ref)
	}
	return refs, nil
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

// addArchiveImage stores img's layers (each unpacked once; one already in
// the store is not unpacked again) and its config as-is, so its ID stays
// the digest of the original config, and names it refs.
func (s *Store) addArchiveImage(sess *transfer.Session, img wire.Image, refs []string, note func(string)) (*Image, error) {
	cfg, err := v1.ParseConfigFile(bytes.NewReader(img.Config))
	if err != nil {
		return nil, fmt.Errorf("parsing its config: %w", err)
	}
	if len(img.Layers) != len(cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("the image has %d layers but its config lists %d diff IDs", len(img.Layers), len(cfg.RootFS.DiffIDs))
	}
	var stats []layerStats
	for i := range img.Layers {
		want := cfg.RootFS.DiffIDs[i].String()
		if ls, ok := s.layerStats(want); ok {
			stats = append(stats, ls)
			continue
		}
		rc, err := sess.Layer(img, i, true)
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
	return s.addImage(img.Config, cfg.Created.Time, stats, refs)
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
