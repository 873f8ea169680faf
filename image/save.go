package image

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sandbox-dev/sandbox/transfer"
	"github.com/sandbox-dev/sandbox/transfer/wire"
)

// Archive formats of Save and Load.
const (
	DockerArchive = "docker-archive"
	OCIArchive    = "oci-archive"
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
	if format != DockerArchive && format != OCIArchive && format != "" {
		return fmt.Errorf("unknown archive format %q (valid: %s, %s)", format, DockerArchive, OCIArchive)
	}
	var wis []wire.Image
	for _, n := range imgs {
		wi, err := s.wireImage(n.img, n.ref)
		if err != nil {
			return err
		}
		wis = append(wis, wi)
	}
	sess, err := transfer.Start(context.Background(), s.RunDir, s.OpenLayer)
	if err != nil {
		return err
	}
	defer sess.Close()
	if format == OCIArchive {
		dir, release, err := s.TempDir()
		if err != nil {
			return err
		}
		defer release()
		if err := sess.WriteOCILayout(dir, wis); err != nil {
			return err
		}
		return tarDir(dir, w)
	}
	return sess.WriteDockerArchive(w, wis)
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
