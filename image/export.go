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

	"github.com/sandbox-dev/sandbox/image/layer"
	"github.com/sandbox-dev/sandbox/runtime"
	"github.com/sandbox-dev/sandbox/transfer/wire"
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
		pw.CloseWithError(runtime.RunTaskIO(s.Mapping, s.RunDir, layer.AssembleTask, []string{dir}, nil, pw))
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

// wireImage is a stored image as the transfer program writes it: its
// config as stored (so its ID is kept), whose diff IDs name the layers
// the program then asks for (OpenLayer), and name, the one name to
// record ("" for none).
func (s *Store) wireImage(img *Image, name string) (wire.Image, error) {
	if img.Host {
		return wire.Image{}, errors.New("the host image is made of this machine's own directories: it cannot be saved or pushed")
	}
	cfg, err := os.ReadFile(s.blobPath(img.ID))
	if err != nil {
		return wire.Image{}, fmt.Errorf("reading the config of %s: %w", ShortID(img.ID), err)
	}
	wi := wire.Image{Config: cfg}
	if name != "" {
		wi.Names = []string{name}
	}
	return wi, nil
}
