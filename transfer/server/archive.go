package server

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/sandbox-dev/sandbox/transfer/wire"
)

// refAnnotations name an image inside an OCI layout: the full reference
// (containerd's key, which podman and skopeo read too) and the OCI key.
const (
	annotationImageName = "io.containerd.image.name"
	annotationRefName   = "org.opencontainers.image.ref.name"
)

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func (s *server) archive(m *wire.Msg) (*wire.Msg, error) {
	var imgs []wire.Image
	var err error
	switch m.Format {
	case wire.DockerArchive:
		imgs, err = s.dockerArchive(m.Path)
	case wire.OCILayout:
		imgs, err = s.ociLayout(m.Path)
	default:
		err = fmt.Errorf("unknown archive format %q", m.Format)
	}
	if err != nil {
		return nil, err
	}
	return &wire.Msg{Images: imgs}, nil
}

// archiveEntry is one image in a docker-archive's manifest.json.
type archiveEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// dockerArchive opens each image of a docker-archive (`docker save`
// format), with the names it records.
func (s *server) dockerArchive(path string) ([]wire.Image, error) {
	entries, err := readArchiveManifest(path)
	if err != nil {
		return nil, err
	}
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	var out []wire.Image
	for _, e := range entries {
		var tag *name.Tag
		if len(e.RepoTags) > 0 {
			t, err := name.NewTag(e.RepoTags[0])
			if err != nil {
				return nil, fmt.Errorf("bad tag %q: %w", e.RepoTags[0], err)
			}
			tag = &t
		} else if len(entries) > 1 {
			return nil, fmt.Errorf("an untagged image among %d; load it alone", len(entries))
		}
		img, err := tarball.Image(opener, tag)
		if err != nil {
			return nil, err
		}
		d, err := s.describe(img)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Config, err)
		}
		d.Names = e.RepoTags
		out = append(out, d)
	}
	return out, nil
}

func readArchiveManifest(path string) ([]archiveEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("not a docker archive: it has no manifest.json")
		}
		if err != nil {
			return nil, err
		}
		if hdr.Name != "manifest.json" && hdr.Name != "./manifest.json" {
			continue
		}
		var entries []archiveEntry
		if err := json.NewDecoder(tr).Decode(&entries); err != nil {
			return nil, fmt.Errorf("reading manifest.json: %w", err)
		}
		if len(entries) == 0 {
			return nil, errors.New("it holds no image")
		}
		return entries, nil
	}
}

// ociLayout opens every image an OCI layout's index lists (for a nested
// index, the one for this machine), each with the names its annotations
// give, the full reference first.
func (s *server) ociLayout(dir string) ([]wire.Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the OCI layout: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading the OCI layout's index: %w", err)
	}
	var out []wire.Image
	for _, d := range im.Manifests {
		var img v1.Image
		if d.MediaType.IsIndex() {
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, err
			}
			if img, err = imageForPlatform(child); err != nil {
				return nil, fmt.Errorf("%s: %w", d.Digest, err)
			}
		} else if img, err = idx.Image(d.Digest); err != nil {
			return nil, fmt.Errorf("reading image %s: %w", d.Digest, err)
		}
		desc, err := s.describe(img)
		if err != nil {
			return nil, fmt.Errorf("reading image %s: %w", d.Digest, err)
		}
		for _, key := range []string{annotationImageName, annotationRefName} {
			if v := d.Annotations[key]; v != "" {
				desc.Names = append(desc.Names, v)
			}
		}
		out = append(out, desc)
	}
	return out, nil
}

// imageForPlatform picks this machine's image from an index.
func imageForPlatform(idx v1.ImageIndex) (v1.Image, error) {
	want := v1.Platform{OS: "linux", Architecture: goruntime.GOARCH}
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
			seen = append(seen, d.Platform.String())
		}
	}
	return nil, fmt.Errorf("no image for %s (it has: %s)", want.String(), strings.Join(seen, ", "))
}
