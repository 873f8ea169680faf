package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/image/layer"
	"github.com/sandbox-dev/sandbox/runtime"
	"github.com/sandbox-dev/sandbox/userns"
)

// layerStats is written beside an unpacked layer (layers/<hex>/layer.json).
type layerStats struct {
	DiffID         string `json:"diff_id"`
	Size           int64  `json:"size"` // bytes of regular files
	TarSize        int64  `json:"tar_size"`
	Files          int    `json:"files"`
	DevicesSkipped int    `json:"devices_skipped,omitempty"`
}

// addLayer unpacks the uncompressed tar stream r into the store (once: a
// layer already there is kept and the new copy dropped) and returns its
// diff ID and stats. When want is not empty the stream's digest must equal
// it, or nothing is stored. Unpacking happens in a user namespace with the
// store's id map, so owners come out right with no chown pass later.
//
// verify, when not nil, checks the source once it is consumed (the
// compressed digest of a pulled layer); its error discards the layer.
func (s *Store) addLayer(r io.Reader, want string, verify func() error) (layerStats, error) {
	staging, release, err := s.TempDir()
	if err != nil {
		return layerStats{}, err
	}
	defer release()
	mode := "nochown"
	if s.Mapping.Mode == userns.ModeSubID {
		mode = "chown"
	}
	pr, pw, err := newLayerPipe()
	if err != nil {
		return layerStats{}, fmt.Errorf("unpacking layer: %w", err)
	}
	// The task stops reading at the tar's end-of-archive marker; whatever
	// follows (padding) is read by finish, since the digest covers the
	// whole stream.
	f := startFeed(r, pw)
	runtime.Trace("layer: starting the unpack task")
	terr := runtime.RunTask(s.Mapping, s.RunDir, layer.UnpackTask, []string{staging, mode}, pr)
	// Ours was the last reader left: a feed still writing gets EPIPE.
	pr.Close()
	runtime.Trace("layer: unpack task done")
	diffID, tarSize, rerr := f.finish(r)
	if terr != nil || rerr != nil {
		// A corrupt download usually shows first as a broken tar or a
		// broken compressed stream: the digest check says what really
		// happened.
		if verify != nil {
			if verr := verify(); verr != nil {
				return layerStats{}, verr
			}
		}
		if rerr != nil {
			return layerStats{}, fmt.Errorf("reading layer: %w", rerr)
		}
		return layerStats{}, fmt.Errorf("unpacking layer: %w", terr)
	}
	if verify != nil {
		if err := verify(); err != nil {
			return layerStats{}, err
		}
	}
	var st layer.Stats
	b, err := os.ReadFile(filepath.Join(staging, "stats.json"))
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		return layerStats{}, fmt.Errorf("reading the unpacked layer's stats: %w", err)
	}
	ls := layerStats{Size: st.Bytes, Files: st.Files + st.Dirs + st.Symlinks + st.Hardlinks, DevicesSkipped: st.DevicesSkipped}
	ls.DiffID, ls.TarSize = diffID, tarSize
	if want != "" && ls.DiffID != want {
		return layerStats{}, fmt.Errorf("layer content has digest %s, but the image says %s: the archive is corrupt", ls.DiffID, want)
	}
	if err := WriteFileAtomic(filepath.Join(staging, "layer.json"), mustJSON(ls), 0o644); err != nil {
		return layerStats{}, err
	}
	runtime.Trace("layer: layer.json written")
	unlock, err := s.Lock()
	if err != nil {
		return layerStats{}, err
	}
	defer unlock()
	final := filepath.Dir(s.LayerDir(ls.DiffID))
	if _, err := os.Stat(final); err == nil {
		return ls, nil // already stored: release() drops our copy
	}
	if err := os.Rename(staging, final); err != nil {
		return layerStats{}, fmt.Errorf("moving layer %s into place: %w", ShortID(ls.DiffID), err)
	}
	runtime.Trace("layer: renamed into place")
	return ls, nil
}

// Import makes a one-layer image from a root filesystem: a tarball (plain,
// gzip or zstd) or a directory, and names it ref. It returns the image.
func (s *Store) Import(src, ref string, note func(string)) (*Image, error) {
	norm, err := NormalizeRef(ref)
	if err != nil {
		return nil, err
	}
	if norm == HostName+":latest" {
		return nil, fmt.Errorf("the name %q is reserved for the built-in host image", HostName)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("reading %q: %w", src, err)
	}
	s.SweepTemp()
	release, err := s.gcLock(unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer release()
	var stream io.Reader
	if fi.IsDir() {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(layer.PackDirAs(src, pw, s.Mapping.ToContainer)) }()
		defer pr.Close()
		stream = pr
	} else {
		f, err := os.Open(src)
		if err != nil {
			return nil, fmt.Errorf("opening %q: %w", src, err)
		}
		defer f.Close()
		d, err := Decompress(f, UnzstdWith(s.RunDir))
		if err != nil {
			return nil, fmt.Errorf("reading %q: %w", src, err)
		}
		defer d.Close()
		stream = d
	}
	ls, err := s.addLayer(stream, "", nil)
	if err != nil {
		return nil, fmt.Errorf("importing %q: %w", src, err)
	}
	if ls.DevicesSkipped > 0 && note != nil {
		note(fmt.Sprintf("skipped %d device nodes in %s: an unprivileged user cannot create them (the container's /dev provides the usual ones)", ls.DevicesSkipped, src))
	}
	now := time.Now().UTC()
	cfg := v1.ConfigFile{
		Architecture: goruntime.GOARCH,
		OS:           "linux",
		Created:      v1.Time{Time: now},
		RootFS:       v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{mustHash(ls.DiffID)}},
		History:      []v1.History{{Created: v1.Time{Time: now}, CreatedBy: "sandbox import " + filepath.Base(src)}},
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	return s.addImage(cfgJSON, now, []layerStats{ls}, []string{norm})
}

func mustHash(d string) v1.Hash {
	h, err := v1.NewHash(d)
	if err != nil {
		panic(err)
	}
	return h
}

// addImage stores the config and a manifest for layers, records the image
// and points refs at it.
func (s *Store) addImage(cfgJSON []byte, created time.Time, layers []layerStats, refs []string) (*Image, error) {
	return s.addImageWithManifest(cfgJSON, created, layers, refs, nil)
}

// addImageWithManifest is addImage keeping the registry's own manifest
// (so its digest, the repo digest, stays the registry's); a nil manifest
// means one is made for the layers as stored.
func (s *Store) addImageWithManifest(cfgJSON []byte, created time.Time, layers []layerStats, refs []string, manifest []byte) (*Image, error) {
	id, err := s.putBlob(cfgJSON)
	if err != nil {
		return nil, err
	}
	man := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(cfgJSON)), Digest: mustHash(id)},
	}
	rec := &Record{ID: id, Created: created}
	for _, l := range layers {
		man.Layers = append(man.Layers, v1.Descriptor{MediaType: types.OCIUncompressedLayer, Size: l.TarSize, Digest: mustHash(l.DiffID)})
		rec.Layers = append(rec.Layers, l.DiffID)
		rec.Size += l.Size
	}
	manJSON := manifest
	if manJSON == nil {
		if manJSON, err = json.Marshal(man); err != nil {
			return nil, err
		}
	}
	if rec.Manifest, err = s.putBlob(manJSON); err != nil {
		return nil, err
	}
	unlock, err := s.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	idx.Images[id] = rec
	for _, ref := range refs {
		idx.Refs[ref] = id
	}
	if err := s.writeIndex(idx); err != nil {
		return nil, err
	}
	return s.image(idx, rec)
}

// putBlob stores data content-addressed and returns its digest.
func (s *Store) putBlob(data []byte) (string, error) {
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	p := s.blobPath(digest)
	if _, err := os.Stat(p); err == nil {
		return digest, nil
	}
	return digest, WriteFileAtomic(p, data, 0o644)
}
