package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/sandbox-dev/sandbox/image/layer"
	"github.com/sandbox-dev/sandbox/runtime"
)

// OpenLayer streams the original tar of a stored layer, rebuilt from its
// directory and split record inside the user namespace. The stream is
// checked against the diff ID as it ends: a layer changed on disk is an
// error, never a silently different tar.
func (s *Store) OpenLayer(diffID string) (io.ReadCloser, error) {
	dir := filepath.Dir(s.LayerDir(diffID))
	if _, err := os.Stat(filepath.Join(dir, layer.SplitName)); err != nil {
		return nil, fmt.Errorf("layer %s has no split record (it was stored by an older sandbox): pull or import its image again to save or push it", ShortID(diffID))
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(runtime.RunTaskIO(s.Mapping, layer.AssembleTask, []string{dir}, nil, pw))
	}()
	return &checkedReader{r: pr, c: pr, h: sha256.New(), want: diffID}, nil
}

// checkedReader turns a digest mismatch at the end of a stream into an
// error in place of EOF.
type checkedReader struct {
	r    io.Reader
	c    io.Closer
	h    hash.Hash
	want string
}

func (c *checkedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	if errors.Is(err, io.EOF) {
		if got := "sha256:" + hex.EncodeToString(c.h.Sum(nil)); got != c.want {
			return n, fmt.Errorf("layer %s rebuilt from disk hashes to %s: its files changed since it was stored", c.want, got)
		}
	}
	return n, err
}

func (c *checkedReader) Close() error { return c.c.Close() }

// V1Image presents a stored image as a go-containerregistry image: its
// config as stored (so its ID is kept) and its layers rebuilt from disk,
// compressed on demand for registries and archives.
func (s *Store) V1Image(img *Image) (v1.Image, error) {
	if img.Host {
		return nil, errors.New("the host image is made of this machine's own directories: it cannot be saved or pushed")
	}
	cfg, err := os.ReadFile(s.blobPath(img.ID))
	if err != nil {
		return nil, fmt.Errorf("reading the config of %s: %w", ShortID(img.ID), err)
	}
	return partial.UncompressedToImage(&storedImage{s: s, cfg: cfg})
}

// storedImage implements partial.UncompressedImageCore.
type storedImage struct {
	s   *Store
	cfg []byte
}

func (si *storedImage) RawConfigFile() ([]byte, error) { return si.cfg, nil }

// Docker schema 2, the manifest go-containerregistry builds for
// uncompressed images: its layers must say the same.
func (si *storedImage) MediaType() (types.MediaType, error) { return types.DockerManifestSchema2, nil }

func (si *storedImage) LayerByDiffID(h v1.Hash) (partial.UncompressedLayer, error) {
	return &storedLayer{s: si.s, diffID: h}, nil
}

// storedLayer implements partial.UncompressedLayer.
type storedLayer struct {
	s      *Store
	diffID v1.Hash
}

func (l *storedLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

func (l *storedLayer) Uncompressed() (io.ReadCloser, error) { return l.s.OpenLayer(l.diffID.String()) }

func (l *storedLayer) MediaType() (types.MediaType, error) { return types.DockerLayer, nil }
