package image

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/sandbox-dev/sandbox/image/imagetypes"
)

// Details is what `sandbox inspect IMAGE` prints (package imagetypes).
type Details = imagetypes.Details

// RootFS is inspect's RootFS (package imagetypes).
type RootFS = imagetypes.RootFS

// Inspect returns the details of an image.
func (s *Store) Inspect(ref string) (*Details, error) {
	img, err := s.Resolve(ref)
	if err != nil {
		return nil, err
	}
	d := &Details{
		Id: img.ID, RepoTags: img.Names, Created: img.Created, Size: img.Size,
		Architecture: img.Config.Architecture, Os: img.Config.OS, Config: img.Config.Config,
		RootFS: RootFS{Type: img.Config.RootFS.Type, Layers: []string{}}, History: img.Config.History,
	}
	for _, l := range img.Config.RootFS.DiffIDs {
		d.RootFS.Layers = append(d.RootFS.Layers, l.String())
	}
	if d.RepoTags == nil {
		d.RepoTags = []string{}
	}
	if rec, ok := s.record(img.ID); ok {
		for _, n := range img.Names {
			repo, _ := SplitRef(n)
			d.RepoDigests = append(d.RepoDigests, repo+"@"+rec.Manifest)
		}
	}
	return d, nil
}

func (s *Store) record(id string) (*Record, bool) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, false
	}
	r, ok := idx.Images[id]
	return r, ok
}

// HistoryRow is one row of `sandbox history` (package imagetypes).
type HistoryRow = imagetypes.HistoryRow

// History lists how the image was built, newest first, each step with the
// size of the layer it made (0 for steps that made none).
func (s *Store) History(ref string) ([]HistoryRow, error) {
	img, err := s.Resolve(ref)
	if err != nil {
		return nil, err
	}
	var sizes []int64
	for _, d := range img.Config.RootFS.DiffIDs {
		ls, _ := s.layerStats(d.String())
		sizes = append(sizes, ls.Size)
	}
	hist := img.Config.History
	if len(hist) == 0 {
		// No history recorded: one row per layer.
		for range sizes {
			hist = append(hist, v1.History{})
		}
	}
	var rows []HistoryRow
	li := 0
	for _, h := range hist {
		row := HistoryRow{ID: "<missing>", Created: h.Created.Time, CreatedBy: h.CreatedBy, Comment: h.Comment}
		if !h.EmptyLayer && li < len(sizes) {
			row.Size = sizes[li]
			li++
		}
		rows = append(rows, row)
	}
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	if len(rows) > 0 {
		rows[0].ID = img.ID
	}
	// The steps a build made are images of their own, each the parent of
	// the next (Record.Parent): Docker shows their IDs where they are
	// still in the store, <missing> where not.
	if idx, err := s.readIndex(); err == nil {
		id := img.ID
		for i := 0; i < len(rows) && id != ""; i++ {
			rec := idx.Images[id]
			if rec == nil {
				break
			}
			rows[i].ID = id
			// The parent's history is this one's less its last entry.
			id = rec.Parent
		}
	}
	return rows, nil
}

// Usage totals the images and layers (package imagetypes).
type Usage = imagetypes.Usage

// DiskUsage totals the images and layers.
func (s *Store) DiskUsage() (Usage, error) {
	idx, err := s.readIndex()
	if err != nil {
		return Usage{}, err
	}
	u := Usage{Images: len(idx.Images), PerImage: map[string]int64{}}
	uses := map[string]int{}
	for id, rec := range idx.Images {
		u.PerImage[id] = rec.Size
		for _, l := range rec.Layers {
			uses[l]++
		}
	}
	for l, n := range uses {
		ls, _ := s.layerStats(l)
		u.Layers++
		u.Size += ls.Size
		if n > 1 {
			u.Shared += ls.Size
		}
	}
	return u, nil
}
