package image

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Archive formats of Save and Load.
const (
	DockerArchive = "docker-archive"
	OCIArchive    = "oci-archive"
)

// refAnnotations name an image inside an OCI layout: the full reference
// (containerd's key, which podman and skopeo read too) and the OCI key.
const (
	annotationImageName = "io.containerd.image.name"
	annotationRefName   = "org.opencontainers.image.ref.name"
)

// Save writes the images refs name to w as one archive in format. Each
// layer is rebuilt from disk byte for byte, so image IDs do not change.
func (s *Store) Save(refs []string, format string, w io.Writer) error {
	type named struct {
		img *Image
		ref string // the name to record, "" for none
	}
	var imgs []named
	for _, r := range refs {
		img, err := s.Resolve(r)
		if err != nil {
			return err
		}
		imgs = append(imgs, named{img, s.nameFor(img, r)})
	}
	switch format {
	case DockerArchive, "":
		m := map[name.Reference]v1.Image{}
		for _, n := range imgs {
			vi, err := s.V1Image(n.img)
			if err != nil {
				return err
			}
			var ref name.Reference
			if n.ref != "" {
				ref, err = name.ParseReference(n.ref)
			} else {
				// No name: docker-archive then records the image without
				// RepoTags, as `docker save ID` does.
				ref, err = name.NewDigest("unnamed@" + n.img.ID)
			}
			if err != nil {
				return fmt.Errorf("naming %s in the archive: %w", n.ref, err)
			}
			m[ref] = vi
		}
		if err := tarball.MultiRefWrite(m, w); err != nil {
			return fmt.Errorf("writing the docker archive: %w", err)
		}
		return nil
	case OCIArchive:
		dir, release, err := s.TempDir()
		if err != nil {
			return err
		}
		defer release()
		lp, err := layout.Write(dir, empty.Index)
		if err != nil {
			return fmt.Errorf("writing an OCI layout: %w", err)
		}
		for _, n := range imgs {
			vi, err := s.V1Image(n.img)
			if err != nil {
				return err
			}
			var opts []layout.Option
			if n.ref != "" {
				opts = append(opts, layout.WithAnnotations(map[string]string{annotationImageName: n.ref, annotationRefName: n.ref}))
			}
			if err := lp.AppendImage(vi, opts...); err != nil {
				return fmt.Errorf("writing %s to the OCI layout: %w", ShortID(n.img.ID), err)
			}
		}
		return tarDir(dir, w)
	}
	return fmt.Errorf("unknown archive format %q (valid: %s, %s)", format, DockerArchive, OCIArchive)
}

// nameFor picks the name to record for img when the user named it by r:
// that name if it is one of the image's, else its first name, else none.
func (s *Store) nameFor(img *Image, r string) string {
	cands := []string{}
	if norm, err := NormalizeRef(r); err == nil {
		cands = append(append(cands, norm), Candidates(r, s.searchList())...)
	}
	for _, c := range cands {
		for _, n := range img.Names {
			if n == c && !strings.Contains(n, "@") {
				return n
			}
		}
	}
	for _, n := range img.Names {
		if !strings.Contains(n, "@") {
			return n
		}
	}
	return ""
}

// tarDir writes the regular files and directories under dir as a tar.
func tarDir(dir string, w io.Writer) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: filepath.ToSlash(rel), Mode: int64(fi.Mode().Perm()), ModTime: fi.ModTime()}
		switch {
		case fi.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
			return tw.WriteHeader(hdr)
		case fi.Mode().IsRegular():
			hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing the archive: %w", err)
	}
	return tw.Close()
}
