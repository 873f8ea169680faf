package image

import (
	"fmt"
	"os"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/sandbox-dev/sandbox/image/imagetypes"
)

// Image is a resolved image, ready to run.
type Image struct {
	ID      string // sha256:<hex>; "host" for the host image
	Names   []string
	Config  v1.ConfigFile
	Layers  []string // unpacked layer directories, bottom first
	Created time.Time
	Size    int64
	// Host marks the built-in host image: no layers, the host's own
	// directories instead.
	Host bool
	// stamp is the image list it was resolved from (StillHas).
	stamp indexStamp
}

// Resolve finds an image by name[:tag], ID or unique ID prefix. "host" is
// the built-in host image unless an image of that name was stored.
func (s *Store) Resolve(ref string) (*Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	rec, err := idx.resolve(ref, s.searchList()...)
	if err != nil {
		if IsHostRef(ref) {
			return HostImage(), nil
		}
		return nil, err
	}
	return s.image(idx, rec)
}

// IsHostRef says whether ref names the built-in host image ("host" or
// "host:latest"), which no stored image can be named (import refuses it).
func IsHostRef(ref string) bool { return ref == HostName || ref == HostName+":latest" }

// HostImage is the built-in image made of the host's own directories. Its
// environment is the user's PATH, locale and HOME, and its command the
// user's login shell, so that the host's tools feel as they do outside.
func HostImage() *Image {
	cmd := "/bin/sh"
	if sh := os.Getenv("SHELL"); sh != "" {
		if _, err := os.Stat(sh); err == nil {
			cmd = sh
		}
	}
	var env []string
	for _, k := range []string{"PATH", "LANG", "LC_ALL", "HOME"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return &Image{ID: HostName, Names: []string{HostName + ":latest"}, Host: true,
		Config: v1.ConfigFile{OS: "linux", Config: v1.Config{Cmd: []string{cmd}, Env: env}}}
}

func (s *Store) image(idx *index, rec *Record) (*Image, error) {
	b, err := os.ReadFile(s.blobPath(rec.ID))
	if err != nil {
		return nil, fmt.Errorf("reading the config of image %s: %w", ShortID(rec.ID), err)
	}
	cfg, err := decodeConfig(b)
	if err != nil {
		return nil, fmt.Errorf("parsing the config of image %s: %w", ShortID(rec.ID), err)
	}
	img := &Image{ID: rec.ID, Config: *cfg, Created: rec.Created, Size: rec.Size, stamp: idx.stamp}
	for ref, id := range idx.Refs {
		if id == rec.ID {
			img.Names = append(img.Names, ref)
		}
	}
	sort.Strings(img.Names)
	for _, d := range rec.Layers {
		img.Layers = append(img.Layers, s.LayerDir(d))
	}
	return img, nil
}

// Summary is one row of `sandbox images` (package imagetypes).
type Summary = imagetypes.Summary

// List returns one row per name of each image, and one row for an image
// without a name, newest first.
func (s *Store) List() ([]Summary, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	named := map[string]bool{}
	var out []Summary
	for ref, id := range idx.Refs {
		rec, ok := idx.Images[id]
		if !ok {
			continue
		}
		named[id] = true
		name, tag := SplitRef(ref)
		out = append(out, Summary{Repository: name, Tag: tag, ID: id, Digest: rec.Manifest, Created: rec.Created, Size: rec.Size})
	}
	parents := map[string]bool{}
	for _, rec := range idx.Images {
		parents[rec.Parent] = true
	}
	for id, rec := range idx.Images {
		if !named[id] {
			out = append(out, Summary{Repository: "<none>", Tag: "<none>", ID: id, Digest: rec.Manifest, Created: rec.Created, Size: rec.Size, Intermediate: parents[id]})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].Repository+":"+out[i].Tag < out[j].Repository+":"+out[j].Tag
	})
	return out, nil
}
