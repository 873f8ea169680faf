package imagetypes

import (
	"errors"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Sentinel errors for states callers act on.
var (
	ErrNotFound  = errors.New("image not found")
	ErrAmbiguous = errors.New("ambiguous image reference")
	// ErrInUse is returned when removing an image containers still use.
	ErrInUse = errors.New("image is in use")
)

// Summary is one row of `sandbox images`.
type Summary struct {
	Repository, Tag string
	ID              string
	Digest          string // the manifest's
	Created         time.Time
	Size            int64
	// Intermediate is an unnamed build step another image was built on:
	// `images` shows it only with -a, as Docker and Podman do.
	Intermediate bool
}

// Details is what `sandbox inspect IMAGE` prints, with docker's field names.
type Details struct {
	Id           string
	RepoTags     []string
	RepoDigests  []string
	Created      time.Time
	Architecture string
	Os           string
	Config       v1.Config
	RootFS       RootFS
	Size         int64
	History      []v1.History
}

// RootFS is inspect's RootFS as Docker prints it: the layers' diff IDs,
// bottom first, under "Layers" (the image config's "diff_ids").
type RootFS struct {
	Type   string
	Layers []string
}

// HistoryRow is one line of `sandbox history`.
type HistoryRow struct {
	ID        string // the image's ID on the newest row, else "<missing>"
	Created   time.Time
	CreatedBy string
	Size      int64
	Comment   string
}

// Usage is the image half of `sandbox system df`.
type Usage struct {
	Images, Layers int
	// Size counts every layer once, however many images share it;
	// Shared is the part of Size in layers more than one image uses.
	Size, Shared int64
	// PerImage is each image's size: the sum of its layers.
	PerImage map[string]int64
}

// RemoveResult says what Remove did.
type RemoveResult struct {
	Untagged []string
	Deleted  []string // image IDs
	Freed    int64    // bytes of layers removed
}

// ProgressEvent is one layer's progress of a pull (PullOptions.Events):
// "Downloading" with bytes so far and in all, then "Pull complete", or
// "Already exists".
type ProgressEvent struct {
	Layer          string // the layer's short ID
	Status         string
	Current, Total int64
}
