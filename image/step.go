package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// AddStep stores the image one build step makes: base's layers (none
// for nil, a build FROM scratch) plus the layer read from layerTar (none
// for nil: a step that changes only the config), with cfg as its config
// and h appended to base's history. The image is unnamed and records base
// as its parent, so `images` lists it only with -a until it is named.
func (s *Store) AddStep(base *Image, layerTar io.Reader, cfg v1.ConfigFile, created time.Time, h v1.History) (*Image, error) {
	release, err := s.gcLock(unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer release()
	var layers []layerStats
	cfg.RootFS = v1.RootFS{Type: "layers"}
	cfg.History = nil
	parent := ""
	if base != nil {
		parent = base.ID
		cfg.History = append(cfg.History, base.Config.History...)
		for _, d := range base.Config.RootFS.DiffIDs {
			bl, ok := s.layerStats(d.String())
			if !ok {
				return nil, fmt.Errorf("layer %s of the base image is gone from the store", ShortID(d.String()))
			}
			layers = append(layers, bl)
			cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, d)
		}
	}
	if layerTar != nil {
		ls, err := s.addLayer(layerTar, "", nil)
		if err != nil {
			return nil, fmt.Errorf("storing the step's layer: %w", err)
		}
		layers = append(layers, ls)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, mustHash(ls.DiffID))
	} else {
		h.EmptyLayer = true
	}
	created = created.UTC()
	cfg.Created = v1.Time{Time: created}
	h.Created = v1.Time{Time: created}
	cfg.History = append(cfg.History, h)
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	img, err := s.addImage(cfgJSON, created, layers, nil)
	if err != nil {
		return nil, err
	}
	if parent != "" {
		err = s.setParent(img.ID, parent)
	}
	return img, err
}

// setParent records the image a build step made img from.
func (s *Store) setParent(id, parent string) error {
	unlock, err := s.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	if rec := idx.Images[id]; rec != nil && rec.Parent == "" {
		rec.Parent = parent
		return s.writeIndex(idx)
	}
	return nil
}

// buildCache is buildcache.json: a build step's cache key → the image it
// made. An entry whose image is gone (pruned) is a miss.
const buildCacheFile = "buildcache.json"

// CachedStep is the image a build step with this key made before, if it
// is still in the store.
func (s *Store) CachedStep(key string) (*Image, bool) {
	cache, err := s.readBuildCache()
	if err != nil || cache[key] == "" {
		return nil, false
	}
	img, err := s.Resolve(cache[key])
	if err != nil || img.ID != cache[key] {
		return nil, false
	}
	return img, true
}

// CacheStep records that the build step with this key made image id.
func (s *Store) CacheStep(key, id string) error {
	unlock, err := s.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	cache, err := s.readBuildCache()
	if err != nil {
		cache = map[string]string{} // unreadable: start again, it is only a cache
	}
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	// Entries of images that are gone go as the cache is written.
	for k, v := range cache {
		if idx.Images[v] == nil {
			delete(cache, k)
		}
	}
	cache[key] = id
	return WriteFileAtomic(filepath.Join(s.Root, buildCacheFile), mustJSON(cache), 0o600)
}

func (s *Store) readBuildCache() (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(s.Root, buildCacheFile))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	cache := map[string]string{}
	if err := json.Unmarshal(b, &cache); err != nil {
		return nil, err
	}
	return cache, nil
}
